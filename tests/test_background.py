"""CPU-side background traffic: scenario format, engine behaviour, policies' way split, sweeps, bad input."""

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npusim import simulate
from npusim.engine import Simulation
from npusim.errors import InputError
from npusim.mapping import Mapper
from npusim.metrics import build_result
from npusim.scenario import BackgroundSpec, scenario_from_dict, scenario_from_flags, with_cpu_traffic

SMALL = dict(soc="camdn", llc_size="4MiB", cores="4")  # 4 MiB, 16 ways, 12 NPU ways: 4 CPU ways = 1 MiB


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path / "cache"))


def _scenario(policy="shared", background=None, mix=("resnet50", "squeezenet"), **extra):
    data = {"soc": "camdn", "soc_overrides": {"llc_size": "4MiB", "cores": 4}, "policy": policy,
            "tenants": [{"workload": w} for w in mix], **extra}
    if background is not None:
        data["background"] = background
    return scenario_from_dict(data, "<test>")


def _run(scenario) -> Simulation:
    return Simulation(scenario, mapper=Mapper(scenario.soc)).run()


def _bg(sim) -> dict:
    return build_result(sim, policy=sim.scenario.policy.name).background.iloc[0].to_dict()


# -- the scenario format ------------------------------------------------------------------

def test_defaults_and_flag_override():
    sc = _scenario(background=[{}])
    assert sc.background == (BackgroundSpec(),)
    b = sc.background[0]
    assert (b.name, b.pattern, b.footprint_bytes, b.burst_bytes) == ("cpu", "stream", 64 << 20, 4096)
    assert b.write_fraction == pytest.approx(1 / 3)
    two = _scenario(background=[{"pattern": "random", "footprint": "8MiB"}, {"rate_gb_per_s": 2}])
    assert [x.name for x in two.background] == ["cpu", "cpu#2"]
    faster = with_cpu_traffic(two, 12.5)
    assert [x.rate_gb_per_s for x in faster.background] == [12.5, 12.5]
    assert faster.background[0].footprint_bytes == 8 << 20  # only the rate changes
    assert with_cpu_traffic(two, 0).background == ()
    assert with_cpu_traffic(_scenario(), 4).background == (BackgroundSpec(rate_gb_per_s=4.0),)
    flags = scenario_from_flags(mix=["kws"], cpu_traffic="6")
    assert flags.background == (BackgroundSpec(rate_gb_per_s=6.0),)


# -- the engine -----------------------------------------------------------------------------

def test_bytes_are_conserved_and_the_rate_is_never_exceeded():
    spec = {"pattern": "random", "footprint": "2MiB", "rate_gb_per_s": 6, "burst": "8KiB", "write_fraction": 0.25}
    sim = _run(_scenario(background=[spec]))
    b = _bg(sim)
    assert b["bursts"] > 100
    assert b["bytes"] == b["bursts"] * 8192
    assert 0.2 < b["write_bytes"] / b["bytes"] < 0.3
    # the LLC saw each line the generator moved once, as a hit or a miss
    c = sim.memory.counters[sim.background[0].cache_tenant]
    assert c.cache_hits + c.cache_misses == b["bytes"] // 64
    # every read miss is one DRAM line read (writes allocate without a fill)
    assert 0 < c.dram_read_bytes <= b["read_bytes"]
    # never ahead of the offered rate: at most one burst per period of 8 KiB at 6 GB/s (1 GHz)
    assert b["bursts"] <= b["active_cycles"] / (8192 / 6) + 1
    assert b["active_cycles"] <= max(t.finish for t in sim.tasks)


def test_a_stream_that_fits_its_own_ways_misses_only_on_the_first_pass():
    # waypart: the CPU allocates only into the 4 CPU ways (1 MiB) and nobody else does;
    # 512 KiB in address order is 2 lines per set, so only the first pass misses
    spec = {"pattern": "stream", "footprint": "512KiB", "rate_gb_per_s": 4, "write_fraction": 0}
    sim = _run(_scenario("waypart", background=[spec]))
    b = _bg(sim)
    assert b["write_bytes"] == 0  # (its DRAM writes would be dirty NPU lines its reads evict: the evictor pays)
    assert b["llc_lines"] > 3 * 8192  # more than three passes over the footprint
    assert b["llc_hits"] == b["llc_lines"] - 8192
    assert b["dram_read_bytes"] == 512 << 10
    # under camdn the NPU's unplaced data shares those ways and evicts some of it
    shared_ways = _bg(_run(_scenario("camdn", background=[spec])))
    assert shared_ways["llc_hit_rate"] < b["llc_hit_rate"]


