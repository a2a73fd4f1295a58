"""Cache simulation kernels (numba), independent of npusim: a set-associative
LLC with per-tenant way masks (LRU or SRRIP) and CaMDN's page-managed region store."""

from .cache import AccessResult, SetAssociativeCache, policy_names
from .region import PageRegionStore, RegionFullError

__all__ = ["AccessResult", "PageRegionStore", "RegionFullError", "SetAssociativeCache", "policy_names"]
