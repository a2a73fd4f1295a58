"""CaMDN, MoCA, PREMA and static partitions: invariants, headline behaviour, bad input."""

import math

import numpy as np
import pytest

from npusim import simulate
from npusim.engine import Simulation
from npusim.mapping import Mapper
from npusim.policies import get_policy
from npusim.scenario import scenario_from_dict, scenario_from_flags

CAMDN_SMALL = dict(soc="camdn", llc_size="4MiB", cores="8")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path / "cache"))


def _sim(data: dict) -> Simulation:
    sc = scenario_from_dict(data, "<test>")
    return Simulation(sc, mapper=Mapper(sc.soc)).run()


# -- CaMDN -------------------------------------------------------------------------

def test_camdn_pages_never_exceed_the_region_and_are_all_returned():
    # a small LLC where requests contend: some wait for pages
    sc = scenario_from_flags(soc="camdn", mix=["squeezenet", "mobilenet_v2", "kws", "resnet50"], policy="camdn",
                             soc_override={"--llc-size": "2MiB", "--cores": "8"})
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    waited = []
    grant = sim.policy._grant

    def counting_grant():
        grant()
        waited.append(len(sim.policy.queue))

    sim.policy._grant = counting_grant
    sim.run()
    assert max(waited) > 0
    tl = sim.timeline_table()
    capacity = sc.soc.llc.npu_pages
    held = {}
    peak = 0
    for row in tl.itertuples():
        held[row.tenant] = row.region_pages
        peak = max(peak, sum(held.values()))
    assert 0 < peak <= capacity
    assert sum(held.values()) == 0  # everything released at the end
    assert sim.policy.free_pages == capacity and not sim.policy.queue


def test_camdn_hw_holds_a_fixed_equal_share():
    sim = _sim({"soc": "camdn", "soc_overrides": {"llc_size": "4MiB", "cores": 4}, "policy": "camdn-hw",
                "tenants": [{"workload": "squeezenet"}, {"workload": "kws"}]})
    share = sim.scenario.soc.llc.npu_pages // 2
    tl = sim.timeline_table()
    pages = set(zip(tl.tenant, tl.region_pages))  # from the first event on: no half-set-up row at cycle 0
    assert pages == {("squeezenet", share), ("kws", share)}
    # a plan never keeps more resident than the tenant's share
    for rec in sim.layers:
        assert rec.region_bytes <= share * sim.scenario.soc.llc.page_bytes


