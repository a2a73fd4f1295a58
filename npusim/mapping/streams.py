"""Tile address streams: the byte runs every step of a plan reads and writes.

A tenant's cores run a layer in lockstep: step i is tile i of every core
(cores whose share is smaller simply have no tile at the end). For each step
the kernel emits run-length records (start byte, length, kind, readers), in
order: the reads that fill the buffers for the step, then the writes that
drain its finished output tiles. Runs that continue the previous one are
merged, so a whole contiguous tensor is one run.

Kinds: 0 input read, 1 weight read (a matmul's second operand, an
embedding's table rows), 2 partial-sum read, 3 output write, 4 partial-sum
write. `readers` is the number of cores that consume a run: an operand every
core needs (inputs when the layer is split only over output channels,
weights when it is not split over output channels) is emitted once with
readers = cores, so a multicast read costs one transfer.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numba as nb
import numpy as np

from workloads.trace import Layer, Trace

from cache_models.kernel_cache import forget_if_callees_changed

from ..npu import scalar
from ..npu.scalar import HW_ROWS, vector_tile_cycles
from . import search
from .layout import TensorLayout
from .nest import LoopNest
from .plan import LayerPlan
from .search import ORDER_NAMES, ORDERS, conv_tile_cycles

# _generate has search's conv_tile_cycles and scalar's tile timings compiled in
forget_if_callees_changed(__file__, search.__file__, scalar.__file__)

KIND_INPUT, KIND_WEIGHT, KIND_PARTIAL_READ, KIND_OUTPUT, KIND_PARTIAL_WRITE = range(5)
KIND_NAMES = ("input", "weight", "partial_read", "output", "partial_write")

OP_ARRAY, OP_POOL, OP_ELTWISE, OP_EMBEDDING = range(4)


@nb.njit(cache=True)
def _emit(st, starts, lens, kinds, readers, start, length, kind, nread):
    """Append a run, merging it into the previous one when it continues it.

    st[6] counts DMA requests: every piece is requested on its own (a pixel's
    channels, a row of a matrix, a weight tile), in chunks of at most st[7] bytes
    (input pieces: st[10], as the layer's library moves its inputs);
    st[8] counts the writes among them again in chunks of at most st[9] bytes,
    st[11] the reads among them.
    Runs past the arrays' end are counted, not written (the caller grows them and reruns).
    """
    if length <= 0:
        return
    pieces = -(-length // (st[10] if kind == KIND_INPUT else st[7]))
    st[6] += pieces
    if kind == KIND_OUTPUT or kind == KIND_PARTIAL_WRITE:
        st[8] += -(-length // st[9])
    else:
        st[11] += pieces
    n = st[0]
    if n > 0 and st[3] == kind and st[4] == nread and st[2] == start and st[5] == 0:
        st[2] = start + length
        if n <= lens.shape[0]:
            lens[n - 1] += length
        return
    if n < starts.shape[0]:
        starts[n] = start
        lens[n] = length
        kinds[n] = kind
        readers[n] = nread
    st[0] = n + 1
    st[1] = start
    st[2] = start + length
    st[3] = kind
    st[4] = nread
    st[5] = 0


@nb.njit(cache=True)
def _barrier(st):
    """No merging across this point (between steps)."""
    st[5] = 1


@nb.njit(cache=True)
def _input_runs(st, starts, lens, kinds, readers, nread,
                g0, g1, c0, c1, h0, h1, w0, w1, G, C, H, W, groups_outer,
                seg_base, seg_c0, seg_nc, eb, stride, pad, R, S):
    """Runs of input elements: groups [g0,g1), channels [c0,c1) of each group,
    rows [h0,h1), columns [w0,w1). Channel-interleaved layouts read each
    concatenated producer (segment) for the channels it holds."""
    if groups_outer:
        # [G][H][C] (W == 1): one run per (group, row)
        for g in range(g0, g1):
            for h in range(h0, h1):
                addr = seg_base[0] + ((g * H + h) * C + c0) * eb
                _emit(st, starts, lens, kinds, readers, addr, (c1 - c0) * eb, KIND_INPUT, nread)
        return
    whole = c0 == 0 and c1 == C  # all channels of the groups: one contiguous channel range
    # one segment (producer, or an eltwise operand) at a time: its pixels continue each other
    # and merge into one run, where interleaving segments pixel by pixel would cut a run per pixel
    for s in range(seg_base.shape[0]):
        for h in range(h0, h1):
            if stride > R and (h + pad) % stride >= R:
                continue  # a row the window skips
            for w in range(w0, w1):
                if stride > S and (w + pad) % stride >= S:
                    continue
                for g in range(g0, g0 + 1 if whole else g1):
                    lo = g * C + c0
                    hi = g1 * C if whole else g * C + c1
                    a = max(lo, seg_c0[s])
                    b = min(hi, seg_c0[s] + seg_nc[s])
                    if a < b:
                        addr = seg_base[s] + ((h * W + w) * seg_nc[s] + (a - seg_c0[s])) * eb
                        _emit(st, starts, lens, kinds, readers, addr, (b - a) * eb, KIND_INPUT, nread)


@nb.njit(cache=True)
def _weight_runs(st, starts, lens, kinds, readers, nread,
                 g0, g1, k0, k1, c0, c1, K, C, R, S, shared_w, base, eb):
    """Runs of a weight tile. Weights are constants, laid out offline in tile
    order ([G][k-tile][c-tile][k][R][S][c] of the plan's tiling), so a tile is
    one contiguous run per group (one matrix for all groups if shared)."""
    gl = 0 if shared_w else g0
    gh = 1 if shared_w else g1
    rs = R * S
    for g in range(gl, gh):
        addr = base + ((g * K + k0) * C * rs + (k1 - k0) * c0 * rs) * eb
        _emit(st, starts, lens, kinds, readers, addr, (k1 - k0) * (c1 - c0) * rs * eb, KIND_WEIGHT, nread)


@nb.njit(cache=True)
def _activation_b_runs(st, starts, lens, kinds, readers, nread, g0, g1, k0, k1, c0, c1, K, C, base, eb):
    """A matmul's second operand, an activation stored [G][N][K]: one run per row."""
    for g in range(g0, g1):
        for k in range(k0, k1):
            addr = base + ((g * K + k) * C + c0) * eb
            _emit(st, starts, lens, kinds, readers, addr, (c1 - c0) * eb, KIND_WEIGHT, nread)


@nb.njit(cache=True)
def _output_runs(st, starts, lens, kinds, readers, kind,
                 g0, g1, k0, k1, p0, p1, q0, q1, G, K, P, Q, groups_outer, base, eb):
    """Runs of outputs: NHWC [P][Q][G*K], or [G][P][K] for group-major ops."""
    if groups_outer:
        for g in range(g0, g1):
            for p in range(p0, p1):
                addr = base + ((g * P + p) * K + k0) * eb
                _emit(st, starts, lens, kinds, readers, addr, (k1 - k0) * eb, kind, 1)
        return
    whole = k0 == 0 and k1 == K
    for p in range(p0, p1):
        for q in range(q0, q1):
            if whole:
                addr = base + ((p * Q + q) * G * K + g0 * K) * eb
                _emit(st, starts, lens, kinds, readers, addr, (g1 - g0) * K * eb, kind, 1)
                continue
            for g in range(g0, g1):
                addr = base + ((p * Q + q) * G * K + g * K + k0) * eb
                _emit(st, starts, lens, kinds, readers, addr, (k1 - k0) * eb, kind, 1)


@nb.njit(cache=True)
def _table_row(m, salt, rows):
    """Deterministic pseudo-random table row of lookup m (splitmix64)."""
    z = (m * 0x9E3779B97F4A7C15 + salt) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z = z ^ (z >> 31)
    return z % rows


@nb.njit(cache=True, inline="always")
def _core_tile(core, sg, sp, sq, Gc, Kc, Pc, Qc, ig, ik, ip, iq, tg, tk, tp, tq, G, K, P, Q):
    """A core's split coordinates and its tile of the step, clipped to its share and to the layer."""
    jq = core % sq
    jp = (core // sq) % sp
    jg = (core // (sq * sp)) % sg
    jk = core // (sq * sp * sg)
    cg0 = jg * Gc + ig * tg
    ck0 = jk * Kc + ik * tk
    cp0 = jp * Pc + ip * tp
    cq0 = jq * Qc + iq * tq
    return (jg, jk, jp, jq, cg0, min(min(cg0 + tg, (jg + 1) * Gc), G), ck0, min(min(ck0 + tk, (jk + 1) * Kc), K),
            cp0, min(min(cp0 + tp, (jp + 1) * Pc), P), cq0, min(min(cq0 + tq, (jq + 1) * Qc), Q))


@nb.njit(cache=True)
def _generate(starts, lens, kinds, readers, step_ptr, step_cycles, step_tail_cycles, step_requests,
              step_write_requests, step_read_requests, geom, split, tiles, order, eb, seg_base, seg_c0, seg_nc,
              bases, hw, vec):
    """One pass over all steps: writes the runs and steps that fit the arrays and
    returns how many there are (step_ptr holds one entry more than step_cycles)."""
    op, G, K, C, P, Q, R, S = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5], geom[6], geom[7]
    stride, pad, H, W, groups_outer, shared_w = geom[8], geom[9], geom[10], geom[11], geom[12], geom[13]
    table_rows, salt, w_act = geom[14], geom[15], geom[16]
    per_window = vec[2] if op == OP_ARRAY and not groups_outer else 0
    sk, sg, sp, sq = split[0], split[1], split[2], split[3]
    tg, tk, tc, tp, tq = tiles[0], tiles[1], tiles[2], tiles[3], tiles[4]
    in_eb, w_eb, out_eb, acc_eb = eb[0], eb[1], eb[2], eb[3]
    w_base, out_base, part_base = bases[0], bases[1], bases[2]
    Gc = -(-G // sg)
    Kc = -(-K // sk)
    Pc = -(-P // sp)
    Qc = -(-Q // sq)
    Tg = -(-Gc // tg)
    Tk = -(-Kc // tk)
    Tc = -(-C // tc)
    Tp = -(-Pc // tp)
    Tq = -(-Qc // tq)
    trips = np.array([Tk, Tc, Tp * Tq], dtype=np.int64)
    n_cores = sk * sg * sp * sq
    st = np.zeros(12, dtype=np.int64)
    st[7] = max(1, vec[3])  # DMA request bytes
    st[9] = max(1, vec[5])  # DMA write request bytes
    st[10] = max(1, vec[6])  # DMA request bytes of input pieces
    step = 0
    prev = np.full(5, -1, dtype=np.int64)  # g, k, c, p, q of the previous step
    idx = np.zeros(3, dtype=np.int64)
    n_steps = Tg * Tk * Tc * Tp * Tq
    for ig in range(Tg):
        for flat in range(Tk * Tc * Tp * Tq):
            # decode the k/c/s loop indices in this order (last = innermost)
            rem = flat
            for pos in range(2, -1, -1):
                d = order[pos]
                idx[d] = rem % trips[d]
                rem //= trips[d]
            ik, ic, isp = idx[0], idx[1], idx[2]
            ip, iq = isp // Tq, isp % Tq
            first = step == 0
            new_in = first or prev[0] != ig or prev[2] != ic or prev[3] != ip or prev[4] != iq
            new_w = first or prev[1] != ik or prev[2] != ic or (prev[0] != ig and not shared_w)
            if op == OP_EMBEDDING:
                new_w = new_w or prev[3] != ip or prev[4] != iq  # each row tile looks up rows of its own
            new_out_tile = first or prev[0] != ig or prev[1] != ik or prev[3] != ip or prev[4] != iq
            # is the next step on another output tile? (then this one drains)
            if step + 1 < n_steps:
                nxt = flat + 1
                ng = ig
                if nxt == Tk * Tc * Tp * Tq:
                    nxt = 0
                    ng = ig + 1
                rem = nxt
                nk = 0
                nsp = 0
                for pos in range(2, -1, -1):
                    d = order[pos]
                    v = rem % trips[d]
                    rem //= trips[d]
                    if d == 0:
                        nk = v
                    elif d == 2:
                        nsp = v
                leaving = ng != ig or nk != ik or nsp != isp
            else:
                leaving = True
            if step < step_cycles.shape[0]:
                step_ptr[step] = st[0]
            req0 = st[6]
            wreq0 = st[8]
            rreq0 = st[11]
            _barrier(st)
            max_cyc = 0
            max_tail = 0
            for core in range(n_cores):
                jg, jk, jp, jq, cg0, cg1, ck0, ck1, cp0, cp1, cq0, cq1 = _core_tile(
                    core, sg, sp, sq, Gc, Kc, Pc, Qc, ig, ik, ip, iq, tg, tk, tp, tq, G, K, P, Q)
                cc0 = ic * tc
                cc1 = min(cc0 + tc, C)
                if cg1 <= cg0 or ck1 <= ck0 or cp1 <= cp0 or cq1 <= cq0:
                    continue
                h0 = max(cp0 * stride - pad, 0)
                h1 = min((cp1 - 1) * stride - pad + R, H)
                w0 = max(cq0 * stride - pad, 0)
                w1 = min((cq1 - 1) * stride - pad + S, W)
                # reads: cores that differ only in a split the operand does not depend
                # on read the same tile, which the first of them fetches for all (multicast)
                if new_in and op != OP_EMBEDDING and jk == 0:
                    nread = sk
                    _input_runs(st, starts, lens, kinds, readers, nread, cg0, cg1, cc0, cc1, h0, h1,
                                w0, w1, G, C, H, W, groups_outer, seg_base, seg_c0, seg_nc, in_eb, stride, pad, R, S)
                if new_w and w_base >= 0 and op == OP_EMBEDDING:
                    # every core looks up the rows of its own lookups: nothing to multicast
                    for m in range(cp0, cp1):
                        row = _table_row(m, salt, table_rows)
                        _emit(st, starts, lens, kinds, readers, w_base + (row * K + ck0) * w_eb,
                              (ck1 - ck0) * w_eb, KIND_WEIGHT, 1)
                elif new_w and w_base >= 0 and jp == 0 and jq == 0 and (jg == 0 or not shared_w):
                    nread = sp * sq * (sg if shared_w else 1)
                    if w_act:
                        _activation_b_runs(st, starts, lens, kinds, readers, nread, cg0, cg1, ck0, ck1,
                                           cc0, cc1, K, C, w_base, w_eb)
                    else:
                        _weight_runs(st, starts, lens, kinds, readers, nread, cg0, cg1, ck0, ck1, cc0,
                                     cc1, K, C, R, S, shared_w, w_base, w_eb)
                if new_out_tile and ic > 0:
                    _output_runs(st, starts, lens, kinds, readers, KIND_PARTIAL_READ, cg0, cg1, ck0,
                                 ck1, cp0, cp1, cq0, cq1, G, K, P, Q, groups_outer, part_base, acc_eb)
                # compute time of the step: the slowest core's tile
                if op == OP_ARRAY:
                    cyc = conv_tile_cycles(cp1 - cp0, cq1 - cq0, ck1 - ck0, cc1 - cc0, R * S, cg1 - cg0, hw,
                                           per_window)
                    # what is left once the tile's last block of input channels is in: its computes
                    block = hw[HW_ROWS]
                    last_c = cc1 - cc0 - (cc1 - cc0 - 1) // block * block
                    tail = conv_tile_cycles(cp1 - cp0, cq1 - cq0, ck1 - ck0, last_c, R * S, cg1 - cg0, hw,
                                            per_window)
                else:
                    elems = (cg1 - cg0) * (ck1 - ck0) * (cp1 - cp0) * (cq1 - cq0)
                    ops = R * S if op == OP_POOL else (seg_base.shape[0] if op == OP_ELTWISE else 1)
                    cyc = vector_tile_cycles(elems, vec[0], ops, vec[1])
                    tail = cyc
                max_cyc = max(max_cyc, cyc)
                max_tail = max(max_tail, tail)
            # writes of output tiles this step finishes (or spills)
            if leaving:
                for core in range(n_cores):
                    jg, jk, jp, jq, cg0, cg1, ck0, ck1, cp0, cp1, cq0, cq1 = _core_tile(
                        core, sg, sp, sq, Gc, Kc, Pc, Qc, ig, ik, ip, iq, tg, tk, tp, tq, G, K, P, Q)
                    if cg1 <= cg0 or ck1 <= ck0 or cp1 <= cp0 or cq1 <= cq0:
                        continue
                    if ic == Tc - 1:
                        _output_runs(st, starts, lens, kinds, readers, KIND_OUTPUT, cg0, cg1, ck0, ck1,
                                     cp0, cp1, cq0, cq1, G, K, P, Q, groups_outer, out_base, out_eb)
                    else:
                        _output_runs(st, starts, lens, kinds, readers, KIND_PARTIAL_WRITE, cg0, cg1, ck0,
                                     ck1, cp0, cp1, cq0, cq1, G, K, P, Q, groups_outer, part_base, acc_eb)
            if step < step_cycles.shape[0]:
                step_cycles[step] = max_cyc
                step_tail_cycles[step] = min(max_tail, max_cyc)
                step_requests[step] = st[6] - req0
                step_write_requests[step] = st[8] - wreq0
                step_read_requests[step] = st[11] - rreq0
            prev[0] = ig
            prev[1] = ik
            prev[2] = ic
            prev[3] = ip
            prev[4] = iq
            step += 1
    if step < step_ptr.shape[0]:
        step_ptr[step] = st[0]
    return st[0], step


@dataclass(frozen=True)
class LayerStreams:
    """All steps of one layer on one core group: runs in CSR form per step."""

    layer: str
    starts: np.ndarray  # int64 byte addresses
    lengths: np.ndarray  # int64 bytes
    kinds: np.ndarray  # int8, KIND_*
    readers: np.ndarray  # int64, cores that consume the run
    step_ptr: np.ndarray  # int64 [steps + 1]
    step_cycles: np.ndarray  # int64 compute cycles per step
    # int64 cycles of a step's compute after its last block of input channels is loaded
    step_tail_cycles: np.ndarray
    step_requests: np.ndarray  # int64 DMA requests per step (reads and writes, all cores)
    step_write_requests: np.ndarray  # int64 write requests per step, at the DMA's write request size
    step_read_requests: np.ndarray  # int64 read requests per step (those of step_requests)

    @property
    def steps(self) -> int:
        return len(self.step_cycles)

    def bytes_by_kind(self) -> dict[str, int]:
        return {KIND_NAMES[k]: int(self.lengths[self.kinds == k].sum()) for k in range(5)}


def _op_code(op: str) -> int:
    return {"pool": OP_POOL, "eltwise": OP_ELTWISE, "embedding": OP_EMBEDDING}.get(op, OP_ARRAY)


def _input_segments(layer: Layer, trace_layers: dict[str, Layer], layout: TensorLayout, nest: LoopNest):
    """(base, first channel, channels) of each producer the input A is read from."""
    if layer.op == "eltwise":
        producers = list(layer.inputs) or [""]
        bases = [layout.output_base[p] if p else layout.network_input_base for p in producers]
        return (np.array(bases, dtype=np.int64), np.zeros(len(bases), dtype=np.int64),
                np.full(len(bases), layer.in_c, dtype=np.int64))
    if layer.op == "matmul":
        producers = list(layer.inputs[:1])
    else:
        producers = list(layer.inputs)
    if not producers:
        return (np.array([layout.network_input_base], dtype=np.int64), np.zeros(1, dtype=np.int64),
                np.array([nest.G * nest.C], dtype=np.int64))
    if len(producers) == 1 or nest.op in ("gemm", "matmul", "lstm", "embedding"):
        return (np.array([layout.output_base[producers[0]]], dtype=np.int64), np.zeros(1, dtype=np.int64),
                np.array([nest.G * nest.C], dtype=np.int64))
    # concatenation along channels: each producer holds a slice
    bases, c0s, ncs = [], [], []
    at = 0
    total = nest.G * nest.C
    for p in producers:
        prod = trace_layers[p]
        nc = prod.out_c if prod.op in ("conv", "dwconv", "pool", "eltwise") else prod.N
        nc = min(nc, total - at)
        if nc <= 0:
            break
        bases.append(layout.output_base[p])
        c0s.append(at)
        ncs.append(nc)
        at += nc
    if at < total:  # producers narrower than the input (a trace quirk): the last one covers the rest
        ncs[-1] += total - at
    return np.array(bases, dtype=np.int64), np.array(c0s, dtype=np.int64), np.array(ncs, dtype=np.int64)


class StreamBuffers:
    """Scratch arrays the stream kernel writes into, reused from layer to layer so
    that one pass usually suffices; each result is copied out of them."""

    def __init__(self, runs: int = 1 << 16, steps: int = 1 << 10):
        self.grow(runs, steps)

    def grow(self, runs: int, steps: int) -> None:
        runs = max(runs, 2 * len(getattr(self, "starts", ())))
        steps = max(steps, 2 * len(getattr(self, "step_cycles", ())))
        self.starts = np.empty(runs, dtype=np.int64)
        self.lens = np.empty(runs, dtype=np.int64)
        self.kinds = np.empty(runs, dtype=np.int8)
        self.readers = np.empty(runs, dtype=np.int64)
        self.step_ptr = np.empty(steps + 1, dtype=np.int64)
        self.step_cycles = np.empty(steps, dtype=np.int64)
        self.step_tail_cycles = np.empty(steps, dtype=np.int64)
        self.step_requests = np.empty(steps, dtype=np.int64)
        self.step_write_requests = np.empty(steps, dtype=np.int64)
        self.step_read_requests = np.empty(steps, dtype=np.int64)


def layer_streams(layer: Layer, trace: Trace, nest: LoopNest, plan: LayerPlan, layout: TensorLayout,
                  hw: np.ndarray, vec: np.ndarray, buffers: StreamBuffers | None = None) -> LayerStreams:
    """Generate the step runs of `plan` for `layer` of `trace` laid out by `layout`;
    `buffers` (kept by the caller across layers) saves allocating and a second pass."""
    trace_layers = trace.by_name
    op = _op_code(layer.op)
    groups_outer = 1 if layer.op in ("matmul", "lstm") else 0
    salt = zlib.crc32(layer.name.encode()) & 0x7FFFFFFF  # per-layer lookup pattern, stable across runs
    geom = np.array([op, nest.G, nest.K, nest.C, nest.P, nest.Q, nest.R, nest.S, nest.stride, nest.padding,
                     nest.H, nest.W, groups_outer, int(nest.weights_shared_by_groups),
                     max(layer.K, 1), salt, int(nest.weights_are_activations)], dtype=np.int64)
    split = np.array([plan.split_k, plan.split_g, plan.split_p, plan.split_q], dtype=np.int64)
    tiles = np.array([plan.tile_g, plan.tile_k, plan.tile_c, plan.tile_p, plan.tile_q], dtype=np.int64)
    order = ORDERS[ORDER_NAMES.index(plan.loop_order)]
    eb = np.array([nest.in_eb, nest.w_eb, nest.out_eb, nest.acc_eb], dtype=np.int64)
    seg_base, seg_c0, seg_nc = _input_segments(layer, trace_layers, layout, nest)
    producer = trace_layers.get(layer.inputs[0]) if layer.inputs else None
    if layer.row_offset and producer is not None and not producer.output_into:
        # a chunk of rows further into the producer's output (a chunk producer is already there)
        seg_base = seg_base + layer.row_offset * layer.K * layer.in_elem_bytes
    if layer.op == "matmul":
        w_base = layout.output_base[layer.inputs[1]] if len(layer.inputs) > 1 else seg_base[0]
    else:
        w_base = layout.weight_base.get(layer.name, -1)
    bases = np.array([w_base, layout.output_base[layer.name], layout.scratch_base], dtype=np.int64)
    buf = buffers if buffers is not None else StreamBuffers()
    while True:
        n_runs, n_steps = _generate(buf.starts, buf.lens, buf.kinds, buf.readers, buf.step_ptr, buf.step_cycles,
                                    buf.step_tail_cycles, buf.step_requests, buf.step_write_requests,
                                    buf.step_read_requests, geom,
                                    split, tiles, order, eb, seg_base, seg_c0, seg_nc, bases, hw, vec)
        if n_runs <= len(buf.starts) and n_steps <= len(buf.step_cycles):
            break
        buf.grow(n_runs, n_steps)  # the kernel counted past the end: rerun once into arrays that fit
    starts, lens, kinds, readers = (a[:n_runs].copy() for a in (buf.starts, buf.lens, buf.kinds, buf.readers))
    step_ptr = buf.step_ptr[:n_steps + 1].copy()
    step_cycles = buf.step_cycles[:n_steps].copy()
    step_tail_cycles = buf.step_tail_cycles[:n_steps].copy()
    step_requests = buf.step_requests[:n_steps].copy()
    step_write_requests = buf.step_write_requests[:n_steps].copy()
    step_read_requests = buf.step_read_requests[:n_steps].copy()
    return LayerStreams(layer.name, starts, lens, kinds, readers, step_ptr, step_cycles, step_tail_cycles,
                        step_requests, step_write_requests, step_read_requests)
