"""Metrics of a simulation: per task, tenant and layer tables, and the system summary.

Definitions (docs/METRICS.md):

* latency = finish - arrival; a task meets its deadline when latency <= target.
* STP (system throughput, as in PREMA/MoCA) = sum over tenants of
  isolated latency / co-located mean latency.
* ANTT (average normalised turnaround time) = mean over tenants of
  co-located mean latency / isolated latency.
* fairness = min over pairs of tenants of PP_i / PP_j, with
  PP_i = (isolated_i / latency_i) / (w_i / sum w) and priority weight
  w_i = priority_i + 1 (so priority 0 still counts); 1 is perfectly fair.
* SLA rate = share of tasks that meet their deadline, overall and per
  priority group (low 0-2, mid 3-8, high 9-11).
* LLC hit rate = lines served by the LLC (LRU hits, region hits and region
  fills copied from the LRU ways: `counters_total`) over all lines the cores
  requested (bypassed lines count as misses).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

PRIORITY_GROUPS = {"low": range(3), "mid": range(3, 9), "high": range(9, 12)}


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    return x


@dataclass
class Result:
    summary: dict
    tasks: pd.DataFrame
    tenants: pd.DataFrame
    layers: pd.DataFrame
    timeline: pd.DataFrame
    stages: pd.DataFrame = field(default_factory=pd.DataFrame)  # multi-task tenants: one row per task/expert run
    background: pd.DataFrame = field(default_factory=pd.DataFrame)  # CPU-side traffic: one row per generator

    def to_json(self) -> str:
        """The summary as JSON; a value with no number (NaN, inf) is null, as JSON has none."""
        return json.dumps(_finite_or_null(self.summary), indent=2, sort_keys=False, default=_json_default,
                          allow_nan=False)

    def write(self, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
        """summary.json plus one table per frame (CSV or Parquet) in `out_dir`."""
        if fmt not in ("csv", "parquet"):
            raise InputError("<api>", "fmt", f"expected csv or parquet, got {fmt!r}")
        if not isinstance(out_dir, (str, Path)) or not str(out_dir).strip():
            raise InputError("<api>", "out_dir", f"expected a folder path, got {out_dir!r}")
        if "\0" in str(out_dir):
            raise InputError("<api>", "out_dir", "a folder name cannot hold a NUL character")
        try:
            return self._write(Path(out_dir), fmt)
        except OSError as exc:
            raise InputError(str(out_dir), "out_dir", f"cannot write ({exc.strerror or exc})") from None

    def _write(self, out: Path, fmt: str) -> list[Path]:
        tables = [name for name in ("tasks", "tenants", "layers", "timeline", "stages", "background")
                  if not (name in ("stages", "background") and getattr(self, name).empty)]
        targets = [out / "summary.json"] + [out / f"{name}.{fmt}" for name in tables]
        for path in targets:  # checked before anything is written: no half-written run folder
            if path.is_dir():
                raise IsADirectoryError(21, f"{path.name} is a folder", str(path))
        out.mkdir(parents=True, exist_ok=True)
        # tables an earlier run left in this folder (of a table this run lacks, or in the other format,
        # which `npusim report` would read first) are not this run's
        for name in ("tasks", "tenants", "layers", "timeline", "stages", "background"):
            for ext in ("csv", "parquet"):
                stale = out / f"{name}.{ext}"
                if (name not in tables or ext != fmt) and stale.is_file():
                    stale.unlink()
        written = [out / "summary.json"]
        (out / "summary.json").write_text(self.to_json() + "\n", encoding="utf-8")
        for name in tables:
            df = getattr(self, name)
            path = out / f"{name}.{fmt}"
            if fmt == "parquet":
                df.to_parquet(path, index=False)
            else:
                df.to_csv(path, index=False)
            written.append(path)
        return written


def _finite_or_null(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _finite_or_null(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite_or_null(v) for v in x]
    return _nan_to_none(x)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return _nan_to_none(float(o))
    raise TypeError(type(o))


def counters_total(c: dict) -> tuple[int, int]:
    """(lines served by the LLC, lines requested)."""
    hits = c["cache_hits"] + c["region_hits"] + c["region_llc_fills"]
    requested = hits + c["cache_misses"] + c["region_fills"] + c["bypass_lines"]
    return hits, requested


def build_result(sim, *, policy: str, extra: dict | None = None) -> Result:
    """Tables and summary from a finished `Simulation` (or merged isolated runs)."""
    scenario = sim.scenario
    names = [t.name for t in sim.tenants]
    # per request: DRAM bytes and MACs of the layers it ran
    macs_of = [{l.name: l.macs for l in getattr(t, "full_trace", t.trace).layers} for t in sim.tenants]
    req_dram: dict[tuple[int, int], int] = {}
    req_macs: dict[tuple[int, int], int] = {}
    for r in sim.layers:
        key = (r.tenant, r.task)
        req_dram[key] = req_dram.get(key, 0) + r.counters["dram_read_bytes"] + r.counters["dram_write_bytes"]
        req_macs[key] = req_macs.get(key, 0) + macs_of[r.tenant].get(r.layer, 0)
    tasks = pd.DataFrame([{
        "tenant": names[k.tenant], "task": k.index, "arrival_cycle": k.arrival, "start_cycle": k.start,
        "finish_cycle": k.finish, "latency_cycles": k.latency, "waiting_cycles": k.waiting,
        "target_cycles": k.target_cycles, "deadline_met": bool(k.latency <= k.target_cycles),
        "priority": sim.tenants[k.tenant].spec.priority,
        "task_name": getattr(k, "task_name", ""), "switches": int(getattr(k, "switches", 0)),
        "preemptions": int(getattr(k, "preemptions", 0)),
        "dram_bytes": req_dram.get((k.tenant, k.index), 0), "macs": req_macs.get((k.tenant, k.index), 0),
    } for k in sorted(sim.tasks, key=lambda k: (k.tenant, k.index))])
    layer_rows = []
    for r in sim.layers:
        hits, requested = counters_total(r.counters)
        layer_rows.append({
            "tenant": names[r.tenant], "task": r.task, "layer": r.layer, "op": r.op, "start_cycle": r.start,
            "end_cycle": r.end, "cycles": r.end - r.start, "compute_cycles": r.compute_cycles,
            "stall_cycles": max(0, r.end - r.start - r.compute_cycles), "page_wait_cycles": r.page_wait_cycles,
            "dram_read_bytes": r.counters["dram_read_bytes"], "dram_write_bytes": r.counters["dram_write_bytes"],
            "dram_bytes": r.counters["dram_read_bytes"] + r.counters["dram_write_bytes"],
            "llc_hits": hits, "llc_lines": requested, "region_hits": r.counters["region_hits"],
            "budget_bytes": r.budget_bytes, "resident": r.resident, "fused": r.fused,
            "region_bytes": r.region_bytes,
            "cores": " ".join(map(str, r.cores)),
        })
    layers = pd.DataFrame(layer_rows)
    tenant_rows = []
    for t in sim.tenants:
        c = sim.memory.counters[t.index].snapshot() if hasattr(sim, "memory") else sim.counters[t.index]
        mine = tasks[tasks.tenant == t.name] if len(tasks) else tasks
        lat = mine.latency_cycles.to_numpy(dtype=float) if len(mine) else np.array([])
        hits, requested = counters_total(c)
        multi = len(mine) and (mine.task_name != "").any()
        span = (mine.finish_cycle.max() - mine.arrival_cycle.min()) if len(mine) else 0
        # the tenant's first request has no task before it (and starts cold): in neither group
        # task streams only: a graph request's switches are between its own experts
        stream = multi and not t.spec.task_graph
        after_first = mine[mine.start_cycle > mine.start_cycle.min()] if stream else mine.iloc[0:0]
        sw = after_first[after_first.switches > 0]
        stay = after_first[after_first.switches == 0]
        tenant_rows.append({
            "tenant": t.name, "workload": t.spec.workload, "cores": len(t.cores), "priority": t.spec.priority,
            "tasks": len(mine),
            "mean_latency_cycles": float(lat.mean()) if lat.size else math.nan,
            "p95_latency_cycles": float(np.percentile(lat, 95)) if lat.size else math.nan,
            "isolated_latency_cycles": float(t.isolated_latency) if t.isolated_latency else math.nan,
            "dram_read_bytes": c["dram_read_bytes"], "dram_write_bytes": c["dram_write_bytes"],
            "dram_bytes": c["dram_read_bytes"] + c["dram_write_bytes"],
            "llc_hits": hits, "llc_lines": requested,
            "llc_hit_rate": hits / requested if requested else math.nan,
            "sla_rate": float(mine.deadline_met.mean()) if len(mine) else math.nan,
            "macs_per_request": float(mine.macs.mean()) if len(mine) else math.nan,
            "throughput_per_mcycle": float(len(mine) * 1e6 / span) if span > 0 else math.nan,
            "task_switches": int(mine.switches.sum()) if len(mine) else 0,
            # cost of a task switch: requests after one on another task vs after one on the same
            "switch_cost_cycles": float(sw.latency_cycles.mean() - stay.latency_cycles.mean())
            if len(sw) and len(stay) else math.nan,
            "switch_cost_dram_bytes": float(sw.dram_bytes.mean() - stay.dram_bytes.mean())
            if len(sw) and len(stay) else math.nan,
        })
    tenants = pd.DataFrame(tenant_rows)
    timeline = sim.timeline_table()
    stages = pd.DataFrame(getattr(sim, "stages", []),
                          columns=["tenant", "task", "stage", "expert", "start_cycle", "end_cycle", "switched"])
    summary = _summary(scenario, policy, tasks, tenants)
    summary["dram_row_hit_rate"] = _nan_to_none(dram_row_hit_rate(sim))
    background = background_table(sim)
    if len(background):
        summary["background_dram_bytes"] = int(background.dram_bytes.sum())
        summary["background"] = [{k: _nan_to_none(v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                                 for row in background.to_dict("records")]
    if extra:
        summary.update(extra)
    return Result(summary=summary, tasks=tasks, tenants=tenants, layers=layers, timeline=timeline, stages=stages,
                  background=background)


def dram_row_hit_rate(sim) -> float:
    """Share of all DRAM requests (tenants' and background's) that found their row open;
    NaN for merged isolated runs, which have no one DRAM."""
    dram = getattr(getattr(sim, "memory", None), "dram", None)
    if dram is None:
        return math.nan
    st = dram.stats
    n = st["reads"] + st["writes"]
    return st["row_hits"] / n if n else math.nan


def background_table(sim) -> pd.DataFrame:
    """One row per CPU-side traffic generator: what it offered, got, and cost."""
    rows = []
    clock_hz = sim.scenario.soc.npu.clock_hz
    for b in getattr(sim, "background", []):
        c = sim.memory.counters[b.cache_tenant]
        lines = b.counters.read_lines + b.counters.write_lines
        moved = lines * b.line_bytes
        active = b.counters.active_cycles
        slots = b.counters.slot_cycles  # the rate its bursts got: never above the offered one
        rows.append({
            "name": b.name, "pattern": b.spec.pattern, "footprint_bytes": b.spec.footprint_bytes,
            "burst_bytes": b.burst_lines * b.line_bytes, "write_fraction": b.spec.write_fraction,
            "offered_gb_per_s": b.spec.rate_gb_per_s,
            "achieved_gb_per_s": moved * clock_hz / slots / 1e9 if slots else 0.0,
            "bytes": moved, "read_bytes": b.counters.read_lines * b.line_bytes,
            "write_bytes": b.counters.write_lines * b.line_bytes, "bursts": b.counters.bursts,
            "active_cycles": active, "llc_hits": c.cache_hits, "llc_lines": lines,
            "llc_hit_rate": c.cache_hits / lines if lines else math.nan,
            "dram_read_bytes": c.dram_read_bytes, "dram_write_bytes": c.dram_write_bytes,
            "dram_bytes": c.dram_read_bytes + c.dram_write_bytes,
            # while no task ran on the NPU (replayed through the LLC when it started again)
            "idle": b.spec.idle, "idle_cycles": b.counters.idle_cycles,
            "idle_bytes": b.counters.idle_lines * b.line_bytes,
            "idle_llc_hit_rate": b.counters.idle_llc_hits / b.counters.idle_lines if b.counters.idle_lines
            else math.nan,
            "idle_dram_bytes": (b.counters.idle_dram_read_lines + b.counters.idle_dram_write_lines) * b.line_bytes,
        })
    return pd.DataFrame(rows)


def _summary(scenario, policy: str, tasks: pd.DataFrame, tenants: pd.DataFrame) -> dict:
    iso = tenants.isolated_latency_cycles.to_numpy(dtype=float)
    lat = tenants.mean_latency_cycles.to_numpy(dtype=float)
    ok = np.isfinite(iso) & np.isfinite(lat) & (lat > 0)
    np_ratio = np.where(ok, iso / np.where(lat > 0, lat, 1), np.nan)
    stp = float(np.nansum(np_ratio)) if ok.any() else math.nan
    antt = float(np.nanmean(np.where(ok, lat / np.where(iso > 0, iso, 1), np.nan))) if ok.any() else math.nan
    weights = tenants.priority.to_numpy(dtype=float) + 1.0
    pp = np_ratio / (weights / weights.sum())
    pp = pp[np.isfinite(pp)]
    fairness = float(pp.min() / pp.max()) if pp.size >= 2 else (1.0 if pp.size == 1 else math.nan)
    sla_groups = {}
    for group, prios in PRIORITY_GROUPS.items():
        sel = tasks[tasks.priority.isin(list(prios))] if len(tasks) else tasks
        sla_groups[group] = float(sel.deadline_met.mean()) if len(sel) else None
    start = int(tasks.arrival_cycle.min()) if len(tasks) else 0
    makespan = int(tasks.finish_cycle.max()) - start if len(tasks) else 0
    soc = scenario.soc
    return {
        "scenario": scenario.name,
        "policy": policy,
        "soc": soc.name,
        "llc_bytes": soc.llc.size_bytes,
        "cores": soc.npu.cores,
        "seed": scenario.seed,
        "qos": scenario.qos,
        "makespan_cycles": makespan,
        "dram_bytes": int(tenants.dram_bytes.sum()),
        "stp": _nan_to_none(stp),
        "antt": _nan_to_none(antt),
        "fairness": _nan_to_none(fairness),
        "sla_rate": _nan_to_none(float(tasks.deadline_met.mean())) if len(tasks) else None,
        "sla_rate_by_priority": sla_groups,
        "tenants": [{
            "name": r.tenant, "workload": r.workload, "cores": int(r.cores), "tasks": int(r.tasks),
            "mean_latency_cycles": _nan_to_none(float(r.mean_latency_cycles)),
            "p95_latency_cycles": _nan_to_none(float(r.p95_latency_cycles)),
            "isolated_latency_cycles": _nan_to_none(float(r.isolated_latency_cycles)),
            "dram_bytes": int(r.dram_bytes),
            "llc_hit_rate": _nan_to_none(float(r.llc_hit_rate)),
            "sla_rate": _nan_to_none(float(r.sla_rate)),
            "macs_per_request": _nan_to_none(float(r.macs_per_request)),
            "throughput_per_mcycle": _nan_to_none(float(r.throughput_per_mcycle)),
            "task_switches": int(r.task_switches),
            "switch_cost_cycles": _nan_to_none(float(r.switch_cost_cycles)),
            "switch_cost_dram_bytes": _nan_to_none(float(r.switch_cost_dram_bytes)),
        } for r in tenants.itertuples()],
    }
