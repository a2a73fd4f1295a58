"""The per-request DRAM timing kernel (numba).

Time is in picoseconds. Each channel's requests are scheduled on their own
(channels share nothing): an FR-FCFS window of the channel's next
`queue_depth` unserved requests picks the one whose bank can take its column
command first, and its commands are booked at the earliest time every
constraint allows (reservation style). A batch that arrives while an earlier
one is still being served queues behind it per bank and per data bus, and
batches on other banks overlap."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

try:  # helpers without reference counting (they never allocate); serve_batch allocates its window
    nb.njit(_nrt=False)(lambda: 0)
    _NO_NRT = {"_nrt": False}
except Exception:  # pragma: no cover
    _NO_NRT = {}

kernel = nb.njit(cache=True, **_NO_NRT)
inline = nb.njit(cache=True, inline="always", **_NO_NRT)

# bank_state columns
B_OPEN_ROW, B_ACT_READY, B_PRE_READY, B_CAS_READY = range(4)
N_B = 4
# rank_state columns: the last four ACT times (tFAW), ring index, last ACT, next refresh, end of
# its last write's data (tWTR_S)
R_FAW0, R_FAW_IDX, R_LAST_ACT, R_NEXT_REF, R_LAST_WR_END = 0, 4, 5, 6, 7
N_R = 8
# bank-group state columns
G_LAST_ACT, G_LAST_CAS, G_LAST_WR_END = range(3)
N_G = 3
# channel state columns; C_HOLE_CAS: the CAS time at which another bank group's line can
# interleave its bursts with the last booked line's (none: NO_HOLE), C_HOLE_W: that line's direction;
# C_LAST_RANK, C_LAST_W: the rank that drove the data bus last and whether that was a write
# (a switch costs tRTRS, except from one rank's write to another's)
C_BUS_FREE, C_LAST_CAS, C_LAST_RD_CAS, C_BUSY, C_HOLE_CAS, C_HOLE_W, C_LAST_RANK, C_LAST_W = range(8)
N_C = 8
NO_HOLE = -(1 << 50)
# timing vector (ps)
(T_CL, T_CWL, T_RCD, T_RP, T_RAS, T_CCD_S, T_CCD_L, T_RRD_S, T_RRD_L, T_FAW, T_WR, T_WTR_S, T_WTR_L, T_RTP,
 T_REFI, T_RFC, T_BURST, T_CK, T_CTRL, T_SPAN, T_HOLE, T_DATA, T_RPAB, T_RTRS) = range(24)
N_T = 24  # T_RPAB: all-bank precharge (before a refresh); T_RTRS: data-bus gap between ranks;
# T_BURST: data-bus time of one request, first beat to last; T_SPAN: its first to last CAS;
# T_HOLE: 0, or (a line of bursts tCCD_L apart with a burst-wide gap between them, LPDDR5) the
# offset at which a line of another bank group fits its bursts into those gaps; T_DATA: bus time
# spent transferring one request's bursts
# org vector
O_CHANNELS, O_RANKS, O_BGS, O_BPG, O_OPEN_PAGE, O_FRFCFS, O_QUEUE, O_REQ_BYTES, O_REFRESH, O_HASH = range(10)
# throttle columns (per source)
TH_ACTIVE, TH_WINDOW, TH_TARGET, TH_WIN_START, TH_WIN_BYTES, TH_OVER, TH_STALL, TH_NEXT, TH_GAP = range(9)
N_TH = 9
# window keys: readiness (ps after the channel's next command slot, capped) above the age
AGE_BITS = 26
MAX_BATCH = 1 << AGE_BITS  # serve() splits larger batches
REL_MAX = (np.int64(1) << (62 - AGE_BITS)) - 1
KEY_MAX = np.int64(0x7FFFFFFFFFFFFFFF)
# rows of the per-call work array (one column per request)
(W_CH, W_RA, W_BG, W_BA, W_RO, W_BANK, W_RANK, W_GROUP, W_ISSUE, W_ORDER, W_SLOT) = range(11)
N_WORK = 11
AGE_MASK = (1 << AGE_BITS) - 1
# stats
S_READS, S_WRITES, S_ROW_HITS, S_ROW_MISSES, S_ROW_CONFLICTS = range(5)
N_S = 5


@kernel
def _width(mask):
    w = 0
    while (mask >> w) & 1:
        w += 1
    return w


@kernel
def _fold(x, mask):
    """XOR of the successive field-wide chunks of the next 24 bits of x."""
    if mask == 0:
        return 0
    width = _width(mask)
    h = 0
    for _ in range(24 // width + 1):
        h ^= x & mask
        x >>= width
    return h


@kernel
def _throttled_issue(th, src, t, nbytes):
    """MoCA's load-DMA rule: bytes are counted per window; at each window end the
    overshoot over the target accumulates; once it exceeds half the target, reads
    stop for as many half windows as it holds half targets."""
    if th[src, TH_ACTIVE] == 0:
        return t
    window = th[src, TH_WINDOW]
    target = th[src, TH_TARGET]
    # the DMA issues one request at a time, no faster than DRAM can take them
    t = max(t, th[src, TH_STALL], th[src, TH_NEXT])
    while t >= th[src, TH_WIN_START] + window:
        over = th[src, TH_OVER] + th[src, TH_WIN_BYTES] - target
        over = max(over, 0)
        th[src, TH_WIN_START] += window
        th[src, TH_WIN_BYTES] = 0
        half = max(1, target // 2)
        if over > half:
            k = over // half
            stall_end = th[src, TH_WIN_START] + k * (window // 2)
            over -= k * half
            th[src, TH_STALL] = max(th[src, TH_STALL], stall_end)
            if t < stall_end:
                t = stall_end
                th[src, TH_WIN_START] = stall_end  # the next window starts when issue resumes
        th[src, TH_OVER] = over
    th[src, TH_WIN_BYTES] += nbytes
    th[src, TH_NEXT] = t + th[src, TH_GAP]
    return t


@kernel
def throttled_loads(th, src, t, n_loads, load_bytes):
    """Issue `n_loads` loads of `load_bytes` from time `t` through MoCA's
    load-DMA rule (state row `th[src]`); return the issue time of the last one.
    One call per engine step: the loop is per request. (It lives beside
    `_throttled_issue`: numba's cache only notices edits to the caller's own file.)"""
    for _ in range(n_loads):
        t = _throttled_issue(th, src, t, load_bytes)
    return t


@kernel
def _refresh(rank_state, bank_state, r, first_bank, n_banks, t, T):
    """Apply every refresh of rank r due before t; return t pushed past any refresh in progress.
    A refresh needs every bank of the rank precharged: it starts when it is due or, if later,
    tRPab after the last bank may precharge (tRAS, tRTP, tWR): one all-bank precharge closes
    the open rows; the next refresh stays due tREFI on."""
    while t >= rank_state[r, R_NEXT_REF]:
        due = rank_state[r, R_NEXT_REF]
        start = due
        for b in range(first_bank, first_bank + n_banks):
            if bank_state[b, B_OPEN_ROW] >= 0:
                start = max(start, bank_state[b, B_PRE_READY] + T[T_RPAB])
            else:  # closed page precharges after each access: idle from B_ACT_READY
                start = max(start, bank_state[b, B_ACT_READY])
        end = start + T[T_RFC]
        for b in range(first_bank, first_bank + n_banks):
            bank_state[b, B_OPEN_ROW] = -1
            bank_state[b, B_ACT_READY] = max(bank_state[b, B_ACT_READY], end)
        rank_state[r, R_NEXT_REF] = due + T[T_REFI]
        if t < end:
            t = end
    return t


@inline
def _bank_ready(bank_state, b, row, open_page, t, T):
    """Earliest column command of a request to bank b and `row` arriving at t, from the bank's state alone."""
    open_row = bank_state[b, B_OPEN_ROW]
    if open_page and open_row == row:
        return max(t, bank_state[b, B_CAS_READY])
    if open_row >= 0:
        return max(t, bank_state[b, B_PRE_READY]) + T[T_RP] + T[T_RCD]
    return max(t, bank_state[b, B_ACT_READY]) + T[T_RCD]


