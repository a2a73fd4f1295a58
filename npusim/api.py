"""`npusim.simulate`: run a scenario and get its tables and summary."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .engine.routes import StreamStore
from .engine.sim import Simulation
from .mapping import Mapper
from .mapping.mapper import default_cache_dir
from .errors import COMMAND_LINE, InputError, file_error
from .metrics import Result, build_result
from .policies import get_policy
from .provenance import code_digest
from .scenario import RUN_OVERRIDES, PolicySpec, Scenario, TenantSpec, load_scenario, scenario_from_flags


def _isolated_key(scenario: Scenario, spec: TenantSpec) -> str:
    from .engine.sim import layers_digest

    layers = layers_digest(spec, scenario.source)
    payload = {
        "code": code_digest(), "soc": scenario.soc.to_dict(),
        "workload": spec.workload, "layers": layers, "params": [list(p) for p in spec.params], "task": spec.task,
        "cores": spec.cores if isinstance(spec.cores, int) else len(spec.cores),
        "tasks": list(spec.tasks), "task_order": spec.task_order, "task_graph": spec.task_graph,
        "isolated_requests": spec.isolated_requests, "seed": scenario.seed if spec.task_graph else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def isolated_latency(scenario: Scenario, spec: TenantSpec, mapper: Mapper, *, cache: bool = True,
                     key: str | None = None, streams: StreamStore | None = None) -> float:
    """Latency of one request of `spec` alone on its cores with the whole LLC and DRAM.

    A multi-task tenant's is the mean over one request per task of its stream (or the
    first eight sampled expert paths), run back to back. `streams`: a store of routed
    streams (of `mapper`'s SoC) to reuse and fill, e.g. for the co-located run after it."""
    path = None
    if cache:
        key = key or _isolated_key(scenario, spec)
        path = default_cache_dir() / "isolated" / f"{key}.json"
        if path.is_file():
            try:
                cached = json.loads(path.read_text(encoding="utf-8"))["latency_cycles"]
                if isinstance(cached, (int, float)) and not isinstance(cached, bool) and 0 < cached < math.inf:
                    return float(cached)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # damaged: simulated again and rewritten
    n_cores = spec.cores if isinstance(spec.cores, int) else len(spec.cores)
    alone = dataclasses.replace(
        scenario, tenants=(dataclasses.replace(
            spec, cores=n_cores, arrival="closed", requests=spec.isolated_requests, arrival_cycles=(),
            rate_per_mcycle=None, tasks=tuple(dict.fromkeys(spec.tasks)), task_order="cycle"),),
        policy=PolicySpec("shared"), scheduler="fcfs", background=())
    sim = Simulation(alone, mapper=mapper, streams=streams).run()
    latency = float(sum(k.latency for k in sim.tasks) / len(sim.tasks))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"latency_cycles": latency, "tenant": spec.name}, fh)
            os.replace(tmp, path)
        except OSError:
            pass
    return latency


def isolated_latencies(scenario: Scenario, mapper: Mapper, *, cache: bool = True,
                       streams: StreamStore | None = None) -> dict[str, float]:
    """Each tenant's `isolated_latency`; tenants alike in all it depends on (their
    `_isolated_key`) share one run, also without the on-disk cache."""
    by_key: dict[str, float] = {}
    out = {}
    for t in scenario.tenants:
        key = _isolated_key(scenario, t)
        if key not in by_key:
            by_key[key] = isolated_latency(scenario, t, mapper, cache=cache, key=key, streams=streams)
        out[t.name] = by_key[key]
    return out


