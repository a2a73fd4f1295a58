"""Multi-task and mixture-of-experts scenarios: M³ViT execution modes, task streams,
CoServe-style expert paths and their schedulers, shared-weight trace columns."""

import dataclasses

import numpy as np
import pytest

from npusim import simulate
from npusim.engine.sim import Simulation
from npusim.errors import InputError
from npusim.mapping.layout import layout_trace
from npusim.scenario import load_scenario
from npusim.sweep import load_experiment
from workloads import get_trace, m3vit_routing, parse_trace_text, trace_to_csv

SMALL_M3VIT = {"head": "none", "image_size": 96, "token_chunk": 8}  # 36 patches + class token


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path / "cache"))


def _m3vit_scenario(tmp_path, moe: str, llc: str = "2MiB", order: str = "cycle", requests: int = 4):
    p = tmp_path / f"m3vit_{moe}_{llc}_{order}.yaml"
    params = ", ".join(f"{k}: {v}" for k, v in {**SMALL_M3VIT, "moe": moe}.items())
    p.write_text(f"soc: camdn\nsoc_overrides: {{llc_size: {llc}}}\nseed: 3\ntenants:\n"
                 f"  - workload: m3vit\n    params: {{{params}}}\n    tasks: all\n    task_order: {order}\n"
                 f"    requests: {requests}\n    cores: 16\n")
    return p


# -- traces -----------------------------------------------------------------------------

def test_moe_modes_have_the_expected_experts_and_work():
    routing = m3vit_routing()
    sparse = get_trace("m3vit", **SMALL_M3VIT, moe="sparse")
    reordered = get_trace("m3vit", **SMALL_M3VIT, moe="reordered")
    dense = get_trace("m3vit", **SMALL_M3VIT, moe="dense")
    for task in sparse.tasks:
        s, r, d = sparse.for_task(task), reordered.for_task(task), dense.for_task(task)
        for block, by_task in routing.items():
            prefix = f"blocks.{block}.moe.expert"
            assert {l.expert for l in s.layers if l.name.startswith(prefix)} == set(by_task[task])
            assert {l.expert for l in r.layers if l.name.startswith(prefix)} == set(by_task[task])
            assert {l.expert for l in d.layers if l.name.startswith(prefix)} == set(range(16))
        # the same work in token order and expert order; all 16 experts cost 4x the expert MACs
        assert s.macs == r.macs and s.weight_bytes == r.weight_bytes
        expert_macs = sum(l.macs for l in r.layers if l.expert is not None)
        assert d.macs - r.macs == 3 * expert_macs
    assert len(sparse.for_task("seg").layers) > len(reordered.for_task("seg").layers)


def test_sparse_chunks_share_weights_and_fill_one_output():
    trace = get_trace("m3vit", **SMALL_M3VIT, moe="sparse")
    lay = layout_trace(trace)
    owner = trace.layer("blocks.1.moe.expert0.fc1")
    chunk = trace.layer("blocks.1.moe.expert0.fc1.rows8")
    assert chunk.weights == owner.name and chunk.output_into == owner.name and chunk.row_offset == 8
    assert lay.weight_base[chunk.name] == lay.weight_base[owner.name]
    assert lay.output_base[chunk.name] == lay.output_base[owner.name] + 8 * owner.N
    # the owner's buffer holds all 37 rows: the next buffer starts after them
    later = sorted(lay.output_base[l.name] for l in trace.layers
                   if not l.output_into and lay.output_base[l.name] > lay.output_base[owner.name])
    assert later[0] >= lay.output_base[owner.name] + 37 * owner.N
    # chunks add no stored weights; a CSV round trip keeps the new columns
    assert trace.weight_bytes == get_trace("m3vit", **SMALL_M3VIT).weight_bytes
    again = parse_trace_text(trace_to_csv(trace), "m3vit.csv", "m3vit")
    assert again.layers == trace.layers
    assert "weights" not in trace_to_csv(get_trace("resnet50")).splitlines()[0]