@inline
def _rank_act_floor(rank_state, r, T):
    """Earliest column command that follows a new activate in rank r."""
    return max(rank_state[r, R_LAST_ACT] + T[T_RRD_S],
               rank_state[r, R_FAW0 + rank_state[r, R_FAW_IDX]] + T[T_FAW]) + T[T_RCD]


@nb.njit(cache=True)
def serve_batch(addrs, is_write, arrival_ps, source, shifts, masks, org, T, bank_state, rank_state, bg_state,
                chan_state, throttle, stats, src_bytes, ps_per_cycle, done, work, small):
    """Serve a batch of line requests arriving together at arrival_ps; write each
    one's completion to `done`, in cycles of ps_per_cycle picoseconds (rounded up),
    and return the last.
    work (N_WORK x >= n) and small (>= 2 * channels + 1 + channels * ranks) are scratch
    space (the window's few arrays are allocated here: separate arrays let its
    loops vectorise)."""
    n = addrs.shape[0]
    channels, ranks, bgs, bpg = org[O_CHANNELS], org[O_RANKS], org[O_BGS], org[O_BPG]
    open_page, frfcfs, depth, req_bytes = org[O_OPEN_PAGE], org[O_FRFCFS], org[O_QUEUE], org[O_REQ_BYTES]
    refresh_on = org[O_REFRESH]
    ch, ra, bg, ba, ro = work[W_CH], work[W_RA], work[W_BG], work[W_BA], work[W_RO]
    bank, rank, group, issue, order = work[W_BANK], work[W_RANK], work[W_GROUP], work[W_ISSUE], work[W_ORDER]
    slot = work[W_SLOT]  # a channel's request position -> its window slot, while in the window
    # decode every request once
    for i in range(n):
        a = addrs[i]
        ch[i] = (a >> shifts[0]) & masks[0]
        ra[i] = (a >> shifts[1]) & masks[1]
        bg[i] = (a >> shifts[2]) & masks[2]
        ba[i] = (a >> shifts[3]) & masks[3]
        ro[i] = (a >> shifts[4]) & masks[4]
    if org[O_HASH]:
        # XOR interleaving: channel bits are folded with the bits above them, bank
        # group and bank bits with the row, so strided streams spread like sequential
        # ones while a row's lines keep their bank
        up_ch = shifts[0] + _width(masks[0])
        for i in range(n):
            ch[i] ^= _fold(addrs[i] >> up_ch, masks[0])
            bg[i] ^= ro[i] & masks[2]
            ba[i] ^= (ro[i] >> _width(masks[2])) & masks[3]
    for i in range(n):
        rank[i] = ch[i] * ranks + ra[i]
        group[i] = rank[i] * bgs + bg[i]
        bank[i] = group[i] * bpg + ba[i]
    # When each request reaches the controller: writes at once, reads as
    # MoCA's load DMA issues them (in program order, under its throttle).
    for i in range(n):
        issue[i] = arrival_ps if is_write[i] else _throttled_issue(throttle, source, arrival_ps, req_bytes)
    # Channels share nothing, so each channel's requests are scheduled on their own.
    off = small[:channels + 1]
    fill = small[channels + 1:2 * channels + 1]
    rfloor = small[2 * channels + 1:2 * channels + 1 + channels * ranks]
    for c in range(channels + 1):
        off[c] = 0
    for i in range(n):
        off[ch[i] + 1] += 1
    for c in range(channels):
        off[c + 1] += off[c]
    for c in range(channels):
        fill[c] = off[c]
    for i in range(n):
        order[fill[ch[i]]] = i
        fill[ch[i]] += 1
    # FR-FCFS: the channel's controller sees a window of its next `depth`
    # unserved requests and serves the one that can take its column command
    # first: a row hit as soon as the channel can take a command, a closed bank
    # tRCD after its activate, a conflict after precharge, tRP and tRCD; the
    # oldest among equals (so requests that are all ready go in order, and row
    # hits pass conflicts). Serving in readiness order keeps the channel's
    # monotone command and bus booking close to what a cycle-level scheduler
    # issues. `fcfs` serves strictly in arrival order. A window key packs the
    # readiness (relative to the channel's next command slot) above the age.
    wsize = min(depth, n) if frfcfs else 1
    wreq = np.empty(wsize, dtype=np.int64)  # request index
    wready = np.empty(wsize, dtype=np.int64)  # when its bank could take its column command
    wage = np.empty(wsize, dtype=np.int64)  # its position among the channel's requests
    wbank = np.empty(wsize, dtype=np.int64)
    wrow = np.empty(wsize, dtype=np.int64)
    wissue = np.empty(wsize, dtype=np.int64)
    wact = np.empty(wsize, dtype=np.int64)  # 1 if it needs an activate
    wrank = np.empty(wsize, dtype=np.int64)
    # for LPDDR5's gap test, kept beside the window so that the test reads no request arrays
    wgroup = np.empty(wsize, dtype=np.int64)
    wwrite = np.empty(wsize, dtype=np.int64)
    wgcas = np.empty(wsize, dtype=np.int64)  # its bank group's last CAS + tCCD_L
    # rfloor: the earliest column command after an activate in each rank (tRRD_S, tFAW)
    for q in range(channels * ranks):
        rfloor[q] = _rank_act_floor(rank_state, q, T)
    ref_hold = np.zeros(ranks, dtype=np.int64)  # per rank of a channel: ready after its due refresh, or 0
    for c in range(channels):
        lo, hi = off[c], off[c + 1]
        rank0 = c * ranks
        n_due = 0  # ranks of the channel whose refresh holds their requests (key below)
        due_rank = -1
        due_ready = np.int64(0)
        recheck_at = np.int64(-1)
        checked_at = np.int64(0)
        wn = 0
        nxt = lo
        while wn < wsize and nxt < hi:
            k = order[nxt]
            wreq[wn] = k
            wready[wn] = _bank_ready(bank_state, bank[k], ro[k], open_page, issue[k], T)
            wage[wn] = nxt - lo
            slot[nxt] = wn
            wbank[wn] = bank[k]
            wrow[wn] = ro[k]
            wissue[wn] = issue[k]
            wact[wn] = 0 if open_page and bank_state[bank[k], B_OPEN_ROW] == ro[k] else 1
            wrank[wn] = rank[k]
            wgroup[wn] = group[k]
            wwrite[wn] = is_write[k]
            wgcas[wn] = bg_state[group[k], G_LAST_CAS] + T[T_CCD_L]
            wn += 1
            nxt += 1
        for _ in range(hi - lo):
            # the channel's next command slot (not before the batch arrives, so that keys
            # of a channel idle for long stay below the cap and keep their order)
            fl = max(chan_state[c, C_LAST_CAS] + T[T_CCD_S], arrival_ps)
            best = KEY_MAX
            # with several ranks, a rank whose refresh is due by the channel's next slot (and not
            # long over) refreshes first: its requests are ready tRFC + tRCD after it is due, and
            # FR-FCFS serves the other ranks meanwhile, as a controller does. Rare: at most one
            # such rank in all but tiny tREFI staggers, so the loops below select it by id
            # (worked out again only when the slot passes the next such boundary or a refresh ran)
            if ranks > 1 and refresh_on and (fl >= recheck_at or fl < checked_at):
                n_due = 0
                recheck_at = KEY_MAX
                checked_at = fl
                for q in range(ranks):
                    due = rank_state[rank0 + q, R_NEXT_REF]
                    ready = due + T[T_RFC] + T[T_RCD]
                    held = due - T[T_SPAN] <= fl < ready
                    ref_hold[q] = ready if held else 0
                    if held:
                        n_due += 1
                        due_rank = rank0 + q
                        due_ready = ready
                    recheck_at = min(recheck_at, due - T[T_SPAN] if fl < due - T[T_SPAN] else
                                     (ready if fl < ready else KEY_MAX))
            if ranks > 1:
                # a request of another rank than the bus's last can start its data only tRTRS
                # after that rank's (a write behind a write: at once)
                last_rank = chan_state[c, C_LAST_RANK]
                switch_rd = chan_state[c, C_BUS_FREE] + T[T_RTRS] - T[T_CL]
                switch_wr = chan_state[c, C_BUS_FREE] + T[T_RTRS] * (1 - chan_state[c, C_LAST_W]) - T[T_CWL]
            hole = chan_state[c, C_HOLE_CAS]
            if T[T_HOLE] > 0 and hole >= arrival_ps:
                # the last line left a gap between its bursts: a request of another bank
                # group (same direction) whose bank is ready by then goes into it, before
                # older requests that can only follow at the channel's next slot
                hw = chan_state[c, C_HOLE_W]
                if ranks > 1:
                    # only the gap's own rank fills it (as placed below); another rank follows
                    # the channel's next slot and its switch
                    for e in range(wn):
                        r = max(wready[e], rfloor[wrank[e]] * wact[e])
                        if wrank[e] != last_rank:
                            r = max(r, fl, switch_wr if wwrite[e] else switch_rd)
                        elif max(r, wgcas[e]) > hole or wwrite[e] != hw:
                            r = max(r, fl)
                        if n_due:
                            r = max(r, ref_hold[wrank[e] - rank0])
                        best = min(best, (min(max(r - hole, 0), REL_MAX) << AGE_BITS) | wage[e])
                else:
                    for e in range(wn):
                        r = max(wready[e], rfloor[wrank[e]] * wact[e])
                        late = max(r, wgcas[e]) > hole or wwrite[e] != hw
                        r = max(r, fl) if late else r
                        best = min(best, (min(max(r - hole, 0), REL_MAX) << AGE_BITS) | wage[e])
            elif ranks > 1:
                # first-ready counts the rank switch, so it prefers the rank that has the bus
                if n_due == 1:
                    for e in range(wn):
                        r = max(wready[e], rfloor[wrank[e]] * wact[e])
                        if wrank[e] != last_rank:
                            r = max(r, switch_wr if wwrite[e] else switch_rd)
                        if wrank[e] == due_rank:
                            r = max(r, due_ready)
                        best = min(best, (min(max(r - fl, 0), REL_MAX) << AGE_BITS) | wage[e])
                elif n_due > 1:
                    for e in range(wn):
                        r = max(wready[e], rfloor[wrank[e]] * wact[e])
                        if wrank[e] != last_rank:
                            r = max(r, switch_wr if wwrite[e] else switch_rd)
                        r = max(r, ref_hold[wrank[e] - rank0])
                        best = min(best, (min(max(r - fl, 0), REL_MAX) << AGE_BITS) | wage[e])
                else:
                    for e in range(wn):
                        r = max(wready[e], rfloor[wrank[e]] * wact[e])
                        if wrank[e] != last_rank:
                            r = max(r, switch_wr if wwrite[e] else switch_rd)
                        best = min(best, (min(max(r - fl, 0), REL_MAX) << AGE_BITS) | wage[e])
            else:
                floor = rfloor[rank0]  # one rank: its activate floor, for the requests that need an activate
                for e in range(wn):
                    r = max(wready[e], floor * wact[e])
                    best = min(best, (min(max(r - fl, 0), REL_MAX) << AGE_BITS) | wage[e])
            j = slot[lo + (best & AGE_MASK)]  # the key's age names the request, its slot the window entry
            i = wreq[j]
            if nxt < hi:  # the next request takes the served one's slot (slots are unordered: the
                # age in the key orders them), written out like the first fill: a helper taking
                # the window arrays costs reference counting on every call, and one fill loop at
                # the top of this loop ran random traffic 25-30 % slower
                k = order[nxt]
                wreq[j] = k
                wready[j] = _bank_ready(bank_state, bank[k], ro[k], open_page, issue[k], T)
                wage[j] = nxt - lo
                slot[nxt] = j
                wbank[j] = bank[k]
                wrow[j] = ro[k]
                wissue[j] = issue[k]
                wact[j] = 0 if open_page and bank_state[bank[k], B_OPEN_ROW] == ro[k] else 1
                wrank[j] = rank[k]
                wgroup[j] = group[k]
                wwrite[j] = is_write[k]
                wgcas[j] = bg_state[group[k], G_LAST_CAS] + T[T_CCD_L]
                nxt += 1
            else:  # the window shrinks: its last request moves into the slot
                wn -= 1
                wreq[j] = wreq[wn]
                wready[j] = wready[wn]
                wage[j] = wage[wn]
                slot[lo + wage[j]] = j
                wbank[j] = wbank[wn]
                wrow[j] = wrow[wn]
                wissue[j] = wissue[wn]
                wact[j] = wact[wn]
                wrank[j] = wrank[wn]
                wgroup[j] = wgroup[wn]
                wwrite[j] = wwrite[wn]
                wgcas[j] = wgcas[wn]
            t = issue[i]
            b, r, g, c = bank[i], rank[i], group[i], ch[i]
            w = is_write[i]
            refreshes = rank_state[r, R_NEXT_REF]
            row = ro[i]
            # place the commands; if a refresh of the rank falls before the column
            # command, the refresh closes every row first and the request is placed again
            while True:
                open_row = bank_state[b, B_OPEN_ROW]
                act = -1
                if open_page and open_row == row:
                    kind = 0
                    cas = max(t, bank_state[b, B_CAS_READY])
                else:
                    if open_row >= 0:
                        kind = 2
                        act = max(t, bank_state[b, B_PRE_READY]) + T[T_RP]
                    else:
                        kind = 1
                        act = max(t, bank_state[b, B_ACT_READY])
                    act = max(act, rank_state[r, R_LAST_ACT] + T[T_RRD_S])
                    act = max(act, bg_state[g, G_LAST_ACT] + T[T_RRD_L])
                    act = max(act, rank_state[r, R_FAW0 + rank_state[r, R_FAW_IDX]] + T[T_FAW])
                    cas = act + T[T_RCD]
                cas = max(cas, bg_state[g, G_LAST_CAS] + T[T_CCD_L])
                if w:
                    cas = max(cas, chan_state[c, C_LAST_RD_CAS] + T[T_CL] + T[T_BURST] + 2 * T[T_CK] - T[T_CWL])
                    lat = T[T_CWL]
                else:
                    # tWTR is a rank's own turnaround; another rank's write only holds the bus (below)
                    cas = max(cas, rank_state[r, R_LAST_WR_END] + T[T_WTR_S], bg_state[g, G_LAST_WR_END] + T[T_WTR_L])
                    lat = T[T_CL]
                # into the last line's gaps (its bank group's tCCD_L keeps that line's own
                # group out), or after its last CAS and its data
                into_hole = (T[T_HOLE] > 0 and cas <= chan_state[c, C_HOLE_CAS]
                             and chan_state[c, C_HOLE_W] == w and chan_state[c, C_LAST_RANK] == r)
                if into_hole:
                    cas = chan_state[c, C_HOLE_CAS]
                    data = cas + lat
                else:
                    cas = max(cas, chan_state[c, C_LAST_CAS] + T[T_CCD_S])
                    data = cas + lat
                    # another rank takes the bus tRTRS after the last one's data (its strobes hand
                    # over), but a write follows another rank's write at once, as in DRAMsim3 and
                    # FASED (the controller drives the strobes of both)
                    bus = chan_state[c, C_BUS_FREE]
                    if chan_state[c, C_LAST_RANK] != r and not (w and chan_state[c, C_LAST_W]):
                        bus += T[T_RTRS]
                    if data < bus:
                        shift = bus - data
                        cas += shift
                        data += shift
                # a line of several bursts takes several CAS commands: its last one, not its first,
                # must come before the due refresh
                if refresh_on and cas + T[T_SPAN] >= rank_state[r, R_NEXT_REF]:
                    _refresh(rank_state, bank_state, r, r * bgs * bpg, bgs * bpg, cas + T[T_SPAN], T)
                    continue
                break
            if kind == 0:
                stats[S_ROW_HITS] += 1
            else:
                stats[S_ROW_CONFLICTS if kind == 2 else S_ROW_MISSES] += 1
                rank_state[r, R_FAW0 + rank_state[r, R_FAW_IDX]] = act
                rank_state[r, R_FAW_IDX] = (rank_state[r, R_FAW_IDX] + 1) % 4
                rank_state[r, R_LAST_ACT] = act
                bg_state[g, G_LAST_ACT] = act
                bank_state[b, B_OPEN_ROW] = row
                bank_state[b, B_PRE_READY] = act + T[T_RAS]
                bank_state[b, B_CAS_READY] = act + T[T_RCD]
            end = data + T[T_BURST]
            chan_state[c, C_BUS_FREE] = end  # after an interleaved line: one burst after the first one's end
            chan_state[c, C_LAST_RANK] = r
            chan_state[c, C_LAST_W] = w
            chan_state[c, C_BUSY] += T[T_DATA]
            if T[T_HOLE] > 0:  # one line per gap: a line that filled one leaves none
                chan_state[c, C_HOLE_CAS] = NO_HOLE if into_hole else cas + T[T_HOLE]
                chan_state[c, C_HOLE_W] = w
            last_cas = cas + T[T_SPAN]  # a line wider than one burst takes several CAS commands
            chan_state[c, C_LAST_CAS] = last_cas
            bg_state[g, G_LAST_CAS] = last_cas
            if w:
                stats[S_WRITES] += 1
                rank_state[r, R_LAST_WR_END] = end
                bg_state[g, G_LAST_WR_END] = end
                bank_state[b, B_PRE_READY] = max(bank_state[b, B_PRE_READY], end + T[T_WR])
            else:
                stats[S_READS] += 1
                chan_state[c, C_LAST_RD_CAS] = max(chan_state[c, C_LAST_RD_CAS], cas)
                # tRTP counts from the line's last read command (its bursts' CAS commands span T_SPAN)
                bank_state[b, B_PRE_READY] = max(bank_state[b, B_PRE_READY], cas + T[T_SPAN] + T[T_RTP])
            if not open_page:
                bank_state[b, B_OPEN_ROW] = -1
                bank_state[b, B_ACT_READY] = bank_state[b, B_PRE_READY] + T[T_RP]
            src_bytes[source] += req_bytes
            done[i] = end + T[T_CTRL]  # ps until converted below
            refreshed = rank_state[r, R_NEXT_REF] != refreshes
            # the served bank's other requests see its new state (branch-free so it vectorises)
            open_b = bank_state[b, B_OPEN_ROW]
            hit_b = bank_state[b, B_CAS_READY]
            if open_b >= 0:  # as _bank_ready: a conflict precharges first
                miss_b, miss_add = bank_state[b, B_PRE_READY], T[T_RP] + T[T_RCD]
            else:
                miss_b, miss_add = bank_state[b, B_ACT_READY], T[T_RCD]
            if not open_page:
                open_b = -1
            rfloor[r] = _rank_act_floor(rank_state, r, T)  # the keys read it for requests that need an activate
            for e in range(wn):
                hit = wrow[e] == open_b
                fresh = max(wissue[e], hit_b if hit else miss_b) + (0 if hit else miss_add)
                mine = wbank[e] == b
                wready[e] = fresh if mine else wready[e]
                wact[e] = (0 if hit else 1) if mine else wact[e]
            if T[T_HOLE] > 0:  # the served bank group's other requests see its new last CAS
                gcas = last_cas + T[T_CCD_L]
                for e in range(wn):
                    wgcas[e] = gcas if wgroup[e] == g else wgcas[e]
            if refreshed:
                recheck_at = -1
                for e in range(wn):
                    if rank[wreq[e]] == r:
                        wready[e] = _bank_ready(bank_state, wbank[e], wrow[e], open_page, wissue[e], T)
                        wact[e] = 0 if open_page and bank_state[wbank[e], B_OPEN_ROW] == wrow[e] else 1
    last = np.int64(0)
    for i in range(n):
        done[i] = np.int64(math.ceil(done[i] / ps_per_cycle - 1e-9))
        last = max(last, done[i])
    return last
