"""Systolic-array dataflows: which GEMM dimension goes where on the array.

Everything in `npusim.npu` works in the GEMM view ``C[M x N] = A[M x K] * B[K x N]``
with A the input operand (for a conv: im2col rows, M = output pixels, K = R*S*C
per group), B the weights (N = filters per group) and C the outputs.

A dataflow places two of the three dimensions *spatially* -- one on the array
rows, one on the array columns -- and *streams* the third through the array in
time. SCALE-Sim calls these ``Sr``, ``Sc`` and ``T``; its source
(``compute/systolic_compute_{ws,os,is}.py`` and
``topology_utils.calc_spatio_temporal_params``) uses:

====  ==============  ==============  ==============  =========================
name  rows (``Sr``)   cols (``Sc``)   streamed (T)    stationary in the PEs
====  ==============  ==============  ==============  =========================
ws    K  (window)     N  (filters)    M  (pixels)     B (weights), preloaded
os    M  (pixels)     N  (filters)    K  (window)     C (partial sums), drained
is    K  (window)     M  (pixels)     N  (filters)    A (inputs), preloaded
====  ==============  ==============  ==============  =========================

A *fold* is one placement of an ``rows x cols`` block of the spatial
dimensions; a layer (or tile) needs ``ceil(Sr / rows) * ceil(Sc / cols)``
folds, and each fold streams all ``T`` steps.

Adding a dataflow means adding one small class here and listing it in
`_BUILTIN` (the registry is immutable once the module is imported).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

import numpy as np

GEMM_DIMS = ("m", "n", "k")


class Dataflow:
    """Base class: a dataflow is its spatial/temporal placement of (m, n, k)."""

    name: ClassVar[str]
    description: ClassVar[str]
    rows_dim: ClassVar[str]  # GEMM dimension laid along the array rows (SCALE-Sim Sr)
    cols_dim: ClassVar[str]  # GEMM dimension laid along the array columns (SCALE-Sim Sc)
    stream_dim: ClassVar[str]  # GEMM dimension streamed in time (SCALE-Sim T)
    # True when the stationary operand must be shifted into the PEs before a
    # fold can stream (ws: weights, is: inputs); False when the stationary
    # values are outputs that start at zero and are drained afterwards (os).
    preloads_stationary: ClassVar[bool]

    def __init__(self) -> None:
        dims = (self.rows_dim, self.cols_dim, self.stream_dim)
        if sorted(dims) != sorted(GEMM_DIMS):
            raise TypeError(f"dataflow {self.name!r} must place each of m, n, k exactly once, got {dims}")

    @property
    def dim_indices(self) -> tuple[int, int, int]:
        """Indices into (m, n, k) of (rows, cols, stream) -- for the numba path."""
        return (GEMM_DIMS.index(self.rows_dim), GEMM_DIMS.index(self.cols_dim),
                GEMM_DIMS.index(self.stream_dim))

    def spatial_temporal(self, m, n, k):
        """``(Sr, Sc, T)``: the extents on the array rows, on the columns, and in time."""
        dims = {"m": m, "n": n, "k": k}
        return dims[self.rows_dim], dims[self.cols_dim], dims[self.stream_dim]

    def folds(self, m, n, k, *, rows: int, cols: int) -> np.ndarray:
        """Number of folds: ``ceil(Sr / rows) * ceil(Sc / cols)`` (int64, broadcast)."""
        sr, sc, _ = self.spatial_temporal(*(np.asarray(x, dtype=np.int64) for x in (m, n, k)))
        return (-(-sr // rows)) * (-(-sc // cols))

    def __repr__(self) -> str:
        return f"<dataflow {self.name}: rows={self.rows_dim} cols={self.cols_dim} stream={self.stream_dim}>"


class WeightStationary(Dataflow):
    name = "ws"
    description = "weight stationary: K x N weights preloaded into the PEs, the M input rows stream"
    rows_dim = "k"
    cols_dim = "n"
    stream_dim = "m"
    preloads_stationary = True


class OutputStationary(Dataflow):
    name = "os"
    description = "output stationary: each PE accumulates one output of an M x N block over the K steps"
    rows_dim = "m"
    cols_dim = "n"
    stream_dim = "k"
    preloads_stationary = False


class InputStationary(Dataflow):
    name = "is"
    description = "input stationary: K x M inputs preloaded into the PEs, the N filters stream"
    rows_dim = "k"
    cols_dim = "m"
    stream_dim = "n"
    preloads_stationary = True


_BUILTIN: tuple[type[Dataflow], ...] = (WeightStationary, OutputStationary, InputStationary)

DATAFLOWS: Mapping[str, Dataflow] = MappingProxyType({cls.name: cls() for cls in _BUILTIN})


def dataflow_names() -> tuple[str, ...]:
    return tuple(DATAFLOWS)


def get_dataflow(name: str | Dataflow) -> Dataflow:
    """The registered dataflow called `name` (a `Dataflow` instance passes through)."""
    if isinstance(name, Dataflow):
        return name
    try:
        return DATAFLOWS[name]
    except KeyError:
        raise ValueError(f"unknown dataflow {name!r} (known: {', '.join(DATAFLOWS)})") from None
