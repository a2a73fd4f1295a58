"""The plain policies: `shared`, `waypart`, and `isolated` (the reference)."""

from __future__ import annotations

from .base import Policy, register


@register
class Shared(Policy):
    name = "shared"
    description = "all tenants share one LRU LLC with no control; plain-cache mappings"


@register
class WayPartition(Policy):
    name = "waypart"
    description = "static equal way partitioning of the LLC among tenants (gem5-style way masks)"

    def validate_soc(self) -> str | None:
        ways, n = self.sim.scenario.soc.llc.ways, len(self.sim.tenants)
        if ways < n:
            return f"waypart needs at least one LLC way per tenant: {ways} ways for {n} tenants"
        return None

    def setup(self) -> None:
        ways, n = self.sim.scenario.soc.llc.ways, len(self.sim.tenants)
        share, extra = divmod(ways, n)
        first = 0
        for t in self.sim.tenants:
            count = share + (1 if t.index < extra else 0)
            mask = ((1 << count) - 1) << first
            self.sim.memory.cache.set_way_mask(t.index, mask)
            first += count


@register
class Isolated(Policy):
    """Each tenant alone on its share of the cores, with the whole LLC and DRAM.

    The engine runs one simulation per tenant under this policy; it is the
    reference for speedup, STP and latency targets.
    """

    name = "isolated"
    description = "each tenant simulated alone on its cores with the whole LLC and DRAM (reference)"
