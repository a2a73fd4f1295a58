"""Compute timing of the NPU cores: systolic-array GEMMs and the vector path (docs/NPU.md).

Work is seen as ``C[M x N] = A[M x K] * B[K x N]`` (A: inputs / im2col rows,
B: weights, N: filters per group); `gemm_cycles` evaluates a timing model
(``pipelined``, the default, or ``scalesim``) for a dataflow (``ws``, ``os``,
``is``) on an ``rows x cols`` array, vectorised over any number of tiles.
"""

from .convert import conv_gemm_dims, conv_out_size
from .dataflows import DATAFLOWS, Dataflow, dataflow_names, get_dataflow
from .scalesim_io import read_scalesim_report, read_scalesim_topology
from .timing import (
    DEFAULT_TIMING,
    TIMING_MODELS,
    FoldSchedule,
    TimingModel,
    gemm_cycles,
    gemm_folds,
    get_timing,
    ideal_cycles,
    schedule_for,
    timing_names,
)
from .vector import vector_cycles

__all__ = [
    "DATAFLOWS", "DEFAULT_TIMING", "TIMING_MODELS", "Dataflow", "FoldSchedule", "TimingModel",
    "conv_gemm_dims", "conv_out_size", "dataflow_names", "gemm_cycles", "gemm_folds", "get_dataflow",
    "get_timing", "ideal_cycles", "read_scalesim_report", "read_scalesim_topology", "schedule_for",
    "timing_names", "vector_cycles",
]
