"""The loop nest of one layer on a group of cores (the mapping's view of a layer).

Every array op becomes the same seven-dimensional nest: groups G, output
channels K, reduction channels C, output rows P, output columns Q, and the
kernel window R x S with a stride. Tensors are laid out NHWC for activations
and G-K-R-S-C for weights (docs/MAPPING.md).

=========  ======================  ==========================================
op         G                       K, C, P, Q, R, S
=========  ======================  ==========================================
conv       groups                  out_c/G, in_c/G, batch*out_h, out_w, kh, kw
dwconv     in_c                    multiplier, 1, batch*out_h, out_w, kh, kw
gemm       1                       N, K, M, 1, 1, 1
matmul     batch (x heads)         N, K, M, 1, 1, 1 (B is an activation)
lstm       timesteps (sequential)  4*hidden, in+hidden, batch, 1, 1, 1;
                                   weights shared by all groups
=========  ======================  ==========================================

Batch is folded into the output rows (images stacked); halos are computed as
if the stack were one tall image, which over-counts at most R-stride rows per
image boundary.

A layer is split over the tenant's cores spatially in the order the design
fixes: output channels (in chunks no narrower than the array's columns), then
groups (channel-interleaved groups in chunks of at least one cache line of
channels), then output rows (batch is folded into them), then output
columns. Vector ops (pool, eltwise, embedding) have no weights to share and
split rows, then columns, then channels. Each split factor divides the core
count; cores that get no work idle for that layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workloads.trace import Layer

from ..soc import NPUSpec


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _largest_divisor_at_most(n: int, limit: int) -> int:
    """Largest divisor of n that is <= limit (at least 1)."""
    best = 1
    for d in range(1, min(n, max(limit, 1)) + 1):
        if n % d == 0:
            best = d
    return best


@dataclass(frozen=True)
class LoopNest:
    """One layer's per-core nest after the spatial split, plus tenant totals."""

    layer: str
    op: str
    vector: bool  # pool/eltwise/embedding: streamed on the vector path
    # whole-layer dims
    G: int
    K: int
    C: int
    P: int
    Q: int
    R: int
    S: int
    stride: int
    padding: int
    H: int  # input rows (whole layer, batch folded)
    W: int  # input columns
    # split over cores (factors multiply to cores_used)
    split_k: int
    split_g: int
    split_p: int
    split_q: int
    # element sizes
    in_eb: int
    w_eb: int
    out_eb: int
    acc_eb: int
    weights_shared_by_groups: bool  # lstm: one weight matrix for every timestep
    weights_are_activations: bool  # matmul: B comes from an earlier layer
    n_inputs: int  # operands streamed by a vector op (eltwise: its inputs)

    # -- per-core dims (the largest core) ------------------------------------
    @property
    def cores_used(self) -> int:
        return self.split_k * self.split_g * self.split_p * self.split_q

    @property
    def Gc(self) -> int:
        return _ceil_div(self.G, self.split_g)

    @property
    def Kc(self) -> int:
        return _ceil_div(self.K, self.split_k)

    @property
    def Pc(self) -> int:
        return _ceil_div(self.P, self.split_p)

    @property
    def Qc(self) -> int:
        return _ceil_div(self.Q, self.split_q)

    def in_rows(self, out_rows: int) -> int:
        """Input rows a window of `out_rows` output rows reads (halo included)."""
        return min(self.H, (out_rows - 1) * self.stride + self.R)

    def in_cols(self, out_cols: int) -> int:
        return min(self.W, (out_cols - 1) * self.stride + self.S)

    # -- tenant-level tensor sizes --------------------------------------------
    @property
    def input_bytes(self) -> int:
        return self.G * self.C * self.H * self.W * self.in_eb * (self.n_inputs if self.vector else 1)

    @property
    def weight_bytes(self) -> int:
        groups = 1 if self.weights_shared_by_groups else self.G
        return groups * self.K * self.C * self.R * self.S * self.w_eb

    @property
    def output_bytes(self) -> int:
        return self.G * self.K * self.P * self.Q * self.out_eb


