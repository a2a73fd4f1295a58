"""Exhaustive tiling search with exact pruning, in one numba kernel per layer.

For a loop nest (per-core dims G, K, C, P, Q with an R x S window) the kernel
enumerates tile sizes (tg, tk, tc, tp, tq) from each dimension's ceil
candidates (`nest.ceil_candidates`: for a given tile count the smallest tile
dominates every larger one) and the six orders of the k, c and spatial loops
(groups always outermost), keeps the tilings whose tiles fit half of each
buffer (double buffering), and for five objectives keeps the best candidate:

* ``none``, ``weights``, ``inputs``, ``both``: DRAM bytes when that set of
  tensors is resident in the cache region (read from DRAM once) and the rest
  bypasses the cache (every tile fetch is a DRAM read);
* ``unmanaged``: a plain NPU compiler that treats the cache as memory: the
  fastest tiling with the bytes between the LLC and the cores moved at the
  link bandwidth (the fewest such bytes when no bandwidth is given).

Ties are broken by fewer cycles. Residency footprints do not depend on the
tiling, so the budget ladder is resolved afterwards from these five winners.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from cache_models.kernel_cache import forget_if_callees_changed

from ..npu import scalar
from ..npu.scalar import HW_ROWS, HW_STREAM_DIM, chained_fold_cycles, tile_cycles
from .nest import LoopNest, ceil_candidates, split_candidates
from .tilers import FixedTiling

forget_if_callees_changed(__file__, scalar.__file__)  # conv_tile_cycles has tile_cycles compiled in

# loop orders: outer -> inner over (k=0, c=1, s=2); g is always outermost
ORDERS = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], dtype=np.int64)
ORDER_NAMES = tuple("g>" + ">".join("kcs"[i] for i in o) for o in ORDERS.tolist())

OBJECTIVES = ("none", "weights", "inputs", "both", "unmanaged")
OBJ_NONE, OBJ_WEIGHTS, OBJ_INPUTS, OBJ_BOTH, OBJ_UNMANAGED = range(5)

# fields of a result row (`_search` returns float64 [len(OBJECTIVES), len(FIELDS)])
FIELDS = (
    "found", "tile_g", "tile_k", "tile_c", "tile_p", "tile_q", "order", "compute_cycles", "steps",
    "in_traffic_bytes", "w_traffic_bytes", "partial_bytes", "in_unique_bytes", "w_unique_bytes",
    "out_bytes", "objective_bytes",
)
FI = {name: i for i, name in enumerate(FIELDS)}


@nb.njit(cache=True)
def span_sum(n_out, tile, stride, window, pad, extent, first=0):
    """Sum over tiles of the input rows (or columns) each tile reads, and the
    most any tile reads, for output rows first .. first + n_out - 1 (a core's
    share). Padding is not read; with a stride larger than the window the rows
    in between are skipped, not read."""
    total = 0
    largest = 0
    start = first
    n_out += first
    while start < n_out:
        end = min(start + tile, n_out)
        lo = start * stride - pad
        hi = (end - 1) * stride - pad + window
        if stride > window:
            span = 0
            for o in range(start, end):
                a = max(o * stride - pad, 0)
                b = min(o * stride - pad + window, extent)
                if b > a:
                    span += b - a
        else:
            lo = max(lo, 0)
            hi = min(hi, extent)
            span = hi - lo if hi > lo else 0
        total += span
        largest = max(largest, span)
        start = end
    return total, largest


def window_span(tile: int, stride: int, window: int, extent: int) -> int:
    """Input rows an interior tile of `tile` output rows holds in its buffer."""
    if stride > window:
        return min(extent, tile * window)
    return min(extent, (tile - 1) * stride + window)


@nb.njit(cache=True)
def refetch_count(trips, order, rel_k, rel_c, rel_s):
    """How many times an operand's whole tensor is streamed over the k/c/s loops.

    Its tiles are reloaded when a loop it depends on advances, so every
    iteration of an irrelevant loop that sits outside its innermost relevant
    (non-trivial) loop streams the whole tensor again; trips = (T_k, T_c, T_s).
    """
    innermost = -1
    for pos in range(3):
        d = order[pos]
        rel = rel_k if d == 0 else (rel_c if d == 1 else rel_s)
        if rel and trips[d] > 1:
            innermost = pos
    count = 1
    for pos in range(innermost):
        d = order[pos]
        rel = rel_k if d == 0 else (rel_c if d == 1 else rel_s)
        if not rel:
            count *= trips[d]
    return count


@nb.njit(cache=True)
def output_visits(trips, order):
    """Visits per output tile: >1 when the reduction loop sits outside a k or s loop."""
    innermost = -1
    for pos in range(3):
        d = order[pos]
        if d != 1 and trips[d] > 1:
            innermost = pos
    v = 1
    for pos in range(innermost + 1):
        if order[pos] == 1:
            v *= trips[1]
    return v


@nb.njit(cache=True)
def _classes(dim, tile):
    """(full size, full count, remainder size, remainder count) of a tiled dimension."""
    full = dim // tile
    rem = dim - full * tile
    return tile, full, rem, 1 if rem > 0 else 0


@nb.njit(cache=True)
def command_rows(rows, min_rows, block):
    """Rows streamed by computes of at most `block` rows each over `rows` rows, where
    a compute streams at least `min_rows` (the last, shorter one is padded)."""
    full = rows // block
    rem = rows - full * block
    return full * block + (max(rem, min_rows) if rem > 0 else 0)


@nb.njit(cache=True)
def last_command_rows(rows, min_rows, block):
    """Rows the last of those computes streams."""
    rem = rows % block
    return max(rem, min_rows) if rem > 0 else block


@nb.njit(cache=True)
def conv_tile_cycles(p, q, n, c, rs, g, hw, per_window):
    """Cycles of a conv tile of p x q outputs: im2col puts R*S*C on the array's
    reduction side; per-window lowering (per_window > 0, Gemmini's conv engine) runs
    one GEMM per kernel position, its computes of at most an array's rows each (one
    output row at a time, a 1x1 conv's pixels flattened) streaming at least
    per_window rows. Where the pixels stream (ws), the positions' folds run back to
    back as Gemmini's conv loop issues them, each next preload riding on a fold's
    last compute (`chained_fold_cycles`)."""
    if per_window:
        block = hw[HW_ROWS]
        # computes cover one output row (a 1x1 conv: all its pixels, flattened) at a time
        rows, reps = (q, p) if rs > 1 else (p * q, 1)
        m = reps * command_rows(rows, per_window, block)
        last = last_command_rows(rows, per_window, block)
        if hw[HW_STREAM_DIM] == 0:
            return chained_fold_cycles(m, last, n, c, rs, g, hw)
        return rs * tile_cycles(m, n, c, g, hw)
    return tile_cycles(p * q, n, c * rs, g, hw)


@nb.njit(cache=True)
def array_cycles(Gc, Kc, C, Pc, Qc, R, S, tg, tk, tc, tp, tq, hw, per_window):
    """Compute cycles of all tiles of one core: tiles come in at most two sizes
    per dimension (full and remainder), so 32 classes cover them exactly."""
    g0, gn0, g1, gn1 = _classes(Gc, tg)
    k0, kn0, k1, kn1 = _classes(Kc, tk)
    c0, cn0, c1, cn1 = _classes(C, tc)
    p0, pn0, p1, pn1 = _classes(Pc, tp)
    q0, qn0, q1, qn1 = _classes(Qc, tq)
    total = 0
    for a in range(2):
        gs, gn = (g0, gn0) if a == 0 else (g1, gn1)
        if gn == 0:
            continue
        for b in range(2):
            ks, kn = (k0, kn0) if b == 0 else (k1, kn1)
            if kn == 0:
                continue
            for c in range(2):
                cs, cn = (c0, cn0) if c == 0 else (c1, cn1)
                if cn == 0:
                    continue
                for p in range(2):
                    ps, pn = (p0, pn0) if p == 0 else (p1, pn1)
                    if pn == 0:
                        continue
                    for q in range(2):
                        qs, qn = (q0, qn0) if q == 0 else (q1, qn1)
                        if qn == 0:
                            continue
                        total += gn * kn * cn * pn * qn * conv_tile_cycles(ps, qs, ks, cs, R * S, gs, hw,
                                                                           per_window)
    return total


@nb.njit(cache=True)
def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


@nb.njit(cache=True)
def piece_waste(run, block, line):
    """Bytes moved per useful byte when blocks of `block` bytes, laid end to end
    from a line-aligned base, are cut into pieces of `run` bytes (the last one
    shorter) and every piece is fetched as whole lines (>= 1): `split_piece_waste`
    with each block one core's chunk."""
    return split_piece_waste(run, block, block, line)


@nb.njit(cache=True)
def _cut_lines(offset, length, run, line):
    """Lines fetched when `length` bytes from `offset` (mod line) are cut into
    pieces of `run` bytes (the last one shorter), each fetched as whole lines.
    A piece's lines depend on its start mod line, which repeats every
    line / gcd(run, line) pieces."""
    full = length // run
    rem = length - full * run
    period = line // _gcd(run, line)
    per_period = 0
    head = 0
    for i in range(min(full, period)):
        o = (offset + i * run) % line
        n = (o + run - 1) // line + 1
        per_period += n
        if i < full % period:
            head += n
    total = (full // period) * per_period + head if full >= period else per_period
    if rem > 0:
        o = (offset + full * run) % line
        total += (o + rem - 1) // line + 1
    return total


@nb.njit(cache=True)
def split_piece_waste(run, chunk, block, line):
    """`piece_waste` of blocks split over cores first: each block of `block`
    bytes (laid end to end from a line-aligned base) is dealt out in chunks of
    `chunk` bytes, one per core (the last shorter), and every chunk is cut into
    pieces of `run` bytes. A core's chunk starts where the previous one ends,
    so its pieces need not start on a line (output channels 240 to a core)."""
    if run <= 0 or block <= 0:
        return 1.0
    chunk = min(max(chunk, 1), block)
    run = min(run, chunk)
    n_blocks = line // _gcd(block, line)
    total = 0
    for b in range(n_blocks):
        start = 0
        while start < block:
            length = min(chunk, block - start)
            total += _cut_lines((b * block + start) % line, length, run, line)
            start += chunk
    return total * line / (n_blocks * block)


# rows of the line-waste table `waste_tables` builds (per candidate tile size)
W_IN_C, W_IN_G, W_IN_Q, W_IN_P, W_W_C, W_W_K, W_W_G, W_O_K, W_O_G, W_O_Q, W_O_P, W_A_K, W_A_G, W_A_Q, W_A_P = range(15)


def waste_tables(nest: LoopNest, cg, ck, cc, cp, cq, rows_max, cols_max, line: int) -> np.ndarray:
    """Line waste of each operand's contiguous runs, per candidate tile size.

    Which dimension sets the run length depends on which tiles are whole:
    channels innermost (NHWC; [G][rows][C] for group-major ops), then groups,
    then columns, then rows. The kernel picks the row that applies.
    """
    G, K, C, W, Q, H, P = nest.G, nest.K, nest.C, nest.W, nest.Q, nest.H, nest.P
    Gc, Kc, Pc, Qc = nest.Gc, nest.Kc, nest.Pc, nest.Qc  # a core's share: where its runs start
    R, S = nest.R, nest.S
    ie, we, oe, ae = nest.in_eb, nest.w_eb, nest.out_eb, nest.acc_eb
    g_outer = nest.op in ("matmul", "lstm")
    n = max(len(cg), len(ck), len(cc), len(cp), len(cq))
    t = np.ones((15, n))
    for i, tc in enumerate(cc):
        t[W_IN_C, i] = piece_waste(tc * ie, C * ie, line)
        t[W_W_C, i] = piece_waste(tc * we, C * we, line)
    for i, tg in enumerate(cg):
        t[W_IN_G, i] = split_piece_waste(tg * C * ie, Gc * C * ie, G * C * ie, line)
        t[W_W_G, i] = piece_waste((1 if nest.weights_shared_by_groups else tg) * K * R * S * C * we,
                                  (1 if nest.weights_shared_by_groups else G) * K * R * S * C * we, line)
        t[W_O_G, i] = split_piece_waste(tg * K * oe, Gc * K * oe, G * K * oe, line)
        t[W_A_G, i] = split_piece_waste(tg * K * ae, Gc * K * ae, G * K * ae, line)
    for i, tk in enumerate(ck):
        t[W_W_K, i] = piece_waste(tk * R * S * C * we, K * R * S * C * we, line)
        t[W_O_K, i] = split_piece_waste(tk * oe, Kc * oe, K * oe, line)
        t[W_A_K, i] = split_piece_waste(tk * ae, Kc * ae, K * ae, line)
    skips = nest.stride > nest.S  # windows skip columns: each pixel is its own run
    for i, tq in enumerate(cq):
        t[W_IN_Q, i] = piece_waste((1 if skips else int(cols_max[i])) * G * C * ie, W * G * C * ie, line)
        t[W_O_Q, i] = split_piece_waste(tq * G * K * oe, Qc * G * K * oe, Q * G * K * oe, line)
        t[W_A_Q, i] = split_piece_waste(tq * G * K * ae, Qc * G * K * ae, Q * G * K * ae, line)
    for i, tp in enumerate(cp):
        if g_outer:
            t[W_IN_P, i] = piece_waste(int(rows_max[i]) * C * ie, H * C * ie, line)
            t[W_O_P, i] = split_piece_waste(tp * K * oe, Pc * K * oe, P * K * oe, line)
            t[W_A_P, i] = split_piece_waste(tp * K * ae, Pc * K * ae, P * K * ae, line)
        else:
            if skips:
                t[W_IN_P, i] = t[W_IN_Q, 0]
            elif nest.stride > nest.R:  # skipped rows: one run per row read
                t[W_IN_P, i] = piece_waste(W * G * C * ie, W * G * C * ie, line)
            else:
                t[W_IN_P, i] = piece_waste(int(rows_max[i]) * W * G * C * ie, H * W * G * C * ie, line)
            t[W_O_P, i] = split_piece_waste(tp * Q * G * K * oe, Pc * Q * G * K * oe, P * Q * G * K * oe, line)
            t[W_A_P, i] = split_piece_waste(tp * Q * G * K * ae, Pc * Q * G * K * ae, P * Q * G * K * ae, line)
    return t


@nb.njit(cache=True)
def operand_waste(wt, ig, ik, ic, ip, iq, tg, tk, tc, tq, C, G_all, K_all, W_cols, Q_all, g_outer):
    """(inputs, weights, outputs, partial sums) line waste of one tiling, from the table."""
    if g_outer:
        e_in = wt[W_IN_C, ic] if tc < C else wt[W_IN_P, ip]
        e_out = wt[W_O_K, ik] if tk < K_all else wt[W_O_P, ip]
        e_acc = wt[W_A_K, ik] if tk < K_all else wt[W_A_P, ip]
    else:
        if tc < C:
            e_in = wt[W_IN_C, ic]
        elif tg < G_all:
            e_in = wt[W_IN_G, ig]
        elif W_cols:
            e_in = wt[W_IN_Q, iq]
        else:
            e_in = wt[W_IN_P, ip]
        if tk < K_all:
            e_out, e_acc = wt[W_O_K, ik], wt[W_A_K, ik]
        elif tg < G_all:
            e_out, e_acc = wt[W_O_G, ig], wt[W_A_G, ig]
        elif tq < Q_all:
            e_out, e_acc = wt[W_O_Q, iq], wt[W_A_Q, iq]
        else:
            e_out, e_acc = wt[W_O_P, ip], wt[W_A_P, ip]
    if tc < C:
        e_w = wt[W_W_C, ic]
    elif tk < K_all:
        e_w = wt[W_W_K, ik]
    else:
        e_w = wt[W_W_G, ig]
    return e_in, e_w, e_out, e_acc


@nb.njit(cache=True)
def weight_tile_waste(tg, tk, tc, R, S, G_all, K_all, C, shared_w, eb, line):
    """Weights are laid out in tile order: a tile is one run per group, and the
    groups of a tile that holds all of each group's weights follow each other:
    one run for the whole tile (a depthwise conv's 9-byte filters are not a line each)."""
    groups = 1 if shared_w else G_all
    run = tk * tc * R * S * eb
    if not shared_w and tk >= K_all and tc >= C:
        run *= tg
    return piece_waste(run, groups * K_all * C * R * S * eb, line)


@nb.njit(cache=True)
def _better(obj, cyc, best_obj, best_cyc):
    return obj < best_obj or (obj == best_obj and cyc < best_cyc)


@nb.njit(cache=True)
def search(dims, cand_g, cand_k, cand_c, cand_p, cand_q, rows_sum, rows_max, cols_sum, cols_max,
           eb, buffers, factors, shared_w, hw, mem_layout, wt, tie_tolerance, time_model, orders):
    """Best tiling per objective: the fewest cycles among the tilings whose
    bytes are within `tie_tolerance` of the fewest (then the fewest bytes).
    Two passes over the candidates: the first finds the fewest bytes, the
    second computes cycles only for the tilings close enough to it. The
    unmanaged objective instead takes the fastest predicted time, max(compute,
    memory) + alpha min(compute, memory), with memory = LLC bytes over
    time_model[0] (the cores' link bandwidth) and alpha = time_model[1].
    `orders` lists the indexes into ORDERS to try (a fixed tiling tries one).

    dims = (Gc, Kc, C, Pc, Qc, R, S); rows_sum/rows_max (cols_*) are indexed
    like cand_p (cand_q); eb = (in, weight, out, acc) bytes per element;
    buffers = (input, weight, accumulator, scratchpad) bytes, scratchpad > 0
    meaning one buffer shared by inputs and weights; factors = tenant scale
    (inputs, weights, outputs) for DRAM (multicast) and (inputs, weights) for
    LLC traffic (no multicast); mem_layout = (line bytes, G, K, W, Q,
    groups_outer, weights_are_activations, per-window conv lowering) of the whole layer and wt its `waste_tables`, to charge
    every fetch whole lines.
    """
    Gc, Kc, C, Pc, Qc, R, S = dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6]
    in_eb, w_eb, out_eb, acc_eb = eb[0], eb[1], eb[2], eb[3]
    in_buf, w_buf, acc_buf, spad = buffers[0], buffers[1], buffers[2], buffers[3]
    f_in, f_w, f_out, f_in_llc, f_w_llc = factors[0], factors[1], factors[2], factors[3], factors[4]
    n_obj = 5
    best = np.full((n_obj, 16), np.inf)
    best[:, 0] = 0.0
    best_cyc = np.full(n_obj, np.inf)
    trips = np.zeros(3, dtype=np.int64)
    cand_val = np.empty(n_obj)
    cand_order = np.zeros(n_obj, dtype=np.int64)
    cand_in = np.empty(n_obj)
    cand_w = np.empty(n_obj)
    cand_part = np.empty(n_obj)
    w_groups_full = 1 if shared_w else Gc
    w_unique = float(w_groups_full * Kc * C * R * S * w_eb)
    in_unique = float(Gc * C * rows_sum[0] * cols_sum[0] * in_eb)  # one tile = the core's input
    out_elems = Gc * Kc * Pc * Qc
    out_bytes = float(out_elems * out_eb)
    line = mem_layout[0]
    G_all, K_all, W_all, Q_all, g_outer = mem_layout[1], mem_layout[2], mem_layout[3], mem_layout[4], mem_layout[5]
    w_act = mem_layout[6]
    per_window = mem_layout[7]
    link_bpc, alpha = time_model[0], time_model[1]
    fewest = np.full(n_obj, np.inf)
    for pass_ in range(2):
        for ig in range(cand_g.shape[0]):
            tg = cand_g[ig]
            Tg = -(-Gc // tg)
            for ik in range(cand_k.shape[0]):
                tk = cand_k[ik]
                Tk = -(-Kc // tk)
                for ic in range(cand_c.shape[0]):
                    tc = cand_c[ic]
                    Tc = -(-C // tc)
                    w_tile = (1 if shared_w else tg) * tk * tc * R * S * w_eb
                    if spad == 0 and 2 * w_tile > w_buf:
                        continue
                    for ip in range(cand_p.shape[0]):
                        tp = cand_p[ip]
                        Tp = -(-Pc // tp)
                        for iq in range(cand_q.shape[0]):
                            tq = cand_q[iq]
                            Tq = -(-Qc // tq)
                            in_tile = tg * tc * rows_max[ip] * cols_max[iq] * in_eb
                            acc_tile = tg * tk * tp * tq * acc_eb
                            if 2 * acc_tile > acc_buf:
                                continue
                            if spad > 0:
                                if 2 * (in_tile + w_tile) > spad:
                                    continue
                            elif 2 * in_tile > in_buf:
                                continue
                            steps = Tg * Tk * Tc * Tp * Tq
                            in_dist = float(Gc * C * rows_sum[ip] * cols_sum[iq] * in_eb)
                            # whole-line transfers: short contiguous runs waste the rest of each line
                            e_in, e_w, e_out, e_acc = operand_waste(wt, ig, ik, ic, ip, iq, tg, tk, tc, tq, C, G_all,
                                                                    K_all, cols_max[iq] < W_all, Q_all, g_outer)
                            if not w_act:  # constant weights: tile-major layout (a matmul's B is an activation)
                                e_w = weight_tile_waste(tg, tk, tc, R, S, G_all, K_all, C, shared_w, w_eb, line)
                            trips[0] = Tk
                            trips[1] = Tc
                            trips[2] = Tp * Tq
                            # best order per objective for this tiling (cycles do not depend on order)
                            for obj in range(n_obj):
                                cand_val[obj] = np.inf
                            for oi in range(orders.shape[0]):
                                o = orders[oi]
                                order = ORDERS[o]
                                m_in = refetch_count(trips, order, False, True, True)
                                m_w = refetch_count(trips, order, True, True, False)
                                if shared_w and Tg > 1 and Tk * Tc > 1:
                                    m_w *= Tg  # one weight matrix reloaded for every group (timestep)
                                v = output_visits(trips, order)
                                partial = float(2 * (v - 1) * out_elems * acc_eb) * e_acc  # spill + reload
                                in_traffic = in_dist * m_in * e_in
                                w_traffic = w_unique * m_w * e_w
                                for obj in range(n_obj):
                                    if obj == 0:
                                        val = f_in * in_traffic + f_w * w_traffic
                                    elif obj == 1:
                                        val = f_in * in_traffic + f_w * w_unique
                                    elif obj == 2:
                                        val = f_in * in_unique + f_w * w_traffic
                                    elif obj == 3:
                                        val = f_in * in_unique + f_w * w_unique
                                    else:
                                        val = f_in_llc * in_traffic + f_w_llc * w_traffic
                                    val += f_out * (partial + out_bytes * e_out)
                                    if val < cand_val[obj]:
                                        cand_val[obj] = val
                                        cand_order[obj] = o
                                        cand_in[obj] = in_traffic
                                        cand_w[obj] = w_traffic
                                        cand_part[obj] = partial
                            if pass_ == 0:
                                for obj in range(n_obj):
                                    fewest[obj] = min(fewest[obj], cand_val[obj])
                                continue
                            cyc = -1.0
                            for obj in range(n_obj):
                                if obj == OBJ_UNMANAGED and link_bpc > 0:
                                    # a plain NPU compiler: the fastest tiling when the cache is just
                                    # memory (LLC bytes over the cores' link bandwidth); then the fewest bytes
                                    mem_t = cand_val[obj] / link_bpc
                                    if mem_t > best_cyc[obj]:
                                        continue  # cannot beat the best even with free compute
                                    if cyc < 0:
                                        cyc = float(array_cycles(Gc, Kc, C, Pc, Qc, R, S, tg, tk, tc, tp, tq, hw,
                                                                 per_window))
                                    key = max(cyc, mem_t) + alpha * min(cyc, mem_t)
                                elif cand_val[obj] > fewest[obj] * (1.0 + tie_tolerance):
                                    continue
                                else:
                                    if cyc < 0:
                                        cyc = float(array_cycles(Gc, Kc, C, Pc, Qc, R, S, tg, tk, tc, tp, tq, hw,
                                                                 per_window))
                                    key = cyc
                                if _better(key, cand_val[obj], best_cyc[obj], best[obj, 15]):
                                    best_cyc[obj] = key
                                    row = best[obj]
                                    row[0] = 1.0
                                    row[1] = tg
                                    row[2] = tk
                                    row[3] = tc
                                    row[4] = tp
                                    row[5] = tq
                                    row[6] = cand_order[obj]
                                    row[7] = cyc
                                    row[8] = steps
                                    row[9] = cand_in[obj]
                                    row[10] = cand_w[obj]
                                    row[11] = cand_part[obj]
                                    row[12] = in_unique
                                    row[13] = w_unique
                                    row[14] = out_bytes * e_out
                                    row[15] = cand_val[obj]
    return best


@nb.njit(cache=True)
def core_span_sum(total, per_core, tile, stride, window, pad, extent):
    """A core's input span summed over its tiles, for a split of `total` output rows into
    shares of `per_core`: the sum over every core's share x per_core / total, so that the
    plan's per-core -> tenant factor (total / per_core) gives the sum over the cores. The
    first core's share is clipped by the top padding, the last one's by the bottom, the
    others read their full halos: no one core stands for all."""
    summed = 0
    first = 0
    while first < total:
        summed += span_sum(min(per_core, total - first), tile, stride, window, pad, extent, first)[0]
        first += per_core
    return summed * per_core / total


def _spans(total: int, per_core: int, cands: list[int], stride: int, window: int, pad: int, extent: int):
    """Per candidate tile: a core's input span summed over tiles (core_span_sum), and
    the span of an interior tile (no padding clipped), which is what a buffer must hold."""
    sums = np.empty(len(cands), dtype=np.float64)
    maxes = np.empty(len(cands), dtype=np.int64)
    for i, t in enumerate(cands):
        sums[i] = core_span_sum(total, per_core, t, stride, window, pad, extent)
        maxes[i] = window_span(t, stride, window, extent)
    return sums, maxes


def channel_candidates(dim: int, per_line: int) -> list[int]:
    """Ceil candidates plus the sizes that are whole multiples of a line's
    elements: with whole-line transfers, a tile of the same count but a
    line-multiple size can waste less of each line."""
    cands = set(ceil_candidates(dim))
    if per_line > 1:
        cands.update(range(per_line, dim + 1, per_line))
    return sorted(cands, reverse=True)


def tenant_factors(nest: LoopNest) -> np.ndarray:
    """Per-core -> tenant scale factors: (inputs, weights, outputs) for DRAM
    with multicast of the shared operand, and (inputs, weights) at the LLC."""
    fk = nest.K / nest.Kc
    fg = nest.G / nest.Gc
    fp = nest.P / nest.Pc
    fq = nest.Q / nest.Qc
    f_in = fg * fp * fq
    f_w = fk * (1.0 if nest.weights_shared_by_groups else fg)
    f_out = fk * fg * fp * fq
    f_in_llc = f_in * fk  # without multicast every core reads its own copy
    f_w_llc = f_w * fp * fq * (fg if nest.weights_shared_by_groups else 1.0)
    if nest.op == "embedding":
        # a core's table rows are those of its own lookups (rows of the split): no core shares them
        f_w = f_w_llc = fk * fg * fp * fq
    return np.array([f_in, f_w, f_out, f_in_llc, f_w_llc], dtype=np.float64)


def search_layer(nest: LoopNest, buffers: np.ndarray, hw: np.ndarray, line_bytes: int,
                 tie_tolerance: float = 0.0, per_window: int = 0, link_bytes_per_cycle: float = 0.0,
                 overlap_alpha: float = 0.0, fixed: FixedTiling | None = None) -> np.ndarray:
    """Run the kernel for an array op; returns [5 objectives x len(FIELDS)].
    With link_bytes_per_cycle = 0 the unmanaged objective is the fewest LLC bytes.
    `fixed` (a tiler's choice, `tilers.py`) replaces the candidates with its
    one tiling and order, so every objective gets it, costed the same way."""
    Gc, Kc, Pc, Qc = nest.Gc, nest.Kc, nest.Pc, nest.Qc
    H_core = min(nest.H, (Pc - 1) * nest.stride + nest.R)
    W_core = min(nest.W, (Qc - 1) * nest.stride + nest.S)
    cand_p = split_candidates(nest.P, Pc) if fixed is None else [fixed.tp]
    cand_q = split_candidates(nest.Q, Qc) if fixed is None else [fixed.tq]
    # spans of a core, over the cores of the split; index 0 is the whole core
    rows_sum, rows_max = _spans(nest.P, Pc, cand_p, nest.stride, nest.R, nest.padding, max(nest.H, H_core))
    cols_sum, cols_max = _spans(nest.Q, Qc, cand_q, nest.stride, nest.S, nest.padding, max(nest.W, W_core))
    dims = np.array([Gc, Kc, nest.C, Pc, Qc, nest.R, nest.S], dtype=np.int64)
    eb = np.array([nest.in_eb, nest.w_eb, nest.out_eb, nest.acc_eb], dtype=np.int64)
    # channel-like dims are the contiguous ones: also try tiles whose runs fill whole lines
    per_line = max(1, line_bytes // max(1, min(nest.in_eb, nest.w_eb, nest.out_eb)))
    cand_g = channel_candidates(Gc, per_line if nest.C == 1 else 0)
    cand_k = channel_candidates(Kc, per_line)
    cand_c = channel_candidates(nest.C, per_line)
    orders = np.arange(len(ORDERS), dtype=np.int64)
    if fixed is not None:
        cand_g, cand_k, cand_c = [fixed.tg], [fixed.tk], [fixed.tc]
        orders = np.array([fixed.order], dtype=np.int64)
    wt = waste_tables(nest, cand_g, cand_k, cand_c, cand_p, cand_q, rows_max, cols_max, line_bytes)
    return search(
        dims, np.array(cand_g, dtype=np.int64), np.array(cand_k, dtype=np.int64),
        np.array(cand_c, dtype=np.int64), np.array(cand_p, dtype=np.int64),
        np.array(cand_q, dtype=np.int64), rows_sum, rows_max, cols_sum, cols_max,
        eb, buffers, tenant_factors(nest), nest.weights_shared_by_groups, hw,
        np.array([line_bytes, nest.G, nest.K, nest.W, nest.Q, int(nest.op in ("matmul", "lstm")),
                  int(nest.weights_are_activations), int(per_window) if nest.op in ("conv", "dwconv") else 0],
                 dtype=np.int64), wt, tie_tolerance, np.array([link_bytes_per_cycle, overlap_alpha]), orders,
    )


def vector_best(nest: LoopNest, buffers: np.ndarray, vec: np.ndarray, line_bytes: int,
                fixed: FixedTiling | None = None) -> np.ndarray:
    """The plan of a pool/eltwise/embedding layer in the same [objective x field] form.

    Vector ops have no reuse to trade: every input element is read once per
    tile that needs it (pool windows overlap across tile borders) and every
    output written once. The tiling takes the largest tiles whose operands fit
    half the input buffer (or scratchpad): whole channel groups, then rows,
    then columns; all five objectives share it. vec = (elements per cycle,
    overhead cycles per tile, _, _, overlap) of the vector path; without overlap
    (vec[4] = 0) a tile may take the whole buffer, as nothing is fetched beside it.
    `fixed` (a tiler's choice) is the only candidate: its channels, rows and columns.
    """
    from ..npu.scalar import vector_tile_cycles

    Gc, Pc, Qc = nest.Gc, nest.Pc, nest.Qc
    in_buf = buffers[3] if buffers[3] > 0 else buffers[0]
    n_ops = nest.n_inputs
    embedding = nest.op == "embedding"
    per_line = max(1, line_bytes // max(1, nest.in_eb))
    chosen = None
    best_key = None
    # the fewest bytes moved (whole lines), then the fewest tiles
    cand_g = channel_candidates(Gc, per_line) if fixed is None else [fixed.tg]
    cand_p = split_candidates(nest.P, Pc) if fixed is None else [fixed.tp]
    cand_q = split_candidates(nest.Q, Qc) if fixed is None else [fixed.tq]
    for tg in cand_g:
        for tp in cand_p:
            for tq in cand_q:
                rows = window_span(tp, nest.stride, nest.R, nest.H)
                cols = window_span(tq, nest.stride, nest.S, nest.W)
                if embedding:
                    tile_bytes = tp * nest.Kc * nest.w_eb  # table rows gathered per tile
                else:
                    tile_bytes = n_ops * tg * rows * cols * nest.in_eb
                if (2 if vec[4] else 1) * tile_bytes > in_buf:
                    continue
                r_sum = core_span_sum(nest.P, Pc, tp, nest.stride, nest.R, nest.padding, nest.H)
                c_sum = core_span_sum(nest.Q, Qc, tq, nest.stride, nest.S, nest.padding, nest.W)
                e_in, e_out = _vector_waste(nest, tg, tp, tq, rows, cols, line_bytes)
                moved = (n_ops * Gc * r_sum * c_sum * nest.in_eb * e_in
                         + Gc * nest.Kc * Pc * Qc * nest.out_eb * e_out)
                key = (moved, -(-Gc // tg) * -(-Pc // tp) * -(-Qc // tq))
                if best_key is None or key < best_key:
                    best_key, chosen = key, (tg, tp, tq)
    best = np.zeros((len(OBJECTIVES), len(FIELDS)))
    if chosen is None:
        return best  # nothing fits: found = 0
    tg, tp, tq = chosen
    rows_sum = core_span_sum(nest.P, Pc, tp, nest.stride, nest.R, nest.padding, nest.H)
    cols_sum = core_span_sum(nest.Q, Qc, tq, nest.stride, nest.S, nest.padding, nest.W)
    rows_all = core_span_sum(nest.P, Pc, Pc, nest.stride, nest.R, nest.padding, nest.H)
    cols_all = core_span_sum(nest.Q, Qc, Qc, nest.stride, nest.S, nest.padding, nest.W)
    rows_max = window_span(tp, nest.stride, nest.R, nest.H)
    cols_max = window_span(tq, nest.stride, nest.S, nest.W)
    e_in, e_out = _vector_waste(nest, tg, tp, tq, rows_max, cols_max, line_bytes)
    if embedding:
        in_traffic = in_unique = 0.0
        w_unique = float(Pc * nest.Kc * nest.w_eb)
        w_traffic = w_unique * piece_waste(nest.Kc * nest.w_eb, nest.K * nest.w_eb, line_bytes)
    else:
        in_traffic = float(n_ops * Gc * rows_sum * cols_sum * nest.in_eb) * e_in
        in_unique = float(n_ops * Gc * rows_all * cols_all * nest.in_eb)
        w_traffic = w_unique = 0.0
    ops = nest.R * nest.S if nest.op == "pool" else (n_ops if nest.op == "eltwise" else 1)
    cycles = 0
    for gs, gn in _size_counts(Gc, tg):
        for ps, pn in _size_counts(Pc, tp):
            for qs, qn in _size_counts(Qc, tq):
                elems = gs * ps * qs * (nest.Kc if embedding else 1)
                cycles += gn * pn * qn * int(vector_tile_cycles(elems, vec[0], ops, vec[1]))
    steps = -(-Gc // tg) * -(-Pc // tp) * -(-Qc // tq)
    out_bytes = float(Gc * nest.Kc * Pc * Qc * nest.out_eb) * e_out
    row = np.array([1.0, tg, nest.Kc, 1, tp, tq, 0, cycles, steps, in_traffic, w_traffic, 0.0, in_unique, w_unique,
                    out_bytes, 0.0])
    for obj in range(len(OBJECTIVES)):
        best[obj] = row
    return best


def _vector_waste(nest: LoopNest, tg: int, tp: int, tq: int, rows: int, cols: int, line: int):
    """(input, output) line waste of a vector-op tile (channels innermost, NHWC)."""
    G, K, W, Q, H, P = nest.G, nest.K, nest.W, nest.Q, nest.H, nest.P
    ie, oe = nest.in_eb, nest.out_eb
    if tg < G:
        e_in = split_piece_waste(tg * ie, nest.Gc * ie, G * ie, line)
        e_out = split_piece_waste(tg * K * oe, nest.Gc * K * oe, G * K * oe, line)
    elif cols < W or tq < Q:
        e_in = piece_waste(cols * G * ie, W * G * ie, line)
        e_out = piece_waste(tq * G * K * oe, Q * G * K * oe, line)
    else:
        e_in = piece_waste(rows * W * G * ie, H * W * G * ie, line)
        e_out = piece_waste(tp * Q * G * K * oe, P * Q * G * K * oe, line)
    return e_in, e_out


def _size_counts(dim: int, tile: int) -> list[tuple[int, int]]:
    full, rem = divmod(dim, tile)
    return [(tile, full)] * bool(full) + [(rem, 1)] * bool(rem)
