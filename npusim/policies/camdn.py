"""CaMDN (DAC 2025): model-exclusive cache regions and cache-aware mappings.

The LLC's NPU ways become a store of fixed-size pages; the other ways stay an
LRU cache for everything else. A tenant places the tensors its plan keeps
resident in pages it owns, so nobody else can evict them; the rest goes
through the remaining LRU ways (docs/POLICIES.md).

* ``camdn-hw``: every tenant owns an equal share of the pages for the whole
  run and uses, per layer (or fused block), the best plan for that budget.
* ``camdn``: pages are requested per layer or layer block. The tenant
  estimates the pages available soon, takes the largest plan that fits, waits
  for its pages in FCFS order, steps down to the next smaller plan when the
  wait exceeds the look-ahead, and releases the pages when the layer/block ends.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from ..mapping import Mapper
from ..mapping.mapper import pinned_outputs, trace_blocks
from ..mapping.plan import DEFAULT_LADDER, UNMANAGED, LayerPlan
from ..units import count_text, format_size
from .base import Option, Policy, number_in, register

SLOWDOWN_ALLOWED = 0.05  # a region candidate may be predicted this much slower than the no-page one


@dataclass
class Unit:
    """A layer, or a fused layer block, that holds one allocation."""

    first: int
    last: int
    plans: dict[int, LayerPlan]  # layer index -> plan
    pages: int

    @property
    def predicted_cycles(self) -> int:
        return sum(p.predicted_cycles for p in self.plans.values())


@dataclass
class _Request:
    tenant: int
    pages: int
    event: Any
    granted: bool = False


@dataclass
class _TenantState:
    unit: Unit | None = None
    held: int = 0
    expected_end: float = 0.0
    blocks: dict[int, list[int]] = field(default_factory=dict)  # first layer -> block layer indices


class CaMDNBase(Policy):
    multicast = True
    unplaced_via_cache = True

    @classmethod
    def soc_problem(cls, scenario) -> str | None:
        llc = scenario.soc.llc
        if llc.npu_ways == 0 or llc.npu_pages == 0:
            return (f"{cls.name} needs NPU-controlled LLC ways for its page regions, but "
                    f"{scenario.soc.name} has llc.npu_ways = 0")
        return None

    def setup(self) -> None:
        soc = self.sim.scenario.soc
        llc = soc.llc
        lru_ways = llc.ways - llc.npu_ways
        self.lru_mask = (1 << lru_ways) - 1  # the CPU part of the way split
        for t in self.sim.tenants:
            # NPU tenants allocate only into the LRU ways; the NPU ways hold pages
            self.sim.memory.cache.set_way_mask(t.index, self.lru_mask)
        self.page_bytes = llc.page_bytes
        self.total_pages = llc.npu_pages
        self.free_pages = self.total_pages
        self.state = {t.index: _TenantState() for t in self.sim.tenants}
        for t in self.sim.tenants:
            self.trace_changed(t)
        # unmanaged plans of this policy count on a tenant's share of the LRU ways
        mapper = self.sim.mapper
        lru_bytes = llc.size_bytes * lru_ways // llc.ways // len(self.sim.tenants)
        self.lru_mapper = Mapper(soc, cost=mapper.cost, cache_dir=mapper.cache_dir,
                                 memory=replace(mapper.memory, llc_size_bytes=lru_bytes))
        self.ladder = tuple(b for b in DEFAULT_LADDER if b <= llc.npu_bytes) + (llc.npu_bytes,)
        # candidates depend only on the layer, its cores and the page cap: built once each
        self._units: dict[tuple, tuple[Unit, ...]] = {}

    def background_way_mask(self) -> int | None:
        return self.lru_mask  # CPU-side traffic shares the LRU ways with the NPU's unplaced data

    def trace_changed(self, t) -> None:
        blocks = {}
        index = {l.name: i for i, l in enumerate(t.trace.layers)}
        for block in trace_blocks(t.trace):
            ids = [index[l.name] for l in block]
            blocks[ids[0]] = ids
        self.state[t.index].blocks = blocks

    # -- candidates --------------------------------------------------------------
    def _pages(self, region_bytes: int) -> int:
        return -(-region_bytes // self.page_bytes)

    def _zero_page_plan(self, t, li: int) -> LayerPlan:
        """Without pages: the LRU-ways mapping or the bypass mapping, whichever is
        predicted faster (then moves fewer DRAM bytes)."""
        layer = t.trace.layers[li]
        bypass = t.plan(li, 0)
        lru = self.lru_mapper.plan(layer, t.n_cores, UNMANAGED)
        return min((lru, bypass), key=lambda p: (p.predicted_cycles, p.dram_bytes))

    def _cached_units(self, kind: str, build, t, li: int, max_pages: int) -> list[Unit]:
        key = (kind, t.stream_family, t.current_task, li, t.n_cores, max_pages)  # tenants of one model share them
        units = self._units.get(key)
        if units is None:
            units = self._units[key] = tuple(build(t, li, max_pages))
        return list(units)

    def _layer_units(self, t, li: int, max_pages: int) -> list[Unit]:
        """Distinct single-layer candidates with at most `max_pages` pages, largest first."""
        return self._cached_units("layer", self._build_layer_units, t, li, max_pages)

    def _block_units(self, t, first: int, max_pages: int) -> list[Unit]:
        """Whole-block candidates of the block starting at layer `first`, largest first."""
        return self._cached_units("block", self._build_block_units, t, first, max_pages)

    def _build_layer_units(self, t, li: int, max_pages: int) -> list[Unit]:
        units: dict[int, Unit] = {}
        for budget in self.ladder:
            if self._pages(budget) > max_pages:
                continue
            p = t.plan(li, budget)
            pages = self._pages(p.region_bytes)
            if p.region_bytes == 0:
                continue
            if pages not in units or (p.dram_bytes, p.predicted_cycles) < (
                    units[pages].plans[li].dram_bytes, units[pages].plans[li].predicted_cycles):
                units[pages] = Unit(li, li, {li: p}, pages)
        zero = Unit(li, li, {li: self._zero_page_plan(t, li)}, 0)
        # a bigger allocation must buy fewer DRAM bytes, and not at the price of
        # a slower layer (DRAM-minimal tilings of depthwise layers can be slow)
        out, best_dram = [zero], zero.plans[li].dram_bytes
        slowest = zero.plans[li].predicted_cycles * (1 + SLOWDOWN_ALLOWED)
        for pages in sorted(units):
            u = units[pages]
            if u.plans[li].dram_bytes < best_dram and u.plans[li].predicted_cycles <= slowest:
                out.append(u)
                best_dram = u.plans[li].dram_bytes
        return sorted(out, key=lambda u: -u.pages)

    def _build_block_units(self, t, first: int, max_pages: int) -> list[Unit]:
        ids = self.state[t.index].blocks.get(first)
        if not ids:
            return []
        slowest = (1 + SLOWDOWN_ALLOWED) * sum(self._zero_page_plan(t, i).predicted_cycles for i in ids)
        units: dict[int, Unit] = {}
        for budget in self.ladder:
            if budget <= 0 or self._pages(budget) > max_pages:
                continue
            fused = t.mapper.fuse_block(t.trace, [t.trace.layers[i] for i in ids], t.n_cores, budget)
            if fused is None:
                continue
            if sum(p.predicted_cycles for p in fused) > slowest:
                continue
            plans = {i: p for i, p in zip(ids, fused)}
            pages = self._pages(max(p.region_bytes for p in fused))
            dram = sum(p.dram_bytes for p in fused)
            if pages not in units or dram < sum(p.dram_bytes for p in units[pages].plans.values()):
                units[pages] = Unit(ids[0], ids[-1], plans, pages)
        return sorted(units.values(), key=lambda u: -u.pages)

    # -- allocation -----------------------------------------------------------------
    def _grant(self) -> None:
        """Hand pages to waiting requests in FCFS order."""
        while self.queue and self.queue[0].pages <= self.free_pages:
            req = self.queue.popleft()
            self.free_pages -= req.pages
            self.state[req.tenant].held += req.pages
            req.granted = True
            req.event.succeed()
            self._note(req.tenant)

    def _note(self, tenant: int) -> None:
        self.sim.note_region(tenant, self.state[tenant].held)

    def _next_in_unit(self, t, layer_index: int) -> LayerPlan:
        """The plan of a later layer of the tenant's current unit (a fused block).

        The unit holds as many pages as its largest layer needs (its own resident
        tensors plus the block's earlier outputs still to be read), not the sum over
        its layers: what earlier layers placed and this one neither places nor reads
        later (their weights, the block's input) has left the pages. Kept, it would be
        served from pages the unit does not have (a residual add re-reading the block's
        input hit in the region though its plan counts no such bytes)."""
        unit = self.state[t.index].unit
        plan = unit.plans[layer_index]
        line_bytes = self.sim.memory.line_bytes
        keep = {lo // line_bytes * line_bytes for lo, _ in t.resident_ranges(layer_index, plan)}
        # the block's earlier outputs a layer at or after this one still reads (the mapper's pinned bytes)
        names = [layer.name for layer in t.trace.layers[unit.first:unit.last + 1]]
        kept = {n: unit.plans[unit.first + k].output_in_region for k, n in enumerate(names)}
        for j in pinned_outputs(names, t.trace.consumers, layer_index - unit.first, kept):
            keep.add(t.layout.output_base[names[j]] // line_bytes * line_bytes)
        self.sim.memory.residency[t.index].drop(keep)
        return plan

    def release(self, t, layer_index: int, plan: LayerPlan, task) -> None:
        st = self.state[t.index]
        if st.unit is not None and layer_index >= st.unit.last:
            self._free(t.index)

    def _free(self, tenant: int) -> None:
        st = self.state[tenant]
        self.free_pages += st.held
        st.held = 0
        st.unit = None
        self.sim.memory.residency[tenant].drop()
        self._note(tenant)
        self._grant()

    def task_finished(self, t, task) -> None:
        if self.state[t.index].held:
            self._free(t.index)


@register
class CaMDNHardware(CaMDNBase):
    name = "camdn-hw"
    reads_deadlines = False
    description = "CaMDN's hardware only: a fixed equal share of region pages per tenant"

    @classmethod
    def soc_problem(cls, scenario) -> str | None:
        problem = super().soc_problem(scenario)
        if problem:
            return problem
        # an equal share of fewer pages than tenants is no page each: the NPU ways would
        # stay empty for the whole run while every tenant is confined to the LRU ways
        llc, n = scenario.soc.llc, len(scenario.tenants)
        if llc.npu_pages < n:
            return (f"camdn-hw needs at least one region page per tenant: {count_text(llc.npu_pages, 'page')} "
                    f"({format_size(llc.npu_bytes)} of NPU ways in {format_size(llc.page_bytes)} pages) for "
                    f"{count_text(n, 'tenant')}")
        return None

    def setup(self) -> None:
        super().setup()
        self.share = self.total_pages // len(self.sim.tenants)
        # the share itself is a budget: with the ladder's steps alone a tenant's plans would
        # stop at the largest step below it (2 MiB of a 3 MiB share), leaving the rest unused
        share_bytes = self.share * self.page_bytes
        self.ladder = tuple(b for b in self.ladder if b < share_bytes) + (share_bytes,)
        for t in self.sim.tenants:
            self.state[t.index].held = self.share
            self.free_pages -= self.share
        self.sim.note_regions({t.index: self.share for t in self.sim.tenants})  # one event: all shares at once

    def acquire(self, t, layer_index: int, task):
        st = self.state[t.index]
        if st.unit is not None and st.unit.first <= layer_index <= st.unit.last:
            return self._next_in_unit(t, layer_index)
        units = self._block_units(t, layer_index, self.share) or self._layer_units(t, layer_index, self.share)
        st.unit = units[0]
        return st.unit.plans[layer_index]
        yield  # pragma: no cover

    def release(self, t, layer_index: int, plan: LayerPlan, task) -> None:
        st = self.state[t.index]
        if st.unit is not None and layer_index >= st.unit.last:
            st.unit = None
            self.sim.memory.residency[t.index].drop()  # the share stays; its contents are replaced

    def task_finished(self, t, task) -> None:
        pass


@register
class CaMDN(CaMDNBase):
    name = "camdn"
    reads_deadlines = False
    description = "CaMDN: dynamic page allocation per layer/block with cache-aware mapping candidates"
    options = {
        "alpha": Option(0.5, number_in(0.0, 1.0), "discount of other tenants' next requests"),
        "beta": Option(0.3, number_in(0.0, 1.0), "look-ahead as a share of this layer's predicted cycles"),
    }

    def setup(self) -> None:
        super().setup()
        self.queue: deque[_Request] = deque()

    def _next_request(self, tenant: int) -> int:
        """Pages the tenant will most likely ask for next (its best next unit)."""
        t = self.sim.tenants[tenant]
        st = self.state[tenant]
        nxt = (st.unit.last + 1) if st.unit is not None else 0
        if nxt >= len(t.trace.layers):
            return 0
        units = self._block_units(t, nxt, self.total_pages) or self._layer_units(t, nxt, self.total_pages)
        return units[0].pages if units else 0

    def _available_soon(self, tenant: int, lookahead: float) -> float:
        """Free pages, minus requests queued ahead, plus pages others release
        within the look-ahead, discounted by alpha x their next request."""
        now = self.sim.env.now
        avail = self.free_pages - sum(r.pages for r in self.queue)
        alpha = self.opts["alpha"]
        for j, st in self.state.items():
            if j == tenant or st.held == 0 or st.unit is None:
                continue
            if st.expected_end <= now + lookahead:
                avail += st.held - alpha * self._next_request(j)
        return avail

    def acquire(self, t, layer_index: int, task):
        st = self.state[t.index]
        if st.unit is not None and st.unit.first <= layer_index <= st.unit.last:
            return self._next_in_unit(t, layer_index)
        env = self.sim.env
        # a whole-block mapping when one fits (the block's footprint in pages), largest
        # first; else the layer's own candidates, largest first, down to no pages
        units = self._block_units(t, layer_index, self.total_pages) + self._layer_units(t, layer_index,
                                                                                         self.total_pages)
        beta = self.opts["beta"]
        lookahead = beta * max(1, units[0].predicted_cycles)
        avail = self._available_soon(t.index, lookahead)
        fitting = [u for u in units if u.pages <= max(avail, 0)]
        choice = units.index(fitting[0]) if fitting else len(units) - 1
        unit = units[choice]
        req: _Request | None = None
        while unit.pages:
            if req is None:
                req = _Request(t.index, unit.pages, env.event())
                self.queue.append(req)
            else:
                req.pages = unit.pages  # a smaller request keeps its place in the FCFS queue
            self._grant()
            if not req.granted:
                patience = beta * max(1, unit.predicted_cycles)
                yield req.event | env.timeout(math.ceil(patience))
            if req.granted:
                break
            # waited past the look-ahead: step down
            smaller = [i for i in range(choice + 1, len(units)) if units[i].pages < unit.pages]
            choice = smaller[0] if smaller else len(units) - 1
            unit = units[choice]
        if req is not None and not req.granted:  # stepped down to no pages: leave the queue
            self.queue.remove(req)
            self._grant()
        st.unit = unit
        st.expected_end = env.now + unit.predicted_cycles
        return unit.plans[layer_index]
