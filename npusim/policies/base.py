"""The policy interface and registry.

A policy is one class registered by name. The engine asks it, for every
layer a tenant is about to run, which mapping plan to use (possibly after
waiting for cache pages), and tells it when the layer ends; at set-up it may
partition the LLC's ways, hand out regions, or set DRAM throttles. Options
are declared as `Option`s so scenario files are validated up front.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generator

from ..mapping.plan import UNMANAGED, LayerPlan
from ..specio import MAX_INT

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.sim import Simulation, TaskRecord, TenantRuntime

_REGISTRY: dict[str, type["Policy"]] = {}


@dataclass(frozen=True)
class Option:
    default: Any
    check: Callable[[Any], str | None]  # returns what is wrong, or None
    help: str = ""


def number_in(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"expected a number, got {v!r}"
        if not lo <= v <= hi:  # also rejects NaN
            return f"must be in [{lo:g}, {hi:g}], got {v}"
        return None
    return check


def positive_int(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        return f"expected a positive integer, got {v!r}"
    if v > MAX_INT:
        return f"must be at most {MAX_INT}, got {v}"
    return None


def positive_int_at_most(hi: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        wrong = positive_int(v)
        if wrong is None and v > hi:
            return f"must be at most {hi}, got {v}"
        return wrong
    return check


def is_bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"expected true or false, got {v!r}"


def one_of(*names: str) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and v in names else f"expected one of {', '.join(names)}, got {v!r}"
    return check


def register(cls: type["Policy"]) -> type["Policy"]:
    _REGISTRY[cls.name] = cls
    return cls


def policy_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_policy(name: str) -> type["Policy"]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r} (policies: {', '.join(_REGISTRY)})") from None


class Policy:
    name: ClassVar[str]
    description: ClassVar[str] = ""
    multicast: ClassVar[bool] = False  # the NPU broadcasts a tile to every core that needs it
    unplaced_via_cache: ClassVar[bool] = False  # region plans' unplaced data uses the LRU ways, not DRAM directly
    options: ClassVar[dict[str, Option]] = {}
    # whether decisions read tasks' deadlines (target_cycles); a policy class that does not
    # says so itself (never inherited), and a sweep over QoS levels then simulates it once
    reads_deadlines: ClassVar[bool] = True
    # whether `ready_key` ranks ready tasks in place of the scenario's scheduler (prema)
    ranks_ready: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "reads_deadlines" not in cls.__dict__:
            cls.reads_deadlines = True  # a subclass may read them where its parent did not

    def __init__(self, sim: "Simulation", **options: Any):
        self.sim = sim
        self.opts = {k: o.default for k, o in self.options.items()}
        self.opts.update(options)

    # -- hooks ---------------------------------------------------------------
    def setup(self) -> None:
        """Called once before time starts (way masks, regions, throttles)."""

    @classmethod
    def soc_problem(cls, scenario: "Scenario") -> str | None:
        """What makes this policy impossible for the scenario (its SoC, tenants and
        CPU-side traffic), or None; asked when a scenario is loaded and again by the engine."""
        return None

    def background_way_mask(self) -> int | None:
        """The LLC ways CPU-side background traffic may allocate into (None: all ways); asked after setup()."""
        return None

    uses_pool: ClassVar[bool] = True  # with a scenario core_pool, tasks take any free group

    def cores_for(self, tenant: "TenantRuntime", task: "TaskRecord") -> tuple[int, ...] | None:
        """The cores a task of `tenant` starts on now, or None if it must wait.

        A None holds for the tenant's other ready tasks until the next dispatch (the engine does not
        ask again while cores only get busier), so the answer may depend on the tenant and the cores'
        state, not on which of its tasks asks.
        Default: any free group of the scenario's core pool, else the tenant's own cores.
        """
        busy = self.sim.core_busy
        if self.sim.scenario.core_pool and self.uses_pool:
            for group in self.sim.core_groups:
                if not any(busy[c] for c in group):
                    return group
            return None
        return None if any(busy[c] for c in tenant.cores) else tenant.cores

    def preempt(self, tenant: "TenantRuntime", task: "TaskRecord") -> bool:
        """At a layer boundary: should the task give its cores up now?"""
        return False

    def ready_key(self) -> Callable[["TaskRecord"], tuple] | None:
        """For a policy that is its own scheduler (PREMA's tokens): the key ready tasks
        are ranked by, ascending, in place of the scenario's scheduler (declare `ranks_ready`).
        It must rank a tenant's tasks in arrival order and end with the tenant. None: the
        scheduler ranks."""
        return None

    def order(self, ranked: Iterator["TaskRecord"]) -> Iterable["TaskRecord"]:
        """The order in which ready tasks (already ranked by the scheduler) try to start.
        `ranked` is lazy (a dispatch usually needs only its first few): take what you need."""
        return ranked

    def acquire(self, tenant: "TenantRuntime", layer_index: int,
                task: "TaskRecord") -> Generator[Any, Any, LayerPlan]:
        """A SimPy sub-process returning the plan for this layer (may wait)."""
        return tenant.plan(layer_index, UNMANAGED)
        yield  # pragma: no cover - makes this a generator

    def release(self, tenant: "TenantRuntime", layer_index: int, plan: LayerPlan, task: "TaskRecord") -> None:
        """The layer ended."""

    def trace_changed(self, tenant: "TenantRuntime") -> None:
        """A multi-task tenant switched to another task's pathway (`tenant.trace` changed):
        refresh whatever was derived from its layers."""

    def task_started(self, tenant: "TenantRuntime", task: "TaskRecord") -> None:
        pass

    def task_finished(self, tenant: "TenantRuntime", task: "TaskRecord") -> None:
        pass
