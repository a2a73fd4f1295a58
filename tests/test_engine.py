"""The engine: determinism, isolation bounds, conservation, arrivals, scenarios, CLI."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npusim import simulate
from npusim.errors import InputError
from npusim.scenario import load_scenario, scenario_from_flags

SMALL = dict(soc="camdn", cores="8")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path / "cache"))


def test_deterministic_summary():
    a = simulate(mix=["squeezenet", "yolo_lite"], policy="shared", seed=3, **SMALL)
    b = simulate(mix=["squeezenet", "yolo_lite"], policy="shared", seed=3, **SMALL)
    assert json.dumps(a.summary, sort_keys=True) == json.dumps(b.summary, sort_keys=True)
    assert a.layers.equals(b.layers)


def test_shared_is_never_faster_than_isolated():
    r = simulate(mix=["squeezenet", "yolo_lite", "kws"], policy="shared", **SMALL)
    for t in r.summary["tenants"]:
        assert t["mean_latency_cycles"] >= t["isolated_latency_cycles"]
    assert r.summary["stp"] <= 3.0 + 1e-9
    iso = simulate(mix=["squeezenet", "yolo_lite", "kws"], policy="isolated", **SMALL)
    for t in iso.summary["tenants"]:
        assert t["mean_latency_cycles"] == t["isolated_latency_cycles"]
    assert iso.summary["stp"] == pytest.approx(3.0)


def test_waypart_hit_rate_does_not_depend_on_the_co_runner():
    small = simulate(mix=["squeezenet", "yolo_lite"], policy="waypart", **SMALL)
    big = simulate(mix=["squeezenet", "vit_b16"], policy="waypart", **SMALL)
    a = small.tenants.set_index("tenant").loc["squeezenet"]
    b = big.tenants.set_index("tenant").loc["squeezenet"]
    assert (a.llc_hits, a.llc_lines) == (b.llc_hits, b.llc_lines)
    # in a small shared LLC the big co-runner evicts squeezenet's lines
    shared_small = simulate(mix=["squeezenet", "yolo_lite"], policy="shared", llc_size="1MiB", **SMALL)
    shared_big = simulate(mix=["squeezenet", "vit_b16"], policy="shared", llc_size="1MiB", **SMALL)
    s1 = shared_small.tenants.set_index("tenant").loc["squeezenet"]
    s2 = shared_big.tenants.set_index("tenant").loc["squeezenet"]
    assert s2.llc_hit_rate < s1.llc_hit_rate


def test_conservation_of_lines_and_bytes():
    from npusim.api import run_scenario
    from npusim.engine import Simulation
    from npusim.mapping import Mapper

    # an LLC small enough to evict dirty lines: every DRAM write of a plain cache is the
    # write-back of one, counted by the cache itself
    sc = scenario_from_flags(soc="camdn", mix=["squeezenet", "kws"], soc_override={"--cores": "8", "--llc-size": "1MiB"})
    sim = Simulation(sc, mapper=Mapper(sc.soc)).run()
    dram = sim.memory.dram.stats
    cache = sim.memory.cache.stats()
    total_read = total_write = 0
    for c in sim.memory.counters:
        assert c.dram_read_bytes == (c.cache_misses + c.region_fills + c.bypass_lines) * 64
        total_read += c.dram_read_bytes
        total_write += c.dram_write_bytes
    assert total_write > 0
    assert dram["writes"] == int(cache.writebacks.sum()) and dram["writes"] * 64 == total_write
    assert dram["reads"] * 64 == total_read
    assert sum(dram["bytes_per_source"].values()) == total_read + total_write
    r = run_scenario(sc)
    assert r.summary["dram_bytes"] == (dram["reads"] + dram["writes"]) * 64 == int(r.layers.dram_bytes.sum())


def test_layers_tasks_and_timeline_tables():
    r = simulate(mix=["squeezenet", "yolo_lite"], requests=2, **SMALL)
    assert len(r.tasks) == 4 and (r.tasks.latency_cycles > 0).all()
    assert set(r.layers.columns) >= {"tenant", "task", "layer", "cycles", "compute_cycles", "stall_cycles",
                                     "dram_bytes", "llc_hits"}
    assert (r.layers.cycles >= r.layers.compute_cycles).all()
    assert len(r.layers) == 2 * (31 + 12)
    # closed loop: a tenant's second request starts when its first finishes
    sq = r.tasks[r.tasks.tenant == "squeezenet"].sort_values("task")
    assert sq.arrival_cycle.iloc[1] == sq.finish_cycle.iloc[0]
    assert set(r.timeline.tenant) == {"squeezenet", "yolo_lite"}


def test_poisson_and_explicit_arrivals(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("soc: camdn\nseed: 5\ntenants:\n"
                 "  - workload: squeezenet\n    arrival: poisson\n    rate_per_mcycle: 2\n    requests: 3\n"
                 "  - workload: yolo_lite\n    arrival: times\n    arrival_cycles: [0, 500000]\n    priority: 9\n"
                 "    target: 3000000\n")
    r = simulate(p)
    sq = r.tasks[r.tasks.tenant == "squeezenet"]
    assert len(sq) == 3 and sq.arrival_cycle.is_monotonic_increasing and sq.arrival_cycle.iloc[0] > 0
    yl = r.tasks[r.tasks.tenant == "yolo_lite"]
    assert list(yl.arrival_cycle) == [0, 500000] and (yl.target_cycles == 3000000 * 1.0).all()
    again = simulate(p)
    assert list(again.tasks.arrival_cycle) == list(r.tasks.arrival_cycle)


def test_qos_scales_targets():
    r_h = simulate(mix=["squeezenet"], qos="H", **SMALL)
    r_l = simulate(mix=["squeezenet"], qos="L", **SMALL)
    iso = r_h.summary["tenants"][0]["isolated_latency_cycles"]
    assert r_h.tasks.target_cycles.iloc[0] == pytest.approx(0.8 * iso)
    assert r_l.tasks.target_cycles.iloc[0] == pytest.approx(1.2 * iso)
    assert r_l.summary["sla_rate"] == 1.0 and r_h.summary["sla_rate"] == 0.0
    r_num = simulate(mix=["squeezenet"], qos="0.6", **SMALL)
    assert r_num.tasks.target_cycles.iloc[0] == pytest.approx(0.6 * iso)


def test_qos_scale_in_scenario_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("soc: camdn\nqos: 1.4\ntenants:\n  - workload: squeezenet\n    target: 1000000\n")
    r = simulate(p)
    assert r.tasks.target_cycles.iloc[0] == pytest.approx(1.4e6)


@pytest.mark.parametrize("text, expect", [
    ("tenants:\n  - workload: resnet51\n", "s.yaml:2: tenants[0].workload: unknown workload"),
    ('tenants:\n  - workload: "kws\\0"\n',
     "s.yaml:2: tenants[0].workload: 'kws\\x00': a workload name or path cannot hold a NUL character"),
    ("policy: magic\ntenants:\n  - workload: kws\n", "s.yaml:1: policy: unknown policy 'magic'"),
    ("tenants:\n  - workload: kws\n    target: 0\n", "s.yaml:3: tenants[0].target: a latency target must be positive"),
    ("tenants:\n  - workload: kws\n    colour: red\n", "s.yaml:3: tenants[0].colour: unknown key"),
    ("background:\n  - {write_fraction: .nan}\ntenants:\n  - {workload: kws}\n",
     "s.yaml:2: background[0].write_fraction: expected a finite number, got nan"),
    ("tenant:\n  - workload: kws\n", "s.yaml:1: tenant: unknown key (did you mean tenants?)\n"),
    ("tenants:\n  - workloda: kws\n", "s.yaml:2: tenants[0].workloda: unknown key (did you mean workload?)\n"),
    ("qos: 0\ntenants:\n  - workload: kws\n", "s.yaml:1: qos: expected L, M, H or a positive deadline scale"),
    ("soc: gemmini-moca\ntenants:\n" + "".join("  - workload: kws\n" for _ in range(9)),
     "s.yaml:2: tenants: 9 tenants but the SoC has only 8 cores"),
    ("soc_overrides: {cores: 1}\ntenants:\n  - workload: kws\n  - workload: kws\n",
     "s.yaml:2: tenants: 2 tenants but the SoC has only 1 core\n"),  # one core, one byte: singular
    ("soc_overrides: {cores: 2.0}\ntenants:\n  - workload: kws\n",  # a number, as the file has it: not quoted
     "s.yaml:1: soc_overrides.cores: expected an integer, got 2.0\n"),
    ("soc_overrides: {llc_size: 0B}\ntenants:\n  - workload: kws\n",
     "s.yaml:1: soc_overrides.llc_size: must be at least 1 byte, got 0 bytes\n"),
    ("soc_overrides: {cores: '8'}\ntenants:\n  - workload: kws\n",
     "s.yaml:1: soc_overrides.cores: expected an integer, got '8'\n"),
    # an explicit null is a value to check, not the key left out
    ("soc_overrides: {llc_size: }\ntenants:\n  - workload: kws\n",
     "s.yaml:1: soc_overrides.llc_size: empty: give a value, or leave the key out\n"),
    ("tenants:\n  - workload: kws\n    cores:\n",
     "s.yaml:3: tenants[0].cores: empty: give auto, a count or a list of core ids (or leave the key out)\n"),
    ("core_pool:\ntenants:\n  - workload: kws\n", "s.yaml:1: core_pool: expected an integer, got None\n"),
    ("tenants:\n  - workload: kws\n    name:\n", "s.yaml:3: tenants[0].name: expected a string, got None\n"),
    # one tenant asking for more cores than there are: that tenant's key, not the list
    ("soc_overrides: {cores: 2}\ntenants:\n  - workload: kws\n    cores: 1000000000000000000000000000000\n",
     "s.yaml:4: tenants[0].cores: 1000000000000000000000000000000 cores but the SoC has 2\n"),
    ("soc_overrides: {cores: 2}\ntenants:\n  - workload: kws\n  - workload: kws\n    cores: 3\n",
     "s.yaml:5: tenants[1].cores: 3 cores but the SoC has 2\n"),
    ("tenants:\n  - workload: kws\n    priority: 12\n", "s.yaml:3: tenants[0].priority: must be at most 11"),
    # sizes nothing could simulate, and numbers that are not numbers
    ("tenants:\n  - workload: kws\n    requests: 1000000000000\n", "s.yaml:3: tenants[0].requests: must be at most 1000000"),
    ("tenants:\n  - workload: kws\n    params: {batch: 10000000000000}\n",
     "s.yaml:3: tenants[0].params.batch: must be at most 2147483647"),
    # a layer the parameters make impossible: the parameter (the lone one) at its line, the layer and column named
    ("tenants:\n  - workload: m3vit\n    params:\n      image_size: [0, 5]\n",
     "s.yaml:4: tenants[0].params.image_size: layer patch_embed (in_h): must be at least 1, got 0\n"),
    ("tenants:\n  - workload: wav2vec2_base\n    params: {seconds: 1.0e-300}\n",
     "s.yaml:3: tenants[0].params.seconds: layer feature_extractor.conv0 (in_w): must be at least 1, got 0\n"),
    ("tenants:\n  - workload: bert_base\n    params:\n      batch: 2147483647\n      seq_len: 100000\n",
     "s.yaml:3: tenants[0].params: layer embeddings.word (M): must be at most 2147483647, got 214748364700000\n"),
    ("tenants:\n  - workload: kws\n    arrival: times\n    arrival_cycles: [1000000000000000000000]\n",
     "s.yaml:4: tenants[0].arrival_cycles: expected a list of integer cycles from 0 to 1000000000000"),
    ("tenants:\n  - workload: kws\n    arrival: poisson\n    rate_per_mcycle: .inf\n",
     "s.yaml:4: tenants[0].rate_per_mcycle: expected a finite number"),
    ("tenants:\n  - workload: kws\n    arrival: poisson\n    rate_per_mcycle: 1.0e-300\n",
     "s.yaml:4: tenants[0].rate_per_mcycle: must be at least 1e-06"),
    # Poisson arrivals past the horizon (2e16 cycles: beyond 2^53, where the clock is not exact)
    ("tenants:\n  - workload: kws\n    arrival: poisson\n    rate_per_mcycle: 0.000001\n    requests: 20000\n",
     "s.yaml:5: tenants[0].requests: 20000 requests at 1e-06 per million cycles arrive over about 2e+16 cycles, "
     "more than 10^12: fewer requests or a higher rate\n"),
    ("tenants:\n  - workload: kws\n    arrival: poisson\n    requests: 3\n    rate_per_mcycle: 0.000002\n",
     "s.yaml:4: tenants[0].requests: 3 requests at 2e-06 per million cycles arrive over about 1.5e+12 cycles"),
    ("tenants:\n  - workload: kws\n    target: 1e400x\n", "s.yaml:3: tenants[0].target: a latency target must be a"),
    ("seed: 100000000000000000000\ntenants:\n  - workload: kws\n", "s.yaml:1: seed: must be at most"),
    # deadlines stay finite: 1e308 x 1e308x would be a target of inf cycles
    ("qos: 1001\ntenants:\n  - workload: kws\n", "s.yaml:1: qos: a deadline scale must be at most 1000, got 1001\n"),
    ("tenants:\n  - workload: kws\n    qos: 1e308\n",
     "s.yaml:3: tenants[0].qos: a deadline scale must be at most 1000, got 1e+308\n"),
    ("tenants:\n  - workload: kws\n    target: 1e308x\n",
     "s.yaml:3: tenants[0].target: a latency target multiple must be at most 1000x, got '1e308x'\n"),
    ("policy: {name: moca, window_cycles: 100000000000000000000}\ntenants:\n  - workload: kws\n",
     "s.yaml:1: policy.window_cycles: must be at most"),
    ("? [a, b]\n: 1\ntenants:\n  - workload: kws\n", "s.yaml:1: yaml: malformed YAML: a key must be a plain value"),
    ("tenants:\n  - workload: kws\n    name: kws#2\n  - workload: kws\n  - workload: kws\n    name: kws\n",
     "s.yaml:6: tenants[2].name: another tenant is already named 'kws'"),
    ("tenants:\n  - workload: kws\n    name: kws#2\n  - workload: kws\n    name: kws#2\n",
     "s.yaml:5: tenants[1].name: another tenant is already named 'kws#2'"),
    ("tenants:\n  - workload: kws\n    tasks: all\n", "s.yaml:3: tenants[0].tasks: kws has no tasks"),
    # an empty SoC is the file's, not the command line's
    ('soc: ""\ntenants:\n  - workload: kws\n', "s.yaml:1: soc: empty: give a preset name or a SoC file\n"),
    ("soc: camdm\ntenants:\n  - workload: kws\n",  # the name is in the message: the field alone would not show it
     "s.yaml:1: soc: unknown preset and no such file 'camdm' (presets: camdn, gemmini-moca)\n"),
    # names show in tables and rows: an empty one was silently replaced by the workload's
    ('tenants:\n  - workload: kws\n    name: ""\n', "s.yaml:3: tenants[0].name: empty\n"),
    ('tenants:\n  - workload: kws\n    name: "a\\nb"\n',
     "s.yaml:3: tenants[0].name: holds a control character or line break: 'a\\nb'\n"),
    ('name: "x\\ty"\ntenants:\n  - workload: kws\n', "s.yaml:1: name: holds a control character"),
    ("tenants:\n  - workload: kws\n    arrival: times\n    arrival_cycles: [0, 10]\n    requests: 5\n",
     "s.yaml:5: tenants[0].requests: not with arrival: times"),
    # soc_overrides errors point at the file's key, not at the flag it stands for
    ("soc_overrides: {llc_size: -4MiB}\ntenants:\n  - workload: kws\n", "s.yaml:1: soc_overrides.llc_size:"),
    ("soc_overrides:\n  cores: 100000\ntenants:\n  - workload: kws\n",
     "s.yaml:2: soc_overrides.cores: must be at most 4096"),
    # one spelling per override: the flag's llc-size would let the same override be given twice
    ("soc_overrides: {llc_size: 1MiB, llc-size: 2MiB}\ntenants:\n  - workload: kws\n",
     "s.yaml:1: soc_overrides.llc-size: not a SoC override, write llc_size (overrides: llc_size, llc_ways, "
     "cores, array, dataflow, tiler, dram, dram_channels, timing)\n"),
    ("soc_overrides: {colour: red}\ntenants:\n  - workload: kws\n",
     "s.yaml:1: soc_overrides.colour: not a SoC override (overrides: llc_size, llc_ways, cores, "),
    # an entry that is no mapping is blamed at its own line, not at the list's key
    ("tenants:\n  - workload: kws\n  - kws\n", "s.yaml:3: tenants[1]: expected a mapping of keys to values\n"),
    ("tenants:\n  - workload: kws\n  -\n", "s.yaml:3: tenants[1].workload: required field is missing\n"),
    ("tenants:\n  - workload: kws\nbackground:\n  - {pattern: stream}\n  - random\n",
     "s.yaml:5: background[1]: expected a mapping of keys to values, got 'random'\n"),
])
def test_bad_scenarios(cli, tmp_path, text, expect):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    r = cli("run", "--scenario", str(p), "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr, r.stderr


def test_a_trace_files_own_error_keeps_its_line_and_column(cli, tmp_path):
    trace = tmp_path / "bad.csv"
    trace.write_text("name,op,batch,in_c,in_h,in_w,out_c,kernel_h,kernel_w,stride,padding\n"
                     "c1,conv,1,3,0,16,8,3,3,1,1\n")
    s = tmp_path / "s.yaml"
    s.write_text(f"tenants:\n  - workload: {trace}\n")
    for args in (["--scenario", str(s)], ["--mix", str(trace)]):
        r = cli("run", *args, "--quiet")
        assert r.returncode == 2 and r.stderr == f"error: {trace}:2: in_h: must be at least 1, got 0\n", r.stderr
    s.write_text(f"tenants:\n  - workload: {tmp_path / 'missing.csv'}\n")  # the name itself: the scenario's key
    r = cli("run", "--scenario", str(s), "--quiet")
    assert r.returncode == 2 and r.stderr == f"error: {s}:2: tenants[0].workload: no such file " \
        f"{str(tmp_path / 'missing.csv')!r}\n", r.stderr


@pytest.mark.parametrize("args, expect", [
    (["--mix", "kws,nope"], "error: <command line>: --mix: unknown workload"),
    (["--mix", "kws", "--policy", "nope"], "error: <command line>: --policy: unknown policy 'nope'"),
    (["--mix", "kws", "--requests", "0"], "error: <command line>: --requests: must be at least 1"),
    # integers as files write them: no Python underscores, no full-width digits
    (["--mix", "kws", "--requests", "1_0"], "error: <command line>: --requests: expected an integer, got '1_0'"),
    (["--mix", "kws", "--seed", "\uff11"], "error: <command line>: --seed: expected an integer, got '\uff11'"),
    (["--mix", "kws", "--cores", "1_6"], "error: <command line>: --cores: expected an integer, got '1_6'"),
    (["--mix", "kws", "--qos", "1_0"], "error: <command line>: --qos: expected L, M, H or a positive deadline scale, got '1_0'"),
    (["--mix", "kws", "--cpu-traffic", "1_0"], "error: <command line>: --cpu-traffic: expected a rate in GB/s"),
    (["--mix", "kws", "--qos", "X"], "error: <command line>: --qos: expected L, M, H or a positive deadline scale"),
    (["--mix", "kws", "--qos", "1e300"], "error: <command line>: --qos: a deadline scale must be at most 1000, got '1e300'"),
    (["--mix", "kws", "--qos", "0"], "error: <command line>: --qos: expected L, M, H or a positive deadline scale"),
    (["--mix", "kws", "--qos", "-1.5"], "error: <command line>: --qos: expected L, M, H or a positive deadline scale"),
    (["--mix", ",".join(["kws"] * 17)], "error: <command line>: --mix: 17 tenants but the SoC has only 16 cores"),
    (["--mix", "squeezenet,,kws"], "error: <command line>: --mix: empty workload name in 'squeezenet,,kws'"),
    (["--mix", "kws,"], "error: <command line>: --mix: empty workload name in 'kws,'"),
    (["--mix", "kws,/dev/null"], "error: <command line>: --mix: '/dev/null': not a regular file"),
    (["--mix", "kws", "--llc-size", "1TiB"], "error: <command line>: --llc-size: must be at most 1073741824 bytes"),
    (["--mix", "kws", "--llc-size", "1KiB"], "error: <command line>: --llc-size: the NPU ways"),
    (["--mix", "kws", "--soc", ""], "error: <command line>: --soc: empty"),
    (["--mix", "kws", "--out", ""], "error: <command line>: --out: empty"),
    (["--mix", "kws", "--seed", "100000000000000000000"], "error: <command line>: --seed: must be at most"),
    (["--mix", "kws,squeezenet", "--policy", "camdn", "--soc", "gemmini-moca"],
     "error: <command line>: --policy: camdn needs NPU-controlled LLC ways"),
    (["--mix", "kws", "--mix", "squeezenet"], "error: <command line>: argument --mix: given twice (give several "
                                              "values in one, e.g. a,b)"),
    (["--mix", "kws", "--llc-size", "2MiB", "--llc-size=4MiB"], "error: <command line>: argument --llc-size: given twice"),
])
def test_bad_run_flags(cli, tmp_path, args, expect):
    r = cli("run", "--quiet", *args, env={"NPUSIM_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 2 and r.stderr.startswith(expect), r.stderr


def test_run_out_checks_its_files_before_writing(cli, tmp_path):
    out = tmp_path / "run"
    (out / "tasks.csv").mkdir(parents=True)
    r = cli("run", "--mix", "kws", "--quiet", "--out", str(out), env={"NPUSIM_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 2 and "--out" in r.stderr and "tasks.csv is a folder" in r.stderr, r.stderr
    assert [p.name for p in out.iterdir()] == ["tasks.csv"]  # nothing half written


def test_flags_over_a_scenario_file_are_checked_as_flags(cli, tmp_path):
    s = tmp_path / "s.yaml"
    s.write_text("tenants:\n  - workload: kws\n  - workload: squeezenet\n")
    for args, expect in [(["--requests", "2000000"], "--requests: must be at most 1000000"),
                         (["--policy", "waypart", "--llc-ways", "1"], "--policy: waypart needs at least one LLC way")]:
        r = cli("run", "--scenario", str(s), "--quiet", *args, env={"NPUSIM_CACHE_DIR": str(tmp_path)})
        assert r.returncode == 2 and r.stderr.startswith(f"error: <command line>: {expect}"), r.stderr


def test_cli_run_json_and_out(cli, tmp_path):
    out = tmp_path / "run"
    r = cli("run", "--soc", "camdn", "--cores", "8", "--mix", "squeezenet,yolo_lite", "--json", "--quiet",
            "--out", str(out), "--format", "parquet", env={"NPUSIM_CACHE_DIR": str(tmp_path / "c")})
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    for key in ("policy", "llc_bytes", "makespan_cycles", "dram_bytes", "stp", "antt", "fairness", "sla_rate",
                "tenants"):
        assert key in s
    assert [t["name"] for t in s["tenants"]] == ["squeezenet", "yolo_lite"]
    for key in ("name", "tasks", "mean_latency_cycles", "p95_latency_cycles", "dram_bytes", "llc_hit_rate",
                "sla_rate"):
        assert key in s["tenants"][0]
    for f in ("summary.json", "tasks.parquet", "tenants.parquet", "layers.parquet", "timeline.parquet"):
        assert (out / f).is_file()


def test_unnamed_repeats_are_numbered_around_the_names_given_later_too(tmp_path):
    p = tmp_path / "s.yaml"
    # a name given further down is not taken by an unnamed repeat above it (it used to be, and the
    # given name was then refused as already taken)
    p.write_text("soc: camdn\ntenants:\n  - workload: kws\n  - workload: kws\n  - workload: kws\n    name: kws#2\n"
                 "background:\n  - footprint: 1MiB\n  - footprint: 1MiB\n    name: cpu#2\n")
    sc = load_scenario(p)
    assert [t.name for t in sc.tenants] == ["kws", "kws#3", "kws#2"]
    assert [b.name for b in sc.background] == ["cpu", "cpu#2"]
    # a plain name given below still clashes with an unnamed repeat above: which is meant is unclear
    p.write_text("soc: camdn\ntenants:\n  - workload: kws\n  - workload: squeezenet\n    name: kws\n")
    with pytest.raises(InputError, match="already named 'kws'"):
        load_scenario(p)


def test_scenario_file_resolves_auto_cores(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("soc: camdn\ntenants:\n  - workload: kws\n    cores: 4\n  - workload: squeezenet\n"
                 "  - workload: yolo_lite\n    cores: [14, 15]\n")
    sc = load_scenario(p)
    assert [t.cores for t in sc.tenants] == [4, 10, (14, 15)]
    p.write_text("soc: camdn\ntenants:\n  - workload: kws\n    cores: [0]\n  - workload: kws\n    cores: [2, 16]\n")
    with pytest.raises(InputError) as exc:
        load_scenario(p)
    assert (exc.value.line, exc.value.field, exc.value.message) == (
        6, "tenants[1].cores", "core id 16 does not exist (the SoC has cores 0-15)")  # the cores: line
    # a --cores flag that leaves a tenant's cores out is blamed as the flag
    with pytest.raises(InputError) as exc:
        load_scenario(p, {"--cores": "8"})
    assert (exc.value.source, exc.value.field, exc.value.message) == (
        "<command line>", "--cores", f"8 cores, but tenants[1].cores in {p}:6 asks for core id 16")
    p.write_text("soc: camdn\ntenants:\n  - workload: kws\n    cores: 8\n")
    with pytest.raises(InputError) as exc:
        load_scenario(p, {"--cores": "4"})
    assert (exc.value.field, exc.value.message) == ("--cores", f"4 cores, but tenants[0].cores in {p}:4 asks for 8 cores")


def test_files_a_scenario_names_are_found_beside_it_from_any_folder(cli, tmp_path):
    # a trace file and a SoC file next to the scenario, run from another folder (and a
    # regress case folder moved elsewhere keeps working); the current folder comes second
    sub = tmp_path / "study"
    sub.mkdir()
    (sub / "tiny.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                                  "Num Filter, Strides,\nconv1, 18, 18, 3, 3, 8, 16, 1,\n")
    (sub / "mysoc.yaml").write_text("base: camdn\nnpu: {cores: 4}\n")
    (sub / "s.yaml").write_text("soc: mysoc.yaml\ntenants:\n  - workload: tiny.csv\n  - workload: kws\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = cli("run", "--scenario", str(sub / "s.yaml"), "--json", "--quiet", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert [(t["name"], t["workload"]) for t in summary["tenants"]] == [("tiny.csv",) * 2, ("kws",) * 2]
    assert summary["cores"] == 4
    (elsewhere / "only_here.csv").write_text((sub / "tiny.csv").read_text())
    (sub / "s2.yaml").write_text("tenants:\n  - workload: only_here.csv\n")
    assert cli("run", "--scenario", str(sub / "s2.yaml"), "--quiet", cwd=elsewhere).returncode == 0
    (sub / "s3.yaml").write_text("soc: camdn\ntenants:\n  - workload: kws\n  - workload: none.csv\n")
    r = cli("run", "--scenario", "study/s3.yaml", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == (
        "error: study/s3.yaml:4: tenants[1].workload: no such file 'study/none.csv' (beside s3.yaml) or "
        "'none.csv' (in the current folder)\n")
    (sub / "s4.yaml").write_text("soc: nosoc.yaml\ntenants:\n  - workload: kws\n")
    r = cli("run", "--scenario", "study/s4.yaml", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == (
        "error: study/s4.yaml:1: soc: no such file 'study/nosoc.yaml' (beside s4.yaml) or 'nosoc.yaml' "
        "(in the current folder)\n")
    # a folder beside the scenario is said to be one (it was 'unknown preset and no such file')
    (sub / "socs").mkdir()
    (sub / "s5.yaml").write_text("soc: socs\ntenants:\n  - workload: kws\n")
    r = cli("run", "--scenario", "study/s5.yaml", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == "error: study/s5.yaml:1: soc: 'study/socs' is a directory, not a SoC file\n"
    # a preset is a preset, whatever folder of that name lies beside the scenario
    (sub / "camdn").mkdir()
    (sub / "s6.yaml").write_text("soc: camdn\ntenants:\n  - workload: kws\n")
    r = cli("run", "--scenario", "study/s6.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # in the scenario's folder there is one place to look
    r = cli("run", "--scenario", "s3.yaml", cwd=sub)
    assert r.stderr == "error: s3.yaml:4: tenants[1].workload: no such file 'none.csv'\n"
    # a sweep over that scenario has the same points from any folder: resumed elsewhere, nothing runs again
    (sub / "exp.yaml").write_text("scenario: s.yaml\naxes:\n  llc_size: [1MiB, 2MiB]\n")
    out = tmp_path / "r.csv"
    assert cli("sweep", str(sub / "exp.yaml"), "--out", str(out), "--quiet", cwd=elsewhere).returncode == 0
    r = cli("sweep", "exp.yaml", "--out", str(out), "--resume", "--quiet", cwd=sub)
    assert r.returncode == 0 and "0 points run, 2 resumed" in r.stderr + r.stdout, r.stderr
    import pandas as pd

    assert set(pd.read_csv(out).tenant) == {"tiny.csv", "kws"}
    # --out may not be a trace file the sweep reads, wherever it was found
    r = cli("sweep", str(sub / "exp.yaml"), "--out", str(sub / "tiny.csv"), "--quiet", cwd=elsewhere)
    assert r.returncode == 2 and "--out" in r.stderr and (sub / "tiny.csv").read_text().startswith("Layer name")
    # an experiment's mix is read as --mix reads it, from the current folder (its names are the points' ids)
    (sub / "exp2.yaml").write_text("mix: [tiny.csv, kws]\naxes:\n  llc_size: [1MiB]\n")
    r = cli("sweep", str(sub / "exp2.yaml"), "--out", str(tmp_path / "r2.csv"), "--quiet", cwd=elsewhere)
    assert r.returncode == 2 and "mix: no such file" in r.stderr
    # the API is no folder: one place to look
    from npusim.errors import InputError

    with pytest.raises(InputError, match=r"^<api>: tenants\[0\].workload: no such file 'none.csv'$"):
        simulate({"tenants": [{"workload": "none.csv"}]})


def test_tenants_listing_the_same_cores_take_them_once(tmp_path):
    # [0-9] twice is 10 cores taken, not 20: the auto tenant gets the 6 left, and its cores are those 6
    p = tmp_path / "s.yaml"
    ten = list(range(10))
    p.write_text(f"soc: camdn\ntenants:\n  - workload: kws\n    cores: {ten}\n  - workload: squeezenet\n"
                 f"    cores: {ten}\n  - workload: yolo_lite\n")
    sc = load_scenario(p)
    assert [t.cores for t in sc.tenants] == [tuple(ten), tuple(ten), 6]
    from npusim.engine.sim import _assign_cores

    assert _assign_cores(sc.tenants, 16)[2] == (10, 11, 12, 13, 14, 15)
    # a Scenario built in Python may ask a count larger than the free cores: it overlaps the fixed
    # tenants' cores (as counts beyond the SoC overlap each other), each id once
    import dataclasses

    wide = dataclasses.replace(sc.tenants[2], cores=8)
    assert _assign_cores((sc.tenants[0], wide, wide), 16) == [tuple(ten), (10, 11, 12, 13, 14, 15, 0, 1),
                                                             (10, 11, 12, 13, 14, 15, 2, 3)]
    p.write_text(f"soc: camdn\ntenants:\n  - workload: kws\n    cores: {ten}\n  - workload: squeezenet\n"
                 f"    cores: {list(range(6, 16))}\n  - workload: yolo_lite\n")
    with pytest.raises(InputError, match="tenants ask for 16 fixed cores and 1 auto share, but the SoC has 16 cores"):
        load_scenario(p)


def test_the_scenario_reference_in_the_docs_is_a_valid_scenario(tmp_path):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "SCENARIOS.md").read_text()
    example = tmp_path / "my_run.yaml"
    example.write_text(re.search(r"```yaml\n(name: my_run.*?)```", doc, re.S).group(1))
    sc = load_scenario(str(example))
    rn50, m3vit = sc.tenants
    assert (sc.name, sc.policy.name, sc.core_pool, sc.soc.npu.cores, sc.soc.llc.size_bytes) == ("my_run", "camdn", 2, 8,
                                                                                                 8 << 20)
    assert (rn50.name, rn50.arrival, rn50.requests, rn50.priority) == ("rn50-hi", "poisson", 4, 9)
    assert (m3vit.tasks, m3vit.task_order, m3vit.arrival_cycles) == (("seg", "depth"), "random", (0, 5000000))
    assert len(sc.background) == 1 and sc.background[0].burst_bytes == 16 << 10


def test_tenants_beyond_the_llcs_owner_ids_are_refused_and_past_its_first_table_run():
    from cache_models.kernels import MAX_TENANTS as LLC_OWNERS
    from npusim.scenario import MAX_BACKGROUND, MAX_TENANTS, scenario_from_dict

    assert MAX_TENANTS + MAX_BACKGROUND == LLC_OWNERS
    with pytest.raises(InputError) as info:
        scenario_from_dict({"soc": "camdn", "core_pool": 1, "tenants": [{"workload": "kws"}] * (MAX_TENANTS + 1)},
                           "many.yaml")
    assert str(info.value) == (f"many.yaml: tenants: at most {MAX_TENANTS} tenants (the LLC's tenant table, "
                               f"beside 16 background generators), got {MAX_TENANTS + 1}")
    # 70 tenants: past the LLC's first table of 64 (reading the occupancy of tenant 64 raised IndexError)
    r = simulate({"soc": "camdn", "core_pool": 4, "tenants": [{"workload": "yolo_lite"}] * 70})
    assert len(r.summary["tenants"]) == 70 and all(t["tasks"] == 1 for t in r.summary["tenants"])


def _itself() -> dict:
    scenario = {"tenants": [{"workload": "kws"}]}
    scenario["tenants"].append(scenario)
    return scenario


def test_api_takes_run_options_and_a_numeric_qos_in_a_dict_of_arguments(tmp_path):
    args = {"mix": ["kws"], "qos": 0.6, "cache": False, "llc_size": "2MiB"}
    assert simulate(args).summary == simulate(mix="kws", qos=0.6, llc_size="2MiB").summary


def test_api_bad_arguments_raise_input_error(tmp_path):
    from npusim.errors import InputError

    s = tmp_path / "s.yaml"
    s.write_text("tenants:\n  - workload: kws\n")
    for args, kwargs, expect in [
        ((), {}, "<api>: mix: give a scenario"),
        ((), {"mix": "kws", "bogus": 1}, "<api>: bogus: unknown argument"),
        ((), {"mix": None}, "<api>: mix: expected workload names"),
        ((), {"mix": "kws", "seed": "3"}, "<api>: seed: expected an integer"),
        ((), {"mix": "kws", "cache": "yes"}, "<api>: cache: expected True or False"),
        ((), {"mix": "kws", "progress": 5}, "<api>: progress: expected a function"),
        ((123,), {}, "<api>: scenario: expected a Scenario, a scenario file path, a mapping or None, got int"),
        ((str(s),), {"policy": "nope"}, "<api>: policy: unknown policy 'nope'"),
        ((str(s),), {"mix": "kws"}, "<api>: mix: not with a scenario"),
        ((str(s),), {"policy": {"name": "moca"}},
         "<api>: policy: expected a policy name (its options go in the scenario's policy), got {'name': 'moca'}"),
        ((), {"mix": "kws", "policy": {"name": "moca"}},
         "<api>: policy: expected a policy name (its options go in a scenario's policy), got {'name': 'moca'}"),
        (({"tenants": "kws"},), {}, "<api>: tenants: expected a non-empty list of tenants"),
        # what the command line would blame on a flag is blamed on the argument
        ((), {"mix": ["resnet5"]}, "<api>: mix: unknown workload 'resnet5'"),
        ((), {"mix": "kws", "policy": "camdnx"}, "<api>: policy: unknown policy 'camdnx'"),
        ((), {"mix": "kws", "llc_size": "3XB"}, "<api>: llc_size: '3XB' has an unknown unit"),
        ((str(s),), {"llc_size": "3XB"}, "<api>: llc_size: '3XB' has an unknown unit"),
        ((), {"mix": "kws", "soc": "gemmini-moca", "policy": "camdn"}, "<api>: policy: camdn needs NPU-controlled"),
        # what is not a YAML value, or is one only beyond float range
        ((), {"mix": "kws", "policy": object()}, "<api>: policy: expected a string, number, boolean, list or mapping"),
        (({"tenants": [{"workload": "kws", "cores": {1, 2}}]},), {},
         "<api>: tenants[0].cores: expected a string, number, boolean, list or mapping, got a value of type set"),
        ((_itself(),), {}, "<api>: tenants[1]: contains itself (a list or mapping that refers back to itself)"),
        ((), {"mix": "kws", "array": "\uff13\uff12x\uff13\uff12"}, "<api>: array: expected ROWSxCOLS such as 32x32"),
        ((), {"mix": "kws", "array": "\u00b2x2"}, "<api>: array: expected ROWSxCOLS such as 32x32"),
        ((), {"mix": "kws", "array": "1" * 5000 + "x1"}, "<api>: array: at most 65536 PEs in each dimension"),
        (("s\0.yaml",), {}, "s\\x00.yaml: file: a file name cannot hold a NUL character"),
        (({"mix": ["kws"], "cache": 1},), {}, "<api>: cache: expected True or False, got 1"),
        ((), {"mix": "kws", "scheduler": np.array(["fcfs", "x"])}, "<api>: scheduler: expected a string, got ['fcfs', 'x']"),
        ((), {"mix": "kws", "qos": 10**400}, "<api>: qos: expected L, M, H or a positive deadline scale"),
        ((), {"mix": "kws", "qos": [1]}, "<api>: qos: expected L, M, H or a deadline scale, got [1]"),
        (({"tenants": [{"workload": "m3vit", "params": {"image_size": [0, 5]}}]},), {},
         "<api>: tenants[0].params.image_size: layer patch_embed (in_h): must be at least 1, got 0"),
        ((), {"mix": "kws", "cpu_traffic": 10**400}, "<api>: cpu_traffic: expected a rate in GB/s"),
        (({"tenants": [{"workload": "kws"}], "background": [{"rate_gb_per_s": 10**400}]},), {},
         "<api>: background[0].rate_gb_per_s: expected a finite number"),
        # a name the file system refuses is a file error, as on the command line
        ((), {"mix": ["x" * 300]}, "<api>: mix: cannot read 'xxxxxxxx"),
        ((), {"mix": "kws", "soc": "x" * 300}, "x" * 300 + ": file: File name too long"),
    ]:
        with pytest.raises(InputError) as info:
            simulate(*args, **kwargs)
        assert str(info.value).startswith(expect), str(info.value)


def test_api_takes_numpy_values_as_the_python_values_they_hold():
    plain = simulate(mix=["kws"], llc_size=1 << 20, requests=1, policy="shared")
    r = simulate(mix=np.array(["kws"]), llc_size=np.int64(1 << 20), requests=np.int32(1), policy=np.str_("shared"))
    assert r.summary == plain.summary
    r = simulate({"tenants": [{"workload": "kws", "cores": np.int64(16), "requests": np.int64(1)}]}, llc_size=1 << 20)
    assert r.summary["tenants"][0]["tasks"] == 1


def test_api_scenario_file_and_mapping_take_run_overrides(tmp_path):
    s = tmp_path / "s.yaml"
    s.write_text("tenants:\n  - workload: kws\n")
    by_file = simulate(str(s), policy="waypart", seed=3, llc_size="4MiB")
    by_mapping = simulate({"tenants": [{"workload": "kws"}]}, policy="waypart", seed=3, llc_size="4MiB")
    assert by_file.summary["policy"] == by_mapping.summary["policy"] == "waypart"
    assert by_file.summary["seed"] == 3 and by_file.summary["llc_bytes"] == 4 << 20
    assert by_file.summary["tenants"] == by_mapping.summary["tenants"]
    from npusim.errors import InputError

    with pytest.raises(InputError, match="fmt: expected csv or parquet"):
        by_file.write(tmp_path / "out", "xlsx")
    (tmp_path / "afile").write_text("")
    with pytest.raises(InputError, match="out_dir: cannot write"):
        by_file.write(tmp_path / "afile")


@pytest.mark.parametrize("policy", ["shared", "camdn"])
def test_tenants_of_one_model_share_streams_shifted_by_their_base(policy, routed_log):
    # the second squeezenet takes the first one's runs moved to its own slot: they must
    # equal what generating its streams from its own layout gives
    import numpy as np

    from npusim.engine import Simulation
    from npusim.engine.routes import route_streams
    from npusim.mapping import Mapper, loop_nest
    from npusim.mapping.streams import layer_streams

    sc = scenario_from_flags(soc="camdn", mix=["squeezenet", "squeezenet", "kws"], policy=policy,
                             soc_override={"--cores": "8"})
    sim = Simulation(sc, mapper=Mapper(sc.soc)).run()
    a, b, other = sim.tenants
    assert a.stream_family == b.stream_family != other.stream_family
    assert b.layout.base_bytes != a.layout.base_bytes
    ran_by_b = [(key[1:], rs) for key, rs in routed_log.items()
                if not isinstance(key, str) and key[0] == b.index]
    assert ran_by_b
    for (task, li, plan), rs in ran_by_b:
        layer = b.trace.layers[li]
        nest = loop_nest(layer, sc.soc.npu, plan.cores, sc.soc.llc.line_bytes)
        own = route_streams(layer_streams(layer, b.trace, nest, plan, b.layout, b.mapper.hw,
                                          b.mapper.stream_vec(nest)), plan,
                            b.unplaced_via_cache)
        for field in ("starts", "lengths", "readers", "ptr", "step_cycles", "step_requests", "step_read_requests"):
            assert np.array_equal(getattr(rs, field), getattr(own, field)), (layer.name, field)
    assert routed_log["shifted"] > 0  # some plans were generated for one tenant and shifted for the other


@pytest.mark.parametrize("policy", ["shared", "camdn"])
def test_stream_budget_changes_memory_not_results(policy, routed_log):
    # streams the store has no room for are generated again, to the same runs: any
    # budget gives the same run, and the store never holds more than its budget
    from npusim.engine import Simulation
    from npusim.mapping import Mapper

    sc = scenario_from_flags(soc="camdn", mix=["squeezenet", "squeezenet", "kws"], policy=policy, requests=2,
                             soc_override={"--cores": "8"})
    mapper = Mapper(sc.soc)
    kept, runs = {}, {}
    for budget in (1 << 30, 300_000, 0):
        sim = Simulation(sc, mapper=mapper, stream_cache_bytes=budget)
        put = sim.streams.put

        def put_within_budget(key, base, rs, store=sim.streams, put=put):
            put(key, base, rs)
            assert store.kept_bytes <= store.budget_bytes

        sim.streams.put = put_within_budget
        sim.run()
        assert sim.streams.kept_bytes == 0  # a finished run frees its streams
        kept[budget] = routed_log["reused"]
        runs[budget] = ([(k.tenant, k.arrival, k.start, k.finish) for k in sim.tasks],
                        [(r.tenant, r.layer, r.start, r.end, r.counters) for r in sim.layers])
        routed_log["reused"] = 0
    assert runs[1 << 30] == runs[300_000] == runs[0]
    assert kept[1 << 30] > kept[300_000] > kept[0] == 0  # reuse shrinks with the budget


def test_requests_override_reaches_closed_and_poisson_tenants_not_explicit_times(cli, tmp_path):
    from npusim.scenario import apply_run_overrides

    s = tmp_path / "s.yaml"
    s.write_text("soc: camdn\ntenants:\n  - {workload: kws}\n"
                 "  - {workload: squeezenet, arrival: poisson, rate_per_mcycle: 1, requests: 2}\n"
                 "  - {workload: yolo_lite, arrival: times, arrival_cycles: [0, 100]}\n")
    sc = apply_run_overrides(load_scenario(str(s)), requests=3)
    assert [t.requests for t in sc.tenants[:2]] == [3, 3] and sc.tenants[2].arrival_cycles == (0, 100)
    assert sc.tenants[2].requests == 2  # one per arrival time
    only_times = tmp_path / "t.yaml"
    only_times.write_text("soc: camdn\ntenants:\n  - {workload: kws, arrival: times, arrival_cycles: [0, 100]}\n")
    r = cli("run", "--scenario", str(only_times), "--requests", "3", "--quiet")
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: <command line>: --requests: every tenant has arrival: times (one request per entry of arrival_cycles)")


# -- scheduling, preemption and arrivals, checked against their definitions -------------

def _preempted_expert_run():
    """PREMA on the Gemmini SoC: a low-priority expert-path model (several stages per
    request) preempted at layer boundaries by a high-priority keyword spotter."""
    return simulate({"soc": "gemmini-moca", "policy": "prema", "scheduler": "priority", "seed": 3,
                     "tenants": [{"workload": "coe_experts", "tasks": "graph", "requests": 2, "priority": 1},
                                 {"workload": "kws", "priority": 11, "arrival": "times",
                                  "arrival_cycles": [20000, 200000]}]})


def test_a_preempted_task_runs_every_layer_of_every_stage_once_and_keeps_its_start():
    from workloads import get_trace

    r = _preempted_expert_run()
    experts = get_trace("coe_experts")
    coe = r.tasks[r.tasks.tenant == "coe_experts"]
    kws = r.tasks[r.tasks.tenant == "kws"]
    first = coe.iloc[0]
    assert kws.start_cycle.min() < first.finish_cycle  # it was preempted: kws ran inside its span
    for _, task in r.tasks.iterrows():
        layers = r.layers[(r.layers.tenant == task.tenant) & (r.layers.task == task.task)]
        if task.tenant == "coe_experts":
            want = [l.name for name in task.task_name.split("+") for l in experts.for_task(name).layers]
        else:
            want = [l.name for l in get_trace("kws").layers]
        assert sorted(layers.layer) == sorted(want), (task.tenant, task.task)
        # the start is the first dispatch, not a resumption
        assert task.start_cycle == layers.start_cycle.min()
        assert task.waiting_cycles == task.start_cycle - task.arrival_cycle
    assert first.start_cycle == 0


def test_layer_compute_cycles_are_the_sum_of_its_steps():
    from npusim.mapping import Mapper
    from npusim.soc import load_soc

    r = simulate(mix=["squeezenet"], policy="shared", **SMALL)
    mapper = Mapper(load_soc("camdn", {"--cores": "8"}))
    from workloads import get_trace

    trace = get_trace("squeezenet")
    multi_step = 0
    for _, row in r.layers.iterrows():
        plan = mapper.plan(trace.layer(row.layer), 8, int(row.budget_bytes))
        assert row.compute_cycles == plan.compute_cycles, row.layer
        multi_step += plan.steps > 1
    assert multi_step > 10


def test_poisson_arrivals_are_the_cumulative_sum_of_exponential_gaps():
    import numpy as np

    seed, rate, n = 5, 2.0, 4
    r = simulate({"soc": "camdn", "seed": seed, "tenants": [
        {"workload": "kws", "arrival": "closed"},
        {"workload": "squeezenet", "arrival": "poisson", "rate_per_mcycle": rate, "requests": n}]})
    gaps = np.random.default_rng([seed, 1]).exponential(1e6 / rate, size=n)
    want = np.cumsum(gaps).astype(np.int64)
    assert list(r.tasks[r.tasks.tenant == "squeezenet"].arrival_cycle) == list(want)


def _ready(sim, *tasks):
    from npusim.engine.sim import TaskRecord

    return [TaskRecord(tenant, index, arrival, 0.0) for tenant, index, arrival in tasks]


def _ranking(sim, *tasks):
    for task in _ready(sim, *tasks):
        sim.ready.add(task)
    return [(k.tenant, k.index) for k in sim._ranked(set())]


def _sim_with(scheduler, priorities):
    from npusim.engine.sim import Simulation
    from npusim.mapping import Mapper
    from npusim.scenario import scenario_from_dict

    sc = scenario_from_dict({"soc": "camdn", "scheduler": scheduler, "tenants": [
        {"workload": "kws", "priority": p, "arrival": "times", "arrival_cycles": [0]} for p in priorities]},
        "<test>")
    return Simulation(sc, mapper=Mapper(sc.soc))


def test_schedulers_rank_ready_tasks_as_documented():
    # fcfs: by arrival, whoever the tenant, whatever order tasks join the ready queue in
    sim = _sim_with("fcfs", [5, 5])
    assert _ranking(sim, (0, 1, 100), (1, 0, 50), (0, 0, 0), (1, 1, 50), (0, 2, 100)) == [
        (0, 0), (1, 0), (1, 1), (0, 1), (0, 2)]
    assert len(sim.ready) == 5 and sim.ready.tenants() == 2
    # priority: priority plus waiting time over the isolated latency; tenant 0 (priority 5)
    # has waited 5 isolated latencies at cycle 5000: 5 + 5 = 10 beats tenant 1's 6 + 0
    sim = _sim_with("priority", [5, 6])
    for t in sim.tenants:
        t.isolated_latency = 1000.0
    sim.env.run(until=5000)
    assert _ranking(sim, (1, 0, 5000), (0, 0, 0)) == [(0, 0), (1, 0)]
    sim = _sim_with("priority", [5, 6])
    for t in sim.tenants:
        t.isolated_latency = 1000.0
    sim.env.run(until=5000)
    assert _ranking(sim, (1, 0, 5000), (0, 0, 4500)) == [(1, 0), (0, 0)]  # 5 + 0.5 < 6
    # a tenant refused during the pass yields nothing more
    sim = _sim_with("fcfs", [5, 5])
    _ranking(sim, (0, 0, 0), (0, 1, 1), (1, 0, 2), (0, 2, 3))
    refused: set[int] = set()
    seen = []
    for k in sim._ranked(refused):
        seen.append((k.tenant, k.index))
        refused.add(0)
    assert seen == [(0, 0), (1, 0)]


@settings(max_examples=60, deadline=None)
@given(tasks=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4000)), min_size=1, max_size=40),
       priorities=st.lists(st.integers(0, 11), min_size=4, max_size=4),
       iso=st.lists(st.floats(1.0, 1e5), min_size=4, max_size=4),
       now=st.integers(4000, 10_000), scheduler=st.sampled_from(["fcfs", "priority"]))
def test_the_lazy_ranking_is_the_stable_sort_of_the_whole_ready_list(tasks, priorities, iso, now, scheduler):
    """Dispatch merges per-tenant queues instead of sorting the backlog: the order must be
    exactly that of sorting every ready task (ties in the order they joined)."""
    from npusim.engine.sim import TaskRecord, _fcfs_key

    sim = _sim_with(scheduler, priorities)
    for t, i in zip(sim.tenants, iso):
        t.isolated_latency = i
    sim.env.run(until=now)
    # request numbers against the order of joining: fcfs breaks ties by request number
    joined = [TaskRecord(tenant, len(tasks) - n, arrival, 0.0) for n, (tenant, arrival) in enumerate(tasks)]
    for task in joined:
        sim.ready.add(task)

    def score(k):
        t = sim.tenants[k.tenant]
        return (-(t.spec.priority + (now - k.arrival) / t.isolated_latency), k.arrival, k.tenant)

    expected = sorted(joined, key=_fcfs_key if scheduler == "fcfs" else score)
    assert [id(k) for k in sim._ranked(set())] == [id(k) for k in expected]
    # each tenant's first task waited longest (what PREMA's preemption check relies on)
    assert {k.tenant: k.arrival for k in sim.ready.heads()} == {
        tenant: min(a for x, a in tasks if x == tenant) for tenant, _ in tasks}


def test_the_expert_scheduler_serves_the_expert_most_requests_wait_for():
    from npusim.engine.sim import Simulation
    from npusim.mapping import Mapper
    from npusim.scenario import scenario_from_dict

    sc = scenario_from_dict({"soc": "camdn", "scheduler": "expert", "tenants": [
        {"workload": "coe_experts", "tasks": "graph", "requests": 3}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.tenants[0].last_task = "ocr"
    ready = _ready(sim, (0, 0, 0), (0, 1, 10), (0, 2, 20))
    for k, path in zip(ready, [("resistor",), ("detector",), ("detector",)]):
        k.pathway = path
    # no request needs the last expert (ocr): two wait for the detector, one for the resistor
    assert [k.index for k in sim._rank_by_expert(ready)] == [1, 2, 0]
    sim.tenants[0].last_task = "resistor"  # no switch beats the larger group
    assert [k.index for k in sim._rank_by_expert(ready)] == [0, 1, 2]


def test_random_task_order_draws_per_tenant():
    import numpy as np

    from npusim.engine.sim import request_pathways
    from npusim.scenario import TenantSpec

    spec = TenantSpec(name="g", workload="grec", tasks=("ctr", "cvr", "atc", "share"), task_order="random",
                      requests=12)
    paths = [request_pathways(spec, 9, i) for i in (0, 1)]
    for i, got in enumerate(paths):
        draws = np.random.default_rng([9, i, 7]).integers(0, 4, size=12)
        assert got == [(spec.tasks[int(j)],) for j in draws]
    assert paths[0] != paths[1]  # two tenants of one model do not run the same sequence


def test_per_tenant_qos_and_unsorted_arrival_times(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("soc: camdn\nqos: M\ntenants:\n"
                 "  - {workload: kws, qos: H, target: 1000, arrival: times, arrival_cycles: [5000, 0]}\n"
                 "  - {workload: squeezenet, target: 1000}\n")
    sc = load_scenario(str(p))
    assert sc.tenants[0].arrival_cycles == (0, 5000)
    r = simulate(p)
    kws = r.tasks[r.tasks.tenant == "kws"]
    assert list(kws.arrival_cycle) == [0, 5000]
    assert (kws.target_cycles == 800).all()  # H scales targets by 0.8, whatever the scenario's level
    assert (r.tasks[r.tasks.tenant == "squeezenet"].target_cycles == 1000).all()


def test_each_step_fetches_with_its_own_request_count():
    # the DMA time of a step's prefetch depends on its requests in flight: step s + 1's
    # fetch must be charged step s + 1's requests (a vector layer's on gemmini-moca, whose
    # tiles store after they compute, its loads' alone)
    from npusim.engine.sim import Simulation
    from npusim.mapping import Mapper
    from npusim.scenario import scenario_from_flags

    sc = scenario_from_flags(soc="gemmini-moca", mix=["kws"], policy="shared")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    expected, charged = [], []
    run_layer, read = sim._run_layer, sim.memory.read

    def spy_layer(tenant, rs, cores, overlap=True, per_block=False):
        counts = rs.step_requests if overlap else rs.step_read_requests
        expected.extend(int(x) for x in counts[:rs.steps])
        return run_layer(tenant, rs, cores, overlap, per_block)

    def spy_read(tenant, now, cores, cache_runs, region_runs, dram_runs, requests):
        charged.append(requests)
        return read(tenant, now, cores, cache_runs, region_runs, dram_runs, requests)

    sim._run_layer, sim.memory.read = spy_layer, spy_read
    sim.run()
    assert charged == expected and len(set(expected)) > 1


def test_run_flags_reach_a_scenario_file_and_the_printed_table(cli, tmp_path):
    s = tmp_path / "s.yaml"
    s.write_text("soc: camdn\nseed: 3\ntenants:\n  - {workload: kws, arrival: poisson, rate_per_mcycle: 5, requests: 2}\n")
    cache = tmp_path / "cache"
    env = {"NPUSIM_CACHE_DIR": str(cache)}
    r = cli("run", "--scenario", str(s), "--seed", "7", "--json", "--no-cache", env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["seed"] == 7
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))  # --no-cache wrote nothing
    r = cli("run", "--scenario", str(s), env=env)
    row = next(line for line in r.stdout.splitlines() if line.startswith("kws "))
    header = next(line for line in r.stdout.splitlines() if line.startswith("tenant "))
    assert "DRAM MiB" in header
    result = simulate(s)
    mib = result.summary["tenants"][0]["dram_bytes"] / 2**20
    assert f"{mib:.1f}" in row.split()
    assert any(p.is_file() for p in cache.rglob("*"))  # without --no-cache the caches fill


def test_api_keyword_arguments_win_and_isolated_runs_keep_a_timeline():
    r = simulate({"mix": ["kws"], "policy": "shared", "soc": "camdn", "cores": "8"}, policy="waypart")
    assert r.summary["policy"] == "waypart"
    iso = simulate(mix=["kws", "squeezenet"], policy="isolated", **SMALL)
    assert set(iso.timeline.tenant) == {"kws", "squeezenet"}
    # each tenant's rows are its own run's, merged in time order, each tenant's order kept
    assert iso.timeline.cycle.is_monotonic_increasing
    for name in ("kws", "squeezenet"):
        alone = simulate(mix=[name], policy="shared", soc="camdn", cores="4").timeline
        mine = iso.timeline[iso.timeline.tenant == name].reset_index(drop=True)
        assert mine.equals(alone[alone.tenant == name].reset_index(drop=True))


def test_isolated_latency_is_one_cold_request_whatever_the_request_count():
    # (no cache: both runs compute it; later requests of a run would find a warm LLC)
    one = simulate(mix=["squeezenet"], requests=1, cache=False, **SMALL)
    three = simulate(mix=["squeezenet"], requests=3, cache=False, **SMALL)
    iso = one.summary["tenants"][0]["isolated_latency_cycles"]
    assert three.summary["tenants"][0]["isolated_latency_cycles"] == iso == one.summary["tenants"][0][
        "mean_latency_cycles"]
    assert three.summary["tenants"][0]["mean_latency_cycles"] < iso  # the warm requests


def test_cached_isolated_latency_follows_the_sampled_paths():
    # an expert-path tenant's isolated latency is the mean over the first eight paths its
    # seed draws, whatever its own request count; the cached value follows the seed
    def iso(requests, cache, seed=4):
        r = simulate({"soc": "camdn", "seed": seed, "tenants": [
            {"workload": "coe_experts", "tasks": "graph", "requests": requests, "cores": 8}]}, cache=cache)
        return r.summary["tenants"][0]["isolated_latency_cycles"]

    assert iso(1, True) == iso(1, False) == iso(3, True)
    assert iso(3, True, seed=5) == iso(3, False, seed=5) != iso(3, False)


@pytest.mark.parametrize("policy", ["shared", "camdn", "moca"])
def test_a_tenant_runs_one_request_at_a_time_on_a_core_pool(policy):
    """A tenant is one model instance (one copy of its tensors, one region, one throttle): its second
    request waits for the first even with a group free, while another tenant takes that group. Each
    byte is then counted once: tasks and layers partition their tenant's traffic."""
    r = simulate({"tenants": [{"workload": "squeezenet", "arrival": "times", "arrival_cycles": [0, 0]},
                              {"workload": "kws", "arrival": "times", "arrival_cycles": [0]}],
                  "core_pool": 1, "policy": policy, "scheduler": "priority"}, llc_size="1MiB", cores=2)
    sq = r.tasks[r.tasks.tenant == "squeezenet"].sort_values("start_cycle")
    assert sq.start_cycle.tolist()[0] == 0 and sq.start_cycle.tolist()[1] == sq.finish_cycle.tolist()[0]
    assert r.tasks[r.tasks.tenant == "kws"].start_cycle.tolist() == [0]
    for name in ("squeezenet", "kws"):
        total = int(r.tenants.set_index("tenant").loc[name, "dram_bytes"])
        assert int(r.tasks[r.tasks.tenant == name].dram_bytes.sum()) == total
        assert int(r.layers[r.layers.tenant == name].dram_bytes.sum()) == total


