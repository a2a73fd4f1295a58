"""Tilers: who picks a layer's tile sizes and loop order.

`search` (the default) is npusim's own mapper: the exhaustive search of
`search.py`, which finds the best tiling for each objective. A real NPU runs
whatever its software library picks, which need not be the best; a tiler
registered here reproduces such a library's choice for the layers it handles
and leaves the others to the search. The search kernel then costs the fixed
tiling exactly as it costs its own candidates, so plans, streams and the
engine do not depend on who chose.

`moca` is the Gemmini library of the MoCA artifact
(`SeahK/gemmini-rocc-tests-moca-ae`, `include/gemmini.h`), the code that ran
the layers whose cycles `tests/reference/gemmini_moca/` holds (docs/MAPPING.md):
convolutions with a kernel larger than 1x1 or a stride go through
`tiled_conv_A_stride_auto_cid`, whose tiles come from `tiling_factor_calculate`;
1x1 stride-1 convolutions and fully connected layers through `tiled_matmul_nn_auto_cid`
(`tiling_factor_matmul_calculate_auto`); pools through `tiled_pool_auto_cid`
(`tiled_pool_bubble_calculate`) and residual adds through
`tiled_resadd_auto_cid` (`tiled_resadd_bubble_calculate`). All size tiles in
scratchpad and accumulator rows of DIM elements; convolutions and matmuls
loop over spatial tiles outermost, then output channels, then input channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # the SoC loader imports this module to validate `npu.tiler`
    from ..soc import NPUSpec
    from .nest import LoopNest

ORDER_S_K_C = 4  # index of (s, k, c) in search.ORDERS: spatial tiles outermost, reduction innermost


@dataclass(frozen=True)
class FixedTiling:
    """Per-core tile sizes and the index of the loop order in `search.ORDERS`."""

    tg: int
    tk: int
    tc: int
    tp: int
    tq: int
    order: int


class Tiler:
    """Picks the tiling of a layer; None leaves the layer to the search."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def fixed(self, nest: LoopNest, npu: NPUSpec) -> FixedTiling | None:  # pragma: no cover - interface
        raise NotImplementedError

    def check_spec(self, *, dataflow: str, unified_scratchpad: bool) -> str | None:
        """Why this tiler cannot tile for such an NPU (None: it can)."""
        return None

    def input_request_bytes(self, nest: LoopNest, npu: NPUSpec) -> int | None:
        """The largest DMA request of a row of `nest`'s inputs as the library moves
        them, where it moves less than the DMA could (None: `npu.dma_request_bytes`)."""
        return None


TILERS: dict[str, Tiler] = {}


def register(cls: type[Tiler]) -> type[Tiler]:
    TILERS[cls.name] = cls()
    return cls


def get_tiler(name: str) -> Tiler:
    return TILERS[name]


def tiler_names() -> tuple[str, ...]:
    return tuple(TILERS)


@register
class SearchTiler(Tiler):
    name = "search"
    description = "npusim's exhaustive search: the best tiling per objective"

    def fixed(self, nest: LoopNest, npu: NPUSpec) -> FixedTiling | None:
        return None


