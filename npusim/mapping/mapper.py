"""The mapper: plans for every layer of a trace, with an on-disk plan cache.

The search result of a layer depends only on its loop nest (shape, split,
element sizes) and on the core's compute side (array, dataflow, timing,
buffers); it is cached on disk under a hash of exactly those, so sweeps over
LLC sizes, DRAM, policies or mixes never search a layer twice. Resolving a
budget from the cached winners is cheap and is done per call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from workloads.trace import Layer, Trace

from ..errors import InputError
from ..npu.scalar import hw_vector
from ..provenance import code_digest
from ..soc import SoCSpec
from .nest import LoopNest, loop_nest
from .plan import (DEFAULT_LADDER, UNMANAGED, CostModel, LayerCandidates, LayerPlan, MemorySystem)
from .search import FI, FIELDS, OBJECTIVES, search_layer, vector_best
from .tilers import FixedTiling, conv_runs_as_matmul, get_tiler


def default_cache_dir() -> Path:
    env = os.environ.get("NPUSIM_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "npusim"


def buffer_array(soc: SoCSpec) -> np.ndarray:
    n = soc.npu
    return np.array([n.input_buffer_bytes or 0, n.weight_buffer_bytes or 0, n.accumulator_bytes,
                     n.scratchpad_bytes or 0], dtype=np.int64)


def memory_system(soc: SoCSpec) -> MemorySystem:
    from ..dram import DRAM

    dram = DRAM.from_spec(soc.dram, clock_hz=soc.npu.clock_hz, request_bytes=soc.llc.line_bytes)
    return MemorySystem(dram_peak_bytes_per_cycle=float(dram.peak_bytes_per_cycle),
                        dma_bytes_per_cycle=effective_dma_bytes_per_cycle(soc, dram.min_read_cycles()),
                        llc_bytes_per_cycle=soc.llc.bytes_per_cycle, llc_size_bytes=soc.llc.size_bytes)


def effective_dma_bytes_per_cycle(soc: SoCSpec, dram_latency_cycles: int) -> int:
    """A core's sustained DMA rate: its bus width, or its requests in flight over
    an LLC-hit-plus-DRAM latency, whichever is lower (what the plans predict with)."""
    n = soc.npu
    latency = soc.llc.hit_latency_cycles + soc.llc.miss_latency_cycles + dram_latency_cycles
    by_latency = n.dma_max_inflight * soc.llc.line_bytes / latency
    return max(1, int(min(n.dma_bytes_per_cycle, by_latency)))


def pinned_outputs(names: Sequence[str], consumers: dict[str, tuple[str, ...]], i: int,
                   kept: dict[str, bool]) -> list[int]:
    """Positions j <= i in a fused block (layer `names` in order) whose outputs stay in the
    region while layer i runs: kept there (`kept`) and read by a block layer at or after i."""
    pos = {n: k for k, n in enumerate(names)}
    out = []
    for j in range(i + 1):
        later = [pos[c] for c in consumers[names[j]] if c in pos and pos[c] > j]
        if kept[names[j]] and later and max(later) >= i:
            out.append(j)
    return out


def per_window_code(npu) -> int:
    """How the kernels read the conv lowering: 0 for im2col; for per-window lowering, the
    fewest rows one compute streams (`npu.compute_min_rows`, at least 1)."""
    return max(1, npu.compute_min_rows) if npu.conv_lowering == "per_window" else 0


def fetches_ahead(npu, layer: Layer) -> bool:
    """Whether `layer` fetches a tile while computing the last on these cores: array layers
    always, vector-path layers unless the NPU runs their tiles in turn (`vector_overlap`)."""
    return npu.vector_overlap or layer.is_compute


def runs_as_matmul(layer: Layer) -> bool:
    """Whether a Gemmini-style NPU runs `layer` through its matmul loop rather than its conv
    loop: matrix layers and 1x1, stride-1, ungrouped convolutions (a matmul over the pixels)."""
    if layer.op in ("gemm", "matmul", "lstm"):
        return True
    kernel = (layer.kernel_h, layer.kernel_w)
    return layer.op == "conv" and conv_runs_as_matmul(*kernel, layer.stride, layer.groups)


def computes_per_block(npu, layer: Layer) -> bool:
    """Whether `layer`'s computes start as their own blocks arrive (`matmul_waits_for: block`),
    so a tile's compute overlaps its own loads, rather than once the whole tile is in."""
    return npu.matmul_waits_for == "block" and runs_as_matmul(layer)