def test_the_largest_deadline_scale_and_target_multiple_are_accepted(tmp_path):
    from npusim.scenario import MAX_DEADLINE_SCALE

    p = tmp_path / "s.yaml"
    p.write_text(f"qos: {MAX_DEADLINE_SCALE}\ntenants:\n  - workload: kws\n    target: {MAX_DEADLINE_SCALE}x\n")
    scenario = load_scenario(p)
    assert scenario.qos_factor(scenario.tenants[0]) == MAX_DEADLINE_SCALE == scenario.tenants[0].target.multiple


def test_more_requests_may_not_push_poisson_arrivals_past_the_horizon(cli, tmp_path):
    p = tmp_path / "s.yaml"
    # 10^12 cycles exactly is the horizon: allowed
    p.write_text("tenants:\n  - {workload: kws, arrival: poisson, rate_per_mcycle: 0.000002, requests: 2}\n")
    assert load_scenario(p).tenants[0].requests == 2
    r = cli("run", "--scenario", str(p), "--requests", "3", "--quiet", env={"NPUSIM_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 2 and r.stderr == (
        "error: <command line>: --requests: tenant kws: 3 requests at 2e-06 per million cycles arrive over about "
        "1.5e+12 cycles, more than 10^12: fewer requests or a higher rate\n"), r.stderr


def test_tenants_beyond_the_addressable_memory_are_refused_before_they_run(tmp_path):
    from npusim.engine.sim import Simulation

    # a 1 PiB output (1-byte elements) and its 4 PiB partial-sum scratch: one tenant fits below 2^53 bytes, two do not
    (tmp_path / "big.csv").write_text("name,op,M,N,K\ng,gemm,268435456,4194304,1\n")
    p = tmp_path / "s.yaml"
    p.write_text("tenants:\n" + "  - workload: big.csv\n" * 2)
    with pytest.raises(InputError) as exc:
        Simulation(load_scenario(p))
    assert (exc.value.source, exc.value.field) == (str(p), "tenants")
    assert exc.value.message == ("the tenants' tensors and CPU footprints need 10240.00 TiB of memory, more than the "
                                 "8192.00 TiB the simulator addresses")
    p.write_text("tenants:\n  - workload: big.csv\n")
    assert len(Simulation(load_scenario(p)).tenants) == 1


def test_slot_size_is_the_largest_at_which_every_slot_lies_inside_the_dram():
    from npusim.mapping.layout import SLOT_BYTES, slot_bytes_within

    mib, gib = 1 << 20, 1 << 30
    assert slot_bytes_within([100 * mib] * 16, 16 * gib) == SLOT_BYTES == gib  # the presets' case: unchanged
    assert slot_bytes_within([100 * mib] * 8, 4 * gib) == 512 * mib
    assert slot_bytes_within([100 * mib] * 9, 4 * gib) == 256 * mib
    assert slot_bytes_within([1536 * mib, 10 * mib, 10 * mib], 4 * gib) == gib  # 2 + 1 + 1 slots of 1 GiB
    assert slot_bytes_within([3 * gib, 2 * gib], 4 * gib) == SLOT_BYTES  # larger than the device whatever the slots


def test_tenants_on_a_small_dram_get_slots_that_do_not_wrap_onto_each_other():
    from npusim.engine.sim import Simulation

    mix = ["resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b16", "pointpillars", "wav2vec2_base", "bert_base",
           "gnmt"]
    for channels, capacity in (("1", 4 << 30), ("4", 16 << 30)):  # DDR4-3200: 4 GiB a channel
        sim = Simulation(scenario_from_flags(soc="camdn", mix=mix, policy="shared",
                                             soc_override={"--dram-channels": channels}))
        assert sim.memory.dram.mapping.capacity_bytes == capacity
        spans = sorted((t.layout.base_bytes, t.layout.end_bytes) for t in sim.tenants)
        assert spans[-1][1] <= capacity  # below the capacity no address wraps ...
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # ... so no two tenants share a row
        # with room for 1 GiB slots they stay 1 GiB (the presets' runs are unchanged); one channel has 512 MiB
        assert spans[1][0] - spans[0][0] == (1 << 30 if channels == "4" else 512 << 20)


def test_tenants_alike_share_one_isolated_run_without_the_disk_cache(monkeypatch):
    from npusim import api

    calls = []
    real = api.isolated_latency
    monkeypatch.setattr(api, "isolated_latency", lambda *a, **kw: calls.append(a[1].name) or real(*a, **kw))
    scenario = scenario_from_flags(soc="camdn", mix=["kws", "squeezenet", "kws", "kws"], policy="shared")
    result = api.run_scenario(scenario, cache=False)
    assert calls == ["kws", "squeezenet"]  # kws#2 and kws#3 are kws alone on as many cores
    iso = {t["name"]: t["isolated_latency_cycles"] for t in result.summary["tenants"]}
    assert iso["kws"] == iso["kws#2"] == iso["kws#3"] != iso["squeezenet"]
    assert iso["kws"] == real(scenario, scenario.tenants[0], api.Mapper(scenario.soc, cache_dir=False), cache=False)


@pytest.mark.parametrize("entry", ['{"latency_cycles": null}', "[1, 2]", '{"latency_cycles": NaN}',
                                   '{"latency_cycles": -5}', '{"latency_cycles": true}', ""])
def test_a_damaged_isolated_latency_entry_is_simulated_again(tmp_path, monkeypatch, entry):
    from npusim import api

    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path))
    scenario = scenario_from_flags(soc="camdn", mix=["kws"], policy="shared")
    mapper = api.Mapper(scenario.soc)
    first = api.isolated_latency(scenario, scenario.tenants[0], mapper)
    [path] = (tmp_path / "isolated").glob("*.json")
    path.write_text(entry)
    assert api.isolated_latency(scenario, scenario.tenants[0], mapper) == first > 0
    assert json.loads(path.read_text())["latency_cycles"] == first  # and rewritten


