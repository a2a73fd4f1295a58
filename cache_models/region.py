"""CaMDN's NPU-controlled part of the LLC: fixed-size pages owned by tenants.

A tenant's region is a list of physical pages; region-virtual offsets are
translated through the tenant's page table. Data placed in a region always
hits and nobody else can evict it. Allocation is first-fit over the lowest
free page numbers, so runs are deterministic.
"""

from __future__ import annotations

import numpy as np


class RegionFullError(ValueError):
    """An allocation asked for more pages than are free."""


class PageRegionStore:
    def __init__(self, capacity_bytes: int, page_bytes: int):
        for name, v in (("capacity_bytes", capacity_bytes), ("page_bytes", page_bytes)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if capacity_bytes % page_bytes:
            raise ValueError(f"capacity_bytes {capacity_bytes} is not a whole number of {page_bytes} B pages")
        self.capacity_bytes, self.page_bytes = int(capacity_bytes), int(page_bytes)
        self.pages = self.capacity_bytes // self.page_bytes
        self._owner = np.full(self.pages, -1, dtype=np.int64)
        self._tables: dict[int, list[int]] = {}
        self._hits: dict[int, int] = {}
        self._history: list[tuple[int, int, int]] = []

    @property
    def free_pages(self) -> int:
        return int((self._owner < 0).sum())

    def pages_of(self, tenant: int) -> int:
        return len(self._tables.get(tenant, ()))

    def page_table(self, tenant: int) -> np.ndarray:
        return np.array(self._tables.get(tenant, []), dtype=np.int64)

    def allocate(self, tenant: int, pages: int) -> np.ndarray:
        """Give `tenant` `pages` more pages; returns their physical page numbers."""
        if isinstance(pages, bool) or not isinstance(pages, (int, np.integer)) or pages < 0:
            raise ValueError(f"pages must be a non-negative integer, got {pages!r}")
        free = np.flatnonzero(self._owner < 0)
        if pages > free.size:
            raise RegionFullError(f"tenant {tenant} asks for {pages} pages but only {free.size} of "
                                  f"{self.pages} are free")
        got = free[:pages]
        self._owner[got] = tenant
        self._tables.setdefault(tenant, []).extend(int(p) for p in got)
        return got

    def free(self, tenant: int, pages: int | None = None) -> int:
        """Return the tenant's last `pages` pages (all if None); returns how many."""
        table = self._tables.get(tenant, [])
        n = len(table) if pages is None else min(int(pages), len(table))
        if n:
            released = table[len(table) - n:]
            del table[len(table) - n:]
            self._owner[released] = -1
        return n

    def translate(self, tenant: int, offsets) -> np.ndarray:
        """Physical byte addresses (within the store) of region-virtual offsets."""
        off = np.asarray(offsets, dtype=np.int64)
        table = self.page_table(tenant)
        page = off // self.page_bytes
        if off.size and (off.min() < 0 or page.max() >= table.size):
            bad = int(off[(off < 0) | (page >= table.size)][0])
            raise ValueError(f"offset {bad} is outside tenant {tenant}'s region of {table.size} pages")
        return table[page] * self.page_bytes + off % self.page_bytes

    def access(self, tenant: int, offsets, write: bool = False) -> int:
        """Accesses inside the tenant's region: always hits; returns the count."""
        n = int(self.translate(tenant, offsets).size)
        self._hits[tenant] = self._hits.get(tenant, 0) + n
        return n

    def hits(self, tenant: int) -> int:
        return self._hits.get(tenant, 0)

    def record(self, cycle: int) -> None:
        """Remember every tenant's page count at `cycle` (for occupancy plots)."""
        for tenant, table in self._tables.items():
            self._history.append((int(cycle), tenant, len(table)))

    def history(self):
        import pandas as pd

        return pd.DataFrame(self._history, columns=["cycle", "tenant", "pages"])