def test_a_write_only_generator_reads_nothing_from_dram():
    spec = {"pattern": "stream", "footprint": "16MiB", "rate_gb_per_s": 4, "write_fraction": 1}
    b = _bg(_run(_scenario(background=[spec])))
    assert b["read_bytes"] == 0 and b["dram_read_bytes"] == 0
    assert b["dram_write_bytes"] > 0  # dirty lines evicted from a 4 MiB LLC


@pytest.mark.parametrize("policy, cpu_mask", [("shared", 0xFFFF), ("camdn", 0x000F), ("camdn-hw", 0x000F),
                                              ("waypart", 0x000F)])
def test_the_cpu_keeps_to_its_ways_under_partitioning_policies(policy, cpu_mask):
    spec = {"pattern": "random", "footprint": "3MiB", "rate_gb_per_s": 40, "burst": "64KiB"}
    sim = _run(_scenario(policy, background=[spec]))
    cache = sim.memory.cache
    cpu = sim.background[0].cache_tenant
    assert cache.way_mask(cpu) == cpu_mask
    cpu_way_lines = 4 * cache.sets  # 4 of 16 ways: 1 MiB
    if policy == "shared":
        assert cache.occupancy(cpu) > cpu_way_lines  # it spreads over the whole LLC
    else:
        assert cache.occupancy(cpu) <= cpu_way_lines
    if policy == "waypart":  # the NPU tenants split the 12 NPU ways
        assert [cache.way_mask(t.index) for t in sim.tenants] == [0x03F0, 0xFC00]


def test_npu_latency_grows_with_cpu_traffic_and_isolated_latency_does_not():
    latencies, isolated = [], []
    for rate in (0, 8, 32):
        r = simulate(mix=["resnet50", "squeezenet"], llc_size="4MiB", cores="4", cpu_traffic=rate)
        latencies.append(r.tenants.mean_latency_cycles.sum())
        isolated.append(tuple(r.tenants.isolated_latency_cycles))
        assert ("background" in r.summary) == (rate > 0)
    assert latencies[0] < latencies[1] < latencies[2]
    assert isolated[0] == isolated[1] == isolated[2]


def test_deterministic_and_seeded():
    spec = {"pattern": "random", "footprint": "2MiB", "rate_gb_per_s": 10}
    a = build_result(_run(_scenario(background=[spec], seed=3)), policy="shared")
    b = build_result(_run(_scenario(background=[spec], seed=3)), policy="shared")
    c = build_result(_run(_scenario(background=[spec], seed=4)), policy="shared")
    pd.testing.assert_frame_equal(a.background, b.background)
    pd.testing.assert_frame_equal(a.layers, b.layers)
    assert a.background.llc_hits.iloc[0] != c.background.llc_hits.iloc[0]


def test_the_generator_pauses_while_the_npu_is_idle():
    # two requests 50 M cycles apart: the generator runs only while one is in flight
    sc = scenario_from_dict({
        "soc": "camdn", "soc_overrides": {"llc_size": "4MiB", "cores": 4},
        "tenants": [{"workload": "kws", "arrival": "times", "arrival_cycles": [0, 50_000_000]}],
        "background": [{"rate_gb_per_s": 4}]}, "<test>")
    sim = _run(sc)
    running = sum(t.finish - t.start for t in sim.tasks)
    b = _bg(sim)
    assert max(t.finish for t in sim.tasks) > 50_000_000
    assert b["active_cycles"] == running  # one task at a time, and it ran exactly while one ran
    assert b["bursts"] > 0
    assert sim.env.now < 51_000_000  # it stopped with the last task