def test_isolated_runs_each_tenant_on_the_requests_it_has_when_co_located():
    # arrivals, task picks and expert paths are seeded by the tenant's place in the scenario, alone or not
    sc = {"soc": "camdn", "seed": 5, "tenants": [
        {"workload": "kws", "arrival": "poisson", "rate_per_mcycle": 2.0, "requests": 3, "cores": 2},
        {"workload": "squeezenet", "arrival": "poisson", "rate_per_mcycle": 2.0, "requests": 3, "cores": 2},
        {"workload": "grec", "tasks": "all", "task_order": "random", "requests": 4, "cores": 4},
        {"workload": "coe_experts", "tasks": "graph", "requests": 2, "cores": 4},
        {"workload": "coe_experts", "tasks": "graph", "requests": 2, "cores": 4}]}
    shared, iso = simulate(sc, policy="shared"), simulate(sc, policy="isolated")

    def requests(r):
        paths = r.stages.groupby(["tenant", "task"]).expert.apply(tuple).to_dict()
        # (a closed tenant's next request arrives when its previous one ends: that time may differ)
        return {(k.tenant, k.task): (k.arrival_cycle if k.tenant in ("kws", "squeezenet") else None, k.task_name,
                                     paths.get((k.tenant, k.task))) for k in r.tasks.itertuples()}

    assert requests(iso) == requests(shared)
    # (the draws differ between tenants, so the check above can tell them apart)
    arrivals = shared.tasks.groupby("tenant").arrival_cycle.apply(tuple)
    assert arrivals["kws"] != arrivals["squeezenet"]
    coe = requests(shared)
    assert [coe[("coe_experts", i)][2] for i in (0, 1)] != [coe[("coe_experts#2", i)][2] for i in (0, 1)]