@pytest.mark.parametrize("row, expect", [
    (dict(name="b", op="gemm", M=8, N=16, K=16, inputs="a", weights="zz"), "weights: no earlier layer named 'zz'"),
    (dict(name="b", op="gemm", M=8, N=32, K=16, inputs="a", weights="a"),
     "weights: 'a' has 256 gemm weights, this layer needs 512"),
    (dict(name="b", op="eltwise", in_c=8, in_h=4, in_w=1, inputs="a", row_offset=4),
     "row_offset: only a gemm reads a row range"),
    (dict(name="b", op="gemm", M=8, N=32, K=16, inputs="a", row_offset=4, output_into="a"),
     "output_into: 'a' is not a gemm with N = 32"),
    # a's output holds 8 rows of 16: rows 4..11 are not all there (and far offsets crashed the cache)
    (dict(name="b", op="gemm", M=8, N=16, K=16, inputs="a", row_offset=4),
     "row_offset: reads rows 4..11 of its input, which holds 8 rows of K = 16 elements"),
    (dict(name="b", op="gemm", M=4, N=16, K=16, inputs="a", row_offset=2**31 - 1),
     "row_offset: reads rows 2147483647..2147483650 of its input, which holds 8 rows"),
])
def test_bad_shared_weight_columns(row, expect):
    import csv
    import io

    from workloads.trace import COLUMNS

    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerow(dict(name="a", op="gemm", M=8, N=16, K=16, inputs="-"))
    w.writerow(row)
    with pytest.raises(InputError) as exc:
        parse_trace_text(out.getvalue(), "t.csv")
    assert expect in str(exc.value) and exc.value.line == 3


def test_chunks_fill_the_output_they_write_into():
    head = "name,op,M,N,K,inputs,row_offset,output_into\nx,gemm,16,16,16,-,,\na,gemm,8,16,16,x,,\n"
    fine = parse_trace_text(head + "b,gemm,4,16,16,x,8,a\nc,gemm,4,16,16,x,12,a\n", "t.csv")
    assert layout_trace(fine).output_base["c"] == layout_trace(fine).output_base["a"] + 12 * 16
    # a chunk writing past the rows that a and all its chunks hold leaves a gap: refused at its line
    with pytest.raises(InputError) as exc:
        parse_trace_text(head + "b,gemm,4,16,16,x,8,a\nc,gemm,4,16,16,b,2147483000,a\n", "t.csv")
    assert (exc.value.line, exc.value.field) == (5, "row_offset")
    assert exc.value.message == "writes rows 2147483000..2147483003 of 'a', which with all its chunks has 16 rows"
    # a chunk of a chunk would land at the sum of both offsets, outside the rows the check above counts
    with pytest.raises(InputError) as exc:
        parse_trace_text(head + "b,gemm,4,16,16,x,8,a\nc,gemm,4,16,16,x,12,b\n", "t.csv")
    assert (exc.value.line, exc.value.field) == (5, "output_into")
    assert exc.value.message == "'b' is itself a chunk of 'a': write into 'a'"


# -- M³ViT invariants -------------------------------------------------------------------------

def test_sparse_pathway_never_touches_another_tasks_experts(tmp_path, routed_log):
    sc = load_scenario(_m3vit_scenario(tmp_path, "sparse"))
    sim = Simulation(sc).run()
    t = sim.tenants[0]
    routing = m3vit_routing()
    weight_ranges = {}  # (block, expert) -> [lo, hi)
    for layer in t.full_trace.layers:
        if layer.expert is not None and not layer.weights:
            block = int(layer.name.split(".")[1])
            lo = t.layout.weight_base[layer.name]
            weight_ranges.setdefault((block, layer.expert), []).append((lo, lo + layer.weight_bytes))
    ran = {k.task_name for k in sim.tasks}
    assert ran == {"seg", "depth", "normal", "edge"}
    checked = 0
    for (_, task, li, plan), rs in ((k, v) for k, v in routed_log.items() if not isinstance(k, str)):
        layer = t._pathways[task].layers[li]
        if layer.expert is not None:
            assert layer.expert in routing[int(layer.name.split(".")[1])][task]
        starts, ends = rs.starts, rs.starts + rs.lengths
        for (block, expert), ranges in weight_ranges.items():
            if expert in routing[block][task]:
                continue
            for lo, hi in ranges:
                assert not np.any((starts < hi) & (ends > lo)), (task, layer.name, block, expert)
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("llc", ["512KiB", "2MiB", "16MiB"])
def test_reordering_never_increases_dram_bytes(tmp_path, llc):
    sparse = simulate(_m3vit_scenario(tmp_path, "sparse", llc))
    reordered = simulate(_m3vit_scenario(tmp_path, "reordered", llc))
    assert list(sparse.tasks.task_name) == list(reordered.tasks.task_name)
    # over the stream (a single request may differ by the LRU state the one before left)
    assert reordered.tasks.dram_bytes.sum() <= sparse.tasks.dram_bytes.sum()
    assert (reordered.tasks.macs.to_numpy() == sparse.tasks.macs.to_numpy()).all()


