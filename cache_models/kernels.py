"""numba kernels of the set-associative cache.

Each way is one packed int64 (`entries[set, way]`), so an access touches one
128-byte row for a 16-way set:

    bits  0-7   age: LRU rank (0 = most recent) or SRRIP re-reference value
    bit   8     dirty
    bit   9     valid
    bits 10-25  owner tenant (the one that allocated the line)
    bits 26-63  line number

LRU keeps the ages of a set's valid ways a permutation of 0..valid-1, which
is exactly the recency order (the same order pycachesim's LRU keeps). A tenant
allocates only into the ways of its mask; lookups hit in any way.

Long runs of consecutive lines take an exact fast path (`_run_fast`): their
lines are distinct, so each set can be replayed on its own with a queue of
victims, in cache-friendly order, and the misses and write-backs are put back
into access order afterwards.
"""

from __future__ import annotations

import numba as nb
import numpy as np

POLICY_LRU, POLICY_SRRIP = 0, 1
RRPV_MAX = 3  # 2-bit SRRIP
RRPV_INSERT = 2  # "long re-reference interval" insertion
ST_ACCESSES, ST_HITS, ST_MISSES, ST_WRITEBACKS = range(4)

AGE_MASK = 0xFF
DIRTY = 1 << 8
VALID = 1 << 9
OWNER_SHIFT = 10
OWNER_MASK = 0xFFFF
LINE_SHIFT = 26


@nb.njit(cache=True, inline="always")
def _line(e):
    return e >> LINE_SHIFT


@nb.njit(cache=True, inline="always")
def _owner(e):
    return (e >> OWNER_SHIFT) & OWNER_MASK


@nb.njit(cache=True, inline="always")
def _pack(line, owner, dirty, age):
    return (line << LINE_SHIFT) | (owner << OWNER_SHIFT) | VALID | (DIRTY if dirty else 0) | age


@nb.njit(cache=True)
def _touch(entries, s, line, write, tenant, mask, policy, ways, write_back, stats, occ, counts, miss_out,
           wb_out, line_bytes):
    """One access; returns 1 on a hit. One pass finds the hit, the first
    invalid allowed way and the oldest allowed way; a second updates ages.
    Hits, misses and write-backs are counted in `counts` (the caller books
    them into the tenant's statistics once per batch)."""
    hit = -1
    invalid = -1
    oldest_w = -1
    oldest = -1
    for w in range(ways):
        e = entries[s, w]
        if e & VALID:
            if (e >> LINE_SHIFT) == line:
                hit = w
                break
            if (mask >> w) & 1:
                a = e & AGE_MASK
                if a > oldest:
                    oldest = a
                    oldest_w = w
        elif invalid < 0 and (mask >> w) & 1:
            invalid = w
    if hit >= 0:
        e = entries[s, hit]
        if policy == POLICY_LRU:
            a = e & AGE_MASK
            if a:
                for w in range(ways):
                    x = entries[s, w]
                    if (x & VALID) and (x & AGE_MASK) < a:
                        entries[s, w] = x + 1
        e = e & ~AGE_MASK
        if write and write_back:
            e |= DIRTY
        entries[s, hit] = e
        counts[0] += 1
        return 1
    miss_out[counts[1]] = line * line_bytes
    counts[1] += 1
    if invalid >= 0:
        victim = invalid
    elif policy == POLICY_LRU:
        victim = oldest_w
    else:
        victim = -1
        while victim < 0:
            for w in range(ways):
                if (mask >> w) & 1 and (entries[s, w] & AGE_MASK) >= RRPV_MAX:
                    victim = w
                    break
            if victim < 0:
                for w in range(ways):
                    if (mask >> w) & 1:
                        entries[s, w] += 1
    old = entries[s, victim]
    if old & VALID:
        if old & DIRTY:
            wb_out[counts[2]] = (old >> LINE_SHIFT) * line_bytes
            counts[2] += 1
            stats[_owner(old), ST_WRITEBACKS] += 1
        occ[_owner(old)] -= 1
    if policy == POLICY_LRU:
        limit = (old & AGE_MASK) if (old & VALID) else 255
        for w in range(ways):
            x = entries[s, w]
            if (x & VALID) and (x & AGE_MASK) < limit:
                entries[s, w] = x + 1
        age = 0
    else:
        age = RRPV_INSERT
    entries[s, victim] = _pack(line, tenant, write and write_back, age)
    occ[tenant] += 1
    return 0


