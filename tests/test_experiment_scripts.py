"""The files under experiments/: every experiment and scenario loads, and the scripts
that analyse run folders work."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_moca_headroom_splits_misses_into_waiting_and_interference(tmp_path, capsys):
    headroom = _module("experiments/moca/headroom.py")
    (tmp_path / "tenants.csv").write_text("tenant,isolated_latency_cycles\na,100\nb,200\n")
    # task: arrival, start, finish, latency, waiting, target, met
    (tmp_path / "tasks.csv").write_text(
        "tenant,task,arrival_cycle,start_cycle,finish_cycle,latency_cycles,waiting_cycles,target_cycles,deadline_met\n"
        "a,0,0,0,100,100,0,150,True\n"        # alone-speed run, met
        "a,1,0,100,220,220,100,150,False\n"   # waited 100, ran 120: met without the wait only
        "b,0,0,10,410,410,10,300,False\n"     # ran 400 = 2x isolated: met without interference (10 + 200)
        "b,1,0,250,450,450,250,300,False\n")  # ran at isolated speed; only the wait made it miss
    r = headroom.headroom(tmp_path)
    assert r["tasks"] == 4 and r["missed"] == 3 and r["sla_rate"] == 0.25
    assert r["run_slowdown_mean"] == round((1.0 + 1.2 + 2.0 + 1.0) / 4, 2) and r["run_slowdown_max"] == 2.0
    assert r["met_without_wait"] == 2          # a/1 (120 <= 150) and b/1 (200 <= 300); b/0 runs 400 > 300
    assert r["met_without_interference"] == 1  # b/0: 10 + 200 <= 300; a/1: 100 + 100 > 150
    assert r["wait_share_of_missed_latency"] == round(360 / 1080, 2)
    assert headroom.main([str(tmp_path)]) == 0 and "met_without_interference" in capsys.readouterr().out


def test_moca_headroom_rejects_a_folder_that_is_not_a_run(tmp_path, capsys):
    headroom = _module("experiments/moca/headroom.py")
    assert headroom.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path}: tasks.csv:")


def test_moca_headroom_of_a_run_that_met_every_deadline(tmp_path):
    headroom = _module("experiments/moca/headroom.py")
    (tmp_path / "tenants.csv").write_text("tenant,isolated_latency_cycles\na,100\n")
    (tmp_path / "tasks.csv").write_text(
        "tenant,task,arrival_cycle,start_cycle,finish_cycle,latency_cycles,waiting_cycles,target_cycles,deadline_met\n"
        "a,0,0,0,110,110,0,150,True\n")
    r = headroom.headroom(tmp_path)
    assert (r["sla_rate"], r["missed"], r["met_without_wait"], r["met_without_interference"]) == (1.0, 0, 0, 0)
    assert r["run_slowdown_mean"] == 1.1


EXPERIMENTS = ROOT / "experiments"
SWEEP_FILES = sorted(p for p in EXPERIMENTS.rglob("*.yaml") if "axes:" in p.read_text())
SCENARIO_FILES = sorted(p for p in EXPERIMENTS.rglob("*.yaml") if "tenants:" in p.read_text())


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_shipped_experiment_expands_into_valid_points(path):
    from npusim.sweep import load_experiment

    points = load_experiment(path).points()
    assert points and all(p.scenario.tenants for p in points)
    assert len({p.point_id for p in points}) == len(points)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_shipped_scenario_loads(path):
    from npusim.scenario import load_scenario

    assert load_scenario(path).tenants


def test_multitask_plot_refuses_a_folder_without_the_sweeps(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "experiments" / "multitask" / "plot.py"), str(tmp_path),
                        "--out", str(tmp_path / "figs")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {tmp_path}: results: neither ")
    assert len(r.stderr.splitlines()) == 1 and not (tmp_path / "figs").exists()


def test_moca_sets_hold_the_arrivals_make_sets_draws_from_the_current_model():
    # the sets' arrivals scale with the isolated latencies they were drawn from: once a
    # model change moves those by more than 1 %, the sets no longer run at the load they
    # state (90 %) and must be drawn again with make_sets.py (and docs/RESULTS.md rerun)
    import yaml

    make_sets = _module("experiments/moca/make_sets.py")
    iso = make_sets.isolated_cycles(sorted({n for _, nets in make_sets.SETS.values() for n in nets}))
    for name in make_sets.SETS:
        fresh = yaml.safe_load(make_sets.make_set(name, iso))["tenants"]
        kept = yaml.safe_load((ROOT / "experiments" / "moca" / f"{name}.yaml").read_text())["tenants"]
        assert [t["name"] for t in kept] == [t["name"] for t in fresh]
        for k, f in zip(kept, fresh):
            assert k["arrival_cycles"] == pytest.approx(f["arrival_cycles"], rel=0.01), (name, k["name"])