def _gap_scenario(idle, pattern="stream", footprint="8MiB", rate=4, second=5_000_000):
    """kws twice, the second request long after the first: an idle NPU in between."""
    return scenario_from_dict({
        "soc": "camdn", "soc_overrides": {"llc_size": "4MiB", "cores": 4},
        "tenants": [{"workload": "kws", "arrival": "times", "arrival_cycles": [0, second]}],
        "background": [{"pattern": pattern, "footprint": footprint, "rate_gb_per_s": rate, "idle": idle,
                        "write_fraction": 0.25}]}, "<test>")


def test_idle_gaps_are_replayed_through_the_llc():
    replayed, paused = _run(_gap_scenario("replay")), _run(_gap_scenario("pause"))
    first_end = min(t.finish for t in replayed.tasks)
    gap = 5_000_000 - first_end
    b, p = _bg(replayed), _bg(paused)
    # the gap's bursts at the offered rate are added, whole bursts only; the active part runs as it did
    assert b["active_cycles"] == sum(t.finish - t.start for t in replayed.tasks)
    # idle cycles are the gap's whether replayed or paused; only a replay moves bytes
    assert b["idle_cycles"] == gap and p["idle_cycles"] == 5_000_000 - min(t.finish for t in paused.tasks) > 0
    assert p["idle_bytes"] == 0
    # 4 GB/s = 4 B a cycle at 1 GHz: a burst every 1024 cycles on one schedule from cycle 0 (later
    # where memory is slower), the gap's replayed: never more bursts than the run has periods
    assert abs(b["idle_bytes"] - gap * 4) <= 4096
    assert b["bursts"] + b["idle_bytes"] // 4096 <= math.ceil(replayed.env.now / 1024)
    # a stream over 8 MiB in a 4 MiB LLC misses every line and evicts what kws left:
    # the second request reads from DRAM what it found in the LLC when the CPU paused
    assert b["idle_llc_hit_rate"] == 0 and b["idle_dram_bytes"] >= b["idle_bytes"] * 3 // 4
    second = lambda sim: [r for r in sim.layers if r.task == 1]
    dram = lambda sim: sum(r.counters["dram_read_bytes"] for r in second(sim))
    assert dram(replayed) > dram(paused)
    # (its latency need not grow: kws finds few lines left in the LLC either way, 82 more reads of
    # 61 k hide behind its compute, and the DRAM's other timing then decides a few cycles' order)
    # the first request ran before any gap: identical
    first = lambda sim: [(r.layer, r.end) for r in sim.layers if r.task == 0]
    assert first(replayed) == first(paused)


def test_a_long_gap_replays_its_last_lines_and_counts_them_all():
    # 40 M cycles at 4 B a cycle: 2.5 M lines, more than 4 x (LLC + footprint) = 0.33 M
    sim = _run(_gap_scenario("replay", pattern="random", footprint="1MiB", second=40_000_000))
    b = _bg(sim)
    gap = 40_000_000 - min(t.finish for t in sim.tasks)
    assert abs(b["idle_bytes"] - gap * 4) <= 4096  # the gap's bursts at 4 B a cycle (the schedule's)
    # the whole 1 MiB fits the LLC: after warming up nearly every line hits
    assert 0.95 < b["idle_llc_hit_rate"] <= 1


def test_a_slow_generator_stops_with_the_npu():
    # one 1 MiB burst per ~10^9 cycles: the run still ends with the NPU's last task
    spec = {"pattern": "stream", "footprint": "4MiB", "burst": "1MiB", "rate_gb_per_s": 0.001}
    sim = _run(_scenario(background=[spec], mix=("kws",)))
    b = _bg(sim)
    end = max(t.finish for t in sim.tasks)
    assert b["bursts"] == 1 and b["active_cycles"] == end and sim.env.now == end
    assert b["achieved_gb_per_s"] == pytest.approx(0.001)  # the rate its one burst was given


