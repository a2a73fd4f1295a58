"""Sweeps: the cartesian product of scenario parameters, run in parallel.

A sweep is a base scenario (a scenario file, or a mix of workloads) and axes
(policy, LLC size, mix, cores, DRAM, seed, ...). Every point is validated
before anything runs. Isolated references (needed for STP and latency targets)
are computed first, once per distinct tenant, then the points; both go to a
local process pool (`jobs`) or a Dask cluster (`dask_address`). Rows (one per
point and tenant) are appended to the results file as points finish, so an
interrupted sweep keeps every finished point and `resume` skips them. When the
sweep ends the file is rewritten with the derived columns (`speedup`,
`dram_bytes_norm`, both against `shared` at the same point).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import hashlib
import io
import itertools
import json
import math
import os
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workloads import get_trace, workload_fault

from .atomicio import write_frame_whole
from .errors import COMMAND_LINE, InputError, first_line, refuse_input_as_output
from .scenario import (MAX_REQUESTS, RUN_OVERRIDES, SCHEDULERS, Scenario, apply_run_overrides, cpu_traffic_problem,
                       hashable_param, load_scenario, policy_names, qos_problem, qos_scale, scenario_from_flags,
                       workload_path, workload_problem)
from .soc import MAX_ARRAY_DIM, array_dims, array_number_problem, preset_names
from .specio import (MAX_INT, Section, beside, comma_names, csv_lines, folder_beside, load_yaml,
                     read_csv_with_text, refuse_repeated_csv_columns)
from .units import UnitError, count_text, parse_float_text, parse_int_text, parse_size

# axes a sweep can vary: name -> (SoC override flag or None, parser)
SOC_AXES = {
    "llc_size": "--llc-size", "llc_ways": "--llc-ways", "cores": "--cores", "array": "--array",
    "dataflow": "--dataflow", "tiler": "--tiler", "dram": "--dram", "dram_channels": "--dram-channels",
}
SCENARIO_AXES = ("policy", "mix", "seed", "qos", "requests", "scheduler", "cpu_traffic")
AXES = tuple(SOC_AXES) + SCENARIO_AXES
PARAM_PREFIX = "param."  # axis `param.<name>`: a builder parameter of every tenant whose workload has it
RESULT_COLUMNS = (
    "point_id", "policy", "llc_bytes", "mix", "soc", "tenant", "workload", "tasks", "mean_latency_cycles",
    "p95_latency_cycles", "isolated_latency_cycles", "dram_bytes", "llc_hit_rate", "sla_rate", "stp", "antt",
    "fairness", "point_sla_rate", "makespan_cycles", "point_dram_bytes", "macs_per_request",
    "throughput_per_mcycle", "task_switches", "switch_cost_cycles", "switch_cost_dram_bytes",
    "background_gb_per_s", "background_dram_bytes",
)


# columns of names: read back as written ('0931e36772950754' is a point id, not inf; a tenant named
# 'NA' or '007' is that name)
NAME_COLUMNS = ("point_id", "policy", "mix", "soc", "tenant", "workload")


def read_rows(source: Path | io.StringIO, **kwargs: Any) -> pd.DataFrame:
    """A sweep's rows from CSV (a journal or results file), names as text."""
    return read_csv_with_text(source, NAME_COLUMNS, **kwargs)


def is_axis(name: str) -> bool:
    return name in AXES or (name.startswith(PARAM_PREFIX) and len(name) > len(PARAM_PREFIX))


MAX_POINTS = 100_000  # one sweep's points (each a full simulation); beyond, validation alone takes minutes


@dataclass(frozen=True)
class Point:
    params: tuple[tuple[str, Any], ...]  # the swept values, in axis order
    scenario: Scenario
    point_id: str  # hash of the swept values and of everything the result depends on (`point_id`)

    def label(self) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.params)


def _compared(value: Any) -> Any:
    """A spec as plain JSON-ready data: the fields its dataclasses compare (not the
    file lines or sources they keep for error messages)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _compared(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}
    if isinstance(value, (list, tuple)):
        return [_compared(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _compared(v) for k, v in value.items()}
    return value


def point_id(params: tuple[tuple[str, Any], ...], scenario: Scenario, layer_digests: dict[str, str]) -> str:
    """A point's identity for --resume: its swept values, the resolved scenario
    (SoC, tenants, arrivals, policy, seed, ...), the layers of its workloads (a
    trace file edited in between is a new point) and the simulator's own code. Rows
    whose inputs changed are thus never taken for this point's.
    layer_digests memoises the layers' hash per (workload, params, task)."""
    from .engine.sim import layers_digest
    from .provenance import code_digest

    layers = []
    for t in scenario.tenants:
        key = json.dumps([t.workload, _compared(t.params), t.task], default=str)  # params may hold lists
        if key not in layer_digests:
            layer_digests[key] = layers_digest(t, scenario.source)
        layers.append(layer_digests[key])
    inputs = {"params": [list(p) for p in params], "scenario": _compared(dataclasses.replace(scenario, name="")),
              "layers": layers, "code": code_digest()}
    blob = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "+".join(map(str, v))
    return str(v)