class Mapper:
    """Plans layers of traces on one SoC. Not thread-safe; cheap to create."""

    def __init__(self, soc: SoCSpec, *, cost: CostModel | None = None,
                 cache_dir: Path | str | None | bool = None, memory: MemorySystem | None = None):
        """`cache_dir`: plan cache folder (None: the default, False: no disk
        cache); `memory`: the SoC's memory numbers (default: from its spec)."""
        self.soc = soc
        # the per-layer host cost the engine charges is part of every prediction
        self.cost = cost or CostModel(layer_overhead_cycles=soc.npu.layer_setup_cycles)
        npu = soc.npu
        self.hw = hw_vector(rows=npu.array_rows, cols=npu.array_cols, dataflow=npu.dataflow, timing=npu.timing,
                            **self.cost.timing_params(npu.timing))
        # [6]: the DMA request bytes of input pieces (`stream_vec` sets a layer's own)
        self.vec = np.array([npu.vector_elems_per_cycle, self.cost.vector_overhead_cycles,
                             per_window_code(npu), npu.dma_request_bytes,
                             int(npu.vector_overlap), npu.write_request_bytes, npu.dma_request_bytes],
                            dtype=np.int64)
        self.buffers = buffer_array(soc)
        self.memory = memory or memory_system(soc)
        if cache_dir is False:
            self.cache_dir = None
        else:
            self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir() / "plans"
        self._memo: dict[str, tuple[np.ndarray, str]] = {}  # key -> (search winners, who tiled)
        # (id(layer), cores) -> (layer, its candidates); the layer is kept so its id stays its own
        self._candidates: dict[tuple[int, int], tuple[Layer, LayerCandidates]] = {}
        self.searches = 0  # searches actually run (not served from a cache)

    # -- search with caching ------------------------------------------------
    def _key(self, nest: LoopNest) -> str:
        n = self.soc.npu
        payload = {
            "code": code_digest(),  # any change to the simulator leaves old entries unused
            "nest": {f.name: getattr(nest, f.name) for f in dataclasses.fields(nest) if f.name != "layer"},
            "hw": [int(x) for x in self.hw],
            "vec": [int(x) for x in self.vec],
            "buffers": [int(x) for x in self.buffers],
            "acc": n.accumulator_elem_bytes,
            "line": self.soc.llc.line_bytes,
            "tie": self.cost.tie_tolerance,
            "lowering": n.conv_lowering,
            "tiler": n.tiler,
            "link": [self.memory.dma_bytes_per_cycle, self.soc.llc.bytes_per_cycle, self.cost.overlap_alpha],
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def _search(self, nest: LoopNest) -> tuple[np.ndarray, str]:
        """The search winners of `nest` and who tiled them (the SoC's tiler, or "search")."""
        key = self._key(nest)
        if key in self._memo:
            return self._memo[key]
        path = self.cache_dir / key[:2] / f"{key}.npy" if self.cache_dir else None
        fixed = self._fixed(nest)  # asked once: it plans the layer and names who tiled it
        best = None
        if path is not None and path.is_file():
            try:
                best = np.load(path)
                if best.shape != (len(OBJECTIVES), len(FIELDS)):
                    best = None
            except (OSError, ValueError, EOFError):  # damaged (an empty file: EOFError): searched again
                best = None  # a damaged entry is recomputed
        if best is None:
            self.searches += 1
            if nest.vector:
                args = (nest, self.buffers, self.vec, self.soc.llc.line_bytes)
                run = vector_best
            else:
                link = min(nest.cores_used * self.memory.dma_bytes_per_cycle, self.soc.llc.bytes_per_cycle)
                args = (nest, self.buffers, self.hw, self.soc.llc.line_bytes, self.cost.tie_tolerance,
                        per_window_code(self.soc.npu), link, self.cost.overlap_alpha)
                run = search_layer
            best = run(*args, fixed=fixed) if fixed is not None else None
            if best is None or not best[:, FI["found"]].any():
                best = run(*args)  # no tiler's choice, or one npusim's buffers cannot hold
            if path is not None:
                _atomic_save(path, best)
        result = best, self._tiled_by(fixed, best)
        self._memo[key] = result
        return result

    def stream_vec(self, nest: LoopNest) -> np.ndarray:
        """The NPU numbers `layer_streams` takes for `nest`: `vec`, with the largest
        request of its input loads as the SoC's tiler's library issues them."""
        input_request = get_tiler(self.soc.npu.tiler).input_request_bytes(nest, self.soc.npu)
        if input_request is None or input_request == self.vec[6]:
            return self.vec
        vec = self.vec.copy()
        vec[6] = input_request
        return vec

    def _fixed(self, nest: LoopNest) -> FixedTiling | None:
        """The SoC's tiler's choice for `nest`, or None for the search's."""
        try:
            return get_tiler(self.soc.npu.tiler).fixed(nest, self.soc.npu)
        except ValueError:  # the library's heuristic finds no tile: left to the search
            return None

    def _tiled_by(self, fixed: FixedTiling | None, best: np.ndarray) -> str:
        """The tiler's name when `best` holds its choice `fixed`, else "search" (it fell back)."""
        if fixed is None or not best[0, FI["found"]]:
            return "search"
        row = best[0]
        chosen = tuple(int(row[FI[f]]) for f in ("tile_g", "tile_k", "tile_c", "tile_p", "tile_q", "order"))
        wanted = (fixed.tg, fixed.tk, fixed.tc, fixed.tp, fixed.tq, fixed.order)
        return self.soc.npu.tiler if chosen == wanted else "search"

    def candidates(self, layer: Layer, cores: int, source: str = "") -> LayerCandidates:
        """The search winners of `layer` on `cores` cores; `source` names the
        workload in the error raised when no tiling fits the buffers."""
        hit = self._candidates.get((id(layer), cores))
        if hit is not None and hit[0] is layer:
            return hit[1]
        if cores < 1:
            raise InputError(source or "<mapping>", "cores", f"must be at least 1, got {cores}")
        nest = loop_nest(layer, self.soc.npu, cores, self.soc.llc.line_bytes)
        best, tiled_by = self._search(nest)
        cands = LayerCandidates(nest, best, cores, self.memory, self.cost,
                                overlapped=fetches_ahead(self.soc.npu, layer), tiled_by=tiled_by)
        if not cands.fits:
            n = self.soc.npu
            buffers = (f"scratchpad {n.scratchpad_bytes} B" if n.unified_scratchpad else
                       f"input {n.input_buffer_bytes} B, weight {n.weight_buffer_bytes} B")
            # the buffers or the layer may be at fault: blame the SoC field, name the layer
            where = f"{source}:{layer.line}" if source and layer.line else (source or "workload")
            # a vector-path tile fetched only after the last is done may fill the buffer (vector_best)
            share = ("a vector-path tile may fill its buffer" if cands.nest.vector and not cands.overlapped
                     else "a tile may use half of each buffer")
            soc_file, line = n.buffers_at
            raise InputError(soc_file or self.soc.source or "<soc>", "npu.buffers",
                             f"too small for layer {layer.name} ({where}) at any tiling ({buffers}, "
                             f"accumulator {n.accumulator_bytes} B; {share})", line)
        self._candidates[(id(layer), cores)] = (layer, cands)
        return cands

    # -- plans ---------------------------------------------------------------
    def plan(self, layer: Layer, cores: int, budget_bytes: int = UNMANAGED, source: str = "") -> LayerPlan:
        cands = self.candidates(layer, cores, source)
        plan = cands.best_for_budget(budget_bytes)
        if plan is None:  # nothing fits: the no-residency plan always does
            plan = cands.plan("none", max(budget_bytes, 0))
        return plan

    def layer_plans(self, layer: Layer, cores: int, budgets: Iterable[int], source: str = "") -> list[LayerPlan]:
        cands = self.candidates(layer, cores, source)
        out = []
        for b in budgets:
            p = cands.best_for_budget(b)
            out.append(p if p is not None else cands.plan("none", b))
        return out

    def block_plans(self, trace: Trace, cores: int, budget_bytes: int) -> dict[str, LayerPlan]:
        """Fused plans for every layer block of `trace` that fits `budget_bytes`
        (intermediate maps pinned in the region). Blocks that do not fit are
        absent from the result."""
        out: dict[str, LayerPlan] = {}
        for block in trace_blocks(trace):
            plans = self.fuse_block(trace, block, cores, budget_bytes)
            if plans is not None:
                out.update({p.layer: p for p in plans})
        return out

    def fuse_block(self, trace: Trace, block: list[Layer], cores: int, budget: int) -> list[LayerPlan] | None:
        """Fused plans of one block's layers within `budget`, or None if it does not fit."""
        names = [l.name for l in block]
        pos = {n: i for i, n in enumerate(names)}
        consumers = trace.consumers
        last_layer = trace.layers[-1].name
        by_name = trace.by_name

        def activations(layer: Layer) -> tuple[str, ...]:
            return layer.inputs[:1] if layer.op == "matmul" else layer.inputs

        # an output stays in the region only if no one reads it from DRAM: no consumer outside the
        # block, and no block consumer that takes it as a matmul's B (read on the weight route)
        kept = {}
        for layer in block:
            inside = [c for c in consumers[layer.name] if c in pos]
            outside = [c for c in consumers[layer.name] if c not in pos]
            as_b = any(by_name[c].op == "matmul" and layer.name in by_name[c].inputs[1:] for c in inside)
            kept[layer.name] = bool(inside) and not outside and not as_b and layer.name != last_layer
        plans = []
        for i, layer in enumerate(block):
            producers = activations(layer)
            in_region = [p for p in producers if kept.get(p, False)]
            # the input is read from the region when any of it is produced there; the rest (a
            # residual's shortcut, another concatenated branch) is filled into the region once
            input_in_region = bool(in_region)
            share = 1.0
            if input_in_region and len(in_region) < len(producers):
                total = sum(by_name[p].output_bytes for p in producers)
                share = sum(by_name[p].output_bytes for p in in_region) / total if total else 1.0
            pinned = sum(block[j].output_bytes for j in pinned_outputs(names, consumers, i, kept))
            cands = self.candidates(layer, cores)
            p = cands.best_for_budget(budget, pinned_bytes=pinned, input_in_region=input_in_region,
                                      output_in_region=kept[layer.name], block=layer.block, fused=True,
                                      input_region_share=share)
            if p is None:
                return None
            plans.append(p)
        return plans

    def table(self, trace: Trace, cores_list: Sequence[int], budgets: Sequence[int] = DEFAULT_LADDER,
              *, unmanaged: bool = True, blocks: bool = True, source: str = ""):
        """The plan table: one row per (layer, cores, budget), plus fused rows
        for layers of blocks that fit a budget."""
        import pandas as pd

        ladder = list(budgets) + ([UNMANAGED] if unmanaged and UNMANAGED not in budgets else [])
        rows = []
        for cores in cores_list:
            for layer in trace.layers:
                for p in self.layer_plans(layer, cores, ladder, source or trace.source or trace.name):
                    rows.append(p.as_row())
            if blocks:
                for b in budgets:
                    if b == UNMANAGED or b <= 0:
                        continue
                    for p in self.block_plans(trace, cores, b).values():
                        rows.append(p.as_row())
        return pd.DataFrame(rows)


def trace_blocks(trace: Trace) -> list[list[Layer]]:
    """Maximal runs of consecutive layers sharing a non-empty block id (2+ layers)."""
    out: list[list[Layer]] = []
    run: list[Layer] = []
    for layer in trace.layers:
        if layer.block and run and run[-1].block == layer.block:
            run.append(layer)
            continue
        if len(run) > 1:
            out.append(run)
        run = [layer] if layer.block else []
    if len(run) > 1:
        out.append(run)
    return out


def _atomic_save(path: Path, array: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs speed
