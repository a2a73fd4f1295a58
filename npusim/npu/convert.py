"""Conv layer shapes to the GEMM view, in SCALE-Sim's convention."""

from __future__ import annotations

import numpy as np


def conv_out_size(in_size: int, kernel: int, stride: int, padding: int = 0, *, ceil_mode: bool = False) -> int:
    """Output extent: ``(in + 2*padding - kernel) // stride + 1``, or with `ceil_mode`
    ``ceil((in + 2*padding - kernel) / stride) + 1`` (a last, partial window counts)."""
    span = in_size + 2 * padding - kernel
    if span < 0:
        raise ValueError(f"kernel {kernel} is larger than the padded input {in_size + 2 * padding}")
    return (-(-span // stride) if ceil_mode else span // stride) + 1


def conv_gemm_dims(in_h: int, in_w: int, in_c: int, out_c: int, kernel_h: int, kernel_w: int,
                   stride: int, padding: int = 0, groups: int = 1, *,
                   ceil_mode: bool = True) -> tuple[int, int, int, int]:
    """``(m, n, k, groups)`` of a 2-D convolution, batch 1.

    m = output pixels ``P * Q``; n = filters per group ``out_c / groups``;
    k = ``kernel_h * kernel_w * in_c / groups``; the `groups` GEMMs run one
    after the other (`gemm_cycles(..., groups=groups)`).

    SCALE-Sim's conventions: one stride for both directions, no padding
    (its topologies pre-pad the input; `padding` here adds it on every side),
    and output ``ceil((H - R + stride) / stride) = ceil((H - R) / stride) + 1``
    (``topology_utils.topo_calc_hyperparams``): when the stride does not
    divide ``H - R`` it counts one more, partial window than the usual
    ``(H - R) // stride + 1``, whose out-of-range inputs it leaves empty but
    still times. That is the default here (``ceil_mode=True``); pass
    ``ceil_mode=False`` for the usual (PyTorch ``Conv2d``) size. A SCALE-Sim ``DP`` layer with C
    channels and F filters is ``conv_gemm_dims(H, W, C, C * F, R, S, stride,
    groups=C)``: SCALE-Sim runs C layers of one channel and F filters each.
    """
    values = {"in_h": in_h, "in_w": in_w, "in_c": in_c, "out_c": out_c, "kernel_h": kernel_h,
              "kernel_w": kernel_w, "stride": stride, "groups": groups}
    for label, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{label} must be a positive integer, got {v!r}")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride, groups, padding = (
        int(v) for v in (in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride, groups, padding))
    if in_c % groups or out_c % groups:
        raise ValueError(f"groups={groups} must divide in_c={in_c} and out_c={out_c}")
    out_h = conv_out_size(in_h, kernel_h, stride, padding, ceil_mode=ceil_mode)
    out_w = conv_out_size(in_w, kernel_w, stride, padding, ceil_mode=ceil_mode)
    return out_h * out_w, out_c // groups, kernel_h * kernel_w * (in_c // groups), groups