@dataclass
class SweepSpec:
    """The base scenario and the axes; `points()` expands them."""

    axes: dict[str, list[Any]]
    base_scenario: str | None = None  # scenario file
    base_mix: list[str] | None = None
    soc: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)  # single values of axes not swept
    name: str = "sweep"
    source: str = COMMAND_LINE
    lines: dict[str, int] = field(default_factory=dict)  # experiment key (axes.<name> or <name>) -> line
    flag_axes: set[str] = field(default_factory=set)  # axes the command line set over the file's
    soc_from_flag: bool = False

    def points(self) -> list[Point]:
        names = [a for a in AXES if a in self.axes] + sorted(a for a in self.axes if a.startswith(PARAM_PREFIX))
        values = [self.axes[a] for a in names]
        count = math.prod(len(v) for v in values)
        if count > MAX_POINTS:
            sizes = " x ".join(f"{len(v)} {a}" for a, v in zip(names, values) if len(v) > 1)
            raise InputError(self.source, "axes", f"{count} points ({sizes}); at most {MAX_POINTS} in one sweep: "
                                            "split it into several", self.lines.get("axes"))
        self._check_mix_workloads()
        out = []
        layer_digests: dict[str, str] = {}
        for combo in itertools.product(*values):
            params = tuple(zip(names, combo))
            scenario = self._scenario(dict(params))
            out.append(Point(params, scenario, point_id(params, scenario, layer_digests)))
        return out

    def _check_mix_workloads(self) -> None:
        """A workload of a mix that is neither a zoo model nor a file fails whatever the other
        axes are: say so once, at the mix, rather than at the first point's values."""
        from workloads import model_names

        mixes = self.axes.get("mix") or ([self.base_mix] if self.base_mix else [])
        for w in dict.fromkeys(w for mix in mixes for w in mix):
            try:
                if w in model_names() or Path(w).is_file():
                    continue  # a trace file's own errors come with its line when the points read it
            except (OSError, ValueError):  # a name the file system refuses: get_trace says how
                pass
            try:
                get_trace(w)
            except InputError as exc:
                if workload_fault(exc, w) != ("workload",):
                    raise
                message = workload_problem(exc, w)
                if self.source == COMMAND_LINE or "mix" in self.flag_axes:
                    raise InputError(COMMAND_LINE, "--mix", message) from None
                where = "axes.mix" if "mix" in self.axes else "mix"
                raise InputError(self.source, where, message, self.lines.get(where)) from None

    def _scenario(self, params: dict[str, Any]) -> Scenario:
        merged = {**self.fixed, **params}
        builder = {k[len(PARAM_PREFIX):]: v for k, v in merged.items() if k.startswith(PARAM_PREFIX)}
        return self._with_params(self._base_scenario(merged), builder)

    def _with_params(self, sc: Scenario, builder: dict[str, Any]) -> Scenario:
        """Set builder parameters on every tenant whose zoo model takes them."""
        if not builder:
            return sc
        from workloads import model_names, model_parameters

        tenants = list(sc.tenants)
        for name, value in builder.items():
            hit = False
            for i, t in enumerate(tenants):
                if t.workload in model_names() and name in model_parameters(t.workload):
                    tenants[i] = dataclasses.replace(t, params=tuple(sorted({**dict(t.params), name: hashable_param(value)}.items())))
                    hit = True
            if not hit:
                raise self._param_error([name], "no tenant's workload has this parameter")
        for t in tenants:  # the builder must accept the value
            path = workload_path(t.workload, sc.source)
            try:
                get_trace(path, **dict(t.params))
            except InputError as exc:
                # every parameter of the point (the value may break only beside another), the one named first
                fault = workload_fault(exc, path, dict(t.params)) or ()
                named = [fault[0]] if len(fault) == 1 and fault[0] in builder else []
                raise self._param_error(named + [n for n in builder if n not in named], exc.message) from None
        return dataclasses.replace(sc, tenants=tuple(tenants))

    def _param_error(self, names: list[str], message: str) -> InputError:
        """An error about builder parameters, named as the experiment file gives them: `axes.param.<name>`
        when swept, `params.<name>` when fixed (only an experiment file sets them); at the first one's line."""
        fields = [f"axes.{PARAM_PREFIX}{n}" if PARAM_PREFIX + n in self.axes else f"params.{n}" for n in names]
        return InputError(self.source, ", ".join(fields), message, self.lines.get(fields[0]))

    def _base_scenario(self, merged: dict[str, Any]) -> Scenario:
        overrides = {SOC_AXES[k]: v for k, v in merged.items() if k in SOC_AXES}
        try:
            if self.base_scenario:
                if "mix" in merged:
                    raise InputError(self.source, "--mix" if self.source == COMMAND_LINE else "mix",
                                     "a sweep over mixes needs no base scenario file")
                sc = load_scenario(self.base_scenario, overrides, soc_ref=self.soc)
                return apply_run_overrides(sc, **{k: merged[k] for k in RUN_OVERRIDES if k in merged})
            mix = merged.get("mix", self.base_mix)
            if not mix:
                raise InputError(self.source, "--mix" if self.source == COMMAND_LINE else "mix",
                                 "give a scenario or a mix of workloads")
            return scenario_from_flags(soc=self.soc or "camdn", mix=list(mix),
                                       policy=merged.get("policy", "shared"),
                                       requests=merged.get("requests", 1), qos=merged.get("qos", "M"),
                                       seed=merged.get("seed", 0), scheduler=merged.get("scheduler", "fcfs"),
                                       soc_override=overrides, cpu_traffic=merged.get("cpu_traffic"))
        except InputError as exc:
            if exc.source == COMMAND_LINE and self.source == COMMAND_LINE:
                # a flag's value that fails only with the point's other values: name them
                key = exc.field[2:].replace("-", "_")
                swept = ", ".join(f"{k}={v}" for k, v in merged.items()
                                  if k in self.axes and k != key and len(self.axes[k]) > 1)
                if swept:
                    raise InputError(COMMAND_LINE, exc.field, f"{exc.message} (at {swept})") from None
                raise
            if exc.source == COMMAND_LINE and self.source != COMMAND_LINE:
                # the value came from the experiment file: name its key, not the flag it maps to
                key = exc.field[2:].replace("-", "_") if exc.field.startswith("--") else exc.field
                if key in self.flag_axes or (key == "soc" and self.soc_from_flag):
                    raise
                where = f"axes.{key}" if key in self.axes else key
                # the point's swept values: the error may come from their combination with `where`
                swept = ", ".join(f"{k}={v}" for k, v in merged.items() if k in self.axes and k != key)
                message = f"{exc.message} (at {swept})" if swept else exc.message
                raise InputError(self.source, where, message, self.lines.get(where)) from None
            if self.base_scenario and exc.source != COMMAND_LINE and self._base_loads_alone():
                # the base scenario's key fails only with this point's values: name them
                swept = ", ".join(f"{k}={v}" for k, v in merged.items() if k in self.axes and len(self.axes[k]) > 1)
                if swept:
                    raise InputError(exc.source, exc.field, f"{exc.message} (at {swept})", exc.line) from None
            raise

    def _base_loads_alone(self) -> bool:
        """Whether the base scenario loads without any swept value (then its error comes from a point's)."""
        try:
            load_scenario(self.base_scenario, {}, soc_ref=self.soc)
        except InputError:
            return False
        return True


# -- parsing axes -----------------------------------------------------------------

def _mix_names(text: str, err: Callable[[str], InputError]) -> list[str]:
    if not text.strip():
        return []  # an empty mix: refused as such below
    try:
        return comma_names(text)
    except ValueError as exc:
        raise err(str(exc)) from None


