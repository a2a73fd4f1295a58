"""The plain policies: `shared`, `waypart`, and `isolated` (the reference)."""

from __future__ import annotations

from ..units import count_text
from .base import Policy, register


@register
class Shared(Policy):
    name = "shared"
    description = "all tenants share one LRU LLC with no control; plain-cache mappings"
    reads_deadlines = False


@register
class WayPartition(Policy):
    name = "waypart"
    description = "static equal way partitioning of the LLC among tenants (gem5-style way masks)"
    reads_deadlines = False

    @staticmethod
    def _ways(scenario) -> tuple[int, int, int]:
        """(first way, ways) the NPU tenants split, and the CPU-side traffic's mask (0: none).

        CPU-side traffic keeps the LLC's CPU ways (those outside `npu_ways`) when
        the SoC has that split, else it takes one equal share like a tenant."""
        llc, n = scenario.soc.llc, len(scenario.tenants)
        if not scenario.background:
            return 0, llc.ways, 0
        if llc.npu_ways:
            cpu_ways = llc.ways - llc.npu_ways
            return cpu_ways, llc.npu_ways, (1 << cpu_ways) - 1
        share = llc.ways // (n + 1)
        return share, llc.ways - share, (1 << share) - 1 if share else 0

    @classmethod
    def soc_problem(cls, scenario) -> str | None:
        ways, n = scenario.soc.llc.ways, len(scenario.tenants)
        _, split, cpu_mask = cls._ways(scenario)
        if not scenario.background:
            return None if split >= n else \
                f"waypart needs at least one LLC way per tenant: {count_text(ways, 'way')} for {count_text(n, 'tenant')}"
        if scenario.soc.llc.npu_ways:
            return None if split >= n else (f"waypart with CPU-side traffic splits the {split} NPU ways among the "
                                            f"tenants (the CPU keeps the other {ways - split}): {count_text(split, 'way')} "
                                            f"for {count_text(n, 'tenant')}")
        return None if cpu_mask and split >= n else (f"waypart needs at least one LLC way per tenant and one for "
                                                     f"the CPU-side traffic: {count_text(ways, 'way')} for "
                                                     f"{count_text(n, 'tenant')}")

    def setup(self) -> None:
        first, ways, _ = self._ways(self.sim.scenario)
        n = len(self.sim.tenants)
        share, extra = divmod(ways, n)
        for t in self.sim.tenants:
            count = share + (1 if t.index < extra else 0)
            mask = ((1 << count) - 1) << first
            self.sim.memory.cache.set_way_mask(t.index, mask)
            first += count

    def background_way_mask(self) -> int | None:
        return self._ways(self.sim.scenario)[2] or None


@register
class Isolated(Policy):
    """Each tenant alone on its share of the cores, with the whole LLC and DRAM.

    The engine runs one simulation per tenant under this policy; it is the
    reference for speedup, STP and latency targets.
    """

    name = "isolated"
    description = "each tenant simulated alone on its cores with the whole LLC and DRAM (reference)"