def test_colocated_run_reuses_the_isolated_runs_streams_with_the_same_result(monkeypatch):
    # the isolated runs (not in the disk cache) generate every unmanaged plan's streams; under
    # `shared` the co-located run asks for exactly those again and must not generate them twice,
    # and taking them from the isolated runs must not change a single number
    import numpy as np

    from npusim import api
    from npusim.engine import sim as engine_sim
    from npusim.metrics import build_result

    generated = []
    real = engine_sim.layer_streams
    monkeypatch.setattr(engine_sim, "layer_streams", lambda layer, *a, **kw: generated.append(layer.name)
                        or real(layer, *a, **kw))
    scenario = scenario_from_flags(soc="camdn", mix=["squeezenet", "kws"], policy="shared")
    result = api.run_scenario(scenario, cache=False)
    n_layers = sum(len(engine_sim.load_tenant_trace(t).layers) for t in scenario.tenants)
    assert len(generated) == n_layers  # once per layer: in the isolated runs, none in the co-located one
    # the same run with a store of its own (nothing to reuse) gives the same tables
    mapper = api.Mapper(scenario.soc, cache_dir=False)
    iso = api.isolated_latencies(scenario, mapper, cache=False)
    generated.clear()
    alone = build_result(engine_sim.Simulation(scenario, mapper=mapper, isolated_latency=iso).run(), policy="shared")
    assert len(generated) == n_layers
    assert json.dumps(result.summary, sort_keys=True) == json.dumps(alone.summary, sort_keys=True)
    for table in ("tasks", "tenants", "layers", "timeline"):
        assert getattr(result, table).equals(getattr(alone, table)), table
    assert np.array_equal(result.layers.end_cycle.to_numpy(), alone.layers.end_cycle.to_numpy())