def parse_axis(name: str, raw: Any, source: str, line: int | None = None) -> list[Any]:
    """Values of one axis from a comma list (flags) or a YAML list."""
    def err(msg: str) -> InputError:
        return InputError(source, f"--{name.replace('_', '-')}" if source == COMMAND_LINE else name, msg, line)

    if name == "mix":
        if isinstance(raw, list) and raw and all(isinstance(m, list) for m in raw):
            mixes = raw
        elif isinstance(raw, list) and raw and all(isinstance(m, str) for m in raw):
            mixes = [_mix_names(m, err) for m in raw]
        elif isinstance(raw, str):
            mixes = [_mix_names(m, err) for m in raw.split(";")]
        else:
            raise err(f"expected a list of mixes, got {raw!r}")
        if not mixes or any(not m for m in mixes):
            raise err("a mix needs at least one workload")
        bad = next((w for m in mixes for w in m if not isinstance(w, str)), None)
        if bad is not None:
            raise err(f"a mix is a list of workload names, got {bad!r} in it")
        mixes = [tuple(m) for m in mixes]
        if len(set(mixes)) < len(mixes):
            raise err("a mix is given twice (a point would run twice)")
        return mixes
    if name.startswith(PARAM_PREFIX):
        values = raw if isinstance(raw, list) else [_scalar(p.strip()) for p in str(raw).split(",")]
        if not values or any(isinstance(v, (list, dict)) or str(v).strip() == "" for v in values):
            raise err(f"expected a list of values, got {raw!r}")
        _refuse_repeated(values, err)
        return values
    if isinstance(raw, dict) or (isinstance(raw, list) and any(isinstance(v, (dict, list)) for v in raw)):
        hint = " (a policy with options goes in a scenario file: `scenario:`)" if name == "policy" else ""
        raise err(f"expected {'names' if name == 'policy' else 'plain values'}, got {raw!r}{hint}")
    # a YAML number is one value, quoted as the number it is; text (a flag's) is a comma list
    items = raw if isinstance(raw, list) else [p.strip() for p in raw.split(",")] if isinstance(raw, str) else [raw]
    if not items or any(str(v).strip() == "" for v in items):
        raise err(f"empty value in {raw!r}")
    out = []
    for v in items:
        if name == "llc_size":
            try:
                out.append(parse_size(v))
            except UnitError as exc:
                raise err(str(exc)) from None
        elif name in ("llc_ways", "cores", "dram_channels", "seed", "requests"):
            try:
                n = parse_int_text(str(v).strip()) if not isinstance(v, bool) else None
            except ValueError:
                n = None
            if n is None or n < (0 if name == "seed" else 1):
                raise err(f"expected {'a non-negative' if name == 'seed' else 'a positive'} integer, got {v!r}")
            limit = {"requests": MAX_REQUESTS, "seed": MAX_INT}.get(name)
            if limit is not None and n > limit:
                raise err(f"must be at most {limit}, got {n}")
            out.append(n)
        elif name == "policy":
            if v not in policy_names():
                raise err(f"unknown policy {v!r} (policies: {', '.join(policy_names())})")
            out.append(v)
        elif name == "qos":
            problem = qos_problem(str(v).strip())
            if problem:
                raise err(problem)
            out.append(str(v).strip())
        elif name == "cpu_traffic":
            problem = cpu_traffic_problem(str(v).strip())
            if problem:
                raise err(problem)
            rate = float(str(v).strip())
            out.append(int(rate) if rate.is_integer() else rate)
        elif name == "array":
            if isinstance(v, int) and not isinstance(v, bool):  # 0x32 in YAML is the number 50
                raise err(array_number_problem(v))
            out.append(_array_text(str(v)))
        elif name == "scheduler":
            if v not in SCHEDULERS:
                raise err(f"unknown scheduler {v!r} (choose {', '.join(SCHEDULERS)})")
            out.append(v)
        else:
            out.append(str(v).strip())
    _refuse_repeated(out, err)
    if name == "qos":  # M and 1.0, or 1 and 1.0, are one deadline scale
        by_scale: dict[float, str] = {}
        for v in out:
            first = by_scale.setdefault(qos_scale(v), v)
            if first != v:
                raise err(f"{first} and {v} are the same deadline scale (a point would run twice)")
    return out


def _array_text(text: str) -> str:
    """ROWSxCOLS spelled one way (16X16, '16 x 16' and 016x16 are one array, so one point); what is
    no array the SoC takes is kept as given, for the SoC's check to name."""
    dims = array_dims(text)
    if dims is not None and all(1 <= d <= MAX_ARRAY_DIM for d in dims):
        return f"{dims[0]}x{dims[1]}"
    return text.strip()


def _refuse_repeated(values: list[Any], err: Callable[[str], InputError]) -> None:
    """An axis value given twice would run its points twice (1, 1.0 and True are different values)."""
    seen: set[tuple[type, Any]] = set()  # axis values are scalars (mixes are checked apart)
    repeated = set()
    for v in values:
        if (type(v), v) in seen:
            repeated.add(str(v))
        seen.add((type(v), v))
    repeated = sorted(repeated)
    if repeated:
        raise err(f"{', '.join(repeated)} given twice (a point would run twice)")


def _scalar(text: str) -> Any:
    """A comma-list value: a plain decimal is a number (as in a YAML list), anything
    else stays text (int() and float() would read "1_0" and full-width digits as numbers)."""
    for parse in (parse_int_text, parse_float_text):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def load_experiment(path: str | Path) -> SweepSpec:
    """An experiment YAML: `scenario` or `mix`, `soc`, fixed values, and `axes`."""
    source = str(path)
    data = load_yaml(path)
    top = Section(data, source)
    name = top.name("name", Path(path).stem)
    top.string("description", "")
    scen = top.string("scenario", None)
    if scen is not None:
        scen_path = Path(scen) if Path(scen).is_absolute() else Path(path).parent / scen
        if scen_path.is_dir():  # `scenario: .` names a folder: say so, not that nothing is there
            raise top.error("scenario", f"{str(scen_path)!r} is a directory, not a scenario file")
        if not scen_path.is_file():
            raise top.error("scenario", f"no such scenario file {str(scen_path)!r}")
        scen = str(scen_path)
    soc = top.string("soc", None)
    if soc is not None and soc not in preset_names() and not Path(soc).is_absolute():
        found = beside(soc, source)  # a SoC file next to the experiment, as for `scenario:`
        folder = folder_beside(soc, source) if found == soc else None
        if folder is not None:
            raise top.error("soc", f"{str(folder)!r} is a directory, not a SoC file")
        if found == soc and not Path(soc).is_file():
            raise top.error("soc", f"unknown preset and no such file {str(Path(path).parent / soc)!r}")
        soc = found
    mix = None
    if scen is not None and top.has("mix"):
        raise top.error("mix", "give either a scenario file or a mix (the scenario has its own tenants)")
    if top.has("mix"):
        raw = top.raw("mix")
        if isinstance(raw, list) and all(isinstance(w, str) for w in raw):
            raw = ",".join(raw)  # one mix written as a YAML list of workloads
        if not isinstance(raw, str):
            raise top.error("mix", "expected one mix: a list of workloads (sweep mixes under axes)")
        mixes = parse_axis("mix", raw, source, top.line_of("mix"))
        if len(mixes) > 1:
            raise top.error("mix", f"one mix here ({len(mixes)} given); mixes to sweep go under axes")
        mix = list(mixes[0])
    fixed = {}
    for key in AXES:
        if key in ("mix",) or not top.has(key):
            continue
        values = parse_axis(key, top.raw(key), source, top.line_of(key))
        if len(values) > 1:
            raise top.error(key, f"one value here ({len(values)} given); values to sweep go under axes")
        fixed[key] = values[0]
    params_sec = top.section("params", required=False)  # fixed builder parameters: {moe: sparse}
    for key in list(params_sec.data.keys()):
        fixed[PARAM_PREFIX + str(key)] = params_sec.raw(key)
    axes_sec = top.section("axes")
    axes = {}
    for key in list(axes_sec.data.keys()):
        if not is_axis(key):
            raise axes_sec.error(key, f"not a sweep axis (axes: {', '.join(AXES)}, param.<name>)")
        if axes_sec.raw(key) is None:  # `policy:` with nothing after it
            raise axes_sec.error(key, "no values (expected a list such as [a, b])")
        try:
            axes[key] = parse_axis(key, axes_sec.raw(key), source, axes_sec.line_of(key))
        except InputError as exc:
            raise InputError(exc.source, axes_sec.field(key), exc.message, exc.line) from None
    axes_sec.finish()
    top.finish()
    for key in axes:
        if key in fixed or (key == "mix" and mix is not None):
            raise axes_sec.error(key, f"also given as a fixed value ({key}: at the top level); give it once")
    if not axes:
        raise top.error("axes", "no axes to sweep")
    lines = {key: top.line_of(key) for key in top.data}
    lines.update({f"axes.{key}": axes_sec.line_of(key) for key in axes_sec.data})
    lines.update({f"params.{key}": params_sec.line_of(key) for key in params_sec.data})
    return SweepSpec(axes=axes, base_scenario=scen, base_mix=mix, soc=soc, fixed=fixed, name=name, source=source,
                     lines=lines)


