"""Compute timing of a GEMM on a systolic array: two models over the fold pipeline.

Both models see a GEMM through its dataflow (`dataflows.py`) as ``F`` folds
(``F = ceil(Sr / rows) * ceil(Sc / cols)``), each streaming ``T`` steps, and
both are instances of one closed form, the *fold pipeline*::

    cycles = (F - 1) * max(T + stream_extra, interval_floor) + T + tail

a new fold starts every ``max(T + stream_extra, interval_floor)`` cycles
(the initiation interval) and the last fold finishes ``T + tail`` cycles
after it starts. A timing model is the three constants (`FoldSchedule`) it
derives from the array size and the dataflow, so the vectorised numpy path
(`gemm_cycles`) and the numba scalar path (`scalar.tile_cycles`) evaluate the
same numbers. ``groups`` independent GEMMs (grouped/depthwise conv, batched
matmul) run one after the other: the result is ``groups`` times one GEMM.

``scalesim`` -- SCALE-Sim v3's "Total Cycles" (COMPUTE_REPORT.csv) without
memory stalls. Read from its compute modules: every fold is a block of demand
rows of identical length, folds never overlap, and the report gives the index
of the last cycle (so one less than the count)::

    ws:  F * (T + 2R + C - 2) - 1     (R preload + T stream + R + C - 2 fill/drain)
    is:  F * (T + 2R + C - 2) - 1
    os:  F * (T + R + C - 2) - 1      (nothing to preload; outputs drain inside R + C - 2)

``pipelined`` (the simulator's default) -- a Gemmini-style array whose PEs
double-buffer the stationary value, so preloading the next fold's stationary
operand (ws: weights, is: inputs; os: draining the finished outputs) overlaps
the streaming of the current fold::

    cycles = P0 + (F - 1) * max(T, P) + T + D + F * fold_overhead + tile_overhead

with ``P`` the preload (os: drain) of one fold (default ``rows``), ``P0 = P``
for dataflows that preload (ws, is) and 0 for os, and ``D`` one pipeline
fill/drain per tile (default ``rows + cols - 2``: the skew of the last
wavefront through the array). It is monotone in m, n, k and never below the
ideal ``ceil(M*N*K / (rows*cols))``. With zero overheads it is never slower
than ``scalesim`` but for SCALE-Sim's last-cycle-index ``-1``: one fold gives
``scalesim + 1`` (the same preload, stream and skew), two or more folds on an
array of at least 2x2 give at most ``scalesim``.

Adding a timing model means one class here, listed in `_BUILTIN`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from .dataflows import Dataflow, get_dataflow


@dataclass(frozen=True)
class FoldSchedule:
    """The constants of ``(F-1) * max(T + stream_extra, interval_floor) + T + tail``."""

    stream_extra_cycles: int  # added to T in the initiation interval between folds
    interval_floor_cycles: int  # the interval is never shorter than this (overlapped preload)
    tail_cycles: int  # the last fold finishes T + tail cycles after it starts


class TimingModel:
    """Base class: a timing model turns (array, dataflow, constants) into a `FoldSchedule`."""

    name: ClassVar[str]
    description: ClassVar[str]

    def schedule(self, *, rows: int, cols: int, dataflow: Dataflow, **params: Any) -> FoldSchedule:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<timing model {self.name}>"


class ScaleSimTiming(TimingModel):
    """SCALE-Sim v3 "Total Cycles" with no memory stalls.

    Per fold SCALE-Sim emits a block of demand rows (one row per cycle) of
    length ``T + R + C - 2``, plus ``R`` rows in front for the dataflows
    that shift a stationary operand into the array (ws: ``arr_row`` prefix
    of the ifmap demand and ``2*arr_row - 1`` of the ofmap demand; is:
    likewise with the roles of ifmap and filter swapped). Folds are
    concatenated without overlap, partial folds are padded to the full
    array, and the reported total is the cycle index of the last ofmap
    demand row, i.e. the row count minus one.
    """

    name = "scalesim"
    description = "SCALE-Sim v3 Total Cycles: folds back to back, fill/drain every fold, last-index count"

    def schedule(self, *, rows: int, cols: int, dataflow: Dataflow) -> FoldSchedule:  # type: ignore[override]
        preload = rows if dataflow.preloads_stationary else 0
        fold = preload + rows + cols - 2  # cycles of a fold beyond its T streamed steps
        return FoldSchedule(stream_extra_cycles=fold, interval_floor_cycles=0, tail_cycles=fold - 1)


class PipelinedTiming(TimingModel):
    """Gemmini-style fold pipeline: the next fold's preload overlaps this fold's stream."""

    name = "pipelined"
    description = "preload of the next fold overlaps streaming; one fill/drain per tile"

    def schedule(  # type: ignore[override]
        self,
        *,
        rows: int,
        cols: int,
        dataflow: Dataflow,
        preload_cycles: int | None = None,
        fill_drain_cycles: int | None = None,
        fold_overhead_cycles: int = 0,
        tile_overhead_cycles: int = 0,
    ) -> FoldSchedule:
        """Constants of the pipelined model.

        preload_cycles: cycles to shift one fold's stationary block into the
            PEs (ws/is) or out of them (os drain); default ``rows`` (one row
            of the block per cycle).
        fill_drain_cycles: skew of the last wavefront through the array,
            paid once per tile; default ``rows + cols - 2``.
        fold_overhead_cycles: fixed cost of each fold (e.g. an instruction
            issue that cannot be hidden); default 0.
        tile_overhead_cycles: fixed cost of each tile (each call), e.g. the
            command/config latency of one compute invocation; default 0.
        """
        p = rows if preload_cycles is None else int(preload_cycles)
        d = rows + cols - 2 if fill_drain_cycles is None else int(fill_drain_cycles)
        fo, to = int(fold_overhead_cycles), int(tile_overhead_cycles)
        for label, value in (("preload_cycles", p), ("fill_drain_cycles", d),
                             ("fold_overhead_cycles", fo), ("tile_overhead_cycles", to)):
            if value < 0:
                raise ValueError(f"{label} must be >= 0, got {value}")
        first = p if dataflow.preloads_stationary else 0
        return FoldSchedule(stream_extra_cycles=fo, interval_floor_cycles=p + fo,
                            tail_cycles=first + d + fo + to)


_BUILTIN: tuple[type[TimingModel], ...] = (PipelinedTiming, ScaleSimTiming)

TIMING_MODELS: Mapping[str, TimingModel] = MappingProxyType({cls.name: cls() for cls in _BUILTIN})
DEFAULT_TIMING = "pipelined"


def timing_names() -> tuple[str, ...]:
    return tuple(TIMING_MODELS)


def get_timing(name: str | TimingModel) -> TimingModel:
    if isinstance(name, TimingModel):
        return name
    try:
        return TIMING_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown timing model {name!r} (known: {', '.join(TIMING_MODELS)})") from None


# -- helpers -----------------------------------------------------------------

def as_count(value: Any, label: str) -> np.ndarray:
    """`value` as a non-negative int64 array (ints, integer arrays or integral floats)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "b":
        raise TypeError(f"{label} must be an integer, got booleans")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise TypeError(f"{label} must hold whole numbers")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{label} must be an integer or an integer array, got {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any(arr < 0):
        raise ValueError(f"{label} must be >= 0")
    return arr


def check_array(rows: int, cols: int) -> tuple[int, int]:
    for label, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{label} must be a positive integer, got {v!r}")
    return int(rows), int(cols)


def fold_pipeline_cycles(folds: np.ndarray, t: np.ndarray, schedule: FoldSchedule) -> np.ndarray:
    """``(F-1) * max(T + stream_extra, interval_floor) + T + tail`` where F, T > 0, else 0."""
    interval = np.maximum(t + schedule.stream_extra_cycles, schedule.interval_floor_cycles)
    cycles = (folds - 1) * interval + t + schedule.tail_cycles
    return np.where((folds > 0) & (t > 0), cycles, 0).astype(np.int64)


def schedule_for(*, rows: int, cols: int, dataflow: str | Dataflow, timing: str | TimingModel,
                 **timing_params: Any) -> FoldSchedule:
    """The `FoldSchedule` a timing model gives for an array and dataflow."""
    rows, cols = check_array(rows, cols)
    return get_timing(timing).schedule(rows=rows, cols=cols, dataflow=get_dataflow(dataflow),
                                       **timing_params)


# -- public API ----------------------------------------------------------------

def gemm_cycles(m, n, k, *, rows: int, cols: int, dataflow: str | Dataflow, timing: str | TimingModel,
                groups=1, **timing_params: Any) -> np.ndarray:
    """Compute cycles of ``groups`` GEMMs ``[m x k] * [k x n]`` run one after the other.

    `m`, `n`, `k` and `groups` are ints or integer arrays and broadcast
    together; the result is an int64 array of the broadcast shape (0-d for
    scalars). A zero extent gives 0 cycles. `timing_params` are the model's
    documented constants (`PipelinedTiming.schedule`); the ``scalesim``
    model takes none.

    Called with a whole layer's (m, n, k), ``timing="scalesim"`` is
    SCALE-Sim v3's per-layer "Total Cycles"; for a SCALE-Sim ``DP`` layer
    (one layer per channel) pass ``groups=channels`` to get the sum.
    """
    m_, n_, k_, g_ = (as_count(v, label) for v, label in ((m, "m"), (n, "n"), (k, "k"), (groups, "groups")))
    df = get_dataflow(dataflow)
    sched = schedule_for(rows=rows, cols=cols, dataflow=df, timing=timing, **timing_params)
    sr, sc, t = df.spatial_temporal(m_, n_, k_)
    folds = (-(-sr // rows)) * (-(-sc // cols))
    return (g_ * fold_pipeline_cycles(folds, t, sched)).astype(np.int64)


def gemm_folds(m, n, k, *, rows: int, cols: int, dataflow: str | Dataflow, groups=1) -> np.ndarray:
    """Folds of ``groups`` GEMMs on the array (``groups * ceil(Sr/rows) * ceil(Sc/cols)``)."""
    rows, cols = check_array(rows, cols)
    m_, n_, k_, g_ = (as_count(v, label) for v, label in ((m, "m"), (n, "n"), (k, "k"), (groups, "groups")))
    return (g_ * get_dataflow(dataflow).folds(m_, n_, k_, rows=rows, cols=cols)).astype(np.int64)


def ideal_cycles(m, n, k, *, rows: int, cols: int, groups=1) -> np.ndarray:
    """Compute-only lower bound: ``groups * ceil(m*n*k / (rows*cols))`` (every PE busy every cycle)."""
    rows, cols = check_array(rows, cols)
    m_, n_, k_, g_ = (as_count(v, label) for v, label in ((m, "m"), (n, "n"), (k, "k"), (groups, "groups")))
    pes = rows * cols
    return (g_ * (-(-(m_ * n_ * k_) // pes))).astype(np.int64)
