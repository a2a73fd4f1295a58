"""Where a tenant's tensors live in physical memory.

Each tenant gets its own slot of the physical address space (1 GiB, smaller
when the tenants' slots would run past the DRAM device). Inside it,
every layer's weights and every layer's output activation get a buffer of
their own, 4 KiB aligned, in trace order; a scratch buffer holds spilled
partial sums. Layouts (docs/MAPPING.md): activations NHWC with the batch
folded into rows (channel-interleaved groups) for spatial ops and
group-major [G][rows][features] for matmul/lstm; weights [G][K][R][S][C],
i.e. filter-major with input channels innermost (a gemm's B is stored as
N rows of K, like a PyTorch Linear weight).
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.trace import Layer, Trace

ALIGN_BYTES = 4096
SLOT_BYTES = 1 << 30  # address space per tenant slot (grown when a model needs more)


def _align(n: int) -> int:
    return -(-n // ALIGN_BYTES) * ALIGN_BYTES


@dataclass(frozen=True)
class TensorLayout:
    base_bytes: int
    network_input_base: int
    weight_base: dict[str, int]
    output_base: dict[str, int]
    scratch_base: int
    end_bytes: int

    @property
    def size_bytes(self) -> int:
        return self.end_bytes - self.base_bytes


def layout_trace(trace: Trace, base_bytes: int = 0, acc_elem_bytes: int = 4) -> TensorLayout:
    """Bump-allocate the tensors of `trace` from `base_bytes`; spilled partial
    sums take `acc_elem_bytes` (the NPU's accumulator element) each."""
    at = _align(base_bytes)
    net_in = at
    # every layer with no producer reads the network input (the first one, another expert's
    # crop, a prompt beside the states): the buffer holds the largest such read
    readers = [layer for layer in trace.layers if not (layer.inputs[:1] if layer.op == "matmul" else layer.inputs)]
    at = _align(at + max([1] + [layer.input_bytes for layer in readers]))
    weights: dict[str, int] = {}
    outputs: dict[str, int] = {}
    scratch = 0
    for layer in trace.layers:
        if layer.weights:  # reuses an earlier layer's weight tensor (stored once)
            if layer.weights in weights:
                weights[layer.name] = weights[layer.weights]
        elif layer.weight_bytes:
            weights[layer.name] = at
            at = _align(at + layer.weight_bytes)
    # a gemm written in row chunks (`output_into`) gets a buffer that holds every chunk
    extent = {layer.name: layer.output_bytes for layer in trace.layers}
    for layer in trace.layers:
        if layer.output_into:
            end = _chunk_offset(layer) + layer.output_bytes
            extent[layer.output_into] = max(extent[layer.output_into], end)
    for layer in trace.layers:
        scratch = max(scratch, layer.output_elems * acc_elem_bytes)  # a layer's spills, [P][Q][G*K]
        if layer.output_into:
            outputs[layer.name] = outputs[layer.output_into] + _chunk_offset(layer)
            continue
        outputs[layer.name] = at
        at = _align(at + max(extent[layer.name], 1))
    scratch_base = at
    at = _align(at + max(scratch, 1))
    return TensorLayout(base_bytes=base_bytes, network_input_base=net_in, weight_base=weights,
                        output_base=outputs, scratch_base=scratch_base, end_bytes=at)


def _chunk_offset(layer: Layer) -> int:
    """Byte offset of a row chunk inside the output it writes into."""
    return layer.row_offset * layer.N * layer.out_elem_bytes


def tenant_base(slot: int, slot_bytes: int = SLOT_BYTES) -> int:
    return slot * slot_bytes


def slots_needed(layout_size_bytes: int, slot_bytes: int = SLOT_BYTES) -> int:
    return max(1, -(-layout_size_bytes // slot_bytes))


def slot_bytes_within(footprints_bytes: list[int], capacity_bytes: int) -> int:
    """The slot size for tenants of these footprints on a device of `capacity_bytes`:
    SLOT_BYTES, or the largest smaller power of two (down to ALIGN_BYTES) at which
    every slot lies inside the device. Slots past the capacity would wrap onto
    other tenants' rows; when even the smallest slots do not fit, SLOT_BYTES
    (the tensors are larger than the device and alias whatever the slot size)."""
    def fits(slot: int) -> bool:
        return sum(slots_needed(f, slot) for f in footprints_bytes) * slot <= capacity_bytes

    slot = SLOT_BYTES
    while slot > ALIGN_BYTES and not fits(slot):
        slot //= 2
    return slot if fits(slot) else SLOT_BYTES
