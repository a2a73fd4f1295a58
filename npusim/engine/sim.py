"""The discrete-event SoC: tenants, their tasks, and cores that run tiles.

Time is in NPU cycles (SimPy). A runtime process dispatches arriving tasks
to cores; a task runs its layers in order on its tenant's cores, which work
in lockstep on one tile each per step: fetch the step's operands (LLC,
region or DRAM, in one batch per route), compute, and drain finished
outputs, with the fetch of step i+1 overlapping the compute of step i
(double buffering). All tenants share one `MemoryHierarchy`.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from workloads import get_trace
from workloads.trace import Trace

from ..errors import COMMAND_LINE, InputError
from ..mapping import Mapper, computes_per_block, fetches_ahead
from ..mapping.layout import TensorLayout, layout_trace, slot_bytes_within, slots_needed, tenant_base
from ..mapping.nest import loop_nest
from ..mapping.plan import LayerPlan
from ..mapping.streams import layer_streams
from ..policies import get_policy
from ..scenario import Scenario, TenantSpec, workload_path
from ..units import bytes_text
from .background import BackgroundTraffic
from .memory import MemoryHierarchy
from .ready import ReadyQueue
from .routes import (
    NO_RUNS,
    READ_CACHE,
    READ_DRAM,
    READ_REGION,
    STREAM_CACHE_BYTES,
    WRITE_CACHE,
    WRITE_DRAM,
    WRITE_REGION,
    RoutedStreams,
    StreamStore,
    route_streams,
)


def _fcfs_key(task: "TaskRecord") -> tuple[int, int, int]:
    return task.arrival, task.tenant, task.index


@dataclass
class TaskRecord:
    tenant: int
    index: int  # request number within the tenant
    arrival: int
    target_cycles: float
    start: int = -1
    finish: int = -1
    next_layer: int = 0  # where a preempted task resumes
    preemptions: int = 0
    pathway: tuple[str, ...] = ()  # multi-task tenants: the tasks (experts) it runs, in order
    stage: int = 0  # index into pathway of the one running or next
    switches: int = 0  # stages that started on a different task than the tenant's previous one
    stage_switched: bool = False  # the running stage started on a different task
    stage_start: int = -1  # when the running stage started (a preempted one keeps it)

    @property
    def task_name(self) -> str:
        return "+".join(self.pathway)

    @property
    def latency(self) -> int:
        return self.finish - self.arrival

    @property
    def waiting(self) -> int:
        return max(self.start, 0) - self.arrival


@dataclass
class LayerRecord:
    tenant: int
    task: int
    layer: str
    op: str
    start: int
    end: int
    compute_cycles: int
    budget_bytes: int
    resident: str
    fused: bool
    region_bytes: int
    counters: dict  # deltas of TenantCounters
    cores: tuple[int, ...] = ()
    page_wait_cycles: int = 0  # from asking the policy for the layer's pages to getting them


class TenantRuntime:
    """A tenant during one simulation: its trace, tensors in memory, cores and plans."""

    def __init__(self, index: int, spec: TenantSpec, trace: Trace, layout: TensorLayout, cores: tuple[int, ...],
                 mapper: Mapper, streams: StreamStore, seed_index: int):
        self.index = index
        self.seed_index = seed_index  # what seeds its random draws (Simulation's seed_indices)
        self.spec = spec
        self.name = spec.name
        self.trace = trace
        self.layout = layout
        self.cores = cores
        self.mapper = mapper
        self.streams = streams  # the simulation's, shared with tenants of the same model
        self.stream_family = streams.family(tuple(trace.layers), layout)
        self._nests: dict[int, Any] = {}
        self.isolated_latency: float | None = None
        self.active_cores = 0
        self.unplaced_via_cache = False  # the policy's choice for data a region plan does not place
        # multi-task tenants: `trace` is the running task's pathway through `full_trace`
        self.full_trace = trace
        self._pathways: dict[str, Trace] = {}
        self.current_task: str | None = None
        self.last_task: str | None = None  # the task (expert) that ran last on this tenant
        self.running = 0
        self.request_pathways: list[tuple[str, ...]] = []

    def pathway(self, task_name: str) -> Trace:
        """The layers `task_name` runs through `full_trace` (built once per task)."""
        trace = self._pathways.get(task_name)
        if trace is None:
            trace = self._pathways[task_name] = self.full_trace.for_task(task_name)
        return trace

    def use_task(self, task_name: str) -> bool:
        """Make `trace` the pathway of `task_name`; True if it changed."""
        if task_name == self.current_task:
            return False
        self.trace = self.pathway(task_name)
        self.current_task = task_name
        return True

    @property
    def n_cores(self) -> int:
        """Cores of the running task (a pool or partition may differ from the spec)."""
        return self.active_cores or len(self.cores)

    def plan(self, layer_index: int, budget_bytes: int) -> LayerPlan:
        return self.mapper.plan(self.trace.layers[layer_index], self.n_cores, budget_bytes, source=self.spec.workload)

    def candidates(self, layer_index: int):
        return self.mapper.candidates(self.trace.layers[layer_index], self.n_cores, source=self.spec.workload)

    def resident_ranges(self, layer_index: int, plan: LayerPlan) -> list[tuple[int, int]]:
        """Byte ranges a region plan keeps in the tenant's region for this layer."""
        if plan.unmanaged:
            return []
        layer = self.trace.layers[layer_index]
        lay = self.layout
        out = []
        if plan.resident in ("weights", "both"):
            if layer.op == "matmul" and len(layer.inputs) > 1:
                producer = self.trace.layer(layer.inputs[1])
                out.append((lay.output_base[producer.name], lay.output_base[producer.name] + producer.output_bytes))
            elif layer.name in lay.weight_base:
                out.append((lay.weight_base[layer.name], lay.weight_base[layer.name] + layer.weight_bytes))
        if plan.resident in ("inputs", "both") or plan.input_in_region:
            producers = layer.inputs[:1] if layer.op == "matmul" else layer.inputs
            if not producers:
                out.append((lay.network_input_base, lay.network_input_base + layer.input_bytes))
            for name in producers:
                p = self.trace.layer(name)
                out.append((lay.output_base[name], lay.output_base[name] + p.output_bytes))
        if plan.output_in_region:
            out.append((lay.output_base[layer.name], lay.output_base[layer.name] + layer.output_bytes))
        return out

    def routed(self, layer_index: int, plan: LayerPlan) -> RoutedStreams:
        key = (self.stream_family, self.unplaced_via_cache, self.current_task, layer_index, plan)
        base = self.layout.base_bytes
        rs = self.streams.get(key, base)
        if rs is None:  # not kept: no tenant of this model has run this plan yet, or no room was left
            layer = self.trace.layers[layer_index]
            nest = loop_nest(layer, self.mapper.soc.npu, plan.cores, self.mapper.soc.llc.line_bytes)
            streams = layer_streams(layer, self.trace, nest, plan, self.layout, self.mapper.hw,
                                    self.mapper.stream_vec(nest), self.streams.buffers)
            rs = route_streams(streams, plan, self.unplaced_via_cache)
            self.streams.put(key, base, rs)
        return rs