def test_task_stream_switch_cost_and_determinism(tmp_path):
    p = _m3vit_scenario(tmp_path, "reordered", "16MiB", order="random", requests=6)
    a, b = simulate(p), simulate(p)
    assert a.tasks.equals(b.tasks)
    names = list(a.tasks.task_name)
    switched = [i > 0 and names[i] != names[i - 1] for i in range(len(names))]
    assert list(a.tasks.switches.astype(bool)) == switched
    row = a.summary["tenants"][0]
    assert row["task_switches"] == sum(switched)
    # request 0 has no task before it (and a cold LLC): it is in neither group
    later = a.tasks.iloc[1:]
    sw, stay = later[later.switches > 0], later[later.switches == 0]
    assert len(sw) and len(stay)
    assert row["switch_cost_cycles"] == pytest.approx(sw.latency_cycles.mean() - stay.latency_cycles.mean())
    assert row["switch_cost_dram_bytes"] == pytest.approx(sw.dram_bytes.mean() - stay.dram_bytes.mean())
    # each request's MACs are those of its task's layers in the trace (not just the table's own mean)
    trace = get_trace("m3vit", **SMALL_M3VIT, moe="reordered")
    per_task = {task: sum(l.macs for l in trace.for_task(task).layers) for task in trace.tasks}
    assert list(a.tasks.macs) == [per_task[name] for name in names]
    assert row["macs_per_request"] == pytest.approx(sum(per_task[name] for name in names) / len(names))


def test_switch_cost_is_null_without_a_request_after_the_same_task(tmp_path):
    # each request's task differs from the one before: nothing to compare a switch with
    p = _m3vit_scenario(tmp_path, "reordered", "16MiB", order="cycle", requests=3)
    r = simulate(p)
    assert list(r.tasks.switches) == [0, 1, 1]
    assert r.summary["tenants"][0]["switch_cost_cycles"] is None
    assert r.summary["tenants"][0]["switch_cost_dram_bytes"] is None


# -- CoServe-style expert paths ---------------------------------------------------------------

def _coe_scenario(tmp_path, scheduler: str, seed: int, rate: float, llc: str = "1MiB"):
    p = tmp_path / f"coe_{scheduler}_{seed}_{rate}.yaml"
    p.write_text(f"soc: camdn\nsoc_overrides: {{llc_size: {llc}}}\nscheduler: {scheduler}\nseed: {seed}\n"
                 f"tenants:\n  - workload: coe_experts\n    tasks: graph\n    arrival: poisson\n"
                 f"    rate_per_mcycle: {rate}\n    requests: 10\n    cores: 16\n")
    return p


@pytest.mark.parametrize("seed, rate", [(0, 5.0), (1, 20.0), (2, 50.0)])
def test_dependency_aware_never_switches_more_than_fcfs(tmp_path, seed, rate):
    fcfs = simulate(_coe_scenario(tmp_path, "fcfs", seed, rate))
    dep = simulate(_coe_scenario(tmp_path, "expert", seed, rate))
    assert list(fcfs.tasks.arrival_cycle) == list(dep.tasks.arrival_cycle)  # the same arrivals
    assert list(fcfs.tasks.task_name) == list(dep.tasks.task_name)  # the same expert paths
    assert dep.tasks.switches.sum() <= fcfs.tasks.switches.sum()
    # every expert of every path ran exactly once
    for res in (fcfs, dep):
        runs = res.stages.groupby("task").expert.apply(list)
        assert [runs[i] for i in range(10)] == [n.split("+") for n in res.tasks.task_name]
        assert res.summary["tenants"][0]["task_switches"] == int(res.stages.switched.sum())