@nb.njit(cache=True, nogil=True)
def access_lines(addrs, writes, tenant, entries, masks, policy, set_mask, ways, write_back, stats, occ,
                 line_bytes, miss_out, wb_out, counts):
    """One access per byte address in `addrs` (its line), in order."""
    counts[0] = 0
    counts[1] = 0
    counts[2] = 0
    mask = masks[tenant]
    single = writes.shape[0] == 1
    for i in range(addrs.shape[0]):
        line = addrs[i] // line_bytes
        w = writes[0] if single else writes[i]
        _touch(entries, line & set_mask, line, w, tenant, mask, policy, ways, write_back, stats, occ, counts,
               miss_out, wb_out, line_bytes)
    _book(stats, tenant, counts)


@nb.njit(cache=True, nogil=True)
def count_run_lines(starts, lengths, line_bytes):
    """Lines the runs touch; -1 if a start is negative, -2 if a length is below 1."""
    n = 0
    for i in range(starts.shape[0]):
        if starts[i] < 0:
            return -1
        if lengths[i] < 1:
            return -2
        n += (starts[i] + lengths[i] - 1) // line_bytes - starts[i] // line_bytes + 1
    return n


@nb.njit(cache=True)
def _set_closed_form(row, first, s0, m, sets, all_hit, write, tenant, mask, ways, write_back, stats, occ,
                     line_bytes, miss_flag, wb_addr, by_age, order, hit_j, hit_w, lines_way, is_touched):
    """A set whose run accesses all miss, or all hit, in O(m + ways).

    All miss: the victims are the invalid allowed ways, then the allowed lines
    oldest first, then the run's own lines in the order they came (each way is
    refilled every k accesses). All hit: the lines move to the front in access
    order. Either way the recency order ends as: this run's lines (latest
    first), then the untouched lines in their old order. Returns the hits.
    `by_age[a]` holds the way of age a (-1 if none); `order`, `hit_j`, `hit_w`
    `lines_way` and `is_touched` are scratch arrays of `ways` entries.
    """
    wd = write and write_back
    if all_hit:
        # hit_j/hit_w hold (access index, way) sorted by access index
        for t in range(m):
            w = hit_w[t]
            if wd:
                row[w] |= DIRTY
            miss_flag[s0 + hit_j[t] * sets] = 0
        touched = m
        for t in range(m):
            order[t] = hit_w[m - 1 - t]  # most recent first
    else:
        # victim order V: invalid allowed ways by index, then allowed valid ways oldest first
        k = 0
        for w in range(ways):
            if (mask >> w) & 1 and not (row[w] & VALID):
                order[k] = w
                k += 1
        n_inv = k
        for a in range(ways - 1, -1, -1):
            w = by_age[a]
            if w >= 0 and (mask >> w) & 1:
                order[k] = w
                k += 1
        for j in range(m):
            pos = s0 + j * sets
            miss_flag[pos] = 1
            if j >= n_inv:
                if j < k:
                    old = row[order[j]]
                    if old & DIRTY:
                        wb_addr[pos] = (old >> LINE_SHIFT) * line_bytes
                        miss_flag[pos] = 3
                        stats[_owner(old), ST_WRITEBACKS] += 1
                    occ[_owner(old)] -= 1
                elif wd:
                    wb_addr[pos] = (first + s0 + (j - k) * sets) * line_bytes
                    miss_flag[pos] = 3
                    stats[tenant, ST_WRITEBACKS] += 1
        occ[tenant] += min(m, k)
        kept = min(m, k)
        # the last `kept` accesses stay: access j sits in way order[j % k]
        for t in range(kept):
            j = m - 1 - t  # most recent first
            w = order[j % k]
            row[w] = _pack(first + s0 + j * sets, tenant, wd, 0)
            lines_way[t] = w
        for t in range(kept):
            order[t] = lines_way[t]
        touched = kept
    # ages: touched ways (most recent first), then the other valid ways in their old order
    for w in range(ways):
        is_touched[w] = False
    age = 0
    for t in range(touched):
        w = order[t]
        is_touched[w] = True
        row[w] = (row[w] & ~AGE_MASK) | age
        age += 1
    for a in range(ways):
        w = by_age[a]
        if w >= 0 and not is_touched[w] and (row[w] & VALID):
            row[w] = (row[w] & ~AGE_MASK) | age
            age += 1
    return m if all_hit else 0