def _assign_cores(tenants: tuple[TenantSpec, ...], total: int) -> list[tuple[int, ...]]:
    """Fixed core ids per tenant: explicit ids stay, counts take consecutive free ids."""
    used: set[int] = set()
    for t in tenants:
        if isinstance(t.cores, tuple):
            used.update(t.cores)
    out = []
    nxt = 0
    for t in tenants:
        if isinstance(t.cores, tuple):
            out.append(t.cores)
            continue
        if t.cores > total:
            raise ValueError(f"tenant {t.name} asks for {t.cores} cores of {total}")
        # consecutive from where the last count ended: free ids first; with too few, other
        # tenants' ids too (more demand than cores: tasks then wait for each other), never one twice
        order = [(nxt + k) % total for k in range(total)]
        ids = ([i for i in order if i not in used] + [i for i in order if i in used])[:t.cores]
        nxt = (ids[-1] + 1) % total if ids else nxt
        out.append(tuple(ids))
    return out


class Simulation:
    def __init__(self, scenario: Scenario, *, mapper: Mapper | None = None,
                 isolated_latency: dict[str, float] | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 stream_cache_bytes: int = STREAM_CACHE_BYTES, seed_indices: tuple[int, ...] | None = None,
                 streams: StreamStore | None = None):
        """`seed_indices`: each tenant's position in the scenario it comes from, which seeds its random
        draws (Poisson arrivals, task picks, expert paths); by default its position in this one.
        `streams`: a store shared with other simulations of the same SoC and mapper (the isolated
        runs before a co-located one generate the same plans' streams): its owner clears it, and its
        own budget applies (`stream_cache_bytes` is then unused)."""
        self.scenario = scenario
        self.env = simpy.Environment()
        self.mapper = mapper or Mapper(scenario.soc)
        soc = scenario.soc
        policy_cls = get_policy(scenario.policy.name)
        # tensors of each tenant in their own slot of physical memory
        core_sets = _assign_cores(scenario.tenants, soc.npu.cores)
        self.tenants: list[TenantRuntime] = []
        slot = 0
        # a store of our own is freed when the run ends; a shared one by whoever passed it
        self._own_streams = streams is None
        self.streams = streams = StreamStore(stream_cache_bytes) if streams is None else streams
        traces: dict[tuple, Trace] = {}  # tenants of one model share its trace: per-layer work (plans) once
        if seed_indices is None:
            seed_indices = tuple(range(len(scenario.tenants)))
        elif len(seed_indices) != len(scenario.tenants):
            raise ValueError(f"{len(seed_indices)} seed indices for {len(scenario.tenants)} tenants")
        models = [(spec.workload, spec.params, spec.task) for spec in scenario.tenants]
        for spec, model in zip(scenario.tenants, models):
            if model not in traces:
                traces[model] = load_tenant_trace(spec, scenario.source)
        self.memory = MemoryHierarchy(soc, len(scenario.tenants) + len(scenario.background),
                                      multicast=policy_cls.multicast, unplaced_via_cache=policy_cls.unplaced_via_cache)
        # a multi-task model's full weights; spills at the accumulator's precision
        acc_bytes = soc.npu.accumulator_elem_bytes
        footprint = {model: layout_trace(trace, 0, acc_bytes).size_bytes for model, trace in traces.items()}
        # slots shrink when 1 GiB ones would run past the DRAM device and wrap onto other tenants' rows
        footprints = [footprint[m] for m in models] + [b.footprint_bytes for b in scenario.background]
        slot_bytes = slot_bytes_within(footprints, self.memory.dram.mapping.capacity_bytes)
        for i, (spec, model) in enumerate(zip(scenario.tenants, models)):
            trace = traces[model]
            layout = layout_trace(trace, tenant_base(slot, slot_bytes), acc_bytes)
            slot += slots_needed(layout.size_bytes, slot_bytes)
            t = TenantRuntime(i, spec, trace, layout, core_sets[i], self.mapper, streams, seed_indices[i])
            if spec.multi_task:
                t.request_pathways = request_pathways(spec, scenario.seed, t.seed_index)
                t.use_task(t.request_pathways[0][0])
            self.tenants.append(t)
        # CPU-side generators: tenant ids after the NPU tenants', addresses after their slots
        self.background: list[BackgroundTraffic] = []
        for k, spec in enumerate(scenario.background):
            self.background.append(BackgroundTraffic(self, spec, k, len(self.tenants) + k,
                                                     tenant_base(slot, slot_bytes)))
            slot += slots_needed(spec.footprint_bytes, slot_bytes)
        address_limit_bytes = self.memory.cache.address_limit_bytes
        used_bytes = tenant_base(slot, slot_bytes)
        if used_bytes > address_limit_bytes:
            source = scenario.source or "<scenario>"
            raise InputError(source, "--mix" if source == COMMAND_LINE else "tenants",
                             f"the tenants' tensors and CPU footprints need {bytes_text(used_bytes)} of "
                             f"memory, more than the {bytes_text(address_limit_bytes)} the simulator addresses")
        self.policy = policy_cls(self, **dict(scenario.policy.options))
        for t in self.tenants:
            t.unplaced_via_cache = policy_cls.unplaced_via_cache
        problem = policy_cls.soc_problem(scenario)  # loaders check it too; a Scenario built in Python may not be
        if problem:
            source = scenario.source or "<scenario>"
            raise InputError(source, "--policy" if source == COMMAND_LINE else "policy", problem)
        for t in self.tenants:
            if isolated_latency and t.name in isolated_latency:
                t.isolated_latency = isolated_latency[t.name]
        self.tasks: list[TaskRecord] = []
        self.layers: list[LayerRecord] = []
        # the timeline: at each event, every LLC owner's lines (tenants, then generators) and every tenant's
        # region pages, as arrays; timeline_table() lays them out as rows
        self._timeline_cycles: list[int] = []
        self._timeline_lines: list[np.ndarray] = []
        self._timeline_pages: list[np.ndarray] = []
        self._region_pages = np.zeros(len(self.tenants), dtype=np.int64)
        self.core_busy = [False] * soc.npu.cores
        pool = scenario.core_pool
        self.core_groups = [tuple(range(i, i + pool)) for i in range(0, soc.npu.cores, pool)] if pool else []
        # a policy that ranks ready tasks itself (prema) orders a tenant's by arrival, then request
        # number, whatever the scheduler: its queue must too (ReadyQueue.merged), or a preempted
        # request went behind one of its tenant's that arrived in the same cycle
        self.ready = ReadyQueue(by_index=scenario.scheduler == "fcfs" or self.policy.ranks_ready)
        self.progress = progress
        self._layers_done = 0
        self._layers_total = sum(
            sum(len(t.pathway(x).layers) for p in t.request_pathways for x in p)
            if t.request_pathways else t.spec.requests * len(t.trace.layers) for t in self.tenants)
        self.stages: list[dict] = []  # multi-task tenants: one row per task/expert run
        self.tasks_left = sum(t.spec.requests for t in self.tenants)  # NPU tasks not finished yet
        self._started: simpy.Event | None = None  # fires when a task starts on the NPU
        self._idle: simpy.Event | None = None  # fires when no task runs on the NPU any more

    # -- arrivals and dispatch ------------------------------------------------
    def target_cycles(self, t: TenantRuntime) -> float:
        """A new task's latency target: the tenant's target at the scenario's QoS level."""
        tgt = t.spec.target
        base = float(tgt.cycles) if tgt.cycles is not None else (
            tgt.multiple * t.isolated_latency if t.isolated_latency else math.inf)
        return base * self.scenario.qos_factor(t.spec)

    def _arrivals(self, t: TenantRuntime):
        spec = t.spec
        rng = np.random.default_rng([self.scenario.seed, t.seed_index])
        if spec.arrival == "closed":
            for i in range(spec.requests):
                task = self._new_task(t, i)
                done = self.env.event()
                task.done_event = done  # type: ignore[attr-defined]
                self._submit(task)
                yield done
            return
        if spec.arrival == "poisson":
            mean_gap = 1e6 / spec.rate_per_mcycle
            times = np.cumsum(rng.exponential(mean_gap, size=spec.requests)).astype(np.int64)
        else:
            times = np.asarray(spec.arrival_cycles, dtype=np.int64)
        for i, at in enumerate(times):
            if at > self.env.now:
                yield self.env.timeout(int(at) - self.env.now)
            self._submit(self._new_task(t, i))

    def _new_task(self, t: TenantRuntime, i: int) -> TaskRecord:
        task = TaskRecord(t.index, i, int(self.env.now), self.target_cycles(t))
        if t.request_pathways:
            task.pathway = t.request_pathways[i]
        return task

    def _submit(self, task: TaskRecord) -> None:
        self.tasks.append(task)
        self.ready.add(task)
        self._dispatch()

    # -- NPU activity, for CPU-side traffic that runs only alongside it ------------
    def npu_running(self) -> bool:
        return any(t.running for t in self.tenants)

    def npu_started(self) -> simpy.Event:
        """An event that fires when the next task starts on the NPU."""
        if self._started is None or self._started.triggered:
            self._started = self.env.event()
        return self._started

    def npu_idle(self) -> simpy.Event:
        """An event that fires when no task runs on the NPU any more."""
        if self._idle is None or self._idle.triggered:
            self._idle = self.env.event()
        return self._idle

    def _note_activity(self) -> None:
        if self.npu_running():
            if self._started is not None and not self._started.triggered:
                self._started.succeed()
        elif self._idle is not None and not self._idle.triggered:
            self._idle.succeed()

    def _ranked(self, refused: set[int]) -> Iterator[TaskRecord]:
        """The ready tasks in the scheduler's order (or the policy's own), lazily; none more of a
        tenant once it is in `refused`."""
        key = self.policy.ready_key()
        if key is not None:
            return self.ready.merged(key, refused)
        if self.scenario.scheduler == "expert":
            return (k for k in self._rank_by_expert(list(self.ready)) if k.tenant not in refused)
        if self.scenario.scheduler == "fcfs":
            return self.ready.merged(_fcfs_key, refused)
        now = self.env.now

        def score(k: TaskRecord) -> tuple:
            t = self.tenants[k.tenant]
            iso = t.isolated_latency or 1.0
            return (-(t.spec.priority + (now - k.arrival) / iso), k.arrival, k.tenant)

        return self.ready.merged(score, refused)

    def _rank_by_expert(self, tasks: list[TaskRecord]) -> list[TaskRecord]:
        """Dependency-aware (CoServe-style) within a tenant: requests whose next expert is
        the one that ran last go first (no switch, its weights are still on chip), then
        those of the expert the most waiting requests need next (one switch serves them
        all); FCFS within. Between tenants first come first served: each tenant offers the
        request it prefers (the oldest, without expert paths), and the earliest arrival of
        those goes first."""
        pending: dict[tuple[int, str], int] = {}
        for k in tasks:
            if k.pathway:
                key = (k.tenant, k.pathway[k.stage])
                pending[key] = pending.get(key, 0) + 1

        def within(k: TaskRecord) -> tuple:
            if not k.pathway:
                return (0, 0, k.arrival, k.index)
            name = k.pathway[k.stage]
            same = name == self.tenants[k.tenant].last_task
            return (0 if same else 1, -pending[(k.tenant, name)], k.arrival, k.index)

        keys = {id(k): within(k) for k in tasks}
        offered: dict[int, TaskRecord] = {}
        for k in tasks:
            if k.tenant not in offered or keys[id(k)] < keys[id(offered[k.tenant])]:
                offered[k.tenant] = k
        return sorted(tasks, key=lambda k: (offered[k.tenant].arrival, k.tenant, keys[id(k)]))

    def _dispatch(self) -> None:
        free = self.core_busy.count(False)
        if free and self.ready:  # with every core busy no task can start: no ranking
            waiting_tenants = self.ready.tenants()
            refused: set[int] = set()  # a tenant refused now stays refused this pass: cores only get busier
            started: list[TaskRecord] = []  # leave the ready queue once the ranking is done with it
            for task in self.policy.order(self._ranked(refused)):
                if task.tenant in refused:
                    continue
                t = self.tenants[task.tenant]
                cores = None if t.running else self.policy.cores_for(t, task)
                if cores is None:  # a tenant is one model instance (its tensors, region, throttle): one request at a time
                    refused.add(task.tenant)
                    if len(refused) == waiting_tenants:
                        break
                    continue
                for c in cores:
                    self.core_busy[c] = True
                t.running += 1
                started.append(task)
                if task.start < 0:
                    task.start = int(self.env.now)
                self.env.process(self._run_task(t, task, cores))
                free -= len(cores)
                if not free:
                    break
            for task in started:
                self.ready.remove(task)
        self._note_activity()

    # -- a task ------------------------------------------------------------------
    def _run_task(self, t: TenantRuntime, task: TaskRecord, cores: tuple[int, ...]):
        t.active_cores = len(cores)
        if task.next_layer == 0:
            task.stage_start = int(self.env.now)
        if task.pathway:
            name = task.pathway[task.stage]
            if t.use_task(name):
                self.policy.trace_changed(t)
            if task.next_layer == 0:
                task.stage_switched = t.last_task is not None and t.last_task != name
                task.switches += task.stage_switched
                t.last_task = name
        if task.next_layer == 0 and task.stage == 0:
            self.policy.task_started(t, task)
        mem = self.memory
        for li in range(task.next_layer, len(t.trace.layers)):
            layer = t.trace.layers[li]
            if li > task.next_layer and self.policy.preempt(t, task):
                # give the cores up at this layer boundary; resume later from here
                task.next_layer = li
                task.preemptions += 1
                for c in cores:
                    self.core_busy[c] = False
                t.running -= 1
                self.ready.add(task)
                self._dispatch()
                return
            asked = int(self.env.now)
            plan = yield from self.policy.acquire(t, li, task)
            rs = t.routed(li, plan)
            for lo, hi in t.resident_ranges(li, plan):
                mem.residency[t.index].add(lo, hi, mem.line_bytes)
            before = mem.counters[t.index].snapshot()
            start = int(self.env.now)
            npu = self.scenario.soc.npu
            yield from self._run_layer(t.index, rs, plan.cores_used, fetches_ahead(npu, layer),
                                       computes_per_block(npu, layer))
            after = mem.counters[t.index].snapshot()
            self.layers.append(LayerRecord(
                tenant=t.index, task=task.index, layer=layer.name, op=layer.op, start=start,
                end=int(self.env.now), compute_cycles=int(rs.step_cycles.sum()), budget_bytes=plan.budget_bytes,
                resident=plan.resident, fused=plan.fused, region_bytes=plan.region_bytes,
                counters={k: after[k] - before[k] for k in after}, cores=cores, page_wait_cycles=start - asked))
            self.policy.release(t, li, plan, task)
            self._record_timeline()
            self._layers_done += 1
            if self.progress:
                self.progress(self._layers_done, self._layers_total)
        for c in cores:
            self.core_busy[c] = False
        t.running -= 1
        if task.pathway:
            self.stages.append({"tenant": t.name, "task": task.index, "stage": task.stage,
                                "expert": task.pathway[task.stage], "start_cycle": task.stage_start,
                                "end_cycle": int(self.env.now),
                                "switched": task.stage_switched})
            if task.stage + 1 < len(task.pathway):
                # the next expert of this request queues again: the scheduler picks what runs next
                task.stage += 1
                task.next_layer = 0
                self.ready.add(task)
                self._dispatch()
                return
        task.finish = int(self.env.now)
        self.tasks_left -= 1
        self.policy.task_finished(t, task)
        done = getattr(task, "done_event", None)
        if done is not None:
            done.succeed()
        self._dispatch()

    def _run_layer(self, tenant: int, rs: RoutedStreams, cores: int, overlap: bool = True,
                   per_block: bool = False):
        """Steps of one layer: fetch i+1 while computing i, drain i afterwards.
        Without `overlap` (its tiles share the buffer), i+1 is fetched once i is
        computed and its stores have been acknowledged. With `per_block`, step i's
        compute starts when step i-1's ends rather than once i is loaded, and ends no
        sooner than its tail (the computes of its last block of input channels) after
        its loads are in."""
        env, mem = self.env, self.memory
        setup = self.scenario.soc.npu.layer_setup_cycles
        if setup:
            yield env.timeout(setup)
        st, ln, rd = rs.starts, rs.lengths, rs.readers
        # the step loop indexes Python lists: a numpy scalar per index would cost more than the slices
        ptr, cyc, req = rs.ptr.tolist(), rs.step_cycles.tolist(), rs.step_requests.tolist()
        tail = rs.step_tail_cycles.tolist() if per_block else cyc
        wreq = rs.step_write_requests.tolist()
        n = rs.steps

        def runs(s: int, r: int):
            a, b = ptr[s][r], ptr[s][r + 1]
            return (st[a:b], ln[a:b], rd[a:b]) if b > a else NO_RUNS

        if not overlap:
            # one tile at a time through the same buffer rows: load, compute, store, and wait
            # for the stores to be acknowledged before the next load (the last one too: a fence).
            # The stores stream out as the compute produces them, and only loads hold the
            # read DMA's slots
            rreq = rs.step_read_requests.tolist()
            for s in range(n):
                ready = mem.read(tenant, int(env.now), cores, runs(s, READ_CACHE), runs(s, READ_REGION),
                                 runs(s, READ_DRAM), rreq[s])
                start = max(ready, int(env.now))
                stored = start + cyc[s]
                yield env.timeout(stored - env.now)
                writes = runs(s, WRITE_CACHE), runs(s, WRITE_REGION), runs(s, WRITE_DRAM)
                mem.write(tenant, stored, *writes)
                drain = mem.drain_cycles(cores, wreq[s], *writes)
                drained = max(stored + (mem.hit_latency if drain else 0), start + drain)
                if drained > stored:
                    yield env.timeout(drained - stored)
            return
        ready = mem.read(tenant, int(env.now), cores, runs(0, READ_CACHE), runs(0, READ_REGION),
                         runs(0, READ_DRAM), req[0])
        compute_end = int(env.now)
        for s in range(n):
            # the DMA turns to the next step once this one's loads are in and the buffer half
            # the previous step computed from is free
            dma_at = max(ready, compute_end)
            if dma_at > env.now:
                yield env.timeout(dma_at - env.now)
            now = int(env.now)
            start = compute_end if per_block else now
            end = max(start + cyc[s], ready + tail[s])
            if s > 0:
                mem.write(tenant, now, runs(s - 1, WRITE_CACHE), runs(s - 1, WRITE_REGION), runs(s - 1, WRITE_DRAM))
            if s + 1 < n:
                ready = mem.read(tenant, now, cores, runs(s + 1, READ_CACHE), runs(s + 1, READ_REGION),
                                 runs(s + 1, READ_DRAM), req[s + 1])
            compute_end = end
        if compute_end > env.now:
            yield env.timeout(compute_end - env.now)
        mem.write(tenant, int(env.now), runs(n - 1, WRITE_CACHE), runs(n - 1, WRITE_REGION),
                  runs(n - 1, WRITE_DRAM))

    def note_region(self, tenant: int, pages: int) -> None:
        """A policy changed a tenant's region allocation (for the timeline)."""
        self.note_regions({tenant: pages})

    def note_regions(self, pages: dict[int, int]) -> None:
        """A policy changed several tenants' allocations at once: one timeline event."""
        for tenant, n in pages.items():
            self._region_pages[tenant] = n
        self._record_timeline()

    def _record_timeline(self) -> None:
        # CPU-side generators hold LRU lines too: their owner ids follow the tenants'
        self._timeline_cycles.append(int(self.env.now))
        self._timeline_lines.append(self.memory.cache.occupancies(len(self.tenants) + len(self.background)))
        self._timeline_pages.append(self._region_pages.copy())

    def timeline_table(self) -> pd.DataFrame:
        """One row per LLC owner (tenants, then CPU-side generators) at every timeline event: `cycle`,
        `tenant`, `llc_lines` (lines it holds in the LRU ways), `region_pages` (pages it owns)."""
        import pandas as pd

        names = np.array([t.name for t in self.tenants] + [b.name for b in self.background], dtype=object)
        events = len(self._timeline_cycles)
        if not events:
            return pd.DataFrame({"cycle": np.zeros(0, np.int64), "tenant": np.zeros(0, object),
                                 "llc_lines": np.zeros(0, np.int64), "region_pages": np.zeros(0, np.int64)})
        pages = np.zeros((events, len(names)), dtype=np.int64)
        pages[:, :len(self.tenants)] = np.vstack(self._timeline_pages)
        return pd.DataFrame({"cycle": np.repeat(np.array(self._timeline_cycles, dtype=np.int64), len(names)),
                             "tenant": np.tile(names, events), "llc_lines": np.vstack(self._timeline_lines).ravel(),
                             "region_pages": pages.ravel()})

    # -- run -----------------------------------------------------------------------
    def run(self) -> Simulation:
        self.policy.setup()
        mask = self.policy.background_way_mask()
        if mask is not None:
            for b in self.background:
                self.memory.cache.set_way_mask(b.cache_tenant, mask)
        for t in self.tenants:
            self.env.process(self._arrivals(t))
        for b in self.background:
            self.env.process(b.process())
        if not self.background:
            self.env.run()
        else:
            # a generator's last wait may reach far beyond the NPU's last task: stop with that task
            # (or when nothing is left to happen, if some task can never start)
            while self.tasks_left > 0 and self.env.peek() != math.inf:
                self.env.step()
            for b in self.background:
                b.close(int(self.env.now))
        # a finished run keeps its records, not its streams: SimPy's processes hold the
        # simulation in reference cycles, which would keep them until a collection
        if self._own_streams:
            self.streams.clear()
        return self