def test_vector_layers_without_overlap_fetch_each_tile_once_the_last_is_computed_and_stored():
    # gemmini-moca sets vector_overlap: false (its pool and residual-add calls load every tile
    # into the same buffer rows): such a layer fetches tile s + 1 once tile s is computed and its
    # stores, which stream out during the compute, are acknowledged: the later of the compute
    # plus a store's round trip and the stores' drain, counted from when tile s arrived. Its
    # loads alone hold the read DMA's requests. Array layers still fetch s + 1 when step s starts
    from npusim.engine.sim import Simulation
    from npusim.mapping import Mapper

    sc = scenario_from_flags(soc="gemmini-moca", mix=["kws"], policy="shared", soc_override={"--cores": "1"})
    assert not sc.soc.npu.vector_overlap
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    layers, reads, drains, asked = [], [], {}, []
    run_layer, read, drain = sim._run_layer, sim.memory.read, sim.memory.drain_cycles

    def spy_layer(tenant, rs, cores, overlap=True, per_block=False):
        assert not per_block  # kws has no matmul-loop layer: 3x3 convs and residual adds
        layers.append((rs, overlap, len(reads)))
        return run_layer(tenant, rs, cores, overlap, per_block)

    def spy_read(tenant, now, cores, cache_runs, region_runs, dram_runs, requests):
        ready = read(tenant, now, cores, cache_runs, region_runs, dram_runs, requests)
        reads.append((now, ready))
        asked.append(requests)
        return ready

    def spy_drain(cores, requests, *runs):
        drains[len(reads)] = cycles = drain(cores, requests, *runs)  # before the read it delays
        return cycles

    write, stores = sim.memory.write, {}

    def spy_write(tenant, now, *runs):
        stores.setdefault(len(reads), []).append(now)  # keyed by the reads issued before it
        return write(tenant, now, *runs)

    sim._run_layer, sim.memory.read, sim.memory.drain_cycles = spy_layer, spy_read, spy_drain
    sim.memory.write = spy_write
    sim.run()
    assert [o for _, o, _ in layers] == [layer.op != "eltwise" for layer in sim.tenants[0].trace.layers]
    assert sum(not o for _, o, _ in layers) == 11  # kws's eleven residual adds
    checked = {True: 0, False: 0}
    hit = sim.memory.hit_latency
    overlapped = 0  # tiles whose stores drained while they computed
    for (rs, overlap, first), record in zip(layers, sim.layers):
        cyc = rs.step_cycles[:rs.steps].tolist()
        mine = reads[first:first + rs.steps]
        if not overlap:
            # each of 96 x 96 pixels' 45 channels is stored in 16-byte requests: 3 a pixel
            assert int(rs.step_write_requests.sum()) == 96 * 96 * 3
            # a tile's stores reach the memory when it is computed, before the next load; the
            # layer ends when the last tile's stores are acknowledged
            for s in range(rs.steps):
                assert stores[first + s + 1] == [mine[s][1] + cyc[s]]
                # its loads, not its stores, in the read DMA's requests
                assert asked[first + s] == rs.step_read_requests[s] < rs.step_requests[s]
            last = rs.steps - 1
            assert record.end == mine[last][1] + max(cyc[last] + hit, drains[first + rs.steps])
        for s in range(1, rs.steps - 1):
            (now0, ready0), (now1, ready1), (now2, _) = mine[s - 1], mine[s], mine[s + 1]
            if overlap:
                assert now2 == max(ready1, now1 + cyc[s - 1]) and first + s + 1 not in drains
            else:
                drain = drains[first + s + 1]
                assert drain > 0 and now2 == ready1 + max(cyc[s] + hit, drain)
                overlapped += now2 < ready1 + cyc[s] + drain  # sooner than storing after computing
            checked[overlap] += 1
    assert checked[True] >= 100 and checked[False] >= 50 and overlapped >= 50


