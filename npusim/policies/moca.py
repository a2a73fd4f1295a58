"""MoCA (HPCA 2023) and its baselines: memory-rate throttling, PREMA, static partitions.

* ``moca``: at every layer boundary of any tenant, each running tenant's ideal
  DRAM rate (its layer's predicted DRAM reads over its predicted cycles, as
  MoCA's runtime computes it) is compared with the DRAM budget; when the sum
  exceeds it, the budget is shared in proportion to the dynamic scores
  (priority and remaining work over slack: urgent tenants lose least):
  tenants below their share run free and leave the rest to the others, who
  are throttled to their share (never below a floor share of their ideal
  rate). As in MoCA's hardware the throttle sits in the tenant's load DMA and
  counts every load, LLC hit or miss, so the allowed rate becomes a target of
  loads scaled by the layer's loads over its DRAM reads (`rate_of: loads`
  rates and budgets the loads themselves). The result is written to the DRAM model's
  MoCA throttle as (window, target bytes per window). Tasks are ranked by
  priority and waiting time over isolated latency (the scenario's `priority`
  scheduler). With `pairing`, memory-aware co-location: while the running
  tasks load more than their share of the budget, the best-ranked
  compute-bound task among the first `pair_window` waiting ones starts first.
* ``prema``: time multiplexing of the whole NPU (PREMA, HPCA 2020): one task at
  a time on every core. Tokens start at the priority level and grow by it x
  waiting time over isolated latency; of the tasks whose tokens reach the
  highest level the largest token has reached, the one with the shortest
  predicted remaining time runs, preempting the running task at a layer
  boundary unless that would slow it more than draining it slows the other.
  `rank: score` ranks by MoCA's own PREMA baseline instead: priority x 1e5 plus
  1e5 x age over `cap` x isolated latency, highest first.
* ``static``: a fixed partition of the cores among tenants, no throttling (ready tasks in the scheduler's order).
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np

from ..mapping.plan import UNMANAGED
from .base import Option, Policy, is_bool, number_in, one_of, positive_int, positive_int_at_most, register

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.sim import TaskRecord


MIN_URGENCY, MAX_URGENCY = 0.05, 20.0


def _unmanaged_cycles(t, layers, n_cores: int) -> np.ndarray:
    """Predicted cycles of each of `layers` of tenant `t` under its unmanaged plan on `n_cores` cores."""
    return np.array([t.mapper.plan(layer, n_cores, UNMANAGED, source=t.spec.workload).predicted_cycles
                     for layer in layers], dtype=float)


@register
class MoCA(Policy):
    name = "moca"
    description = "MoCA: DRAM-rate throttling by dynamic score, priority/waiting-time scheduling"
    options = {
        "window_cycles": Option(1024, positive_int_at_most(10**9), "throttle window of the load DMA"),
        # MoCA's runtime: DRAM_MAX_UTIL, 24 of gemmini-moca's 25.6 B/cycle
        "bandwidth_share": Option(0.94, number_in(0.05, 1.0), "share of peak DRAM bandwidth to divide"),
        "floor": Option(0.1, number_in(0.0, 1.0), "a tenant keeps at least this share of its ideal rate"),
        "min_steps": Option(4, positive_int, "layers with fewer tile steps are never throttled"),
        "rate_of": Option("dram", one_of("dram", "loads"),
                          "what rates and budget count: predicted DRAM reads (MoCA's runtime), the DMA's "
                          "target then scaled to the layer's loads, or every load, LLC hits included "
                          "(the rule before 2026-12-02, with bandwidth_share 0.8)"),
        "pairing": Option(False, is_bool, "memory-aware co-location of compute-bound with memory-bound tasks"),
        "pair_window": Option(4, positive_int, "how far down the ranking pairing may reach"),
    }

    def setup(self) -> None:
        mem = self.sim.memory
        self.budget = mem.dram.peak_bytes_per_cycle * self.opts["bandwidth_share"]
        self.active: dict[int, dict] = {}  # tenant -> current layer's rate and score inputs
        self.throttled: set[int] = set()
        # predicted cycles of each tenant's remaining layers (unmanaged plans)
        self.remaining = {}
        self._expert_cycles: dict[tuple[int, str, int], float] = {}  # (tenant, expert, cores) -> its layers' cycles
        self.intensity: dict[int, float] = {}
        for t in self.sim.tenants:
            self.trace_changed(t)

    def trace_changed(self, t) -> None:
        plans = [t.plan(i, UNMANAGED) for i in range(len(t.trace.layers))]
        cyc = np.array([p.predicted_cycles for p in plans], dtype=float)
        self.remaining[t.index] = np.cumsum(cyc[::-1])[::-1]
        # whole-network rate (bytes per cycle, as the budget counts them), for memory-aware pairing
        self.intensity[t.index] = sum(self._rated_bytes(p) for p in plans) / max(1.0, float(cyc.sum()))

    def _rated_bytes(self, plan) -> int:
        """A layer's bytes as the budget counts them: its loads, or its predicted DRAM reads."""
        return plan.dram_read_bytes if self.opts["rate_of"] == "dram" else plan.load_bytes

    def _later_stages_cycles(self, t, task) -> float:
        """Predicted cycles of the experts a request runs after its current one (expert
        paths): its deadline is the whole request's, so its remaining work is too."""
        path = task.pathway or ()
        total = 0.0
        for name in path[task.stage + 1:]:
            key = (t.index, name, t.n_cores)
            if key not in self._expert_cycles:
                self._expert_cycles[key] = float(_unmanaged_cycles(t, t.pathway(name).layers, t.n_cores).sum())
            total += self._expert_cycles[key]
        return total

    def _fair_share(self) -> float:
        """The budget's share of one task slot (core group, or tenant without a pool)."""
        slots = len(self.sim.core_groups) or len(self.sim.tenants)
        return self.budget / max(1, slots)

    def order(self, ranked):
        """Memory-aware pairing: when the running tasks load more than their
        share of the budget, a compute-bound task (below one slot's share)
        among the first `pair_window` ranked ones goes first, if its tenant
        is not running one already (it could not start)."""
        if not self.opts["pairing"]:
            return ranked
        share = self._fair_share()
        running = [t for t in self.sim.tenants if t.running]
        if sum(self.intensity[t.index] * t.running for t in running) <= share * sum(t.running for t in running):
            return ranked
        ranked = iter(ranked)
        head = list(itertools.islice(ranked, self.opts["pair_window"]))
        tenants = self.sim.tenants
        for k, task in enumerate(head):
            # a task whose tenant runs already waits for it (one request at a time): not a partner
            if self.intensity[task.tenant] < share and not tenants[task.tenant].running:
                return itertools.chain([task], head[:k], head[k + 1:], ranked)
        return itertools.chain(head, ranked)

    def acquire(self, t, layer_index: int, task):
        plan = t.plan(layer_index, UNMANAGED)
        rated = self._rated_bytes(plan)
        self.active[t.index] = {
            "rate": rated / max(1, plan.predicted_cycles),
            # the DMA counts every load: a rate of DRAM reads becomes a target of loads
            "loads_per_rated_byte": plan.load_bytes / rated if rated else 1.0,
            "steps": plan.steps, "task": task, "layer": layer_index,
        }
        self._rebalance()
        return plan
        yield  # pragma: no cover

    def release(self, t, layer_index: int, plan, task) -> None:
        self.active.pop(t.index, None)
        self._rebalance()

    def task_finished(self, t, task) -> None:
        self.active.pop(t.index, None)
        self._rebalance()

    def _score(self, tenant: int, info: dict) -> float:
        """Priority x urgency. Urgency is the remaining work over the slack left
        before the deadline, capped; a task that can no longer meet its target
        (or has none) counts as neutral, so hopeless tasks do not starve the
        ones that can still make it."""
        t = self.sim.tenants[tenant]
        task = info["task"]
        if not math.isfinite(task.target_cycles):
            return float(t.spec.priority + 1)
        remaining = float(self.remaining[tenant][info["layer"]]) + self._later_stages_cycles(t, task)
        slack = task.arrival + task.target_cycles - self.sim.env.now - remaining
        urgency = remaining / slack if slack > 0 else 1.0
        return (t.spec.priority + 1) * min(max(urgency, MIN_URGENCY), MAX_URGENCY)

    def _rebalance(self) -> None:
        mem = self.sim.memory
        window = self.opts["window_cycles"]
        # a layer of few tiles is never throttled: it loads at its ideal rate, which the others' shares must leave
        few_tiles = {j for j, i in self.active.items() if i["steps"] < self.opts["min_steps"]}
        limits = self.allowed_rates({j: i["rate"] for j, i in self.active.items()},
                                    {j: self._score(j, i) for j, i in self.active.items()}, few_tiles)
        for j in list(self.throttled):
            if j not in limits:
                mem.clear_throttle(j)
                self.throttled.discard(j)
        for j, rate in limits.items():
            target = rate * window * self.active[j]["loads_per_rated_byte"]
            mem.set_throttle(j, window, max(1, int(target)), self.sim.tenants[j].n_cores)
            self.throttled.add(j)

    def allowed_rates(self, rates: dict[int, float], scores: dict[int, float],
                      unthrottled: set[int] | frozenset[int] = frozenset()) -> dict[int, float]:
        """Rates (bytes per cycle) of the tenants to throttle (others run free).

        The budget is shared in proportion to the scores; a tenant whose ideal
        rate is below its share is not throttled and leaves the rest to the
        others (water filling); the others get their share, but never less than
        `floor` x their ideal rate. Tenants in `unthrottled` (layers of few
        tiles) run free whatever their share: their ideal rates come off the
        budget first."""
        if sum(rates.values()) <= self.budget or len(rates) < 2:
            return {}
        free: set[int] = {j for j in unthrottled if j in rates}
        while True:
            others = [j for j in rates if j not in free]
            if not others:
                return {}
            left = max(0.0, self.budget - sum(rates[j] for j in free))
            total_score = sum(scores[j] for j in others)
            share = {j: left * scores[j] / total_score for j in others}
            newly = {j for j in others if rates[j] <= share[j]}
            if not newly:
                break
            free |= newly
        return {j: max(share[j], self.opts["floor"] * rates[j]) for j in others}


