"""npusim sweep / report / regress: end to end, resume, crashes, clusters, bad input."""

import json
import os
import shutil
import warnings
from dataclasses import replace as dataclasses_replace
from pathlib import Path

import pandas as pd
import pytest

from npusim import report as report_mod
from npusim import sweep as sweep_mod
from npusim.errors import InputError
from npusim.sweep import SweepSpec, load_experiment, parse_axis, run_sweep

REPO = Path(__file__).resolve().parent.parent
MIX = ("squeezenet", "kws")
SMALL_AXES = {"llc_size": [1 << 20, 2 << 20], "policy": ["shared", "waypart"]}


def small_spec(**axes) -> SweepSpec:
    return SweepSpec(axes={**SMALL_AXES, **axes}, base_mix=list(MIX), soc="camdn",
                     fixed={"requests": 1})


def test_sweep_rows_and_derived_columns(tmp_path):
    out = run_sweep(small_spec(), tmp_path / "r.csv", jobs=1)
    df = pd.read_csv(tmp_path / "r.csv")
    assert len(df) == 4 * len(MIX) and out.ran == 4 and not out.failed
    assert set(df.llc_bytes) == {1 << 20, 2 << 20} and set(df.policy) == {"shared", "waypart"}
    for col in ("tenant", "mean_latency_cycles", "p95_latency_cycles", "dram_bytes", "llc_hit_rate", "sla_rate",
                "speedup", "dram_bytes_norm", "mix"):
        assert col in df.columns
    shared = df[df.policy == "shared"]
    assert (shared.speedup == 1.0).all() and (shared.dram_bytes_norm == 1.0).all()
    # derived columns are ratios against shared at the same LLC size and tenant
    for _, row in df[df.policy == "waypart"].iterrows():
        ref = shared[(shared.llc_bytes == row.llc_bytes) & (shared.tenant == row.tenant)].iloc[0]
        assert row.speedup == pytest.approx(ref.mean_latency_cycles / row.mean_latency_cycles)
        assert row.dram_bytes_norm == pytest.approx(row.dram_bytes / ref.dram_bytes)
        assert row.point_dram_bytes_norm == pytest.approx(row.point_dram_bytes / ref.point_dram_bytes)
        assert row.point_dram_bytes_norm != pytest.approx(row.dram_bytes / ref.point_dram_bytes)
    # per-tenant DRAM bytes add up to the point's total
    for _, g in df.groupby("point_id"):
        assert g.dram_bytes.sum() == g.point_dram_bytes.iloc[0]


def test_sweep_point_equals_a_single_run(tmp_path, cli):
    run_sweep(small_spec(), tmp_path / "r.csv", jobs=1)
    df = pd.read_csv(tmp_path / "r.csv")
    r = cli("run", "--soc", "camdn", "--mix", ",".join(MIX), "--policy", "waypart", "--llc-size", "2MiB",
            "--requests", "1", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    rows = df[(df.policy == "waypart") & (df.llc_bytes == 2 << 20)].set_index("tenant")
    for t in summary["tenants"]:
        assert rows.loc[t["name"], "mean_latency_cycles"] == t["mean_latency_cycles"]
        assert rows.loc[t["name"], "dram_bytes"] == t["dram_bytes"]


def test_parallel_sweep_matches_serial(tmp_path):
    run_sweep(small_spec(), tmp_path / "a.csv", jobs=1)
    run_sweep(small_spec(), tmp_path / "b.parquet", jobs=2)
    key = ["policy", "llc_bytes", "tenant"]
    a = pd.read_csv(tmp_path / "a.csv").sort_values(key).reset_index(drop=True)
    b = pd.read_parquet(tmp_path / "b.parquet").sort_values(key).reset_index(drop=True)
    cols = ["mean_latency_cycles", "dram_bytes", "llc_hit_rate", "speedup"]
    pd.testing.assert_frame_equal(a[key + cols], b[key + cols], check_dtype=False)
    # the file itself does not depend on --jobs: rows follow the sweep's points, not their finishing order
    run_sweep(small_spec(), tmp_path / "c.csv", jobs=2)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "c.csv").read_bytes()


def test_interrupted_sweep_keeps_finished_points_and_resumes(tmp_path):
    path = tmp_path / "r.csv"
    calls = []

    def stop_after_two_points(done, total):
        calls.append(done)
        if done == total - 2:  # isolated references first, then points: stop with 2 of 4 points left
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(small_spec(), path, jobs=1, progress=stop_after_two_points)
    kept = pd.read_csv(path)
    assert kept.point_id.nunique() == 2 and len(kept) == 2 * len(MIX)
    out = run_sweep(small_spec(), path, jobs=1, resume=True)
    assert out.skipped == 2 and out.ran == 2
    df = pd.read_csv(path)
    assert df.point_id.nunique() == 4 and len(df) == 4 * len(MIX)
    assert not df.duplicated(["point_id", "tenant"]).any()
    # without --resume the file starts over
    out = run_sweep(small_spec(), path, jobs=1)
    assert out.skipped == 0 and len(pd.read_csv(path)) == 4 * len(MIX)


def test_a_crashing_point_is_reported_and_others_kept(tmp_path, monkeypatch):
    real = sweep_mod._point_job

    def crash_on_waypart(points):
        if any(dict(p.params)["policy"] == "waypart" and dict(p.params)["llc_size"] == 1 << 20 for p in points):
            raise RuntimeError("worker died")
        return real(points)

    monkeypatch.setattr(sweep_mod, "_point_job", crash_on_waypart)
    errors = []
    out = run_sweep(small_spec(), tmp_path / "r.csv", jobs=1, report_error=errors.append)
    assert out.ran == 3 and len(out.failed) == 1
    assert "policy=waypart" in errors[0] and "llc_size=1048576" in errors[0] and "worker died" in errors[0]
    assert pd.read_csv(tmp_path / "r.csv").point_id.nunique() == 3


def test_a_dead_worker_fails_only_its_own_point():
    """A worker killed outright (os._exit stands for the OOM killer) breaks the whole process pool: the
    jobs in flight rerun alone, only the one that dies again is reported, the others all finish."""
    import operator

    args = [(abs, -k) for k in range(9)]
    args[3] = (os._exit, 1)
    executor = sweep_mod.Executor(2, None)
    try:
        got = {i: (res, exc) for i, res, exc in executor.map_unordered(operator.call, args)}
    finally:
        executor.close()
    assert sorted(got) == list(range(9))
    assert isinstance(got[3][1], sweep_mod.WorkerDied)
    assert {i: res for i, (res, exc) in got.items() if i != 3} == {k: k for k in range(9) if k != 3}
    assert all(exc is None for i, (res, exc) in got.items() if i != 3)


@pytest.mark.skipif(os.name != "posix", reason="kills a worker with SIGKILL")
def test_a_worker_killed_while_the_sweep_writes_a_row_loses_nothing():
    """The pool may break while the sweep is away from it (writing rows): the next hand-over then fails,
    and every job still finishes, none reported failed."""
    import operator
    import signal
    import time

    args = [(abs, -k) for k in range(12)]
    executor = sweep_mod.Executor(2, None)
    got = {}
    try:
        for n, (i, res, exc) in enumerate(executor.map_unordered(operator.call, args)):
            got[i] = (res, exc)
            if n == 2:
                os.kill(next(iter(executor.pool._processes)), signal.SIGKILL)
                time.sleep(1.0)
    finally:
        executor.close()
    assert got == {k: (k, None) for k in range(12)}
    # interrupted right after a rerun shut its pool down: closing must still work (it raised AttributeError)
    executor = sweep_mod.Executor(2, None)
    list(executor.map_unordered(abs, [(-1,)]))
    executor.pool.shutdown(wait=False)
    executor.close(interrupted=True)


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        run_sweep(small_spec(policy=["shared"]), tmp_path / "d.csv", dask_address=cluster.scheduler_address)
    run_sweep(small_spec(policy=["shared"]), tmp_path / "l.csv", jobs=1)
    key = ["llc_bytes", "tenant"]
    d = pd.read_csv(tmp_path / "d.csv").sort_values(key).reset_index(drop=True)
    loc = pd.read_csv(tmp_path / "l.csv").sort_values(key).reset_index(drop=True)
    assert list(d.mean_latency_cycles) == list(loc.mean_latency_cycles)