# -- running ----------------------------------------------------------------------------

def _isolated_job(scenario: Scenario, tenant_index: int) -> float:
    from .api import isolated_latency
    from .mapping import Mapper

    return isolated_latency(scenario, scenario.tenants[tenant_index], Mapper(scenario.soc))


def _point_job(points: list[Point]) -> list[list[dict]]:
    """The rows of points that differ at most in their QoS level (one simulation
    when the policy allows it: `run_scenarios_at_qos_levels`)."""
    from .api import run_scenarios_at_qos_levels

    # a finished simulation is a web of cycles (policy, processes) holding its stream arrays: free it
    # at once rather than when the cyclic collector next runs, points later. What existed before the
    # point (modules, the sweep's other points) is frozen meanwhile, so that collection costs what the
    # point made, not the whole heap
    ours = gc.get_freeze_count() == 0  # a caller's own freeze is left as it is
    if ours:
        gc.freeze()
    try:
        results = run_scenarios_at_qos_levels([p.scenario for p in points])
        rows = [point_rows(p, r.summary) for p, r in zip(points, results)]
        del results
        gc.collect()
    finally:
        if ours:
            gc.unfreeze()
    return rows


def _jobs(points: list[Point]) -> list[list[Point]]:
    """Points grouped into jobs: the QoS levels of one scenario share a job when its
    policy's decisions do not read deadlines; every other point is a job of its own."""
    from .api import qos_levels_share_a_simulation

    jobs: list[list[Point]] = []
    # scenarios bucketed by their JSON form (tenants' parameters may be lists: no hashing the dataclass),
    # then compared within a bucket: grouping stays linear in the number of points
    shared: dict[str, list[tuple[Scenario, list[Point]]]] = {}
    for p in points:
        if not qos_levels_share_a_simulation(p.scenario):
            jobs.append([p])
            continue
        key = dataclasses.replace(p.scenario, qos="")
        bucket = shared.setdefault(json.dumps(_compared(key), sort_keys=True, default=str), [])
        group = next((g for k, g in bucket if k == key), None)
        if group is None:
            group = []
            bucket.append((key, group))
            jobs.append(group)
        group.append(p)
    return jobs


def _mix_label(scenario: Scenario) -> str:
    """A point's `mix` column: its tenants' workloads joined by '+'."""
    return "+".join(t.workload for t in scenario.tenants)


def point_rows(point: Point, s: dict) -> list[dict]:
    params = dict(point.params)
    base = {
        "point_id": point.point_id, "policy": s["policy"], "llc_bytes": s["llc_bytes"],
        "mix": _mix_label(point.scenario), "soc": s["soc"],
    }
    for k, v in params.items():
        if k not in ("policy", "mix", "llc_size"):
            base[k] = _fmt(v)
    rows = []
    for t, spec in zip(s["tenants"], point.scenario.tenants):
        rows.append({**base, "tenant": t["name"], "workload": spec.workload, "tasks": t["tasks"],
                     "mean_latency_cycles": t["mean_latency_cycles"],
                     "p95_latency_cycles": t["p95_latency_cycles"],
                     "isolated_latency_cycles": t["isolated_latency_cycles"], "dram_bytes": t["dram_bytes"],
                     "llc_hit_rate": t["llc_hit_rate"], "sla_rate": t["sla_rate"], "stp": s["stp"],
                     "antt": s["antt"], "fairness": s["fairness"], "point_sla_rate": s["sla_rate"],
                     "makespan_cycles": s["makespan_cycles"], "point_dram_bytes": s["dram_bytes"],
                     **{k: t.get(k) for k in RESULT_COLUMNS[RESULT_COLUMNS.index("macs_per_request"):
                                                           RESULT_COLUMNS.index("background_gb_per_s")]},
                     "background_gb_per_s": sum(b["achieved_gb_per_s"] for b in s.get("background", [])),
                     "background_dram_bytes": s.get("background_dram_bytes", 0)})
    return rows


class WorkerDied(RuntimeError):
    """A point whose worker process ended without a result, even when it ran alone."""