@register
class Prema(Policy):
    name = "prema"
    description = "PREMA: the whole NPU time-multiplexed, token-based preemption at layer boundaries"
    uses_pool = False
    reads_deadlines = False  # tokens from priority and waiting time
    ranks_ready = True  # its tokens and predicted remaining times, not the scenario's scheduler
    options = {
        "drain": Option(True, is_bool, "let the running task finish when preempting it would slow the "
                                       "two tasks more (PREMA's dynamic choice of DRAIN over CHECKPOINT)"),
        "rank": Option("candidates", one_of("candidates", "score"),
                       "candidates: PREMA's tokens, threshold and shortest predicted job among the candidates; "
                       "score: MoCA's PREMA baseline, priority x 1e5 + 1e5 x age / (cap x isolated latency), "
                       "highest first"),
        "cap": Option(4, positive_int_at_most(10**6), "with rank: score, age counts in units of cap x "
                                                      "isolated latency (the MoCA artifact's CAP)"),
    }

    def setup(self) -> None:
        # PREMA's priority levels are its token thresholds: here each priority the scenario's
        # tenants use is a level, of weight priority + 1 (our priority 0 must still earn tokens)
        self.levels = sorted({t.spec.priority + 1 for t in self.sim.tenants})
        self._ran_cycles: dict[tuple[int, int], int] = {}  # (tenant, request) -> cycles it ran so far
        self._segment_start: dict[tuple[int, int], int] = {}  # when its latest stretch on the NPU began
        self._on_npu: tuple[int, int] | None = None  # the request the NPU runs (or ran last)
        # (request, stage, next layer) of the last layer run: a running task's `next_layer`
        # is only brought up to date when it is preempted
        self._progress: tuple[tuple[int, int], int, int] | None = None
        self._cum_cycles: dict[tuple[int, str | None], np.ndarray] = {}  # predicted cycles from layer i on

    def cores_for(self, tenant, task):
        if any(self.sim.core_busy):
            return None
        # the engine starts the task on these cores: its stretch of running begins now
        self._on_npu = (task.tenant, task.index)
        self._segment_start[self._on_npu] = int(self.sim.env.now)
        return tuple(range(self.sim.scenario.soc.npu.cores))

    def release(self, t, layer_index: int, plan, task) -> None:
        key = (task.tenant, task.index)
        now = int(self.sim.env.now)
        self._ran_cycles[key] = self._ran_cycles.get(key, 0) + now - self._segment_start[key]
        self._segment_start[key] = now
        self._progress = (key, task.stage, layer_index + 1)

    def task_finished(self, t, task) -> None:
        self._ran_cycles.pop((task.tenant, task.index), None)
        self._segment_start.pop((task.tenant, task.index), None)

    # -- PREMA's quantities -------------------------------------------------------------
    def _weight(self, task) -> int:
        return self.sim.tenants[task.tenant].spec.priority + 1

    def _waited_cycles(self, task) -> float:
        """Time since arrival not spent running (a running task's current stretch counts as run)."""
        key = (task.tenant, task.index)
        now = self.sim.env.now
        ran = self._ran_cycles.get(key, 0)
        if key == self._on_npu:  # (0 right after a layer, when all is decided)
            ran += now - self._segment_start[key]
        return max(0.0, now - task.arrival - ran)

    def _tokens(self, task) -> float:
        """Priority at arrival, plus priority x waiting time over isolated latency: PREMA adds
        priority x slowdown at each scheduling step; summed, that is the whole waiting time."""
        iso = self.sim.tenants[task.tenant].isolated_latency or 1.0
        w = self._weight(task)
        return w * (1.0 + self._waited_cycles(task) / iso)

    def _stage_cum(self, t, name: str | None) -> np.ndarray:
        """Predicted cycles of a pathway's layers from each layer to its end (and 0 past it)."""
        key = (t.index, name)
        cum = self._cum_cycles.get(key)
        if cum is None:
            trace = t.pathway(name) if name is not None else t.full_trace
            # prema runs every task on all cores
            cyc = np.append(_unmanaged_cycles(t, trace.layers, self.sim.scenario.soc.npu.cores), 0.0)
            cum = self._cum_cycles[key] = np.cumsum(cyc[::-1])[::-1]
        return cum

    def _remaining_cycles(self, task) -> float:
        """Predicted time the task still needs: its isolated latency times the share of its
        predicted layer cycles not yet run (a preempted task resumes at `next_layer`)."""
        t = self.sim.tenants[task.tenant]
        names = task.pathway or (None,)
        cums = [self._stage_cum(t, name) for name in names]
        total = sum(float(c[0]) for c in cums)
        nxt = task.next_layer
        if self._progress is not None and self._progress[:2] == ((task.tenant, task.index), task.stage):
            nxt = self._progress[2]
        left = float(cums[task.stage][nxt]) + sum(float(c[0]) for c in cums[task.stage + 1:])
        if not total:
            return 0.0
        return (t.isolated_latency or total) * left / total

    def _threshold(self, max_tokens: float) -> int:
        # the highest priority level the largest token has reached (every task holds at
        # least its own level, so the task with the most tokens is always a candidate)
        return max((lv for lv in self.levels if lv <= max_tokens), default=self.levels[0])

    def _score(self, task) -> int:
        """MoCA's PREMA baseline (`workload_priority_sp`): priority x 1e5 plus 1e5 x the time
        since arrival (running included) over cap x isolated latency, in integers as there."""
        iso = self.sim.tenants[task.tenant].isolated_latency or 1.0
        age = max(0, int(self.sim.env.now) - int(task.arrival))
        return self.sim.tenants[task.tenant].spec.priority * 100_000 + math.floor(
            100_000 * age / (self.opts["cap"] * iso))

    def _select_keys(self, tasks: list) -> dict[int, tuple]:
        """PREMA's choice among `tasks` (one per tenant) as sort keys: candidates (tokens at
        or above the threshold) first, shortest predicted remaining time first among them;
        ties by arrival, then tenant. The rest follow in the same order. With `rank: score`,
        the highest score first, ties by arrival, then tenant."""
        if self.opts["rank"] == "score":
            return {k.tenant: (0, -self._score(k), k.arrival, k.tenant) for k in tasks}
        tokens = [self._tokens(k) for k in tasks]
        threshold = self._threshold(max(tokens))
        return {k.tenant: (0 if tok >= threshold else 1, self._remaining_cycles(k), k.arrival, k.tenant)
                for k, tok in zip(tasks, tokens)}

    def _stage_ended(self, heads: list[TaskRecord]) -> TaskRecord | None:
        """The request (among `heads`) whose expert-path stage just ended on the NPU and whose
        next stage was queued at this cycle: for PREMA it is still the running task, at a layer
        boundary of its request (the engine hands the NPU out again between stages)."""
        key, progress = self._on_npu, self._progress
        if key is None or progress is None or progress[0] != key:
            return None
        if self._segment_start.get(key) != int(self.sim.env.now):  # it left the NPU earlier
            return None
        # a preempted request resumes in the stage it left (progress[1]); a finished stage's is the next
        return next((k for k in heads if (k.tenant, k.index) == key and k.next_layer == 0
                     and k.stage == progress[1] + 1), None)

    def ready_key(self):
        # a tenant runs its requests one at a time, oldest first: its first ready task
        # stands for it, and the rest of its queue follows it in arrival order
        heads = list(self.sim.ready.heads())
        rank = self._select_keys(heads)
        going_on = self._stage_ended(heads)
        if going_on is not None and not self.preempt(self.sim.tenants[going_on.tenant], going_on):
            # a stage end is a layer boundary of the request: the running one keeps the NPU as
            # `preempt` decides there (PREMA's choice, DRAIN included), not by the ranking alone
            rank[going_on.tenant] = (-1, *rank[going_on.tenant][1:])
        return lambda k: (*rank[k.tenant], k.arrival, k.index)

    def preempt(self, tenant, task) -> bool:
        if not self.sim.ready:
            return False
        # the running tenant's later requests wait for this one whatever happens
        others = [k for k in self.sim.ready.heads() if k.tenant != task.tenant]
        if not others:
            return False
        rank = self._select_keys([task, *others])
        best = min(rank, key=rank.__getitem__)
        if best == task.tenant:
            return False
        if self.opts["drain"]:
            # PREMA's dynamic mechanism: compare the slowdown each task would suffer waiting
            # for the other (its remaining time over the waiter's isolated latency); if the
            # running task would lose more by being preempted, it drains (runs on) instead
            other = next(k for k in others if k.tenant == best)
            iso_run = self.sim.tenants[task.tenant].isolated_latency or 1.0
            iso_other = self.sim.tenants[other.tenant].isolated_latency or 1.0
            if self._remaining_cycles(other) / iso_run > self._remaining_cycles(task) / iso_other:
                return False
        return True


@register
class Static(Policy):
    name = "static"
    # MoCA's own static baseline is `shared` with core_pool and the priority scheduler (docs/POLICIES.md)
    description = "a fixed partition of the cores among tenants, no throttling"
    uses_pool = False
    reads_deadlines = False

    def cores_for(self, tenant, task):
        groups = self._partition()
        cores = groups[tenant.index]
        return None if any(self.sim.core_busy[c] for c in cores) else cores

    def _partition(self) -> list[tuple[int, ...]]:
        if not hasattr(self, "_groups"):
            if self.sim.core_groups:
                # each tenant owns one core group for good (round robin when tenants outnumber groups)
                groups = self.sim.core_groups
                self._groups = [groups[i % len(groups)] for i in range(len(self.sim.tenants))]
            else:
                self._groups = [t.cores for t in self.sim.tenants]
        return self._groups
