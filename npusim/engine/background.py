"""CPU-side background traffic: a traffic generator that shares the LLC and DRAM.

An integrated NPU shares its last-level cache and DRAM with the SoC's CPUs.
A generator stands for such a co-runner: it issues bursts of line accesses
over its footprint (in address order, or at random), at most one burst in
flight, so that it offers `rate_gb_per_s` when memory keeps up and gets less
when it does not. Its lines go through the same LLC (with the way mask the
policy gives it) and the same DRAM as the NPU tenants' tiles. It runs while
a task runs on the NPU; what it does while none runs (its effect on the LLC)
is replayed, without timing, when the NPU starts again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..scenario import BackgroundSpec

if TYPE_CHECKING:  # pragma: no cover
    from .sim import Simulation


# a long idle gap replays its last (LLC + footprint) x this many lines; the rest is counted at their hit rate
IDLE_REPLAY_FACTOR = 4
IDLE_CHUNK_LINES = 1 << 16  # lines per cache call while replaying


@dataclass
class BackgroundCounters:
    bursts: int = 0
    read_lines: int = 0
    write_lines: int = 0
    active_cycles: int = 0  # cycles it ran (a task ran on the NPU)
    slot_cycles: float = 0.0  # cycles its bursts took: due to next due, a period or until served
    # while no task ran on the NPU (replayed when the NPU started again)
    idle_cycles: int = 0
    idle_lines: int = 0
    idle_llc_hits: int = 0
    idle_dram_read_lines: int = 0
    idle_dram_write_lines: int = 0


class BackgroundTraffic:
    """One generator: its address stream and its SimPy process."""

    def __init__(self, sim: "Simulation", spec: BackgroundSpec, index: int, cache_tenant: int, base_addr: int):
        self.sim = sim
        self.spec = spec
        self.name = spec.name
        self.cache_tenant = cache_tenant  # its index in the LLC's and the counters' tenant tables
        line_bytes = sim.memory.line_bytes
        self.line_bytes = line_bytes
        self.base_addr = base_addr
        self.footprint_lines = max(1, spec.footprint_bytes // line_bytes)
        self.burst_lines = min(max(1, spec.burst_bytes // line_bytes), self.footprint_lines)
        clock_hz = sim.scenario.soc.npu.clock_hz
        self.bytes_per_cycle = spec.rate_gb_per_s * 1e9 / clock_hz
        self.period_cycles = self.burst_lines * line_bytes / self.bytes_per_cycle
        self.rng = np.random.default_rng([sim.scenario.seed, 0xC9, index])
        self.idle_rng = np.random.default_rng([sim.scenario.seed, 0xC9, index, 1])  # the active stream's stays apart
        self.llc_lines = sim.scenario.soc.llc.size_bytes // line_bytes
        self.position = 0  # next line of a stream
        self.counters = BackgroundCounters()
        self.waiting_since: int | None = None  # start of the wait it is in, if any
        self._offsets = np.arange(self.burst_lines, dtype=np.int64)

    def next_burst(self) -> tuple[np.ndarray, np.ndarray]:
        """Line addresses of the next burst and which of them are writes."""
        return self._next_lines(self.burst_lines, self.rng)

    def _next_lines(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The next `n` line addresses of its pattern (random ones drawn from `rng`) and which are writes."""
        if self.spec.pattern == "stream":
            offsets = self._offsets if n == self.burst_lines else np.arange(n, dtype=np.int64)
            lines = (self.position + offsets) % self.footprint_lines
            self.position = (self.position + n) % self.footprint_lines
        else:
            lines = rng.integers(0, self.footprint_lines, size=n, dtype=np.int64)
        writes = rng.random(n) < self.spec.write_fraction
        return self.base_addr + lines * self.line_bytes, writes

    def process(self):
        """A burst at most every period, or as soon as the previous one is served if
        memory is slower; asleep while no task runs on the NPU."""
        sim, env, mem, c = self.sim, self.sim.env, self.sim.memory, self.counters
        due = float(env.now)
        while sim.tasks_left > 0:
            if not sim.npu_running():
                idle_from = int(env.now)
                yield sim.npu_started()
                gap_cycles = int(env.now) - idle_from
                c.idle_cycles += gap_cycles  # every gap, whether replayed or paused
                # the schedule goes on across the gap (no burst sooner than one period after the
                # previous one, however short the gap): replayed, the bursts due in the gap were
                # issued; paused, what was left of the period when the NPU stopped is left now
                if self.spec.idle == "replay":
                    due = self.replay_idle(due, float(env.now))
                else:
                    due = max(due, float(idle_from)) + gap_cycles
                continue
            if env.now < due:  # woken by an idle instant (one request ending as the next starts)
                yield from self._wait(math.ceil(due))
                continue
            start = int(env.now)
            addrs, writes = self.next_burst()
            done = mem.cpu_access(self.cache_tenant, start, addrs, writes)
            c.bursts += 1
            n_writes = int(writes.sum())
            c.write_lines += n_writes
            c.read_lines += addrs.shape[0] - n_writes
            # the next is due a period after this one was due, not after it started: starts
            # fall on whole cycles, and counting from them would lose up to a cycle a period
            nxt = max(due + self.period_cycles, float(done))
            c.slot_cycles += nxt - due
            due = nxt
            yield from self._wait(max(math.ceil(due), start + 1))

    def idle_bursts(self, due_cycle: float, now_cycle: float) -> int:
        """Bursts of the schedule due from `due_cycle` (the next one's start) until `now_cycle`."""
        if now_cycle <= due_cycle:
            return 0
        return math.ceil((now_cycle - due_cycle) / self.period_cycles)

    def replay_idle(self, due_cycle: float, now_cycle: float) -> float:
        """What the CPU did while the NPU was idle until `now_cycle`: its bursts due
        from `due_cycle` on, at the offered rate (memory had nothing else to do),
        replayed through the LLC without timing, so the NPU finds the cache as the
        CPU left it. Returns when the next burst is due. A gap longer than
        IDLE_REPLAY_FACTOR x (LLC + footprint) lines replays only its last lines
        (by then they decide what the LLC holds) and counts the earlier ones at
        the replayed lines' rates."""
        bursts = self.idle_bursts(due_cycle, now_cycle)
        if bursts <= 0:
            return due_cycle
        mem, c = self.sim.memory, self.counters
        total = bursts * self.burst_lines
        replay = min(total, IDLE_REPLAY_FACTOR * (self.llc_lines + self.footprint_lines))
        if self.spec.pattern == "stream":
            self.position = (self.position + total - replay) % self.footprint_lines
        hits = read_misses = writebacks = writes_total = 0
        for done in range(0, replay, IDLE_CHUNK_LINES):
            addrs, writes = self._next_lines(min(IDLE_CHUNK_LINES, replay - done), self.idle_rng)
            h, rm, wb = mem.cpu_access_untimed(self.cache_tenant, addrs, writes)
            hits, read_misses, writebacks = hits + h, read_misses + rm, writebacks + wb
            writes_total += int(writes.sum())
        scale = total / replay
        c.idle_lines += total
        c.idle_llc_hits += round(hits * scale)
        c.idle_dram_read_lines += round(read_misses * scale)
        c.idle_dram_write_lines += round((writebacks + (writes_total if mem.write_through else 0)) * scale)
        return due_cycle + bursts * self.period_cycles

    def _wait(self, until: int):
        """Sleep until `until`, or until the NPU goes idle, counting the cycles slept."""
        env = self.sim.env
        self.waiting_since = int(env.now)
        yield env.timeout(until - self.waiting_since) | self.sim.npu_idle()
        self.counters.active_cycles += int(env.now) - self.waiting_since
        self.waiting_since = None

    def close(self, now: int) -> None:
        """The run ended at `now` (the NPU's last task): count the wait it was in."""
        if self.waiting_since is not None:
            self.counters.active_cycles += now - self.waiting_since
            self.waiting_since = None