def test_experiment_file_and_cli(tmp_path, cli):
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: tiny\nsoc: camdn\nmix: [squeezenet, kws]\nrequests: 1\n"
                   "axes:\n  llc_size: [1MiB, 2MiB]\n  policy: [shared, camdn]\n")
    spec = load_experiment(exp)
    assert len(spec.points()) == 4
    r = cli("sweep", str(exp), "--out", str(tmp_path / "res") + "/", "--jobs", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "4 points run" in r.stdout and "camdn" in r.stdout  # the short table
    df = pd.read_csv(tmp_path / "res" / "results.csv")
    assert len(df) == 8
    r = cli("report", str(tmp_path / "res"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    for fig in ("speedup_vs_llc", "dram_norm_vs_llc", "latency_by_tenant"):
        assert (tmp_path / "rep" / f"{fig}.png").stat().st_size > 1000
        assert (tmp_path / "rep" / f"{fig}.svg").is_file()
        assert f"{fig}.png" in md


def test_report_of_a_run_directory_plots_the_timeline(tmp_path, cli):
    r = cli("run", "--soc", "camdn", "--llc-size", "2MiB", "--mix", "squeezenet,kws", "--policy", "camdn",
            "--out", str(tmp_path / "run"), "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli("report", str(tmp_path / "run"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rep" / "timeline.png").is_file()
    # numbers as people read them: 3 decimals for rates, whole cycles and bytes, n/a for none
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    text = (tmp_path / "rep" / "report.md").read_text()
    assert (f"STP {summary['stp']:.3f}, ANTT {summary['antt']:.3f}, fairness {summary['fairness']:.3f}, "
            f"SLA {summary['sla_rate']:.3f}, makespan {summary['makespan_cycles']} cycles.") in text
    rows = {line.split()[0]: line.split() for line in text.split("```")[1].strip().splitlines()}
    header = rows["name"]
    for t in summary["tenants"]:
        cells = dict(zip(header, rows[t["name"]]))
        assert cells["mean_latency_cycles"] == f"{t['mean_latency_cycles']:.0f}"
        assert cells["llc_hit_rate"] == f"{t['llc_hit_rate']:.3f}"
        assert cells["dram_bytes"] == str(t["dram_bytes"]) and cells["switch_cost_cycles"] == "n/a"
    # a damaged run directory: one line naming the file and field, and no --out folder made
    for name, text, expect in [
        ("summary.json", "{not json", "summary.json: summary: cannot read"),
        ("summary.json", "[1, 2]", "summary.json: summary: expected a JSON object"),
        ("summary.json", "{}", "summary.json: scenario: missing from the run summary"),
        ("timeline.csv", "", "timeline.csv: timeline: cannot read"),
        ("timeline.csv", "cycle,tenant,llc_lines,region_pages\n0,a,x,0\n", "timeline.csv:2: llc_lines: expected a number"),
        ("timeline.csv", "cycle,tenant,llc_lines,region_pages\n0,a,1,0\n5,,1,0\n", "timeline.csv:3: tenant: empty"),
        ("timeline.csv", "cycle,tenant,llc_lines,region_pages\n-5,a,1,0\n", "timeline.csv:2: cycle: must not be negative"),
        # as npusim writes them: no key or column twice, no NaN, nothing beyond 2^53
        ("summary.json", '{"scenario": "a", "scenario": "b"}', "summary.json: scenario: key given twice"),
        ("summary.json", '{"stp": NaN}', "summary.json: summary: NaN is not a number JSON allows"),
        ("timeline.csv", "cycle,tenant,llc_lines,region_pages,cycle\n0,a,1,0,0\n",
         "timeline.csv:1: cycle: column given twice in the header"),
        ("timeline.csv", "cycle,tenant,llc_lines,region_pages\n1e300,a,1,0\n",
         "timeline.csv:2: cycle: must be at most 9007199254740992, got 1e+300"),
        # values no run writes: fractions, True as a count, a tenant the summary does not have, odd summaries
        ("timeline.csv", "cycle,tenant,llc_lines,region_pages\n5.5,kws,1,0\n", "timeline.csv:2: cycle: expected a cycle, got 5.5"),
        ("timeline.csv", "cycle,tenant,llc_lines,region_pages\n5,kws,True,0\n",
         "timeline.csv:2: llc_lines: expected a number, got True"),
        ("timeline.csv", "cycle,tenant,llc_lines,region_pages\n5,kws,1,0\n6,nobody,1,0\n",
         "timeline.csv:3: tenant: 'nobody' is no tenant of the run's summary.json"),
        ("summary.json", '{"scenario": "s", "policy": 5, "stp": 1, "antt": 1, "fairness": 1, "sla_rate": 1, '
                         '"makespan_cycles": 1, "tenants": []}', "summary.json: policy: expected a name, got 5"),
        ("summary.json", '{"scenario": "s", "policy": "shared", "stp": "1", "antt": 1, "fairness": 1, "sla_rate": 1, '
                         '"makespan_cycles": 1, "tenants": []}', "summary.json: stp: expected a number of at least 0, got '1'"),
        ("summary.json", '{"scenario": "s", "policy": "shared", "stp": null, "antt": 1, "fairness": 1, "sla_rate": 1, '
                         '"makespan_cycles": 1, "tenants": [{"name": 7}]}',
         "summary.json: tenants[0].name: expected a tenant name, got 7"),
        ("summary.json", '{"scenario": "s", "policy": "shared", "stp": 1, "antt": 1, "fairness": 1, "sla_rate": 1, '
                         '"makespan_cycles": 1, "tenants": [], "llc_bytes": -1}',
         "summary.json: llc_bytes: expected a positive whole number of bytes, got -1"),
        ("summary.json", '{"scenario": "s", "policy": "shared", "stp": 1, "antt": 1, "fairness": 1, "sla_rate": 1, '
                         '"makespan_cycles": 1, "tenants": [], "llc_bytes": "16MiB"}',
         "summary.json: llc_bytes: expected a positive whole number of bytes, got '16MiB'"),
    ]:
        bad = tmp_path / "bad"
        shutil.rmtree(bad, ignore_errors=True)
        shutil.copytree(tmp_path / "run", bad)
        (bad / name).write_text(text)
        r = cli("report", str(bad), "--out", str(tmp_path / "bad_rep"))
        assert r.returncode == 2 and r.stderr.strip().startswith(f"error: {bad}/{expect}"), r.stderr
        assert len(r.stderr.splitlines()) == 1 and not (tmp_path / "bad_rep").exists()


@pytest.mark.parametrize("axis, raw, expect", [
    ("llc_size", "2MiB,4MiX", "--llc-size"),
    ("cores", "4,-1", "positive integer"),
    ("policy", "shared,bogus", "unknown policy 'bogus'"),
    ("seed", "1,,2", "empty value"),
    ("mix", [["kws", ["squeezenet"]]], "a mix is a list of workload names, got ['squeezenet'] in it"),
    ("mix", [[{"a": 1}]], "a mix is a list of workload names, got {'a': 1} in it"),
    ("llc_size", ["9" * 5000 + "B"], "is too large"),
    ("qos", "1,1e300", "<command line>: --qos: a deadline scale must be at most 1000, got '1e300'"),
    ("param.batch", [1, 2, 1], "1 given twice (a point would run twice)"),
    ("param.batch", "1,2,1", "1 given twice (a point would run twice)"),
    ("param.batch", [1, 1.0, True, 2, 1.0], "1.0 given twice"),  # 1, 1.0 and True are three values
    ("qos", "M,L,1.0", "M and 1.0 are the same deadline scale (a point would run twice)"),  # unlike parameters
    ("qos", [1, "1.0"], "1 and 1.0 are the same deadline scale"),
    ("array", "16x16,16X16", "16x16 given twice"),  # one array, however it is spelled
    ("array", ["16x16", "16 x 16"], "16x16 given twice"),
    ("array", "16x16,016x16", "16x16 given twice"),
    # a YAML list item 0x20 arrives as the number 32, not as ROWSxCOLS text
    ("array", ["16x16", 32], "expected ROWSxCOLS such as 32x32, got the number 32 "
                             "(YAML reads 0x.. and 0o.. as hex and octal numbers)"),
])
def test_unparsable_axis_values(axis, raw, expect):
    with pytest.raises(InputError) as e:
        parse_axis(axis, raw, "<command line>")
    assert expect in str(e.value)


def test_axis_values_read_as_their_flags_read_text(tmp_path):
    # a file's quoted '4' is the flag's 4 (docs/SWEEPS.md): one point, one id
    assert parse_axis("cores", ["4", 2], "e.yaml") == [4, 2]
    assert parse_axis("llc_size", ["2MiB", 4194304], "e.yaml") == [2 << 20, 4 << 20]
    with pytest.raises(InputError, match="4 given twice"):
        parse_axis("cores", ["4", 4], "e.yaml")
    exp = tmp_path / "e.yaml"
    ids = []
    for cores in ("'2'", "2"):
        exp.write_text(f"mix: [kws]\naxes:\n  cores: [{cores}]\n  llc_size: ['1MiB']\n")
        points = load_experiment(exp).points()
        assert [p.params for p in points] == [(("llc_size", 1 << 20), ("cores", 2))]
        ids.append(points[0].point_id)
    assert ids[0] == ids[1]


def test_a_comma_list_of_builder_parameters_reads_plain_decimals_only(tmp_path):
    # "1_0" and full-width digits stay text (int() would read 10 and 1), so the builder refuses them
    assert parse_axis("param.batch", "1, 4", "e.yaml") == [1, 4]
    assert parse_axis("param.seconds", "0.5,1e0,sparse", "e.yaml") == [0.5, 1.0, "sparse"]
    assert parse_axis("param.batch", "1_0,\uff11,\u0661", "e.yaml") == ["1_0", "\uff11", "\u0661"]
    exp = tmp_path / "e.yaml"
    for raw in ("1_0", "\uff11"):
        exp.write_text(f"mix: [squeezenet]\naxes:\n  param.batch: '{raw}'\n", encoding="utf-8")
        with pytest.raises(InputError) as e:
            load_experiment(exp).points()
        assert str(e.value) == f"{exp}:3: axes.param.batch: must be a positive integer, got {raw!r}"


@pytest.mark.parametrize("args, expect", [
    (["--mix", "squeezenet", "--llc-size", "2MiB,4MiX", "--out", "{tmp}/r.csv"], "error: <command line>: --llc-size:"),
    (["--mix", "squeezenet", "--policy", "shared,nope", "--out", "{tmp}/r.csv"], "unknown policy 'nope'"),
    (["--mix", "squeezenet", "--out", "/proc/npusim/r.csv"], "--out: cannot write"),
    (["--mix", "squeezenet", "--out", "{tmp}/r.txt"], "--out: cannot tell the format"),
    (["--mix", "nosuchnet", "--out", "{tmp}/r.csv"], "unknown workload"),
    (["--mix", "kws,none.csv", "--llc-size", "1MiB,2MiB", "--out", "{tmp}/r.csv"],
     "error: <command line>: --mix: no such file 'none.csv'"),
    (["--mix", "kws," + "x" * 300 + ".csv", "--out", "{tmp}/r.csv"], "--mix: cannot read 'xxx"),
    (["--mix", "kws;squeezenet,,kws", "--out", "{tmp}/r.csv"], "--mix: empty workload name in 'squeezenet,,kws'"),
    (["--mix", "squeezenet", "--jobs", "0", "--out", "{tmp}/r.csv"], "--jobs: must be at least 1"),
    (["--mix", "squeezenet", "--jobs", "2" * 20, "--out", "{tmp}/r.csv"], "--jobs: must be at most 1024"),
    (["--mix", "squeezenet", "--out", ""], "error: <command line>: --out: empty"),  # not ./results.csv
    (["--mix", "squeezenet", "--cores", "1_6", "--out", "{tmp}/r.csv"], "--cores: expected a positive integer, got '1_6'"),
    (["--mix", "squeezenet", "--jobs", "1_0", "--out", "{tmp}/r.csv"], "--jobs: expected an integer, got '1_0'"),
    (["--mix", "squeezenet", "--llc-size", "9" * 5000 + "B", "--out", "{tmp}/r.csv"], "--llc-size: '999"),
    (["--mix", "squeezenet", "--dask", "tcp://127.0.0.1:1", "--out", "{tmp}/r.csv"], "--dask: cannot connect"),
])
def test_bad_sweep_input(cli, tmp_path, args, expect):
    r = cli("sweep", *[a.format(tmp=tmp_path) for a in args], "--quiet")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], r.stderr
    assert not list(tmp_path.iterdir())  # nothing written before the error


def test_bad_input_met_while_simulating_is_one_line_in_run_and_sweep(cli, tmp_path):
    # buffers no tiling fits are found by the mapper inside the SimPy processes
    soc = tmp_path / "tiny.yaml"
    soc.write_text("base: camdn\nname: tiny\nnpu:\n  buffers: {input: 1B}\n")
    expect = f"error: {soc}:4: npu.buffers: too small for layer conv_1 (squeezenet) at any tiling"
    r = cli("run", "--soc", str(soc), "--mix", "squeezenet", "--quiet")
    assert r.returncode == 2 and r.stderr.startswith(expect) and len(r.stderr.splitlines()) == 1, r.stderr
    for jobs in ("1", "2"):  # in the sweep's process or in workers: each point's error, the others go on
        r = cli("sweep", "--soc", str(soc), "--mix", "squeezenet", "--policy", "shared,camdn", "--jobs", jobs,
                "--out", str(tmp_path / f"r{jobs}.csv"), "--quiet")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 2 and "Traceback" not in r.stderr, r.stderr
        assert all(line.startswith(f"error: {soc}:4: npu.buffers: too small") for line in lines)


def test_a_failed_sweep_leaves_existing_files_and_creates_none(cli, tmp_path):
    soc = tmp_path / "tiny.yaml"
    soc.write_text("base: camdn\nname: tiny\nnpu:\n  buffers: {input: 1B}\n")
    keep = tmp_path / "keep.csv"
    keep.write_text("my,precious\n1,2\n")
    for out in (keep, tmp_path / "new" / "sub", tmp_path / "r.parquet"):
        r = cli("sweep", "--soc", str(soc), "--mix", "squeezenet", "--policy", "shared", "--out", str(out),
                "--jobs", "1", "--quiet")
        assert r.returncode == 2, r.stderr
    assert keep.read_text() == "my,precious\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv", "tiny.yaml"]
    # an input of the sweep is never its output
    trace = tmp_path / "net.csv"
    trace.write_text("name,op,M,N,K\nfc,gemm,4,8,16\n")
    r = cli("sweep", "--mix", str(trace), "--policy", "shared", "--out", str(trace), "--quiet")
    assert r.returncode == 2 and "--out: " in r.stderr and "is an input of this command" in r.stderr, r.stderr
    assert trace.read_text() == "name,op,M,N,K\nfc,gemm,4,8,16\n"


def test_a_second_sweep_into_the_same_file_is_refused_while_the_first_runs(cli, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "r.csv"
    with open(tmp_path / "r.csv.lock", "a") as held:  # what a running sweep holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = cli("sweep", "--mix", "kws", "--cores", "2", "--out", str(out), "--jobs", "1", "--quiet")
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: <command line>: --out: another sweep is writing '{out}' (it holds '{out}.lock'): wait for it, "
        "or write elsewhere")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv.lock"]  # no results file begun
    (tmp_path / "r.csv.lock").unlink()
    r = cli("sweep", "--mix", "kws", "--cores", "2", "--out", str(out), "--jobs", "1", "--quiet")
    assert r.returncode == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]  # the lock is gone after


@pytest.mark.parametrize("verb", [["sweep", "--mix", "kws", "--quiet"], ["run", "--mix", "kws", "--quiet"],
                                  ["map", "--workload", "kws"]])
def test_an_out_path_under_a_file_says_so_before_any_work(cli, tmp_path, verb):
    (tmp_path / "f").write_text("mine\n")
    for out in (tmp_path / "f" / "r.csv", tmp_path / "f" / "a" / "r.csv"):
        r = cli(*verb, "--out", str(out))
        assert r.returncode == 2 and r.stderr.strip() == (
            f"error: <command line>: --out: cannot write '{out}': '{tmp_path / 'f'}' is a file, not a folder")
    assert (tmp_path / "f").read_text() == "mine\n"
    if verb[0] == "run":  # after a link, `..` is the link target's parent, where no file is in the way
        (tmp_path / "c").mkdir()
        (tmp_path / "d" / "e").mkdir(parents=True)
        (tmp_path / "c" / "out").write_text("mine\n")
        (tmp_path / "c" / "link").symlink_to(tmp_path / "d" / "e")
        r = cli(*verb, "--out", "link/../out/run", cwd=tmp_path / "c")
        assert r.returncode == 0 and (tmp_path / "d" / "out" / "run" / "summary.json").is_file(), r.stderr