def test_a_stores_drain_is_its_lines_over_the_dma_or_its_requests_over_the_hit_latency():
    from npusim.engine.memory import MemoryHierarchy
    from npusim.soc import load_soc

    soc = load_soc("gemmini-moca")  # 16 B/cycle DMA, 16 requests in flight
    soc = soc.replace(llc=dataclasses.replace(soc.llc, hit_latency_cycles=30))
    mem = MemoryHierarchy(soc, 1)
    runs = (np.array([0], np.int64), np.array([640], np.int64), np.array([1], np.int64))  # 10 lines
    assert mem.drain_cycles(1, 40, runs) == 90  # 40 requests: 3 rounds of 16 at 30 cycles
    assert mem.drain_cycles(1, 0, runs) == 40  # at least a request a line: the bandwidth, 640 / 16
    assert mem.drain_cycles(2, 40, runs) == 60  # two cores: 20 requests each, 2 rounds of 30 cycles
    assert mem.drain_cycles(1, 5) == 0


@pytest.mark.parametrize("per_block, reads_at, writes_at, end", [
    # a tile's compute starts once the tile is in: 50-150, 150-180, 200-300, 300-330
    (False, [0, 50, 150, 200], [150, 200, 300, 330], 330),
    # computes start as their blocks arrive: 0-100, 100-160 (its last block, 30 cycles, once its
    # loads are in at 130), 160-260, 260-290 (loads in at 260); the DMA turns to the next tile
    # once this one's loads are in and the buffer half two tiles back is computed
    (True, [0, 50, 130, 180], [130, 180, 260, 290], 290),
])
def test_step_timing_by_hand_with_tiles_or_blocks(per_block, reads_at, writes_at, end):
    """Four steps of 100, 30, 100 and 30 compute cycles whose loads take 50, 80, 50 and 80
    cycles and whose last blocks of input channels compute in 10, 30, 10 and 30."""
    import dataclasses

    from npusim.engine.routes import N_ROUTES, RoutedStreams
    from npusim.engine.sim import Simulation

    sc = scenario_from_flags(soc="gemmini-moca", mix=["kws"], policy="shared", soc_override={"--cores": "1"})
    no_setup = dataclasses.replace(sc.soc.npu, layer_setup_cycles=0)
    sc = dataclasses.replace(sc, soc=sc.soc.replace(npu=no_setup))
    sim = Simulation(sc)
    reads, writes = [], []

    class Memory:  # a load takes the cycles its step's request count says
        def read(self, tenant, now, cores, cache_runs, region_runs, dram_runs, requests):
            reads.append(now)
            return now + requests

        def write(self, tenant, now, *runs):
            writes.append(now)

    sim.memory = Memory()
    steps = 4
    none = np.zeros(0, np.int64)
    rs = RoutedStreams(starts=none, lengths=none, readers=none, ptr=np.zeros((steps, N_ROUTES + 1), np.int64),
                       step_cycles=np.array([100, 30, 100, 30]), step_tail_cycles=np.array([10, 30, 10, 30]),
                       step_requests=np.array([50, 80, 50, 80]),
                       step_write_requests=np.zeros(steps, np.int64), step_read_requests=np.array([50, 80, 50, 80]))
    sim.env.process(sim._run_layer(0, rs, 1, True, per_block))
    sim.env.run()
    assert (reads, writes, sim.env.now) == (reads_at, writes_at, end)


