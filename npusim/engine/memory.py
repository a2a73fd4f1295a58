"""The shared memory hierarchy the cores see: LLC (LRU part and page regions) and DRAM.

All tenants' batches go through the same LLC state and the same DRAM
bank/row/bus state in event order, so interference is real. Time is kept in
reservations: the LLC data port and DRAM book their resources ahead, and a
batch learns when its last byte arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cache_models import SetAssociativeCache

from ..dram import DRAM
from ..dram import kernel as DK
from ..soc import SoCSpec
from .kernels import line_count, region_touch, runs_to_lines

TICKS_PER_CYCLE = 1024  # the load throttle's time unit: fractional issue gaps stay exact


@dataclass
class TenantCounters:
    """Cumulative per-tenant line and byte counts (lines of the LLC line size)."""

    cache_hits: int = 0  # LRU part
    cache_misses: int = 0
    region_hits: int = 0  # resident data already in the tenant's region
    region_fills: int = 0  # first touches of resident data read from DRAM
    region_llc_fills: int = 0  # first touches found in the LRU ways (a copy inside the LLC)
    bypass_lines: int = 0  # reads that skip the cache
    multicast_saved: int = 0  # line deliveries served by one multicast transfer
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    llc_bytes: int = 0  # bytes through the LLC data port

    def snapshot(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Residency:
    """Byte ranges of a tenant's tensors that live in its region, with line presence bits."""

    lo: list = field(default_factory=list)
    hi: list = field(default_factory=list)
    bits: list = field(default_factory=list)
    _arrays: tuple | None = None

    def add(self, lo: int, hi: int, line_bytes: int) -> None:
        lo = lo // line_bytes * line_bytes
        for i, (a, b) in enumerate(zip(self.lo, self.hi)):
            if a != lo:
                continue
            if b >= hi:
                return  # already resident
            # the same tensor placed larger: grow its range, keeping its lines' presence (a second,
            # overlapping range would hold bits of its own for them, and they would be fetched again)
            bits = np.zeros(-(-(hi - lo) // line_bytes), dtype=np.uint8)
            bits[:len(self.bits[i])] = self.bits[i]
            self.hi[i] = hi
            self.bits[i] = bits
            self._arrays = None
            return
        self.lo.append(lo)
        self.hi.append(hi)
        self.bits.append(np.zeros(-(-(hi - lo) // line_bytes), dtype=np.uint8))
        self._arrays = None

    def drop(self, keep: set[int] | None = None) -> None:
        """Forget resident ranges, except those starting at an address in `keep`."""
        keep = keep or set()
        idx = [i for i, a in enumerate(self.lo) if a in keep]
        self.lo = [self.lo[i] for i in idx]
        self.hi = [self.hi[i] for i in idx]
        self.bits = [self.bits[i] for i in idx]
        self._arrays = None

    def arrays(self):
        """(lo, hi, offsets, flat bitmap) for the kernel; each range's bits become
        a view of the flat bitmap, so the kernel's marks are kept."""
        if self._arrays is None:
            offs, at = [], 0
            for b in self.bits:
                offs.append(at)
                at += len(b)
            bitmap = np.concatenate(self.bits) if self.bits else np.zeros(0, dtype=np.uint8)
            self.bits = [bitmap[o: o + len(b)] for o, b in zip(offs, self.bits)]
            self._arrays = (np.array(self.lo, dtype=np.int64), np.array(self.hi, dtype=np.int64),
                            np.array(offs, dtype=np.int64), bitmap)
        return self._arrays


class MemoryHierarchy:
    def __init__(self, soc: SoCSpec, n_tenants: int, *, multicast: bool = False, unplaced_via_cache: bool = False):
        llc = soc.llc
        self.soc = soc
        self.line_bytes = llc.line_bytes
        self.hit_latency = llc.hit_latency_cycles
        self.miss_latency = llc.miss_latency_cycles
        self.llc_bytes_per_cycle = llc.bytes_per_cycle
        self.dma_bytes_per_cycle = soc.npu.dma_bytes_per_cycle
        self.dma_inflight = soc.npu.dma_max_inflight
        self.write_through = llc.write_policy == "write-through"
        self.cache = SetAssociativeCache(llc.size_bytes, llc.ways, line_bytes=llc.line_bytes,
                                         policy=llc.replacement, write_back=not self.write_through)
        self.dram = DRAM.from_spec(soc.dram, clock_hz=soc.npu.clock_hz, request_bytes=llc.line_bytes)
        self.multicast = multicast
        self.unplaced_via_cache = unplaced_via_cache  # region-route lines outside resident tensors: LRU ways, else DRAM
        self.dram_latency = self.dram.min_read_cycles() + self.miss_latency
        self.llc_free_cycle = 0
        self.counters = [TenantCounters() for _ in range(n_tenants)]
        self.residency = [Residency() for _ in range(n_tenants)]
        # MoCA's load throttle sits in each tenant's DMA and counts every load
        # (LLC hit or not); state in the DRAM kernel's throttle layout, time in ticks
        self.load_throttle = np.zeros((n_tenants, DK.N_TH), dtype=np.int64)

    # -- MoCA load throttle ----------------------------------------------------
    def set_throttle(self, tenant: int, window_cycles: int, target_bytes: int, cores: int) -> None:
        """Limit `tenant`'s loads to about `target_bytes` per window (MoCA's DMA rule)."""
        if window_cycles <= 0 or target_bytes <= 0:
            raise ValueError(f"a throttle needs a positive window and target, got {window_cycles}, {target_bytes}")
        row = self.load_throttle[tenant]
        # the DMA's window, overshoot and stall carry on from where a cleared throttle left
        # them: MoCA clears and sets throttles again at every co-runner's layer boundary, and a
        # reset there forgave the overshoot and cut short the stall it had earned
        row[DK.TH_ACTIVE] = 1
        row[DK.TH_WINDOW] = window_cycles * TICKS_PER_CYCLE
        row[DK.TH_TARGET] = int(target_bytes)
        # the DMAs issue no faster than they move data
        row[DK.TH_GAP] = max(1, self.line_bytes * TICKS_PER_CYCLE // (self.dma_bytes_per_cycle * max(1, cores)))

    def clear_throttle(self, tenant: int) -> None:
        """Stop throttling `tenant`'s loads. Its window state stays: loads issued
        meanwhile are not counted, so the windows until it is set again pay the
        overshoot back (a target each), as in the DMA's counter."""
        self.load_throttle[tenant, DK.TH_ACTIVE] = 0

    def throttled(self, tenant: int) -> bool:
        return bool(self.load_throttle[tenant, DK.TH_ACTIVE])

    # -- helpers -------------------------------------------------------------
    def _llc_port(self, now: int, n_bytes: int) -> int:
        """Reserve the LLC data port for `n_bytes`; return when they are through."""
        if n_bytes <= 0:
            return now
        start = max(now, self.llc_free_cycle)
        self.llc_free_cycle = start + -(-n_bytes // self.llc_bytes_per_cycle)
        return self.llc_free_cycle

    def _dram(self, lines: np.ndarray, *, write: bool, now: int, tenant: int) -> int:
        n = lines.shape[0]
        if n == 0:
            return now
        last = self.dram.serve_last(lines, write, now, tenant)
        c = self.counters[tenant]
        if write:
            c.dram_write_bytes += n * self.line_bytes
            return last
        c.dram_read_bytes += n * self.line_bytes
        return last + self.miss_latency

    # -- a step's reads and writes ------------------------------------------------
    def _fan_out(self, c, weighted: int, lines: int) -> tuple[int, int]:
        """`weighted` line deliveries to readers of `lines` distinct lines: with
        multicast each line crosses the LLC port once; without, every extra
        reader fetches its own copy. Returns (re-read lines, LLC port bytes)."""
        if self.multicast:
            c.multicast_saved += weighted - lines
            return 0, lines * self.line_bytes
        return weighted - lines, weighted * self.line_bytes

    def read(self, tenant: int, now: int, cores: int, cache_runs, region_runs, dram_runs, requests: int = 0) -> int:
        """Serve the reads of one step (three (starts, lengths, readers) batches);
        return the cycle at which the last byte has reached the cores."""
        lb = self.line_bytes
        c = self.counters[tenant]
        ready = now
        port_bytes = 0
        delivered = 0  # line deliveries to cores (for the DMA time)
        dram_lines = 0  # of which came from DRAM
        s, l, r = cache_runs
        if s.shape[0]:
            res, done = self._lru_read(c, tenant, s, l, now)
            weighted = line_count(s, l, r, lb, True)
            rereads, nbytes = self._fan_out(c, weighted, res.hits + res.misses)
            c.cache_hits += rereads  # re-reads by extra readers hit in the LRU part
            port_bytes += nbytes
            delivered += weighted
            dram_lines += res.misses
            ready = max(ready, done)
        s, l, r = region_runs
        if s.shape[0]:
            weighted = line_count(s, l, r, lb, True)
            if not self.multicast and weighted > line_count(s, l, r, lb, False):
                # without multicast every reader fetches its own copy: a line past the resident
                # tensors is read once per reader from where unplaced data lives, as on the DRAM route
                s, l = np.repeat(s, r), np.repeat(l, r)
            res_lo, res_hi, res_off, bitmap = self.residency[tenant].arrays()
            fills, present, strays = region_touch(s, l, lb, res_lo, res_hi, res_off, bitmap, True)
            c.region_hits += present
            lines = present + fills.shape[0] + strays.shape[0]
            if strays.shape[0]:
                done, from_dram = self._unplaced_reads(c, tenant, strays, now)
                ready = max(ready, done)
                dram_lines += from_dram
            if fills.shape[0]:
                # the LLC is one cache: a line the LRU ways hold (e.g. the producer's
                # output, maybe dirty) fills the page from there, not from DRAM
                in_llc = self.cache.contains(fills)
                n_in_llc = int(np.count_nonzero(in_llc))
                if n_in_llc:
                    c.region_llc_fills += n_in_llc
                    fills = fills[~in_llc]
            c.region_fills += fills.shape[0]
            rereads, nbytes = self._fan_out(c, weighted, lines)
            c.region_hits += rereads
            if not self.unplaced_via_cache:
                nbytes -= strays.shape[0] * lb  # those strays were bypass reads: they do not cross the port
            port_bytes += nbytes
            delivered += weighted
            dram_lines += fills.shape[0]
            ready = max(ready, self._dram(fills, write=False, now=now + self.hit_latency, tenant=tenant))
        s, l, r = dram_runs
        if s.shape[0]:
            lines = runs_to_lines(s, l, lb)
            weighted = line_count(s, l, r, lb, True)
            if not self.multicast and weighted > lines.shape[0]:
                # without multicast every reader fetches its own copy
                lines = runs_to_lines(np.repeat(s, r), np.repeat(l, r), lb)
            c.bypass_lines += lines.shape[0]
            c.multicast_saved += weighted - lines.shape[0]
            ready = max(ready, self._dram(lines, write=False, now=now, tenant=tenant))
            delivered += weighted
            dram_lines += lines.shape[0]
        c.llc_bytes += port_bytes
        port_done = self._llc_port(now, port_bytes) + (self.hit_latency if port_bytes else 0)
        dma_done = now + self.dma_cycles(delivered, max(requests, delivered), cores, dram_lines)
        if self.load_throttle[tenant, DK.TH_ACTIVE] and delivered:
            last = DK.throttled_loads(self.load_throttle, tenant, now * TICKS_PER_CYCLE, delivered, lb)
            dma_done = max(dma_done, -(-last // TICKS_PER_CYCLE) + self.hit_latency)
        return max(ready, port_done, dma_done)

    def _lru_read(self, c, tenant: int, starts: np.ndarray, lengths: np.ndarray, now: int):
        """Reads through the LRU ways: their counts, the write-backs of the lines they
        evict and the DRAM reads of their misses. Returns (cache result, when the
        misses have arrived)."""
        res = self.cache.access_runs(starts, lengths, tenant=tenant, write=False)
        c.cache_hits += res.hits
        c.cache_misses += res.misses
        if res.writebacks:
            self._dram(res.writeback_addrs, write=True, now=now, tenant=tenant)
        return res, self._dram(res.miss_addrs, write=False, now=now + self.hit_latency, tenant=tenant)

    def _lru_write(self, c, tenant: int, starts: np.ndarray, lengths: np.ndarray, now: int) -> int:
        """Writes into the LRU ways (write-allocate; write-through also sends them to
        DRAM) and the write-backs they cause; returns their LLC port bytes."""
        lb = self.line_bytes
        res = self.cache.access_runs(starts, lengths, tenant=tenant, write=True)
        n_bytes = (res.hits + res.misses) * lb
        c.llc_bytes += n_bytes
        if res.writebacks:
            self._dram(res.writeback_addrs, write=True, now=now, tenant=tenant)
        if self.write_through:
            self._dram(runs_to_lines(starts, lengths, lb), write=True, now=now, tenant=tenant)
        return n_bytes

    def _unplaced_reads(self, c, tenant: int, lines: np.ndarray, now: int) -> tuple[int, int]:
        """Region-route reads outside the resident tensors, served like data a region
        plan does not place: through the LRU ways, or else from DRAM. Returns when
        they have arrived and how many lines came from DRAM."""
        if not self.unplaced_via_cache:
            c.bypass_lines += lines.shape[0]
            return self._dram(lines, write=False, now=now, tenant=tenant), lines.shape[0]
        res, done = self._lru_read(c, tenant, lines, np.full(lines.shape[0], self.line_bytes, np.int64), now)
        return done, res.misses

    def cpu_access(self, tenant: int, now: int, addrs: np.ndarray, writes: np.ndarray) -> int:
        """One burst of a CPU-side generator: its reads, then its writes, through the
        LLC (write-allocate, whole-line writes: no fill) and DRAM; return when the
        last read has arrived and the LLC port has moved every line."""
        c = self.counters[tenant]
        ready = now + self.hit_latency
        for is_write, lines, res in self._cpu_lines(tenant, addrs, writes):
            c.cache_hits += res.hits
            c.cache_misses += res.misses
            if res.writebacks:
                self._dram(res.writeback_addrs, write=True, now=now, tenant=tenant)
            if not is_write:
                ready = max(ready, self._dram(res.miss_addrs, write=False, now=now + self.hit_latency,
                                              tenant=tenant))
            elif self.write_through:
                self._dram(lines, write=True, now=now, tenant=tenant)
        n_bytes = addrs.shape[0] * self.line_bytes
        c.llc_bytes += n_bytes
        return max(ready, self._llc_port(now, n_bytes) + self.hit_latency)

    def _cpu_lines(self, tenant: int, addrs: np.ndarray, writes: np.ndarray):
        """A CPU-side batch through the LLC: its reads, then its writes (write-allocate
        of whole lines); yields (is_write, lines, cache result) for each non-empty half."""
        for is_write in (False, True):
            lines = addrs[writes] if is_write else addrs[~writes]
            if lines.shape[0]:
                yield is_write, lines, self.cache.access(lines, tenant=tenant, write=is_write)

    def cpu_access_untimed(self, tenant: int, addrs: np.ndarray, writes: np.ndarray) -> tuple[int, int, int]:
        """CPU-side accesses while the NPU is idle: their effect on the LLC only (no
        time passes for anyone waiting, no DRAM timing, no counters of the run).
        Reads, then writes; returns (hits, read misses, write-backs)."""
        hits = read_misses = writebacks = 0
        for is_write, _, res in self._cpu_lines(tenant, addrs, writes):
            hits += res.hits
            writebacks += res.writebacks
            if not is_write:
                read_misses += res.misses
        return hits, read_misses, writebacks

    def dma_cycles(self, lines: int, requests: int, cores: int, dram_lines: int) -> int:
        """Time for each core's DMA to move its share: its bandwidth over the lines,
        or its requests in flight over their latency (Little's law), whichever binds."""
        if lines <= 0:
            return 0
        per_core = -(-lines // max(1, cores))
        by_bandwidth = -(-per_core * self.line_bytes // self.dma_bytes_per_cycle)
        latency = self.hit_latency + self.dram_latency * dram_lines / lines
        by_latency = int(-(-requests // max(1, cores) // self.dma_inflight) * latency)
        return max(by_bandwidth, by_latency)

    def drain_cycles(self, cores: int, requests: int, *runs) -> int:
        """Time for the DMA to have every write of (starts, lengths, readers) batches
        acknowledged by the LLC: the lines over its bandwidth, or its `requests` in
        flight over the hit latency, whichever binds (writes are posted; this is what a
        store that must complete before its buffer is reused waits)."""
        lines = sum(int(line_count(s, l, r, self.line_bytes, False)) for s, l, r in runs if s.shape[0])
        return self.dma_cycles(lines, max(requests, lines), cores, 0)

    def write(self, tenant: int, now: int, cache_runs, region_runs, dram_runs) -> None:
        """Drain one step's outputs; writes are posted (nobody waits for them)."""
        lb = self.line_bytes
        c = self.counters[tenant]
        port_bytes = 0
        s, l, _ = cache_runs
        if s.shape[0]:
            port_bytes += self._lru_write(c, tenant, s, l, now)
        s, l, _ = region_runs
        if s.shape[0]:
            res_lo, res_hi, res_off, bitmap = self.residency[tenant].arrays()
            fresh, present, strays = region_touch(s, l, lb, res_lo, res_hi, res_off, bitmap, True)
            port_bytes += (fresh.shape[0] + present) * lb
            c.llc_bytes += (fresh.shape[0] + present) * lb
            if strays.shape[0]:  # outside the resident tensors: written where unplaced data goes
                if self.unplaced_via_cache:
                    port_bytes += self._lru_write(c, tenant, strays, np.full(strays.shape[0], lb, np.int64), now)
                else:
                    self._dram(strays, write=True, now=now, tenant=tenant)
        s, l, _ = dram_runs
        if s.shape[0]:
            self._dram(runs_to_lines(s, l, lb), write=True, now=now, tenant=tenant)
        self._llc_port(now, port_bytes)