def run_scenario(scenario: Scenario, *, mapper: Mapper | None = None, cache: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> Result:
    mapper = mapper or Mapper(scenario.soc, cache_dir=None if cache else False)
    # isolated runs not found in the cache generate the streams of the unmanaged plans the
    # co-located run (or the `isolated` policy's runs) will ask for again: one store for all
    with StreamStore() as streams:
        iso = isolated_latencies(scenario, mapper, cache=cache, streams=streams)
        if scenario.policy.name == "isolated":
            return _run_isolated(scenario, mapper, iso, progress, streams)
        sim = Simulation(scenario, mapper=mapper, isolated_latency=iso, progress=progress, streams=streams).run()
    return build_result(sim, policy=scenario.policy.name)


def qos_levels_share_a_simulation(scenario: Scenario) -> bool:
    """Whether the scenario runs the same at every QoS level: its policy's decisions do
    not read deadlines (the `isolated` runs, one per tenant, are not shared)."""
    return scenario.policy.name != "isolated" and not get_policy(scenario.policy.name).reads_deadlines


def run_scenarios_at_qos_levels(scenarios: list[Scenario], *, mapper: Mapper | None = None,
                                cache: bool = True) -> list[Result]:
    """The results of scenarios that differ at most in their QoS level, as
    `run_scenario` gives them one by one. When the policy's decisions do not
    depend on deadlines the timing is the same at every level, so the tasks are
    simulated once and only their targets are set again for each level."""
    first = scenarios[0]
    if any(dataclasses.replace(sc, qos=first.qos) != first for sc in scenarios):
        raise ValueError("the scenarios differ in more than their QoS level")
    if not qos_levels_share_a_simulation(first) or len(scenarios) == 1:
        return [run_scenario(sc, mapper=mapper, cache=cache) for sc in scenarios]
    mapper = mapper or Mapper(first.soc, cache_dir=None if cache else False)
    with StreamStore() as streams:  # as in run_scenario: the isolated runs' streams serve the co-located run
        iso = isolated_latencies(first, mapper, cache=cache, streams=streams)
        sim = Simulation(first, mapper=mapper, isolated_latency=iso, streams=streams).run()
    results = []
    for sc in scenarios:
        sim.scenario = sc
        for task in sim.tasks:
            task.target_cycles = sim.target_cycles(sim.tenants[task.tenant])
        results.append(build_result(sim, policy=sc.policy.name))
    return results


def _run_isolated(scenario: Scenario, mapper: Mapper, iso: dict[str, float],
                  progress: Callable[[int, int], None] | None, streams: StreamStore | None = None) -> Result:
    """Every tenant alone (with all its requests); tables merged as if one run."""
    import pandas as pd

    timelines = []

    def timeline_table() -> pd.DataFrame:
        # each tenant's rows come from its own run alone; merged in cycle order like a co-located run's
        return pd.concat(timelines, ignore_index=True).sort_values("cycle", kind="stable", ignore_index=True)

    merged = SimpleNamespace(scenario=scenario, tenants=[], tasks=[], layers=[], stages=[],
                             memory=SimpleNamespace(counters=[]), timeline_table=timeline_table)
    for i, spec in enumerate(scenario.tenants):
        alone = dataclasses.replace(scenario, tenants=(spec,), policy=PolicySpec("shared"), background=())
        # the same requests as co-located: its arrivals and task draws are seeded by its place in the scenario
        sim = Simulation(alone, mapper=mapper, isolated_latency=iso, seed_indices=(i,), streams=streams).run()
        t = sim.tenants[0]
        t.index = i
        merged.tenants.append(t)
        merged.memory.counters.append(sim.memory.counters[0])
        for k in sim.tasks:
            k.tenant = i
            merged.tasks.append(k)
        for r in sim.layers:
            r.tenant = i
            merged.layers.append(r)
        timelines.append(sim.timeline_table())
        merged.stages.extend(sim.stages)
    return build_result(merged, policy="isolated")


API = "<api>"  # the source named in errors about simulate()'s own arguments
FLAG_ARGUMENTS = ("mix", "policy", "soc", "requests", "qos", "seed", "scheduler", "cpu_traffic")


def simulate(scenario: Scenario | str | Path | dict[str, Any] | None = None, **kwargs: Any) -> Result:
    """Run a scenario: a `Scenario`, a scenario YAML path, a scenario mapping
    (a dict with ``tenants``, as in a file), or keyword arguments as on the
    command line (``mix=["resnet50", "bert_base"], policy="shared",
    soc="camdn", requests=1, qos="M", seed=0, llc_size="8MiB"``, also as a dict
    without ``tenants``, under keyword arguments that win). With a file or
    a mapping, ``policy``, ``seed``, ``qos``, ``scheduler`` and ``requests``
    override it, and ``soc`` and the SoC overrides (``llc_size=...``) change its
    SoC. ``cache=False`` skips the on-disk plan and isolated-latency caches;
    ``progress`` is called as ``progress(done, total)``.

    Returns a `Result` with ``.summary`` (dict) and ``.tasks``, ``.tenants``,
    ``.layers``, ``.timeline`` DataFrames. Bad input raises `InputError`.
    """
    from .soc import OVERRIDE_FLAGS
    from .scenario import apply_run_overrides, scenario_from_dict

    if isinstance(scenario, dict) and "tenants" not in scenario:
        kwargs = {**scenario, **kwargs}  # keyword arguments given as a dict
        scenario = None
    cache = kwargs.pop("cache", True)
    progress = kwargs.pop("progress", None)
    if not isinstance(cache, bool):
        raise InputError(API, "cache", f"expected True or False, got {cache!r}")
    if progress is not None and not callable(progress):
        raise InputError(API, "progress", f"expected a function progress(done, total), got {progress!r}")
    kwargs = {k: _plain(v, str(k)) for k, v in kwargs.items()}
    if isinstance(scenario, dict):
        scenario = _plain(scenario, "")
    soc_keys = tuple(flag[2:].replace("-", "_") for flag in OVERRIDE_FLAGS)
    for key in kwargs:
        if key not in FLAG_ARGUMENTS and key not in soc_keys:
            raise InputError(API, str(key), f"unknown argument (arguments: {', '.join(FLAG_ARGUMENTS + soc_keys)}, "
                                            "cache, progress)")
    overrides = _soc_overrides(kwargs)
    rate = kwargs.get("cpu_traffic")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))):
        raise InputError(API, "cpu_traffic", f"expected a number of GB/s (0 for none), got {rate!r}")
    if scenario is None:
        if "mix" not in kwargs:
            raise InputError(API, "mix", "give a scenario (file, mapping or Scenario) or mix=[workloads]")
        mix = kwargs.pop("mix")
        if isinstance(mix, str):
            mix = [m.strip() for m in mix.split(",") if m.strip()]
        if not isinstance(mix, (list, tuple)) or not mix or not all(isinstance(m, str) for m in mix):
            raise InputError(API, "mix", f"expected workload names (a list or 'a,b'), got {mix!r}")
        if "policy" in kwargs and not isinstance(kwargs["policy"], str):
            raise InputError(API, "policy", "expected a policy name (its options go in a scenario's policy), "
                                            f"got {kwargs['policy']!r}")
        for key in ("soc", "scheduler"):
            if key in kwargs and not isinstance(kwargs[key], str):
                raise InputError(API, key, f"expected a string, got {kwargs[key]!r}")
        qos = kwargs.get("qos")
        if qos is not None and (isinstance(qos, bool) or not isinstance(qos, (str, int, float))):
            raise InputError(API, "qos", f"expected L, M, H or a deadline scale, got {qos!r}")
        for key in ("requests", "seed"):
            if key in kwargs and (isinstance(kwargs[key], bool) or not isinstance(kwargs[key], int)):
                raise InputError(API, key, f"expected an integer, got {kwargs[key]!r}")
        cpu_traffic = kwargs.pop("cpu_traffic", None)
        scenario = _build(lambda: scenario_from_flags(mix=list(mix), soc_override=overrides, **kwargs))
        scenario = apply_run_overrides(scenario, source=API, cpu_traffic=cpu_traffic)
    else:
        if "mix" in kwargs:
            raise InputError(API, "mix", "not with a scenario: its tenants are the mix")
        soc_ref = kwargs.pop("soc", None)
        if isinstance(scenario, Scenario):
            if overrides or soc_ref is not None:
                raise InputError(API, "soc", "a built Scenario has its SoC: change scenario.soc instead")
        elif isinstance(scenario, dict):
            data = scenario
            scenario = _build(lambda: scenario_from_dict(data, API, overrides, soc_ref))
        elif isinstance(scenario, (str, Path)):
            path = scenario
            scenario = _build(lambda: load_scenario(path, overrides, soc_ref=soc_ref))
        else:
            raise InputError(API, "scenario", "expected a Scenario, a scenario file path, a mapping or None, "
                                              f"got {type(scenario).__name__}")
        scenario = apply_run_overrides(scenario, source=API, **{k: kwargs[k] for k in RUN_OVERRIDES if k in kwargs})
    return run_scenario(scenario, cache=cache, progress=progress)