def test_fcfs_runs_each_request_to_the_end_before_the_next(tmp_path):
    r = simulate(_coe_scenario(tmp_path, "fcfs", 1, 50.0))
    order = list(r.stages.sort_values("start_cycle").task)
    assert order == sorted(order)


def test_expert_paths_follow_the_graph(tmp_path):
    from workloads import coe_graph

    g = coe_graph()
    r = simulate(_coe_scenario(tmp_path, "expert", 4, 20.0))
    for path in r.tasks.task_name:
        experts = path.split("+")
        assert experts[0] == g.entry
        for later in experts[1:]:
            assert any(later in g.successors(e) for e in experts[:experts.index(later)])


# -- scenario and sweep input --------------------------------------------------------------

@pytest.mark.parametrize("tenant, expect", [
    ("workload: m3vit\n    tasks: [seg, sky]", "tenants[0].tasks: m3vit has no task 'sky'"),
    ("workload: resnet50\n    tasks: graph", "tenants[0].tasks: resnet50 has no expert graph"),
    ("workload: m3vit\n    task: seg\n    tasks: [seg]", "tenants[0].tasks: give either task or tasks"),
    ("workload: m3vit\n    task_order: cycle", "tenants[0].task_order: only with a list of tasks"),
    ("workload: m3vit\n    tasks: [seg]\n    task_order: zigzag", "tenants[0].task_order:"),
    ("workload: m3vit\n    tasks: 3", "tenants[0].tasks: expected a list of tasks, all or graph"),
])
def test_bad_task_streams(tmp_path, tenant, expect):
    p = tmp_path / "s.yaml"
    p.write_text(f"tenants:\n  - {tenant}\n")
    with pytest.raises(InputError) as exc:
        load_scenario(p)
    assert expect in str(exc.value)


def test_sweep_over_a_builder_parameter(tmp_path):
    scen = _m3vit_scenario(tmp_path, "reordered")
    exp = tmp_path / "e.yaml"
    exp.write_text(f"scenario: {scen}\naxes:\n  param.moe: [dense, sparse]\n")
    spec = load_experiment(exp)
    points = spec.points()
    assert [dict(p.params)["param.moe"] for p in points] == ["dense", "sparse"]
    assert [dict(p.scenario.tenants[0].params)["moe"] for p in points] == ["dense", "sparse"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"scenario: {scen}\naxes:\n  param.colour: [red]\n")
    with pytest.raises(InputError) as exc:
        load_experiment(bad).points()
    assert str(exc.value) == f"{bad}:3: axes.param.colour: no tenant's workload has this parameter"
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(f"scenario: {scen}\naxes:\n  param.moe: [sideways]\n")
    with pytest.raises(InputError) as exc:
        load_experiment(wrong).points()
    assert str(exc.value).startswith(f"{wrong}:3: axes.param.moe: moe must be one of reordered, sparse, dense")
    # fixed parameters are named as the file gives them, at their own line
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text("mix: [m3vit]\nparams:\n  moe: sparse\n  colour: red\naxes:\n  llc_size: [1MiB]\n")
    with pytest.raises(InputError) as exc:
        load_experiment(fixed).points()
    assert str(exc.value) == f"{fixed}:4: params.colour: no tenant's workload has this parameter"
    fixed.write_text("mix: [m3vit]\nparams:\n  batch: 1\n  moe: sideways\naxes:\n  param.token_chunk: [8]\n")
    with pytest.raises(InputError) as exc:
        load_experiment(fixed).points()
    # every parameter of the point, the one the builder blames first and at its line
    assert str(exc.value).startswith(f"{fixed}:4: params.moe, params.batch, axes.param.token_chunk: moe must be "
                                     "one of reordered, sparse, dense")
    fixed.write_text("mix: [m3vit]\nparams:\n  top_k: 4\naxes:\n  param.experts: [2, 8]\n")
    with pytest.raises(InputError) as exc:
        load_experiment(fixed).points()
    assert str(exc.value) == (f"{fixed}:3: params.top_k, axes.param.experts: top_k must be between 1 and the "
                              "number of experts (2), got 4")  # the swept value is what breaks it
    fixed.write_text("mix: [m3vit]\nparams:\n  image_size: 2\naxes:\n  param.batch: [1]\n")
    with pytest.raises(InputError) as exc:
        load_experiment(fixed).points()
    assert str(exc.value) == (f"{fixed}:3: params.image_size, axes.param.batch: layer patch_embed (kernel_h): "
                              "kernel 16 is larger than the padded input height 2")  # the layer and its column


