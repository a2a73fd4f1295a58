"""System metrics against numbers worked out by hand from their definitions (docs/METRICS.md)."""

import math

import numpy as np
import pandas as pd
import pytest

from npusim import simulate
from npusim.metrics import _summary, counters_total
from npusim.scenario import scenario_from_flags


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path / "cache"))


def _tenant(name, iso, lat, priority):
    return {"tenant": name, "workload": "kws", "cores": 1, "tasks": 1, "priority": priority,
            "isolated_latency_cycles": iso, "mean_latency_cycles": lat, "p95_latency_cycles": lat,
            "dram_bytes": 0, "llc_hit_rate": math.nan, "sla_rate": math.nan, "macs_per_request": math.nan,
            "throughput_per_mcycle": math.nan, "task_switches": 0, "switch_cost_cycles": math.nan,
            "switch_cost_dram_bytes": math.nan}


def test_stp_antt_fairness_and_sla_groups_by_hand():
    tenants = pd.DataFrame([_tenant("a", 100, 200, 0), _tenant("b", 300, 400, 2), _tenant("c", 50, 50, 11)])
    # priorities 2 | 3, 8 | 9, 11: low, mid and high groups (low 0-2, mid 3-8, high 9-11)
    tasks = pd.DataFrame({"priority": [2, 3, 8, 9, 11], "deadline_met": [True, False, True, True, False],
                          "arrival_cycle": [10, 3, 5, 7, 9], "finish_cycle": [100, 250, 90, 60, 80]})
    s = _summary(scenario_from_flags(soc="camdn", mix=["kws"]), "shared", tasks, tenants)
    # normalised progress 0.5, 0.75, 1: STP their sum, ANTT the mean of their inverses
    assert s["stp"] == pytest.approx(2.25)
    assert s["antt"] == pytest.approx((2 + 4 / 3 + 1) / 3)
    # weights 1, 3, 12 of 16: PP = 0.5 * 16, 0.75 * 16 / 3, 1 * 16 / 12; fairness min / max
    assert s["fairness"] == pytest.approx((16 / 12) / 8)
    assert s["sla_rate"] == pytest.approx(0.6)
    assert s["sla_rate_by_priority"] == {"low": 1.0, "mid": 0.5, "high": 0.5}
    assert s["makespan_cycles"] == 247  # from the first arrival (cycle 3) to the last finish


def test_fairness_of_two_tenants_and_sla_groups_without_tasks():
    tenants = pd.DataFrame([_tenant("a", 100, 400, 1), _tenant("b", 300, 400, 1)])
    tasks = pd.DataFrame({"priority": [1, 1], "deadline_met": [True, False],
                          "arrival_cycle": [0, 0], "finish_cycle": [400, 400]})
    s = _summary(scenario_from_flags(soc="camdn", mix=["kws"]), "shared", tasks, tenants)
    # normalised progress 0.25 and 0.75, equal weights: fairness 1 / 3 (a pair is enough)
    assert s["fairness"] == pytest.approx(1 / 3)
    # only the low group has tasks: the others have no rate (null), not 0
    assert s["sla_rate_by_priority"] == {"low": 0.5, "mid": None, "high": None}
    # a tenant alone is perfectly fair
    one = _summary(scenario_from_flags(soc="camdn", mix=["kws"]), "shared", tasks.iloc[:1], tenants.iloc[:1])
    assert one["fairness"] == 1.0 and one["sla_rate_by_priority"] == {"low": 1.0, "mid": None, "high": None}


def test_llc_hit_rate_counts_bypassed_lines_as_requested():
    c = {"cache_hits": 6, "region_hits": 3, "region_llc_fills": 1, "cache_misses": 4, "region_fills": 2,
         "bypass_lines": 5}
    assert counters_total(c) == (10, 21)


def test_a_task_that_finishes_exactly_at_its_target_meets_it():
    alone = simulate(mix=["kws"], soc="camdn", cores="4", policy="shared")
    latency = int(alone.tasks.latency_cycles.iloc[0])
    for target, met in ((latency, True), (latency - 1, False)):
        r = simulate({"soc": "camdn", "tenants": [{"workload": "kws", "target": target}]}, cores="4",
                     policy="shared")
        assert int(r.tasks.latency_cycles.iloc[0]) == latency and bool(r.tasks.deadline_met.iloc[0]) is met


def test_each_tenants_rates_and_latencies_are_its_own_tasks():
    r = simulate({"soc": "camdn", "tenants": [
        {"workload": "kws", "target": 10**9, "requests": 2, "cores": 4},  # any latency meets it
        {"workload": "squeezenet", "target": 10, "requests": 3, "cores": 4}]}, policy="shared")  # none can
    rows = r.tenants.set_index("tenant")
    assert list(rows.sla_rate) == [1.0, 0.0] and r.summary["sla_rate"] == pytest.approx(2 / 5)
    for name, row in rows.iterrows():
        mine = r.tasks[r.tasks.tenant == name].latency_cycles
        assert row.tasks == len(mine) and row.mean_latency_cycles == mine.mean()
        assert row.p95_latency_cycles == np.percentile(mine, 95)