def test_back_to_back_requests_do_not_restart_the_schedule():
    # one request ends as the next starts: the generator keeps its period (10.5 M cycles here),
    # so a run shorter than one period has one burst, and it ran the whole time
    data = {"soc": "camdn", "soc_overrides": {"llc_size": "4MiB", "cores": 4},
            "tenants": [{"workload": "kws", "requests": 6}],
            "background": [{"rate_gb_per_s": 0.1, "burst": "1MiB", "footprint": "4MiB"}]}
    sim = _run(scenario_from_dict(data, "<test>"))
    b = _bg(sim)
    end = max(t.finish for t in sim.tasks)
    assert end < (1 << 20) / 0.1
    assert b["bursts"] == 1
    assert b["active_cycles"] == end
    assert b["achieved_gb_per_s"] == pytest.approx(0.1)


@pytest.mark.parametrize("idle", ["replay", "pause"])
def test_short_idle_gaps_do_not_restart_the_schedule(idle):
    # kws (~0.5 M cycles here) every 530 k cycles: a short idle gap after each request. The CPU
    # offers one 64 KiB burst per 1.31 M cycles; a fresh period after each gap issued one burst
    # per request (3 where the schedule has 2), ahead of the offered rate
    data = {"soc": "camdn", "soc_overrides": {"llc_size": "4MiB", "cores": 4},
            "tenants": [{"workload": "kws", "arrival": "times", "arrival_cycles": [0, 530_000, 1_060_000]}],
            "background": [{"rate_gb_per_s": 0.05, "burst": "64KiB", "footprint": "4MiB", "idle": idle}]}
    sim = _run(scenario_from_dict(data, "<test>"))
    b = _bg(sim)
    period = (64 << 10) / 0.05  # cycles at 1 GHz
    assert 0 < b["idle_cycles"] < 100_000  # three short gaps
    if idle == "replay":  # the bursts the CPU issued over the whole run, timed or replayed: its schedule's
        assert b["bursts"] + b["idle_bytes"] // (64 << 10) == math.ceil(sim.env.now / period) == 2
    else:  # paused in the gaps: the schedule runs in the NPU's active cycles only
        assert b["bursts"] == math.ceil(b["active_cycles"] / period) == 2
    assert b["achieved_gb_per_s"] == pytest.approx(0.05)


def test_a_task_that_can_never_start_does_not_keep_the_generator_running():
    code = """
import npusim
from npusim.policies.basic import Shared
Shared.cores_for = lambda self, tenant, task: None if tenant.index == 1 else tenant.cores
r = npusim.simulate(mix=['kws', 'squeezenet'], llc_size='4MiB', cores='4', cpu_traffic=8, cache=False)
print(r.tenants.tasks.tolist())
"""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1, 1]"  # squeezenet's task arrived, never started


def test_run_writes_the_background_table(cli, tmp_path):
    out = tmp_path / "run"
    r = cli("run", "--mix", "kws,squeezenet", "--llc-size", "4MiB", "--cores", "4", "--cpu-traffic", "5",
            "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "background cpu: stream over 64 MiB" in r.stdout
    table = pd.read_csv(out / "background.csv")
    assert list(table.name) == ["cpu"] and table.offered_gb_per_s.iloc[0] == 5
    assert not (tmp_path / "plain").exists()
    r = cli("run", "--mix", "kws", "--llc-size", "4MiB", "--out", str(tmp_path / "plain"), "--quiet")
    assert r.returncode == 0 and not (tmp_path / "plain" / "background.csv").exists()


def test_sweep_axis(cli, tmp_path):
    out = tmp_path / "r.csv"
    r = cli("sweep", "--mix", "kws,squeezenet", "--llc-size", "4MiB", "--cores", "4", "--cpu-traffic", "0,6",
            "--policy", "shared,waypart", "--out", str(out), "--jobs", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert sorted(df.cpu_traffic.unique()) == [0, 6]
    assert (df[df.cpu_traffic == 0].background_gb_per_s == 0).all()
    assert (df[df.cpu_traffic == 6].background_gb_per_s > 0).all()
    assert (df[df.policy == "shared"].speedup == 1).all()  # each against shared at its own rate
    assert df.speedup.notna().all()


# -- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, field, message", [
    ("{pattern: zigzag}", "pattern", "unknown value 'zigzag'"),
    ("{rate_gb_per_s: 0}", "rate_gb_per_s", "must be positive"),
    ("{rate_gb_per_s: -3}", "rate_gb_per_s", "must not be negative"),
    ("{rate_gb_per_s: fast}", "rate_gb_per_s", "expected a number"),
    ("{rate_gb_per_s: 1" + "0" * 400 + "}", "rate_gb_per_s", "expected a finite number"),  # past float range
    ("{write_fraction: 1.5}", "write_fraction", "must be at most 1"),
    ("{burst: 16B}", "burst", "must be at least 64 bytes"),
    ("{burst: 8KiB, footprint: 4KiB}", "footprint", "must be at least 8192 bytes"),
    ("{footprint: 1TiB}", "footprint", "must be at most"),
    ("{name: kws}", "name", "already named 'kws'"),
    ("{rate: 3}", "rate", "unknown key"),
    ("{rate_gb_per_s: 1.0e-4}", "rate_gb_per_s", "must be at least 0.001 GB/s"),
    ("{burst: 96B}", "burst", "whole number of 64 B LLC lines"),
    ("{footprint: 5000}", "footprint", "whole number of 64 B LLC lines"),
    ("{idle: sleep}", "idle", "unknown value 'sleep'"),
])
def test_bad_background_entries(cli, tmp_path, entry, field, message):
    f = tmp_path / "s.yaml"
    f.write_text(f"soc: camdn\ntenants:\n  - workload: kws\nbackground:\n  - {entry}\n")
    r = cli("run", "--scenario", str(f), "--quiet")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {f}:5: background[0].{field}: "), lines
    assert message in lines[0]