def test_shipped_multitask_experiments_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "experiments" / "multitask"
    for name, n in (("m3vit_modes", 12), ("coserve", 16), ("dt_camdn", 8), ("grec_moca", 4)):
        spec = load_experiment(root / f"{name}.yaml")
        assert len(spec.points()) == n
        assert dataclasses.is_dataclass(spec.points()[0].scenario)


def test_expert_graph_reference_is_the_models_whatever_the_request_count(tmp_path):
    """An expert-graph tenant's isolated latency is the mean of the first eight paths
    the seed draws for the model: tenants alike but for their request count share it."""
    from npusim.api import isolated_latencies
    from npusim.mapping.mapper import Mapper

    def scenario(requests: list[int]):
        p = tmp_path / f"coe_{'_'.join(map(str, requests))}.yaml"
        p.write_text("soc: camdn\nsoc_overrides: {llc_size: 1MiB}\nseed: 3\ntenants:\n" + "".join(
            f"  - workload: coe_experts\n    tasks: graph\n    requests: {n}\n    cores: 8\n" for n in requests))
        return load_scenario(p)

    sc = scenario([1, 12])
    iso = isolated_latencies(sc, Mapper(sc.soc), cache=False)
    assert len(set(iso.values())) == 1
    alone = scenario([8])  # the first eight paths, run back to back alone
    sim = Simulation(alone, mapper=Mapper(alone.soc)).run()
    assert len(sim.tasks) == 8
    assert set(iso.values()) == {sum(k.latency for k in sim.tasks) / 8}


# -- expert paths among other tenants and policies ------------------------------------------

SMALL_COE = {"image_size": 64, "crop": 32}


def test_a_stage_preempted_by_prema_keeps_its_start():
    # prema takes the cores from the low-priority expert path at layer boundaries; a stage's
    # row spans all its layers (it used to start where the stage last resumed). `drain: false`:
    # preempt whenever PREMA picks another task, never let the running one finish first
    r = simulate({"soc": "camdn", "seed": 2, "policy": {"name": "prema", "drain": False}, "tenants": [
        {"workload": "coe_experts", "params": SMALL_COE, "tasks": "graph", "arrival": "poisson",
         "rate_per_mcycle": 5, "requests": 6, "priority": 0},
        {"workload": "kws", "arrival": "poisson", "rate_per_mcycle": 10, "requests": 10, "priority": 11}]},
        cache=False)
    assert r.tasks[r.tasks.tenant == "coe_experts"].preemptions.sum() > 0
    trace = get_trace("coe_experts", **SMALL_COE)
    layers = r.layers[r.layers.tenant == "coe_experts"]
    for _, s in r.stages.iterrows():
        names = [layer.name for layer in trace.for_task(s.expert).layers]
        mine = layers[(layers.task == s.task) & layers.layer.isin(names)]
        assert (s.start_cycle, s.end_cycle) == (mine.start_cycle.min(), mine.end_cycle.max()), s.to_dict()


def test_the_expert_scheduler_serves_other_tenants_first_come_first_served():
    # kws arrives at 10 k cycles, behind one expert-path request and ahead of seven: under
    # `expert` it used to wait for every expert-path request, later arrivals included
    r = simulate({"soc": "camdn", "seed": 1, "scheduler": "expert", "core_pool": 16, "tenants": [
        {"workload": "coe_experts", "params": SMALL_COE, "tasks": "graph", "arrival": "times",
         "arrival_cycles": [0, 20000, 40000, 60000, 80000, 100000, 120000, 140000]},
        {"workload": "kws", "arrival": "times", "arrival_cycles": [10000]}]}, cache=False)
    kws = r.tasks[r.tasks.tenant == "kws"].iloc[0]
    coe = r.tasks[r.tasks.tenant == "coe_experts"]
    before = coe[coe.start_cycle < kws.start_cycle]
    assert (before.arrival_cycle < kws.arrival_cycle).all() and len(before) == 1


