"""The scenario specification: which tenants run on which SoC under which policy.

One YAML format (docs/SCENARIOS.md), one loader (`load_scenario`), and the
same thing built from command-line flags (`scenario_from_flags`). The engine
only consumes the resulting `Scenario`.

    soc: camdn                  # preset or file (overrides: soc_overrides)
    policy: shared              # or {name: camdn, alpha: 0.5, beta: 0.3}
    scheduler: fcfs             # fcfs | priority
    seed: 1
    qos: M                      # L | M | H: 1.2 / 1.0 / 0.8 x the target; or a scale, e.g. 0.6
    tenants:
      - workload: resnet50      # zoo name or trace file
        cores: auto             # auto | N | [core ids]
        arrival: closed         # closed | poisson | times
        requests: 2
        priority: 5             # 0-11
        target: 1.5x            # cycles, or a multiple of the isolated latency
    background:                 # optional CPU-side traffic sharing the LLC and DRAM
      - pattern: stream         # stream | random
        footprint: 64MiB
        rate_gb_per_s: 8
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import COMMAND_LINE, InputError
from .soc import INTEGER_OVERRIDE_FLAGS, OVERRIDE_FLAGS, SoCSpec, load_soc
from .specio import MAX_INT, LineDict, Section, beside, folder_beside, is_file_source, load_yaml
from .units import count_text, parse_float_text, to_float

ARRIVALS = ("closed", "poisson", "times")
SCHEDULERS = ("fcfs", "priority", "expert")  # expert: dependency-aware, for expert-path tenants
QOS_FACTORS = {"L": 1.2, "M": 1.0, "H": 0.8}
# the largest QoS scale and target multiple: with targets of at most 2^53 cycles every
# deadline stays finite (1e308 x 1e308x would be inf); a laxer deadline means no deadline
MAX_DEADLINE_SCALE = 1000


def qos_problem(value: Any) -> str | None:
    """What is wrong with a QoS level (L, M, H, or a positive deadline scale such as 0.6), or None."""
    if isinstance(value, str) and value in QOS_FACTORS:
        return None
    try:
        scale = math.nan if isinstance(value, bool) else qos_scale(value)
    except (TypeError, ValueError, OverflowError):
        scale = math.nan
    if not (scale > 0 and math.isfinite(scale)):
        return f"expected L, M, H or a positive deadline scale, got {value!r}"
    if scale > MAX_DEADLINE_SCALE:
        return f"a deadline scale must be at most {MAX_DEADLINE_SCALE}, got {value!r}"
    return None


def qos_scale(value: str | float) -> float:
    return QOS_FACTORS[value] if value in QOS_FACTORS else to_float(value)
DEFAULT_TARGET_MULTIPLE = 1.0


@dataclass(frozen=True)
class Target:
    """A latency target: absolute cycles, or a multiple of the isolated latency."""

    cycles: int | None = None
    multiple: float | None = None

    def __str__(self) -> str:
        return f"{self.cycles}" if self.cycles is not None else f"{self.multiple}x"


ISOLATED_EXPERT_PATHS = 8  # expert paths whose mean latency is an expert-graph tenant's isolated reference


@dataclass(frozen=True)
class TenantSpec:
    name: str
    workload: str
    params: tuple[tuple[str, Any], ...] = ()  # builder parameters (batch, seq_len, ...)
    task: str | None = None  # multi-task models: run only this task's layers
    cores: int | tuple[int, ...] | None = None  # None = auto (equal share)
    arrival: str = "closed"
    requests: int = 1
    rate_per_mcycle: float | None = None  # poisson: mean arrivals per million cycles
    arrival_cycles: tuple[int, ...] = ()  # times: explicit arrival cycles
    priority: int = 5
    target: Target = field(default_factory=lambda: Target(multiple=DEFAULT_TARGET_MULTIPLE))
    qos: str | None = None  # per-tenant override of the scenario's QoS level
    tasks: tuple[str, ...] = ()  # multi-task stream: request i runs one of these tasks
    task_order: str = "cycle"  # cycle | random: which task request i runs
    task_graph: bool = False  # each request runs the experts its path through the workload's graph visits
    line: int | None = field(default=None, compare=False)

    @property
    def multi_task(self) -> bool:
        return bool(self.tasks) or self.task_graph

    @property
    def isolated_requests(self) -> int:
        """Requests whose mean is the isolated latency: one per task kind, or the first
        ISOLATED_EXPERT_PATHS expert paths (whatever the tenant's own request count:
        the reference is the model's)."""
        if self.tasks:
            return len(set(self.tasks))
        return ISOLATED_EXPERT_PATHS if self.task_graph else 1


BACKGROUND_PATTERNS = ("stream", "random")
MAX_BACKGROUND = 16  # generators per scenario
# each tenant and generator owns one of the LLC's 32768 owner ids (cache_models.kernels.MAX_TENANTS)
MAX_TENANTS = 32768 - MAX_BACKGROUND
MAX_FOOTPRINT_BYTES = 64 << 30
MAX_BURST_BYTES = 1 << 20
MAX_RATE_GB_PER_S = 10_000.0
MIN_RATE_GB_PER_S = 0.001  # 1 MB/s: below it a burst would take longer than any run


@dataclass(frozen=True)
class BackgroundSpec:
    """CPU-side traffic that shares the LLC and DRAM with the NPU tenants
    (docs/SCENARIOS.md): a generator that reads and writes `burst_bytes` of its
    `footprint_bytes` at a time, in address order or at random, offering
    `rate_gb_per_s` (10^9 bytes per second). While no task runs on the NPU its
    traffic is replayed through the LLC when the NPU starts again (`idle =
    "replay"`), or it pauses (`"pause"`)."""

    name: str = "cpu"
    pattern: str = "stream"
    footprint_bytes: int = 64 << 20  # beyond any preset's LLC: a memory-bound CPU kernel
    rate_gb_per_s: float = 8.0
    write_fraction: float = 1 / 3  # as STREAM's triad: two reads and one write per element
    burst_bytes: int = 4096
    idle: str = "replay"
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class Scenario:
    soc: SoCSpec
    tenants: tuple[TenantSpec, ...]
    policy: PolicySpec = field(default_factory=lambda: PolicySpec("shared"))
    scheduler: str = "fcfs"
    seed: int = 0
    qos: str = "M"
    name: str = "scenario"
    core_pool: int | None = None  # tasks take any free group of this many cores (MoCA-style)
    background: tuple[BackgroundSpec, ...] = ()  # CPU-side traffic through the LLC
    source: str = field(default="", compare=False)
    # the file's policy cannot run there (located at its key); raised unless the run replaces the policy
    policy_error: InputError | None = field(default=None, compare=False, repr=False)

    def with_policy(self, name: str, **options: Any) -> Scenario:
        return replace(self, policy=PolicySpec(name, tuple(sorted(options.items()))))

    def qos_factor(self, tenant: TenantSpec) -> float:
        return qos_scale(tenant.qos or self.qos)


def policy_names() -> tuple[str, ...]:
    from .policies import policy_names as names

    return names()


def _parse_target(value: Any, sec: Section, key: str) -> Target:
    if isinstance(value, bool):
        raise sec.error(key, f"expected cycles or a multiple like 1.5x, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise sec.error(key, f"a latency target must be positive, got {value}")
        if value > MAX_INT:
            raise sec.error(key, f"must be at most {MAX_INT} cycles, got {value}")
        return Target(cycles=value)
    text = str(value).strip().lower()
    if text.endswith("x"):
        try:
            mult = parse_float_text(text[:-1])
        except ValueError:
            raise sec.error(key, f"expected cycles or a multiple like 1.5x, got {value!r}") from None
        if not mult > 0 or not math.isfinite(mult):
            raise sec.error(key, f"a latency target must be a positive finite multiple, got {value!r}")
        if mult > MAX_DEADLINE_SCALE:
            raise sec.error(key, f"a latency target multiple must be at most {MAX_DEADLINE_SCALE}x, got {value!r}")
        return Target(multiple=mult)
    raise sec.error(key, f"expected cycles or a multiple like 1.5x, got {value!r}")


MAX_REQUESTS = 1_000_000  # per tenant; more is a typo, not an experiment (each request is simulated)
MIN_RATE_PER_MCYCLE = 1e-6
MAX_ARRIVAL_CYCLES = 10**12  # the same horizon as the slowest Poisson rate's mean gap


def poisson_horizon_problem(requests: int, rate_per_mcycle: float) -> str | None:
    """Poisson arrivals whose expected last one lies past the arrival horizon, or None.
    Past it, cycles soon exceed 2^53, where the engine's float clock is no longer exact."""
    last = requests * 1e6 / rate_per_mcycle
    if last > MAX_ARRIVAL_CYCLES:
        return (f"{requests} requests at {rate_per_mcycle:g} per million cycles arrive over about {last:.3g} "
                f"cycles, more than 10^12: fewer requests or a higher rate")
    return None


def workload_path(workload: str, source: str) -> str:
    """What a tenant's `workload` reads: a zoo model by name (names win over files),
    else a trace file, relative to the scenario file `source` as its SoC file is."""
    from workloads import model_names

    return workload if workload in model_names() else beside(workload, source)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name the file system refuses names nothing
        return False


def workload_problem(exc: InputError, workload: str, looked_up: str | None = None) -> str:
    """What a `get_trace` error about the workload itself says where a spec names it: no such
    file (and where it was looked for), the file's problem with its name, or the zoo's message."""
    if exc.field == "file":
        return f"no such file {looked_up or repr(workload)}" if exc.message == "no such file" \
            else f"{workload!r}: {exc.message}"
    return exc.message


def _looked_up(ref: str, source: str) -> str:
    """Where a relative file a spec file names was looked for."""
    folder = Path(source).parent
    try:
        here = folder.resolve() == Path.cwd().resolve()
    except (OSError, RuntimeError):  # a folder that cannot be resolved is not this one
        here = False
    if Path(ref).is_absolute() or not is_file_source(source) or here:
        return repr(ref)  # one place to look
    return f"{str(folder / ref)!r} (beside {Path(source).name}) or {ref!r} (in the current folder)"


TENANT_KEYS = ("workload", "name", "params", "task", "tasks", "task_order", "cores", "arrival", "requests",
               "rate_per_mcycle", "arrival_cycles", "priority", "target", "qos")
TASK_ORDERS = ("cycle", "random")


def _too_few_cores(sec: Section, cores_flag: bool, soc_cores: int, wanted: str, problem: str) -> None:
    """A tenant's cores beyond the SoC's (`problem`): blamed on --cores when the flag set the count."""
    if cores_flag:
        line = sec.line_of("cores")
        where = f"{sec.source}:{line}" if line else sec.source
        raise InputError(COMMAND_LINE, "--cores", f"{soc_cores} cores, but {sec.field('cores')} in {where} "
                                                  f"asks for {wanted}")
    raise sec.error("cores", problem)


def hashable_param(value: Any) -> Any:
    """A YAML list (`image_size: [480, 640]`) as a tuple: parameters key the engine's trace memo."""
    return tuple(hashable_param(v) for v in value) if isinstance(value, list) else value


def _tenant(sec: Section, index: int, names_seen: dict[str, int], soc_cores: int,
            cores_flag: bool = False, names_given: frozenset[str] = frozenset()) -> TenantSpec:
    from workloads import get_trace, workload_fault

    sec.allow(*TENANT_KEYS)
    workload = sec.string("workload")
    params_sec = sec.section("params", required=False)
    params = tuple(sorted((str(k), hashable_param(params_sec.raw(k))) for k in list(params_sec.data.keys())))
    params_sec.finish()
    task = sec.string("task", None)
    path = workload_path(workload, sec.source)
    try:
        trace = get_trace(path, **dict(params))
    except InputError as exc:
        fault = workload_fault(exc, path, dict(params))
        if fault is None:
            raise  # a trace file's own error, at its line and column
        if fault == ("workload",):
            raise sec.error("workload", workload_problem(exc, workload, _looked_up(workload, sec.source))) from None
        # one parameter at fault (or the only one given: the defaults build), else the parameters together
        raise (params_sec.error(fault[0], exc.message) if len(fault) == 1 else sec.error("params", exc.message)) \
            from None
    except (TypeError, ValueError) as exc:
        raise sec.error("params", str(exc)) from None
    if task is not None and task not in trace.tasks:
        raise sec.error("task", f"{workload} has no task {task!r} (tasks: {', '.join(trace.tasks) or 'none'})")
    stream, graph = _task_stream(sec, workload, trace.tasks, task)
    task_order = sec.choice("task_order", TASK_ORDERS, "cycle")
    if sec.has("task_order") and not stream:
        raise sec.error("task_order", "only with a list of tasks")
    default_name = workload if task is None else f"{workload}:{task}"
    explicit = sec.name("name", None)
    if explicit is not None:
        if explicit in names_seen:
            raise sec.error("name", f"another tenant is already named {explicit!r} (names must be unique; "
                                    "unnamed repeats of a workload are numbered name#2, name#3, ...)")
        name = explicit
    else:
        name = unique_name(default_name, names_seen.keys() | names_given)
    names_seen[name] = 1
    cores_raw = sec.raw("cores", "auto")
    if cores_raw is None:
        raise sec.error("cores", "empty: give auto, a count or a list of core ids (or leave the key out)")
    if cores_raw == "auto":
        cores: int | tuple[int, ...] | None = None
    elif isinstance(cores_raw, bool):
        raise sec.error("cores", f"expected auto, a count or a list of core ids, got {cores_raw!r}")
    elif isinstance(cores_raw, int):
        if cores_raw < 1:
            raise sec.error("cores", f"a tenant needs at least one core, got {cores_raw}")
        if cores_raw > soc_cores:  # this tenant alone: blamed here, not on the tenants' sum
            _too_few_cores(sec, cores_flag, soc_cores, f"{cores_raw} cores",
                           f"{cores_raw} cores but the SoC has {soc_cores}")
        cores = cores_raw
    elif isinstance(cores_raw, list) and cores_raw and all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cores_raw):
        if len(set(cores_raw)) != len(cores_raw):
            raise sec.error("cores", f"core ids repeat: {cores_raw}")
        if max(cores_raw) >= soc_cores:
            _too_few_cores(sec, cores_flag, soc_cores, f"core id {max(cores_raw)}",
                           f"core id {max(cores_raw)} does not exist (the SoC has cores 0-{soc_cores - 1})")
        cores = tuple(cores_raw)
    else:
        raise sec.error("cores", f"expected auto, a count or a list of core ids, got {cores_raw!r}")
    arrival = sec.choice("arrival", ARRIVALS, "closed")
    requests = sec.integer("requests", 1, minimum=1, maximum=MAX_REQUESTS)
    rate = None
    times: tuple[int, ...] = ()
    if arrival == "poisson":
        rate = sec.number("rate_per_mcycle")
        if not rate > 0:
            raise sec.error("rate_per_mcycle", f"an arrival rate must be positive, got {rate}")
        if rate < MIN_RATE_PER_MCYCLE:
            raise sec.error("rate_per_mcycle", f"must be at least {MIN_RATE_PER_MCYCLE:g} (a mean gap of "
                                               f"at most 10^12 cycles), got {rate:g}")
        problem = poisson_horizon_problem(requests, rate)
        if problem:
            raise sec.error_any(("requests", "rate_per_mcycle"), problem)
    elif sec.has("rate_per_mcycle"):
        raise sec.error("rate_per_mcycle", "only for arrival: poisson")
    if arrival == "times":
        raw = sec.raw("arrival_cycles")
        if not isinstance(raw, list) or not raw or not all(
                isinstance(t, int) and not isinstance(t, bool) and 0 <= t <= MAX_ARRIVAL_CYCLES for t in raw):
            raise sec.error("arrival_cycles", f"expected a list of integer cycles from 0 to {MAX_ARRIVAL_CYCLES}")
        if len(raw) > MAX_REQUESTS:
            raise sec.error("arrival_cycles", f"at most {MAX_REQUESTS} arrivals, got {len(raw)}")
        times = tuple(sorted(raw))
        requests = len(times)
    elif sec.has("arrival_cycles"):
        raise sec.error("arrival_cycles", "only for arrival: times")
    if arrival == "times" and sec.has("requests"):
        raise sec.error("requests", "not with arrival: times (one request per entry of arrival_cycles)")
    priority = sec.integer("priority", 5, minimum=0, maximum=11)
    target = _parse_target(sec.raw("target", f"{DEFAULT_TARGET_MULTIPLE}x"), sec, "target")
    qos = _qos(sec, None)
    sec.finish()
    return TenantSpec(name=name, workload=workload, params=params, task=task, cores=cores, arrival=arrival,
                      requests=requests, rate_per_mcycle=rate, arrival_cycles=times, priority=priority,
                      target=target, qos=qos, tasks=stream, task_order=task_order, task_graph=graph,
                      line=sec.line)


def _task_stream(sec: Section, workload: str, known: tuple[str, ...],
                 task: str | None) -> tuple[tuple[str, ...], bool]:
    """`tasks:` a list of tasks (a task stream), `all`, or `graph` (expert paths)."""
    if not sec.has("tasks"):
        return (), False
    if task is not None:
        raise sec.error("tasks", "give either task or tasks")
    raw = sec.raw("tasks")
    if raw == "graph":
        from workloads import task_graph

        if task_graph(workload) is None:
            raise sec.error("tasks", f"{workload} has no expert graph")
        return (), True
    if raw == "all":
        if not known:
            raise sec.error("tasks", f"{workload} has no tasks (all needs a multi-task model)")
        raw = list(known)
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise sec.error("tasks", f"expected a list of tasks, all or graph, got {raw!r}")
    for t in raw:
        if t not in known:
            raise sec.error("tasks", f"{workload} has no task {t!r} (tasks: {', '.join(known) or 'none'})")
    return tuple(raw), False


def _numbers_given(entries: list) -> frozenset[str]:
    """The numbered names (`kws#2`) tenants and generators give themselves, which unnamed repeats
    skip. A plain given name (`kws`) still clashes with an unnamed `kws` above it: both mean that
    workload, so which one the user meant is theirs to say."""
    return frozenset(e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)
                     and re.fullmatch(r".+#[0-9]+", e["name"]))


