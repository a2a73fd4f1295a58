"""Scalar, numba-compiled twins of the timing functions, for kernels such as the mapping search.

A numba kernel cannot look up Python registries, so the array, the dataflow
placement and the timing model's `FoldSchedule` are packed once into an
int64 vector with `hw_vector`; `tile_cycles(m, n, k, groups, hw)` then
evaluates exactly what `gemm_cycles` gives for scalars (tests check this).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from .dataflows import get_dataflow
from .timing import schedule_for

# layout of the hw vector
HW_ROWS, HW_COLS, HW_ROWS_DIM, HW_COLS_DIM, HW_STREAM_DIM, HW_STREAM_EXTRA, HW_INTERVAL_FLOOR, HW_TAIL = range(8)
HW_LEN = 8


def hw_vector(*, rows: int, cols: int, dataflow: str, timing: str, **timing_params: Any) -> np.ndarray:
    """The int64 vector `tile_cycles` reads: array size, dataflow placement, fold schedule."""
    df = get_dataflow(dataflow)
    sched = schedule_for(rows=rows, cols=cols, dataflow=df, timing=timing, **timing_params)
    r_dim, c_dim, t_dim = df.dim_indices
    return np.array([rows, cols, r_dim, c_dim, t_dim, sched.stream_extra_cycles,
                     sched.interval_floor_cycles, sched.tail_cycles], dtype=np.int64)


@nb.njit(cache=True)
def _folds_and_stream(m, n, k, hw):
    """(folds, streamed steps per fold) of a GEMM [m x k] * [k x n] on the array `hw` describes."""
    dims = (np.int64(m), np.int64(n), np.int64(k))
    sr = dims[hw[HW_ROWS_DIM]]
    sc = dims[hw[HW_COLS_DIM]]
    folds = ((sr + hw[HW_ROWS] - 1) // hw[HW_ROWS]) * ((sc + hw[HW_COLS] - 1) // hw[HW_COLS])
    return folds, dims[hw[HW_STREAM_DIM]]


@nb.njit(cache=True)
def tile_cycles(m, n, k, groups, hw):
    """Compute cycles of `groups` GEMMs [m x k] * [k x n] on the array described by `hw`."""
    if m <= 0 or n <= 0 or k <= 0 or groups <= 0:
        return np.int64(0)
    folds, t = _folds_and_stream(m, n, k, hw)
    interval = max(t + hw[HW_STREAM_EXTRA], hw[HW_INTERVAL_FLOOR])
    return np.int64(groups) * ((folds - 1) * interval + t + hw[HW_TAIL])


@nb.njit(cache=True)
def chained_fold_cycles(m, last_rows, n, k, chains, groups, hw):
    """Cycles of `chains` GEMMs [m x k] * [k x n] run back to back as one fold pipeline,
    the m streamed rows issued as computes whose last streams `last_rows` (Gemmini's
    execute controller): the next fold's preload rides on that last compute, which
    then takes max(preload, last_rows) cycles, so a fold costs
    m + max(preload - last_rows, 0) where `tile_cycles` charges max(m, preload).
    Only the first preload and the last fill/drain are paid once per call."""
    if m <= 0 or n <= 0 or k <= 0 or groups <= 0 or chains <= 0:
        return np.int64(0)
    folds, t = _folds_and_stream(m, n, k, hw)
    folds *= np.int64(chains)
    preload = hw[HW_INTERVAL_FLOOR] - hw[HW_STREAM_EXTRA]
    interval = t + hw[HW_STREAM_EXTRA] + max(preload - np.int64(last_rows), 0)
    return np.int64(groups) * ((folds - 1) * interval + t + hw[HW_TAIL])


@nb.njit(cache=True)
def vector_tile_cycles(elements, elems_per_cycle, ops_per_elem, overhead_cycles):
    """Scalar twin of `vector_cycles`."""
    work = np.int64(elements) * np.int64(ops_per_elem)
    if work <= 0:
        return np.int64(0)
    return (work + elems_per_cycle - 1) // elems_per_cycle + overhead_cycles