@dataclass(frozen=True)
class _Rows:
    """The library's buffer geometry, in rows of DIM elements."""

    dim: int
    spad_rows: int  # BANK_NUM * BANK_ROWS
    acc_rows: int  # ACC_ROWS
    max_block_len: int  # MAX_BLOCK_LEN: DIM-wide blocks one DMA request moves
    max_block_len_acc: int  # MAX_BLOCK_LEN_ACC: the same in accumulator elements

    @classmethod
    def of(cls, npu: NPUSpec) -> _Rows:
        dim = npu.array_rows
        return cls(dim=dim, spad_rows=(npu.scratchpad_bytes or 0) // (dim * npu.input_elem_bytes),
                   acc_rows=npu.accumulator_bytes // (dim * npu.accumulator_elem_bytes),
                   max_block_len=max(1, npu.dma_request_bytes // (dim * npu.input_elem_bytes)),
                   max_block_len_acc=max(1, npu.dma_request_bytes // (dim * npu.accumulator_elem_bytes)))


def conv_runs_as_matmul(kernel_h: int, kernel_w: int, stride: int, groups: int) -> bool:
    """Whether Gemmini's library runs a conv through its matmul loop (`tiled_matmul_nn_auto_cid`):
    a 1x1, stride-1, ungrouped conv, a matmul over its pixels; any other goes through its conv
    loop (`tiled_conv_A_stride_auto_cid`) or is left to the search."""
    return kernel_h == 1 and kernel_w == 1 and stride == 1 and groups == 1


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def conv_rows(g: _Rows, acc: bool, stride: int, porows: int, pocols: int, ochs: int, krows: int, kcols: int,
              kchs: int) -> int:
    """`tiled_conv_total_spad_rows_A_stride` for batch 1, no pooling, no dilation."""
    irows = porows * stride + krows - 1
    icols = pocols * stride + kcols - 1
    in_banks = _ceil(kchs, g.dim)
    out_banks = _ceil(ochs, g.dim)
    if acc:
        return out_banks * porows * pocols
    return in_banks * irows * icols + out_banks * kcols * krows * kchs


def conv_tiles(g: _Rows, porows: int, pocols: int, ochs: int, kdim: int, ichs: int, stride: int,
               padding: int) -> list[int]:
    """`tiling_factor_calculate` (batch 1, no pooling): [batches, porows, pocols, pochs, krows, kcols, kchs].

    Shrinks the tile, one argument at a time in the library's order of
    preference, until it fits half the scratchpad and half the accumulator,
    then grows what still fits."""
    dim, mbl = g.dim, g.max_block_len
    max_sp, max_acc = g.spad_rows // 2, g.acc_rows // 2
    pool_stride = 1
    args = [1, porows, pocols, ochs, kdim, kdim, ichs]
    max_args = list(args)

    def rows(a: list[int]) -> tuple[int, int]:
        return (conv_rows(g, False, stride, a[1], a[2], a[3], a[4], a[5], a[6]),
                conv_rows(g, True, stride, a[1], a[2], a[3], a[4], a[5], a[6]))

    shrink_order = (0, 2, 4, 5, 1, 3, 6)  # batches, ocols, krows, kcols, orows, ochs, ichs
    sp, ac = rows(args)
    while sp > max_sp or ac > max_acc:
        max_val, max_idx = -1, -1
        for i in shrink_order:
            if i == 0 and args[0] > 1:
                max_val, max_idx = args[0], 0
                break
            if ((pool_stride > 1 and args[6] >= dim) or args[6] == mbl * dim) and args[3] <= mbl * dim:
                if i == 1 and args[1] > 1 and (args[2] <= dim or (args[6] <= dim * mbl and args[3] == mbl * dim)):
                    max_val, max_idx = args[1], 1
                    break
                if i == 2 and args[i] > dim:
                    max_val, max_idx = args[2], 2
                    break
                if i in (4, 5) and args[i] > 1:
                    max_val, max_idx = args[i], i
                    break
                if args[i] > dim and pool_stride > 1 and i in (3, 6):
                    max_val, max_idx = args[i], i
            elif not (i == 2 and args[i] <= dim and args[1] > 1) and args[i] > max_val:
                if not (i in (3, 6) and args[i] <= dim):
                    max_val, max_idx = args[i], i
        if max_idx < 0:
            raise ValueError("the library's tiler finds nothing to shrink")
        if max_idx in (3, 6):
            if max_val > mbl * dim or pool_stride > 1:
                if args[max_idx] > mbl * dim and args[max_idx] % (mbl * dim) != 0:
                    args[max_idx] = (args[max_idx] // (mbl * dim)) * (mbl * dim)
                elif args[max_idx] % (2 * dim) == 0:
                    args[max_idx] //= 2
                else:
                    args[max_idx] = ((args[max_idx] - 1) // dim) * dim
                args[max_idx] = args[max_idx] or 1
            elif args[4] > 1 or args[5] > 1:
                if args[4] > 1:
                    args[4] = 1
                else:
                    args[5] -= 1
            elif args[6] < dim:  # a first layer
                args[max_idx] //= 2
            elif args[1] > 4:
                args[1] //= 2
            elif args[2] > dim:
                args[2] = dim
        elif max_idx == 2:
            args[2] = (args[2] // dim) * dim if args[2] % dim else args[2] - dim // pool_stride
        elif max_idx in (4, 5):
            args[max_idx] = 1
        else:
            args[max_idx] -= 1
        if ichs == 3 and padding == 0 and kdim == 3:
            # the library keeps every output channel of such a first layer and narrows the columns instead
            prop = _ceil(ochs, args[3])
            args[3] = ochs
            args[2] //= prop
        if min(args) < 1:
            raise ValueError("the library's tiler shrinks a tile to nothing")
        sp, ac = rows(args)
    grow_order = (5, 6, 4, 3, 2, 1, 0)  # kcols, ichs, krows, ochs, ocols, orows, batches
    kdim_step = True
    grown = True
    while grown:
        grown = False
        for i in grow_order:
            cand = list(args)
            if i in (3, 6):
                cand[i] *= 2
            elif i == 2 and args[i] % dim == 0:
                cand[i] += dim
            else:
                cand[i] += 2 if (kdim_step and i in (4, 5)) else 1
            if cand[i] > max_args[i]:
                continue
            sp, ac = rows(cand)
            if sp <= max_sp and ac <= max_acc:
                args = cand
                grown = True
                kdim_step = False
    return args


def matmul_tiles(g: _Rows, dim_i: int, dim_j: int, dim_k: int) -> tuple[int, int, int]:
    """`tiling_factor_matmul_calculate_auto` on one core: (tile_I, tile_J, tile_K) in DIM blocks."""
    dim = g.dim
    max_sp, max_acc = g.spad_rows // 2, g.acc_rows // 2
    db_max_ij = math.isqrt(max_acc // dim)
    db_max_k = (max_sp // 2 // dim) // db_max_ij
    pad_i, pad_j, pad_k = (_ceil(d, dim) for d in (dim_i, dim_j, dim_k))
    ti, tj, tk = min(pad_i, db_max_ij), min(pad_j, db_max_ij), min(pad_k, db_max_k)

    def spad(i: int, j: int, k: int) -> int:
        return (i * k + k * j) * dim

    while True:
        grown = False
        if spad(ti, tj + 1, tk) <= max_sp and (ti * (tj + 1)) * dim <= max_acc and tj + 1 <= pad_j:
            tj += 1
            grown = True
        if spad(ti + 1, tj, tk) <= max_sp and ((ti + 1) * tj) * dim <= max_acc and ti + 1 <= pad_i:
            ti += 1
            grown = True
        if spad(ti, tj, tk + 1) <= max_sp and tk + 1 <= pad_k:
            tk += 1
            grown = True
        if not grown:
            return ti, tj, tk


def pool_tiles(g: _Rows, porows: int, pocols: int, channels: int, pool_size: int, pool_stride: int) -> list[int]:
    """`tiled_pool_bubble_calculate` (batch 1, one core): [batches, porows, pocols, pochs].

    The pooled tile's input rows fit half the accumulator: channels over four
    blocks shrink first, then the largest of the other arguments, one at a time
    (among them a kernel-channel count of DIM that does not enter the rows); a
    step that cuts the channels also takes one from the largest argument before
    them in the library's order (batches, rows, columns), as its loop does."""
    dim, mbl = g.dim, g.max_block_len
    max_acc = g.acc_rows // 2
    args = [1, porows, pocols, channels, 1, 1, dim]

    def acc_rows(a: list[int]) -> int:
        orows = a[1] * pool_stride + pool_size - 1
        ocols = a[2] * pool_stride + pool_size - 1
        return _ceil(a[3], dim) * a[0] * orows * ocols

    while acc_rows(args) > max_acc:
        max_val, max_idx = -1, -1
        for i in range(7):
            if i == 3 and args[i] > mbl * dim:
                # cut channels, and (after the loop) still the largest argument seen before them
                args[i] = (args[i] - 1) // (mbl * dim) * dim
                break
            if i == 0 and args[i] > 1:
                args[i] = 1  # with nothing seen before it: the library then decrements args[-1], no argument
                break
            if i != 3 and args[i] > max_val:
                max_val, max_idx = args[i], i
        if max_idx >= 0:
            args[max_idx] -= 1
        if min(args[:4]) < 1:
            raise ValueError("the library's pool tiler shrinks a tile to nothing")
    return args[:4]


def resadd_tiles(g: _Rows, pixels: int, channels: int) -> tuple[int, int]:
    """`tiled_resadd_bubble_calculate` (one core): (tile_I pixels, tile_J channels), the
    tile's DIM-padded pixels times its DIM-wide channel blocks within the accumulator."""
    dim = g.dim
    tile_i = min(pixels, g.max_block_len * dim)
    tile_j = channels
    while _ceil(tile_i, dim) * dim * _ceil(tile_j, dim) > g.acc_rows:
        tile_j -= 1
    return tile_i, tile_j


@register
class MocaLibraryTiler(Tiler):
    name = "moca"
    description = "the MoCA artifact's Gemmini library (conv, matmul, pool and residual-add tilings)"

    def check_spec(self, *, dataflow: str, unified_scratchpad: bool) -> str | None:
        if not unified_scratchpad:
            return "needs a scratchpad shared by inputs and weights (npu.buffers.scratchpad), as Gemmini's"
        if dataflow != "ws":
            return f"tiles for a weight-stationary array (dataflow: ws), not {dataflow}"
        return None

    def fixed(self, nest: LoopNest, npu: NPUSpec) -> FixedTiling | None:
        g = _Rows.of(npu)
        if nest.op == "pool":
            if nest.R != nest.S:
                return None
            a = pool_tiles(g, nest.Pc, nest.Qc, nest.Gc, nest.R, nest.stride)
            return FixedTiling(tg=min(a[3], nest.Gc), tk=1, tc=1, tp=min(a[1], nest.Pc), tq=min(a[2], nest.Qc),
                               order=0)
        if nest.op == "eltwise":
            tile_i, tile_j = resadd_tiles(g, nest.Pc * nest.Qc, nest.Gc)
            tp, tq = _pixel_tile(tile_i, nest.Pc, nest.Qc)
            return FixedTiling(tg=tile_j, tk=1, tc=1, tp=tp, tq=tq, order=0)
        if nest.vector or nest.Gc != 1 or nest.op not in ("conv", "gemm"):
            return None  # depthwise and grouped convs, attention, LSTMs, embeddings: the search
        if nest.op == "conv" and not conv_runs_as_matmul(nest.R, nest.S, nest.stride, nest.Gc):
            if nest.R != nest.S:
                return None
            a = conv_tiles(g, nest.Pc, nest.Qc, nest.Kc, nest.R, nest.C, nest.stride, nest.padding)
            # kernel rows and columns are not tiled in npusim's nest: a tile holds the whole window
            return FixedTiling(tg=1, tk=a[3], tc=a[6], tp=min(a[1], nest.Pc), tq=min(a[2], nest.Qc),
                               order=ORDER_S_K_C)
        # a 1x1 stride-1 conv is a matmul over its pixels (I), output (J) and input channels (K)
        ti, tj, tk = matmul_tiles(g, nest.Pc * nest.Qc, nest.Kc, nest.C)
        tp, tq = _pixel_tile(ti * g.dim, nest.Pc, nest.Qc)
        return FixedTiling(tg=1, tk=min(nest.Kc, tj * g.dim), tc=min(nest.C, tk * g.dim), tp=tp, tq=tq,
                           order=ORDER_S_K_C)

    def input_request_bytes(self, nest: LoopNest, npu: NPUSpec) -> int | None:
        """A pool moves its input into the accumulator (`sp_tiled_pool`), MAX_BLOCK_LEN_ACC
        blocks of DIM channels per mvin (one per row with 32-bit accumulators): a pixel's
        channels are that many requests of DIM input elements."""
        if nest.op != "pool" or nest.R != nest.S:
            return None
        g = _Rows.of(npu)
        return g.max_block_len_acc * g.dim * npu.input_elem_bytes


def _pixel_tile(pixels: int, rows: int, cols: int) -> tuple[int, int]:
    """(rows, columns) of a tile of `pixels` flattened pixels: whole rows where they fit."""
    if pixels >= cols:
        return max(1, min(rows, pixels // cols)), cols
    return 1, pixels
