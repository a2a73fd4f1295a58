"""Mapping plans: for each layer, core count and region budget, the tiling,
loop order and resident tensors, with predicted bytes and cycles.

A plan row is what the engine executes and what the policies choose from.
Budgets form a ladder (default 0, 256 KiB ... 16 MiB) plus ``unmanaged``
(budget_bytes = -1): the plain-cache mapping, whose traffic goes through the
LRU LLC. In budget modes the resident tensors live in the tenant's cache
region and everything else bypasses the cache, as CaMDN's NPU places data
explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from .nest import LoopNest
from .search import FI, OBJECTIVES, ORDER_NAMES, span_sum, tenant_factors

UNMANAGED = -1
KiB, MiB = 1 << 10, 1 << 20
DEFAULT_LADDER = (0, 256 * KiB, 512 * KiB, 1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB)
RESIDENT_OPTIONS = ("none", "weights", "inputs", "both")


@dataclass(frozen=True)
class CostModel:
    """How a plan's compute and memory time combine into predicted cycles, and
    the compute-timing constants of the cores (npusim.npu `pipelined` model).

    predicted = max(compute, memory) + overlap_alpha * min(compute, memory)
    + layer_overhead_cycles, the shape of MoCA's runtime model. memory is the
    larger of DRAM bytes over the sustained DRAM bandwidth and LLC bytes over
    the cores' DMA (or the LLC's) bandwidth. overlap_alpha, dram_efficiency and
    lru_capacity_share are set, not fitted (docs/MAPPING.md); the Mapper takes
    layer_overhead_cycles from the SoC's layer_setup_cycles, which the gemmini-moca
    preset fits on measured cycles (docs/VALIDATION.md).
    """

    overlap_alpha: float = 0.25
    dram_efficiency: float = 0.8  # share of peak DRAM bandwidth a layer sustains
    lru_capacity_share: float = 0.5  # share of the LLC an unmanaged tensor can count on
    layer_overhead_cycles: int = 0  # fixed per-layer cost (command issue, synchronisation)
    tile_overhead_cycles: int = 0  # fixed cost of each compute tile (npusim.npu pipelined model)
    vector_overhead_cycles: int = 0  # fixed cost of each vector-path tile
    tie_tolerance: float = 0.02  # tilings within 2 % of the fewest bytes tie; the fastest wins

    def timing_params(self, timing: str) -> dict:
        """Keyword constants for npusim.npu's timing model (scalesim takes none)."""
        return {"tile_overhead_cycles": self.tile_overhead_cycles} if timing == "pipelined" else {}


@dataclass(frozen=True)
class LayerPlan:
    layer: str
    op: str
    cores: int
    budget_bytes: int  # -1: unmanaged
    cores_used: int
    split_k: int
    split_g: int
    split_p: int
    split_q: int
    tile_g: int
    tile_k: int
    tile_c: int
    tile_p: int
    tile_q: int
    loop_order: str
    resident: str  # none | weights | inputs | both
    tiled_by: str = "search"  # who chose the tiles: the search or a library's tiler (tilers.py)
    block: str = ""
    fused: bool = False  # planned as part of a layer block whose maps stay in the region
    input_in_region: bool = False  # reads its input from the block's region
    output_in_region: bool = False  # its output stays in the region (no DRAM write)
    region_bytes: int = 0
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    llc_bytes: int = 0
    compute_cycles: int = 0
    memory_cycles: int = 0
    predicted_cycles: int = 0
    steps: int = 0

    @property
    def dram_bytes(self) -> int:
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def load_bytes(self) -> int:
        """Bytes the cores' DMAs load (LLC hits included): all traffic but the writes."""
        return max(0, self.llc_bytes - self.dram_write_bytes)

    @property
    def unmanaged(self) -> bool:
        return self.budget_bytes == UNMANAGED

    def as_row(self) -> dict:
        row = {}
        for name in _PLAN_FIELDS:  # all scalars: asdict's deep copy is not needed
            row[name] = getattr(self, name)
            if name == "budget_bytes":
                row["budget"] = "unmanaged" if self.unmanaged else str(self.budget_bytes)
            elif name == "dram_write_bytes":
                row["dram_bytes"] = self.dram_bytes
        return row


_PLAN_FIELDS = tuple(f.name for f in fields(LayerPlan))


@dataclass(frozen=True)
class MemorySystem:
    """The numbers of the SoC a plan's byte and cycle predictions need."""

    dram_peak_bytes_per_cycle: float
    dma_bytes_per_cycle: int  # per core
    llc_bytes_per_cycle: int
    llc_size_bytes: int


