"""numba kernels of the set-associative cache.

The state lives in a few flat numpy arrays owned by `SetAssociativeCache`:

    tags[set * ways + way]   int64  -1 if invalid, else line << 16 | owner << 1 | dirty
    stamps[set * ways + way] int32  LRU: time of the last access (0 if invalid);
                                    SRRIP: re-reference prediction value
    tstate[tenant, T_*]      int64  way mask and cumulative counts per tenant
    meta[M_*]                int64  geometry, the LRU clock, a call's counts, scratch
    out[2 * cap]             int64  out[:cap] missed lines, out[cap:] written-back
                                    lines (byte addresses), in access order
    scratch[]                uint8  per-line flags of the set-major path
    runinfo[5 * run]         int64  per-run constants of the set-major path (first line,
                                    line count, identical runs after it, write flags, and
                                    the highest line accessed before the run)

LRU keeps one timestamp per way instead of a recency list: a hit is one store,
and the victim is the allowed way with the smallest (stamp, way) key, invalid
ways (stamp 0) first, lowest index first. The order of the stamps is the
recency order of pycachesim's LRU queue, so hits and misses agree exactly.
Stamps are int32 to keep a 16-way set's stamps in one 64-byte line; before the
clock would overflow they are replaced by their ranks (order preserved).

Runs of at least `sets` consecutive lines take an exact set-major path: the
lines a run sends to one set are an arithmetic progression, and a set's
accesses do not depend on other sets, so consecutive long runs are replayed
set by set (each set row stays in L1 across the runs). A set whose accesses
all hit, or all miss, is solved in closed form; other sets are replayed line by
line. The stamp of the access at batch position p is clock + p + 1 in either
order, so the state is identical to line-by-line replay; misses and
write-backs are put back in access order at the end.

Kernels never raise and never allocate (they are compiled without numba's
reference counting, which otherwise costs more than a cache access): they
return an error code with details in meta[M_ARG], and the Python side grows
buffers or builds the error message.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from . import _llvm
from ._llvm import cttz, popcount, prefetch
from .kernel_cache import forget_if_callees_changed

forget_if_callees_changed(__file__, _llvm.__file__)  # the intrinsics are compiled into the kernels

POLICY_LRU, POLICY_SRRIP = 0, 1
RRPV_MAX = 3  # 2-bit SRRIP
RRPV_INSERT = 2  # insertion at "long re-reference interval"

TAG_SHIFT = 16
OWNER_MASK = 0x7FFF
MAX_TENANTS = OWNER_MASK + 1
DIRTY = 1
MAX_LINE = (1 << (63 - TAG_SHIFT)) - 1  # line numbers must fit above the owner bits
STAMP_LIMIT = (1 << 31) - 1
KEY_MAX = np.int64(0x7FFFFFFFFFFFFFFF)
MAX_WAYS = 64

# meta[] slots
(M_CLOCK, M_HITS, M_MISSES, M_WRITEBACKS, M_ARG, M_ARG2, M_SET_BITS, M_WAYS, M_LINE_SHIFT, M_POLICY,
 M_WRITE_BACK, M_TOP) = range(12)  # M_TOP: the highest line ever accessed (no line above it is cached)
M_ORDER = 16  # meta[M_ORDER + i]: i-th allowed way, least recent first (set-major scratch)
M_TMP = M_ORDER + MAX_WAYS
M_KEY = M_TMP + MAX_WAYS
M_SIZE = M_KEY + MAX_WAYS
# tstate[tenant, ] columns
T_MASK, T_ACCESSES, T_HITS, T_MISSES, T_WRITEBACKS, T_OCCUPANCY = range(6)
T_COLS = 8
# kernel return codes
OK, ERR_SPACE, ERR_NEGATIVE, ERR_TOO_BIG, ERR_LENGTH = range(5)

HIT = -2  # step result; -1 = miss, >= 0 = miss that wrote back that line
PREFETCH_AHEAD = 8  # accesses ahead for random streams
# set-major flags: per (run, set) kind, then per line
KIND_HIT, KIND_MISS, KIND_LINES = 0, 1, 2
RUNINFO = 5  # int64 slots per run of the set-major path
F_HIT, F_MISS, F_MISS_WB = 0, 1, 2

try:  # no reference counting in the kernels; plain njit if a numba lacks the option
    nb.njit(_nrt=False)(lambda: 0)
    _NO_NRT = {"_nrt": False}
except Exception:  # pragma: no cover
    _NO_NRT = {}

kernel = nb.njit(cache=True, nogil=True, **_NO_NRT)
inline = nb.njit(cache=True, inline="always", **_NO_NRT)


@inline
def _find(tags, base, ways, line):
    """Way holding `line`, or -1. A branch-free sum so the loop vectorises."""
    h = 0
    for w in range(ways):
        if (tags[base + w] >> TAG_SHIFT) == line:
            h += w + 1
    return h - 1


@inline
def _lru_victim(stamps, base, ways, allowed):
    """The allowed way with the smallest (stamp, way) key; branch-free so it vectorises."""
    best = KEY_MAX
    for w in range(ways):
        key = (np.int64(stamps[base + w]) << 6) | w | ((((~allowed) >> w) & 1) << 62)
        best = min(best, key)
    return best & 63


@inline
def _srrip_victim(tags, stamps, base, ways, allowed):
    """First invalid allowed way; else age the allowed ways until one reaches
    RRPV_MAX and take the first such (gem5's RRIP over the partition's ways)."""
    top = -1
    for w in range(ways):
        if (allowed >> w) & 1:
            if tags[base + w] < 0:
                return w
            if stamps[base + w] > top:
                top = stamps[base + w]
    if top < RRPV_MAX:
        for w in range(ways):
            if (allowed >> w) & 1:
                stamps[base + w] += RRPV_MAX - top
    v = 0
    for w in range(ways - 1, -1, -1):
        if (allowed >> w) & 1 and stamps[base + w] >= RRPV_MAX:
            v = w
    return v


@inline
def _step(tags, stamps, s, ways, line, stamp, tenant, allowed, wd, policy, tstate):
    """One access of `line` in set s.

    Returns HIT, -1 for a miss, or the line number a miss wrote back.
    """
    base = s * ways
    h = _find(tags, base, ways, line)
    if h >= 0:
        stamps[base + h] = stamp if policy == POLICY_LRU else 0
        if wd:
            tags[base + h] |= DIRTY
        return HIT
    if policy == POLICY_LRU:
        v = _lru_victim(stamps, base, ways, allowed)
    else:
        v = _srrip_victim(tags, stamps, base, ways, allowed)
    old = tags[base + v]
    wb = -1
    if old >= 0:
        o = (old >> 1) & OWNER_MASK
        tstate[o, T_OCCUPANCY] -= 1
        if old & DIRTY:
            tstate[o, T_WRITEBACKS] += 1
            wb = old >> TAG_SHIFT
    tags[base + v] = (line << TAG_SHIFT) | (tenant << 1) | (DIRTY if wd else 0)
    stamps[base + v] = stamp if policy == POLICY_LRU else RRPV_INSERT
    tstate[tenant, T_OCCUPANCY] += 1
    return wb


@kernel
def _renormalize(tags, stamps, ways):
    """Replace LRU stamps by their rank within the set (1 = least recent); returns the new clock."""
    for base in range(0, tags.shape[0], ways):
        # the least recent unranked line takes the next rank, marked negative so
        # that a ranked line never enters a comparison with the unranked ones
        for r in range(1, ways + 1):
            oldest = -1
            for v in range(ways):
                if tags[base + v] >= 0 and stamps[base + v] >= 0 and (
                        oldest < 0 or stamps[base + v] < stamps[base + oldest]):
                    oldest = v
            if oldest < 0:
                break
            stamps[base + oldest] = -r
        for w in range(ways):
            stamps[base + w] = -stamps[base + w] if tags[base + w] >= 0 else 0
    return ways


@inline
def _start(tags, stamps, meta, total):
    """The clock before a batch of `total` accesses (renormalising first if needed)."""
    clock = meta[M_CLOCK]
    if meta[M_POLICY] == POLICY_LRU and clock + total >= STAMP_LIMIT:
        clock = _renormalize(tags, stamps, meta[M_WAYS])
    return clock


@inline
def _finish(meta, tstate, tenant, clock, total, misses, wbs):
    meta[M_CLOCK] = clock
    meta[M_HITS] = total - misses
    meta[M_MISSES] = misses
    meta[M_WRITEBACKS] = wbs
    tstate[tenant, T_ACCESSES] += total
    tstate[tenant, T_HITS] += total - misses
    tstate[tenant, T_MISSES] += misses


@kernel
def access_lines(addrs, writes, tenant, tags, stamps, tstate, meta, out):
    """One access per byte address (its line), in order. `writes` has one
    entry per address, or one for all. Returns OK or an error code."""
    n = addrs.shape[0]
    ls = meta[M_LINE_SHIFT]
    for i in range(n):
        if addrs[i] < 0:
            meta[M_ARG] = i
            return ERR_NEGATIVE
        if (addrs[i] >> ls) > MAX_LINE:
            meta[M_ARG] = i
            return ERR_TOO_BIG
    cap = out.shape[0] >> 1
    if n > cap:
        meta[M_ARG] = n
        meta[M_ARG2] = 0
        return ERR_SPACE
    set_mask = (np.int64(1) << meta[M_SET_BITS]) - 1
    ways = meta[M_WAYS]
    policy = meta[M_POLICY]
    write_back = meta[M_WRITE_BACK] != 0
    allowed = tstate[tenant, T_MASK]
    single = writes.shape[0] == 1
    clock = _start(tags, stamps, meta, n)
    misses = 0
    wbs = 0
    top = meta[M_TOP]
    for i in range(n):
        if i + PREFETCH_AHEAD < n:
            nxt = ((addrs[i + PREFETCH_AHEAD] >> ls) & set_mask) * ways
            prefetch(tags, nxt)
            prefetch(tags, nxt + ways - 1)
            prefetch(stamps, nxt)
            prefetch(stamps, nxt + ways - 1)
        line = addrs[i] >> ls
        top = max(top, line)
        wd = write_back and (writes[0] if single else writes[i])
        clock += 1
        r = _step(tags, stamps, line & set_mask, ways, line, clock, tenant, allowed, wd, policy, tstate)
        if r != HIT:
            out[misses] = line << ls
            misses += 1
            if r >= 0:
                out[cap + wbs] = r << ls
                wbs += 1
    meta[M_TOP] = top
    _finish(meta, tstate, tenant, clock, n, misses, wbs)
    return OK


@inline
def _run_lines(start, length, ls):
    return ((start + length - 1) >> ls) - (start >> ls) + 1


@kernel
def access_runs(starts, lengths, writes, tenant, tags, stamps, tstate, meta, out, scratch, runinfo):
    """Every line each byte run [start, start + length) touches, run after run.
    `writes` has one entry per run, or one for all. Returns OK or an error code
    (ERR_SPACE: meta[M_ARG] lines of `out` and meta[M_ARG2] bytes of `scratch` needed)."""
    nr = starts.shape[0]
    ls = meta[M_LINE_SHIFT]
    sb = meta[M_SET_BITS]
    sets = np.int64(1) << sb
    policy = meta[M_POLICY]
    total = 0
    need_scratch = 0
    for i in range(nr):
        if starts[i] < 0:
            meta[M_ARG] = i
            return ERR_NEGATIVE
        if lengths[i] < 1:
            meta[M_ARG] = i
            return ERR_LENGTH
        if starts[i] + lengths[i] < starts[i] or ((starts[i] + lengths[i] - 1) >> ls) > MAX_LINE:
            meta[M_ARG] = i
            return ERR_TOO_BIG
        k = _run_lines(starts[i], lengths[i], ls)
        total += k
        if k >= sets and policy == POLICY_LRU:
            need_scratch += k + sets
    cap = out.shape[0] >> 1
    if total > cap or need_scratch > scratch.shape[0]:
        meta[M_ARG] = total
        meta[M_ARG2] = need_scratch
        return ERR_SPACE
    set_mask = sets - 1
    ways = meta[M_WAYS]
    write_back = meta[M_WRITE_BACK] != 0
    allowed = tstate[tenant, T_MASK]
    single = writes.shape[0] == 1
    clock = _start(tags, stamps, meta, total)
    misses = 0
    wbs = 0
    top = meta[M_TOP]
    i = 0
    while i < nr:
        first = starts[i] >> ls
        n = _run_lines(starts[i], lengths[i], ls)
        if need_scratch and n >= sets:
            j = i + 1
            g = n
            while j < nr and _run_lines(starts[j], lengths[j], ls) >= sets:
                g += _run_lines(starts[j], lengths[j], ls)
                j += 1
            misses, wbs, top = _set_major(starts, lengths, writes, i, j, tenant, tags, stamps, tstate, meta,
                                          out, scratch, runinfo, clock, misses, wbs, top)
            clock += g
            i = j
            continue
        top = max(top, first + n - 1)
        wd = write_back and (writes[0] if single else writes[i])
        for line in range(first, first + n):
            clock += 1
            r = _step(tags, stamps, line & set_mask, ways, line, clock, tenant, allowed, wd, policy,
                      tstate)
            if r != HIT:
                out[misses] = line << ls
                misses += 1
                if r >= 0:
                    out[cap + wbs] = r << ls
                    wbs += 1
        i += 1
    meta[M_TOP] = top
    _finish(meta, tstate, tenant, clock, total, misses, wbs)
    return OK


@inline
def _rank_allowed(stamps, base, ways, allowed, meta, ob):
    """Write the allowed ways ordered by (stamp, way) to meta[ob:], least recent
    first (invalid ways have stamp 0, so they come first); returns how many."""
    for w in range(ways):
        key = (np.int64(stamps[base + w]) << 6) | w
        meta[M_KEY + w] = key if (allowed >> w) & 1 else KEY_MAX
    k = 0
    for w in range(ways):
        key = meta[M_KEY + w]
        if key != KEY_MAX:
            rank = 0
            for v in range(ways):
                rank += meta[M_KEY + v] < key
            meta[ob + rank] = w
            k += 1
    return k


@inline
def _held(tags, base, ways, lo, span):
    """Bit mask of the ways holding one of the lines lo, lo + sets, ... (span = count << set bits)."""
    held = np.int64(0)
    for w in range(ways):
        held |= np.int64(np.uint64((tags[base + w] >> TAG_SHIFT) - lo) < span) << w
    return held


@nb.njit(cache=True, **_NO_NRT)
def _set_major(starts, lengths, writes, g0, g1, tenant, tags, stamps, tstate, meta, out, scratch, runinfo, clock,
               misses, wbs, top):
    """Exact LRU replay of the runs g0..g1-1 (each of at least `sets` lines),
    set by set. Appends misses and write-backs to `out` in access order and
    returns the new (misses, write-backs) counts and the highest line accessed
    so far (`top`, raised by these runs).

    A visit is one run's accesses to one set: lines lo, lo + sets, ... (m of
    them, distinct). Per set, the allowed ways in LRU order are kept as a ring
    meta[ob + (h + i) mod k] while visits can update it cheaply.
    scratch[r * sets + s0] is the kind of run r's visit to the set of its
    position s0 (all hit, all miss without write-back, or see the per-line
    flags at scratch[nrun * sets + position]). The written-back line of
    position p is parked at out[cap + wbs + p]; the emission below compacts in
    place and never overtakes what it reads.
    """
    ls = meta[M_LINE_SHIFT]
    sb = meta[M_SET_BITS]
    sets = np.int64(1) << sb
    set_mask = sets - 1
    ways = meta[M_WAYS]
    write_back = meta[M_WRITE_BACK] != 0
    allowed = tstate[tenant, T_MASK]
    single = writes.shape[0] == 1
    cap = out.shape[0] >> 1
    nrun = g1 - g0
    fbase = nrun * sets  # per-line flags start here
    wbase = cap + wbs  # parked write-backs start here
    # per run, once: first line, line count, identical runs right after it
    # (once a visit leaves all its lines, each repeat hits them all, only the
    # last repeat's stamps remain and the LRU order does not change), the
    # write flags of the run (bit 0) and of its repeats (bit 1), and the
    # highest line accessed before it (no line above that is cached)
    for r in range(nrun - 1, -1, -1):
        ri = RUNINFO * r
        st = starts[g0 + r]
        runinfo[ri] = st >> ls
        runinfo[ri + 1] = _run_lines(st, lengths[g0 + r], ls)
        wd = write_back and (writes[0] if single else writes[g0 + r])
        rep = 0
        wdr = 0
        nx = ri + RUNINFO
        if r + 1 < nrun and runinfo[nx] == runinfo[ri] and runinfo[nx + 1] == runinfo[ri + 1]:
            rep = runinfo[nx + 2] + 1
            wdr = ((runinfo[nx + 3] & 1) | (runinfo[nx + 3] >> 1)) << 1
        runinfo[ri + 2] = rep
        runinfo[ri + 3] = wdr | (1 if wd else 0)
    for r in range(nrun):
        runinfo[RUNINFO * r + 4] = top
        top = max(top, runinfo[RUNINFO * r] + runinfo[RUNINFO * r + 1] - 1)
    # a repeat run's visits are all hits wherever its first run's visit folds them
    # in (below); where it does not, the repeat's own visit overwrites its kind
    for r in range(1, nrun):
        if runinfo[RUNINFO * (r - 1) + 2] > 0:
            for q in range(r * sets, (r + 1) * sets):
                scratch[q] = KIND_HIT
    for s in range(sets):
        base = s * ways
        have = False  # whether the ring holds this set's LRU order
        k = 0
        ob = M_ORDER
        h = 0
        p = 0  # batch position of run r's first line
        r = 0
        while r < nrun:
            ri = RUNINFO * r
            f = runinfo[ri]
            cnt = runinfo[ri + 1]
            rep = runinfo[ri + 2]
            wflags = runinfo[ri + 3]
            wd = (wflags & 1) != 0
            wd_rep = (wflags & 2) != 0
            s0 = (s - f) & set_mask
            m = ((cnt - 1 - s0) >> sb) + 1  # run r's accesses to set s
            lo = f + s0  # their lines: lo, lo + sets, ...
            span = np.uint64(m << sb)
            t0 = clock + p + s0 + 1  # stamp of the first; + (j << sb) for the j-th
            ki = r * sets + s0
            q0 = fbase + p + s0  # flag of access j at q0 + (j << sb)
            w0 = wbase + p + s0  # parked write-back of access j at w0 + (j << sb)
            t_last = t0 + rep * cnt  # first stamp of the last repeat
            # lines above all those accessed before are not cached: no need to look
            held = _held(tags, base, ways, lo, span) if lo <= runinfo[ri + 4] else np.int64(0)
            present = popcount(held)
            done = 1  # runs this step accounts for
            if present == m:
                # all hit: nothing is evicted; each line takes its (last) access's stamp
                rest = held
                wdd = wd or wd_rep
                while rest:
                    w = cttz(rest)
                    rest &= rest - 1
                    x = tags[base + w]
                    rel = (x >> TAG_SHIFT) - lo
                    stamps[base + w] = t_last + rel
                    if wdd:
                        tags[base + w] = x | DIRTY
                    meta[M_KEY + (rel >> sb)] = w
                scratch[ki] = KIND_HIT
                done += rep
                if have:
                    # untouched allowed ways keep their order; the hit ones follow in access order
                    nob = M_TMP if ob == M_ORDER else M_ORDER
                    c = 0
                    for i in range(k):
                        w = meta[ob + (h + i if h + i < k else h + i - k)]
                        meta[nob + c] = w
                        c += 1 - ((held >> w) & 1)
                    for j in range(m):
                        w = meta[M_KEY + j]
                        if (allowed >> w) & 1:
                            meta[nob + c] = w
                            c += 1
                    ob = nob
                    h = 0
            else:
                if not have:
                    ob = M_ORDER
                    h = 0
                    k = _rank_allowed(stamps, base, ways, allowed, meta, ob)
                    have = True
                # every access misses iff each line already here sits in an allowed way
                # that the misses before its access evict first (the j-th access is
                # preceded by j evictions from the front of the LRU order)
                all_miss = (held & ~allowed) == 0
                if present and all_miss:
                    for i in range(k):
                        w = meta[ob + (h + i if h + i < k else h + i - k)]
                        if (held >> w) & 1 and ((tags[base + w] >> TAG_SHIFT) - lo) >> sb <= i:
                            all_miss = False
                if all_miss:
                    if m <= k:  # all lines stay: the repeats hit
                        done += rep
                        _all_miss(tags, stamps, base, tenant, tstate, meta, out, scratch, ob, h, k, m, lo, sb, t0,
                                  wd, t_last, wd or wd_rep, ki, q0, w0)
                    else:
                        _all_miss(tags, stamps, base, tenant, tstate, meta, out, scratch, ob, h, k, m, lo, sb, t0,
                                  wd, t0, wd, ki, q0, w0)
                    rot = m if m < k else (m - k if m < 2 * k else m % k)
                    h += rot  # the new order is the old one rotated left by m mod k
                    if h >= k:
                        h -= k
                else:
                    scratch[ki] = KIND_LINES
                    for j in range(m):
                        res = _step(tags, stamps, s, ways, lo + (j << sb), t0 + (j << sb), tenant, allowed, wd,
                                    POLICY_LRU, tstate)
                        q = q0 + (j << sb)
                        if res == HIT:
                            scratch[q] = F_HIT
                        elif res < 0:
                            scratch[q] = F_MISS
                        else:
                            scratch[q] = F_MISS_WB
                            out[w0 + (j << sb)] = res
                    have = False
            p += done * cnt
            r += done
    # back to access order
    p = 0
    for r in range(nrun):
        st = starts[g0 + r]
        f = st >> ls
        cnt = _run_lines(st, lengths[g0 + r], ls)
        lo_k = KIND_LINES
        hi_k = KIND_HIT
        for s0 in range(sets):
            c = scratch[r * sets + s0]
            lo_k = min(lo_k, c)
            hi_k = max(hi_k, c)
        if hi_k == KIND_HIT:
            pass
        elif lo_k == KIND_MISS and hi_k == KIND_MISS:
            for q in range(cnt):
                out[misses + q] = (f + q) << ls
            misses += cnt
        else:
            for q in range(cnt):
                c = scratch[r * sets + (q & set_mask)]
                if c == KIND_HIT:
                    continue
                if c == KIND_LINES:
                    fl = scratch[fbase + p + q]
                    if fl == F_HIT:
                        continue
                    if fl == F_MISS_WB:
                        out[cap + wbs] = out[wbase + p + q] << ls
                        wbs += 1
                out[misses] = (f + q) << ls
                misses += 1
        p += cnt
    return misses, wbs, top


@inline
def _all_miss(tags, stamps, base, tenant, tstate, meta, out, scratch, ob, h, k, m, lo, sb, t0, wd, t_keep,
              wd_keep, ki, q0, w0):
    """A visit whose m accesses all miss: the victims are the allowed ways least
    recent first (ring meta[ob + (h + i) mod k]), then the visit's own lines in
    access order (access j reuses the way of ring entry j mod k). The lines
    that stay take stamps from t_keep and dirty bits from wd_keep (which differ
    from t0 and wd when repeats of the visit follow)."""
    kept = min(m, k)
    any_wb = wd and m > k
    own = 0  # evicted lines of the accessing tenant (its occupancy does not change for those)
    for j in range(kept):
        i = h + j if h + j < k else h + j - k
        old = tags[base + meta[ob + i]]
        if old >= 0:
            o = (old >> 1) & OWNER_MASK
            if o == tenant:
                own += 1
            else:
                tstate[o, T_OCCUPANCY] -= 1
            if old & DIRTY:
                any_wb = True
    tstate[tenant, T_OCCUPANCY] += kept - own
    if any_wb:
        scratch[ki] = KIND_LINES
        for j in range(m):
            scratch[q0 + (j << sb)] = F_MISS
        for j in range(kept):
            i = h + j if h + j < k else h + j - k
            old = tags[base + meta[ob + i]]
            if old >= 0 and old & DIRTY:
                tstate[(old >> 1) & OWNER_MASK, T_WRITEBACKS] += 1
                scratch[q0 + (j << sb)] = F_MISS_WB
                out[w0 + (j << sb)] = old >> TAG_SHIFT
        if wd and m > k:
            for j in range(k, m):
                scratch[q0 + (j << sb)] = F_MISS_WB
                out[w0 + (j << sb)] = lo + ((j - k) << sb)
            tstate[tenant, T_WRITEBACKS] += m - k
    else:
        scratch[ki] = KIND_MISS
    dbit = DIRTY if wd_keep else 0
    # access j (the last `kept` of them stay) sits in ring entry j mod k
    i = (m - kept) % k + h if m > k else h
    if i >= k:
        i -= k
    for j in range(m - kept, m):
        v = meta[ob + i]
        tags[base + v] = ((lo + (j << sb)) << TAG_SHIFT) | (tenant << 1) | dbit
        stamps[base + v] = t_keep + (j << sb)
        i += 1
        if i == k:
            i = 0


@kernel
def contains_lines(addrs, tags, meta, out):
    """out[i] = whether the line of addrs[i] is cached (in any way); no state
    changes (no recency update, no allocation). Returns how many are."""
    ls = meta[M_LINE_SHIFT]
    set_mask = (np.int64(1) << meta[M_SET_BITS]) - 1
    ways = meta[M_WAYS]
    n = 0
    for i in range(addrs.shape[0]):
        line = addrs[i] >> ls
        hit = _find(tags, (line & set_mask) * ways, ways, line) >= 0
        out[i] = hit
        n += hit
    return n


@kernel
def drop_lines(tags, stamps, tstate, tenant, line_shift, out):
    """Invalidate the lines `tenant` allocated (every line if tenant < 0);
    dirty ones are written to `out`. Returns how many."""
    n = 0
    for i in range(tags.shape[0]):
        x = tags[i]
        if x >= 0 and (tenant < 0 or ((x >> 1) & OWNER_MASK) == tenant):
            o = (x >> 1) & OWNER_MASK
            if x & DIRTY:
                out[n] = (x >> TAG_SHIFT) << line_shift
                n += 1
                tstate[o, T_WRITEBACKS] += 1
            tstate[o, T_OCCUPANCY] -= 1
            tags[i] = -1
            stamps[i] = 0
    return n