def test_matmul_loop_layers_compute_as_their_blocks_arrive_and_conv_loop_layers_wait_for_tiles():
    """matmul_waits_for: block (gemmini-moca) applies to 1x1 stride-1 convs and matrix layers,
    which never take longer for it; 3x3 and strided convs wait for whole tiles either way."""
    import dataclasses

    from npusim.api import run_scenario
    from npusim.engine.sim import load_tenant_trace
    from npusim.mapping.mapper import computes_per_block, runs_as_matmul
    from workloads.trace import Layer

    block = scenario_from_flags(soc="gemmini-moca", mix=["resnet50"], policy="isolated")
    assert block.soc.npu.matmul_waits_for == "block"
    tile = dataclasses.replace(block, soc=block.soc.replace(
        npu=dataclasses.replace(block.soc.npu, matmul_waits_for="tile")))
    fc = Layer("fc", "gemm", M=1, N=10, K=20)
    strided = Layer("d", "conv", in_c=64, out_c=64, in_h=8, in_w=8, out_h=4, out_w=4, stride=2)
    assert runs_as_matmul(fc) and not runs_as_matmul(strided)
    assert computes_per_block(block.soc.npu, fc) and not computes_per_block(tile.soc.npu, fc)
    a = run_scenario(block).layers.set_index("layer")
    b = run_scenario(tile).layers.set_index("layer")
    matmul = [layer.name for layer in load_tenant_trace(block.tenants[0]).layers if runs_as_matmul(layer)]
    assert len(matmul) == 34  # 33 1x1 stride-1 convs and the fc layer
    assert (a.cycles[matmul] <= b.cycles[matmul]).all() and (a.cycles[matmul] < b.cycles[matmul]).sum() >= 20
    # the layers before the first matmul-loop layer (the 7x7 conv_1 and its pool) are untouched
    assert a.cycles.iloc[:2].tolist() == b.cycles.iloc[:2].tolist() and a.index[2] == matmul[0]
    assert (a.compute_cycles == b.compute_cycles).all()