def test_camdn_hw_plans_for_its_whole_share():
    """A share between two ladder steps is itself a budget: with 4 MiB and four tenants
    each owns 24 pages (768 KiB), and BERT's projection (576 KiB of weights, more than
    the 512 KiB step) keeps its weights in them instead of streaming them."""
    from npusim.mapping.plan import DEFAULT_LADDER

    sc = scenario_from_dict({"soc": "camdn", "soc_overrides": {"llc_size": "4MiB", "cores": 8}, "policy": "camdn-hw",
                             "tenants": [{"workload": "bert_base"}] + [{"workload": "kws"}] * 3}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.policy.setup()
    pol, t = sim.policy, sim.tenants[0]
    share_bytes = pol.share * pol.page_bytes
    step_bytes = max(b for b in DEFAULT_LADDER if b < share_bytes)
    assert (pol.share, share_bytes, step_bytes) == (24, 768 * 1024, 512 * 1024)
    li = next(i for i, l in enumerate(t.trace.layers) if l.name == "encoder.0.proj")
    with pytest.raises(StopIteration) as got:  # camdn-hw never waits
        next(pol.acquire(t, li, None))
    plan = got.value.value
    assert step_bytes < plan.region_bytes <= share_bytes
    assert plan.dram_bytes < t.plan(li, step_bytes).dram_bytes


def test_camdn_moves_fewer_dram_bytes_than_shared():
    # a CNN and a weight-streaming transformer: CaMDN's regions keep the CNN's
    # data from being evicted by the transformer's stream (docs/RESULTS.md)
    mix = ["resnet50", "vit_b16"]
    shared = simulate(mix=mix, policy="shared", soc="camdn", llc_size="8MiB", cores="8")
    camdn = simulate(mix=mix, policy="camdn", soc="camdn", llc_size="8MiB", cores="8")
    assert camdn.summary["dram_bytes"] < 0.95 * shared.summary["dram_bytes"]
    # conservation under regions: the layers' bytes, counted step by step, add up to the total
    assert int(camdn.layers.dram_bytes.sum()) == camdn.summary["dram_bytes"]
    assert (camdn.layers.region_hits > 0).any() and (shared.layers.region_hits == 0).all()


def test_camdn_is_deterministic():
    a = simulate(mix=["squeezenet", "kws"], policy="camdn", **CAMDN_SMALL)
    b = simulate(mix=["squeezenet", "kws"], policy="camdn", **CAMDN_SMALL)
    assert a.summary == b.summary and a.layers.equals(b.layers)


# -- MoCA ---------------------------------------------------------------------------

class _Stub:
    def __init__(self, budget, floor=0.1):
        from npusim.policies.moca import MoCA

        self.budget = budget
        self.opts = {"floor": floor}
        self.allowed_rates = MoCA.allowed_rates.__get__(self)


def _active_layer(rate: float, steps: int, loads_per_rated_byte: float = 1.0, **more) -> dict:
    """A running layer as `moca` records it: its ideal rate, tile steps, and the loads
    its DMA makes per byte the budget counts (1: the rate counts loads)."""
    return {"rate": rate, "steps": steps, "loads_per_rated_byte": loads_per_rated_byte, **more}


def test_moca_water_filling():
    stub = _Stub(budget=10.0)
    assert stub.allowed_rates({0: 4.0, 1: 5.0}, {0: 1.0, 1: 1.0}) == {}  # under budget: nobody throttled
    assert stub.allowed_rates({0: 50.0}, {0: 1.0}) == {}  # alone: no co-runner to leave bandwidth to
    out = stub.allowed_rates({0: 2.0, 1: 9.0, 2: 9.0}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert 0 not in out  # below its share: runs free and leaves the rest to the others
    assert out[1] == pytest.approx(4.0) and out[2] == pytest.approx(4.0)
    assert 2.0 + sum(out.values()) == pytest.approx(10.0)
    # shares follow the scores
    out = stub.allowed_rates({0: 9.0, 1: 9.0}, {0: 3.0, 1: 1.0})
    assert out[0] == pytest.approx(7.5) and out[1] == pytest.approx(2.5)
    # never below the floor share of the ideal rate
    out = _Stub(budget=1.0, floor=0.5).allowed_rates({0: 9.0, 1: 9.0}, {0: 1.0, 1: 1.0})
    assert out == {0: 4.5, 1: 4.5}
    # a tenant that needs exactly its share is not throttled either: the rest goes to the others
    assert stub.allowed_rates({0: 5.0, 1: 9.0}, {0: 1.0, 1: 1.0}) == {1: 5.0}
    assert stub.allowed_rates({0: 2.0, 1: 4.0, 2: 9.0}, {0: 1.0, 1: 1.0, 2: 1.0}) == {2: 4.0}


def test_moca_leaves_a_few_tile_layers_ideal_rate_out_of_the_others_shares():
    """A layer of fewer than `min_steps` tiles is never throttled, so it loads at its
    ideal rate: the co-runners share what that leaves of the budget. Budget 10 B/cycle,
    equal scores: tenant 0 (2 tiles) loads 6, so tenant 1 (ideal 9) gets 4 B/cycle, a
    target of 4096 B per 1024-cycle window (its even share, 5, overran the budget by 1)."""
    from types import SimpleNamespace as NS

    from npusim.policies.moca import MoCA

    calls = []
    mem = NS(set_throttle=lambda j, w, b, c: calls.append(("set", j, w, b, c)),
             clear_throttle=lambda j: calls.append(("clear", j)))
    stub = NS(budget=10.0, opts={"floor": 0.1, "min_steps": 4, "window_cycles": 1024}, throttled=set(),
              sim=NS(memory=mem, tenants=[NS(n_cores=2), NS(n_cores=2), NS(n_cores=2)]),
              _score=lambda j, info: 1.0)
    stub.allowed_rates = MoCA.allowed_rates.__get__(stub)
    stub.active = {0: _active_layer(6.0, 2), 1: _active_layer(9.0, 40)}
    MoCA._rebalance(stub)
    assert calls == [("set", 1, 1024, 4096, 2)] and stub.throttled == {1}
    # few-tile layers alone over the budget: the others keep their floor (0.1 x 9)
    calls.clear()
    stub.active = {0: _active_layer(6.0, 2), 2: _active_layer(5.0, 1), 1: _active_layer(9.0, 40)}
    MoCA._rebalance(stub)
    assert calls == [("set", 1, 1024, int(0.9 * 1024), 2)]
    # only few-tile layers run: nobody is throttled, the earlier throttle is lifted
    calls.clear()
    stub.active = {0: _active_layer(6.0, 2), 2: _active_layer(9.0, 1)}
    MoCA._rebalance(stub)
    assert calls == [("clear", 1)] and stub.throttled == set()


def test_moca_memory_aware_pairing():
    from types import SimpleNamespace as NS

    from npusim.policies.moca import MoCA

    # four task slots, budget 8 B/cycle: one slot's share is 2
    tenants = [NS(index=i, running=0) for i in range(4)]
    stub = NS(budget=8.0, intensity={0: 5.0, 1: 6.0, 2: 0.5, 3: 1.0},
              opts={"pairing": True, "pair_window": 2}, sim=NS(core_groups=[(0, 1)] * 4, tenants=tenants))
    stub._fair_share = MoCA._fair_share.__get__(stub)
    # a slot is a core group when there is a pool (more tenants than groups queue), else a tenant
    assert MoCA._fair_share(NS(budget=8.0, sim=NS(core_groups=[(0, 1)] * 4, tenants=tenants * 2))) == 2.0
    assert MoCA._fair_share(NS(budget=8.0, sim=NS(core_groups=[], tenants=tenants * 2))) == 1.0
    ranked = [NS(tenant=1), NS(tenant=2), NS(tenant=3)]

    def order(tasks):  # the ranking comes lazily, as in a dispatch
        return list(MoCA.order(stub, iter(tasks)))

    assert order(ranked) == ranked  # nothing running: ranking order
    tenants[0].running = 1  # a memory-bound task runs (5 > 2): the compute-bound one goes first
    assert [k.tenant for k in order(ranked)] == [2, 1, 3]
    stub.opts["pair_window"] = 1  # pairing may not reach past the window
    assert order(ranked) == ranked
    stub.opts["pair_window"] = 2
    tenants[0].running, tenants[3].running = 0, 1  # a compute-bound task runs: ranking order
    assert order(ranked) == ranked
    # it looks no further than the window before a dispatch takes the first task
    tenants[0].running, tenants[3].running = 1, 0
    pulled = []
    first = next(iter(MoCA.order(stub, (pulled.append(k) or k for k in ranked))))
    assert first.tenant == 2 and len(pulled) == 2
    # "below one slot's share" is strict, for the waiting task and for what runs
    stub.intensity[2] = 2.0
    assert order(ranked) == ranked
    stub.intensity[2], stub.intensity[0] = 0.5, 2.0
    assert order(ranked) == ranked
    stub.intensity[0] = 5.0
    # a compute-bound task whose tenant already runs one cannot start (one request at a
    # time): the next compute-bound one in the window is the partner
    stub.opts["pair_window"] = 3
    tenants[2].running = 1  # 5 + 0.5 over two slots' 4
    assert [k.tenant for k in order(ranked)] == [3, 1, 2]
    tenants[2].running = 0
    stub.opts["pairing"] = False
    assert order(ranked) == ranked


def test_load_throttle_limits_a_tenants_load_rate():
    from npusim.engine.memory import MemoryHierarchy
    from npusim.soc import load_soc

    soc = load_soc("gemmini-moca")
    lines = 4096
    starts = np.arange(0, lines * 64, 64 * 64, dtype=np.int64)
    lengths = np.full(starts.shape, 64 * 64, dtype=np.int64)
    readers = np.ones_like(starts)
    empty = (np.zeros(0, np.int64),) * 3
    times = {}
    for target in (None, 4096):  # 4 bytes per cycle
        mem = MemoryHierarchy(soc, 1)
        if target:
            mem.set_throttle(0, 1024, target, cores=2)
        times[target] = mem.read(0, 0, 2, (starts, lengths, readers), empty, empty)
    # the last window's overshoot is charged to later loads, so a little under 4 B/cycle
    assert lines * 64 / 4 * 0.85 <= times[4096] < lines * 64 / 4  # 58 396 cycles: never slower than the rate
    assert times[None] < times[4096] / 3


def test_moca_serves_the_high_priority_tenant_better_than_shared():
    data = {"soc": "gemmini-moca", "core_pool": 2, "scheduler": "priority",
            "tenants": [{"workload": "alexnet", "priority": 11}, {"workload": "alexnet", "priority": 0},
                        {"workload": "yolov2", "priority": 0}, {"workload": "googlenet", "priority": 0}]}
    lat = {}
    for policy in ("shared", "moca"):
        sim = _sim({**data, "policy": policy})
        lat[policy] = {k.tenant: k.latency for k in sim.tasks}
    assert lat["moca"][0] < 0.9 * lat["shared"][0]
    assert lat["moca"][1] > lat["shared"][1]  # the low-priority twin pays for it


# -- PREMA and static -------------------------------------------------------------------

def _prema_at_5000_cycles(policy):
    """A prema policy at cycle 5000 and a priority-2 kws request that arrived at 1000
    (isolated latency 1000 cycles)."""
    from types import SimpleNamespace as NS

    sc = scenario_from_dict({"soc": "gemmini-moca", "policy": policy,
                             "tenants": [{"workload": "kws", "priority": 2}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.tenants[0].isolated_latency = 1000
    sim.policy.setup()
    sim.env.run(until=5000)
    return sim.policy, NS(tenant=0, index=0, arrival=1000)


def test_prema_tokens_grow_by_priority_times_waiting_over_isolated_latency():
    """PREMA (docs/POLICIES.md): a task's tokens start at its priority level (priority + 1)
    and grow by that level x the time it waited, not ran, over its isolated latency."""
    pol, task = _prema_at_5000_cycles("prema")
    assert pol._tokens(task) == pytest.approx(3 * (1 + 4000 / 1000))  # waited since arrival: 15
    pol._ran_cycles[(0, 0)] = 1500  # 1500 of those 4000 cycles it ran: they earn nothing
    assert pol._tokens(task) == pytest.approx(3 * (1 + 2500 / 1000))  # 10.5
    # while it runs, its current stretch on the NPU does not count as waiting either
    pol._on_npu, pol._segment_start[(0, 0)] = (0, 0), 4000
    assert pol._tokens(task) == pytest.approx(3 * (1 + 1500 / 1000))  # 7.5


def test_prema_adds_up_the_cycles_a_request_ran_over_its_layers():
    """Each layer end adds the stretch since the last one to the request's run time, which its
    tokens then do not count as waiting: 100 + 150 cycles run of 400 since arrival."""
    from types import SimpleNamespace as NS

    pol, task = _prema_at_5000_cycles("prema")
    env, key = pol.sim.env, (0, 0)
    pol._on_npu, pol._segment_start[key] = key, 5000
    layer_end = NS(tenant=0, index=0, stage=0)
    env.run(until=5100)
    pol.release(None, 0, None, layer_end)
    env.run(until=5250)
    pol.release(None, 1, None, layer_end)
    assert pol._ran_cycles[key] == 250 and pol._progress == (key, 0, 2)
    pol._on_npu = None  # it left the NPU at its last layer end
    env.run(until=5400)
    assert pol._tokens(NS(tenant=0, index=0, arrival=5000)) == pytest.approx(3 * (1 + 150 / 1000))


def test_prema_threshold_is_the_highest_level_the_most_tokens_reach():
    # priorities 0, 2 and 8 are PREMA's levels 1, 3 and 9
    sc = scenario_from_dict({"soc": "gemmini-moca", "policy": "prema",
                             "tenants": [{"workload": "kws", "priority": p} for p in (8, 0, 2)]}, "<test>")
    pol = Simulation(sc, mapper=Mapper(sc.soc)).policy
    pol.setup()
    assert pol.levels == [1, 3, 9]
    assert [pol._threshold(m) for m in (1.0, 2.99, 3.0, 8.99, 9.0, 250.0)] == [1, 1, 3, 3, 9, 9]


def test_prema_tokens_exactly_at_the_threshold_make_a_candidate():
    """Levels 1 and 3 (priorities 0 and 2): with 3.5 tokens the threshold is 3, and a task
    holding exactly 3 is a candidate too, so the shorter of the two runs first."""
    from types import SimpleNamespace as NS

    sc = scenario_from_dict({"soc": "gemmini-moca", "policy": "prema",
                             "tenants": [{"workload": "kws", "priority": p} for p in (0, 2)]}, "<test>")
    pol = Simulation(sc, mapper=Mapper(sc.soc)).policy
    pol.setup()
    long_, short = NS(tenant=0, arrival=0, tokens=3.5, left=500), NS(tenant=1, arrival=0, tokens=3.0, left=100)
    pol._tokens = lambda task: task.tokens
    pol._remaining_cycles = lambda task: task.left
    keys = pol._select_keys([long_, short])
    assert keys == {0: (0, 500, 0, 0), 1: (0, 100, 0, 1)}
    short.tokens = 2.99  # below the threshold: not a candidate, whatever its remaining time
    assert pol._select_keys([long_, short])[1] == (1, 100, 0, 1)


def _prema_choice(drain: bool, running: dict, waiting: dict) -> bool:
    """Does a running task with `running` tokens, remaining and isolated cycles give the
    NPU up to one waiting with `waiting`'s, at a layer boundary?"""
    from types import SimpleNamespace as NS

    policy = "prema" if drain else {"name": "prema", "drain": False}  # drain is the default
    sc = scenario_from_dict({"soc": "gemmini-moca", "policy": policy,
                             "tenants": [{"workload": "kws", "priority": 0},
                                         {"workload": "kws", "priority": 8}]}, "<test>")
    pol = Simulation(sc, mapper=Mapper(sc.soc)).policy
    pol.setup()
    run, wait = NS(tenant=0, arrival=0, **running), NS(tenant=1, arrival=10, **waiting)
    pol.sim.tenants[0].isolated_latency, pol.sim.tenants[1].isolated_latency = running["iso"], waiting["iso"]
    pol.sim.ready = NS(heads=lambda: [wait])
    pol._tokens = lambda task: task.tokens
    pol._remaining_cycles = lambda task: task.left
    return pol.preempt(None, run)


@pytest.mark.parametrize("drain, running, waiting, preempts", [
    # both over the threshold (9): the shorter predicted remaining time runs, whoever holds
    # more tokens (the running task keeps the NPU against one with twice its tokens)
    (True, {"tokens": 9.0, "left": 100, "iso": 1000}, {"tokens": 20.0, "left": 300, "iso": 1000}, False),
    (True, {"tokens": 9.0, "left": 300, "iso": 1000}, {"tokens": 9.5, "left": 100, "iso": 1000}, True),
    # the running task is below the threshold: the waiting one is the only candidate. Preempting
    # slows the running task by 50 / 1000, draining slows the waiting one by 100 / 200: preempt
    (True, {"tokens": 1.0, "left": 100, "iso": 1000}, {"tokens": 9.5, "left": 50, "iso": 200}, True),
    # ... but by 500 / 1000 against 10 / 1000: the running task drains (finishes first)
    (True, {"tokens": 1.0, "left": 10, "iso": 1000}, {"tokens": 9.5, "left": 500, "iso": 1000}, False),
    (False, {"tokens": 1.0, "left": 10, "iso": 1000}, {"tokens": 9.5, "left": 500, "iso": 1000}, True),
    # ties in remaining time go to the earlier arrival: the running task
    (True, {"tokens": 9.0, "left": 100, "iso": 1000}, {"tokens": 9.0, "left": 100, "iso": 1000}, False),
])
def test_prema_preempts_for_the_shortest_candidate(drain, running, waiting, preempts):
    assert _prema_choice(drain, running, waiting) is preempts


def _prema_sim(policy, tenants: list[dict], iso_cycles: list[int], **scenario) -> Simulation:
    sc = scenario_from_dict({"soc": "gemmini-moca", "policy": policy, "tenants": tenants, **scenario}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    for t, iso in zip(sim.tenants, iso_cycles):  # about their isolated latencies on this SoC
        t.isolated_latency = iso
    return sim.run()


def test_prema_runs_the_shortest_of_the_candidates_first():
    """Two requests of one priority arrive at once; kws, first in, starts alone. At its
    first layer boundary squeezenet holds the threshold's tokens too and is predicted to
    finish sooner (about half of kws): it takes the NPU, and kws resumes when it is done.
    (By the most tokens alone kws, ahead by the same waiting time, would keep running.)"""
    sim = _prema_sim("prema", [{"workload": "kws", "priority": 4}, {"workload": "squeezenet", "priority": 4}],
                     [1_400_000, 750_000])
    kws, squeezenet = sorted(sim.tasks, key=lambda k: k.tenant)
    first_layer_end = min(r.end for r in sim.layers)
    assert kws.start == 0 and squeezenet.start == first_layer_end and kws.preemptions == 1
    assert squeezenet.preemptions == 0 and squeezenet.finish < kws.finish
    assert [r.start for r in sim.layers if r.tenant == 0][1] == squeezenet.finish  # kws resumes


@pytest.mark.parametrize("drain", [True, False])
def test_prema_drains_a_task_that_would_lose_more_by_preemption(drain):
    """A long high-priority request arriving while a short low-priority one runs: PREMA's
    dynamic mechanism lets the short one finish (DRAIN); with `drain: false` it preempts."""
    sim = _prema_sim({"name": "prema", "drain": drain},
                     [{"workload": "squeezenet", "priority": 0},
                      {"workload": "kws", "priority": 11, "arrival": "times", "arrival_cycles": [100000]}],
                     [750_000, 1_400_000])
    low, high = sorted(sim.tasks, key=lambda k: k.tenant)
    if drain:
        assert low.preemptions == 0 and high.start == low.finish
    else:
        assert low.preemptions == 1 and high.start < low.finish and low.start < high.finish < low.finish


@pytest.mark.parametrize("drain", [True, False])
def test_prema_decides_at_an_expert_paths_stage_end_as_at_a_layer_boundary(drain):
    """An expert path's stage end is a layer boundary of its request: PREMA's DRAIN choice holds
    there too. The low-priority path (detector, resistor, capacitor, predicted to finish soon)
    drains against the long high-priority kws at every boundary; the stage end handed the NPU
    to kws as if `drain` were off (the path's first stage ends at 27457 cycles)."""
    sc = scenario_from_dict({"soc": "camdn", "seed": 2, "policy": {"name": "prema", "drain": drain}, "tenants": [
        {"workload": "coe_experts", "params": {"image_size": 64, "crop": 32}, "tasks": "graph",
         "arrival": "times", "arrival_cycles": [0], "priority": 0},
        {"workload": "kws", "arrival": "times", "arrival_cycles": [1000], "priority": 11}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.tenants[0].isolated_latency, sim.tenants[1].isolated_latency = 100_000, 180_000
    low, high = sorted(sim.run().tasks, key=lambda k: k.tenant)
    assert low.pathway == ("detector", "resistor", "capacitor")
    if drain:  # the path runs to its end, then kws
        assert low.preemptions == 0 and high.start == low.finish
        assert [s["start_cycle"] for s in sim.stages[1:]] == [s["end_cycle"] for s in sim.stages[:-1]]
    else:  # kws takes the NPU at the path's first layer boundary
        assert low.preemptions == 1 and low.start < high.start < high.finish < low.finish


def test_prema_resumes_a_preempted_request_before_its_tenants_next_whatever_the_scheduler():
    """Two squeezenet requests arrive in the same cycle; kws preempts the first. A tenant runs its
    requests oldest first, ties by request number (prema's `ready_key`), whatever the scenario's
    scheduler: under `priority` the preempted request went behind the other (the ready queue
    ordered ties by joining, and a preempted request joins again) and the two ran interleaved."""
    runs = []
    for scheduler in ("priority", "fcfs"):
        sim = _prema_sim({"name": "prema", "drain": False},
                         [{"workload": "squeezenet", "priority": 0, "arrival": "times", "arrival_cycles": [0, 0]},
                          {"workload": "kws", "priority": 11, "arrival": "times", "arrival_cycles": [100000]}],
                         [750_000, 1_400_000], scheduler=scheduler)
        first, second, high = sorted(sim.tasks, key=lambda k: (k.tenant, k.index))
        assert first.preemptions == 1 and first.start < high.start < high.finish < first.finish
        assert second.start == first.finish and second.preemptions == 0
        runs.append([(k.tenant, k.index, k.start, k.finish) for k in sim.tasks])
    assert runs[0] == runs[1]


def test_prema_score_is_the_moca_artifacts_priority_and_age_over_cap_isolated_latencies():
    """`rank: score` (MoCA's PREMA baseline, docs/POLICIES.md): priority x 1e5 plus 1e5 x the
    time since arrival, running included, over cap x isolated latency, floored as in its C."""
    for cap, expect in ((4, 200_000 + 100_000), (3, 200_000 + 133_333)):
        pol, task = _prema_at_5000_cycles({"name": "prema", "rank": "score", "cap": cap})
        assert pol._score(task) == expect
        pol._ran_cycles[(0, 0)] = 1500  # unlike PREMA's tokens, running time counts too
        assert pol._score(task) == expect
    assert pol._select_keys([task]) == {0: (0, -expect, 1000, 0)}


def test_prema_by_score_keeps_the_higher_priority_where_prema_runs_the_shortest():
    """kws (priority 4) starts first, squeezenet (priority 3, about half its time) at once.
    By score kws's extra 1e5 holds for as long as squeezenet's age is worth less than a
    level: kws runs to its end. PREMA's tokens bring squeezenet up to kws's level after
    a quarter of its isolated latency's wait, and then the shorter job takes the NPU."""
    tenants = [{"workload": "kws", "priority": 4}, {"workload": "squeezenet", "priority": 3}]
    sim = _prema_sim({"name": "prema", "rank": "score"}, tenants, [1_400_000, 750_000])
    kws, squeezenet = sorted(sim.tasks, key=lambda k: k.tenant)
    assert kws.start == 0 and kws.preemptions == 0 and squeezenet.start == kws.finish
    sim = _prema_sim("prema", tenants, [1_400_000, 750_000])
    kws, squeezenet = sorted(sim.tasks, key=lambda k: k.tenant)
    assert kws.preemptions == 1 and 750_000 / 4 <= squeezenet.start < squeezenet.finish < kws.finish


def test_prema_by_score_preempts_for_a_higher_priority_and_later_for_age():
    """Priority 1 arriving while priority 0 runs: 100 000 points against 3 333 (100 000 cycles
    over 4 x 750 000), so it takes the NPU at the next layer boundary (drain off, as in MoCA's
    baseline). When the running task's age is worth more than a level, it keeps the NPU."""
    tenants = [{"workload": "squeezenet", "priority": 0},
               {"workload": "kws", "priority": 1, "arrival": "times", "arrival_cycles": [100000]}]
    sim = _prema_sim({"name": "prema", "rank": "score", "drain": False}, tenants, [750_000, 1_400_000])
    low, high = sorted(sim.tasks, key=lambda k: k.tenant)
    assert low.preemptions == 1 and low.start < high.start < high.finish < low.finish
    # cap 1 and an isolated latency of 50 000 cycles: when kws arrives squeezenet's age is worth
    # 200 000 points, kws's level 100 000: squeezenet keeps the NPU, and kws's age never catches up
    sim = _prema_sim({"name": "prema", "rank": "score", "drain": False, "cap": 1}, tenants, [50_000, 1_400_000])
    low, high = sorted(sim.tasks, key=lambda k: k.tenant)
    assert low.preemptions == 0 and high.start == low.finish


def test_prema_runs_one_task_at_a_time():
    sim = _sim({"soc": "gemmini-moca", "policy": {"name": "prema", "drain": False}, "scheduler": "priority",
                "tenants": [{"workload": "squeezenet", "priority": 2, "requests": 2},
                            {"workload": "kws", "priority": 9, "arrival": "times",
                             "arrival_cycles": [100000, 900000]}]})
    spans = sorted((r.start, r.end) for r in sim.layers)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert s1 >= e0  # whole-NPU time multiplexing: layers never overlap
    assert all(len(r.cores) == 8 for r in sim.layers)
    # the high-priority arrivals preempt the running low-priority task
    assert sum(k.preemptions for k in sim.tasks if k.tenant == 0) >= 1


@pytest.mark.parametrize("scheduler", ["fcfs", "priority"])
def test_prema_gives_the_npu_to_the_task_that_preempted(scheduler):
    """A preemption is a switch: the task PREMA chose starts next, whatever the scenario's
    scheduler (under fcfs the preempted task, first in, used to start again)."""
    sim = _sim({"soc": "gemmini-moca", "policy": {"name": "prema", "drain": False}, "scheduler": scheduler,
                "tenants": [{"workload": "squeezenet", "priority": 0},
                            {"workload": "kws", "priority": 11, "arrival": "times", "arrival_cycles": [100000]}]})
    low, high = sorted(sim.tasks, key=lambda k: k.tenant)
    assert low.preemptions >= 1 and high.start < low.finish
    order = [(r.tenant, r.task) for r in sorted(sim.layers, key=lambda r: r.start)]
    last = {key: i for i, key in enumerate(order)}
    switches_away = sum(1 for i, (a, b) in enumerate(zip(order, order[1:])) if a != b and last[a] > i)
    assert switches_away == sum(k.preemptions for k in sim.tasks)
    from npusim.metrics import build_result

    assert build_result(sim, policy="prema").tasks.preemptions.tolist() == [low.preemptions, high.preemptions]


def test_static_keeps_each_tenant_on_its_group():
    sim = _sim({"soc": "gemmini-moca", "policy": "static", "core_pool": 2,
                "tenants": [{"workload": w, "requests": 2} for w in ("squeezenet", "kws", "yolo_lite")]})
    cores = {}
    for r in sim.layers:
        cores.setdefault(r.tenant, set()).add(r.cores)
    assert all(len(c) == 1 for c in cores.values())
    assert len({next(iter(c)) for c in cores.values()}) == 3  # distinct groups


# -- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("policy, expect", [
    ("camdn", "camdn needs NPU-controlled LLC ways"),
    ("camdn-hw", "camdn-hw needs NPU-controlled LLC ways"),
])
def test_camdn_on_a_soc_without_npu_ways(cli, tmp_path, policy, expect):
    r = cli("run", "--soc", "gemmini-moca", "--mix", "kws", "--policy", policy, "--quiet")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0]


def test_camdn_hw_needs_a_page_per_tenant(cli):
    # 128 KiB x 12/16 NPU ways = 3 pages of 32 KiB: an equal share for 4 tenants is 0 pages each,
    # which left the NPU ways empty for the whole run; 3 tenants still get one page each
    r = cli("run", "--policy", "camdn-hw", "--llc-size", "128KiB", "--cores", "4", "--mix", "kws,kws,kws,kws",
            "--quiet")
    assert r.returncode == 2
    assert r.stderr == ("error: <command line>: --policy: camdn-hw needs at least one region page per tenant: "
                        "3 pages (96KiB of NPU ways in 32KiB pages) for 4 tenants\n")
    sc = scenario_from_flags(mix=["kws"] * 3, policy="camdn-hw", soc="camdn",
                             soc_override={"--llc-size": "128KiB", "--cores": "4"})
    assert get_policy("camdn-hw").soc_problem(sc) is None
    assert get_policy("camdn").soc_problem(scenario_from_flags(  # the dynamic policy shares 3 pages among 4
        mix=["kws"] * 4, policy="camdn", soc="camdn", soc_override={"--llc-size": "128KiB", "--cores": "4"})) is None


@pytest.mark.parametrize("policy, field", [
    ("{name: moca, window_cycles: 0}", "policy.window_cycles"),
    ("{name: camdn, alpha: 1.5}", "policy.alpha"),
    ("{name: camdn, beta: -0.1}", "policy.beta"),
    ("{name: moca, floor: 2}", "policy.floor"),
    ("{name: camdn, gamma: 1}", "policy.gamma"),
    ("{name: moca, pairing: 3}", "policy.pairing"),
    ("{name: moca, pair_window: 0}", "policy.pair_window"),
    ("{name: prema, drain: 3}", "policy.drain"),
    ("{name: moca, rate_of: dram_bytes}", "policy.rate_of"),
    ("{name: moca, rate_of: 1}", "policy.rate_of"),
    ("{name: prema, hysteresis: 0.1}", "policy.hysteresis"),  # gone: PREMA's threshold decides
    ("{name: prema, rank: tokens}", "policy.rank"),
    ("{name: prema, rank: score, cap: 0}", "policy.cap"),
    ("{name: prema, cap: 2.5}", "policy.cap"),
])
def test_bad_policy_options(cli, tmp_path, policy, field):
    f = tmp_path / "s.yaml"
    f.write_text(f"soc: camdn\npolicy: {policy}\ntenants:\n  - workload: kws\n")
    r = cli("run", "--scenario", str(f), "--quiet")
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {f}:2: {field}: ") and len(r.stderr.strip().splitlines()) == 1


def test_numbers_in_scientific_notation_are_numbers(tmp_path):
    from npusim.errors import InputError
    from npusim.scenario import load_scenario

    f = tmp_path / "s.yaml"
    f.write_text("soc: camdn\npolicy: {name: camdn, alpha: 5e-1, beta: 3E-1}\ntenants:\n"
                 "  - {workload: kws, arrival: poisson, rate_per_mcycle: 5e-2, requests: 2}\n")
    sc = load_scenario(f)
    assert dict(sc.policy.options) == {"alpha": 0.5, "beta": 0.3}
    assert sc.tenants[0].rate_per_mcycle == 0.05
    # a whole number written so is still a float where an integer is expected: named as such
    f.write_text("soc: camdn\npolicy: {name: moca, window_cycles: 1e3}\ntenants:\n  - workload: kws\n")
    with pytest.raises(InputError) as err:
        load_scenario(f)
    assert err.value.line == 2 and err.value.field == "policy.window_cycles" and "1000.0" in err.value.message


def test_region_fills_come_from_the_lru_ways_when_they_hold_the_line():
    # the LLC is one cache: a resident tensor the LRU ways already hold (the producer's
    # output) fills its pages without a DRAM read; lines outside every resident tensor
    # go through the LRU ways like unplaced data and hit there the second time
    from npusim.engine.memory import MemoryHierarchy
    from npusim.soc import load_soc

    soc = load_soc("camdn")
    lb = soc.llc.line_bytes
    empty = (np.zeros(0, np.int64),) * 3

    def runs(lo, n_lines):
        return (np.array([lo], np.int64), np.array([n_lines * lb], np.int64), np.ones(1, np.int64))

    mem = MemoryHierarchy(soc, 1, unplaced_via_cache=True)
    mem.write(0, 0, runs(0, 100), empty, empty)  # the producer's output, through the LRU ways
    mem.residency[0].add(0, 200 * lb, lb)  # resident: 100 lines in the LLC, 100 not
    mem.read(0, 0, 1, empty, runs(0, 200), empty)
    c = mem.counters[0]
    assert (c.region_llc_fills, c.region_fills, c.dram_read_bytes) == (100, 100, 100 * lb)
    mem.read(0, 0, 1, empty, runs(0, 200), empty)  # all in the region now
    assert (c.region_hits, c.dram_read_bytes) == (200, 100 * lb)
    for _ in range(2):  # 50 lines past the resident tensor: a miss, then a hit in the LRU ways
        mem.read(0, 0, 1, empty, runs(200 * lb, 50), empty)
    assert (c.cache_misses, c.cache_hits, c.dram_read_bytes) == (50, 50, 150 * lb)
    direct = MemoryHierarchy(soc, 1)  # without unplaced_via_cache they bypass the LLC every time
    direct.residency[0].add(0, 200 * lb, lb)
    for _ in range(2):
        direct.read(0, 0, 1, empty, runs(200 * lb, 50), empty)
    assert (direct.counters[0].bypass_lines, direct.counters[0].dram_read_bytes) == (100, 100 * lb)


def _camdn_before_run(alpha: float = 0.5, beta: float = 0.3) -> Simulation:
    sc = scenario_from_dict({"soc": "camdn", "policy": {"name": "camdn", "alpha": alpha, "beta": beta},
                             "tenants": [{"workload": w} for w in ("resnet50", "vit_b16", "bert_base")]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.policy.setup()  # what run() does first; no task is started
    return sim


def test_camdn_pages_available_soon_by_hand():
    from npusim.policies.camdn import _Request

    pol = _camdn_before_run(alpha=0.25).policy
    pol.free_pages = 100
    pol.queue.append(_Request(2, 10, None))  # queued ahead: not available
    pol.state[1].held, pol.state[1].unit, pol.state[1].expected_end = 20, object(), 50
    pol.state[2].held, pol.state[2].unit, pol.state[2].expected_end = 30, object(), 500
    pol._next_request = {1: 8, 2: 40}.get
    # tenant 1 ends within the look-ahead: its 20 pages minus alpha x its next request (8)
    assert pol._available_soon(0, 100) == pytest.approx(100 - 10 + 20 - 0.25 * 8)
    assert pol._available_soon(0, 1000) == pytest.approx(100 - 10 + 20 - 0.25 * 8 + 30 - 0.25 * 40)
    assert pol._available_soon(1, 100) == pytest.approx(100 - 10)  # its own pages are not "released soon"
    # "within the look-ahead" includes its end: a unit ending exactly then counts, one a cycle later not
    assert pol._available_soon(0, 50) == pytest.approx(100 - 10 + 20 - 0.25 * 8)
    assert pol._available_soon(0, 49) == pytest.approx(100 - 10)
    # a tenant holding no pages releases none: its next request is not subtracted either
    pol.state[2].held = 0
    assert pol._available_soon(0, 1000) == pytest.approx(100 - 10 + 20 - 0.25 * 8)


def test_camdn_next_request_is_the_best_unit_after_the_one_held():
    """The next request of a tenant holding layers 2..3 is the best unit starting at layer 4
    (block units first, else layer units); before its first unit, layer 0; after its last, none."""
    from types import SimpleNamespace as NS

    pol = _camdn_before_run().policy
    asked = []
    pol._block_units = lambda t, layer, pages: asked.append(("block", layer)) or []
    pol._layer_units = lambda t, layer, pages: asked.append(("layer", layer)) or [NS(pages=layer * 10 + 1)]
    pol.state[0].unit = NS(first=2, last=3)
    assert pol._next_request(0) == 41 and asked == [("block", 4), ("layer", 4)]
    pol.state[0].unit = None
    assert pol._next_request(0) == 1
    asked.clear()
    pol.state[0].unit = NS(first=0, last=len(pol.sim.tenants[0].trace.layers) - 1)
    assert pol._next_request(0) == 0 and asked == []


def _acquire(sim, tenant: int, layer: int, free_at: int | None = None) -> dict:
    """Run CaMDN's acquire for one layer while tenant 1 holds every page (expected to
    end at once, so the estimate says they come soon); tenant 1 frees them at `free_at`."""
    pol, env = sim.policy, sim.env
    pol.free_pages = 0
    pol.state[1].held, pol.state[1].unit, pol.state[1].expected_end = pol.total_pages, object(), 0
    pol._next_request = lambda j: 0
    out = {}

    def run():
        plan = yield from pol.acquire(sim.tenants[tenant], layer, None)
        out["plan"], out["cycle"] = plan, env.now

    def free():
        yield env.timeout(free_at)
        pol._free(1)

    env.process(run())
    if free_at is not None:
        env.process(free())
    env.run()
    return out


def test_camdn_takes_the_largest_candidate_that_fits_exactly_at_once():
    from npusim.policies.camdn import _Request

    sim = _camdn_before_run(beta=0.3)
    pol, t = sim.policy, sim.tenants[0]
    layer = next(i for i in range(len(t.trace.layers)) if len(_units_largest_first(pol, t, i)) >= 2)
    units = _units_largest_first(pol, t, layer)
    looked = []
    available_soon = pol._available_soon
    pol._available_soon = lambda tenant, lookahead: looked.append(lookahead) or available_soon(tenant, lookahead)
    pol.free_pages = units[0].pages  # no page to spare, none to come
    out = {}

    def run():
        out["plan"] = yield from pol.acquire(t, layer, None)
        out["cycle"] = sim.env.now

    sim.env.process(run())
    sim.env.run()
    assert out == {"plan": units[0].plans[layer], "cycle": 0} and pol.free_pages == 0
    assert looked == [pytest.approx(0.3 * max(1, units[0].predicted_cycles))]  # the largest candidate's look-ahead
    # a queued request for exactly the free pages is granted
    pol.free_pages, pol.state[2].held = 7, 0
    req = _Request(2, 7, sim.env.event())
    pol.queue.append(req)
    pol._grant()
    assert req.granted and pol.free_pages == 0 and pol.state[2].held == 7 and not pol.queue


def test_camdn_steps_down_to_a_strictly_smaller_candidate():
    from collections import deque

    from npusim.policies.camdn import Unit

    sim = _camdn_before_run(beta=0.3)
    pol, t = sim.policy, sim.tenants[0]
    plan = t.plan(0, 0)
    # a block and a layer candidate of one size: after waiting for one, the other is no better
    pol._block_units = lambda *a: [Unit(0, 1, {0: plan}, 10)]
    pol._layer_units = lambda *a: [Unit(0, 0, {0: plan}, 10), Unit(0, 0, {0: plan}, 5), Unit(0, 0, {0: plan}, 0)]
    asked, grant = [], pol._grant

    def recording_grant():  # the tenant's request as each grant sees it: (which request, pages)
        asked.extend((id(r), r.pages) for r in pol.queue)
        grant()

    pol._grant, pol.queue, pol.free_pages = recording_grant, deque(), 0
    # tenant 1 holds every page and is expected to end now: worth waiting for, never freed
    pol.state[1].held, pol.state[1].unit, pol.state[1].expected_end = pol.total_pages, object(), 0
    pol._next_request = lambda j: 0
    sim.env.process(pol.acquire(t, 0, None))
    sim.env.run()
    # one wait for 10 pages (the block's; the layer's 10 are no smaller), one for 5, then none
    assert [pages for _, pages in asked] == [10, 5]
    assert len({r for r, _ in asked}) == 1 and not pol.queue  # one request kept its place, then left
    assert sim.env.now == 2 * math.ceil(0.3 * max(1, plan.predicted_cycles)) and pol.state[0].unit.pages == 0


def test_camdn_takes_a_fitting_whole_block_over_a_larger_layer_candidate():
    from npusim.policies.camdn import Unit

    sim = _camdn_before_run()
    pol, t = sim.policy, sim.tenants[0]
    plan = t.plan(0, 0)
    block = Unit(0, 3, {0: plan}, 2)
    pol._block_units = lambda *a: [block]
    pol._layer_units = lambda *a: [Unit(0, 0, {0: plan}, 6), Unit(0, 0, {0: plan}, 0)]
    sim.env.process(pol.acquire(t, 0, None))
    sim.env.run()
    assert pol.state[0].unit is block and pol.state[0].held == 2  # the layer's 6 pages fit too


def test_a_camdn_request_that_steps_down_keeps_its_place_in_the_queue():
    from collections import deque

    from npusim.policies.camdn import Unit, _Request

    sim = _camdn_before_run(beta=0.3)
    pol, t = sim.policy, sim.tenants[0]
    plan = t.plan(0, 0)
    pol._block_units = lambda *a: []
    pol._layer_units = lambda *a: [Unit(0, 0, {0: plan}, 6), Unit(0, 0, {0: plan}, 2), Unit(0, 0, {0: plan}, 0)]
    pol._available_soon = lambda tenant, lookahead: 6  # worth asking for 6
    pol.queue, pol.free_pages = deque(), 2
    sim.env.process(pol.acquire(t, 0, None))
    sim.env.run(until=1)  # tenant 0 waits for 6 pages at the head of the queue
    later = _Request(1, 3, sim.env.event())
    pol.queue.append(later)  # a later request that 2 free pages cannot serve either
    sim.env.run()
    # after the look-ahead tenant 0 steps down to 2 pages in its place, ahead of the later request
    assert pol.state[0].held == 2 and list(pol.queue) == [later] and not later.granted


@pytest.mark.parametrize("policy", ["camdn", "camdn-hw"])
def test_a_released_region_forgets_what_it_held(policy):
    """At the end of its unit a tenant's region is freed (camdn) or refilled by the
    next unit (camdn-hw): a tensor placed again is fetched again, not a region hit."""
    from npusim.policies.camdn import Unit

    sc = scenario_from_dict({"soc": "camdn", "policy": policy,
                             "tenants": [{"workload": "kws"}, {"workload": "squeezenet"}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.policy.setup()
    pol, mem, t = sim.policy, sim.memory, sim.tenants[0]
    lines = 64
    region = (np.array([0], np.int64), np.array([lines * 64], np.int64), np.array([1], np.int64))
    empty = (np.zeros(0, np.int64),) * 3

    def read_region() -> tuple[int, int]:
        before = (mem.counters[0].region_fills, mem.counters[0].region_hits)
        mem.read(0, 0, 1, empty, region, empty)
        return mem.counters[0].region_fills - before[0], mem.counters[0].region_hits - before[1]

    mem.residency[0].add(0, lines * 64, 64)
    assert read_region() == (lines, 0) and read_region() == (0, lines)
    pol.state[0].held = pol.state[0].held or 4
    pol.state[0].unit = Unit(0, 0, {}, pol.state[0].held)
    pol.release(t, 0, None, None)  # the unit's last layer ends
    assert pol.state[0].unit is None
    mem.residency[0].add(0, lines * 64, 64)  # the next unit places the same tensor
    assert read_region() == (lines, 0)


@pytest.mark.parametrize("policy", ["camdn", "camdn-hw"])
def test_a_units_region_never_holds_more_lines_than_its_pages(policy):
    """Property: at every layer end the lines present in a tenant's region fit the pages of
    its unit. A fused block's pages are its largest layer's footprint, so what earlier
    layers of the block placed and no later one reads must leave the region."""
    sc = scenario_from_dict({"soc": "camdn", "soc_overrides": {"llc_size": "4MiB", "cores": 4}, "policy": policy,
                             "tenants": [{"workload": "kws"}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    pol, res, line_bytes = sim.policy, sim.memory.residency[0], sc.soc.llc.line_bytes
    checked, release = [], pol.release

    def checking_release(t, li, plan, task):
        unit = pol.state[0].unit
        present_bytes = int(np.count_nonzero(res.arrays()[3])) * line_bytes
        assert present_bytes <= unit.pages * pol.page_bytes, (t.trace.layers[li].name, present_bytes, unit.pages)
        checked.append(unit.last > unit.first and unit.pages > 0 and li > unit.first)
        release(t, li, plan, task)

    pol.release = checking_release
    sim.run()
    assert len(checked) == len(sim.tenants[0].trace.layers) and any(checked)  # later layers of fused blocks too


def test_a_later_layer_of_a_block_finds_only_what_its_plan_keeps_in_the_region():
    """A residual add re-reads the block's input, which the block's first layer placed
    in the region: the add reads its whole input from the region (the projection's output
    is there already) and its plan counts the shortcut, so the shortcut stays too."""
    sc = scenario_from_dict({"soc": "camdn", "policy": "camdn", "tenants": [{"workload": "bert_base"}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.policy.setup()
    pol, t = sim.policy, sim.tenants[0]
    layers, lay, res = t.trace.layers, t.layout, sim.memory.residency[0]
    first = next(f for f in pol.state[0].blocks if layers[f].name == "encoder.0.qkv")
    unit = next(u for u in pol._block_units(t, first, pol.total_pages)
                if u.plans[first].resident in ("inputs", "both"))
    add = next(i for i in range(unit.first, unit.last + 1) if layers[i].name == "encoder.0.add1")
    block_input = lay.output_base[layers[first].inputs[0]]
    assert block_input in {lo for lo, _ in t.resident_ranges(first, unit.plans[first])}  # placed by qkv
    assert layers[first].inputs[0] in layers[add].inputs  # and read again by the add
    pol.state[0].unit = unit
    placed = set()
    for li in range(unit.first, add + 1):
        if li > unit.first:  # inside the unit: the plan at once, no wait
            with pytest.raises(StopIteration) as got:
                next(pol.acquire(t, li, None))
            assert got.value.value == unit.plans[li]
        for lo, hi in t.resident_ranges(li, unit.plans[li]):
            res.add(lo, hi, sim.memory.line_bytes)
            placed.add(lo)
    kept = set(res.lo)
    plan = unit.plans[add]
    assert plan.input_in_region and plan.resident in ("inputs", "both")
    assert block_input in kept
    assert plan.region_bytes >= layers[add].input_bytes  # both operands, counted
    # the add's own input from inside the block (the projection's output) stays
    assert lay.output_base["encoder.0.proj"] in kept
    # and only that: what the add's plan holds and the block's outputs made so far; the
    # earlier layers' weights are gone
    made = {lay.output_base[layers[i].name] for i in range(unit.first, add + 1)}
    assert kept <= {lo for lo, _ in t.resident_ranges(add, plan)} | made
    weights = {lay.weight_base[layers[i].name] for i in range(unit.first, add) if layers[i].name in lay.weight_base}
    assert placed & weights and not kept & weights


def test_camdn_lru_plans_count_on_one_tenants_share_of_the_lru_ways():
    sim = _camdn_before_run()
    llc = sim.scenario.soc.llc
    lru_bytes = llc.size_bytes * (llc.ways - llc.npu_ways) // llc.ways
    assert sim.policy.lru_mapper.memory.llc_size_bytes == lru_bytes // 3


def test_camdn_region_candidates_are_never_much_slower_than_the_no_page_plan():
    sc = scenario_from_dict({"soc": "camdn", "policy": "camdn", "tenants": [{"workload": "mobilenet_v2"}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.policy.setup()
    pol, t = sim.policy, sim.tenants[0]
    checked = 0
    for li in range(len(t.trace.layers)):
        units = pol._layer_units(t, li, pol.total_pages)
        zero = next(u for u in units if u.pages == 0).plans[li]
        for u in units:
            # at most 5 % slower (docs/POLICIES.md)
            assert u.plans[li].predicted_cycles <= zero.predicted_cycles * 1.05, (li, u.pages)
            checked += u.pages > 0
        # and each bigger allocation buys strictly fewer DRAM bytes
        dram = [u.plans[li].dram_bytes for u in sorted(units, key=lambda u: u.pages)]
        assert all(a > b for a, b in zip(dram, dram[1:])), (li, dram)
    assert checked >= 5


def test_camdn_region_candidates_may_be_up_to_5_percent_slower_than_the_no_page_plan():
    """A bigger allocation is kept when it buys fewer DRAM bytes and is at most 5 % slower than the
    no-page plan (10 000 cycles here): 4 % and exactly 5 % slower stay, 5.01 % is dropped."""
    from types import SimpleNamespace as NS

    pol = _camdn_before_run().policy
    pg = pol.page_bytes
    plans = {pg: NS(region_bytes=pg, dram_bytes=800, predicted_cycles=10_400),
             2 * pg: NS(region_bytes=2 * pg, dram_bytes=600, predicted_cycles=10_500),
             3 * pg: NS(region_bytes=3 * pg, dram_bytes=400, predicted_cycles=10_501)}
    pol.ladder = tuple(plans)
    pol._zero_page_plan = lambda t, li: NS(region_bytes=0, dram_bytes=1000, predicted_cycles=10_000)
    units = pol._build_layer_units(NS(plan=lambda li, budget: plans[budget]), 0, 10)
    assert [u.pages for u in units] == [2, 1, 0]
    assert [u.plans[0].dram_bytes for u in units] == [600, 800, 1000]


def test_camdn_no_page_plan_is_the_faster_of_the_lru_and_bypass_mappings():
    from types import SimpleNamespace as NS

    pol = _camdn_before_run().policy

    def zero(lru, bypass):
        pol.lru_mapper = NS(plan=lambda layer, n_cores, budget: lru)
        return pol._zero_page_plan(NS(trace=NS(layers=[None]), n_cores=8, plan=lambda li, budget: bypass), 0)

    fast, slow = NS(predicted_cycles=100, dram_bytes=900), NS(predicted_cycles=200, dram_bytes=10)
    assert zero(fast, slow) is fast and zero(slow, fast) is fast
    # as fast: the one that moves fewer DRAM bytes
    fewer = NS(predicted_cycles=100, dram_bytes=500)
    assert zero(fast, fewer) is fewer and zero(fewer, fast) is fewer


def _units_largest_first(pol, t, layer):
    units = pol._block_units(t, layer, pol.total_pages) + pol._layer_units(t, layer, pol.total_pages)
    return sorted(units, key=lambda u: (-u.pages, -(u.last - u.first)))


def test_camdn_waits_for_released_pages_then_steps_down_one_candidate_at_a_time():
    import math

    sim = _camdn_before_run(beta=0.3)
    t = sim.tenants[0]
    layer = next(i for i in range(len(t.trace.layers))
                 if len({u.pages for u in _units_largest_first(sim.policy, t, i)}) >= 3)
    units = _units_largest_first(sim.policy, t, layer)
    # pages freed before the first wait ends: the largest candidate, at that moment
    got = _acquire(sim, 0, layer, free_at=3)
    assert got["cycle"] == 3 and got["plan"] == units[0].plans[layer]
    assert sim.policy.state[0].expected_end == 3 + units[0].predicted_cycles  # from when it got the pages
    # never freed: each candidate is waited for beta x its predicted cycles, then the next smaller one
    sim = _camdn_before_run(beta=0.3)
    units = _units_largest_first(sim.policy, sim.tenants[0], layer)
    waited, u = 0, units[0]
    while u.pages:
        waited += math.ceil(0.3 * max(1, u.predicted_cycles))
        u = next(v for v in units if v.pages < u.pages)
    got = _acquire(sim, 0, layer)
    assert got["cycle"] == waited and got["plan"] == u.plans[layer] and u.pages == 0
    assert not sim.policy.queue  # every withdrawn request left the queue


def _moca_before_run(**opts) -> Simulation:
    sc = scenario_from_dict({"soc": "gemmini-moca", "core_pool": 2, "scheduler": "priority",
                             "policy": {"name": "moca", **opts},
                             "tenants": [{"workload": "alexnet", "priority": 4}, {"workload": "kws", "priority": 0},
                                         {"workload": "squeezenet", "priority": 9}]}, "<test>")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.policy.setup()
    return sim


def test_moca_score_is_priority_times_remaining_work_over_slack():
    from types import SimpleNamespace

    pol = _moca_before_run().policy
    pol.remaining[0] = np.array([4000.0, 1000.0])
    task = SimpleNamespace(arrival=0, target_cycles=6000.0, pathway=(), stage=0)
    # slack = 6000 - 0 - 1000 = 5000: urgency 1000 / 5000, times priority 4 + 1
    assert pol._score(0, {"task": task, "layer": 1}) == pytest.approx(5 * 0.2)
    # slack 6000 - 4000 = 2000: urgency 2
    assert pol._score(0, {"task": task, "layer": 0}) == pytest.approx(5 * 2.0)
    # no slack left: neutral urgency 1; no target: the priority weight alone
    assert pol._score(0, {"task": SimpleNamespace(arrival=0, target_cycles=3000.0, pathway=(), stage=0), "layer": 0}) == 5.0
    assert pol._score(0, {"task": SimpleNamespace(arrival=0, target_cycles=math.inf, pathway=(), stage=0), "layer": 1}) == 5.0
    # urgency is capped at both ends
    assert pol._score(0, {"task": SimpleNamespace(arrival=0, target_cycles=1e9, pathway=(), stage=0), "layer": 1}) == pytest.approx(5 * 0.05)
    assert pol._score(0, {"task": SimpleNamespace(arrival=0, target_cycles=4100.0, pathway=(), stage=0), "layer": 0}) == 5 * 20.0
    # later on: the slack counts from now, the deadline from the arrival (500 + 6000 - 1000 - 1000 = 4500)
    pol.sim.env.run(until=1000)
    task = SimpleNamespace(arrival=500, target_cycles=6000.0, pathway=(), stage=0)
    assert pol._score(0, {"task": task, "layer": 1}) == pytest.approx(5 * 1000 / 4500)


def test_moca_setup_budget_remaining_work_and_layer_rates():
    from types import SimpleNamespace

    from npusim.mapping.plan import UNMANAGED

    sim = _moca_before_run(rate_of="loads")
    pol = sim.policy
    # MoCA's runtime budget: 24 B/cycle of gemmini-moca's 25.6 (DRAM_MAX_UTIL 150)
    assert pol.budget == pytest.approx(sim.memory.dram.peak_bytes_per_cycle * 0.94) == pytest.approx(24.064)
    assert _moca_before_run(bandwidth_share=0.5).policy.budget == pytest.approx(pol.budget * 0.5 / 0.94)
    t = sim.tenants[0]
    predicted = [t.plan(i, UNMANAGED).predicted_cycles for i in range(len(t.trace.layers))]
    # the work left from each layer on: all of it at the first, the last layer's own at the last
    assert pol.remaining[0][0] == pytest.approx(sum(predicted)) and pol.remaining[0][-1] == predicted[-1]
    assert list(pol.remaining[0]) == pytest.approx([sum(predicted[i:]) for i in range(len(predicted))])
    # rate_of: loads: a layer's ideal rate is every byte its load DMA fetches (LLC hits too)
    # over its predicted cycles
    layer = next(i for i in range(len(t.trace.layers)) if t.plan(i, UNMANAGED).load_bytes
                 != t.plan(i, UNMANAGED).dram_bytes)
    plan = t.plan(layer, UNMANAGED)
    gen = pol.acquire(t, layer, SimpleNamespace(arrival=0, target_cycles=math.inf))
    with pytest.raises(StopIteration):
        next(gen)
    assert pol.active[0]["rate"] == pytest.approx(plan.load_bytes / plan.predicted_cycles)


def test_moca_rates_of_dram_reads_count_predicted_dram_reads_and_scale_the_dmas_target():
    """rate_of: dram (the default), as MoCA's runtime: a layer's ideal rate is its predicted DRAM reads
    over its predicted cycles, the budget shares those, and the DMA (which counts every
    load) gets the allowed rate scaled by the layer's loads over its DRAM reads."""
    from types import SimpleNamespace

    from npusim.mapping.plan import UNMANAGED

    sim = _moca_before_run(window_cycles=1000, min_steps=1)
    assert sim.policy.opts["rate_of"] == "dram"
    pol = sim.policy
    t = sim.tenants[0]
    layer = next(i for i in range(len(t.trace.layers))
                 if 0 < t.plan(i, UNMANAGED).dram_read_bytes < t.plan(i, UNMANAGED).load_bytes)
    plan = t.plan(layer, UNMANAGED)
    with pytest.raises(StopIteration):
        next(pol.acquire(t, layer, SimpleNamespace(arrival=0, target_cycles=math.inf)))
    assert pol.active[0]["rate"] == pytest.approx(plan.dram_read_bytes / plan.predicted_cycles)
    assert pol.active[0]["loads_per_rated_byte"] == pytest.approx(plan.load_bytes / plan.dram_read_bytes)
    # pairing's intensities count the same bytes
    plans = [t.plan(i, UNMANAGED) for i in range(len(t.trace.layers))]
    assert pol.intensity[0] == pytest.approx(sum(p.dram_read_bytes for p in plans)
                                             / sum(p.predicted_cycles for p in plans))
    calls = {}
    sim.memory.set_throttle = lambda j, window, target, cores: calls.__setitem__(j, (window, target, cores))
    pol.allowed_rates = lambda rates, scores, unthrottled: {0: 2.5}
    pol._score = lambda j, info: 1.0
    pol.active = {0: _active_layer(9.0, 4, 2.0), 1: _active_layer(9.0, 4)}
    pol._rebalance()
    # 2.5 B/cycle of DRAM reads over 1000 cycles, where each DRAM byte comes with two loaded
    assert calls == {0: (1000, 5000, 2)}


def test_moca_throttles_each_layer_to_its_allowed_rate_unless_it_has_few_steps():
    sim = _moca_before_run(window_cycles=1000, min_steps=4)
    pol = sim.policy
    calls = {}
    sim.memory.set_throttle = lambda j, window, target, cores: calls.__setitem__(j, (window, target, cores))
    asked = []
    pol.allowed_rates = lambda rates, scores, unthrottled: asked.append(set(unthrottled)) or {0: 2.5}
    pol._score = lambda j, info: 1.0
    pol.active = {0: _active_layer(9.0, 4), 1: _active_layer(9.0, 3), 2: _active_layer(0.1, 100)}
    pol._rebalance()
    # 2.5 B/cycle over a 1000-cycle window on tenant 0's two cores; tenant 1's layer has 3 steps: free
    assert asked == [{1}] and calls == {0: (1000, 2500, 2)} and pol.throttled == {0}


def test_moca_frees_a_tenant_whose_co_runners_layer_ends():
    # two tenants loading far above the budget are both throttled; when one's layer ends it
    # leaves the rebalance, and the other, alone, runs free again (its throttle cleared)
    from types import SimpleNamespace

    sim = _moca_before_run(min_steps=1)
    pol, mem = sim.policy, sim.memory
    pol._score = lambda j, info: 1.0
    task = SimpleNamespace(arrival=0, target_cycles=math.inf)
    pol.active = {j: _active_layer(1e6, 10, task=task, layer=0) for j in (0, 1)}
    pol._rebalance()
    assert pol.throttled == {0, 1} and mem.throttled(0) and mem.throttled(1)
    pol.release(sim.tenants[1], 0, None, task)
    assert set(pol.active) == {0}
    assert pol.throttled == set() and not mem.throttled(0) and not mem.throttled(1)
    # cleared: inactive (the window state stays for a throttle set again, test_engine_memory.py)
    from npusim.dram import kernel as DK

    assert not mem.load_throttle[:, DK.TH_ACTIVE].any()


def test_load_throttle_holds_any_window_and_target_to_its_rate():
    """Property of MoCA's DMA rule over random windows, targets and issue gaps (ticks, bytes):
    a DMA that always has loads waiting issues, by any time T, at most target x (T - t0) /
    window plus one target and one unthrottled window of loads (the overshoot is paid only
    after a window ends), and over 200 windows' worth of loads it settles at target / window
    (within 1 %: half targets and half windows are rounded down)."""
    from npusim.dram import kernel as DK
    from npusim.dram.kernel import throttled_loads

    rng = np.random.default_rng(2023)
    line_bytes = 64
    for _ in range(60):
        window, target, gap = int(rng.integers(64, 1 << 16)), int(rng.integers(64, 1 << 14)), int(rng.integers(1, 64))
        if gap * target >= window * line_bytes:
            continue  # the DMA alone is slower than the target
        t0 = int(rng.integers(0, 10 * window))
        rows = np.zeros((2, DK.N_TH), dtype=np.int64)
        rows[:, [DK.TH_ACTIVE, DK.TH_WINDOW, DK.TH_TARGET, DK.TH_GAP]] = 1, window, target, gap
        issue = np.array([throttled_loads(rows, 0, t0, 1, line_bytes) for _ in range(1500)])
        assert (np.diff(issue) >= gap).all()
        window_loads_bytes = (window // gap + 1) * line_bytes
        before = np.arange(issue.shape[0]) * line_bytes  # bytes issued before each issue time
        assert (before <= target * (issue - t0) / window + target + window_loads_bytes).all()
        n = 200 * (window // gap + 1)
        last = throttled_loads(rows, 1, t0, n, line_bytes)
        assert n * line_bytes * window / (last - t0) == pytest.approx(target, rel=0.01)


def _reference_issue(row: dict, t: int, nbytes: int) -> int:
    """MoCA's load-DMA rule as docs/POLICIES.md states it, in plain Python: bytes are
    counted per window; at a window's end the overshoot over the target (never a
    credit) accumulates, and once above half the target reads stop for as many
    half windows as it holds half targets; one request per issue gap."""
    t = max(t, row["stall"], row["next"])
    while t >= row["start"] + row["window"]:
        over = max(row["over"] + row["bytes"] - row["target"], 0)
        row["start"] += row["window"]
        row["bytes"] = 0
        half = max(1, row["target"] // 2)
        if over > half:
            k = over // half
            stall_end = row["start"] + k * (row["window"] // 2)
            over -= k * half
            row["stall"] = max(row["stall"], stall_end)
            if t < stall_end:
                t = row["start"] = stall_end
        row["over"] = over
    row["bytes"] += nbytes
    row["next"] = t + row["gap"]
    return t


@pytest.mark.parametrize("window, target, gap, batches", [
    (1024, 256, 16, [(0, 40), (500, 3), (5000, 64), (5001, 1)]),
    (4096, 8192, 1, [(0, 300), (100, 300), (90000, 10)]),
    (100, 64, 50, [(7, 10), (7, 10), (3000, 2)]),
    (1024, 256, 1, [(0, 6), (1024, 1)]),  # an overshoot of exactly half the target: no stall ("above half")
])
def test_load_throttle_kernel_follows_the_rule(window, target, gap, batches):
    from npusim.dram import kernel as DK
    from npusim.dram.kernel import throttled_loads

    th = np.zeros((2, DK.N_TH), dtype=np.int64)
    th[1, [DK.TH_ACTIVE, DK.TH_WINDOW, DK.TH_TARGET, DK.TH_GAP]] = 1, window, target, gap
    row = {"window": window, "target": target, "gap": gap, "start": 0, "bytes": 0, "over": 0, "stall": 0, "next": 0}
    for t, n in batches:
        last = t
        for _ in range(n):
            last = _reference_issue(row, last, 64)
        assert throttled_loads(th, 1, t, n, 64) == last
        assert (th[1, DK.TH_OVER], th[1, DK.TH_STALL], th[1, DK.TH_NEXT]) == (row["over"], row["stall"], row["next"])


def test_load_throttle_counts_llc_hits_and_paces_each_core_group():
    from npusim.dram import kernel as DK
    from npusim.engine.memory import TICKS_PER_CYCLE, MemoryHierarchy
    from npusim.soc import load_soc

    soc = load_soc("gemmini-moca")
    mem = MemoryHierarchy(soc, 1)
    mem.set_throttle(0, 1024, 4096, cores=2)
    # the DMAs of two cores issue a line no faster than they move it
    assert mem.load_throttle[0, DK.TH_GAP] == 64 * TICKS_PER_CYCLE // (soc.npu.dma_bytes_per_cycle * 2)
    mem.clear_throttle(0)
    lines = 2048  # 128 KiB: fits the 2 MiB L2, so the second pass hits every line
    runs = (np.arange(0, lines * 64, 64 * 64, dtype=np.int64), np.full(lines // 64, 64 * 64, dtype=np.int64),
            np.ones(lines // 64, dtype=np.int64))
    empty = (np.zeros(0, np.int64),) * 3
    first = mem.read(0, 0, 2, runs, empty, empty)
    assert mem.counters[0].cache_misses == lines
    mem.set_throttle(0, 1024, 4096, cores=2)  # 4 B/cycle, whether the loads hit or miss
    done = mem.read(0, first, 2, runs, empty, empty)
    assert mem.counters[0].cache_hits == lines
    mem.clear_throttle(0)
    free = mem.read(0, done, 2, runs, empty, empty) - done  # the same hits, unthrottled
    # 27 164 cycles: 4 B/cycle less the half-target overshoot the rule lets through
    assert 0.8 * lines * 64 / 4 <= done - first < lines * 64 / 4 and done - first > 5 * free


def test_line_counts_and_port_bytes_with_and_without_multicast():
    from npusim.engine.kernels import line_count
    from npusim.engine.memory import MemoryHierarchy
    from npusim.soc import load_soc

    starts, lengths, readers = (np.array(v, dtype=np.int64) for v in ([0, 100], [128, 64], [3, 1]))
    # lines 0-1 read by 3 cores, lines 1-2 by one
    assert line_count(starts, lengths, readers, 64, True) == 2 * 3 + 2
    assert line_count(starts, lengths, readers, 64, False) == 4
    soc = load_soc("camdn")
    empty = (np.zeros(0, np.int64),) * 3
    port = {}
    for multicast in (True, False):
        mem = MemoryHierarchy(soc, 1, multicast=multicast)
        mem.read(0, 0, 3, (starts, lengths, readers), empty, empty)
        c = mem.counters[0]
        port[multicast] = (c.llc_bytes, c.multicast_saved, c.cache_hits + c.cache_misses)
    # 4 distinct lines (line 1 twice, the second time a hit); one transfer per line with multicast,
    # one per reader without
    assert port[True] == (4 * 64, 2 * 3 + 2 - 4, 4)
    assert port[False] == ((2 * 3 + 2) * 64, 0, 8)


def test_llc_port_is_shared_by_tenants():
    from npusim.engine.memory import MemoryHierarchy
    from npusim.soc import load_soc

    soc = load_soc("camdn")
    mem = MemoryHierarchy(soc, 2)
    lines = 4096
    empty = (np.zeros(0, np.int64),) * 3

    def runs(base):
        return (np.array([base], np.int64), np.array([lines * 64], np.int64), np.ones(1, np.int64))

    mem.read(0, 0, 8, runs(0), empty, empty)  # warm both tenants' lines
    mem.read(1, 0, 8, runs(1 << 24), empty, empty)
    t = 100_000
    first = mem.read(0, t, 8, runs(0), empty, empty) - t
    second = mem.read(1, t, 8, runs(1 << 24), empty, empty) - t
    assert mem.counters[0].cache_hits == mem.counters[1].cache_hits == lines
    port_cycles = lines * 64 // soc.llc.bytes_per_cycle
    # 8 cores' DMAs could take both at once; the one LLC port moves them one after the other
    assert first == port_cycles + soc.llc.hit_latency_cycles
    assert second == 2 * port_cycles + soc.llc.hit_latency_cycles


def test_bounded_policy_options_accept_their_bound():
    from npusim.policies.base import positive_int_at_most

    check = positive_int_at_most(10**9)
    assert check(10**9) is None and check(1) is None
    assert check(10**9 + 1) == "must be at most 1000000000, got 1000000001"
    assert check(0) == "expected a positive integer, got 0"
    sc = scenario_from_dict({"soc": "gemmini-moca", "policy": {"name": "moca", "window_cycles": 10**9},
                             "tenants": [{"workload": "kws"}]}, "<test>")
    assert sc.policy.option("window_cycles") == 10**9


def test_waypart_hands_out_every_way():
    import dataclasses

    from npusim.policies.basic import WayPartition

    # 16 ways among 3 tenants: 6, 5, 5, side by side
    sc = scenario_from_flags(soc="camdn", mix=["kws", "squeezenet", "yolo_lite"], policy="waypart")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    sim.policy.setup()
    masks = [sim.memory.cache.way_mask(i) for i in range(3)]
    assert masks == [0b111111, 0b11111 << 6, 0b11111 << 11]
    # without CPU ways (npu_ways 0) the CPU-side traffic takes one equal share: 16 // (3 + 1)
    cpu = scenario_from_flags(soc="camdn", mix=["kws", "squeezenet", "yolo_lite"], policy="waypart",
                              cpu_traffic=4.0, soc_override={"--llc-ways": "16"})
    cpu = dataclasses.replace(cpu, soc=dataclasses.replace(cpu.soc, llc=dataclasses.replace(cpu.soc.llc,
                                                                                             npu_ways=0)))
    assert WayPartition._ways(cpu) == (4, 12, 0b1111)


def test_tenants_of_one_model_share_their_trace_and_camdn_candidates():
    def run(n):
        sc = scenario_from_dict({"soc": "camdn", "policy": "camdn",
                                 "tenants": [{"workload": "kws", "cores": 4}] * n}, "<test>")
        return Simulation(sc, mapper=Mapper(sc.soc)).run()

    one, three = run(1), run(3)
    assert three.tenants[0].trace is three.tenants[1].trace is three.tenants[2].trace
    # candidates are built once per model, cores and layer, not once per tenant
    assert len(three.policy._units) == len(one.policy._units) > 0