def _plain(value: Any, field: str, _inside: frozenset[int] = frozenset()) -> Any:
    """`value` as the YAML loader would give it: numpy scalars and arrays become
    Python numbers and lists, tuples lists, paths strings; other objects are refused.
    Fields are named as the scenario loader names them (``tenants[0].cores``)."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()  # Python scalars, or nested lists of them
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple, dict)):
        if id(value) in _inside:
            raise InputError(API, field, "contains itself (a list or mapping that refers back to itself)")
        inside = _inside | {id(value)}
        if isinstance(value, dict):
            return {k: _plain(v, f"{field}.{k}" if field else str(k), inside) for k, v in value.items()}
        return [_plain(v, f"{field}[{i}]", inside) for i, v in enumerate(value)]
    raise InputError(API, field or "scenario", "expected a string, number, boolean, list or mapping, "
                                               f"got a value of type {type(value).__name__}")


def _build(build: Callable[[], Scenario]) -> Scenario:
    """`build()`, with errors it blames on a command-line flag blamed on simulate()'s argument instead,
    and a file name the file system refuses an InputError."""
    try:
        return build()
    except InputError as exc:
        if exc.source != COMMAND_LINE:
            raise
        raise InputError(API, exc.field.lstrip("-").replace("-", "_"), exc.message, exc.line) from None
    except OSError as exc:  # a path the file system refuses (name too long, ...), as the CLI reports it
        err = file_error(exc)
        if err is None:
            raise
        raise err from None


def _soc_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    from .soc import OVERRIDE_FLAGS

    out = {}
    for flag in OVERRIDE_FLAGS:
        key = flag[2:].replace("-", "_")
        if key in kwargs:
            out[flag] = kwargs.pop(key)
    return out
