"""MoCA (HPCA 2023) and its baselines: memory-rate throttling, PREMA, static partitions.

* ``moca``: at every layer boundary of any tenant, each running tenant's ideal
  DRAM rate (its layer's DRAM bytes over its predicted cycles) is compared
  with the DRAM budget; when the sum exceeds it, the excess is taken away from
  the co-runners in inverse proportion to their dynamic scores (priority and
  remaining work over slack: urgent tenants lose least), never below a floor
  share of a tenant's ideal rate. The result is written to the DRAM model's
  MoCA throttle as (window, target bytes per window). Tasks are ranked by
  priority and waiting time over isolated latency.
* ``prema``: time multiplexing of the whole NPU (PREMA, HPCA 2020): one task at
  a time on every core, preempted at layer boundaries by a waiting task with
  more tokens (priority x waiting time over isolated latency).
* ``static``: a fixed partition of the cores among tenants, no throttling, FCFS.
"""

from __future__ import annotations

import math

import numpy as np

from ..mapping.plan import UNMANAGED
from .base import Option, Policy, number_in, positive_int, register


@register
class MoCA(Policy):
    name = "moca"
    description = "MoCA: DRAM-rate throttling by dynamic score, priority/waiting-time scheduling"
    options = {
        "window_cycles": Option(1024, positive_int, "throttle window of the load DMA"),
        "bandwidth_share": Option(0.8, number_in(0.05, 1.0), "share of peak DRAM bandwidth to divide"),
        "floor": Option(0.1, number_in(0.0, 1.0), "a tenant keeps at least this share of its ideal rate"),
        "min_steps": Option(4, positive_int, "layers with fewer tile steps are never throttled"),
    }

    def setup(self) -> None:
        mem = self.sim.memory
        self.budget = mem.dram.peak_bytes_per_cycle * self.opts["bandwidth_share"]
        self.active: dict[int, dict] = {}  # tenant -> current layer's rate and score inputs
        self.throttled: set[int] = set()
        # predicted cycles of each tenant's remaining layers (unmanaged plans)
        self.remaining = {}
        for t in self.sim.tenants:
            cyc = np.array([t.plan(i, UNMANAGED).predicted_cycles for i in range(len(t.trace.layers))], dtype=float)
            self.remaining[t.index] = np.cumsum(cyc[::-1])[::-1]

    def acquire(self, t, layer_index: int, task):
        plan = t.plan(layer_index, UNMANAGED)
        self.active[t.index] = {
            "rate": plan.dram_bytes / max(1, plan.predicted_cycles),
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
        t = self.sim.tenants[tenant]
        task = info["task"]
        now = self.sim.env.now
        remaining = float(self.remaining[tenant][info["layer"]])
        deadline = task.arrival + task.target_cycles if math.isfinite(task.target_cycles) else math.inf
        slack = deadline - now - remaining
        urgency = remaining / max(slack, 1.0) if math.isfinite(slack) else 0.0
        return (t.spec.priority + 1) * max(urgency, 1e-3)

    def _rebalance(self) -> None:
        dram = self.sim.memory.dram
        window = self.opts["window_cycles"]
        total = sum(i["rate"] for i in self.active.values())
        limits: dict[int, float] = {}
        if total > self.budget and len(self.active) > 1:
            excess = total - self.budget
            inv = {j: 1.0 / self._score(j, i) for j, i in self.active.items()}
            norm = sum(inv.values())
            for j, info in self.active.items():
                allowed = info["rate"] - excess * inv[j] / norm
                allowed = max(allowed, self.opts["floor"] * info["rate"])
                if allowed < info["rate"] and info["steps"] >= self.opts["min_steps"]:
                    limits[j] = allowed
        for j in list(self.throttled):
            if j not in limits:
                dram.clear_throttle(j)
                self.throttled.discard(j)
        for j, rate in limits.items():
            dram.set_throttle(j, window, max(1, int(rate * window)))
            self.throttled.add(j)


@register
class Prema(Policy):
    name = "prema"
    description = "PREMA: the whole NPU time-multiplexed, token-based preemption at layer boundaries"
    uses_pool = False
    options = {
        "hysteresis": Option(0.1, number_in(0.0, 10.0), "a waiting task needs this much more tokens to preempt"),
    }

    def cores_for(self, tenant, task):
        cores = tuple(range(self.sim.scenario.soc.npu.cores))
        return None if any(self.sim.core_busy) else cores

    def _tokens(self, task) -> float:
        t = self.sim.tenants[task.tenant]
        iso = t.isolated_latency or 1.0
        return (t.spec.priority + 1) * (1.0 + (self.sim.env.now - task.arrival) / iso)

    def preempt(self, tenant, task) -> bool:
        if not self.sim.ready:
            return False
        best = max(self._tokens(k) for k in self.sim.ready)
        return best > self._tokens(task) * (1 + self.opts["hysteresis"])


@register
class Static(Policy):
    name = "static"
    description = "a fixed partition of the cores among tenants, no throttling (MoCA's baseline)"
    uses_pool = False

    def cores_for(self, tenant, task):
        groups = self._partition()
        cores = groups[tenant.index]
        return None if any(self.sim.core_busy[c] for c in cores) else cores

    def _partition(self) -> list[tuple[int, ...]]:
        if not hasattr(self, "_groups"):
            if self.sim.scenario.core_pool:
                # an equal share of the cores per tenant, in whole pool groups where possible
                n = len(self.sim.tenants)
                total = self.sim.scenario.soc.npu.cores
                share = max(1, total // n)
                self._groups = [tuple(range((i * share) % total, (i * share) % total + share))
                                for i in range(n)]
            else:
                self._groups = [t.cores for t in self.sim.tenants]
        return self._groups