def request_pathways(spec: TenantSpec, seed: int, tenant_index: int) -> list[tuple[str, ...]]:
    """The tasks (experts) each request of a multi-task tenant runs, fixed by the seed."""
    if spec.task_graph:
        from workloads import task_graph

        graph = task_graph(spec.workload)
        return [tuple(graph.sample(random.Random(hash_seed(seed, tenant_index, i)))) for i in range(spec.requests)]
    if spec.task_order == "random":
        rng = np.random.default_rng([seed, tenant_index, 7])
        return [(spec.tasks[int(j)],) for j in rng.integers(0, len(spec.tasks), size=spec.requests)]
    return [(spec.tasks[i % len(spec.tasks)],) for i in range(spec.requests)]


def hash_seed(*parts: int) -> int:
    """A stable integer seed from integer parts (same in every process and run). Exact, not masked:
    `random.Random` takes an integer of any size, and no two seeds may draw alike."""
    h = 0
    for p in parts:
        h = h * 1_000_003 + int(p)
    return h


def load_tenant_trace(spec: TenantSpec, scenario_source: str = "") -> Trace:
    trace = get_trace(workload_path(spec.workload, scenario_source), **dict(spec.params))
    if spec.task is not None:
        trace = trace.for_task(spec.task)
    return trace


def layers_digest(spec: TenantSpec, scenario_source: str = "") -> str:
    """A hash of the layers a tenant runs: its trace's content, not its name, so a
    regenerated or edited trace file is a new key for whatever is cached on it."""
    return hashlib.sha256(repr(load_tenant_trace(spec, scenario_source).layers).encode()).hexdigest()