@nb.njit(cache=True)
def _run_fast(first, n, write, tenant, entries, mask, sets, ways, write_back, stats, occ, line_bytes,
              miss_flag, wb_addr):
    """Exact LRU replay of n consecutive (hence distinct) lines from line `first`.

    Sets are independent, so each is replayed on its own: its valid ways in a
    doubly linked recency list (LRU at the head), invalid ways aside. Only lines
    present before the run can hit (run lines are distinct); where each would
    hit is found with one scan of the set. miss_flag[k] / wb_addr[k] record what
    run access k caused, so the caller can emit them in access order.
    """
    set_mask = sets - 1
    prev = np.empty(ways, dtype=np.int64)
    nxt = np.empty(ways, dtype=np.int64)
    hit_at = np.empty(ways, dtype=np.int64)
    by_age = np.empty(ways, dtype=np.int64)
    hit_j = np.empty(ways, dtype=np.int64)
    hit_w = np.empty(ways, dtype=np.int64)
    inv = np.empty(ways, dtype=np.int64)
    lines_way = np.empty(ways, dtype=np.int64)
    is_touched = np.zeros(ways, dtype=np.bool_)
    total_hits = 0
    set_bits = 0
    while (1 << set_bits) < sets:
        set_bits += 1
    for s0 in range(min(sets, n)):
        s = (first + s0) & set_mask
        row = entries[s]
        m = (n - s0 + sets - 1) >> set_bits  # run positions s0, s0 + sets, ...
        for w in range(ways):
            by_age[w] = -1
        # where old lines of this set are hit by the run (one scan; no divisions: sets is a power of two)
        n_hits = 0
        for w in range(ways):
            hit_at[w] = -1
            x = row[w]
            if x & VALID:
                by_age[x & AGE_MASK] = w
                rel = (x >> LINE_SHIFT) - first
                if 0 <= rel < n and (rel & set_mask) == s0:
                    j = rel >> set_bits
                    hit_at[w] = j
                    hit_j[n_hits] = j
                    hit_w[n_hits] = w
                    n_hits += 1
        # sort the (j, w) hit candidates by j (few entries)
        for i in range(1, n_hits):
            jj, ww = hit_j[i], hit_w[i]
            k = i - 1
            while k >= 0 and hit_j[k] > jj:
                hit_j[k + 1] = hit_j[k]
                hit_w[k + 1] = hit_w[k]
                k -= 1
            hit_j[k + 1] = jj
            hit_w[k + 1] = ww
        if n_hits == 0 or n_hits == m:
            total_hits += _set_closed_form(row, first, s0, m, sets, n_hits == m, write, tenant, mask, ways,
                                           write_back, stats, occ, line_bytes, miss_flag, wb_addr, by_age, inv,
                                           hit_j, hit_w, lines_way, is_touched)
            continue
        # recency list of the valid ways, LRU first
        head = -1
        tail = -1
        for age in range(ways - 1, -1, -1):
            w = by_age[age]
            if w < 0:
                continue
            prev[w] = tail
            nxt[w] = -1
            if tail >= 0:
                nxt[tail] = w
            else:
                head = w
            tail = w
        # invalid allowed ways, lowest index first (a run only fills them)
        n_inv = 0
        for v in range(ways):
            if (mask >> v) & 1 and not (row[v] & VALID):
                inv[n_inv] = v
                n_inv += 1
        ip = 0
        hp = 0
        hits = 0
        for j in range(m):
            pos = s0 + j * sets
            while hp < n_hits and hit_j[hp] < j:
                hp += 1
            w = -1
            if hp < n_hits and hit_j[hp] == j and hit_at[hit_w[hp]] == j:
                w = hit_w[hp]
            if w >= 0:
                hits += 1
                if write and write_back:
                    row[w] |= DIRTY
                hit_at[w] = -1
                miss_flag[pos] = 0
            else:
                # victim: an invalid allowed way (lowest index), else the least recent allowed way
                w = -1
                if ip < n_inv:
                    w = inv[ip]
                    ip += 1
                if w < 0:
                    w = head
                    while not ((mask >> w) & 1):
                        w = nxt[w]
                old = row[w]
                miss_flag[pos] = 1
                if old & VALID:
                    if old & DIRTY:
                        wb_addr[pos] = (old >> LINE_SHIFT) * line_bytes
                        miss_flag[pos] = 3
                        stats[_owner(old), ST_WRITEBACKS] += 1
                    occ[_owner(old)] -= 1
                    hit_at[w] = -1
                else:
                    # joins the recency list
                    prev[w] = -1
                    nxt[w] = -1
                    if head < 0:
                        head = w
                        tail = w
                row[w] = _pack(first + pos, tenant, write and write_back, 0)
                occ[tenant] += 1
            # move w to the MRU end of the list
            if w != tail:
                p_, n_ = prev[w], nxt[w]
                if p_ >= 0:
                    nxt[p_] = n_
                elif head == w:
                    head = n_
                if n_ >= 0:
                    prev[n_] = p_
                prev[w] = tail
                nxt[w] = -1
                nxt[tail] = w
                tail = w
        # ages from the list: MRU = 0
        age = 0
        w = tail
        while w >= 0:
            row[w] = (row[w] & ~AGE_MASK) | age
            age += 1
            w = prev[w]
        total_hits += hits
    return total_hits