def test_background_must_be_a_list(cli, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("soc: camdn\ntenants:\n  - workload: kws\nbackground: {rate_gb_per_s: 3}\n")
    r = cli("run", "--scenario", str(f), "--quiet")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {f}:4: background: expected a list")


@pytest.mark.parametrize("value", ["-1", "abc", "inf", "20000"])
def test_bad_cpu_traffic_flag(cli, value):
    r = cli("run", "--mix", "kws", "--cpu-traffic", value, "--quiet")
    assert r.returncode == 2 and r.stderr.startswith("error: <command line>: --cpu-traffic: ")
    r = cli("sweep", "--mix", "kws", "--cpu-traffic", f"0,{value}", "--out", "unused.csv", "--quiet")
    assert r.returncode == 2 and r.stderr.startswith("error: <command line>: --cpu-traffic: ")


def test_bad_cpu_traffic_argument():
    with pytest.raises(InputError) as exc:
        simulate(mix=["kws"], cpu_traffic=-2)
    assert (exc.value.source, exc.value.field) == ("<api>", "cpu_traffic")


def test_waypart_needs_a_way_for_the_cpu(cli):
    # gemmini-moca: 2 ways and no NPU/CPU split, so the CPU takes a share like a tenant
    r = cli("run", "--soc", "gemmini-moca", "--mix", "kws,squeezenet", "--policy", "waypart", "--cpu-traffic", "2",
            "--quiet")
    assert r.returncode == 2
    assert "waypart needs at least one LLC way per tenant and one for the CPU-side traffic" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_random_cpu_misses_cost_the_dram_its_open_rows():
    spec = {"pattern": "random", "footprint": "64MiB", "rate_gb_per_s": 8}
    alone = build_result(_run(_scenario()), policy="shared").summary["dram_row_hit_rate"]
    with_cpu = build_result(_run(_scenario(background=[spec])), policy="shared").summary["dram_row_hit_rate"]
    assert 0 < with_cpu < alone < 1
    isolated = simulate(mix=["kws"], llc_size="4MiB", policy="isolated").summary
    assert isolated["dram_row_hit_rate"] is None


def test_flag_generator_is_named_apart_from_the_tenants(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("soc: camdn\ntenants:\n  - workload: kws\n    name: cpu\n")
    from npusim.scenario import load_scenario
    sc = with_cpu_traffic(load_scenario(f), 3)
    assert [b.name for b in sc.background] == ["cpu#2"]


def test_stale_tables_of_an_earlier_run_are_removed(cli, tmp_path):
    out = tmp_path / "run"
    base = ("run", "--mix", "kws", "--llc-size", "4MiB", "--out", str(out), "--quiet")
    assert cli(*base, "--cpu-traffic", "4").returncode == 0
    assert (out / "background.csv").is_file()
    r = cli("report", str(out), "--out", str(out / "report"))
    assert r.returncode == 0, r.stderr
    assert "CPU-side background traffic" in (out / "report" / "report.md").read_text()
    assert cli(*base, "--cpu-traffic", "0").returncode == 0
    assert not (out / "background.csv").exists()
    # the same folder in the other format: no CSV of the earlier run is left for `report` to read first
    assert cli(*base, "--format", "parquet").returncode == 0
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "layers.parquet", "summary.json", "tasks.parquet", "tenants.parquet", "timeline.parquet"]


def test_a_bare_background_item_is_an_error(cli, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("soc: camdn\ntenants:\n  - workload: kws\nbackground:\n  -\n")
    r = cli("run", "--scenario", str(f), "--quiet")
    assert r.returncode == 2 and "background[0]: expected a mapping" in r.stderr


def test_api_rate_must_be_a_number():
    with pytest.raises(InputError) as exc:
        simulate(mix=["kws"], cpu_traffic="8")
    assert exc.value.field == "cpu_traffic"


def test_tiny_flag_rates_are_refused(cli):
    r = cli("run", "--mix", "kws", "--cpu-traffic", "1e-320", "--quiet")
    assert r.returncode == 2 and "--cpu-traffic: must be 0 (none) or at least 0.001 GB/s" in r.stderr


def test_waypart_names_the_npu_ways_it_splits(cli):
    r = cli("run", "--mix", ",".join(["kws"] * 7), "--llc-size", "4MiB", "--llc-ways", "8", "--cores", "8",
            "--policy", "waypart", "--cpu-traffic", "4", "--quiet")
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: <command line>: --cpu-traffic: waypart with CPU-side traffic splits the 6 NPU "
                                "ways among the tenants (the CPU keeps the other 2): 6 ways for 7 tenants")


@pytest.mark.parametrize("text, field, message", [
    ("cpu_traffic: [0, 8]\naxes:\n  policy: [shared]\n", "cpu_traffic", "values to sweep go under axes"),
    ("cpu_traffic: 4\naxes:\n  cpu_traffic: [0, 8]\n", "axes.cpu_traffic", "also given as a fixed value"),
    ("axes:\n  policy: [shared]\n", "mix", "one mix here (2 given)"),
])
def test_experiment_values_given_twice(cli, tmp_path, text, field, message):
    f = tmp_path / "e.yaml"
    f.write_text("soc: camdn\n" + ("mix: 'kws;squeezenet'\n" if text.startswith("axes") else "mix: [kws]\n") + text)
    r = cli("sweep", str(f), "--out", str(tmp_path / "r.csv"), "--quiet")
    assert r.returncode == 2 and f": {field}: " in r.stderr and message in r.stderr, r.stderr


def test_a_point_the_soc_cannot_run_is_refused_before_any_runs(cli, tmp_path):
    # gemmini-moca's 2 ways hold 2 tenants, but not 2 tenants and the CPU under waypart
    out = tmp_path / "r.csv"
    r = cli("sweep", "--soc", "gemmini-moca", "--mix", "kws,squeezenet", "--policy", "shared,waypart",
            "--cpu-traffic", "0,2", "--out", str(out), "--quiet")
    assert r.returncode == 2 and not out.exists()
    assert r.stderr.strip() == ("error: <command line>: --cpu-traffic: waypart needs at least one LLC way per tenant "
                                "and one for the CPU-side traffic: 2 ways for 2 tenants (at policy=waypart)")


def test_a_period_of_a_fraction_of_a_cycle_keeps_the_offered_rate():
    # bursts start on whole cycles: a period of 100.2 cycles puts them at 0, 101, 201, 301, ...
    # (the schedule's due times rounded up), not 101 cycles apart; with memory that keeps up
    # (served in a cycle) the generator issues what it offers, and its achieved rate says so
    burst, period = 64, 100.2
    rate = burst / period  # GB/s at 1 GHz
    sc = _scenario(background=[{"rate_gb_per_s": rate, "burst": burst, "footprint": "64KiB"}], mix=("kws",))
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    starts = []

    def served_at_once(tenant, now, addrs, writes):
        starts.append(now)
        return now + 1

    sim.memory.cpu_access = served_at_once
    sim.run()
    b = _bg(sim)
    assert starts[:4] == [0, 101, 201, 301]
    assert b["active_cycles"] > 200 * period
    assert math.ceil(b["active_cycles"] / period) - 1 <= b["bursts"] <= b["active_cycles"] / period + 1
    assert b["achieved_gb_per_s"] == pytest.approx(rate, rel=1e-9)
    assert b["achieved_gb_per_s"] == pytest.approx(b["bytes"] / b["active_cycles"], rel=0.01)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rate=st.floats(0.5, 64), burst_lines=st.integers(1, 256), pattern=st.sampled_from(["stream", "random"]),
       footprint_bursts=st.integers(1, 64), write_fraction=st.floats(0, 1))