def test_moca_counts_the_experts_still_to_come_as_remaining_work():
    from types import SimpleNamespace as NS

    from npusim.mapping.mapper import Mapper
    from npusim.scenario import scenario_from_dict

    sc = scenario_from_dict({"soc": "camdn", "policy": "moca", "tenants": [
        {"workload": "coe_experts", "params": SMALL_COE, "tasks": "graph", "requests": 2}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.policy.setup()
    t = sim.tenants[0]
    path = t.request_pathways[0]
    assert len(path) > 1
    per_expert = {name: sum(t.mapper.plan(layer, t.n_cores, -1, source=t.spec.workload).predicted_cycles
                            for layer in t.pathway(name).layers) for name in path}
    task = NS(pathway=path, stage=0)
    assert sim.policy._later_stages_cycles(t, task) == pytest.approx(sum(per_expert[n] for n in path[1:]))
    assert sim.policy._later_stages_cycles(t, NS(pathway=path, stage=len(path) - 1)) == 0
    assert sim.policy._later_stages_cycles(t, NS(pathway=(), stage=0)) == 0


def test_switch_cost_is_null_for_expert_paths():
    r = simulate({"soc": "camdn", "scheduler": "expert", "tenants": [
        {"workload": "coe_experts", "params": SMALL_COE, "tasks": "graph", "arrival": "times",
         "arrival_cycles": [0] * 6}]}, cache=False)
    row = r.summary["tenants"][0]
    assert row["task_switches"] > 0 and row["switch_cost_cycles"] is None and row["switch_cost_dram_bytes"] is None


def test_the_network_input_buffer_holds_its_largest_read():
    # decision_transformer at a long context: embed_state reads more of the input than the
    # first layer; the buffer must end before the first weights, not run into them
    trace = get_trace("decision_transformer", context=200)
    lay = layout_trace(trace)
    readers = [layer for layer in trace.layers if not (layer.inputs[:1] if layer.op == "matmul" else layer.inputs)]
    largest = max(layer.input_bytes for layer in readers)
    assert largest > trace.layers[0].input_bytes
    assert min(lay.weight_base.values()) >= lay.network_input_base + largest


def test_expert_path_seeds_differ_in_every_bit():
    """Every seed a scenario accepts (up to 2**53) draws its own expert paths; small seeds keep the
    draws they always had."""
    from npusim.engine.sim import hash_seed

    assert hash_seed(1, 2, 3) == (1_000_003 + 2) * 1_000_003 + 3
    seeds = [0, 1, 2**48, 2**48 + 1, 2**53]
    assert len({hash_seed(s, 0, 0) for s in seeds}) == len(seeds)
    from npusim.scenario import MAX_REQUESTS, MAX_TENANTS

    # request and tenant indices stay below the multiplier, so (seed, tenant, request) maps one to one
    assert hash_seed(0, 0, MAX_REQUESTS) < hash_seed(0, 1, 0) and hash_seed(0, MAX_TENANTS, 0) < hash_seed(1, 0, 0)


def test_a_size_pair_in_params_runs_from_a_scenario_and_an_experiment(tmp_path):
    """`image_size: [h, w]` (TRACES.md) is a YAML list: it once reached the engine's trace memo as an
    unhashable key and ended in a traceback."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text("tenants:\n  - workload: m3vit\n    params: {image_size: [32, 48], head: none}\n"
                        "    requests: 1\n")
    r = simulate(scenario)
    assert r.summary["tenants"][0]["tasks"] == 1 and r.layers.compute_cycles.sum() > 0
    exp = tmp_path / "e.yaml"
    exp.write_text("soc: camdn\nmix: [m3vit]\nparams: {image_size: [32, 48]}\naxes:\n  policy: [shared, camdn]\n")
    for point in load_experiment(exp).points():
        assert dict(point.scenario.tenants[0].params)["image_size"] == (32, 48)
        hash(point.scenario.tenants[0].params)