def _split(n: int, k: int, g: int, p: int, q: int, array_cols: int,
           min_chunk: int) -> tuple[int, int, int, int]:
    """Split factors (k, g, p, q), each dividing what is left of n, in design order.

    Output channels go in chunks no narrower than the array's columns or a
    cache line of channels (`min_chunk`), channel-interleaved groups in chunks
    of at least `min_chunk`, so no core is left with a sliver of every line.
    """
    left = n
    sk = _largest_divisor_at_most(left, _ceil_div(k, max(array_cols, min_chunk)))
    left //= sk
    sg = _largest_divisor_at_most(left, max(1, g // max(1, min_chunk)))
    left //= sg
    sp = _largest_divisor_at_most(left, p)
    left //= sp
    sq = _largest_divisor_at_most(left, q)
    return sk, sg, sp, sq


def loop_nest(layer: Layer, npu: NPUSpec, cores: int, line_bytes: int = 64) -> LoopNest:
    """The loop nest of `layer` split over `cores` cores of `npu`."""
    op = layer.op
    ie, we, oe = layer.in_elem_bytes, layer.weight_elem_bytes, layer.out_elem_bytes
    shared_w = False
    w_act = False
    n_inputs = 1
    vector = not layer.is_compute
    if op in ("conv", "dwconv"):
        g = layer.groups
        dims = dict(G=g, K=layer.out_c // g, C=layer.in_c // g, P=layer.batch * layer.out_h, Q=layer.out_w,
                    R=layer.kernel_h, S=layer.kernel_w, stride=layer.stride, padding=layer.padding,
                    H=layer.batch * layer.in_h, W=layer.in_w)
    elif op in ("gemm", "matmul"):
        dims = dict(G=1 if op == "gemm" else layer.batch, K=layer.N, C=layer.K, P=layer.M, Q=1, R=1, S=1,
                    stride=1, padding=0, H=layer.M, W=1)
        if op == "matmul":
            w_act, we = True, ie
    elif op == "lstm":
        dims = dict(G=layer.M, K=layer.N, C=layer.K, P=layer.batch, Q=1, R=1, S=1, stride=1, padding=0,
                    H=layer.batch, W=1)
        shared_w = True
    elif op == "pool":
        # channels act as groups: a pool never mixes channels
        dims = dict(G=layer.in_c, K=1, C=1, P=layer.batch * layer.out_h, Q=layer.out_w, R=layer.kernel_h,
                    S=layer.kernel_w, stride=layer.stride, padding=layer.padding,
                    H=layer.batch * layer.in_h, W=layer.in_w)
    elif op == "eltwise":
        n_inputs = max(1, len(layer.inputs))
        dims = dict(G=layer.in_c, K=1, C=1, P=layer.batch * layer.in_h, Q=layer.in_w, R=1, S=1, stride=1,
                    padding=0, H=layer.batch * layer.in_h, W=layer.in_w)
    elif op == "embedding":
        # M lookups of N-wide rows; the table (K rows) plays the weight role
        dims = dict(G=1, K=layer.N, C=1, P=layer.M, Q=1, R=1, S=1, stride=1, padding=0, H=layer.M, W=1)
    else:  # pragma: no cover - trace validation rejects unknown ops
        raise ValueError(f"unknown op {op!r}")

    # channels that fill one cache line: the narrowest per-core share of interleaved groups
    line_channels = max(1, line_bytes // max(1, dims["C"] * ie))
    if vector:
        # vector ops have no weights to share: split rows, then columns, then channels
        sk = 1
        left = cores
        sp = _largest_divisor_at_most(left, dims["P"])
        left //= sp
        sq = _largest_divisor_at_most(left, dims["Q"])
        left //= sq
        sg = _largest_divisor_at_most(left, max(1, dims["G"] // line_channels)) if op != "embedding" else 1
    else:
        groups = 1 if shared_w else dims["G"]
        # output channels are innermost in the output: a line's worth per core at least
        out_line_channels = max(1, line_bytes // max(1, oe))
        group_chunk = 1 if op in ("matmul", "lstm") else line_channels  # group-major ops split cleanly
        sk = _largest_divisor_at_most(cores, _ceil_div(dims["K"], max(npu.array_cols, out_line_channels)))
        _, sg, sp, sq = _split(cores // sk, 1, groups, dims["P"], dims["Q"], npu.array_cols, group_chunk)
    return LoopNest(
        layer=layer.name, op=op, vector=vector, **dims, split_k=sk, split_g=sg, split_p=sp, split_q=sq,
        in_eb=ie, w_eb=we, out_eb=oe, acc_eb=npu.accumulator_elem_bytes,
        weights_shared_by_groups=shared_w, weights_are_activations=w_act, n_inputs=n_inputs,
    )


def split_candidates(total: int, per_core: int) -> list[int]:
    """Tile sizes worth trying for a core's share of a dimension of `total` split `per_core`
    each: a tile gives one count of tiles on the full shares and another on the last, shorter
    one, and the smallest tile of each pair of counts is a ceil candidate of one of the two
    shares (exact pruning, as ceil_candidates for one share)."""
    last = total - (-(-total // per_core) - 1) * per_core
    if last == per_core:
        return ceil_candidates(per_core)
    return sorted(set(ceil_candidates(per_core)) | set(ceil_candidates(last)), reverse=True)


def ceil_candidates(dim: int) -> list[int]:
    """Tile sizes worth trying for a dimension of size `dim`: ceil(dim / t).

    For a given number of tiles t the smallest tile that achieves it,
    ceil(dim/t), uses the least buffer for the same traffic, so every other
    size is dominated (exact pruning).
    """
    out = sorted({-(-dim // t) for t in range(1, dim + 1)}, reverse=True) if dim <= 4096 else None
    if out is None:
        # the distinct values of ceil(dim/t) are the ceil(dim/t) for t <= sqrt(dim) and all
        # sizes <= sqrt(dim); enumerating them this way keeps huge dims cheap
        root = math.isqrt(dim)
        out = sorted({-(-dim // t) for t in range(1, root + 2)} | set(range(1, root + 2)), reverse=True)
        out = [v for v in out if 1 <= v <= dim]
    return out