class LayerCandidates:
    """The search winners of one layer on one core count, one per objective,
    turned into plan rows for any budget."""

    def __init__(self, nest: LoopNest, best: np.ndarray, cores: int, memory: MemorySystem,
                 cost: CostModel, overlapped: bool = True, tiled_by: str = "search"):
        """`overlapped`: the layer fetches a tile while computing the previous one (False:
        one after the other, so compute and memory time add up); `tiled_by`: who chose
        the tiles, for the plan rows."""
        self.nest = nest
        self.tiled_by = tiled_by
        self.overlapped = overlapped
        self.best = best
        self._rows = best.tolist()  # plain floats: plans read a dozen fields each
        self._best_memo: dict[tuple, LayerPlan | None] = {}
        self._options_memo: dict[tuple, list[LayerPlan]] = {}
        self.cores = cores
        self.memory = memory
        self.cost = cost
        f = tenant_factors(nest)
        self.f_in, self.f_w, self.f_out, self.f_in_llc, self.f_w_llc = (float(x) for x in f)
        # what the tenant's cores read at least once, as a whole (halos between cores overlap)
        rows, _ = span_sum(nest.P, nest.P, nest.stride, nest.R, nest.padding, nest.H)
        cols, _ = span_sum(nest.Q, nest.Q, nest.stride, nest.S, nest.padding, nest.W)
        n_ops = nest.n_inputs if nest.vector else 1
        self.in_unique = float(n_ops * nest.G * nest.C * rows * cols * nest.in_eb) if nest.op != "embedding" else 0.0
        # a pool's or element-wise layer's K x C x R x S is its window, not weights: it reads none
        if nest.op == "embedding":
            self.w_unique = float(best[0, FI["w_unique_bytes"]] * self.f_w)
        else:
            self.w_unique = 0.0 if nest.vector else float(nest.weight_bytes)

    def _get(self, obj: int, name: str) -> float:
        return float(self._rows[obj][FI[name]])

    def feasible(self, resident: str) -> bool:
        return self.best[OBJECTIVES.index(resident), FI["found"]] > 0

    @property
    def fits(self) -> bool:
        return self.feasible("none")

    def footprint(self, resident: str) -> int:
        """Region bytes the tenant needs to keep `resident` tensors whole."""
        fp = 0.0
        if resident in ("weights", "both"):
            fp += self.w_unique
        if resident in ("inputs", "both"):
            fp += self.in_unique
        return int(math.ceil(fp))

    def memory_cycles(self, dram_bytes: float, llc_bytes: float) -> int:
        m, t = self.memory, self.cost
        dram_bpc = m.dram_peak_bytes_per_cycle * t.dram_efficiency
        link_bpc = min(self.nest.cores_used * m.dma_bytes_per_cycle, m.llc_bytes_per_cycle)
        return int(math.ceil(max(dram_bytes / dram_bpc, llc_bytes / link_bpc)))

    def predicted(self, compute: int, memory: int) -> int:
        t = self.cost
        if not self.overlapped:
            return compute + memory + t.layer_overhead_cycles
        return int(math.ceil(max(compute, memory) + t.overlap_alpha * min(compute, memory))) + \
            t.layer_overhead_cycles

    def plan(self, resident: str, budget_bytes: int, *, input_in_region: bool = False,
             output_in_region: bool = False, pinned_bytes: int = 0, block: str = "",
             fused: bool = False, input_region_share: float = 1.0) -> LayerPlan:
        """The plan row of one objective's winner, with tenant-level numbers.
        `input_region_share`: with `input_in_region`, the share of the input an
        earlier block layer produced into the region (the rest, a residual's
        shortcut, is filled into it from DRAM)."""
        unmanaged = budget_bytes == UNMANAGED
        obj = OBJECTIVES.index("unmanaged" if unmanaged else resident)
        g = lambda name: self._get(obj, name)  # noqa: E731
        n = self.nest
        partial = g("partial_bytes")
        in_traffic, w_traffic, out_bytes = g("in_traffic_bytes"), g("w_traffic_bytes"), g("out_bytes")
        f_in, f_w, f_out = self.f_in, self.f_w, self.f_out
        in_unique, w_unique = self.in_unique, self.w_unique  # tenant level
        if unmanaged:
            resident = "none"
            llc = self.f_in_llc * in_traffic + self.f_w_llc * w_traffic
            # analytic LRU: a tensor's refetches hit when it fits the share of the LLC it can count on
            cap = self.cost.lru_capacity_share * self.memory.llc_size_bytes
            reads = ((in_unique if in_unique <= cap else f_in * in_traffic)
                     + (w_unique if w_unique <= cap else f_w * w_traffic))
            region = 0.0
        else:
            llc = f_in * in_traffic + f_w * w_traffic
            reads = ((in_unique if resident in ("inputs", "both") else f_in * in_traffic)
                     + (w_unique if resident in ("weights", "both") else f_w * w_traffic))
            region = float(self.footprint(resident) + pinned_bytes)
            if input_in_region:
                # produced into the region by an earlier layer of the block (counted in pinned)
                reads -= in_unique * input_region_share
                if resident in ("inputs", "both"):
                    region -= in_unique * input_region_share
        reads += f_out * partial / 2
        writes = f_out * (partial / 2 + (0.0 if output_in_region else out_bytes))
        llc += f_out * (out_bytes + partial)
        compute = int(g("compute_cycles"))
        memory = self.memory_cycles(reads + writes, llc)
        return LayerPlan(
            layer=n.layer, op=n.op, cores=self.cores, budget_bytes=budget_bytes, cores_used=n.cores_used,
            split_k=n.split_k, split_g=n.split_g, split_p=n.split_p, split_q=n.split_q,
            tile_g=int(g("tile_g")), tile_k=int(g("tile_k")), tile_c=int(g("tile_c")),
            tile_p=int(g("tile_p")), tile_q=int(g("tile_q")), loop_order=ORDER_NAMES[int(g("order"))],
            resident=resident, tiled_by=self.tiled_by, block=block, fused=fused, input_in_region=input_in_region,
            output_in_region=output_in_region, region_bytes=max(0, int(math.ceil(region))),
            dram_read_bytes=int(round(max(reads, 0.0))), dram_write_bytes=int(round(max(writes, 0.0))),
            llc_bytes=int(round(llc)), compute_cycles=compute, memory_cycles=memory,
            predicted_cycles=self.predicted(compute, memory), steps=int(g("steps")),
        )

    def best_for_budget(self, budget_bytes: int, *, pinned_bytes: int = 0, input_in_region: bool = False,
                        output_in_region: bool = False, block: str = "", fused: bool = False,
                        input_region_share: float = 1.0) -> LayerPlan | None:
        """The resident set that fits `budget_bytes` (pinned bytes included)
        with the fewest DRAM bytes, then fewest cycles, then smallest footprint.
        Asked again and again by runtime policies, so each answer is kept."""
        key = (budget_bytes, pinned_bytes, input_in_region, output_in_region, block, fused, input_region_share)
        if key not in self._best_memo:
            self._best_memo[key] = self._best_for_budget(*key)
        return self._best_memo[key]

    def _best_for_budget(self, budget_bytes: int, pinned_bytes: int, input_in_region: bool,
                         output_in_region: bool, block: str, fused: bool,
                         input_region_share: float) -> LayerPlan | None:
        if budget_bytes == UNMANAGED:
            return self.plan("none", UNMANAGED) if self.fits else None
        best: LayerPlan | None = None
        for p in self._region_options(pinned_bytes, input_in_region, output_in_region, block, fused,
                                      input_region_share):
            if p.region_bytes > budget_bytes:
                continue
            key = (p.dram_bytes, p.predicted_cycles, p.region_bytes)
            if best is None or key < (best.dram_bytes, best.predicted_cycles, best.region_bytes):
                best = p
        return None if best is None else replace(best, budget_bytes=budget_bytes)

    def _region_options(self, pinned_bytes: int, input_in_region: bool, output_in_region: bool, block: str,
                        fused: bool, input_region_share: float = 1.0) -> list[LayerPlan]:
        """The plan of every feasible resident set, built once for all budgets (a region plan depends on
        its budget only through the `budget_bytes` it records)."""
        key = (pinned_bytes, input_in_region, output_in_region, block, fused, input_region_share)
        options = self._options_memo.get(key)
        if options is None:
            options = self._options_memo[key] = [
                self.plan(res, 0, input_in_region=input_in_region, output_in_region=output_in_region,
                          pinned_bytes=pinned_bytes, block=block, fused=fused,
                          input_region_share=input_region_share)
                for res in RESIDENT_OPTIONS
                if self.feasible(res)
                # the input sits in the region anyway: plan with it resident
                and not (input_in_region and res in ("none", "weights"))]
        return options
