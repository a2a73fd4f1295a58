"""Cache-aware mapping (docs/MAPPING.md): per layer, core count and region
budget, the tiling, loop order and resident tensors that minimise DRAM
bytes; block fusion; tile address streams for the engine."""

from .mapper import Mapper, computes_per_block, default_cache_dir, fetches_ahead, trace_blocks
from .nest import LoopNest, loop_nest
from .plan import DEFAULT_LADDER, RESIDENT_OPTIONS, UNMANAGED, CostModel, LayerPlan

__all__ = ["DEFAULT_LADDER", "RESIDENT_OPTIONS", "UNMANAGED", "CostModel", "LayerPlan", "LoopNest", "Mapper",
           "computes_per_block", "default_cache_dir", "fetches_ahead", "loop_nest", "trace_blocks"]