class Executor:
    """Local processes or a Dask cluster, behind one submit/as_completed interface."""

    def __init__(self, jobs: int, dask_address: str | None):
        self.dask = None
        self.pool = None
        if dask_address:
            try:
                from distributed import Client
            except ImportError:
                raise InputError(COMMAND_LINE, "--dask", "needs dask.distributed: pip install 'npusim[dask]'") from None
            try:
                self.dask = Client(dask_address, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(COMMAND_LINE, "--dask", f"cannot connect to {dask_address!r}: {exc}") from None
        elif jobs > 1:
            self.pool = self._new_pool(jobs)
        self.jobs = jobs

    @staticmethod
    def _new_pool(jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_exit_with_parent, initargs=(os.getpid(),))

    def map_unordered(self, fn: Callable, args: list[tuple]) -> Iterable[tuple[int, Any, BaseException | None]]:
        """Yield (index, result, error) as jobs finish; a crashed job yields its error."""
        if self.dask is not None:
            from distributed import as_completed

            futs = {self.dask.submit(fn, *a, pure=False): i for i, a in enumerate(args)}
            for fut in as_completed(futs):
                i = futs[fut]
                try:
                    yield i, fut.result(), None
                except Exception as exc:  # noqa: BLE001 - a point's failure is reported, not fatal
                    yield i, None, exc
            return
        if self.pool is None:
            for i, a in enumerate(args):
                try:
                    res = fn(*a)
                except Exception as exc:  # noqa: BLE001 - reported per point, as from a worker
                    yield i, None, exc
                    continue
                yield i, res, None
            return
        yield from self._map_local(fn, args)

    def _map_local(self, fn: Callable, args: list[tuple]) -> Iterable[tuple[int, Any, BaseException | None]]:
        """At most two jobs per worker are handed to the pool at a time, so when a worker dies (killed, out
        of memory) only those are suspects: each reruns alone in a fresh process, the one that dies again
        is reported, and the rest go on in a fresh pool."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = list(enumerate(args))[::-1]  # popped from the end, in order
        window = 2 * self.jobs
        inflight: dict[Any, int] = {}
        while queue or inflight:
            broken = False
            while queue and len(inflight) < window:
                i, a = queue.pop()
                try:
                    with _workers_ignore_ctrl_c():  # the pool starts its workers as jobs are submitted
                        inflight[self.pool.submit(fn, *a)] = i
                except BrokenProcessPool:  # a worker died while we were away (writing rows)
                    queue.append((i, a))
                    broken = True
                    break
            if not broken:
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=inflight.__getitem__):
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    except Exception as exc:  # noqa: BLE001 - a point's failure is reported, not fatal
                        yield inflight.pop(fut), None, exc
                        continue
                    yield inflight.pop(fut), res, None
            if broken:
                suspects = sorted(inflight.values())
                inflight.clear()
                self.pool.shutdown(wait=False, cancel_futures=True)
                for i in suspects:
                    yield self._run_alone(fn, i, args[i])
                self.pool = self._new_pool(self.jobs)

    def _run_alone(self, fn: Callable, i: int, a: tuple) -> tuple[int, Any, BaseException | None]:
        from concurrent.futures.process import BrokenProcessPool

        with _workers_ignore_ctrl_c():
            self.pool = self._new_pool(1)  # held by the executor, so an interrupt stops its worker
            fut = self.pool.submit(fn, *a)
        try:
            res = fut.result()
        except BrokenProcessPool:
            out: tuple[int, Any, BaseException | None] = (
                i, None, WorkerDied("its worker process died (killed, or out of memory?)"))
        except Exception as exc:  # noqa: BLE001
            out = (i, None, exc)
        else:
            out = (i, res, None)
        self.pool.shutdown(wait=False, cancel_futures=True)
        return out

    def close(self, interrupted: bool = False) -> None:
        if self.pool is not None:
            if interrupted:  # the points in flight are lost anyway: stop their workers now
                for proc in list((getattr(self.pool, "_processes", None) or {}).values()):  # None once shut down
                    proc.terminate()
                self.pool.shutdown(wait=False, cancel_futures=True)
            else:
                self.pool.shutdown(wait=True)
        if self.dask is not None:
            self.dask.close()


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Processes started inside ignore SIGINT (an ignored signal stays ignored in a child): Ctrl-C reaches
    the whole process group, and the sweep, which stops its workers itself, must be the one to handle it
    (a worker interrupted while it starts or waits for a job would print a traceback). A Ctrl-C during
    the few milliseconds of the start is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a sweep run from another thread gets no Ctrl-C
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: leave when the sweep that started this worker is gone
    (killed outright, it cannot stop its workers itself)."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def results_path(out: str | Path) -> Path:
    """--out DIR (or DIR/) holds results.csv; otherwise the file itself."""
    p = Path(out)
    if str(out).endswith(os.sep) or p.is_dir() or p.suffix == "":
        return p / "results.csv"
    return p


def journal_path(path: Path) -> Path:
    """Rows are appended to a CSV journal; a Parquet result is written from it at the end."""
    return path if path.suffix.lower() == ".csv" else path.with_name(path.name + ".journal.csv")


def _refuse_inputs_as_output(spec: SweepSpec, points: list[Point], outputs: tuple[Path, ...]) -> None:
    """--out must not be one of the sweep's own input files (it would be overwritten)."""
    inputs = {spec.source, spec.base_scenario}
    for p in points:
        inputs.add(p.scenario.soc.source)
        inputs.update(workload_path(t.workload, p.scenario.source) for t in p.scenario.tenants)
    for out in outputs:
        refuse_input_as_output("--out", out, inputs)


def _prepare_journal(journal: Path) -> list[Path]:
    """Make sure the journal can be written; return what was created for it
    (the file and new folders, innermost first) so a run that writes nothing
    can take them away again."""
    created: list[Path] = []
    folder = journal.parent
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    try:
        journal.parent.mkdir(parents=True, exist_ok=True)
        if journal.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        if journal.exists():
            if not os.access(journal, os.W_OK):
                raise PermissionError(13, "Permission denied")
        else:
            journal.open("a", encoding="utf-8").close()
            created.insert(0, journal)
    except OSError as exc:
        _remove_if_empty(created)
        why = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError):  # mkdir met a file where a folder of the path should be
            blocking = next((p for p in journal.parents if p.exists() and not p.is_dir()), None)
            why = f"{str(blocking)!r} is a file, not a folder" if blocking is not None else why
        raise InputError(COMMAND_LINE, "--out", f"cannot write {str(journal)!r}: {why}") from None
    return created


def _remove_if_empty(paths: list[Path]) -> None:
    for p in paths:
        try:
            if p.is_dir():
                p.rmdir()  # only if empty
            elif p.is_file() and p.stat().st_size == 0:
                p.unlink()
        except OSError:
            pass


@dataclass
class JournalRepair:
    """What `--resume` must change in the results before going on (nothing is written
    until the sweep is sure to run: `write()`)."""

    journal: Path
    notes: list[str]
    text: str | None = None  # the repaired file, when it differs
    keep: tuple[Path, ...] = ()  # files to keep as `<stem>.prev<suffix>` first (rows are dropped)

    def write(self) -> None:
        if self.text is not None:
            # the previous files are copied, not moved: interrupted at any moment, the journal is whole and
            # a Parquet result stays at --out until the resumed sweep rewrites it
            _replace_text(self.journal, self.text, before=lambda: _keep_previous(*self.keep, copy=True))


