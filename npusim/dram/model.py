"""`DRAM`: the timing model the engine sends LLC misses and write-backs to (docs/DRAM.md)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import kernel as K
from .mapping import AddressMapping, parse_mapping
from .standards import TIMING_NAMES, Standard, get_standard, peak_bytes_per_s

PAGE_POLICIES = ("open", "closed")
SCHEDULERS = ("frfcfs", "fcfs")
KEPT_SCRATCH_REQUESTS = 1 << 20  # serve_last keeps its scratch for batches up to this many requests (9 MiB)


def _field_error(field: str, message: str) -> ValueError:
    err = ValueError(message)
    err.field = field  # type: ignore[attr-defined]
    return err


def check_timings(std: Standard, overridden: tuple[str, ...] = ()) -> None:
    """JEDEC relations a set of timings must keep (after overrides). A broken
    relation is blamed on the timing of it that was overridden (the larger one
    when both or neither were)."""
    t = std.timings()
    for name, v in t.items():
        least = 0 if name in ("tCWL", "tWTR_S", "tWTR_L", "tRTRS") else 1
        if v < least:
            raise _field_error(f"timing.{name}", f"{name} must be at least {least} cycle{'s' * (least != 1)}, "
                                                 f"got {v}")
    rules = (
        ("tRAS", "tRCD", "tRAS (row active time) must be at least tRCD"),
        ("tRPab", "tRP", "tRPab (all-bank precharge) must be at least tRP"),
        ("tCCD_L", "tCCD_S", "tCCD_L must be at least tCCD_S"),
        ("tRRD_L", "tRRD_S", "tRRD_L must be at least tRRD_S"),
        ("tWTR_L", "tWTR_S", "tWTR_L must be at least tWTR_S"),
        ("tFAW", "tRRD_S", "tFAW must be at least tRRD_S"),
        ("tREFI", "tRFC", "tREFI must exceed tRFC"),
    )
    for big, small, msg in rules:
        if t[big] < t[small] or (big == "tREFI" and t[big] <= t[small]):
            blamed = small if small in overridden and big not in overridden else big
            raise _field_error(f"timing.{blamed}", f"{msg} ({big} = {t[big]}, {small} = {t[small]})")


def standard_for(spec) -> Standard:
    """The standard of a `DRAMSpec` with its timing overrides applied and checked."""
    std = get_standard(spec.standard)
    overrides = dict(spec.timing)
    for name in overrides:
        if name not in TIMING_NAMES:
            raise _field_error(f"timing.{name}", f"unknown timing parameter {name!r} "
                                                 f"(known: {', '.join(TIMING_NAMES)})")
    std = std.with_timings(overrides) if overrides else std
    check_timings(std, tuple(overrides))
    return std


def validate_spec(spec) -> None:
    """Raise ValueError (with `.field`) for DRAM spec fields the model cannot honour."""
    standard_for(spec)
    if spec.channels < 1 or spec.channels & (spec.channels - 1):
        raise _field_error("channels", f"channel count must be a power of two, got {spec.channels}")
    if spec.mapping is not None:
        parse_mapping(spec.mapping)


class DRAM:
    """Channels of one DRAM standard behind an FR-FCFS controller, in SoC cycles.

    `xor_hash` (default on) folds the channel bits with the address bits above
    them and the bank-group and bank bits with the row, as memory controllers
    do, so power-of-two strides do not pile onto one channel or bank.
    """

    def __init__(self, standard: Standard, *, channels: int = 1, clock_hz: int = 1_000_000_000,
                 ranks: int | None = None, mapping: str | None = None, page_policy: str = "open",
                 scheduler: str = "frfcfs", queue_depth: int = 32, request_bytes: int = 64,
                 refresh: bool = True, controller_cycles: int = 0, xor_hash: bool = True):
        check_timings(standard)
        if page_policy not in PAGE_POLICIES:
            raise _field_error("page_policy", f"page policy must be open or closed, got {page_policy!r}")
        if scheduler not in SCHEDULERS:
            raise _field_error("scheduler", f"scheduler must be frfcfs or fcfs, got {scheduler!r}")
        if queue_depth < 1:
            raise _field_error("queue_depth", f"queue depth must be at least 1, got {queue_depth}")
        if clock_hz <= 0:
            raise _field_error("clock_hz", f"clock must be positive, got {clock_hz}")
        self.standard = standard
        self.channels = channels
        self.ranks = ranks or standard.ranks
        self.clock_hz = int(clock_hz)
        self.request_bytes = request_bytes
        self.mapping = AddressMapping.build(mapping or standard.mapping, channels=channels, ranks=self.ranks,
                                            bank_groups=standard.bank_groups,
                                            banks_per_group=standard.banks_per_group, rows=standard.rows,
                                            row_bytes=standard.row_bytes, line_bytes=request_bytes)
        self.ps_per_cycle = 1e12 / self.clock_hz
        tck = standard.tck_ps
        bursts = max(1, -(-request_bytes // standard.burst_bytes))
        burst_ps = standard.burst_cycles * tck
        step_ps = max(burst_ps, standard.tCCD_L * tck)
        T = np.zeros(K.N_T, dtype=np.int64)
        for name, idx in (("tCL", K.T_CL), ("tCWL", K.T_CWL), ("tRCD", K.T_RCD), ("tRP", K.T_RP),
                          ("tRAS", K.T_RAS), ("tCCD_S", K.T_CCD_S), ("tCCD_L", K.T_CCD_L), ("tRRD_S", K.T_RRD_S),
                          ("tRRD_L", K.T_RRD_L), ("tFAW", K.T_FAW), ("tWR", K.T_WR), ("tWTR_S", K.T_WTR_S),
                          ("tWTR_L", K.T_WTR_L), ("tRTP", K.T_RTP), ("tREFI", K.T_REFI), ("tRFC", K.T_RFC),
                          ("tRPab", K.T_RPAB), ("tRTRS", K.T_RTRS)):
            T[idx] = getattr(standard, name) * tck
        T[K.T_BURST] = burst_ps + (bursts - 1) * step_ps
        T[K.T_SPAN] = (bursts - 1) * step_ps
        T[K.T_DATA] = bursts * burst_ps
        # A line whose bursts are tCCD_L apart with at least a burst between them (LPDDR5 in
        # bank-group mode: two BL16 bursts 4 CK apart, as a BL32's two halves) leaves gaps that a
        # line of another bank group fills with its own bursts, one burst later; its commands
        # then fall between the first line's, so both offsets must keep tCCD_S.
        gap_ps = step_ps - burst_ps
        if bursts >= 2 and gap_ps >= burst_ps and min(burst_ps, gap_ps) >= standard.tCCD_S * tck:
            T[K.T_HOLE] = burst_ps
        T[K.T_CK] = tck
        T[K.T_CTRL] = controller_cycles * tck
        self.T = T
        self.org = np.array([channels, self.ranks, standard.bank_groups, standard.banks_per_group,
                             int(page_policy == "open"), int(scheduler == "frfcfs"), queue_depth, request_bytes,
                             int(refresh), int(xor_hash)], dtype=np.int64)
        self.page_policy, self.scheduler, self.queue_depth = page_policy, scheduler, queue_depth
        n_ranks = channels * self.ranks
        n_groups = n_ranks * standard.bank_groups
        n_banks = n_groups * standard.banks_per_group
        self.bank_state = np.zeros((n_banks, K.N_B), dtype=np.int64)
        self.bank_state[:, K.B_OPEN_ROW] = -1
        self.rank_state = np.zeros((n_ranks, K.N_R), dtype=np.int64)
        self.rank_state[:, K.R_FAW0:K.R_FAW0 + 4] = -(1 << 50)
        self.rank_state[:, K.R_LAST_ACT] = -(1 << 50)
        self.rank_state[:, K.R_LAST_WR_END] = -(1 << 50)
        # stagger refreshes across ranks so they do not all block at once
        self.rank_state[:, K.R_NEXT_REF] = T[K.T_REFI] + np.arange(n_ranks) * (T[K.T_REFI] // max(1, n_ranks))
        self.bg_state = np.full((n_groups, K.N_G), -(1 << 50), dtype=np.int64)
        self.chan_state = np.zeros((channels, K.N_C), dtype=np.int64)
        self.chan_state[:, [K.C_LAST_CAS, K.C_LAST_RD_CAS]] = -(1 << 50)
        self.chan_state[:, K.C_LAST_RANK] = -1  # none yet (an idle bus is long free)
        self.chan_state[:, K.C_HOLE_CAS] = K.NO_HOLE
        self.throttle = np.zeros((64, K.N_TH), dtype=np.int64)
        self.stats_array = np.zeros(K.N_S, dtype=np.int64)
        self.src_bytes = np.zeros(64, dtype=np.int64)
        # scratch of the kernel: per request, and per channel and rank; serve_last's
        # completion cycles and its all-read / all-write flags
        self._work = np.empty((K.N_WORK, 0), dtype=np.int64)
        self._done = np.empty(0, dtype=np.int64)
        self._flags = (np.zeros(0, dtype=np.bool_), np.ones(0, dtype=np.bool_))
        self._small = np.empty(2 * channels + 1 + channels * self.ranks, dtype=np.int64)

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, *, channels: int = 1, clock_hz: int = 1_000_000_000, ranks: int | None = None,
                    mapping: str | None = None, page_policy: str = "open", scheduler: str = "frfcfs",
                    queue_depth: int = 32, timing: dict[str, int] | None = None, request_bytes: int = 64,
                    **kwargs: Any) -> "DRAM":
        std = get_standard(name)
        if timing:
            for k in timing:
                if k not in TIMING_NAMES:
                    raise _field_error(f"timing.{k}", f"unknown timing parameter {k!r}")
            std = std.with_timings(timing)
        if channels < 1 or channels & (channels - 1):
            raise _field_error("channels", f"channel count must be a power of two, got {channels}")
        return cls(std, channels=channels, clock_hz=clock_hz, ranks=ranks, mapping=mapping,
                   page_policy=page_policy, scheduler=scheduler, queue_depth=queue_depth,
                   request_bytes=request_bytes, **kwargs)

    @classmethod
    def from_spec(cls, spec, clock_hz: int, request_bytes: int = 64) -> "DRAM":
        """From a SoC spec's `DRAMSpec` (npusim.soc)."""
        return cls(standard_for(spec), channels=spec.channels, clock_hz=clock_hz, ranks=spec.ranks,
                   mapping=spec.mapping, page_policy=spec.page_policy, scheduler=spec.scheduler,
                   queue_depth=spec.queue_depth, request_bytes=request_bytes)

    # -- serving -----------------------------------------------------------------------
    def _source(self, source: int) -> int:
        if source < 0:
            raise ValueError(f"source must be a non-negative integer, got {source}")
        while source >= self.throttle.shape[0]:
            self.throttle = np.vstack([self.throttle, np.zeros_like(self.throttle)])
            self.src_bytes = np.concatenate([self.src_bytes, np.zeros_like(self.src_bytes)])
        return source

    def serve(self, addrs, *, is_write=False, arrival_cycle: int = 0, source: int = 0) -> np.ndarray:
        """Serve a batch of line requests arriving together; return their completion cycles."""
        a = np.ascontiguousarray(addrs, dtype=np.int64)
        n = a.shape[0]
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        src = self._source(int(source))
        if isinstance(is_write, (bool, np.bool_)):
            w = np.full(n, bool(is_write))
        else:
            w = np.ascontiguousarray(is_write, dtype=np.bool_)
            if w.shape[0] != n:
                raise ValueError(f"is_write has {w.shape[0]} entries for {n} addresses")
        done = np.empty(n, dtype=np.int64)
        self._serve(a, w, arrival_cycle, src, done)
        return done

    def serve_last(self, addrs: np.ndarray, is_write: bool, arrival_cycle: int, source: int) -> int:
        """`serve` for the engine's batches (a contiguous int64 ndarray, all reads or all
        writes): the completion cycle of the last request only."""
        n = addrs.shape[0]
        if n == 0:
            return arrival_cycle
        if not 0 <= source < self.throttle.shape[0]:
            self._source(source)  # refuses a negative one, grows the table for a new one
        if n > KEPT_SCRATCH_REQUESTS:  # a rare huge batch: its scratch is not kept
            return self._serve(addrs, np.full(n, bool(is_write)), arrival_cycle, source, np.empty(n, np.int64))
        if self._done.shape[0] < n:
            size = min(KEPT_SCRATCH_REQUESTS, max(n, 2 * self._done.shape[0]))
            self._done = np.empty(size, dtype=np.int64)
            self._flags = (np.zeros(size, dtype=np.bool_), np.ones(size, dtype=np.bool_))
        return self._serve(addrs, self._flags[bool(is_write)], arrival_cycle, source, self._done)

    def _serve(self, a: np.ndarray, w: np.ndarray, arrival_cycle: int, src: int, done: np.ndarray) -> int:
        n = a.shape[0]
        arrival_ps = int(round(arrival_cycle * self.ps_per_cycle))
        if self._work.shape[1] < min(n, K.MAX_BATCH):
            self._work = np.empty((K.N_WORK, max(min(n, K.MAX_BATCH), 2 * self._work.shape[1])), dtype=np.int64)
        if n <= K.MAX_BATCH:  # the kernel reads the first n flags and writes the first n completions
            return self._batch(a, w, arrival_ps, src, done)
        last = 0
        for lo in range(0, n, K.MAX_BATCH):  # window keys hold a request's age in AGE_BITS
            hi = min(n, lo + K.MAX_BATCH)
            last = max(last, self._batch(a[lo:hi], w[lo:hi], arrival_ps, src, done[lo:hi]))
        return last

    def _batch(self, a: np.ndarray, w: np.ndarray, arrival_ps: int, src: int, done: np.ndarray) -> int:
        return int(K.serve_batch(a, w, arrival_ps, src, self.mapping.shifts, self.mapping.masks, self.org, self.T,
                                 self.bank_state, self.rank_state, self.bg_state, self.chan_state, self.throttle,
                                 self.stats_array, self.src_bytes, self.ps_per_cycle, done, self._work,
                                 self._small))

    # -- MoCA throttle -------------------------------------------------------------------
    def set_throttle(self, source: int, window_cycles: int, target_bytes: int) -> None:
        """Limit `source`'s reads to about target_bytes per window (MoCA's load-DMA rule)."""
        if window_cycles <= 0:
            raise ValueError(f"window_cycles must be positive, got {window_cycles}")
        if target_bytes <= 0:
            raise ValueError(f"target_bytes must be positive, got {target_bytes}")
        src = self._source(int(source))
        row = self.throttle[src]
        window_ps = int(round(window_cycles * self.ps_per_cycle))
        # window, overshoot and stall carry on from where a cleared throttle left them, as the
        # engine's DMA throttle does (MoCA sets throttles again at every co-runner's layer boundary)
        row[K.TH_ACTIVE] = 1
        row[K.TH_WINDOW] = window_ps
        row[K.TH_TARGET] = int(target_bytes)
        row[K.TH_GAP] = int(self.request_bytes / (self.peak_bytes_per_cycle / self.ps_per_cycle))

    def clear_throttle(self, source: int) -> None:
        """Stop throttling `source`'s reads; its window state stays for a later `set_throttle`
        (reads meanwhile are not counted, so the windows in between pay the overshoot back)."""
        src = self._source(int(source))
        self.throttle[src, K.TH_ACTIVE] = 0

    # -- figures -------------------------------------------------------------------------
    @property
    def peak_bytes_per_cycle(self) -> float:
        return peak_bytes_per_s(self.standard, self.channels) / self.clock_hz

    def min_read_cycles(self) -> int:
        """Latency of a read that finds its row open (tCL + burst), in SoC cycles."""
        return math.ceil((self.T[K.T_CL] + self.T[K.T_BURST]) / self.ps_per_cycle - 1e-9)

    @property
    def stats(self) -> dict[str, Any]:
        s = self.stats_array
        return {
            "reads": int(s[K.S_READS]), "writes": int(s[K.S_WRITES]), "row_hits": int(s[K.S_ROW_HITS]),
            "row_misses": int(s[K.S_ROW_MISSES]), "row_conflicts": int(s[K.S_ROW_CONFLICTS]),
            "bytes_per_source": {i: int(b) for i, b in enumerate(self.src_bytes) if b},
            "busy_cycles_per_channel": [int(math.ceil(b / self.ps_per_cycle)) for b in self.chan_state[:, K.C_BUSY]],
        }

    def reset_stats(self) -> None:
        self.stats_array[:] = 0
        self.src_bytes[:] = 0
        self.chan_state[:, K.C_BUSY] = 0