def test_summary_json_has_no_nan_for_the_report_to_refuse():
    """`npusim report` refuses NaN in summary.json (JSON has no NaN): the writer turns every
    value without a number, however deep, into null."""
    import json

    from npusim.metrics import Result

    empty = pd.DataFrame()
    r = Result(summary={"stp": float("nan"), "tenants": [{"antt": float("inf"), "ok": 1.5}], "n": np.float64("nan")},
               tasks=empty, tenants=empty, layers=empty, timeline=empty)
    assert json.loads(r.to_json(), parse_constant=lambda c: pytest.fail(c)) == {
        "stp": None, "tenants": [{"antt": None, "ok": 1.5}], "n": None}


def test_per_tenant_and_per_layer_columns_follow_from_the_tasks_and_layers(tmp_path):
    """p95, throughput, stall and makespan recomputed from the rows they summarise."""
    p = tmp_path / "s.yaml"
    p.write_text("tenants:\n  - workload: kws\n    arrival: times\n    arrival_cycles: [5000, 6000, 90000, 91000]\n"
                 "  - workload: squeezenet\n    arrival: times\n    arrival_cycles: [1000, 2000]\n")
    r = simulate(p)
    for row in r.summary["tenants"]:
        mine = r.tasks[r.tasks.tenant == row["name"]]
        lat = mine.latency_cycles.to_numpy(dtype=float)
        assert len(set(lat)) > 1  # a p95 that is not the mean, nor the maximum
        assert row["p95_latency_cycles"] == pytest.approx(np.percentile(lat, 95))
        span = mine.finish_cycle.max() - mine.arrival_cycle.min()
        assert row["throughput_per_mcycle"] == pytest.approx(len(mine) * 1e6 / span)
    assert r.tasks.arrival_cycle.min() == 1000
    assert r.summary["makespan_cycles"] == r.tasks.finish_cycle.max() - 1000
    layers = r.layers
    assert (layers.stall_cycles == (layers.cycles - layers.compute_cycles).clip(lower=0)).all()
    assert (layers.stall_cycles > 0).any() and (layers.compute_cycles > 0).all()


def test_page_waits_are_the_gaps_between_a_tasks_layers():
    """Under camdn a layer waits for its pages before it starts: that wait is `page_wait_cycles`, exactly
    the gap after the task's previous layer, so layer cycles plus page waits account for the whole task."""
    for policy in ("camdn", "shared"):
        r = simulate(mix=["resnet50", "bert_base"], soc="camdn", llc_size="1MiB", policy=policy, requests=1)
        layers = r.layers
        for (tenant, task), mine in layers.groupby(["tenant", "task"], sort=False):
            gaps = mine.start_cycle.to_numpy()[1:] - mine.end_cycle.to_numpy()[:-1]
            assert (gaps == mine.page_wait_cycles.to_numpy()[1:]).all(), (policy, tenant)
            row = r.tasks[(r.tasks.tenant == tenant) & (r.tasks.task == task)].iloc[0]
            first_start = mine.start_cycle.iloc[0] - mine.page_wait_cycles.iloc[0]
            assert row.finish_cycle - first_start == mine.cycles.sum() + mine.page_wait_cycles.sum()
        if policy == "camdn":
            assert layers.page_wait_cycles.sum() > 0
        else:
            assert (layers.page_wait_cycles == 0).all()


def test_a_requests_dram_bytes_and_macs_are_those_of_the_layers_it_ran():
    r = simulate(mix=["squeezenet", "kws"], soc="camdn", cores="8", llc_size="1MiB", policy="shared", requests=2)
    layers = r.layers.groupby(["tenant", "task"])
    per_request = layers.dram_read_bytes.sum() + layers.dram_write_bytes.sum()
    assert (layers.dram_write_bytes.sum() > 0).all()  # writes are part of what is counted
    tasks = r.tasks.set_index(["tenant", "task"])
    assert (tasks.dram_bytes == per_request.reindex(tasks.index)).all()
    from workloads import get_trace

    for name in ("squeezenet", "kws"):
        assert (tasks.loc[name].macs == sum(l.macs for l in get_trace(name).layers)).all()


def test_throughput_counts_from_the_first_arrival_not_the_first_start():
    # prema runs one task at a time: kws arrives at cycle 1000 while squeezenet holds the NPU, so its
    # first request starts late; its throughput spans first arrival to last finish (docs/METRICS.md)
    r = simulate({"soc": "gemmini-moca", "policy": "prema", "tenants": [
        {"workload": "squeezenet", "arrival": "times", "arrival_cycles": [0]},
        {"workload": "kws", "arrival": "times", "arrival_cycles": [1000, 2000]}]})
    kws = r.tasks[r.tasks.tenant == "kws"]
    assert kws.start_cycle.min() > kws.arrival_cycle.min() == 1000
    row = r.tenants.set_index("tenant").loc["kws"]
    assert row.throughput_per_mcycle == pytest.approx(2 * 1e6 / (kws.finish_cycle.max() - 1000))
