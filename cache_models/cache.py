"""A set-associative, write-back, write-allocate cache with per-tenant way masks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import kernels as K


@dataclass(frozen=True)
class Policy:
    """A replacement policy the kernels implement, by name."""

    name: str
    code: int
    description: str


_POLICIES: dict[str, Policy] = {}


def register_policy(policy: Policy) -> None:
    _POLICIES[policy.name] = policy


register_policy(Policy("lru", K.POLICY_LRU, "least recently used (exact, as pycachesim)"))
register_policy(Policy("srrip", K.POLICY_SRRIP,
                       f"static re-reference interval prediction, {K.RRPV_MAX.bit_length()}-bit RRPV, "
                       f"insertion at {K.RRPV_INSERT}, hit promotes to 0"))


def policy_names() -> tuple[str, ...]:
    return tuple(_POLICIES)


@dataclass(slots=True)
class AccessResult:
    """What one batch did: line counts, and the lines DRAM must serve, in order."""

    hits: int
    misses: int
    writebacks: int
    miss_addrs: np.ndarray = field(repr=False)  # byte address of each missed line
    writeback_addrs: np.ndarray = field(repr=False)  # byte address of each dirty line evicted


_TRUE = np.ones(1, dtype=np.bool_)
_FALSE = np.zeros(1, dtype=np.bool_)
# results up to this many lines are copied out of the reusable buffer; larger
# ones take the buffer (a copy would cost more than a fresh allocation)
_COPY_LINES = 1 << 14


def _int_array(name: str, values) -> np.ndarray:
    """`values` as a contiguous 1-D int64 array; ValueError naming `name` otherwise."""
    if type(values) is np.ndarray and values.dtype == np.int64 and values.ndim == 1:
        return values
    a = np.asarray(values)
    if a.dtype.kind not in "iu" or a.dtype.kind == "b":
        if a.size == 0 and a.dtype.kind in "fO":
            return np.zeros(0, dtype=np.int64)  # np.asarray([]) is float64
        flat = a.reshape(-1)
        bad = next((v for v in flat.tolist() if not (isinstance(v, int) and not isinstance(v, bool))),
                   flat[0] if flat.size else None)
        raise ValueError(f"{name} must be integer byte addresses, got {bad!r} (dtype {a.dtype})")
    if a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} must fit in int64, got {int(a.max())}")
    return np.ascontiguousarray(a.reshape(-1), dtype=np.int64)


def _write_flags(write, n: int, per: str) -> np.ndarray:
    if write is False or write is None:
        return _FALSE
    if write is True:
        return _TRUE
    if isinstance(write, (bool, np.bool_)):
        return _TRUE if write else _FALSE
    w = np.asarray(write)
    if w.dtype.kind not in "biu":
        raise ValueError(f"write must be a bool or an array of bools, got dtype {w.dtype}")
    w = np.ascontiguousarray(w.reshape(-1), dtype=np.bool_)
    if w.shape[0] != n:
        raise ValueError(f"write has {w.shape[0]} entries for {n} {per}")
    return w


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


class SetAssociativeCache:
    """`size_bytes` in `ways`-way sets of `line_bytes`-byte lines.

    Write-back (unless `write_back=False`: lines never become dirty and the
    caller sends writes on to memory), write-allocate. Lookups hit in any
    way; a tenant allocates only into the ways of its mask (all by default),
    as gem5's way partitioning. A line belongs to the tenant that allocated it.
    """

    def __init__(self, size_bytes: int, ways: int, line_bytes: int = 64, policy: str = "lru",
                 write_back: bool = True):
        for name, v in (("size_bytes", size_bytes), ("ways", ways), ("line_bytes", line_bytes)):
            if not _is_int(v):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        if not 1 <= ways <= 64:
            raise ValueError(f"ways must be between 1 and 64, got {ways}")
        if line_bytes < 1 or line_bytes & (line_bytes - 1):
            raise ValueError(f"line_bytes must be a power of two, got {line_bytes}")
        if size_bytes < 1 or size_bytes % (ways * line_bytes):
            raise ValueError(f"size_bytes must be a whole number of {ways}-way sets of {line_bytes} B lines, "
                             f"got {size_bytes}")
        sets = size_bytes // (ways * line_bytes)
        if sets & (sets - 1):
            raise ValueError(f"size_bytes {size_bytes} gives {sets} sets; the set count must be a power of two")
        if policy not in _POLICIES:
            raise ValueError(f"policy must be one of {', '.join(_POLICIES)}, got {policy!r}")
        self.size_bytes, self.ways, self.line_bytes, self.sets = int(size_bytes), int(ways), int(line_bytes), sets
        self.policy = policy
        self.write_back = bool(write_back)
        self._all_ways = (1 << self.ways) - 1
        self._tags = np.full(sets * self.ways, -1, dtype=np.int64)
        self._stamps = np.zeros(sets * self.ways, dtype=np.int32)
        self._tstate = np.zeros((0, K.T_COLS), dtype=np.int64)
        self._grow(64)
        self._meta = np.zeros(K.M_SIZE, dtype=np.int64)
        self._meta[K.M_SET_BITS] = sets.bit_length() - 1
        self._meta[K.M_WAYS] = self.ways
        self._meta[K.M_LINE_SHIFT] = self.line_bytes.bit_length() - 1
        self._meta[K.M_POLICY] = _POLICIES[policy].code
        self._meta[K.M_WRITE_BACK] = int(self.write_back)
        self._out = np.empty(2 * 1024, dtype=np.int64)
        self._scratch = np.empty(0, dtype=np.uint8)  # flags of the set-major path
        self._runinfo = np.empty(0, dtype=np.int64)  # per-run constants of the set-major path

    # -- tenants ------------------------------------------------------------------------------
    def _grow(self, n: int) -> None:
        old = self._tstate
        self._tstate = np.zeros((n, K.T_COLS), dtype=np.int64)
        self._tstate[: old.shape[0]] = old
        self._tstate[old.shape[0]:, K.T_MASK] = _as_int64(self._all_ways)

    def _tenant(self, tenant) -> int:
        if type(tenant) is int and 0 <= tenant < self._tstate.shape[0]:
            return tenant
        if not _is_int(tenant) or not 0 <= tenant < K.MAX_TENANTS:
            raise ValueError(f"tenant must be an integer in 0..{K.MAX_TENANTS - 1}, got {tenant!r}")
        tenant = int(tenant)
        if tenant >= self._tstate.shape[0]:
            self._grow(max(tenant + 1, 2 * self._tstate.shape[0]))
        return tenant

    def set_way_mask(self, tenant: int, mask: int) -> None:
        """Let `tenant` allocate only into the ways whose bits are set in `mask`.

        Takes effect at the next access; lines already cached stay (no flush).
        """
        t = self._tenant(tenant)
        if not _is_int(mask):
            raise ValueError(f"mask must be an integer bit mask, got {mask!r}")
        mask = int(mask)
        if mask <= 0:
            raise ValueError(f"mask must select at least one way, got {mask:#x}")
        if mask >> self.ways:
            raise ValueError(f"mask {mask:#x} has bits beyond the cache's {self.ways} ways")
        self._tstate[t, K.T_MASK] = _as_int64(mask)

    def way_mask(self, tenant: int) -> int:
        t = self._tenant(tenant)  # first: it may grow (replace) the tenant table
        return int(self._tstate[t, K.T_MASK]) & self._all_ways

    # -- accesses -----------------------------------------------------------------------------
    def access(self, addrs, *, tenant: int = 0, write=False) -> AccessResult:
        """One access per byte address (to the line holding it), in order.

        `write` is a bool for all accesses or a bool array with one per address.
        """
        a = _int_array("addrs", addrs)
        t = self._tenant(tenant)
        w = _write_flags(write, a.shape[0], "addresses")
        while True:
            rc = K.access_lines(a, w, t, self._tags, self._stamps, self._tstate, self._meta, self._out)
            if rc != K.ERR_SPACE:
                break
            self._out = np.empty(2 * int(self._meta[K.M_ARG]), dtype=np.int64)
        if rc != K.OK:
            i = int(self._meta[K.M_ARG])
            self._raise(rc, "addrs", f"addrs[{i}]", int(a[i]))
        return self._result()

    def access_runs(self, starts, lengths, *, tenant: int = 0, write=False) -> AccessResult:
        """Every line each byte run [start, start + length) touches, runs in order.

        `write` is a bool for all runs or a bool array with one per run.
        """
        s = _int_array("starts", starts)
        n = _int_array("lengths", lengths)
        if n.shape[0] != s.shape[0]:
            raise ValueError(f"lengths has {n.shape[0]} entries for {s.shape[0]} starts")
        t = self._tenant(tenant)
        w = _write_flags(write, s.shape[0], "runs")
        if self._runinfo.shape[0] < K.RUNINFO * s.shape[0]:
            self._runinfo = np.empty(K.RUNINFO * s.shape[0], dtype=np.int64)
        while True:
            rc = K.access_runs(s, n, w, t, self._tags, self._stamps, self._tstate, self._meta, self._out,
                               self._scratch, self._runinfo)
            if rc != K.ERR_SPACE:
                break
            lines, flags = int(self._meta[K.M_ARG]), int(self._meta[K.M_ARG2])
            if 2 * lines > self._out.shape[0]:
                self._out = np.empty(2 * lines, dtype=np.int64)
            if flags > self._scratch.shape[0]:
                self._scratch = np.empty(flags, dtype=np.uint8)
        if rc != K.OK:
            i = int(self._meta[K.M_ARG])
            if rc == K.ERR_LENGTH:
                raise ValueError(f"lengths must be at least 1 byte, got lengths[{i}] = {int(n[i])}")
            self._raise(rc, "starts", f"run {i} (start {int(s[i])}, length {int(n[i])})", int(s[i]))
        return self._result()

    @property
    def address_limit_bytes(self) -> int:
        """Addresses must lie below this: the tags hold line numbers up to MAX_LINE."""
        return (K.MAX_LINE + 1) * self.line_bytes

    def _raise(self, rc: int, name: str, where: str, value: int):
        if rc == K.ERR_NEGATIVE:
            raise ValueError(f"{name} must not be negative, got {value} at {where}")
        limit = self.address_limit_bytes
        raise ValueError(f"{name} must be below {limit:#x}, got {value:#x} at {where}")

    def _result(self) -> AccessResult:
        meta = self._meta
        hits, m, wb = int(meta[K.M_HITS]), int(meta[K.M_MISSES]), int(meta[K.M_WRITEBACKS])
        out = self._out
        cap = out.shape[0] >> 1
        if m + wb <= _COPY_LINES:
            return AccessResult(hits, m, wb, out[:m].copy(), out[cap: cap + wb].copy())
        self._out = np.empty(out.shape[0], dtype=np.int64)  # the result keeps the old buffer
        return AccessResult(hits, m, wb, out[:m], out[cap: cap + wb])

    def contains(self, addrs) -> np.ndarray:
        """Whether the line holding each byte address is cached (any way, any
        owner), as a bool array; a lookup only: no recency update, no counts."""
        a = _int_array("addrs", addrs)
        if a.shape[0] and a.min() < 0:
            i = int(np.argmax(a < 0))
            raise ValueError(f"addrs[{i}] must be a non-negative byte address, got {int(a[i])}")
        out = np.empty(a.shape[0], dtype=np.bool_)
        K.contains_lines(a, self._tags, self._meta, out)
        return out

    # -- maintenance --------------------------------------------------------------------------
    def _drop(self, tenant: int) -> np.ndarray:
        buf = np.empty(self._tags.shape[0], dtype=np.int64)
        n = K.drop_lines(self._tags, self._stamps, self._tstate, tenant, int(self._meta[K.M_LINE_SHIFT]), buf)
        return buf[:n].copy()

    def flush(self) -> np.ndarray:
        """Write back every dirty line and empty the cache; returns the written-back line addresses."""
        return self._drop(-1)

    def invalidate(self, tenant: int) -> np.ndarray:
        """Drop the lines `tenant` allocated; returns the dirty ones (written back)."""
        return self._drop(self._tenant(tenant))

    # -- statistics ---------------------------------------------------------------------------
    def occupancy(self, tenant: int) -> int:
        """Lines currently held by `tenant` (allocated by it and not evicted)."""
        if type(tenant) is int and 0 <= tenant < self._tstate.shape[0]:
            return int(self._tstate[tenant, K.T_OCCUPANCY])
        t = self._tenant(tenant)  # first: it may grow (replace) the tenant table
        return int(self._tstate[t, K.T_OCCUPANCY])

    def occupancies(self, count: int) -> np.ndarray:
        """Lines currently held by each of tenants 0..count-1 (a new array)."""
        if count > 0:
            self._tenant(count - 1)  # grows the table to hold them all
        return self._tstate[:count, K.T_OCCUPANCY].copy()

    def stats(self):
        """Cumulative counts per tenant that has accessed the cache or holds lines (pandas DataFrame).

        `writebacks` are charged to the tenant that owned the dirty line.
        """
        import pandas as pd

        ts = self._tstate
        used = np.flatnonzero((ts[:, K.T_ACCESSES] > 0) | (ts[:, K.T_OCCUPANCY] > 0) | (ts[:, K.T_WRITEBACKS] > 0))
        return pd.DataFrame({
            "tenant": used.astype(np.int64),
            "accesses": ts[used, K.T_ACCESSES],
            "hits": ts[used, K.T_HITS],
            "misses": ts[used, K.T_MISSES],
            "writebacks": ts[used, K.T_WRITEBACKS],
            "occupancy_lines": ts[used, K.T_OCCUPANCY],
        })

    def __repr__(self) -> str:
        return (f"SetAssociativeCache({self.size_bytes}, {self.ways}, line_bytes={self.line_bytes}, "
                f"policy={self.policy!r}, write_back={self.write_back})")


def _as_int64(mask: int) -> int:
    """A 64-way mask as the int64 with the same bits."""
    return mask - (1 << 64) if mask >= 1 << 63 else mask
