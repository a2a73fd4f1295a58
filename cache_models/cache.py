"""A set-associative, write-back, write-allocate cache with per-tenant way masks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import kernels as K

POLICIES = {"lru": K.POLICY_LRU, "srrip": K.POLICY_SRRIP}


def policy_names() -> tuple[str, ...]:
    return tuple(POLICIES)


@dataclass(frozen=True)
class AccessResult:
    hits: int
    misses: int
    writebacks: int
    miss_addrs: np.ndarray = field(repr=False)  # byte address of each missed line, in order
    writeback_addrs: np.ndarray = field(repr=False)  # dirty lines evicted (DRAM writes), in order


def _check_addresses(name: str, arr) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype.kind == "b" or a.dtype.kind not in "iu":
        if a.size == 0:
            return np.zeros(0, dtype=np.int64)
        raise ValueError(f"{name} must be integer byte addresses, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.int64).reshape(-1)
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must not be negative, got {int(a.min())}")
    return a


_TRUE = np.array([True])
_FALSE = np.array([False])


def _writes(write, n: int) -> np.ndarray:
    if isinstance(write, (bool, np.bool_)):
        return np.array([bool(write)])
    w = np.ascontiguousarray(write, dtype=np.bool_).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"write has {w.shape[0]} entries for {n} accesses")
    return w


class SetAssociativeCache:
    """`size_bytes` in `ways`-way sets of `line_bytes` lines.

    Hits can be in any way; a tenant allocates only into the ways of its mask
    (all ways by default), as gem5's way partitioning. `write_back=False`
    keeps lines clean (write-through: the caller sends writes to memory).
    """

    def __init__(self, size_bytes: int, ways: int, line_bytes: int = 64, policy: str = "lru",
                 write_back: bool = True):
        for name, v in (("size_bytes", size_bytes), ("ways", ways), ("line_bytes", line_bytes)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        if ways < 1 or ways > 64:
            raise ValueError(f"ways must be between 1 and 64, got {ways}")
        if line_bytes < 1 or line_bytes & (line_bytes - 1):
            raise ValueError(f"line_bytes must be a power of two, got {line_bytes}")
        if size_bytes < 1 or size_bytes % (ways * line_bytes):
            raise ValueError(f"size_bytes {size_bytes} is not a whole number of {ways}-way sets of "
                             f"{line_bytes} B lines")
        sets = size_bytes // (ways * line_bytes)
        if sets & (sets - 1):
            raise ValueError(f"size_bytes {size_bytes} gives {sets} sets; the set count must be a power of two")
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.size_bytes, self.ways, self.line_bytes, self.sets = int(size_bytes), int(ways), int(line_bytes), sets
        self.policy = policy
        self._policy = POLICIES[policy]
        self.write_back = bool(write_back)
        self._entries = np.zeros((sets, ways), dtype=np.int64)  # packed ways, see kernels.py
        self._all_ways = (1 << ways) - 1
        self._masks = np.full(8, self._all_ways, dtype=np.int64)
        self._stats = np.zeros((8, 4), dtype=np.int64)
        self._occ = np.zeros(8, dtype=np.int64)
        self._counts = np.zeros(3, dtype=np.int64)
        self._miss_buf = np.empty(1024, dtype=np.int64)
        self._wb_buf = np.empty(1024, dtype=np.int64)
        self._run_flags = np.empty(0, dtype=np.uint8)  # scratch of the sequential fast path
        self._run_wbs = np.empty(0, dtype=np.int64)

    # -- tenants --------------------------------------------------------------------
    def _tenant(self, tenant) -> int:
        if isinstance(tenant, bool) or not isinstance(tenant, (int, np.integer)) or not 0 <= tenant <= 0xFFFF:
            raise ValueError(f"tenant must be an integer in 0..65535, got {tenant!r}")
        tenant = int(tenant)
        while tenant >= self._masks.shape[0]:
            n = self._masks.shape[0]
            self._masks = np.concatenate([self._masks, np.full(n, self._all_ways, dtype=np.int64)])
            self._stats = np.concatenate([self._stats, np.zeros((n, 4), dtype=np.int64)])
            self._occ = np.concatenate([self._occ, np.zeros(n, dtype=np.int64)])
        return tenant

    def set_way_mask(self, tenant: int, mask: int) -> None:
        """Let `tenant` allocate only into the ways whose bits are set (takes effect at once)."""
        t = self._tenant(tenant)
        if isinstance(mask, bool) or not isinstance(mask, (int, np.integer)):
            raise ValueError(f"mask must be an integer bit mask, got {mask!r}")
        if mask <= 0:
            raise ValueError(f"mask must select at least one way, got {mask:#x}")
        if mask >> self.ways:
            raise ValueError(f"mask {int(mask):#x} has bits beyond the cache's {self.ways} ways")
        self._masks[t] = int(mask)

    def way_mask(self, tenant: int) -> int:
        return int(self._masks[self._tenant(tenant)])

    # -- accesses -------------------------------------------------------------------
    def _buffers(self, n: int) -> None:
        if self._miss_buf.shape[0] < n:
            size = max(n, 2 * self._miss_buf.shape[0])
            self._miss_buf = np.empty(size, dtype=np.int64)
            self._wb_buf = np.empty(size, dtype=np.int64)

    def _result(self) -> AccessResult:
        h, m, wb = self._counts.tolist()
        return AccessResult(h, m, wb, self._miss_buf[:m].copy(), self._wb_buf[:wb].copy())

    def access(self, addrs, *, tenant: int = 0, write=False) -> AccessResult:
        """One access per byte address (its line), in order."""
        a = _check_addresses("addrs", addrs)
        t = self._tenant(tenant)
        w = _writes(write, a.shape[0])
        self._buffers(a.shape[0])
        K.access_lines(a, w, t, self._entries, self._masks, self._policy, self.sets - 1, self.ways,
                       self.write_back, self._stats, self._occ, self.line_bytes, self._miss_buf, self._wb_buf,
                       self._counts)
        return self._result()

    def access_runs(self, starts, lengths, *, tenant: int = 0, write=False) -> AccessResult:
        """Every line each byte run [start, start + length) touches, runs in order."""
        if isinstance(starts, np.ndarray) and starts.dtype == np.int64 and starts.ndim == 1:
            s = starts  # the common case: no conversion
        else:
            s = _check_addresses("starts", starts)
        if isinstance(lengths, np.ndarray) and lengths.dtype == np.int64 and lengths.ndim == 1:
            n = lengths
        else:
            n = np.ascontiguousarray(lengths, dtype=np.int64).reshape(-1)
        if n.shape[0] != s.shape[0]:
            raise ValueError(f"lengths has {n.shape[0]} entries for {s.shape[0]} starts")
        t = tenant if type(tenant) is int and 0 <= tenant < self._masks.shape[0] else self._tenant(tenant)
        if write is False:
            w = _FALSE
        elif write is True:
            w = _TRUE
        else:
            w = _writes(write, s.shape[0])
        total = K.count_run_lines(s, n, self.line_bytes)
        if total < 0:
            if total == -1:
                raise ValueError(f"starts must not be negative, got {int(s.min())}")
            raise ValueError(f"lengths must be at least 1 byte, got {int(n.min())}")
        if self._miss_buf.shape[0] < total:
            self._buffers(total)
        if total >= self.sets and self._run_flags.shape[0] < total:
            self._run_flags = np.empty(total, dtype=np.uint8)
            self._run_wbs = np.empty(total, dtype=np.int64)
        K.access_runs(s, n, w, t, self._entries, self._masks, self._policy, self.sets - 1, self.ways,
                      self.write_back, self._stats, self._occ, self.line_bytes, self._miss_buf, self._wb_buf,
                      self._counts, self._run_flags, self._run_wbs)
        return self._result()

    # -- maintenance ----------------------------------------------------------------------
    def _drop(self, tenant: int) -> np.ndarray:
        buf = np.empty(self.sets * self.ways, dtype=np.int64)
        n = K.drop_lines(self._entries, self._occ, self._stats, tenant, self.line_bytes, buf, self._policy)
        return buf[:n]

    def flush(self) -> np.ndarray:
        """Write back every dirty line and empty the cache; returns the written-back lines."""
        return self._drop(-1)

    def invalidate(self, tenant: int) -> np.ndarray:
        """Drop the lines `tenant` allocated (dirty ones are written back and returned)."""
        return self._drop(self._tenant(tenant))

    # -- statistics -------------------------------------------------------------------------
    def occupancy(self, tenant: int) -> int:
        """Lines currently held by `tenant`."""
        t = self._tenant(tenant)
        return int(self._occ[t])

    def stats(self):
        """Per-tenant cumulative counts (pandas DataFrame)."""
        import pandas as pd

        used = [t for t in range(self._stats.shape[0]) if self._stats[t, 0] or self._occ[t]]
        return pd.DataFrame({
            "tenant": used,
            "accesses": [int(self._stats[t, K.ST_ACCESSES]) for t in used],
            "hits": [int(self._stats[t, K.ST_HITS]) for t in used],
            "misses": [int(self._stats[t, K.ST_MISSES]) for t in used],
            "writebacks": [int(self._stats[t, K.ST_WRITEBACKS]) for t in used],
            "occupancy_lines": [int(self._occ[t]) for t in used],
        })