FAST_RUN_SETS = 1  # a run at least this many times the set count takes the fast path


@nb.njit(cache=True, nogil=True)
def access_runs(starts, lengths, writes, tenant, entries, masks, policy, set_mask, ways, write_back, stats, occ,
                line_bytes, miss_out, wb_out, counts, flags, wbs):
    """Every line each byte run touches, run after run, in order. `flags` and
    `wbs` are scratch arrays at least as long as the longest run."""
    counts[0] = 0
    counts[1] = 0
    counts[2] = 0
    mask = masks[tenant]
    sets = set_mask + 1
    single = writes.shape[0] == 1
    for i in range(starts.shape[0]):
        w = writes[0] if single else writes[i]
        first = starts[i] // line_bytes
        last = (starts[i] + lengths[i] - 1) // line_bytes
        n = last - first + 1
        if policy == POLICY_LRU and n >= FAST_RUN_SETS * sets:
            counts[0] += _run_fast(first, n, w, tenant, entries, mask, sets, ways, write_back, stats, occ,
                                   line_bytes, flags, wbs)
            m = counts[1]
            b = counts[2]
            for k in range(n):
                f = flags[k]
                if f:
                    miss_out[m] = (first + k) * line_bytes
                    m += 1
                    if f == 3:
                        wb_out[b] = wbs[k]
                        b += 1
            counts[1] = m
            counts[2] = b
            continue
        for line in range(first, last + 1):
            _touch(entries, line & set_mask, line, w, tenant, mask, policy, ways, write_back, stats, occ, counts,
                   miss_out, wb_out, line_bytes)
    _book(stats, tenant, counts)


@nb.njit(cache=True, inline="always")
def _book(stats, tenant, counts):
    stats[tenant, ST_ACCESSES] += counts[0] + counts[1]
    stats[tenant, ST_HITS] += counts[0]
    stats[tenant, ST_MISSES] += counts[1]


@nb.njit(cache=True)
def drop_lines(entries, occ, stats, tenant, line_bytes, wb_out, policy):
    """Invalidate the lines of `tenant` (every tenant if < 0); dirty ones are
    written back (returned). Returns the number of write-backs."""
    n = 0
    ways = entries.shape[1]
    for s in range(entries.shape[0]):
        row = entries[s]
        for w in range(ways):
            x = row[w]
            if (x & VALID) and (tenant < 0 or _owner(x) == tenant):
                if x & DIRTY:
                    wb_out[n] = (x >> LINE_SHIFT) * line_bytes
                    n += 1
                    stats[_owner(x), ST_WRITEBACKS] += 1
                occ[_owner(x)] -= 1
                age = x & AGE_MASK
                row[w] = 0
                if policy == POLICY_LRU:  # close the gap in the LRU ranks
                    for v in range(ways):
                        y = row[v]
                        if (y & VALID) and (y & AGE_MASK) > age:
                            row[v] = y - 1
    return n