def test_a_new_sweep_keeps_the_file_it_replaces(cli, tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("my,precious\n1,2\n")
    r = cli("sweep", "--mix", "kws", "--cores", "2", "--out", str(out), "--jobs", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    prev = tmp_path / "r.prev.csv"
    assert prev.read_text() == "my,precious\n1,2\n" and "point_id" in out.read_text().splitlines()[0]
    assert r.stderr.strip() == (f"warning: {out}: replaced by this sweep; the previous file is kept as {prev} "
                                "(use --resume to continue a sweep)")
    first = out.read_text()
    r = cli("sweep", "--mix", "kws", "--cores", "2", "--out", str(out), "--jobs", "1", "--quiet")
    assert r.returncode == 0 and prev.read_text() == first  # one generation is kept
    assert r.stdout.startswith("1 point run, 0 resumed, 0 failed in ")
    r = cli("sweep", "--mix", "kws", "--cores", "2", "--out", str(out), "--jobs", "1", "--quiet", "--resume")
    assert r.returncode == 0 and r.stderr == "" and prev.read_text() == first  # resuming replaces nothing


def test_resume_refuses_a_file_it_did_not_write(tmp_path):
    foreign = tmp_path / "r.csv"
    foreign.write_text("foo,bar\n1,2\n")
    with pytest.raises(InputError, match="no point_id column"):
        run_sweep(small_spec(), foreign, jobs=1, resume=True)
    assert foreign.read_text() == "foo,bar\n1,2\n"
    foreign.write_bytes(b"point_id\n\xff\xfe\n")
    with pytest.raises(InputError, match="cannot resume"):
        run_sweep(small_spec(), foreign, jobs=1, resume=True)


@pytest.mark.parametrize("text, expect", [
    ("mix: [wav2vec2_base]\naxes:\n  param.seconds: [1.0, 1.0e-300]\n",
     "exp.yaml:3: axes.param.seconds: layer feature_extractor.conv0 (in_w): must be at least 1, got 0"),
    ("mix: [bert_base]\nparams: {seq_len: 100000}\naxes:\n  param.batch: [1, 2147483647]\n",
     "exp.yaml:2: params.seq_len, axes.param.batch: layer embeddings.word (M): must be at most 2147483647, "
     "got 214748364700000"),
])
def test_a_layer_the_builder_parameters_make_impossible_names_the_layer(tmp_path, text, expect):
    exp = tmp_path / "exp.yaml"
    exp.write_text(text)
    with pytest.raises(InputError) as info:
        load_experiment(exp).points()
    assert str(info.value) == f"{tmp_path}/{expect}"


@pytest.mark.parametrize("text, expect", [
    ("scenario: .\naxes:\n  policy: [shared]\n", "exp.yaml:1: scenario: '{tmp}' is a directory, not a scenario file"),
    ("soc: sub/\nmix: [kws]\naxes:\n  policy: [shared]\n", "exp.yaml:1: soc: '{tmp}/sub' is a directory, not a SoC file"),
])
def test_a_folder_named_as_a_file_is_called_a_folder(tmp_path, text, expect):
    (tmp_path / "sub").mkdir()
    exp = tmp_path / "exp.yaml"
    exp.write_text(text)
    with pytest.raises(InputError) as info:
        load_experiment(exp)
    assert str(info.value) == f"{tmp_path}/" + expect.format(tmp=tmp_path)


def test_bad_experiment_file_names_the_line(cli, tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text("mix: [squeezenet]\naxes:\n  llc_size: [1MiB]\n  colour: [red]\n")
    r = cli("sweep", str(exp), "--out", str(tmp_path / "r.csv"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {exp}:4: axes.colour: not a sweep axis (axes: {', '.join(sweep_mod.AXES)}, param.<name>)"
    # values the file gives are blamed on its keys, not on the flags they stand for
    for text, expect in [
        ("mix: [squeezenet, nosuch]\naxes:\n  policy: [shared]\n", f"error: {exp}:1: mix: unknown workload 'nosuch'"),
        # a workload that does not exist fails at every point: named once, without a point's values
        ("mix: [kws, none.csv]\naxes:\n  llc_size: [1MiB, 2MiB]\n", f"error: {exp}:1: mix: no such file 'none.csv'\n"),
        ("axes:\n  mix: ['kws', 'kws,resnet5']\n  llc_size: [1MiB, 2MiB]\n",
         f"error: {exp}:2: axes.mix: unknown workload 'resnet5' (models: resnet50,"),
        ("soc: nosuchsoc\nmix: [kws]\naxes:\n  policy: [shared]\n", f"error: {exp}:1: soc: unknown preset"),
        ("mix: [kws]\naxes:\n  llc_size: [1MiB]\n  cores: [0]\n", f"error: {exp}:4: axes.cores: expected a positive"),
        ("mix: [kws]\nrequests: 0\naxes:\n  llc_size: [1MiB]\n",
         f"error: {exp}:2: requests: expected a positive integer, got 0\n"),  # the number, not the text '0'
        ("mix: [kws]\naxes:\n  llc_size: [1MiB]\n  llc_ways: [7]\n", f"error: {exp}:3: axes.llc_size: 1MiB is not "
                                                                      "a whole number of 7-way sets of 64 B lines "
                                                                      "(at llc_ways=7)"),
        ("mix: [kws]\naxes:\n  seed: [" + ", ".join(map(str, range(1000))) + "]\n  requests: ["
         + ", ".join(map(str, range(1, 102))) + "]\n", f"error: {exp}:2: axes: 101000 points (1000 seed x 101 "
                                                       "requests); at most 100000 in one sweep: split it into several"),
        ("mix: [squeezenet, kws]\naxes:\n  cores: [2, 1]\n", f"error: {exp}:1: mix: 2 tenants but the SoC has only "
                                                              "1 core (at cores=1)"),
    ]:
        exp.write_text(text)
        r = cli("sweep", str(exp), "--out", str(tmp_path / "r.csv"))
        assert r.returncode == 2 and r.stderr.startswith(expect), r.stderr
    (tmp_path / "sub").mkdir()
    soc = tmp_path / "sub" / "my_soc.yaml"
    soc.write_text("base: camdn\nnpu:\n  cores: 0\n")
    exp2 = tmp_path / "sub" / "exp.yaml"
    for text, expect in [  # a SoC file is found next to the experiment, like its scenario
        ("soc: my_soc.yaml\nmix: [kws]\naxes:\n  policy: [shared]\n", f"error: {soc}:3: npu.cores: must be at least 1"),
        ("soc: other.yaml\nmix: [kws]\naxes:\n  policy: [shared]\n", f"error: {exp2}:1: soc: unknown preset and no such file"),
        ("scenario: ../s.yaml\nmix: [kws]\naxes:\n  policy: [shared]\n", f"error: {exp2}:2: mix: give either a scenario"),
        ("mix: [kws]\naxes:\n  policy: [shared, shared]\n", f"error: {exp2}:3: axes.policy: shared given twice"),
    ]:
        (tmp_path / "s.yaml").write_text("tenants:\n  - workload: kws\n")
        exp2.write_text(text)
        r = cli("sweep", str(exp2), "--out", str(tmp_path / "r.csv"))
        assert r.returncode == 2 and r.stderr.startswith(expect), r.stderr
    r = cli("sweep", str(exp), "--cores", "100000", "--out", str(tmp_path / "r.csv"))  # a flag is blamed as a flag
    assert r.returncode == 2 and r.stderr.startswith("error: <command line>: --cores: must be at most 4096"), r.stderr


def test_report_rejects_results_without_needed_columns(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("policy,tenant\nshared,a\n")
    r = cli("report", str(bad), "--out", str(tmp_path / "rep"))
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {bad}: llc_bytes: column missing") and len(r.stderr.splitlines()) == 1
    header = ",".join(report_mod.SWEEP_COLUMNS)
    for row, expect in [("shared,abc,kws,kws,1,1,0.5,1,1,1,1", ":2: llc_bytes: expected a number, got 'abc'"),
                        ("shared,-5,kws,kws,1,1,0.5,1,1,1,1", ":2: llc_bytes: must be a positive size, got -5"),
                        ("shared,1,kws,kws,inf,1,0.5,1,1,1,1", ":2: mean_latency_cycles: expected a finite number, got inf"),
                        (",1,kws,kws,1,1,0.5,1,1,1,1", ":2: policy: empty"),
                        ("shared,1e300,kws,kws,1,1,0.5,1,1,1,1", ":2: llc_bytes: must be at most 1073741824 (1 GiB), got 1e+300"),
                        ("shared,1,kws,kws,-1,1,0.5,1,1,1,1", ":2: mean_latency_cycles: must not be negative, got -1"),
                        ("shared,1,kws,kws,1,1,5,1,1,1,1", ":2: llc_hit_rate: must be a rate from 0 to 1, got 5"),
                        ("shared,True,kws,kws,1,1,0.5,1,1,1,1", ":2: llc_bytes: expected a number, got True")]:
        bad.write_text(f"{header}\n{row}\n")
        r = cli("report", str(bad), "--out", str(tmp_path / "rep"))
        assert r.returncode == 2 and r.stderr.strip() == f"error: {bad}{expect}", r.stderr
    bad.write_text(f"{header}\nshared,1,kws,kws,1,{'9' * 400},0.5,1,1,1,1\n")  # beyond float64 (pandas: OverflowError)
    r = cli("report", str(bad), "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and r.stderr.startswith(f"error: {bad}:2: dram_bytes: expected a finite number, got 999")
    assert "characters left out" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    bad.write_text(f"{header},qos\nshared,1,kws,kws,1,1,0.5,1,1,1,1,M\nshared,1,kws,kws,1,1,0.5,1,1,1,1,abc\n")
    r = cli("report", str(bad), "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {bad}:3: qos: expected L, M, H or a positive deadline scale, got 'abc'"), r.stderr
    bad.write_text(f"{header},speedup,antt\nshared,1,kws,kws,1,1,0.5,1,1,1,1,1.0,1.0\nshared,1,kws,kws,1,1,0.5,1,1,1,1,abc,1\n")
    r = cli("report", str(bad), "--out", str(tmp_path / "rep"))  # a column a sweep adds is checked too
    assert r.returncode == 2 and r.stderr.strip() == f"error: {bad}:3: speedup: expected a number, got 'abc'", r.stderr
    row = "shared,1,kws,kws,1,1,0.5,1,1,1,1"
    bad.write_text(f"{header},point_id\n{row},p1\n{row.replace('kws,kws', 'kws+a,a')},p1\n{row},p1\n")
    r = cli("report", str(bad), "--out", str(tmp_path / "rep"))  # its DRAM bytes would count twice
    assert r.returncode == 2 and r.stderr.strip() == f"error: {bad}:4: tenant: kws is given twice for point p1"
    assert not (tmp_path / "rep").exists()  # nothing made for bad input


def test_regress_passes_on_shipped_references(cli, tmp_path):
    r = cli("regress", cwd=tmp_path)  # the checkout's references by default, from any folder
    assert r.returncode == 0, r.stdout + r.stderr
    assert "REGRESSION" not in r.stdout and "5 of 5 cases within tolerance" in r.stderr


def test_regress_flags_a_changed_reference(cli, tmp_path):
    case = tmp_path / "refs" / "shared_pair"
    shutil.copytree(REPO / "tests" / "reference" / "regress" / "shared_pair", case)
    layers = pd.read_csv(case / "layers.csv")
    layers.loc[3, "cycles"] = int(layers.loc[3, "cycles"] * 1.1)
    layers.to_csv(case / "layers.csv", index=False)
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 1
    assert "REGRESSION" in r.stdout and layers.loc[3, "layer"] in r.stdout
    r = cli("regress", "--reference", str(tmp_path / "refs"), "--tolerance", "0.2")
    assert r.returncode == 0
    r = cli("regress", "--reference", str(tmp_path / "refs"), "--update")
    assert r.returncode == 0
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 0


def test_regress_reads_tenant_and_layer_names_as_names(cli, tmp_path):
    case = tmp_path / "refs" / "named"
    case.mkdir(parents=True)
    (tmp_path / "net.csv").write_text("name,op,M,N,K\n007,gemm,64,64,64\nNA,gemm,64,64,64\n")
    (case / "scenario.yaml").write_text(f'soc: camdn\ntenants:\n  - workload: {tmp_path / "net.csv"}\n'
                                        '    name: "NA"\n  - workload: kws\n    name: "007"\n')
    r = cli("regress", "--reference", str(tmp_path / "refs"), "--update")
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("regress", "--reference", str(tmp_path / "refs"))  # against its own reference: every layer found
    assert r.returncode == 0 and "1 of 1 cases within tolerance" in r.stderr, r.stdout + r.stderr


def test_regress_refuses_a_reference_table_that_cannot_be_one(cli, tmp_path):
    case = tmp_path / "refs" / "shared_pair"
    shutil.copytree(REPO / "tests" / "reference" / "regress" / "shared_pair", case)
    table = case / "layers.csv"
    layers = pd.read_csv(table)
    layers.loc[1, "cycles"] = -5
    layers.to_csv(table, index=False)
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {table}:3: cycles: must not be negative, got -5"
    layers["cycles"] = layers.cycles.astype(object)
    layers.loc[1, "cycles"] = 10**25  # no exact count: damage, not a regression (exit 1) to report
    layers.to_csv(table, index=False)
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 2 and r.stderr.strip().startswith(f"error: {table}:3: cycles: must be at most 9007199254740992")
    layers.loc[1, "cycles"] = None
    layers.to_csv(table, index=False)
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {table}:3: cycles: empty (expected a number)"
    for task, why in (("abc", "expected a number, got 'abc'"), ("1.5", "expected a task number, got 1.5")):
        layers.assign(task=[task] + list(layers.task.astype(str)[1:])).to_csv(table, index=False)
        r = cli("regress", "--reference", str(tmp_path / "refs"))
        assert r.returncode == 2 and r.stderr.strip() == f"error: {table}:2: task: {why}"
    layers = pd.read_csv(REPO / "tests" / "reference" / "regress" / "shared_pair" / "layers.csv")
    layers.assign(cycles=[5098.5] + list(layers.cycles[1:])).to_csv(table, index=False)
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {table}:2: cycles: expected a whole number of cycles, got 5098.5"
    # a row given twice would pair both copies with the run's one row: a made-up difference
    pd.concat([layers, layers.iloc[[0]]]).to_csv(table, index=False)
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    first = layers.iloc[0]
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {table}:{len(layers) + 2}: layer: {first.tenant} task 0 {first.layer} is given twice")
    table.write_text(table.read_text().splitlines()[0] + "\n")  # the header only
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {table}: file: no layers in the reference table (run with --update to remake it)")
    table.unlink()
    table.mkdir()  # not a missing table that --update would make: --update could not write it either
    for update in ((), ("--update",)):
        r = cli("regress", "--reference", str(tmp_path / "refs"), *update)
        assert r.returncode == 2 and r.stderr.strip() == f"error: {table}: file: is a folder, not a reference table"


def test_regress_against_a_scalesim_compute_report(cli):
    sc = REPO / "tests" / "reference" / "scalesim"
    r = cli("regress", "--reference", str(sc / "reports" / "conv_odd" / "is_12x20" / "COMPUTE_REPORT.csv"),
            "--topology", str(sc / "topologies" / "conv_odd.csv"), "--config", str(sc / "configs" / "is_12x20.cfg"))
    assert r.returncode == 0, r.stdout + r.stderr
    # the one case compared, and SCALE-Sim's total (the sum of its report's rows, a DP layer's per
    # channel) reproduced exactly
    assert r.stderr.strip() == "1 of 1 cases within tolerance 0.01"
    assert "ok (worst relative difference 0.00%)" in r.stdout
    report = pd.read_csv(sc / "reports" / "conv_odd" / "is_12x20" / "COMPUTE_REPORT.csv", skipinitialspace=True)
    total = int(report["Total Cycles"].sum())
    assert len(report) == 22 and r.stdout.splitlines()[2].split()[1:4] == [f"{total:,}", f"{total:,}", "0"]


def test_regress_with_no_layer_in_common_warns_nothing(cli, tmp_path):
    # every row one-sided: a regression, without numpy's All-NaN warning on stderr
    sc = REPO / "tests" / "reference" / "scalesim"
    topo, report = tmp_path / "t.csv", tmp_path / "r.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\nc1, 8, 8, 3, 3, 3, 4, 1,\n")
    report.write_text("LayerID, Total Cycles\n1, 100\n")
    r = cli("regress", "--reference", str(report), "--topology", str(topo),
            "--config", str(sc / "configs" / "is_12x20.cfg"))
    assert r.returncode == 1 and "REGRESSION" in r.stdout
    assert r.stderr.strip() == "0 of 1 cases within tolerance 0.01", r.stderr


@pytest.mark.parametrize("args, expect", [
    (["--reference", "{tmp}"], "no references here"),
    (["--reference", "{tmp}/missing"], "no such directory"),
    (["--tolerance", "lots"], "--tolerance: expected a number"),
    (["--topology", "t.csv"], "--topology: only with a COMPUTE_REPORT.csv --reference, not a folder of cases"),
    # a mistyped report path is the report's error, not the --topology given with it
    (["--reference", "{tmp}/COMPUTE_REPORTT.csv", "--topology", "t.csv", "--config", "c.cfg"],
     "error: {tmp}/COMPUTE_REPORTT.csv: reference: no such file\n"),
    (["--reference", "{report}", "--topology", "{tmp}", "--config", "{config}"],
     "error: <command line>: --topology: '{tmp}': is a directory, not a file\n"),
    # the flag left out is the one blamed
    (["--reference", "{report}", "--topology", "t.csv"],
     "error: <command line>: --config: a COMPUTE_REPORT.csv reference needs --topology and --config\n"),
    (["--reference", "{report}", "--config", "{config}"],
     "error: <command line>: --topology: a COMPUTE_REPORT.csv reference needs --topology and --config\n"),
])
def test_bad_regress_input(cli, tmp_path, args, expect):
    sc = REPO / "tests" / "reference" / "scalesim"
    where = dict(tmp=tmp_path, report=sc / "reports" / "conv_odd" / "is_12x20" / "COMPUTE_REPORT.csv",
                 config=sc / "configs" / "is_12x20.cfg")
    r = cli("regress", *[a.format(**where) for a in args])
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and expect.format(**where) in r.stderr, r.stderr


def test_bad_scalesim_regress_files(cli, tmp_path):
    sc = REPO / "tests" / "reference" / "scalesim"
    report = sc / "reports" / "conv_odd" / "is_12x20" / "COMPUTE_REPORT.csv"
    topo, cfg = sc / "topologies" / "conv_odd.csv", sc / "configs" / "is_12x20.cfg"
    bad = tmp_path / "bad"

    def check(kind, text, expect):
        bad.write_text(text)
        files = {"report": report, "topology": topo, "config": cfg, kind: bad}
        r = cli("regress", "--reference", str(files["report"]), "--topology", str(files["topology"]),
                "--config", str(files["config"]))
        assert r.returncode == 2 and r.stderr.strip() == f"error: {bad}{expect}", r.stderr

    good_cfg = cfg.read_text()
    check("config", good_cfg.replace("ArrayHeight:    12", "ArrayHeight: 0"),
          ": architecture_presets.ArrayHeight: expected a positive integer, got '0'")
    from npusim.regress import scalesim_array

    bad.write_text(good_cfg.replace("ArrayHeight:    12", "ArrayHeight: " + "9" * 5000))
    with pytest.raises(InputError) as e:  # beyond int()'s digit limit: too large, not a traceback
        scalesim_array(bad)
    assert e.value.message.startswith("must be at most 65536, got 999") and "characters left out" in str(e.value)
    bad.write_text(good_cfg.replace("ArrayHeight:    12", "ArrayHeight: 0000000000000016"))
    assert scalesim_array(bad) == (16, 20, "is")  # leading zeros do not make a number large
    bad.write_bytes(b"\xef\xbb\xbf" + good_cfg.replace("\n", "\r\n").encode())  # saved by a Windows editor
    assert scalesim_array(bad) == (12, 20, "is")
    check("config", good_cfg.replace("Dataflow : is", "Dataflow : xx"),
          ": architecture_presets.Dataflow: expected ws, os or is, got 'xx'")
    check("config", "ArrayHeight: 4\n", ":1: file: not a SCALE-Sim config: File contains no section headers.")
    check("config", good_cfg.replace("ArrayHeight:    12", "ArrayHeight: %(x)s"),
          ": architecture_presets.ArrayHeight: expected a positive integer, got '%(x)s'")
    check("report", "LayerID, Total Cycles\n0, 1e400\n", ":2: Total Cycles: expected a finite number, got '1e400'")
    check("report", "LayerID, Cycles\n0, 1\n", ":1: Total Cycles: column missing: not a SCALE-Sim compute report")
    check("report", "LayerID, Total Cycles\n0, abc\n", ":2: Total Cycles: expected a number, got 'abc'")
    check("report", "LayerID, Total Cycles\n0, -1\n", ":2: Total Cycles: expected a non-negative integer, got -1")
    check("report", "LayerID, Total Cycles\n1.5, 10\n", ":2: LayerID: expected a non-negative integer, got 1.5")
    # past int64 it overflowed to -2^63 and was reported as a regression
    check("report", "LayerID, Total Cycles\n1e20, 10\n", ":2: LayerID: must be at most 9007199254740992, got 1e20")
    check("report", "LayerID, Total Cycles\n0, 1_0\n", ":2: Total Cycles: expected a number, got '1_0'")
    check("report", "LayerID, Total Cycles\n\uff10, 10\n", ":2: LayerID: expected a number, got '\uff10'")
    # a report that cannot be this topology's is bad input, not a regression
    check("report", "LayerID, Total Cycles\n", ": LayerID: the compute report has no layers")
    check("report", "LayerID, Total Cycles\n0, 5\n\n0, 5\n", ":4: LayerID: layer 0 is reported twice")  # its line
    layers = len(report.read_text().strip().splitlines()) - 1
    check("report", "LayerID, Total Cycles\n0, 5\n1, 5\n",
          f": LayerID: 2 layers, but the topology {topo} has {layers}: not the report of this topology")
    check("topology", "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                      "Strides,\nc1, 8, 8, 9, 3, 3, 4, 1,\n", ":2: Filter Height: filter height 9 is larger than the input height 8")
    case = tmp_path / "cases" / "case1"
    shutil.copytree(REPO / "tests" / "reference" / "regress" / sorted(
        p.name for p in (REPO / "tests" / "reference" / "regress").iterdir() if p.is_dir())[0], case)
    table = case / "layers.csv"
    rows = table.read_text().splitlines()
    header = rows[0].split(",")
    cells = rows[1].split(",")
    cells[header.index("cycles")] = "abc"
    table.write_text("\n".join([rows[0], ",".join(cells), *rows[2:]]) + "\n")
    r = cli("regress", "--reference", str(tmp_path / "cases"))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {table}:2: cycles: expected a number, got 'abc'", r.stderr
    table.write_bytes(b"\xff\xfe")
    r = cli("regress", "--reference", str(tmp_path / "cases"))
    assert r.returncode == 2 and r.stderr.startswith(f"error: {table}: file: cannot read"), r.stderr


def test_report_of_a_qos_sweep_keeps_the_axis_and_plots_sla_vs_scale(tmp_path):
    from npusim.report import write_report

    rows = []
    for pol, sla in (("shared", (0.0, 0.5, 0.75)), ("camdn", (0.1, 0.8, 0.9))):
        for q, s in zip(("0.6", "1.0", "1.4"), sla):
            for tenant in ("a", "b"):
                rows.append({"point_id": f"{pol}{q}", "policy": pol, "llc_bytes": 1 << 24, "mix": "a+b", "soc": "camdn", "qos": q,
                             "tenant": tenant, "mean_latency_cycles": 100.0, "dram_bytes": 10, "llc_hit_rate": 0.5,
                             "sla_rate": s, "stp": 1.5, "fairness": 0.9, "point_sla_rate": s,
                             "point_dram_bytes": 20})
    import pandas as pd

    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    path = write_report(tmp_path / "r.csv", tmp_path / "rep")
    text = path.read_text()
    assert (tmp_path / "rep" / "sla_vs_qos.png").is_file() and "sla_vs_qos.png" in text
    header = next(line for line in text.splitlines() if "policy" in line and "speedup" in line)
    assert "qos" in header.split()
    assert sum(1 for line in text.splitlines() if line.strip().startswith("a+b")) == 6  # one row per (policy, qos)


def _qos_cpu_rows():
    """Two policies x deadline scales 1.0/1.4 x CPU traffic 0/8, two tenants a point;
    each point's SLA rate and STP differ, tenants' speedups differ within a point."""
    rows = []
    for pol in ("shared", "camdn"):
        for cpu in (0, 8):
            for q in ("1.0", "1.4"):
                sla = {"shared": 0.2, "camdn": 0.3}[pol] + (0.4 if q == "1.4" else 0.0) - cpu / 40
                for tenant, speedup in (("a", 1.0), ("b", 1.2 if pol == "camdn" else 1.0)):
                    rows.append({"point_id": f"{pol}-{cpu}-{q}", "policy": pol, "llc_bytes": 1 << 24, "mix": "a+b",
                                 "soc": "camdn", "qos": q, "cpu_traffic": cpu, "tenant": tenant,
                                 "mean_latency_cycles": 100.0, "dram_bytes": 10, "llc_hit_rate": 0.5,
                                 "sla_rate": sla, "stp": 2.0 - cpu / 10, "fairness": 0.9, "point_sla_rate": sla,
                                 "point_dram_bytes": 20, "speedup": speedup, "point_dram_bytes_norm": 1.0,
                                 "antt": 1.0 + cpu / 10})
    return pd.DataFrame(rows)


def test_report_points_keep_each_points_own_figures():
    from npusim.report import per_point

    points = per_point(_qos_cpu_rows())
    assert len(points) == 8
    one = points[(points.policy == "camdn") & (points.cpu_traffic == 8) & (points.qos == "1.4")].iloc[0]
    assert one.speedup == pytest.approx(1.1)  # mean over its tenants
    assert one.point_sla == pytest.approx(0.5) and one.stp == pytest.approx(1.2) and one.antt == pytest.approx(1.8)


def test_sla_vs_scale_has_one_panel_per_value_of_the_other_axes():
    from npusim.report import per_point, sla_by_scale

    panels = dict(sla_by_scale(per_point(_qos_cpu_rows())))
    assert list(panels) == ["CPU 0 GB/s", "CPU 8 GB/s"]
    assert panels["CPU 0 GB/s"].loc[1.4, "camdn"] == pytest.approx(0.7)
    assert panels["CPU 8 GB/s"].loc[1.0, "shared"] == pytest.approx(0.0)
    assert panels["CPU 8 GB/s"].loc[1.4, "camdn"] == pytest.approx(0.5)
    # without another axis: one untitled panel
    only = _qos_cpu_rows().query("cpu_traffic == 0")
    assert [title for title, _ in sla_by_scale(per_point(only))] == [""]


def test_report_of_a_qos_and_cpu_sweep_writes_the_panels(tmp_path):
    from npusim.report import write_report

    _qos_cpu_rows().to_csv(tmp_path / "r.csv", index=False)
    text = write_report(tmp_path / "r.csv", tmp_path / "rep").read_text()
    for fig in ("sla_vs_qos", "vs_cpu_traffic", "qos_metrics"):
        assert (tmp_path / "rep" / f"{fig}.png").is_file() and f"{fig}.png" in text
    # deterministic: the same results give the same files, SVGs included
    write_report(tmp_path / "r.csv", tmp_path / "again")
    files = sorted(f.name for f in (tmp_path / "rep").iterdir())
    assert files == sorted(f.name for f in (tmp_path / "again").iterdir()) and any(f.endswith(".svg") for f in files)
    for name in files:
        assert (tmp_path / "rep" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def _levels(policy: str) -> list:
    from npusim.scenario import scenario_from_flags

    return [scenario_from_flags(soc="gemmini-moca", mix=["kws", "squeezenet"], policy=policy, requests=2, qos=q)
            for q in ("0.7", "1.0", "1.5")]


@pytest.mark.parametrize("policy,simulations", [("shared", 1), ("moca", 3)])
def test_qos_levels_share_one_simulation_unless_the_policy_reads_deadlines(policy, simulations, monkeypatch):
    from npusim import api
    from npusim.engine.sim import Simulation

    scenarios = _levels(policy)
    alone = [api.run_scenario(sc) for sc in scenarios]
    runs = []
    real_run = Simulation.run

    def counting_run(self):
        runs.append(self.scenario.qos)
        return real_run(self)

    monkeypatch.setattr(Simulation, "run", counting_run)
    together = api.run_scenarios_at_qos_levels(scenarios)
    assert len(runs) == simulations
    for a, b in zip(alone, together):
        assert a.summary == b.summary
        pd.testing.assert_frame_equal(a.tasks, b.tasks)
    # the levels' targets were applied: looser targets never meet fewer deadlines, and here more
    rates = [r.summary["sla_rate"] for r in together]
    assert rates == sorted(rates) and rates[0] < rates[-1]


def test_qos_levels_of_different_scenarios_are_refused():
    from npusim import api

    a, b = _levels("shared")[:2]
    with pytest.raises(ValueError):
        api.run_scenarios_at_qos_levels([a, dataclasses_replace(b, seed=1)])


def test_sweep_jobs_group_qos_levels_by_policy():
    spec = SweepSpec(axes={"policy": ["shared", "moca", "prema"], "qos": ["L", "M", "H"]},
                     base_mix=["kws", "squeezenet"], soc="gemmini-moca", fixed={"requests": 1})
    jobs = sweep_mod._jobs(spec.points())
    sizes = sorted((dict(job[0].params)["policy"], len(job)) for job in jobs)
    assert sizes == [("moca", 1), ("moca", 1), ("moca", 1), ("prema", 3), ("shared", 3)]
    assert all(len({p.point_id for p in job}) == len(job) for job in jobs)


def test_resume_repairs_what_an_interrupted_write_leaves(tmp_path):
    whole = tmp_path / "whole.csv"
    run_sweep(small_spec(), whole, jobs=1)
    lines = whole.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]  # 4 points x 2 tenants, in point order
    assert len(body) == 8
    cases = {
        "torn": header + b"".join(body[:5]) + body[5][:40],  # killed while writing point 3's second row
        "short": header + b"".join(body[:5]),  # point 3 has one of its two tenants' rows
        "twice": header + b"".join(body[:4]) + b"".join(body[:2]),  # point 1's rows written twice
        "bom": b"\xef\xbb\xbf" + header + b"".join(body[:4]),  # saved again by a spreadsheet
        "blank": header + b"".join(body[:2]) + b"\n" + b"".join(body[2:4]) + b"\n",  # as `report` reads it
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(content)
        warnings = []
        out = run_sweep(small_spec(), path, jobs=1, resume=True, report_error=warnings.append)
        assert out.skipped == 2 and out.ran == 2, name
        assert len(warnings) == 1 and warnings[0].startswith(f"warning: {path}: repaired before resuming: "), warnings
        assert path.read_bytes() == whole.read_bytes(), name
    for cut in (5, header.index(b",") + 4, header.index(b"tenant") + 3):  # killed while writing the header
        path = tmp_path / "header.csv"
        path.write_bytes(header[:cut])
        out = run_sweep(small_spec(), path, jobs=1, resume=True, report_error=lambda message: None)
        assert out.skipped == 0 and out.ran == 4 and path.read_bytes() == whole.read_bytes(), cut


def test_resume_repairs_a_row_torn_inside_a_multibyte_character(tmp_path):
    """A sweep killed while writing a row can cut a non-ASCII tenant name between the bytes of one
    character: that is a torn last row like any other, repaired, not an unreadable file."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text("soc: camdn\ntenants:\n  - {name: Straße, workload: kws}\n", encoding="utf-8")
    spec = SweepSpec(axes={"policy": ["shared", "waypart"]}, base_scenario=str(scenario), fixed={"requests": 1})
    whole = tmp_path / "whole.csv"
    run_sweep(spec, whole, jobs=1)
    lines = whole.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    cut = lines[2].index("ß".encode()) + 1  # between the two bytes of the ß
    path = tmp_path / "r.csv"
    path.write_bytes(lines[0] + lines[1] + lines[2][:cut])
    warnings = []
    out = run_sweep(spec, path, jobs=1, resume=True, report_error=warnings.append)
    assert (out.ran, out.skipped) == (1, 1)
    assert warnings == [f"warning: {path}: repaired before resuming: its last row was cut off by an "
                        "interrupted write"]
    assert path.read_bytes() == whole.read_bytes()
    # `npusim report` says the same of it: the last row is cut off (not that the file is no UTF-8)
    path.write_bytes(lines[0] + lines[1] + lines[2][:cut])
    with pytest.raises(InputError) as err:
        sweep_mod.read_results(path)
    assert (err.value.line, err.value.field) == (3, "results") and "the last row is cut off" in err.value.message
    # a byte that is no UTF-8 inside the file (not at its torn end) is damage: refused, not a traceback
    path.write_bytes(lines[0] + lines[1].replace("ß".encode(), b"\xdf") + lines[2])
    with pytest.raises(InputError) as err:
        run_sweep(spec, path, jobs=1, resume=True)
    assert err.value.field == "results" and err.value.message.startswith("cannot resume from it: 'utf-8' codec")


def test_report_refuses_a_point_that_lost_a_tenants_row(cli, tmp_path):
    # a write cut off at a line end leaves whole rows of only some of a point's tenants: its DRAM total
    # and mean speedup would be those of the tenants left, so the report refuses it (--resume reruns it)
    rows = []
    for pol, dram in (("shared", (30, 12)), ("waypart", (20, 12))):
        for tenant, b in zip(("a", "b"), dram):
            rows.append({"point_id": pol, "policy": pol, "llc_bytes": 1 << 20, "mix": "a+b", "soc": "camdn",
                         "tenant": tenant, "mean_latency_cycles": 100.0, "dram_bytes": b, "llc_hit_rate": 0.5,
                         "sla_rate": 1.0, "stp": 2.0, "fairness": 1.0, "point_sla_rate": 1.0,
                         "point_dram_bytes": sum(dram)})
    whole = pd.DataFrame(rows)
    whole.to_csv(tmp_path / "r.csv", index=False)
    assert cli("report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "rep")).returncode == 0
    whole.drop(index=3).to_csv(tmp_path / "cut.csv", index=False)  # waypart's tenant b lost
    r = cli("report", str(tmp_path / "cut.csv"), "--out", str(tmp_path / "rep_cut"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'cut.csv'}:4: point_dram_bytes: point waypart: its rows' dram_bytes add up to 20, "
        "not 32: a tenant's row is missing (a write was cut off): run the sweep again with --resume"]
    assert not (tmp_path / "rep_cut").exists()


def test_report_refuses_rows_of_one_point_that_disagree_and_fractional_bytes(cli, tmp_path):
    # one point's rows share its policy, LLC size, mix and SoC: rows that do not were edited and
    # would make two points; bytes come whole
    rows = [{"point_id": "p", "policy": "shared", "llc_bytes": 1 << 20, "mix": "a+b", "soc": "camdn",
             "tenant": t, "mean_latency_cycles": 100.0, "dram_bytes": 10, "llc_hit_rate": 0.5, "sla_rate": 1.0,
             "stp": 2.0, "fairness": 1.0, "point_sla_rate": 1.0, "point_dram_bytes": 20} for t in ("a", "b")]
    for col, value, expect in (("llc_bytes", 1 << 19, "llc_bytes: 524288 differs from 1048576, the value of the "
                                                       "other rows of point p"),
                               ("mix", "a", "mix: a differs from a+b, the value of the other rows of point p"),
                               ("llc_bytes", 1048576.5, "llc_bytes: expected a whole number of bytes, got 1048576.5"),
                               ("dram_bytes", 10.5, "dram_bytes: expected a whole number of bytes, got 10.5")):
        df = pd.DataFrame(rows).astype({col: type(value)})
        df.loc[1, col] = value
        df.to_csv(tmp_path / "r.csv", index=False)
        r = cli("report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "rep"))
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"error: {tmp_path / 'r.csv'}:3: {expect}"]
        assert not (tmp_path / "rep").exists()


def test_empty_results_tables_and_axes_are_named_as_such(cli, tmp_path):
    (tmp_path / "r.csv").write_text("")
    r = cli("report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {tmp_path / 'r.csv'}: results: empty file (a sweep's results start with their header)")
    case = tmp_path / "refs" / "shared_pair"
    shutil.copytree(REPO / "tests" / "reference" / "regress" / "shared_pair", case)
    (case / "layers.csv").write_text("")
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {case / 'layers.csv'}: file: empty file (run with --update to remake it)")
    (tmp_path / "e.yaml").write_text("mix: [kws]\naxes:\n  policy:\n")
    r = cli("sweep", str(tmp_path / "e.yaml"), "--out", str(tmp_path / "o.csv"))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {tmp_path / 'e.yaml'}:3: axes.policy: no values (expected a list such as [a, b])")


def test_a_run_folder_is_neither_a_sweeps_output_nor_its_results(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("run", "--mix", "kws", "--cores", "2", "--out", str(run), "--quiet").returncode == 0
    for resume in ((), ("--resume",)):
        r = cli("sweep", "--mix", "kws", "--cores", "2", "--out", str(run), "--quiet", *resume)
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [
            f"error: {run}: --out: is the folder of a run (`npusim run --out`: it holds summary.json); give the "
            "sweep a folder of its own"]
    assert not (run / "results.csv").exists()
    r = cli("report", str(run / "summary.json"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: {run / 'summary.json'}: results: a run's summary, not a sweep's results: give `npusim report` "
        "the run's folder"]


def test_resume_names_the_file_line_of_an_edited_row_below_a_blank_line(tmp_path):
    path = tmp_path / "r.csv"
    run_sweep(small_spec(), path, jobs=1)
    header, *body = path.read_text().splitlines(keepends=True)
    col = header.split(",").index("tenant")
    cells = body[1].split(",")
    cells[col] = "nobody"
    path.write_text(header + body[0] + "\n" + ",".join(cells) + "".join(body[2:]))
    with pytest.raises(InputError) as e:
        run_sweep(small_spec(), path, jobs=1, resume=True)
    assert (e.value.field, e.value.line) == ("tenant", 4)


def test_results_lines_break_only_where_a_csv_file_does(cli, tmp_path):
    """A form feed or U+2028 in a cell is no line end to the csv module: it moves no line number
    and does not cut its row in two."""
    path = tmp_path / "r.csv"
    run_sweep(small_spec(), path, jobs=1)
    text = path.read_text()
    header, *body = text.splitlines(keepends=True)
    col = header.split(",").index("soc")
    cells = body[0].split(",")
    cells[col] = "cam\fdn"  # an unquoted form feed (the csv module quotes none)
    edited = body[1].split(",")
    edited[header.split(",").index("tenant")] = "nobody"
    path.write_text(header + ",".join(cells) + ",".join(edited) + "".join(body[2:]))
    with pytest.raises(InputError) as err:
        run_sweep(small_spec(), path, jobs=1, resume=True)
    assert (err.value.field, err.value.line) == ("tenant", 3), err.value
    # `npusim report` names the line of a torn last row below a quoted cell holding a U+2028
    cells[col] = '"cam\u2028dn"'
    path.write_text(header + ",".join(cells) + "".join(body[1:])[:-2])
    r = cli("report", str(path), "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and r.stderr.startswith(f"error: {path}:9: results: the last row is cut off"), r.stderr
    # a quoted cell holding a line end (a hand-edited file) moves the lines of the rows below it
    cells[col] = '"cam\ndn"'
    path.write_text(header + ",".join(cells) + ",".join(edited) + "".join(body[2:]))
    with pytest.raises(InputError) as err:
        run_sweep(small_spec(), path, jobs=1, resume=True)
    assert (err.value.field, err.value.line) == ("tenant", 4), err.value
    # a header cell holding a form feed is one odd column name, not a header cut short of the rows' width
    path.write_text(header.replace(",policy,", ",policy\fx,") + "".join(body))
    with pytest.raises(InputError) as err:
        run_sweep(small_spec(), path, jobs=1, resume=True)
    assert err.value.field == "policy" and err.value.message.startswith("column missing"), err.value


def test_resume_refuses_rows_of_the_wrong_width_inside_the_file(tmp_path):
    path = tmp_path / "r.csv"
    run_sweep(small_spec(), path, jobs=1)
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + ",1,2\n"
    path.write_text("".join(lines))
    with pytest.raises(InputError) as err:
        run_sweep(small_spec(), path, jobs=1, resume=True)
    assert err.value.line == 4 and "fields where the header has" in err.value.message


def test_report_refuses_a_results_file_whose_last_row_is_cut_off(cli, tmp_path):
    path = tmp_path / "r.csv"
    run_sweep(small_spec(), path, jobs=1)
    text = path.read_text()
    for cut in (60, 2):  # fields missing, or only the last one short: both lack the line end
        path.write_text(text[:-cut])
        r = cli("report", str(path), "--out", str(tmp_path / "rep"))
        assert r.returncode == 2 and not (tmp_path / "rep").exists()
        assert r.stderr.startswith(f"error: {path}:9: results: the last row is cut off"), r.stderr
        assert "--resume" in r.stderr
    lines = text.splitlines(keepends=True)
    lines[2] = lines[2].rstrip("\n") + ",9,9\n"
    path.write_text("".join(lines))
    r = cli("report", str(path), "--out", str(tmp_path / "rep"))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"error: {path}:3: results: ") and "fields where the header has" in r.stderr, r.stderr
    # a row short of fields (pandas would fill n/a), or with no DRAM bytes, is damage, not a point to plot
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    short = lines[:2] + [",".join(lines[2].split(",")[:10]) + "\n"] + lines[3:]
    cells = lines[2].rstrip("\n").split(",")
    cells[header.index("dram_bytes")] = ""
    empty = lines[:2] + [",".join(cells) + "\n"] + lines[3:]
    for damaged, message in ((short, f"results: 10 fields where the header has {len(header)}"),
                             (empty, "dram_bytes: empty (expected a number)")):
        path.write_text("".join(damaged))
        r = cli("report", str(path), "--out", str(tmp_path / "rep"))
        assert r.returncode == 2 and r.stderr.strip() == f"error: {path}:3: {message}", r.stderr


def _children(pid: int) -> set[int]:
    kids = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids.update(int(k) for k in (task / "children").read_text().split())
    return kids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_killed_sweep_leaves_no_workers_and_resumes(tmp_path, how):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "r.csv"
    args = [sys.executable, "-m", "npusim", "sweep", "--soc", "camdn", "--mix", "squeezenet,kws",
            "--llc-size", "1MiB,2MiB,4MiB,8MiB", "--policy", "shared,waypart", "--out", str(out), "--jobs", "2", "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    workers: set[int] = set()
    while time.time() < deadline and not (out.is_file() and out.stat().st_size > 0):
        workers |= _children(proc.pid) if proc.poll() is None else set()
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    workers |= _children(proc.pid)
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    if how == "SIGTERM":
        assert proc.returncode == 143 and "with --resume" in err.splitlines()[-1], err
    time.sleep(3)  # a worker checks for its parent every second
    assert workers and not [w for w in workers if _alive(w)]
    r = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert df.point_id.nunique() == 8 and len(df) == 16


@pytest.mark.parametrize("text,where", [
    ("policy: {name: camdn, alpha: 0.2}\naxes:\n  qos: [L, M]\n", "3: policy"),
    ("axes:\n  policy: [shared, {name: camdn, alpha: 0.2}]\n", "4: axes.policy"),
])
def test_a_policy_with_options_in_an_experiment_file_is_pointed_to_a_scenario(cli, tmp_path, text, where):
    exp = tmp_path / "e.yaml"
    exp.write_text("soc: camdn\nmix: [kws]\n" + text)
    r = cli("sweep", str(exp), "--out", str(tmp_path / "r.csv"))
    assert r.returncode == 2 and r.stderr.startswith(f"error: {exp}:{where}: expected names, got "), r.stderr
    assert "goes in a scenario file" in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("args,expect", [
    (["run", "--soc", "gemmini-moca", "--mix", "kws", "--policy", "camdn"], "<command line>: --policy: camdn needs"),
    (["sweep", "--soc", "camdn", "--mix", "kws", "--llc-ways", "1,2", "--policy", "camdn"],
     "<command line>: --policy: camdn needs NPU-controlled LLC ways for its page regions, but camdn has "
     "llc.npu_ways = 0 (at llc_ways=1)"),
])
def test_a_policy_the_soc_cannot_run_is_refused_before_anything_runs(cli, tmp_path, args, expect):
    out = tmp_path / "r.csv"
    r = cli(*args, *(["--out", str(out)] if args[0] == "sweep" else []), "--quiet")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {expect}") and len(r.stderr.splitlines()) == 1, r.stderr
    assert not out.exists()


def test_a_scenario_files_policy_the_soc_cannot_run_names_its_line_unless_replaced(cli, tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text("soc: gemmini-moca\npolicy: camdn\ntenants:\n  - workload: kws\n")
    r = cli("run", "--scenario", str(scen), "--quiet")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {scen}:2: policy: camdn needs"), r.stderr
    exp = tmp_path / "e.yaml"
    exp.write_text("scenario: s.yaml\naxes:\n  qos: [L, M]\n")
    r = cli("sweep", str(exp), "--out", str(tmp_path / "r.csv"), "--quiet")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {scen}:2: policy: camdn needs"), r.stderr
    assert len(r.stderr.splitlines()) == 1 and not (tmp_path / "r.csv").exists()
    assert cli("run", "--scenario", str(scen), "--policy", "shared", "--quiet").returncode == 0


def test_report_plots_speedup_and_dram_against_each_ordered_axis(tmp_path):
    from npusim.report import write_report

    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    both = pd.concat([rows.assign(dram_channels=1, point_id=rows.point_id + "-1"),
                      rows.assign(dram_channels=2, point_id=rows.point_id + "-2")])
    both.to_csv(tmp_path / "r.csv", index=False)
    text = write_report(tmp_path / "r.csv", tmp_path / "rep").read_text()
    for fig in ("speedup_vs_dram_channels", "dram_norm_vs_dram_channels", "speedup_vs_llc"):
        assert (tmp_path / "rep" / f"{fig}.png").is_file() and f"{fig}.png" in text
    assert not (tmp_path / "rep" / "sla_vs_qos.png").exists()


def test_report_plots_arrays_in_order_of_their_size(tmp_path, monkeypatch):
    # as text 128x128 sorts before 16x16: the x axis put the largest array first and drew the line out of order
    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    arrays = {"32x32": 1.5, "128x128": 3.0, "16x16": 1.0}  # camdn's latency ratio shared / camdn at each
    df = pd.concat([rows.assign(array=a, point_id=rows.point_id + a, mean_latency_cycles=rows.mean_latency_cycles.where(
        rows.policy == "shared", 100.0 / s)).drop(columns=["speedup", "point_dram_bytes_norm"])
        for a, s in arrays.items()])
    df.to_csv(tmp_path / "r.csv", index=False)
    drawn = {}

    def saving(fig, out, name):
        ax = fig.axes[0]
        fig.canvas.draw()
        ticks = sorted((t.get_position()[0], t.get_text()) for t in ax.get_xticklabels())
        drawn[name] = ([text for _, text in ticks],
                       {ln.get_label(): list(zip(ln.get_xdata(), ln.get_ydata())) for ln in ax.get_lines()})
        return save(fig, out, name)

    save = report_mod._save
    monkeypatch.setattr(report_mod, "_save", saving)
    report_mod.write_report(tmp_path / "r.csv", tmp_path / "rep")
    ticks, lines = drawn["speedup_vs_array"]
    assert ticks == ["16x16", "32x32", "128x128"]
    assert lines["camdn"] == [(0, 1.0), (1, 1.5), (2, 3.0)]
    table = report_mod.summary_table(sweep_mod.with_derived(df))
    assert list(table[table.policy == "camdn"].array) == ["16x16", "32x32", "128x128"]  # the table too



def test_a_figures_legend_names_every_policy_any_panel_draws():
    # the legend sits on the last panel: a policy with no point in the last mix must still be named
    plt = report_mod._plt()
    fig, (first, last) = plt.subplots(1, 2)
    first.plot([1, 2], [1, 2], label="shared")
    first.plot([1, 2], [2, 3], label="camdn")
    last.plot([1, 2], [1, 1], label="shared")
    report_mod._legend_outside(last)
    assert [t.get_text() for t in last.get_legend().get_texts()] == ["shared", "camdn"]
    plt.close(fig)

def test_report_tables_give_numbers_as_read():
    import numpy as np

    from npusim.report import _cell, _table

    df = pd.DataFrame({"rate": [3.734, 1500.25], "sla": [0, 0.5], "neg": [-0.4, -1234.5], "big": [2**53 + 1, 3],
                       "gone": [np.float32("nan"), 1.0], "far": [float("inf"), 0.5], "name": ["x", None]})
    rows = [line.split() for line in _table(df).strip("`\n").splitlines()]
    assert rows == [["rate", "sla", "neg", "big", "gone", "far", "name"],
                    ["3.734", "0.000", "-0.400", str(2**53 + 1), "n/a", "inf", "x"],
                    ["1500", "0.500", "-1234", "3", "1", "0.500", "n/a"]]
    assert (_cell(-0.0001, 3), _cell(np.float32("nan"), 3), _cell(None), _cell(7), _cell(2.5)) == \
        ("0.000", "n/a", "n/a", "7", "2.500")


@pytest.mark.parametrize("b_latency, log", [(1999.0, False), (2001.0, True)])
def test_latency_bars_go_on_a_log_axis_when_tenants_differ_over_20x(tmp_path, monkeypatch, b_latency, log):
    from npusim import report

    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    rows.loc[rows.tenant == "b", "mean_latency_cycles"] = b_latency  # a's are 100 cycles
    rows.to_csv(tmp_path / "r.csv", index=False)
    scales, save = {}, report._save

    def saving(fig, out, name):
        fig.canvas.draw()  # tick labels are made when drawn
        scales[name] = [(ax.get_yscale(), ax.get_ylabel(), [t.get_text() for t in ax.get_yticklabels()])
                        for ax in fig.axes]
        return save(fig, out, name)

    monkeypatch.setattr(report, "_save", saving)
    report.write_report(tmp_path / "r.csv", tmp_path / "rep")
    [(scale, label, ticks)] = scales["latency_by_tenant"]
    assert scale == ("log" if log else "linear")
    assert label == ("mean latency (Mcycles, log scale)" if log else "mean latency (Mcycles)")
    assert ticks and not any("$" in t for t in ticks)  # plain numbers: text.parse_math is off


def _capture_figures(monkeypatch) -> dict:
    """Every figure the report saves, drawn (tick labels are made when drawn), by name."""
    figs, save = {}, report_mod._save

    def saving(fig, out, name):
        fig.canvas.draw()
        figs[name] = [{"yscale": ax.get_yscale(), "ylabel": ax.get_ylabel(), "ylim": ax.get_ylim(),
                       "title": ax.get_title(), "yticks": [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()],
                       "lines": [(ln.get_label(), ln.get_marker(), ln.get_linewidth()) for ln in ax.get_lines()
                                 if not ln.get_label().startswith("_")],
                       "collections": len(ax.collections),
                       "texts": [t.get_text() for t in ax.texts],
                       "legend": [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else [],
                       "legend_box": ax.get_legend().get_window_extent() if ax.get_legend() else None,
                       "box": ax.get_window_extent()} for ax in fig.axes]
        figs[name + ".size"] = tuple(fig.get_size_inches())
        figs[name + ".suptitle"] = fig._suptitle.get_text() if fig._suptitle else ""
        return save(fig, out, name)

    monkeypatch.setattr(report_mod, "_save", saving)
    return figs


def test_log_latency_axis_labels_1_2_5_of_each_decade(tmp_path, monkeypatch):
    # latencies from 1.9 to 82 Mcycles: powers of ten alone would label only "10"
    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    rows.loc[rows.tenant == "a", "mean_latency_cycles"] = 1.9e6
    rows.loc[rows.tenant == "b", "mean_latency_cycles"] = 82e6
    rows.to_csv(tmp_path / "r.csv", index=False)
    figs = _capture_figures(monkeypatch)
    report_mod.write_report(tmp_path / "r.csv", tmp_path / "rep")
    [ax] = figs["latency_by_tenant"]
    low, high = ax["ylim"]
    shown = [text for y, text in ax["yticks"] if low <= y <= high and text]
    assert ax["yscale"] == "log" and shown == ["2", "5", "10", "20", "50"]


def test_report_of_a_sweep_over_dram_standards(tmp_path, cli):
    # the axis `dram` once clashed with the plots' own `dram` column (a traceback, half a report)
    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    both = pd.concat([rows.assign(dram="DDR4-3200", point_id=rows.point_id + "-1"),
                      rows.assign(dram="LPDDR4-4266", point_id=rows.point_id + "-2",
                                  mean_latency_cycles=rows.mean_latency_cycles.where(rows.policy == "shared", 50.0))])
    both.to_csv(tmp_path / "r.csv", index=False)
    r = cli("report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "rep"))
    assert r.returncode == 0 and not r.stderr, r.stderr
    text = (tmp_path / "rep" / "report.md").read_text()
    for fig in ("speedup_vs_dram", "dram_norm_vs_dram", "latency_by_tenant"):
        assert (tmp_path / "rep" / f"{fig}.png").is_file() and f"{fig}.png" in text
    camdn = [line.split() for line in text.splitlines() if line.split()[2:3] == ["camdn"]]
    assert [(row[3], row[4]) for row in camdn] == [("DDR4-3200", "1.000"), ("LPDDR4-4266", "2.000")]


def test_report_figures_keep_equal_lines_visible_and_rates_on_0_to_1(tmp_path, monkeypatch):
    rows = _qos_cpu_rows()
    same = rows[rows.policy == "shared"].assign(policy="waypart", point_id=lambda d: d.point_id + "w")
    pd.concat([rows, same]).to_csv(tmp_path / "r.csv", index=False)
    figs = _capture_figures(monkeypatch)
    text = report_mod.write_report(tmp_path / "r.csv", tmp_path / "rep").read_text()
    # waypart equals shared everywhere: drawn thinner, with its own marker, on top of shared's line
    for panel in figs["sla_vs_qos"]:
        lines = {label: (marker, width) for label, marker, width in panel["lines"]}
        assert set(lines) == {"shared", "waypart", "camdn"}
        assert len({m for m, _ in lines.values()}) == 3
        assert lines["shared"][1] > lines["waypart"][1] > lines["camdn"][1]
        assert panel["ylim"][0] < 0 < 1 < panel["ylim"][1] <= 1.05
    sla, stp, fairness = figs["qos_metrics"]
    assert sla["ylim"] == (0, 1.05) and fairness["ylim"] == (0, 1.05) and stp["ylim"][0] == 0
    assert figs["qos_metrics.suptitle"] == "per policy, mean over 2 QoS levels, 2 CPU traffic rates"
    # legends beside the axes, not over the data
    for name in ("sla_vs_qos", "speedup_vs_llc", "latency_by_tenant"):
        last = [ax for ax in figs[name] if ax["legend"]][-1]
        assert last["legend_box"].x0 >= last["box"].x1, name
    assert figs["dram_norm_vs_llc"][0]["ylabel"] == "NPU DRAM bytes normalised to shared"
    assert "CPU-side traffic is not counted in them" in text
    # every bar says its value: a rate of 0 draws no bar, which read as an empty panel
    for panel, col in zip(figs["qos_metrics"], ("point_sla_rate", "stp", "fairness")):
        # as many tenant rows in every point: the mean over rows is the mean over points
        means = pd.concat([rows, same]).groupby("policy")[col].mean()
        assert panel["texts"] == [f"{means[p]:.2f}" for p in ("shared", "waypart", "camdn")], col
    assert "`sla_rate` is the share of requests whose latency is within their target" in text


def test_report_panels_of_many_tenants_grow_and_title_the_mix_by_counts(tmp_path, monkeypatch):
    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    names = [f"kws{i}" if i % 2 else f"squeezenet{i}" for i in range(24)]
    mix = "+".join(["kws"] * 12 + ["squeezenet"] * 12)
    many = pd.concat([rows[rows.tenant == "a"].assign(tenant=n, mix=mix, point_dram_bytes=10 * len(names))
                      for n in names])
    many.to_csv(tmp_path / "many.csv", index=False)
    rows.to_csv(tmp_path / "few.csv", index=False)
    figs = _capture_figures(monkeypatch)
    report_mod.write_report(tmp_path / "few.csv", tmp_path / "few")
    few_width = figs["latency_by_tenant.size"][0]
    report_mod.write_report(tmp_path / "many.csv", tmp_path / "many")
    assert figs["latency_by_tenant.size"][0] == pytest.approx(3 * few_width)  # 24 tenants: 3x the 8-tenant width
    assert figs["latency_by_tenant"][0]["title"] == "24 tenants: kws x12, squeezenet x12 @ 16MiB"


def test_report_table_orders_qos_levels_by_deadline_and_says_n_a(tmp_path):
    rows = _qos_cpu_rows().query("cpu_traffic == 0 and policy == 'camdn' and qos == '1.0'").drop(columns=["cpu_traffic"])
    levels = pd.concat([rows.assign(qos=q, point_id=rows.point_id + q) for q in ("L", "H", "M")])
    levels.drop(columns=["speedup", "point_dram_bytes_norm"]).to_csv(tmp_path / "r.csv", index=False)
    text = report_mod.write_report(tmp_path / "r.csv", tmp_path / "rep").read_text()
    table = [line.split() for line in text.split("```")[1].strip().splitlines()]
    assert [row[3] for row in table[1:]] == ["H", "M", "L"]  # 0.8, 1.0, 1.2 x the target; as text H, L, M
    assert all(row[4] == "n/a" and row[5] == "n/a" for row in table[1:])  # no shared: no speedup, no DRAM ratio


def test_a_report_of_one_point_says_point(tmp_path):
    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0 and policy == 'shared'")
    rows.drop(columns=["qos", "cpu_traffic"]).to_csv(tmp_path / "r.csv", index=False)
    text = report_mod.write_report(tmp_path / "r.csv", tmp_path / "rep").read_text()
    assert "; 1 point, 2 tenant rows." in text


@pytest.mark.parametrize("policy", ["shared", "isolated"])
def test_run_timeline_keeps_the_run_order_and_stacks_only_a_shared_llc(tmp_path, monkeypatch, policy):
    # the timeline lists b before a; the run's order is a, b, then the CPU generator
    tl = pd.DataFrame({"cycle": [0, 0, 0, 10, 10, 10], "tenant": ["b", "a", "cpu", "b", "a", "cpu"],
                       "llc_lines": [5, 7, 1, 6, 8, 2], "region_pages": [0] * 6})
    summary = {"scenario": "s", "policy": policy, "llc_bytes": 1 << 24,
               "tenants": [{"name": "a"}, {"name": "b"}], "background": [{"name": "cpu"}]}
    figs = _capture_figures(monkeypatch)
    report_mod.plot_timeline(tl, tmp_path, summary)
    [ax] = figs["timeline"]
    assert ax["legend"] == ["a", "b", "cpu"]
    if policy == "isolated":  # each in an LLC of its own: lines, not a stack that would exceed one LLC
        assert [label for label, _, _ in ax["lines"]] == ["a", "b", "cpu"] and ax["collections"] == 0
        assert ax["title"] == "cache allocation over time (each tenant alone): s, isolated, LLC 16MiB"
    else:
        assert ax["collections"] == 3 and "(stacked): s, shared, LLC 16MiB" in ax["title"]


def test_report_of_an_axis_with_a_missing_or_infinite_value(tmp_path):
    from npusim.report import write_report

    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    both = pd.concat([rows.assign(array="16x16", point_id=rows.point_id + "-1"),
                      rows.assign(array="32x32", point_id=rows.point_id + "-2")])
    both.iloc[0, both.columns.get_loc("array")] = None  # a point without the axis has no x: plotted without it
    both.to_csv(tmp_path / "r.csv", index=False)
    text = write_report(tmp_path / "r.csv", tmp_path / "rep").read_text()
    assert (tmp_path / "rep" / "speedup_vs_array.png").is_file() and "speedup_vs_array.png" in text
    ways = pd.concat([rows.assign(llc_ways=8, point_id=rows.point_id + "-1"),
                      rows.assign(llc_ways=16, point_id=rows.point_id + "-2")]).astype({"llc_ways": float})
    ways.iloc[2, ways.columns.get_loc("llc_ways")] = float("inf")
    ways.to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(InputError) as info:  # no x to plot it at
        write_report(tmp_path / "w.csv", tmp_path / "rep_w")
    assert (info.value.line, info.value.field, info.value.message) == (4, "llc_ways", "expected a finite number, got inf")


def test_long_mixes_are_counted_in_tables():
    from npusim.report import short_mix

    mix = "+".join(["kws", "squeezenet", "squeezenet", "yolo_lite", "kws", "squeezenet"] * 4)
    assert short_mix(mix) == "24 tenants: kws x8, squeezenet x12, yolo_lite x4"
    assert short_mix("resnet50+bert_base") == "resnet50+bert_base"
    eight = "resnet50+mobilenet_v2+efficientnet_b0+vit_b16+pointpillars+wav2vec2_base+bert_base+gnmt"
    assert short_mix(eight) == eight  # counting would not make it shorter


def test_qos_levels_of_a_scenario_with_list_parameters_share_a_job(tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text("soc: camdn\npolicy: shared\ntenants:\n  - {workload: m3vit, params: {image_size: [64, 64]}}\n")
    spec = SweepSpec(axes={"qos": ["L", "M", "H"]}, base_scenario=str(scen))
    jobs = sweep_mod._jobs(spec.points())
    assert [len(job) for job in jobs] == [3]


def test_reads_deadlines_is_declared_by_each_policy_class():
    from npusim.policies import get_policy
    from npusim.policies.basic import Shared

    class SlackAware(Shared):  # reads deadlines where its parent does not, without saying so
        name = "slack-aware-test"

    assert SlackAware.reads_deadlines and not Shared.reads_deadlines
    assert [n for n in ("shared", "waypart", "camdn", "camdn-hw", "prema", "static", "moca", "isolated")
            if get_policy(n).reads_deadlines] == ["moca", "isolated"]


def test_resume_refuses_kept_rows_the_report_could_not_read(cli, tmp_path):
    out = tmp_path / "r.csv"
    r = cli("sweep", "--mix", "kws", "--cores", "2", "--policy", "shared,waypart", "--out", str(out), "--jobs", "1",
            "--quiet")
    assert r.returncode == 0, r.stderr
    header, first, *rest = out.read_text().splitlines()
    cols = header.split(",")
    cells = first.split(",")
    cells[cols.index("llc_hit_rate")] = "abc"
    out.write_text("\n".join([header, ",".join(cells), *rest]) + "\n")
    r = cli("sweep", "--mix", "kws", "--cores", "2", "--policy", "shared,waypart", "--out", str(out), "--jobs", "1",
            "--quiet", "--resume")
    assert r.returncode == 2 and r.stderr.strip() == f"error: {out}:2: llc_hit_rate: expected a number, got 'abc'"
    # a row is kept by its point_id: one naming another policy or tenant would be kept under the wrong name
    for col, value in (("policy", "sh\x00red"), ("tenant", "nobody")):
        cells = first.split(",")
        cells[cols.index(col)] = value
        out.write_text("\n".join([header, ",".join(cells), *rest]) + "\n")
        r = cli("sweep", "--mix", "kws", "--cores", "2", "--policy", "shared,waypart", "--out", str(out), "--jobs", "1",
                "--quiet", "--resume")
        point = cells[cols.index("point_id")]
        assert r.returncode == 2 and r.stderr == (
            f"error: {out}:2: {col}: cannot resume: {value!r} is not the {col} of point {point} (the row was "
            "edited or damaged): remove the row or drop --resume\n"), r.stderr


def test_point_ids_follow_every_input_of_the_result(tmp_path):
    soc = tmp_path / "soc.yaml"
    soc.write_text("base: camdn\n")
    trace = tmp_path / "t.csv"
    trace.write_text("name,op,M,N,K\nfc,gemm,64,64,64\n")

    def ids(**kw):
        spec = SweepSpec(axes={"llc_size": [1 << 20, 2 << 20]}, base_mix=["kws", str(trace)], soc=str(soc),
                         fixed={"requests": 1, **kw})
        return [p.point_id for p in spec.points()]

    first = ids()
    assert len(set(first)) == 2 and ids() == first
    soc.write_text("# a comment moves no value\nbase: camdn\n")
    assert ids() == first
    soc.write_text("base: camdn\ndram:\n  channels: 1\n")
    assert not set(ids()) & set(first)
    soc.write_text("base: camdn\n")
    trace.write_text("name,op,M,N,K\nfc,gemm,64,64,128\n")
    assert not set(ids()) & set(first)
    trace.write_text("name,op,M,N,K\nfc,gemm,64,64,64\n")
    assert ids() == first
    assert not set(ids(requests=2)) & set(first) and not set(ids(seed=1)) & set(first)


def test_resume_after_an_input_changed_equals_a_fresh_run(tmp_path):
    soc = tmp_path / "soc.yaml"
    soc.write_text("base: camdn\n")
    spec = SweepSpec(axes={"llc_size": [1 << 20, 2 << 20]}, base_mix=list(MIX), soc=str(soc), fixed={"requests": 1})
    path = tmp_path / "r.csv"
    run_sweep(spec, path, jobs=1)
    before = path.read_text()
    soc.write_text("base: camdn\ndram:\n  channels: 1\n")  # every point's result changes
    warnings = []
    out = run_sweep(spec, path, jobs=1, resume=True, report_error=warnings.append)
    assert (out.ran, out.skipped) == (2, 0)
    prev = tmp_path / "r.prev.csv"
    assert warnings == [f"warning: {path}: repaired before resuming: 2 points not in this sweep dropped (other "
                        "swept values, or the SoC, scenario, workloads or simulator changed since); the previous "
                        f"file is kept as {prev}"]
    assert prev.read_text() == before
    run_sweep(spec, tmp_path / "fresh.csv", jobs=1)
    assert path.read_bytes() == (tmp_path / "fresh.csv").read_bytes()
    # fewer swept values: the other point's rows go, the common one is not run again
    fewer = dataclasses_replace(spec, axes={"llc_size": [2 << 20]})
    out = run_sweep(fewer, path, jobs=1, resume=True)
    assert (out.ran, out.skipped) == (0, 1)
    df = pd.read_csv(path)
    assert set(df.llc_bytes) == {2 << 20} and len(df) == len(MIX)
    # a file of another sweep with its own columns (a seed axis): resumed, nothing of it stays
    run_sweep(dataclasses_replace(spec, axes={**spec.axes, "seed": [0, 1]}), path, jobs=1)
    out = run_sweep(spec, path, jobs=1, resume=True)
    assert (out.ran, out.skipped) == (2, 0)
    assert path.read_bytes() == (tmp_path / "fresh.csv").read_bytes()


def test_an_interruption_before_any_point_says_nothing_was_kept(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("my,precious\n1,2\n")

    def stop_at_once(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(small_spec(), path, jobs=1, progress=stop_at_once)
    assert info.value.finished_points_kept is False and path.read_text() == "my,precious\n1,2\n"
    # resumed: the points finished before are there
    run_sweep(small_spec(policy=["shared"]), path, jobs=1)
    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(small_spec(), path, jobs=1, resume=True, progress=stop_at_once)
    assert info.value.finished_points_kept is True


@pytest.mark.parametrize("kept", [False, True])
def test_the_interruption_message_says_whether_points_were_kept(tmp_path, monkeypatch, capsys, kept):
    from npusim.cli import main

    out = tmp_path / "r.csv"
    out.write_text("point_id\nabc\n")

    def interrupted(*args, **kwargs):
        exc = KeyboardInterrupt()
        exc.finished_points_kept = kept
        raise exc

    monkeypatch.setattr(sweep_mod, "run_sweep", interrupted)
    assert main(["sweep", "--mix", "kws", "--out", str(out), "--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    if kept:
        assert err == f"error: interrupted: the finished points are kept in {out}; run the same command with --resume to go on"
    else:
        assert err == f"error: interrupted before any point finished; {out} is as it was"


def test_an_interrupted_final_rewrite_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "r.parquet"
    run_sweep(small_spec(policy=["shared"]), path, jobs=1)
    journal = tmp_path / "r.parquet.journal.csv"
    rows, table = journal.read_text(), path.read_bytes()

    def torn_write(self, target, *args, **kwargs):
        Path(target).write_bytes(b"PAR1 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", torn_write)
    with pytest.raises(KeyboardInterrupt):
        sweep_mod.finalize(path)
    assert not (tmp_path / "r.parquet.tmp").exists()
    assert journal.read_text() == rows and path.read_bytes() == table


def test_an_axis_with_a_missing_value_is_still_an_axis():
    # a point without CPU traffic (NaN) and one with none (0) are two values of the axis
    df = pd.DataFrame({"mix": ["a+b", "a+b"], "llc_bytes": [1 << 20, 1 << 20], "policy": ["shared", "shared"],
                       "cpu_traffic": [0.0, float("nan")], "qos": ["1.0", "1.0"]})
    assert report_mod.extra_axes(df) == ["cpu_traffic"]
    assert report_mod.extra_axes(df.assign(cpu_traffic=float("nan"))) == []  # all missing: one value


def test_regress_flags_a_layer_the_reference_does_not_have(tmp_path):
    from npusim.regress import run_regression

    case = tmp_path / "refs" / "shared_pair"
    shutil.copytree(REPO / "tests" / "reference" / "regress" / "shared_pair", case)
    layers = pd.read_csv(case / "layers.csv")
    extra = layers.loc[3, "layer"]
    layers.drop(index=3).to_csv(case / "layers.csv", index=False)  # the current run has one layer more
    (result,) = run_regression(tmp_path / "refs", tolerance=0.01)
    assert not result.passed and result.worst_rel == float("inf")
    assert extra in set(result.diff.layer) and len(result.diff) == len(layers)


def test_regress_prints_the_layers_only_one_side_has(tmp_path, cli):
    case = tmp_path / "refs" / "shared_pair"
    shutil.copytree(REPO / "tests" / "reference" / "regress" / "shared_pair", case)
    layers = pd.read_csv(case / "layers.csv")
    extra = layers.iloc[3]
    layers.drop(index=3).to_csv(case / "layers.csv", index=False)
    r = cli("regress", "--reference", str(tmp_path / "refs"))
    assert r.returncode == 1
    rows = [line for line in r.stdout.splitlines() if f" {extra.layer} " in f" {line} "]
    assert len(rows) == 1 and rows[0].split()[:4] == [extra.tenant, str(extra.task), extra.layer, "current"], r.stdout
    assert "REGRESSION (worst relative difference unbounded: a layer only one side has, or a value that was 0)" \
        in r.stdout and "inf%" not in r.stdout
    # counts whole with separators (not 2.478e+04), relative differences to 4 digits
    total = int(layers.drop(index=3).cycles.sum())
    [cycles] = [line.split() for line in r.stdout.splitlines() if line.split()[:1] == ["cycles"]]
    assert cycles[1:4] == [f"{total:,}", f"{total + int(extra.cycles):,}", f"{int(extra.cycles):,}"]
    assert cycles[4] == f"{extra.cycles / total:.4g}"
    # the layer rows too, integer columns included: the layer only one side has lacks the other side's numbers
    [header] = [line.split() for line in r.stdout.splitlines() if "only_in" in line.split()]
    cells = dict(zip(header, rows[0].split()))
    assert (cells["cycles_ref"], cells["cycles_cur"], cells["cycles_abs"], cells["cycles_rel"]) == \
        ("n/a", f"{int(extra.cycles):,}", "n/a", "inf"), rows[0]


def test_a_point_frees_its_simulation_and_leaves_a_callers_gc_freeze_alone(tmp_path, monkeypatch):
    import gc

    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path / "cache"))

    from npusim.sweep import _point_job

    spec = SweepSpec(axes={"mix": parse_axis("mix", "kws", "<command line>"), "llc_size": [1 << 20]})
    point = spec.points()[0]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0 and len(_point_job([point])[0]) == 1
        assert gc.get_freeze_count() > frozen // 2  # was 0: the point unfroze its caller's objects (some die meanwhile)
    finally:
        gc.unfreeze()
    assert len(_point_job([point])[0]) == 1 and gc.get_freeze_count() == 0  # its own freeze is undone


def test_report_draws_names_with_dollars_and_caps_the_mix_panels(tmp_path):
    """Tenant names are text, not TeX (a '$' in one crashed the plots); a results file of many mixes
    plots the first MAX_PLOTTED_MIXES (a panel each, side by side) and says so."""
    from PIL import Image

    from npusim.report import MAX_PLOTTED_MIXES, write_report

    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    named = rows.assign(tenant=rows.tenant + r"$\frac{a$")
    named.to_csv(tmp_path / "d.csv", index=False)
    assert "report.md" in str(write_report(tmp_path / "d.csv", tmp_path / "rep_d"))
    many = pd.concat([rows.assign(mix=f"mix{i}", point_id=rows.point_id + f"-{i}")
                      for i in range(MAX_PLOTTED_MIXES + 4)])
    many.to_csv(tmp_path / "m.csv", index=False)
    text = write_report(tmp_path / "m.csv", tmp_path / "rep_m").read_text()
    assert f"the first {MAX_PLOTTED_MIXES} of the {MAX_PLOTTED_MIXES + 4} mixes" in text
    wide = Image.open(tmp_path / "rep_m" / "latency_by_tenant.png").size[0]
    one = pd.concat([rows.assign(mix=f"mix{i}", point_id=rows.point_id + f"-{i}") for i in range(MAX_PLOTTED_MIXES)])
    one.to_csv(tmp_path / "o.csv", index=False)
    write_report(tmp_path / "o.csv", tmp_path / "rep_o")
    assert wide == Image.open(tmp_path / "rep_o" / "latency_by_tenant.png").size[0]


def test_results_with_a_column_twice_are_refused(tmp_path):
    from npusim.report import write_report

    rows = _qos_cpu_rows().query("qos == '1.0' and cpu_traffic == 0").drop(columns=["qos", "cpu_traffic"])
    text = rows.to_csv(index=False).splitlines()
    text[0] += ",stp"
    (tmp_path / "r.csv").write_text("\n".join(line + ",1" if i else line for i, line in enumerate(text)) + "\n")
    with pytest.raises(InputError) as info:
        write_report(tmp_path / "r.csv", tmp_path / "rep")
    assert (info.value.line, info.value.field, info.value.message) == (1, "stp", "column given twice in the header")
    assert not (tmp_path / "rep").exists()


def test_names_in_a_sweeps_rows_are_read_back_as_written(tmp_path):
    # a point id of hex digits can look like a number (0931e36772950754 would read as inf, an all-digit one
    # lose its leading zero), a tenant be named NA or 007: resume and the final file keep them as text
    journal = tmp_path / "r.csv"
    journal.write_text("point_id,policy,llc_bytes,mix,soc,tenant,workload,mean_latency_cycles,dram_bytes,"
                       "point_dram_bytes,sla_rate\n"
                       "0931e36772950754,shared,64,kws,camdn,NA,kws,10,5,9,\n"
                       "0931036772950754,shared,64,kws,camdn,007,kws,12,4,9,0.5\n")
    assert sweep_mod.read_done(journal) == {"0931e36772950754", "0931036772950754"}
    df = sweep_mod.finalize(journal)
    assert list(df.point_id) == ["0931e36772950754", "0931036772950754"] and list(df.tenant) == ["NA", "007"]
    assert df.sla_rate.isna().tolist() == [True, False]  # numbers keep their missing values
    rows = journal.read_text().splitlines()
    assert rows[1].startswith("0931e36772950754,shared,64,kws,camdn,NA,kws,10,5,9,,")
    assert rows[2].startswith("0931036772950754,shared,64,kws,camdn,007,kws,12,4,9,0.5,")
    assert list(sweep_mod.read_results(journal).point_id) == ["0931e36772950754", "0931036772950754"]


def test_a_new_column_keeps_the_journals_text(tmp_path):
    journal = tmp_path / "r.csv"
    journal.write_bytes(b"point_id,tenant,x\r\n0931e36772950754,007,1.50\r\n")  # as csv writes rows
    fields = sweep_mod._append(journal, [{"point_id": "ab", "tenant": "kws", "x": 2, "seed": 3}],
                               ["point_id", "tenant", "x"])
    assert fields == ["point_id", "tenant", "x", "seed"]
    assert journal.read_bytes() == b"point_id,tenant,x,seed\r\n0931e36772950754,007,1.50,\r\nab,kws,2,3\r\n"


def test_names_are_read_as_text_under_the_header_pandas_takes():
    import io

    from npusim.specio import read_csv_with_text

    df = read_csv_with_text(io.StringIO("\npoint_id,tenant,x\n0931e36772950754,NA,\n"), ("point_id", "tenant"))
    assert (df.point_id[0], df.tenant[0]) == ("0931e36772950754", "NA") and df.x.isna().all()


def test_an_interruption_while_the_workers_stop_says_the_points_are_kept(tmp_path, monkeypatch):
    real = sweep_mod.Executor.close

    def interrupted_close(self, interrupted=False):
        real(self, interrupted)
        if not interrupted:  # the normal shutdown, every point in the journal
            raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod.Executor, "close", interrupted_close)
    path = tmp_path / "r.csv"
    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(small_spec(policy=["shared"]), path, jobs=1)
    assert info.value.finished_points_kept is True
    assert pd.read_csv(path).point_id.nunique() == 2
    monkeypatch.setattr(sweep_mod.Executor, "close", real)
    out = run_sweep(small_spec(policy=["shared"]), path, jobs=1, resume=True)
    assert (out.ran, out.skipped) == (0, 2)


def test_a_second_interruption_while_the_workers_stop_says_the_points_are_kept(tmp_path, monkeypatch):
    real = sweep_mod.Executor.close

    def interrupted_close(self, interrupted=False):
        real(self, interrupted)
        raise KeyboardInterrupt  # the normal shutdown, and again while the workers are stopped

    monkeypatch.setattr(sweep_mod.Executor, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(small_spec(policy=["shared"]), tmp_path / "r.csv", jobs=1)
    assert info.value.finished_points_kept is True


@pytest.mark.parametrize("where", ["points", "_check_journal", "read_done"])
def test_an_interruption_before_the_resumed_sweep_runs_says_the_points_are_kept(tmp_path, monkeypatch, where):
    path = tmp_path / "r.csv"
    run_sweep(small_spec(policy=["shared"]), path, jobs=1)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "points":
        monkeypatch.setattr(sweep_mod.SweepSpec, "points", interrupted)
    else:
        monkeypatch.setattr(sweep_mod, where, interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(small_spec(policy=["shared"]), path, jobs=1, resume=True)
    assert info.value.finished_points_kept is True


def test_an_interruption_after_a_repair_dropped_every_row_says_none_is_kept(tmp_path, monkeypatch):
    path = tmp_path / "r.csv"
    run_sweep(small_spec(policy=["waypart"]), path, jobs=1)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "read_done", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:  # no waypart point in this sweep: every row dropped
        run_sweep(small_spec(policy=["shared"]), path, jobs=1, resume=True)
    assert info.value.finished_points_kept is False
    assert path.read_text() == "" and (tmp_path / "r.prev.csv").read_text().count("waypart") == 4


def test_resume_refuses_a_parquet_file_without_its_journal(tmp_path):
    path = tmp_path / "r.parquet"
    run_sweep(small_spec(policy=["shared"]), path, jobs=1)
    table = path.read_bytes()
    (tmp_path / "r.parquet.journal.csv").unlink()
    with pytest.raises(InputError, match="cannot resume: r.parquet.journal.csv, the journal a sweep writes beside "
                                         "it, is missing or empty"):
        run_sweep(small_spec(), path, jobs=1, resume=True)
    assert path.read_bytes() == table and sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]


def test_a_repair_interrupted_before_its_rename_leaves_the_journal_whole(tmp_path, monkeypatch):
    path = tmp_path / "r.csv"
    run_sweep(small_spec(), path, jobs=1)
    rows = path.read_text()
    real = os.replace

    def interrupted(src, dst):
        if str(src).endswith(".tmp"):
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(sweep_mod.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:  # half the points dropped: the file is kept as .prev first
        run_sweep(small_spec(policy=["shared"]), path, jobs=1, resume=True)
    assert info.value.finished_points_kept is True
    assert path.read_text() == rows and (tmp_path / "r.prev.csv").read_text() == rows
    assert not (tmp_path / "r.csv.tmp").exists()


def test_tenants_named_like_numbers_or_missing_values_keep_their_names(tmp_path, cli):
    scenario = tmp_path / "s.yaml"
    scenario.write_text('soc: camdn\ntenants:\n  - workload: kws\n    name: "NA"\n'
                        '  - workload: squeezenet\n    name: "007"\n')
    r = cli("run", "--scenario", str(scenario), "--out", str(tmp_path / "run"), "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli("report", str(tmp_path / "run"), "--out", str(tmp_path / "rep"))  # the timeline's tenants: NA, 007
    assert r.returncode == 0 and (tmp_path / "rep" / "timeline.png").is_file(), r.stderr
    r = cli("sweep", "--scenario", str(scenario), "--policy", "shared,camdn", "--out", str(tmp_path / "sw.csv"),
            "--quiet", "--jobs", "1")
    assert r.returncode == 0, r.stderr
    df = sweep_mod.read_results(tmp_path / "sw.csv")
    assert sorted(df.tenant) == ["007", "007", "NA", "NA"] and df.speedup.notna().all()
    assert sorted(set(pd.read_csv(tmp_path / "sw.csv", keep_default_na=False, dtype=str).tenant)) == ["007", "NA"]


def test_an_interruption_while_the_first_row_is_written_says_none_is_kept(tmp_path, monkeypatch):
    def torn_first_write(journal, rows, fieldnames):
        journal.write_text(",".join(rows[0]) + "\n")  # the header, and no whole row yet
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "_append", torn_first_write)
    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(small_spec(policy=["shared"]), tmp_path / "r.csv", jobs=1)
    assert info.value.finished_points_kept is False


def test_workers_leave_ctrl_c_to_the_sweep():
    import signal

    # as in a terminal, whatever the shell that started pytest (a background job ignores SIGINT)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        executor = sweep_mod.Executor(2, None)
        try:
            handlers = [res for _, res, exc in executor.map_unordered(signal.getsignal, [(signal.SIGINT,)] * 4)]
        finally:
            executor.close()
        assert handlers == [signal.SIG_IGN] * 4  # the workers ignore it; the sweep stops them
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # and the sweep still gets it
    finally:
        signal.signal(signal.SIGINT, outer)


def test_a_second_ctrl_c_while_an_interrupted_sweep_exits_prints_no_traceback(tmp_path):
    """Ctrl-C twice in a row: the second one lands while the stopped sweep reports and exits (joining its
    pool's threads); it must not end the command with Python's traceback instead of its one line."""
    import subprocess
    import sys

    script = (
        "import os, signal, sys\n"
        "import npusim.sweep as s\n"
        "from npusim.cli import main\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal\n"
        "def first_ctrl_c(*args):\n"
        "    raise KeyboardInterrupt\n"
        "s._isolated_job = first_ctrl_c  # --jobs 1 runs it in this process\n"
        f"status = main(['sweep', '--mix', 'kws', '--policy', 'shared', '--jobs', '1', '--quiet', "
        f"'--out', {str(tmp_path / 'r.csv')!r}])\n"
        "os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, while the command exits\n"
        "sys.exit(status)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 130, r.stderr
    assert r.stderr == "error: interrupted before any point finished\n"


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_after_the_verb_has_finished_keeps_its_status_and_output(signum):
    """README: a signal that arrives while a finished command's interpreter shuts down ends the
    process at once with the verb's status (it was 143 with no message, or a traceback)."""
    import subprocess
    import sys

    script = ("import os, signal, sys, time\n"
              "sys.argv = ['npusim', 'soc', 'show', 'camdn']\n"
              "from npusim.cli import main\n"
              "status = main()\n"
              f"os.kill(os.getpid(), signal.{signum})\n"
              "time.sleep(60)\n"
              "sys.exit(99)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith("name: camdn\n") and "dram:" in r.stdout  # the whole spec, flushed


def test_the_report_table_gives_the_points_sla_rate_not_a_mean_over_tenants():
    # 1 of 1 and 0 of 3 tasks met: the point meets 1 of 4 (0.25), not the tenants' mean 0.5
    df = pd.DataFrame({"mix": ["a+b"] * 2, "llc_bytes": [1 << 20] * 2, "policy": ["shared"] * 2,
                       "tenant": ["a", "b"], "tasks": [1, 3], "sla_rate": [1.0, 0.0], "point_sla_rate": [0.25] * 2,
                       "speedup": [1.0] * 2, "dram_bytes_norm": [1.0] * 2, "point_dram_bytes_norm": [1.0] * 2,
                       "dram_bytes": [1, 2], "llc_hit_rate": [0.5] * 2, "stp": [1.5] * 2})
    assert report_mod.summary_table(df).sla_rate.tolist() == [0.25]


def test_the_report_table_lists_a_point_without_a_value_of_a_swept_axis():
    # the plots have no x for the point without CPU traffic (NaN), but the table lists every point
    row = {"mix": "a+b", "llc_bytes": 1 << 20, "tenant": "a", "speedup": 1.0, "dram_bytes_norm": 1.0,
           "dram_bytes": 1 << 20, "llc_hit_rate": 0.5, "point_sla_rate": 1.0}
    df = pd.DataFrame([{**row, "policy": p, "cpu_traffic": c, "stp": stp, "point_dram_bytes_norm": norm}
                       for p, c, stp, norm in (("shared", 0.0, 1.0, 1.0), ("shared", float("nan"), 0.8, 1.0),
                                               ("waypart", 0.0, 1.2, 0.5), ("waypart", float("nan"), 0.9, 0.7))])
    t = report_mod.summary_table(df)
    assert len(t) == 4
    assert sorted(t.stp) == [0.8, 0.9, 1.0, 1.2]
    assert t[t.cpu_traffic.isna()].set_index("policy").dram_norm.to_dict() == {"shared": 1.0, "waypart": 0.7}


def test_a_results_table_without_the_derived_columns_gets_them(tmp_path, cli):
    out = tmp_path / "r.csv"
    run_sweep(small_spec(), out, jobs=1)
    full = pd.read_csv(out)
    bare = tmp_path / "bare.csv"  # as a hand-made table may be: no derived columns, no point totals
    full.drop(columns=["speedup", "dram_bytes_norm", "point_dram_bytes_norm", "point_dram_bytes"]).to_csv(
        bare, index=False)
    partial = tmp_path / "partial.csv"  # speedup given, the point's DRAM ratio not
    full.drop(columns=["point_dram_bytes_norm"]).to_csv(partial, index=False)
    tables = []
    for source in (out, bare, partial):
        r = cli("report", str(source), "--out", str(tmp_path / f"rep_{source.stem}"))
        assert r.returncode == 0, r.stderr
        text = (tmp_path / f"rep_{source.stem}" / "report.md").read_text()
        tables.append(text[text.index("```"):])
    assert tables[0] == tables[1] == tables[2]  # the point's total DRAM ratio, not its first tenant's


def test_a_report_computes_the_derived_cells_a_resumed_sweep_left_empty(tmp_path):
    # a finished CSV resumed with more points, interrupted: its old rows have speedups, the appended ones
    # have empty cells (finalize computes them at the end); the report computes them, keeps the given ones
    rows = []
    for llc, lat in ((1 << 20, {"shared": 200.0, "camdn": 100.0}), (2 << 20, {"shared": 300.0, "camdn": 150.0})):
        for pol in ("shared", "camdn"):
            rows.append({"point_id": f"{pol}{llc}", "policy": pol, "llc_bytes": llc, "mix": "a", "soc": "camdn",
                         "tenant": "a", "mean_latency_cycles": lat[pol], "dram_bytes": 10 if pol == "shared" else 5,
                         "llc_hit_rate": 0.5, "sla_rate": 1.0, "stp": 1.0, "fairness": 1.0, "point_sla_rate": 1.0,
                         "point_dram_bytes": 10 if pol == "shared" else 5})
    df = sweep_mod.add_derived(pd.DataFrame(rows))
    df.loc[df.llc_bytes == 2 << 20, ["speedup", "dram_bytes_norm", "point_dram_bytes_norm"]] = float("nan")
    df.loc[0, "speedup"] = 1.25  # a given value is kept
    out = sweep_mod.with_derived(df)
    assert out.speedup.tolist() == [1.25, 2.0, 1.0, 2.0]
    assert out.point_dram_bytes_norm.tolist() == [1.0, 0.5, 1.0, 0.5]
    df.to_csv(tmp_path / "r.csv", index=False)
    table = report_mod.summary_table(sweep_mod.with_derived(sweep_mod.read_results(tmp_path / "r.csv")))
    assert table.speedup.tolist() == [2.0, 1.25, 2.0, 1.0]  # camdn, shared at 1 MiB, then at 2 MiB


def test_a_per_tenant_column_the_sweep_does_not_know_is_no_axis_of_the_point():
    # rows of another npusim version (or with a column added by hand) may carry a per-tenant figure this one
    # does not write: it differs between a point's tenants, so it is not matched on to find the shared row
    rows = []
    for pol, lat in (("shared", (200.0, 300.0)), ("camdn", (100.0, 200.0))):
        for tenant, latency in zip(("a", "b"), lat):
            rows.append({"point_id": pol, "policy": pol, "llc_bytes": 1 << 20, "mix": "a+b", "soc": "camdn",
                         "seed": 1, "tenant": tenant, "mean_latency_cycles": latency, "dram_bytes": 10,
                         "point_dram_bytes": 20, "p99_latency_cycles": latency * 1.5})
    df = sweep_mod.add_derived(pd.DataFrame(rows))
    assert df.speedup.tolist() == [1.0, 1.0, 2.0, 1.5]
    assert df.point_dram_bytes_norm.tolist() == [1.0] * 4
    # a swept value (the same for a point's tenants) is still matched on
    other_seed = pd.DataFrame(rows).assign(seed=[1, 1, 2, 2])
    assert sweep_mod.add_derived(other_seed).speedup.isna().tolist() == [False, False, True, True]


def test_a_ratio_against_zero_dram_bytes_is_n_a_not_infinite():
    # a hand-made table whose shared point moved no DRAM bytes: nothing to normalise to (n/a), not inf,
    # which the table would print and the plots drop (a mean over it is inf too)
    rows = [{"point_id": pol, "policy": pol, "llc_bytes": 1 << 20, "mix": "a", "soc": "camdn", "tenant": "a",
             "mean_latency_cycles": 100.0, "dram_bytes": b, "point_dram_bytes": b}
            for pol, b in (("shared", 0), ("camdn", 8), ("waypart", 0))]
    df = sweep_mod.add_derived(pd.DataFrame(rows))
    assert df.dram_bytes_norm.isna().all() and df.point_dram_bytes_norm.isna().all()
    assert df.speedup.tolist() == [1.0, 1.0, 1.0]
    assert sweep_mod.add_derived(pd.DataFrame(rows).assign(dram_bytes=[4, 8, 0])).dram_bytes_norm.tolist() == [
        1.0, 2.0, 0.0]


def test_a_report_without_shared_says_there_is_nothing_to_compare_with(tmp_path, cli):
    out = tmp_path / "r.csv"
    run_sweep(small_spec(policy=["waypart"]), out, jobs=1)
    r = cli("report", str(out), "--out", str(tmp_path / "rep"))
    text = (tmp_path / "rep" / "report.md").read_text()
    assert r.returncode == 0 and "No `shared` point was swept" in text and "are relative to `shared`" not in text



def test_reading_a_parquet_result_behind_its_journal_warns(tmp_path):
    # a resumed sweep that is interrupted has appended points to the journal only
    path = tmp_path / "r.parquet"
    run_sweep(small_spec(policy=["shared"]), path, jobs=1)
    full = pd.read_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(sweep_mod.read_results(path)) == len(full)  # in step with its journal: silent
    full[full.llc_bytes == 1 << 20].to_parquet(path, index=False)  # as written before the second point ran
    with pytest.warns(sweep_mod.StaleResultsWarning,
                      match="r.parquet.journal.csv holds 1 point this file lacks .* --resume"):
        assert len(sweep_mod.read_results(path)) == len(MIX)

def test_a_parquet_result_stays_in_place_while_a_repaired_sweep_resumes(tmp_path, monkeypatch):
    path = tmp_path / "r.parquet"
    run_sweep(small_spec(), path, jobs=1)
    table = path.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "read_done", interrupted)  # right after the repair dropped the waypart rows
    with pytest.raises(KeyboardInterrupt):
        run_sweep(small_spec(policy=["shared"]), path, jobs=1, resume=True)
    assert path.read_bytes() == table == (tmp_path / "r.prev.parquet").read_bytes()


def test_a_sigterm_while_the_sweep_loads_its_inputs_says_nothing_was_touched(tmp_path, monkeypatch, capsys):
    import os
    import signal
    import time

    from npusim.cli import cmd_sweep, main

    out = tmp_path / "r.csv"
    out.write_text("point_id\nabc\n")

    def terminated_while_loading(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the handler raises first

    monkeypatch.setattr(cmd_sweep, "spec_from_args", terminated_while_loading)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["sweep", "--mix", "kws", "--out", str(out), "--quiet"]) == 143
    assert capsys.readouterr().err.strip() == f"error: interrupted before any point finished; {out} is as it was"
    assert out.read_text() == "point_id\nabc\n" and signal.getsignal(signal.SIGTERM) is before


def test_a_sigterm_stops_any_command_with_one_line(monkeypatch, capsys):
    import os
    import signal
    import time

    from npusim.cli import cmd_run, main

    def terminated(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)

    monkeypatch.setattr(cmd_run, "run", terminated)
    assert main(["run", "--mix", "kws"]) == 143
    assert capsys.readouterr().err == "error: interrupted\n"


def test_the_command_runs_from_a_thread_other_than_the_main_one(capsys):
    # (only the main thread may set a signal handler)
    import threading

    from npusim.cli import main

    status = []
    worker = threading.Thread(target=lambda: status.append(main(["run", "--mix", "nosuchmodel"])))
    worker.start()
    worker.join()
    assert status == [2] and "nosuchmodel" in capsys.readouterr().err


def test_outputs_are_utf8_whatever_the_locale(cli, tmp_path):
    """Under an ASCII locale a tenant named with a non-ASCII letter is written as UTF-8 (the journal,
    report.md, summary.json) and printed escaped, instead of a crash that left a journal nobody can resume."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text("soc: camdn\ntenants:\n  - name: Straße\n    workload: kws\n    requests: 1\n", encoding="utf-8")
    ascii_locale = {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    r = cli("sweep", "--scenario", str(scenario), "--policy", "shared", "--out", str(tmp_path / "r.csv"), "--quiet",
            env=ascii_locale)
    assert r.returncode == 0, r.stderr
    assert "Straße" in (tmp_path / "r.csv").read_text(encoding="utf-8")
    r = cli("report", str(tmp_path / "r.csv"), "--out", str(tmp_path / "rep"), env=ascii_locale)
    assert r.returncode == 0, r.stderr
    (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    r = cli("run", "--scenario", str(scenario), "--out", str(tmp_path / "run"), env=ascii_locale)
    assert r.returncode == 0 and "Stra\\xdfe " in r.stdout, r.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))["tenants"][0]["name"] == "Straße"


@pytest.mark.skipif(os.name != "posix", reason="advisory locks are POSIX")
def test_a_lock_removed_between_open_and_flock_is_not_taken(tmp_path, monkeypatch):
    """Sweep B opens the lock file just before sweep A, finishing, removes it: B must lock the file now at
    the path, or a third sweep C would lock a new file while B believes it holds the lock."""
    import fcntl
    import threading

    path = tmp_path / "r.csv"
    real = fcntl.flock
    opened, go = threading.Event(), threading.Event()

    def flock(fh, op):
        if threading.current_thread().name == "B":
            opened.set()
            go.wait()
        return real(fh, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    a, b = sweep_mod.SweepLock(path), sweep_mod.SweepLock(path)
    a.acquire()
    thread = threading.Thread(target=b.acquire, name="B")
    thread.start()
    opened.wait(10)
    a.release()
    go.set()
    thread.join(10)
    assert b._fh is not None and os.path.samestat(os.fstat(b._fh.fileno()), os.stat(b.path))
    with pytest.raises(InputError, match="another sweep is writing"):
        sweep_mod.SweepLock(path).acquire()
    b.release()


def test_the_code_digest_follows_every_source_file_and_nothing_else(tmp_path):
    from npusim.provenance import digest_of_trees

    for where in ("a", "b"):
        (tmp_path / where / "pkg" / "sub").mkdir(parents=True)
        (tmp_path / where / "pkg" / "sub" / "timing.py").write_text("TCK_PS = 625\n")
        (tmp_path / where / "pkg" / "preset.yaml").write_text("ways: 16\n")
    a, b = (tmp_path / "a" / "pkg",), (tmp_path / "b" / "pkg",)
    first = digest_of_trees(a)
    assert digest_of_trees(b) == first  # where it is installed does not matter
    (tmp_path / "a" / "pkg" / "sub" / "__pycache__").mkdir()
    (tmp_path / "a" / "pkg" / "sub" / "__pycache__" / "timing.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "a" / "pkg" / "notes.txt").write_text("not a source\n")
    assert digest_of_trees(a) == first
    (tmp_path / "a" / "pkg" / "sub" / "timing.py").write_text("TCK_PS = 2500\n")
    assert digest_of_trees(a) != first
    (tmp_path / "b" / "pkg" / "preset.yaml").rename(tmp_path / "b" / "pkg" / "preset2.yaml")
    assert digest_of_trees(b) != first


def test_resumed_points_and_caches_belong_to_the_code_that_made_them(tmp_path, monkeypatch):
    """Rows, isolated latencies and plans made by other code (here: another digest) are not reused,
    whether or not anyone remembered to bump a version."""
    from npusim import api, provenance
    from npusim.mapping import Mapper, mapper
    from npusim.mapping.nest import loop_nest
    from npusim.soc import load_soc
    from workloads import get_trace

    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "r.csv"
    spec = small_spec(llc_size=[1 << 20], policy=["shared"])
    assert run_sweep(spec, path, jobs=1).ran == 1
    assert run_sweep(spec, path, jobs=1, resume=True).skipped == 1
    isolated = set((tmp_path / "cache" / "isolated").iterdir())
    soc = load_soc("camdn")
    nest = loop_nest(get_trace("kws").layers[0], soc.npu, 4)
    key = Mapper(soc)._key(nest)
    for module in (provenance, api, mapper):
        monkeypatch.setattr(module, "code_digest", lambda: "other code")
    out = run_sweep(spec, path, jobs=1, resume=True, report_error=lambda message: None)
    assert out.skipped == 0 and out.ran == 1
    assert len(set((tmp_path / "cache" / "isolated").iterdir()) - isolated) == len(MIX)
    assert Mapper(soc)._key(nest) != key


def test_a_base_scenario_that_fails_at_one_point_names_the_point(cli, tmp_path):
    scenario = tmp_path / "w.yaml"
    scenario.write_text("policy: waypart\ntenants:\n  - workload: kws\n  - workload: kws\n  - workload: kws\n")
    exp = tmp_path / "e.yaml"
    exp.write_text(f"scenario: {scenario}\naxes:\n  llc_ways: [1, 8]\n")
    expect = (f"error: {scenario}:1: policy: waypart needs at least one LLC way per tenant: 1 way for 3 tenants "
              "(at llc_ways=1)")
    for args in ([str(exp)], ["--scenario", str(scenario), "--llc-ways", "1,8"]):
        r = cli("sweep", *args, "--out", str(tmp_path / "r.csv"), "--quiet")
        assert r.returncode == 2 and r.stderr.strip() == expect, r.stderr
    # an error of the file itself, at every point alike, names no point
    scenario.write_text("tenants:\n  - workloda: kws\n")
    r = cli("sweep", "--scenario", str(scenario), "--llc-size", "1MiB,2MiB", "--out", str(tmp_path / "r.csv"))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {scenario}:2: tenants[0].workloda: unknown key (did you mean workload?)"), r.stderr