def unique_name(base: str, taken) -> str:
    """`base`, or `base#2`, `base#3`, ... whichever is not in `taken` first."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}#{k}"
    return name


BACKGROUND_KEYS = ("name", "pattern", "footprint", "rate_gb_per_s", "write_fraction", "burst", "idle")
BACKGROUND_IDLE = ("replay", "pause")


def _background(sec: Section, soc: SoCSpec, names_seen: dict[str, int],
                names_given: frozenset[str] = frozenset()) -> BackgroundSpec:
    sec.allow(*BACKGROUND_KEYS)
    default = BackgroundSpec()
    explicit = sec.name("name", None)
    if explicit is not None and explicit in names_seen:
        raise sec.error("name", f"a tenant or generator is already named {explicit!r}")
    name = explicit or unique_name(default.name, names_seen.keys() | names_given)
    names_seen[name] = 1
    pattern = sec.choice("pattern", BACKGROUND_PATTERNS, default.pattern)
    line_bytes = soc.llc.line_bytes
    burst = sec.size("burst", max(default.burst_bytes, line_bytes), minimum=line_bytes, maximum=MAX_BURST_BYTES)
    footprint = sec.size("footprint", max(default.footprint_bytes, burst), minimum=burst,
                         maximum=MAX_FOOTPRINT_BYTES)
    for key, size in (("burst", burst), ("footprint", footprint)):
        if size % line_bytes:
            raise sec.error(key, f"must be a whole number of {line_bytes} B LLC lines, got {size} bytes")
    rate = sec.number("rate_gb_per_s", default.rate_gb_per_s, minimum=0.0, maximum=MAX_RATE_GB_PER_S)
    if not rate > 0:
        raise sec.error("rate_gb_per_s", f"must be positive (leave the generator out for none), got {rate}")
    if rate < MIN_RATE_GB_PER_S:
        raise sec.error("rate_gb_per_s", f"must be at least {MIN_RATE_GB_PER_S:g} GB/s, got {rate:g}")
    write_fraction = sec.number("write_fraction", default.write_fraction, minimum=0.0, maximum=1.0)
    idle = sec.choice("idle", BACKGROUND_IDLE, default.idle)
    sec.finish()
    return BackgroundSpec(name=name, pattern=pattern, footprint_bytes=footprint, rate_gb_per_s=float(rate),
                          write_fraction=float(write_fraction), burst_bytes=burst, idle=idle, line=sec.line)


def _qos(sec: Section, default: str | None) -> str | None:
    if not sec.has("qos"):
        return default
    raw = sec.raw("qos")
    problem = qos_problem(raw)
    if problem:
        raise sec.error("qos", problem)
    return str(raw)


def _policy(sec: Section) -> PolicySpec:
    raw = sec.raw("policy", "shared")
    names = policy_names()
    if isinstance(raw, str):
        if raw not in names:
            raise sec.error("policy", f"unknown policy {raw!r} (policies: {', '.join(names)})")
        return PolicySpec(raw)
    if isinstance(raw, dict):
        psec = Section(raw, sec.source, sec.field("policy"), sec.line_of("policy"), sec.origins)
        name = psec.string("name")
        if name not in names:
            raise psec.error("name", f"unknown policy {name!r} (policies: {', '.join(names)})")
        options = {}
        for key in [k for k in raw if k != "name"]:
            options[str(key)] = psec.raw(key)
        from .policies import validate_options

        validate_options(name, options, psec)
        return PolicySpec(name, tuple(sorted(options.items())))
    raise sec.error("policy", f"expected a policy name or a mapping with a name, got {raw!r}")


def _resolve_cores(tenants: list[TenantSpec], soc: SoCSpec, sec: Section,
                   core_pool: int | None = None) -> list[TenantSpec]:
    """Give `auto` tenants an equal share of the cores fixed tenants leave; with
    a core pool every tenant's tasks run on one group of `core_pool` cores."""
    total = soc.npu.cores
    if core_pool is not None:
        if total % core_pool:
            raise sec.error("core_pool", f"{total} cores do not split into groups of {core_pool}")
        for i, t in enumerate(tenants):
            if t.cores is not None and t.cores != core_pool:
                raise InputError(sec.source, f"tenants[{i}].cores", f"with core_pool: {core_pool} a tenant's "
                                 f"tasks run on one group of {core_pool} cores; leave cores out", t.line)
        return [replace(t, cores=core_pool) for t in tenants]
    if len(tenants) > total:
        raise sec.error("tenants", f"{len(tenants)} tenants but the SoC has only "
                                   f"{count_text(total, 'core')}")
    # tenants may list the same core ids (their tasks take turns): each core taken counts once
    listed = {c for t in tenants if isinstance(t.cores, tuple) for c in t.cores}
    fixed = len(listed) + sum(t.cores for t in tenants if isinstance(t.cores, int))
    auto = [t for t in tenants if t.cores is None]
    left = total - fixed
    if fixed > total or (auto and left < len(auto)):
        raise sec.error("tenants", f"tenants ask for {count_text(fixed, 'fixed core')} and "
                                   f"{count_text(len(auto), 'auto share')}, but the SoC has {count_text(total, 'core')}")
    out = []
    for t in tenants:
        if t.cores is None:
            out.append(replace(t, cores=left // len(auto)))
        else:
            out.append(t)
    return out


def scenario_from_dict(data: Any, source: str, soc_override: dict[str, Any] | None = None,
                       soc_ref: str | None = None) -> Scenario:
    """Validate a scenario mapping; `soc_override` (flags) and `soc_ref` (a
    preset or file given on the command line) take precedence over the file."""
    top = Section(data, source).allow("soc", "soc_overrides", "policy", "scheduler", "seed", "qos", "core_pool",
                                      "name", "tenants", "background", "description")
    top.string("description", "")
    file_soc = top.raw("soc", "camdn")
    from_cli = soc_ref is not None
    soc_ref = soc_ref if from_cli else file_soc
    soc_over_sec = top.section("soc_overrides", required=False)
    overrides: dict[str, Any] = {}
    file_keys: dict[str, str] = {}  # flag -> soc_overrides key, for overrides the file sets
    # one spelling per override (llc_size, as documented): with the flag's llc-size as an
    # alias, {llc_size: 1MiB, llc-size: 2MiB} would pass the duplicate-key check, the last winning
    keys = {flag[2:].replace("-", "_"): flag for flag in OVERRIDE_FLAGS}
    for key in list(soc_over_sec.data.keys()):
        flag = keys.get(key)
        if flag is None:
            spelled = str(key).replace("-", "_")
            hint = f", write {spelled}" if spelled in keys else ""
            raise soc_over_sec.error(key, f"not a SoC override{hint} (overrides: {', '.join(keys)})")
        value = soc_over_sec.raw(key)
        if value is None:
            raise soc_over_sec.error(key, "empty: give a value, or leave the key out")
        if flag in INTEGER_OVERRIDE_FLAGS and isinstance(value, str):  # a file's number is unquoted
            raise soc_over_sec.error(key, f"expected an integer, got {value!r}")
        overrides[flag] = value
        file_keys[flag] = key
    for flag, value in (soc_override or {}).items():
        if value is not None:
            overrides[flag] = value
            file_keys.pop(flag, None)
    if isinstance(soc_ref, str) and not soc_ref.strip() and not from_cli:
        raise top.error("soc", "empty: give a preset name or a SoC file")
    if isinstance(soc_ref, str):
        named = from_cli or soc_ref in _preset_names()  # a preset, or a flag's path (the current folder)
        ref = soc_ref if named else beside(soc_ref, source)
        folder = None if named or ref != soc_ref or _exists(Path(soc_ref)) else folder_beside(soc_ref, source)
        if folder is not None:
            raise top.error("soc", f"{str(folder)!r} is a directory, not a SoC file")
        try:
            soc = load_soc(ref, overrides)
        except InputError as exc:
            if exc.source == ref and exc.field == "soc":
                raise top.error("soc", exc.message) from None
            if exc.source == ref and exc.field == "file" and not from_cli:
                raise top.error("soc", f"no such file {_looked_up(soc_ref, source)}" if exc.message == "no such file"
                                else f"{ref!r}: {exc.message}") from None
            if exc.source == COMMAND_LINE and exc.field in file_keys:
                raise soc_over_sec.error(file_keys[exc.field], exc.message) from None
            raise
    else:
        raise top.error("soc", f"expected a preset name or a SoC file, got {soc_ref!r}")
    policy = _policy(top)
    scheduler = top.choice("scheduler", SCHEDULERS, "fcfs")
    seed = top.integer("seed", 0, minimum=0)
    qos = _qos(top, "M")
    core_pool = top.integer("core_pool", None, minimum=1)
    if core_pool is not None and core_pool > soc.npu.cores:
        raise top.error("core_pool", f"groups of {core_pool} cores but the SoC has {soc.npu.cores}")
    name = top.name("name", Path(source).stem if source and source != COMMAND_LINE else "scenario")
    raw_tenants = top.raw("tenants")
    if not isinstance(raw_tenants, list) or not raw_tenants:
        raise top.error("tenants", "expected a non-empty list of tenants")
    if len(raw_tenants) > MAX_TENANTS:
        raise top.error("tenants", f"at most {MAX_TENANTS} tenants (the LLC's tenant table, beside "
                                   f"{MAX_BACKGROUND} background generators), got {len(raw_tenants)}")
    raw_background = top.raw("background", [])
    # unnamed repeats skip numbers given anywhere in the file, so that of three kws tenants, the
    # third named kws#2, the second is kws#3 instead of the third being refused
    given = _numbers_given(raw_tenants + (raw_background if isinstance(raw_background, list) else []))
    seen: dict[str, int] = {}
    tenants = []
    for i, raw in enumerate(raw_tenants):
        line = getattr(raw, "line", None) or top.item_line("tenants", i)
        tenants.append(_tenant(Section(raw, source, f"tenants[{i}]", line), i, seen, soc.npu.cores,
                               (soc_override or {}).get("--cores") is not None, given))
    background = []
    if not isinstance(raw_background, list):
        raise top.error("background", "expected a list of traffic generators")
    if len(raw_background) > MAX_BACKGROUND:
        raise top.error("background", f"at most {MAX_BACKGROUND} generators, got {len(raw_background)}")
    for i, raw in enumerate(raw_background):
        line = getattr(raw, "line", None) or top.item_line("background", i)
        if not isinstance(raw, dict):  # a bare `-` too: a generator is described, not implied
            raise InputError(source, f"background[{i}]", f"expected a mapping of keys to values, got {raw!r}", line)
        background.append(_background(Section(raw, source, f"background[{i}]", line), soc, seen, given))
    top.finish()
    tenants = _resolve_cores(tenants, soc, top, core_pool)
    scenario = Scenario(soc=soc, tenants=tuple(tenants), policy=policy, scheduler=scheduler, seed=seed, qos=qos,
                        name=name, core_pool=core_pool, background=tuple(background), source=source)
    problem = policy_soc_problem(scenario)
    return replace(scenario, policy_error=top.error("policy", problem)) if problem else scenario


def policy_soc_problem(scenario: Scenario) -> str | None:
    """What makes the scenario's policy impossible on its SoC with its tenants, or None."""
    from .policies import get_policy

    return get_policy(scenario.policy.name).soc_problem(scenario)


def _preset_names() -> list[str]:
    from .soc import preset_names

    return preset_names()


def load_scenario(path: str | Path, soc_override: dict[str, Any] | None = None,
                  soc_ref: str | None = None) -> Scenario:
    data = load_yaml(path)
    if data is None:
        raise InputError(str(path), "document", "empty scenario", 1)
    return scenario_from_dict(data, str(path), soc_override, soc_ref)


def scenario_from_flags(*, soc: str = "camdn", mix: list[str], policy: str = "shared", requests: int = 1,
                        qos: str = "M", seed: int = 0, scheduler: str = "fcfs",
                        soc_override: dict[str, Any] | None = None, cpu_traffic: Any = None) -> Scenario:
    """`npusim run --mix a,b,c`: one tenant per name, equal cores, closed loop."""
    data = LineDict()
    data.key_lines = {}
    data.update(soc=soc, policy=policy, qos=qos, seed=seed, scheduler=scheduler,
                tenants=[{"workload": w, "requests": requests} for w in mix])
    try:
        scenario = scenario_from_dict(data, COMMAND_LINE, soc_override)
    except InputError as exc:
        if exc.source == COMMAND_LINE:
            raise InputError(COMMAND_LINE, _flag_for(exc.field), exc.message) from None
        raise
    if scenario.policy_error is not None:
        raise InputError(COMMAND_LINE, "--policy", scenario.policy_error.message)
    return apply_run_overrides(scenario, cpu_traffic=cpu_traffic)


def _flag_for(field_name: str) -> str:
    if field_name.startswith("tenants"):
        return "--mix" if not field_name.endswith("requests") else "--requests"
    return {"policy": "--policy", "qos": "--qos", "seed": "--seed", "soc": "--soc",
            "scheduler": "--scheduler"}.get(field_name, field_name)


def cpu_traffic_problem(value: Any) -> str | None:
    """What is wrong with a `--cpu-traffic` rate (GB/s, 0 for none), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return f"expected a rate in GB/s (0 for none), got {value!r}"
    try:
        rate = to_float(value)
    except (ValueError, OverflowError):
        return f"expected a rate in GB/s (0 for none), got {value!r}"
    if not (math.isfinite(rate) and 0 <= rate <= MAX_RATE_GB_PER_S):
        return f"must be from 0 to {MAX_RATE_GB_PER_S:g} GB/s, got {value!r}"
    if 0 < rate < MIN_RATE_GB_PER_S:
        return f"must be 0 (none) or at least {MIN_RATE_GB_PER_S:g} GB/s, got {value!r}"
    return None


def with_cpu_traffic(scenario: Scenario, rate_gb_per_s: float) -> Scenario:
    """The scenario with CPU background traffic at `rate_gb_per_s`: every
    generator it has runs at that rate, or one default generator (a STREAM-like
    kernel) when it has none; 0 removes them."""
    if rate_gb_per_s == 0:
        return replace(scenario, background=())
    given = scenario.background or (_default_generator(scenario),)
    return replace(scenario, background=tuple(replace(b, rate_gb_per_s=float(rate_gb_per_s)) for b in given))


def _default_generator(scenario: Scenario) -> BackgroundSpec:
    """`BackgroundSpec()` named apart from the tenants, its sizes whole lines of the SoC's LLC."""
    default = BackgroundSpec()
    name = unique_name(default.name, {t.name for t in scenario.tenants})
    burst = max(default.burst_bytes, scenario.soc.llc.line_bytes)
    return replace(default, name=name, burst_bytes=burst, footprint_bytes=max(default.footprint_bytes, burst))


RUN_OVERRIDES = ("policy", "seed", "qos", "scheduler", "requests", "cpu_traffic")  # what apply_run_overrides sets


def apply_run_overrides(scenario: Scenario, *, source: str = COMMAND_LINE, policy: str | None = None,
                        seed: Any = None, qos: Any = None, scheduler: str | None = None,
                        requests: Any = None, cpu_traffic: Any = None) -> Scenario:
    """A loaded scenario with the run-level values a caller gives on top
    (`npusim run --scenario F --policy P`, or `simulate(F, policy=P)`); each is
    checked and its error named by flag (command line) or argument (API)."""
    def err(name: str, message: str) -> InputError:
        return InputError(source, f"--{name.replace('_', '-')}" if source == COMMAND_LINE else name, message)

    def integer(name: str, value: Any, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise err(name, f"expected an integer, got {value!r}")
        if not lo <= value <= hi:
            raise err(name, f"must be at least {lo}, got {value}" if value < lo else f"must be at most {hi}, got {value}")
        return value

    changes: dict[str, Any] = {}
    if policy is not None:
        if not isinstance(policy, str):
            raise err("policy", f"expected a policy name (its options go in the scenario's policy), got {policy!r}")
        if policy not in policy_names():
            raise err("policy", f"unknown policy {policy!r} (policies: {', '.join(policy_names())})")
        changes["policy"] = replace(scenario.policy, name=policy, options=()) if policy != scenario.policy.name \
            else scenario.policy
    if seed is not None:
        changes["seed"] = integer("seed", seed, 0, MAX_INT)
    if qos is not None:
        problem = qos_problem(str(qos))
        if problem:
            raise err("qos", problem)
        changes["qos"] = str(qos)
    if scheduler is not None:
        if scheduler not in SCHEDULERS:
            raise err("scheduler", f"unknown scheduler {scheduler!r} (choose {', '.join(SCHEDULERS)})")
        changes["scheduler"] = scheduler
    if requests is not None:
        n = integer("requests", requests, 1, MAX_REQUESTS)
        if all(t.arrival == "times" for t in scenario.tenants):
            raise err("requests", "every tenant has arrival: times (one request per entry of arrival_cycles)")
        for t in scenario.tenants:
            problem = poisson_horizon_problem(n, t.rate_per_mcycle) if t.arrival == "poisson" else None
            if problem:
                raise err("requests", f"tenant {t.name}: {problem}")
        # closed: back-to-back requests; poisson: how many arrive; times: its list decides
        changes["tenants"] = tuple(replace(t, requests=n) if t.arrival != "times" else t for t in scenario.tenants)
    out = replace(scenario, **changes) if changes else scenario
    if cpu_traffic is not None:
        problem = cpu_traffic_problem(cpu_traffic)
        if problem:
            raise err("cpu_traffic", problem)
        out = with_cpu_traffic(out, float(cpu_traffic))
    problem = policy_soc_problem(out)
    if problem:
        if policy is None and scenario.policy_error is not None and scenario.policy_error.message == problem:
            raise scenario.policy_error
        raise err("cpu_traffic" if policy is None and cpu_traffic is not None else "policy", problem)
    return replace(out, policy_error=None) if out.policy_error else out