def _replace_text(path: Path, text: str, before: Callable[[], Any] | None = None) -> None:
    """Write `path` whole or not at all: a synced temporary file renamed over it (after `before()`)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if before is not None:
            before()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_journal(path: Path, journal: Path, points: list[Point]) -> JournalRepair:
    """--resume only continues a results file this command wrote: a foreign or
    unreadable one is refused rather than merged. What an interrupted write can
    leave is repaired: a last row cut off, a point with only some of its tenants'
    rows, a point's rows written twice, a byte-order mark. Rows of points this
    sweep does not have (other values, or changed inputs) are dropped, so the
    result is what a fresh run gives; the file is kept as `<stem>.prev<suffix>`."""
    if not journal.is_file() or journal.stat().st_size == 0:
        if path != journal and path.is_file() and path.stat().st_size > 0:
            # its rows cannot be read back as they were written: refuse rather than replace it unkept
            raise InputError(str(path), "results", f"cannot resume: {journal.name}, the journal a sweep writes "
                                                   "beside it, is missing or empty; move the file away or drop "
                                                   "--resume")
        return JournalRepair(journal, [])
    try:
        raw = journal.read_bytes()
        # the header line alone: a row torn inside a multi-byte character is repaired below, not refused here;
        # a BOM (a spreadsheet saved it) is not a column
        header = next(csv.reader(csv_lines(raw.split(b"\n", 1)[0].decode("utf-8-sig"))[:1]), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(str(journal), "results", f"cannot resume from it: {exc}") from None
    text = raw.removeprefix(b"\xef\xbb\xbf")
    if b"\n" not in text and b"point_id".startswith(text):  # killed while writing its first column's name
        return JournalRepair(journal, ["its header was cut off by an interrupted write"], "")
    if "point_id" not in header:
        raise InputError(str(journal), "point_id", "cannot resume: not the results of `npusim sweep` "
                                                   "(no point_id column); remove it or drop --resume")
    repair = _repair_journal(path, journal, raw, header, points)
    if repair.text == "":
        return repair  # no row is kept
    try:
        rows = read_rows(io.StringIO(repair.text) if repair.text is not None else journal)
    except Exception as exc:  # noqa: BLE001 - a damaged journal is bad input
        raise InputError(str(journal), "results", f"cannot resume: {first_line(exc)}") from None
    if len(rows):
        from .report import check_columns

        check_columns(rows, str(journal))  # the rows it keeps must be usable
    return repair


def _repair_journal(path: Path, journal: Path, raw: bytes, header: list[str], points: list[Point]) -> JournalRepair:
    """Drop a byte-order mark, a torn last row, repeated (point, tenant) rows, the
    rows of points missing a tenant (they run again) and those of points not in
    this sweep (the results files are then kept as `<stem>.prev<suffix>` first)."""
    notes = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        notes.append("a byte-order mark (as a spreadsheet saves it) removed")
    if not raw.endswith(b"\n"):
        raw = raw[:raw.rfind(b"\n") + 1]
        notes.append("its last row was cut off by an interrupted write")
        if not raw:  # the header itself was cut: no row was written
            return JournalRepair(journal, notes, "")
    read: list[list[str]] = []
    starts: list[int] = []  # the file line each row starts on (a quoted cell may hold line ends)
    try:
        reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
        done = 0  # file lines read before this row
        for row in reader:
            starts.append(done + 1)
            read.append(row)
            done = reader.line_num
    except (UnicodeDecodeError, csv.Error) as exc:  # damage inside the file, not a torn last row
        raise InputError(str(journal), "results", f"cannot resume from it: {exc}") from None
    read, starts = read[1:], starts[1:]
    # a blank line is no row (as `npusim report` reads the file), not a row of no fields
    lines = [line for line, row in zip(starts, read) if row]
    rows = [row for row in read if row]
    if len(rows) < len(read):
        notes.append(count_text(len(read) - len(rows), "blank line") + " removed")
    for line, row in zip(lines, rows):
        if len(row) != len(header):
            raise InputError(str(journal), "results", f"cannot resume: {len(row)} fields where the header has "
                                                      f"{len(header)}", line)
    if "tenant" not in header:
        return JournalRepair(journal, notes, _csv_text(header, rows) if notes else None)
    _refuse_edited_rows(journal, header, rows, points, lines)
    pid, tenant = header.index("point_id"), header.index("tenant")
    tenants_of = {p.point_id: len(p.scenario.tenants) for p in points}
    seen: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        if (row[pid], row[tenant]) not in seen:
            seen.add((row[pid], row[tenant]))
            kept.append(row)
    if len(kept) < len(rows):
        notes.append(f"{len(rows) - len(kept)} repeated rows")
    count: dict[str, int] = {}
    for row in kept:
        count[row[pid]] = count.get(row[pid], 0) + 1
    short = {p for p, n in count.items() if n < tenants_of.get(p, 0)}
    if short:
        kept = [row for row in kept if row[pid] not in short]
        notes.append(f"{count_text(len(short), 'point')} without all tenants' rows (run again)")
    other = {p for p in count if p not in tenants_of}
    keep: tuple[Path, ...] = ()
    if other:
        kept = [row for row in kept if row[pid] not in other]
        keep = tuple(f for f in dict.fromkeys((journal, path)) if f.is_file() and f.stat().st_size > 0)
        notes.append(f"{count_text(len(other), 'point')} not in this sweep dropped (other swept "
                     "values, or the SoC, scenario, workloads or simulator changed since); the previous file is "
                     "kept as " + " and ".join(str(_previous_name(f)) for f in keep))
    # nothing kept: start afresh, with this sweep's columns
    return JournalRepair(journal, notes, (_csv_text(header, kept) if kept else "") if notes else None, keep=keep)


def _refuse_edited_rows(journal: Path, header: list[str], rows: list[list[str]], points: list[Point],
                        lines: list[int]) -> None:
    """A row is kept by its point_id alone: one whose policy, mix or tenant is not its point's was
    edited (or damaged), and keeping it would put its numbers under the wrong name."""
    expected_of = {p.point_id: {"policy": {p.scenario.policy.name}, "mix": {_mix_label(p.scenario)},
                                "tenant": {t.name for t in p.scenario.tenants},
                                "workload": {t.workload for t in p.scenario.tenants}} for p in points}
    col = {name: header.index(name) for name in ("point_id", "policy", "mix", "tenant", "workload") if name in header}
    for line, row in zip(lines, rows):
        expected = expected_of.get(row[col["point_id"]])
        if expected is None:
            continue  # another sweep's point: dropped anyway
        for name, allowed in expected.items():
            if name in col and row[col[name]] not in allowed:
                raise InputError(str(journal), name, f"cannot resume: {row[col[name]]!r} is not the {name} of point "
                                                     f"{row[col['point_id']]} (the row was edited or damaged): remove "
                                                     "the row or drop --resume", line)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out)  # as _append writes rows
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def read_done(path: Path) -> set[str]:
    j = journal_path(path)
    if not j.is_file():
        return set()
    try:
        df = read_rows(j, usecols=["point_id"])
    except (ValueError, pd.errors.EmptyDataError):
        return set()
    return set(df.point_id.astype(str))


@dataclass
class SweepOutcome:
    results: pd.DataFrame
    path: Path
    ran: int
    skipped: int
    failed: list[tuple[Point, str]]
    wall_seconds: float
    bad_input: bool = False  # some point failed on an InputError (exit status 2)


def run_sweep(spec: SweepSpec, out: str | Path, *, jobs: int = 1, dask_address: str | None = None,
              resume: bool = False, progress: Callable[[int, int], None] | None = None,
              report_error: Callable[[str], None] | None = None) -> SweepOutcome:
    path = results_path(out)
    if Path(out).is_dir() and (Path(out) / "summary.json").is_file():
        # a run's folder: its report would show the run, never the sweep written beside it
        raise InputError(str(out), "--out", "is the folder of a run (`npusim run --out`: it holds summary.json); "
                                            "give the sweep a folder of its own")
    journal = journal_path(path)
    ours = _Ours(resume)  # the journal holds this sweep's rows (resumed), or will once it writes its first
    lock = SweepLock(path)
    try:
        return _run_sweep(spec, path, journal, ours, jobs, dask_address, resume, progress, report_error, lock)
    except KeyboardInterrupt as exc:  # the CLI's message says whether to --resume: are finished points there?
        exc.finished_points_kept = ours.value and _has_a_row(journal)  # type: ignore[attr-defined]
        raise
    finally:
        lock.release()


class SweepLock:
    """One sweep at a time writes a results file: an advisory lock on `<results>.lock`
    beside it, held from before the first write to the end and removed then (the system
    drops it if the process dies; the file left behind then locks nothing)."""

    def __init__(self, results: Path):
        self.path = results.with_name(results.name + ".lock")
        self._fh = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this system: sweeps are not guarded against each other
            return
        while True:
            fh = open(self.path, "a", encoding="utf-8")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                raise InputError(COMMAND_LINE, "--out", f"another sweep is writing "
                                 f"{str(self.path.with_suffix(''))!r} (it holds {str(self.path)!r}): wait for it, "
                                 "or write elsewhere") from None
            if self._still_at_path(fh):
                break
            fh.close()  # its holder finished and removed it between our open and our lock: take the new one
        self._fh = fh

    def _still_at_path(self, fh) -> bool:
        try:
            return os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path))
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self._fh is not None:
            self.path.unlink(missing_ok=True)  # while still held: no other sweep locks a file about to go
            self._fh.close()
            self._fh = None


@dataclass
class _Ours:
    value: bool


def _has_a_row(journal: Path) -> bool:
    """Whether the journal holds a whole row below its header."""
    try:
        with open(journal, "rb") as fh:
            fh.readline()  # the header
            return fh.readline().endswith(b"\n")
    except OSError:
        return False


def _run_sweep(spec: SweepSpec, path: Path, journal: Path, ours: _Ours, jobs: int, dask_address: str | None,
               resume: bool, progress: Callable[[int, int], None] | None,
               report_error: Callable[[str], None] | None, lock: SweepLock) -> SweepOutcome:
    points = spec.points()  # validates every point before anything runs
    fmt_ok = path.suffix.lower() in (".csv", ".parquet", ".pq")
    if not fmt_ok:
        raise InputError(COMMAND_LINE, "--out", f"cannot tell the format of {str(path)!r}: use .csv, .parquet or a directory")
    _refuse_inputs_as_output(spec, points, (path, journal))
    repair = _check_journal(path, journal, points) if resume else JournalRepair(journal, [])
    executor = Executor(jobs, dask_address)  # before touching --out: a bad address leaves nothing behind
    created: list[Path] = []
    try:
        created = _prepare_journal(journal)
        lock.acquire()  # before anything is written (a second sweep would append its rows to ours)
        repair.write()
    except BaseException:
        executor.close(True)
        lock.release()
        _remove_if_empty(created)
        raise
    if repair.notes and report_error:
        report_error(f"warning: {journal}: repaired before resuming: {'; '.join(repair.notes)}")
    done = read_done(path) if resume else set()
    todo = [p for p in points if p.point_id not in done]
    started = time.time()
    failed: list[tuple[Point, str]] = []
    bad_input = False
    wrote = False  # without --resume an existing file is replaced only once a point has a result
    interrupted = False
    try:
        # isolated references first, once per distinct tenant (they fill the shared cache)
        from .api import _isolated_key

        seen: dict[str, tuple[Scenario, int]] = {}
        for p in todo:
            for i, t in enumerate(p.scenario.tenants):
                seen.setdefault(_isolated_key(p.scenario, t), (p.scenario, i))
        iso_args = list(seen.values())
        total = len(iso_args) + len(todo)
        finished = 0
        for _, _, exc in executor.map_unordered(_isolated_job, iso_args):
            finished += 1
            if progress:
                progress(finished, total)
        fieldnames = None
        if resume and journal.stat().st_size > 0:
            with open(journal, encoding="utf-8") as fh:
                fieldnames = next(csv.reader(fh), None)
        groups = _jobs(todo)
        for i, group_rows, exc in executor.map_unordered(_point_job, [(group,) for group in groups]):
            for k, point in enumerate(groups[i]):
                finished += 1
                if exc is not None:
                    if isinstance(exc, InputError):
                        # bad input met only while simulating (e.g. buffers too small for a layer)
                        bad_input = True
                        message = f"{exc} (point {point.label()})"
                    else:
                        message = f"point {point.label()}: {type(exc).__name__}: {exc}"
                    failed.append((point, message))
                    if report_error:
                        report_error(f"error: {message}")
                else:
                    if fieldnames is None and not resume:  # the first row replaces what was there: keep it
                        for old, kept in _keep_previous(path, journal):
                            if report_error:
                                report_error(f"warning: {old}: replaced by this sweep; the previous file is "
                                             f"kept as {kept} (use --resume to continue a sweep)")
                        ours.value = True
                    fieldnames = _append(journal, group_rows[k], fieldnames)
                    wrote = True
                if progress:
                    progress(finished, total)
    except BaseException:
        interrupted = True
        raise
    finally:
        try:
            executor.close(interrupted)
        except BaseException:
            executor.close(True)  # interrupted while waiting for the workers: stop them
            raise
        finally:
            if not wrote and created:
                lock.release()  # its file would keep the folder we made
                _remove_if_empty(created)
    if not wrote and not (resume and journal.is_file()):
        # nothing new: a file that was there stays as it was
        results = pd.DataFrame(columns=list(RESULT_COLUMNS))
        return SweepOutcome(results=results, path=path, ran=0, skipped=len(points) - len(todo), failed=failed,
                            wall_seconds=time.time() - started, bad_input=bad_input)
    results = finalize(path, [p.point_id for p in points])
    return SweepOutcome(results=results, path=path, ran=len(todo) - len(failed), skipped=len(points) - len(todo),
                        failed=failed, wall_seconds=time.time() - started, bad_input=bad_input)


def _keep_previous(*files: Path, copy: bool = False) -> list[tuple[Path, Path]]:
    """Move (or copy, when they stay in use) the non-empty results a new sweep is about to replace to
    `<stem>.prev<suffix>` (one generation); returns (file, where it is kept) for each."""
    kept = []
    for f in dict.fromkeys(files):
        if f.is_file() and f.stat().st_size > 0:
            prev = _previous_name(f)
            if copy:
                shutil.copyfile(f, prev)
            else:
                os.replace(f, prev)
            kept.append((f, prev))
    return kept


def _previous_name(path: Path) -> Path:
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _append(journal: Path, rows: list[dict], fieldnames: list[str] | None) -> list[str]:
    """Append rows (flushed at once, so an interrupted sweep keeps them; a new journal's header is
    written with its first rows, never alone)."""
    new = fieldnames is None
    if fieldnames is None:
        fieldnames = list(rows[0].keys())
    extra = [k for k in rows[0] if k not in fieldnames]
    if extra:  # a new axis column: rewrite with the wider header, every field's text as it was
        with open(journal, newline="", encoding="utf-8") as fh:
            old = list(csv.reader(fh))[1:]
        fieldnames = fieldnames + extra
        _replace_text(journal, _csv_text(fieldnames, [row + [""] * len(extra) for row in old]))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fieldnames, restval="")
    if new:
        writer.writeheader()
    writer.writerows(rows)
    with open(journal, "w" if new else "a", newline="", encoding="utf-8") as fh:
        fh.write(text.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
    return fieldnames


def add_derived(df: pd.DataFrame) -> pd.DataFrame:
    """speedup and dram_bytes_norm against `shared` at the same point and tenant."""
    df = df.copy()
    derived = ("speedup", "dram_bytes_norm", "point_dram_bytes_norm")
    if df.empty:
        for c in derived:
            df[c] = []
        return df
    key_cols = [c for c in df.columns if c not in set(RESULT_COLUMNS) | set(derived)]
    if "point_id" in df.columns and key_cols:
        # a column that differs between one point's tenants is no swept value of the point but a per-tenant
        # figure (another npusim version's, or one added by hand): matching on it would find no shared row
        varies = df.groupby("point_id", sort=False, dropna=False)[key_cols].nunique(dropna=False).max()
        key_cols = [c for c in key_cols if varies[c] <= 1]
    key_cols = [*(c for c in ("llc_bytes", "mix", "soc") if c in df.columns), *key_cols, "tenant"]
    if "point_dram_bytes" not in df.columns:  # a table npusim did not write: the point's tenants' sum
        point = [c for c in key_cols if c != "tenant"] + ["policy"]
        df["point_dram_bytes"] = df.groupby(point, dropna=False)["dram_bytes"].transform("sum")
    if "shared" in set(df.policy):
        ref = df[df.policy == "shared"].set_index(key_cols)[["mean_latency_cycles", "dram_bytes",
                                                             "point_dram_bytes"]]
        ref = ref[~ref.index.duplicated()].add_suffix("_shared").reset_index()
        joined = df[key_cols + ["mean_latency_cycles", "dram_bytes", "point_dram_bytes"]].merge(
            ref, on=key_cols, how="left")
        joined.index = df.index
        df["speedup"] = _ratio(joined["mean_latency_cycles_shared"], joined["mean_latency_cycles"])
        df["dram_bytes_norm"] = _ratio(joined["dram_bytes"], joined["dram_bytes_shared"])
        df["point_dram_bytes_norm"] = _ratio(joined["point_dram_bytes"], joined["point_dram_bytes_shared"])
    else:
        for c in derived:
            df[c] = float("nan")
    return df


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, n/a where den is 0: nothing to compare with (an infinite ratio would be an inf in the
    tables that the plots drop and the report refuses to read back)."""
    num, den = num.astype(float), den.astype(float)
    return (num / den.where(den != 0)).astype(float)


