"""The memory hierarchy driven directly: latencies, LLC port bookings, DMA time,
write policies and counters, with numbers from the formulas they follow; and
when the engine's step loop posts a step's writes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from npusim.dram import DRAM
from npusim.dram import kernel as DK
from npusim.engine.memory import TICKS_PER_CYCLE, MemoryHierarchy
from npusim.soc import SoCSpec, load_soc

Runs = tuple[np.ndarray, np.ndarray, np.ndarray]
EMPTY: Runs = (np.zeros(0, np.int64),) * 3


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUSIM_CACHE_DIR", str(tmp_path / "cache"))


def _gemmini() -> SoCSpec:
    """gemmini-moca with the L2 latencies these derivations assume (a 30-cycle hit, a miss
    40 cycles beyond the DRAM; the preset's are fitted, docs/VALIDATION.md)."""
    soc = load_soc("gemmini-moca")
    return soc.replace(llc=dataclasses.replace(soc.llc, hit_latency_cycles=30, miss_latency_cycles=40))


def _runs(lo: int, n_lines: int, readers: int = 1, line: int = 64) -> Runs:
    """One run of `n_lines` whole lines from byte `lo`."""
    return (np.array([lo], np.int64), np.array([n_lines * line], np.int64), np.array([readers], np.int64))


def _with_llc(soc: SoCSpec, **changes) -> SoCSpec:
    return dataclasses.replace(soc, llc=dataclasses.replace(soc.llc, **changes))


def _reference_dram(soc: SoCSpec) -> DRAM:
    """A fresh DRAM like the hierarchy's: the DRAM's own timing, as a black box
    (tests/test_dram_timing.py checks it), to time a batch against."""
    return DRAM.from_spec(soc.dram, clock_hz=soc.npu.clock_hz, request_bytes=soc.llc.line_bytes)


def _lines(lo: int, n_lines: int) -> np.ndarray:
    return np.arange(lo, lo + n_lines * 64, 64, dtype=np.int64)


# -- latencies of reads from DRAM ---------------------------------------------------------

def test_a_dram_read_arrives_at_the_drams_completion_plus_the_miss_latency():
    # gemmini-moca: a 20-cycle uncore cost on top of the DRAM timing (docs/VALIDATION.md)
    soc = load_soc("gemmini-moca")
    assert soc.llc.miss_latency_cycles == 20
    mem = MemoryHierarchy(soc, 1)
    now, n = 5_000, 1024
    done = mem.read(0, now, 8, EMPTY, EMPTY, _runs(0, n))
    dram_done = _reference_dram(soc).serve_last(_lines(0, n), False, now, 0)
    assert done == dram_done + 20
    # the DRAM path binds, not the DMAs (1024 lines over 8 cores at 16 B/cycle: 512 cycles)
    assert now + mem.dma_cycles(n, n, 8, n) < done
    c = mem.counters[0]
    assert (c.bypass_lines, c.dram_read_bytes, c.llc_bytes) == (n, n * 64, 0)


def test_region_fills_reach_dram_after_the_llc_lookup():
    # a first touch of resident data misses in the LLC first (hit latency), then goes
    # to DRAM; a nonzero miss latency is added to the DRAM's completion
    soc = _with_llc(load_soc("camdn"), miss_latency_cycles=40)
    mem = MemoryHierarchy(soc, 1)
    n, now = 4096, 1_000
    mem.residency[0].add(0, n * 64, 64)
    done = mem.read(0, now, 16, EMPTY, _runs(0, n), EMPTY)
    c = mem.counters[0]
    assert (c.region_fills, c.region_hits, c.dram_read_bytes) == (n, 0, n * 64)
    dram_done = _reference_dram(soc).serve_last(_lines(0, n), False, now + soc.llc.hit_latency_cycles, 0)
    assert done == dram_done + 40
    # the port (4096 lines at 512 B/cycle) is far quicker than DRAM, so the fills bind
    assert now + 512 + 20 < done


# -- the LLC port ------------------------------------------------------------------------

def test_writes_book_the_llc_port_ahead_of_later_reads():
    soc = load_soc("camdn")
    assert soc.llc.bytes_per_cycle == 512 and soc.llc.hit_latency_cycles == 20
    mem = MemoryHierarchy(soc, 1)
    n, t = 4096, 10_000
    mem.write(0, t, _runs(0, n), EMPTY, EMPTY)  # write-allocate: the lines are now in the LRU ways
    write_port = n * 64 // 512  # 512 cycles
    assert mem.llc_free_cycle == t + write_port
    done = mem.read(0, t, 16, _runs(0, n), EMPTY, EMPTY)
    assert mem.counters[0].cache_hits == n
    # the read's 512 port cycles queue behind the write's, then the hit latency;
    # its 16 DMAs need only 256 cycles
    assert done == t + write_port + n * 64 // 512 + 20


# -- DMA time ------------------------------------------------------------------------------

def test_dma_cycles_follow_bandwidth_or_littles_law():
    # gemmini-moca: 16 B/cycle and 16 requests in flight per core, hit latency 30;
    # a DRAM read costs tCL + burst of DDR3-1600 (13.75 + 5 ns: 19 cycles at 1 GHz) + 40
    mem = MemoryHierarchy(_gemmini(), 1)
    assert (mem.dma_bytes_per_cycle, mem.dma_inflight, mem.hit_latency) == (16, 16, 30)
    assert mem.dram_latency == 19 + 40
    assert mem.dma_cycles(0, 10, 2, 0) == 0
    # latency-bound: 160 requests a core, 10 rounds of 16, each 30 + 59 * 16/32 = 59.5 cycles
    # (bandwidth: 16 lines a core, 64 cycles)
    assert mem.dma_cycles(32, 320, 2, 16) == 595
    assert mem.dma_cycles(32, 330, 2, 16) == 654  # 11 rounds (165 a core): 654.5, truncated
    assert mem.dma_cycles(32, 320, 2, 0) == 10 * 30  # all hits: the hit latency alone
    # bandwidth-bound: 1024 lines of 64 B at 16 B/cycle; 64 rounds of 30 cycles are less
    assert mem.dma_cycles(1024, 1024, 1, 0) == 4096
    assert mem.dma_cycles(1024, 1024, 4, 0) == 1024  # 256 lines a core
    assert mem.dma_cycles(1025, 1025, 4, 0) == 1028  # 257 lines on the busiest core


def test_a_step_with_more_requests_than_lines_is_latency_bound():
    # camdn: 64 B/cycle and 64 requests in flight, hit latency 20
    soc = load_soc("camdn")
    mem = MemoryHierarchy(soc, 1)
    mem.read(0, 0, 1, _runs(0, 64), EMPTY, EMPTY)  # warm: the timed reads all hit
    t = 10_000
    # 640 requests (e.g. short rows) for 64 lines on one core: 10 rounds of 64 at 20 cycles
    assert mem.read(0, t, 1, _runs(0, 64), EMPTY, EMPTY, requests=640) - t == 200
    # fewer requests than lines: each line is still a request; bandwidth (64 cycles) binds
    t = 20_000
    assert mem.read(0, t, 1, _runs(0, 64), EMPTY, EMPTY, requests=10) - t == 64
    assert mem.counters[0].cache_hits == 128


def test_a_throttled_read_ends_a_hit_latency_after_its_last_issue():
    # MoCA's rule (docs/POLICIES.md) by hand: window 100 cycles, target 640 B, one
    # core's DMA issuing a line every 64 / 16 = 4 cycles. Window [0, 100) issues 25 loads
    # (0 .. 96), 1600 B; the overshoot 960 B is 3 half targets: stall 3 half windows,
    # to 250. [250, 350) issues 25 more (250 .. 346), again stall to 500; the last 10
    # loads issue at 500 .. 536. The data arrives a hit latency (30) later.
    soc = _gemmini()
    mem = MemoryHierarchy(soc, 1)
    mem.read(0, 0, 1, _runs(0, 60), EMPTY, EMPTY)  # warm: hits, so DRAM plays no part
    mem.set_throttle(0, 100, 640, cores=1)
    assert mem.load_throttle[0, DK.TH_GAP] == 4 * TICKS_PER_CYCLE  # the issue gap
    done = mem.read(0, 0, 1, _runs(0, 60), EMPTY, EMPTY)
    assert mem.counters[0].cache_hits == 60
    assert done == 536 + 30
    # unthrottled, the same hits take their DMA bandwidth time: 60 lines x 4 cycles
    mem.clear_throttle(0)
    assert mem.read(0, 10_000, 1, _runs(0, 60), EMPTY, EMPTY) - 10_000 == 240


def test_a_throttle_cleared_and_set_again_keeps_its_window_state():
    # MoCA clears a tenant's throttle and sets it again in the same cycle whenever a
    # co-runner's layer ends (the budget is shared anew). That must not restart the DMA's
    # window: after the read above (loads to 536), window [500, 600) holds 640 B. A read at
    # 540 adds 15 loads (540 .. 596): 1600 B, 3 half targets over, stall to 750; 25 loads
    # (750 .. 846), stall to 1000; the last 20 at 1000 .. 1076, data at 1076 + 30. A reset
    # state forgave the window's first 640 B (no stall at 600) and ended at 1006.
    soc = _gemmini()
    done = {}
    for clear in (False, True):
        mem = MemoryHierarchy(soc, 1)
        mem.read(0, 0, 1, _runs(0, 60), EMPTY, EMPTY)
        mem.set_throttle(0, 100, 640, cores=1)
        assert mem.read(0, 0, 1, _runs(0, 60), EMPTY, EMPTY) == 566
        if clear:
            mem.clear_throttle(0)
            assert not mem.throttled(0)
            mem.set_throttle(0, 100, 640, cores=1)
        done[clear] = mem.read(0, 540, 1, _runs(0, 60), EMPTY, EMPTY)
    assert done == {False: 1106, True: 1106}


# -- write policy and counters ------------------------------------------------------------

@pytest.mark.parametrize("policy, dram_lines", [("write-through", 2 * 100), ("write-back", 0)])
def test_write_through_sends_every_llc_write_to_dram(policy: str, dram_lines: int):
    soc = _with_llc(load_soc("camdn"), write_policy=policy)
    mem = MemoryHierarchy(soc, 1)
    for t in (0, 1_000):  # a miss (allocate), then a hit: both write through
        mem.write(0, t, _runs(0, 100), EMPTY, EMPTY)
    c = mem.counters[0]
    assert mem.cache.contains(_lines(0, 100)).all() and c.llc_bytes == 200 * 64
    assert c.dram_write_bytes == dram_lines * 64
    assert mem.dram.stats["writes"] == dram_lines


@pytest.mark.parametrize("policy, dram_write_lines", [("write-through", 10), ("write-back", 0)])
def test_cpu_writes_follow_the_llc_write_policy(policy: str, dram_write_lines: int):
    # a CPU burst of 5 reads and 10 whole-line writes to fresh lines: the reads miss to DRAM,
    # the writes allocate; write-through also sends each write to DRAM, write-back none yet
    soc = _with_llc(load_soc("camdn"), write_policy=policy)
    mem = MemoryHierarchy(soc, 1)
    addrs = _lines(0, 15)
    writes = np.arange(15) >= 5
    mem.cpu_access(0, 0, addrs, writes)
    c = mem.counters[0]
    assert (c.cache_misses, c.dram_read_bytes, c.llc_bytes) == (15, 5 * 64, 15 * 64)
    assert c.dram_write_bytes == dram_write_lines * 64 and mem.dram.stats["writes"] == dram_write_lines
    assert mem.cache.contains(addrs).all()


def test_region_writes_count_their_port_bytes_and_strays_go_to_dram():
    soc = load_soc("camdn")
    mem = MemoryHierarchy(soc, 1)
    mem.residency[0].add(0, 100 * 64, 64)
    mem.write(0, 0, EMPTY, _runs(0, 100), EMPTY)  # fresh lines of the region
    c = mem.counters[0]
    assert (c.llc_bytes, c.dram_write_bytes) == (100 * 64, 0)
    mem.write(0, 0, EMPTY, _runs(0, 100), EMPTY)  # present now: through the port again
    assert c.llc_bytes == 200 * 64
    assert mem.llc_free_cycle == 2 * 13  # each write books ceil(6400 / 512) port cycles
    # 20 lines past the resident tensor, data no plan placed: straight to DRAM
    mem.write(0, 0, EMPTY, _runs(100 * 64, 20), EMPTY)
    assert (c.llc_bytes, c.dram_write_bytes) == (200 * 64, 20 * 64)


@pytest.mark.parametrize("multicast, fetched, saved", [(True, 3, 4), (False, 7, 0)])
def test_dram_route_reads_count_multicast_savings(multicast: bool, fetched: int, saved: int):
    # lines 0-1 read by 3 cores, line 16 by one: 7 deliveries of 3 distinct lines
    soc = load_soc("camdn")
    mem = MemoryHierarchy(soc, 1, multicast=multicast)
    runs = (np.array([0, 1024], np.int64), np.array([128, 64], np.int64), np.array([3, 1], np.int64))
    mem.read(0, 0, 3, EMPTY, EMPTY, runs)
    c = mem.counters[0]
    assert (c.bypass_lines, c.multicast_saved, c.dram_read_bytes, c.llc_bytes) == (fetched, saved, fetched * 64, 0)


# -- the step loop ------------------------------------------------------------------------

def test_each_steps_outputs_are_posted_when_the_next_step_starts():
    # "fetch i+1 while computing i, drain i afterwards": step s starts once its operands
    # are in and step s - 1 has computed; its fetch of s + 1 and the drain of s - 1 are
    # issued then, and the last step drains when its compute ends
    from npusim.engine.sim import Simulation
    from npusim.mapping import Mapper
    from npusim.scenario import scenario_from_flags

    sc = scenario_from_flags(soc="gemmini-moca", mix=["kws"], policy="shared")
    sim = Simulation(sc, mapper=Mapper(sc.soc))
    layers: list[tuple[object, list[tuple[int, int]], list[int], bool]] = []
    run_layer, read, write = sim._run_layer, sim.memory.read, sim.memory.write

    def spy_layer(tenant: int, rs, cores: int, overlap: bool = True, per_block: bool = False):
        assert not per_block  # kws has no matmul-loop layer (test_engine.py times those by hand)
        layers.append((rs, [], [], overlap))
        return run_layer(tenant, rs, cores, overlap, per_block)

    def spy_read(tenant: int, now: int, cores: int, cache_runs, region_runs, dram_runs, requests: int) -> int:
        ready = read(tenant, now, cores, cache_runs, region_runs, dram_runs, requests)
        layers[-1][1].append((now, ready))
        return ready

    def spy_write(tenant: int, now: int, cache_runs, region_runs, dram_runs) -> None:
        layers[-1][2].append(now)
        write(tenant, now, cache_runs, region_runs, dram_runs)

    sim._run_layer, sim.memory.read, sim.memory.write = spy_layer, spy_read, spy_write
    sim.run()
    multi_step = 0
    for rs, reads, writes, overlap in layers:
        n, cyc = rs.steps, [int(x) for x in rs.step_cycles[:rs.steps]]
        assert len(reads) == n and len(writes) == n
        if not overlap:
            continue  # gemmini-moca's pools and residual adds run their tiles in turn (vector_overlap)
        start = [reads[0][1]]  # step 0 waits for its own fetch
        for s in range(1, n):
            assert reads[s][0] == start[s - 1]  # step s's fetch overlaps step s - 1
            start.append(max(reads[s][1], start[s - 1] + cyc[s - 1]))
        assert writes == start[1:] + [start[-1] + cyc[-1]]
        multi_step += n > 1 and sum(cyc[:-1]) > 0
    assert multi_step > 0  # some layer had a posted drain to check



@pytest.mark.parametrize("multicast, region_hits, saved, port_lines", [(True, 0, 20, 10), (False, 20, 0, 30)])
def test_region_reads_by_several_cores_count_each_extra_reader(multicast: bool, region_hits: int, saved: int,
                                                               port_lines: int):
    # 10 resident lines read by 3 cores: 30 deliveries of 10 distinct lines. The first read fills
    # all 10 from DRAM; without multicast the 20 extra deliveries are region hits that cross the
    # port (30 lines), with multicast they are saved (10 lines cross it)
    mem = MemoryHierarchy(load_soc("camdn"), 1, multicast=multicast)
    mem.residency[0].add(0, 10 * 64, 64)
    mem.read(0, 0, 3, EMPTY, _runs(0, 10, readers=3), EMPTY)
    c = mem.counters[0]
    assert (c.region_fills, c.dram_read_bytes) == (10, 10 * 64)
    assert (c.region_hits, c.multicast_saved, c.llc_bytes) == (region_hits, saved, port_lines * 64)


@pytest.mark.parametrize("multicast, region_hits, bypass, saved, port_lines",
                         [(True, 0, 2, 24, 10), (False, 20, 6, 0, 30)])
def test_region_reads_past_the_resident_tensor_bypass_the_llc_port(multicast: bool, region_hits: int, bypass: int,
                                                                   saved: int, port_lines: int):
    # 12 lines read by 3 cores, of which the last 2 lie past the 10 resident ones: the strays are
    # bypass reads from DRAM (no LRU ways for unplaced data), which do not cross the LLC port and,
    # without multicast, are fetched once per reader like the DRAM route's, not counted as region hits
    mem = MemoryHierarchy(load_soc("camdn"), 1, multicast=multicast)
    mem.residency[0].add(0, 10 * 64, 64)
    mem.read(0, 0, 3, EMPTY, _runs(0, 12, readers=3), EMPTY)
    c = mem.counters[0]
    assert (c.region_fills, c.region_hits, c.bypass_lines, c.multicast_saved) == (10, region_hits, bypass, saved)
    assert c.region_fills + c.region_hits + c.bypass_lines + c.multicast_saved == 36
    assert (c.dram_read_bytes, c.llc_bytes) == ((10 + bypass) * 64, port_lines * 64)
    assert mem.llc_free_cycle == -(-port_lines * 64 // 512)


def test_a_resident_tensor_placed_again_larger_covers_its_new_lines():
    # the same tensor start placed with a larger end (e.g. a larger block of it): the lines past
    # the first placement are resident too, region fills rather than strays read around the LLC
    mem = MemoryHierarchy(load_soc("camdn"), 1)
    res = mem.residency[0]
    res.add(0, 50 * 64, 64)
    res.add(0, 30 * 64, 64)  # inside the first placement: nothing new
    assert (res.lo, res.hi) == ([0], [50 * 64])
    res.add(0, 100 * 64, 64)
    mem.read(0, 0, 1, EMPTY, _runs(0, 100), EMPTY)
    c = mem.counters[0]
    assert (c.region_fills, c.bypass_lines, c.dram_read_bytes) == (100, 0, 100 * 64)
    mem.read(0, 0, 1, EMPTY, _runs(0, 100), EMPTY)
    assert (c.region_fills, c.region_hits) == (100, 100)


def test_lines_resident_before_a_larger_placement_stay_present():
    # a tensor's first 50 lines are filled; then the same tensor is placed again, larger (e.g. a layer
    # that reads the network input further). A step whose runs go past the first 50 lines and then back
    # to them must find those present: they were fetched once (the larger placement had bits of its own
    # for them, so the step fetched all 50 again)
    mem = MemoryHierarchy(load_soc("camdn"), 1)
    res = mem.residency[0]
    res.add(0, 50 * 64, 64)
    mem.read(0, 0, 1, EMPTY, _runs(0, 50), EMPTY)
    res.add(0, 100 * 64, 64)
    assert (res.lo, res.hi) == ([0], [100 * 64])  # one range: one presence bit per line
    later_then_earlier = (np.array([50 * 64, 0], np.int64), np.array([50 * 64, 50 * 64], np.int64),
                          np.ones(2, np.int64))
    mem.read(0, 0, 1, EMPTY, later_then_earlier, EMPTY)
    c = mem.counters[0]
    assert (c.region_fills, c.region_hits, c.dram_read_bytes) == (100, 50, 100 * 64)
