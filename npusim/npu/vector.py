"""The vector path: pooling, element-wise ops, embeddings, activations.

Throughput model: the vector unit has ``elems_per_cycle`` lanes (SoC spec
``npu.vector_elems_per_cycle``, default the array width) and each lane
consumes one input element per cycle. An operation producing ``elements``
outputs, each of which reads ``ops_per_elem`` input elements, takes::

    cycles = ceil(elements * ops_per_elem / elems_per_cycle) + overhead_cycles

(0 when there is nothing to do). What to pass:

==============================  ===================  ==========================
operation                       elements             ops_per_elem
==============================  ===================  ==========================
pool, window r x s              output elements      r * s (every window input
                                                     is read, overlapping
                                                     windows re-read: no line
                                                     buffer reuse)
global average pool             output elements      H * W
element-wise, n inputs          output elements      n (add of two tensors: 2)
activation / scale              elements             1
embedding lookup (M x N rows)   M * N values         1
==============================  ===================  ==========================
"""

from __future__ import annotations

import numpy as np

from .timing import as_count


def vector_cycles(elements, *, elems_per_cycle: int, ops_per_elem=1, overhead_cycles: int = 0) -> np.ndarray:
    """Cycles of a vector-path operation (see the module docstring for what to pass).

    `elements` and `ops_per_elem` are ints or integer arrays (broadcast);
    `overhead_cycles` is a fixed cost per call (default 0) added whenever
    there is work. Returns int64.
    """
    if isinstance(elems_per_cycle, bool) or not isinstance(elems_per_cycle, (int, np.integer)) \
            or elems_per_cycle < 1:
        raise ValueError(f"elems_per_cycle must be a positive integer, got {elems_per_cycle!r}")
    if overhead_cycles < 0:
        raise ValueError(f"overhead_cycles must be >= 0, got {overhead_cycles}")
    work = as_count(elements, "elements") * as_count(ops_per_elem, "ops_per_elem")
    cycles = -(-work // int(elems_per_cycle)) + int(overhead_cycles)
    return np.where(work > 0, cycles, 0).astype(np.int64)