def with_derived(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with speedup and DRAM against shared: computed when a column is missing; else as given,
    an empty cell computed (the rows a resumed sweep appended to its finished CSV have none until it ends)."""
    derived = ("speedup", "dram_bytes_norm", "point_dram_bytes_norm")
    given = [c for c in derived if c in df.columns]
    if len(given) < len(derived):
        return add_derived(df.drop(columns=given))
    if not df[given].isna().to_numpy().any():
        return df
    out = add_derived(df.drop(columns=given))
    for c in given:  # a value given stays; an empty cell gets the computed one
        out[c] = df[c].where(df[c].notna(), out[c])
    return out


def finalize(path: Path, order: list[str] | None = None) -> pd.DataFrame:
    """Rewrite the results with derived columns (atomically) and return them.
    Rows follow `order` (point ids; the sweep's own order), not the order the
    points finished in, so --jobs does not change the file."""
    journal = journal_path(path)
    try:
        df = read_rows(journal)
    except (pd.errors.EmptyDataError, FileNotFoundError):
        df = pd.DataFrame(columns=list(RESULT_COLUMNS))
    if order and len(df):
        rank = {pid: i for i, pid in enumerate(order)}
        key = df.point_id.astype(str).map(rank).fillna(len(order))  # rows of other sweeps (resumed) last
        df = df.iloc[key.to_numpy().argsort(kind="stable")].reset_index(drop=True)
    df = add_derived(df.drop(columns=[c for c in ("speedup", "dram_bytes_norm", "point_dram_bytes_norm")
                                      if c in df.columns]))
    # interrupted while writing: the table stays as it was and the journal has every row
    write_frame_whole(path, df, parquet=path.suffix.lower() != ".csv")
    return df


def read_results(path: str | Path) -> pd.DataFrame:
    p = results_path(path) if Path(path).is_dir() else Path(path)
    if p.is_file() and p.stat().st_size == 0:
        raise InputError(str(p), "results", "empty file (a sweep's results start with their header)")
    if p.suffix.lower() == ".json" and p.is_file():
        raise InputError(str(p), "results", "a run's summary, not a sweep's results: give `npusim report` "
                                            "the run's folder")
    if not p.is_file():
        raise InputError(str(path), "results", "no results file (expected a sweep's results.csv or .parquet)")
    if p.suffix.lower() == ".csv":
        refuse_repeated_csv_columns(p)
        _refuse_torn_row(p)  # before decoding: a row torn inside a multi-byte character is cut off, not garbled
    try:
        df = pd.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else read_rows(p)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        text = first_line(exc)
        at = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
        if at:  # pandas' tokenizer: name the CSV line
            raise InputError(str(p), "results", f"{at.group(3)} fields where the header has {at.group(1)}",
                             int(at.group(2))) from None
        raise InputError(str(p), "results", f"cannot read: {text}") from None
    if p.suffix.lower() == ".csv":
        _refuse_short_rows(p)
    else:
        _warn_if_behind_journal(p, df)
    return df


class StaleResultsWarning(UserWarning):
    """A Parquet result lacks points its journal holds (a sweep stopped before rewriting it)."""


def _warn_if_behind_journal(path: Path, df: pd.DataFrame) -> None:
    """A Parquet result is rewritten from its journal only when a sweep ends: one interrupted
    (a resumed one too) leaves points in the journal that the Parquet file does not have."""
    journal = journal_path(path)
    if "point_id" not in df.columns or not journal.is_file():
        return
    try:
        ids = read_rows(journal, usecols=["point_id"]).point_id
    except Exception:  # noqa: BLE001 - an unreadable journal is --resume's to report, not the report's
        return
    missing = set(ids.dropna().astype(str)) - set(df.point_id.dropna().astype(str))
    if missing:
        warnings.warn(StaleResultsWarning(
            f"{path}: {journal.name} holds {count_text(len(missing), 'point')} this file lacks (a sweep was "
            "interrupted before it rewrote it), not in this report: `npusim sweep ... --resume` finishes "
            "the sweep and rewrites the file, or report the journal itself"), stacklevel=2)


def _refuse_short_rows(path: Path) -> None:
    """A row with fewer fields than the header (pandas would fill the rest with n/a) is damage, as
    --resume says of it."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            width = len(next(reader, []))
            for row in reader:
                if row and len(row) < width:
                    raise InputError(str(path), "results", f"{len(row)} fields where the header has {width}",
                                     reader.line_num)
    except (UnicodeDecodeError, csv.Error):
        return  # pandas read the file: its own checks of the rows stand


def _refuse_torn_row(path: Path) -> None:
    """A sweep's results end with a line end after every row; a last row without
    one was cut off by a sweep killed while writing (even if its fields are all
    there, the last may be short): refuse it, as --resume would drop it."""
    with open(path, "rb") as fh:
        header = fh.readline().decode("utf-8-sig", errors="replace")
        try:
            if "point_id" not in next(csv.reader([header]), []):
                return  # not a file `npusim sweep` wrote
        except csv.Error:  # a header field beyond the csv module's limit: pandas' reading says what is wrong
            return
        fh.seek(-1, os.SEEK_END)  # not empty: its header names point_id
        if fh.read(1) == b"\n":
            return
    text = csv_lines(path.read_text(encoding="utf-8", errors="replace"))
    raise InputError(str(path), "results", "the last row is cut off (no line end: the sweep was interrupted while "
                                           "writing it): run the sweep again with --resume", len(text))


MAX_JOBS = 1024  # local worker processes; more is a typo, not a machine


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def progress_printer(enabled: bool, desc: str):
    """A tqdm bar with ETA on stderr (terminals only)."""
    if not enabled or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, unit="run", file=sys.stderr)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close