def test_without_vector_overlap_every_vector_layer_is_slower_and_the_layers_before_them_the_same():
    import dataclasses

    from npusim.api import run_scenario

    serial = scenario_from_flags(soc="gemmini-moca", mix=["kws"], policy="isolated")
    # the search's buffer-filling tiles, where overlapping a tile's fetch hides most of it (the
    # preset's library tiler cuts kws's adds into 64-pixel tiles, which leave little to hide:
    # with them some adds run a little faster in turn than overlapped)
    searched = serial.soc.replace(npu=dataclasses.replace(serial.soc.npu, tiler="search"))
    serial = dataclasses.replace(serial, soc=searched)
    soc = searched.replace(npu=dataclasses.replace(searched.npu, vector_overlap=True))
    overlapped = dataclasses.replace(serial, soc=soc)
    a = run_scenario(serial).layers.set_index("layer")
    b = run_scenario(overlapped).layers.set_index("layer")
    conv = a.op == "conv"
    assert (a.cycles[~conv] > b.cycles[~conv]).all() and (~conv).sum() == 11
    # up to the first residual add the runs are the same (later, the cache and DRAM
    # state the adds leave differ)
    first = int(np.argmax(~conv.to_numpy()))
    assert first >= 2 and a.cycles.iloc[:first].tolist() == b.cycles.iloc[:first].tolist()