def test_generator_properties(rate, burst_lines, pattern, footprint_bursts, write_fraction):
    burst = burst_lines * 64
    spec = {"pattern": pattern, "rate_gb_per_s": rate, "burst": burst, "footprint": burst * footprint_bursts,
            "write_fraction": write_fraction}
    sim = _run(_scenario(background=[spec], mix=("kws",)))
    b = _bg(sim)
    end = max(t.finish for t in sim.tasks)
    period = burst / rate  # cycles at 1 GHz
    assert b["bytes"] == b["bursts"] * burst == b["read_bytes"] + b["write_bytes"]
    assert b["active_cycles"] == end  # one closed-loop request: the NPU ran from 0 to its end
    assert b["bursts"] <= b["active_cycles"] / period + 1  # never ahead of the offered rate
    assert b["achieved_gb_per_s"] <= rate * (1 + 1e-9)
    assert b["llc_lines"] == b["bytes"] // 64 and 0 <= b["llc_hits"] <= b["llc_lines"]


def test_replaying_an_idle_gap_does_not_change_the_timed_bursts_addresses():
    # the replay draws from its own random stream: the bursts the CPU issues while the
    # NPU runs are the same with idle: replay and idle: pause (only their timing differs)
    import numpy as np

    sims = []
    for idle in ("replay", "pause"):
        sc = _gap_scenario(idle, pattern="random")
        sims.append(Simulation(sc, mapper=Mapper(sc.soc)))
    replaying, pausing = (s.background[0] for s in sims)
    for k in range(5):
        if k in (1, 3):
            # the bursts due from cycle 0 to 10 M: the next is due one period after the last of them
            assert replaying.replay_idle(0.0, 10_000_000.0) == math.ceil(10_000_000 / replaying.period_cycles) * \
                replaying.period_cycles
        a, b = replaying.next_burst(), pausing.next_burst()
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), k
    assert replaying.counters.idle_lines == 2 * math.ceil(10_000_000 / replaying.period_cycles) * replaying.burst_lines


def test_a_long_gap_of_a_stream_counts_every_line_it_moved_and_ends_where_the_stream_does():
    # an 8 MiB stream through a 4 MiB LLC misses nearly always, and every line it
    # wrote is written back: the DRAM bytes of the whole gap, not only the replayed part
    sim = _run(_gap_scenario("replay", pattern="stream", footprint="8MiB", second=40_000_000))
    b = _bg(sim)
    assert b["idle_llc_hit_rate"] < 0.05
    assert 0.95 < b["idle_dram_bytes"] / b["idle_bytes"] < 1.1
    # the stream resumes after the last line of the gap, skipped lines included
    sc = _gap_scenario("replay", pattern="stream", footprint="8MiB")
    bg = Simulation(sc, mapper=Mapper(sc.soc)).background[0]
    start = bg.position
    bg.replay_idle(0.0, 40_000_000.0)
    bursts = math.ceil(40_000_000 / bg.period_cycles)  # due at 0, P, 2P, ... before the NPU starts
    assert bg.position == (start + int(bursts) * bg.burst_lines) % bg.footprint_lines
