"""Routing a plan's runs: which memory serves each run of each step.

A plan says where every operand lives: through the LRU LLC (unmanaged
plans), in the tenant's cache region (resident tensors and a block's
intermediate maps), and everything else of a region plan either straight to
DRAM or, when the policy keeps LRU ways beside the regions (CaMDN), through
those ways. Runs are grouped
once per (layer, plan) into per-step slices by route, so the engine's step
loop only slices arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..mapping.layout import TensorLayout
from ..mapping.plan import LayerPlan
from ..mapping.streams import (KIND_INPUT, KIND_OUTPUT, KIND_PARTIAL_READ, KIND_PARTIAL_WRITE, KIND_WEIGHT,
                               LayerStreams, StreamBuffers)

READ_CACHE, READ_REGION, READ_DRAM, WRITE_CACHE, WRITE_REGION, WRITE_DRAM = range(6)
N_ROUTES = 6
ROUTE_NAMES = ("read_cache", "read_region", "read_dram", "write_cache", "write_region", "write_dram")


def _no_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    empty.flags.writeable = False
    return empty, empty, empty


NO_RUNS = _no_runs()  # (starts, lengths, readers) of a route a step does not use


def route_table(plan: LayerPlan, unplaced_via_cache: bool = False) -> np.ndarray:
    """Route of each run kind under `plan`; `unplaced_via_cache` sends what a
    region plan does not place through the LRU ways instead of around them."""
    table = np.empty(5, dtype=np.int64)
    if plan.unmanaged:
        table[[KIND_INPUT, KIND_WEIGHT, KIND_PARTIAL_READ]] = READ_CACHE
        table[[KIND_OUTPUT, KIND_PARTIAL_WRITE]] = WRITE_CACHE
        return table
    inputs_resident = plan.resident in ("inputs", "both") or plan.input_in_region
    weights_resident = plan.resident in ("weights", "both")
    table[KIND_INPUT] = READ_REGION if inputs_resident else READ_DRAM
    table[KIND_WEIGHT] = READ_REGION if weights_resident else READ_DRAM
    table[KIND_PARTIAL_READ] = READ_DRAM
    table[KIND_OUTPUT] = WRITE_REGION if plan.output_in_region else WRITE_DRAM
    table[KIND_PARTIAL_WRITE] = WRITE_DRAM
    if unplaced_via_cache:
        table[table == READ_DRAM] = READ_CACHE
        table[table == WRITE_DRAM] = WRITE_CACHE
    return table


@dataclass(frozen=True)
class RoutedStreams:
    """Runs sorted by (step, route); `ptr[step, route]` .. `ptr[step, route + 1]`."""

    starts: np.ndarray
    lengths: np.ndarray
    readers: np.ndarray
    ptr: np.ndarray  # int64 [steps, N_ROUTES + 1]
    step_cycles: np.ndarray
    step_tail_cycles: np.ndarray  # a step's compute after its last block of input channels is in
    step_requests: np.ndarray
    step_write_requests: np.ndarray
    step_read_requests: np.ndarray

    @property
    def steps(self) -> int:
        return len(self.step_cycles)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.starts, self.lengths, self.readers, self.ptr, self.step_cycles,
                                      self.step_tail_cycles, self.step_requests, self.step_write_requests,
                                      self.step_read_requests))


def route_streams(streams: LayerStreams, plan: LayerPlan, unplaced_via_cache: bool = False) -> RoutedStreams:
    table = route_table(plan, unplaced_via_cache)
    n_steps = streams.steps
    step_of_run = np.repeat(np.arange(n_steps, dtype=np.int64), np.diff(streams.step_ptr))
    route = table[streams.kinds.astype(np.int64)]
    order = np.lexsort((route, step_of_run))  # stable: keeps the access order within a route
    key = step_of_run[order] * N_ROUTES + route[order]
    bounds = np.searchsorted(key, np.arange(n_steps * N_ROUTES + 1, dtype=np.int64))
    ptr = np.empty((n_steps, N_ROUTES + 1), dtype=np.int64)
    for r in range(N_ROUTES + 1):
        ptr[:, r] = bounds[np.arange(n_steps) * N_ROUTES + r]
    return RoutedStreams(starts=streams.starts[order], lengths=streams.lengths[order],
                         readers=streams.readers[order], ptr=ptr, step_cycles=streams.step_cycles,
                         step_tail_cycles=streams.step_tail_cycles, step_requests=streams.step_requests,
                         step_write_requests=streams.step_write_requests,
                         step_read_requests=streams.step_read_requests)


STREAM_CACHE_BYTES = 1 << 30  # default: routed streams a simulation keeps for reuse


class StreamStore:
    """The routed streams of one simulation, kept for the next request that runs the
    same plan, and shared by tenants that serve the same model: their traces are
    equal and their layouts equal up to the base address, so one tenant's runs are
    another's shifted by the difference of the bases.

    It keeps at most `budget_bytes` of arrays: once full it keeps what it holds and
    a plan it has no room for is generated again each time it runs (the same runs:
    generation is deterministic). Requests run the same layers in a cycle, so
    keeping the first streams reuses a budget's worth of them on every request,
    where evicting the least recently used would reuse none."""

    def __init__(self, budget_bytes: int = STREAM_CACHE_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self.kept_bytes = 0
        self.buffers = StreamBuffers()  # scratch of the stream kernel, reused layer after layer
        self._families: dict[tuple, int] = {}
        self._routed: dict[tuple, tuple[int, RoutedStreams]] = {}

    def family(self, layers: tuple, layout: TensorLayout) -> int:
        """An id equal for tenants whose streams differ only by their base."""
        base = layout.base_bytes
        shape = (repr(layers), layout.network_input_base - base, layout.scratch_base - base,
                 layout.end_bytes - base, tuple((k, v - base) for k, v in layout.weight_base.items()),
                 tuple((k, v - base) for k, v in layout.output_base.items()))
        return self._families.setdefault(shape, len(self._families))

    def get(self, key: tuple, base_bytes: int) -> RoutedStreams | None:
        hit = self._routed.get(key)
        if hit is None:
            return None
        their_base, rs = hit
        return rs if their_base == base_bytes else replace(rs, starts=rs.starts + (base_bytes - their_base))

    def put(self, key: tuple, base_bytes: int, rs: RoutedStreams) -> None:
        if key in self._routed or self.kept_bytes + rs.nbytes > self.budget_bytes:
            return
        self._routed[key] = (base_bytes, rs)
        self.kept_bytes += rs.nbytes

    def __enter__(self) -> "StreamStore":
        return self

    def __exit__(self, *exc) -> None:
        self.clear()

    def clear(self) -> None:
        """Free every kept stream and the kernel's scratch (a finished simulation)."""
        self._routed.clear()
        self.kept_bytes = 0
        self.buffers = StreamBuffers(runs=1, steps=1)
