"""The tasks waiting for cores, kept per tenant in arrival order.

A scheduler's ranking only ever reorders tenants against each other: within
one tenant every task has the same priority and isolated latency, so the one
that arrived first has waited longest and ranks first (ties in the order they
joined; under fcfs, or a policy that ranks ready tasks itself, by request number). Kept that way, a dispatch merges the
tenants' queues lazily and stops when the cores are taken, instead of sorting
the whole backlog each time.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sim import TaskRecord


class ReadyQueue:
    """Ready tasks, one queue per tenant sorted by arrival.

    Ties in arrival are broken by request number when `by_index` (fcfs: a
    preempted request keeps its place), else by the order tasks joined.
    """

    def __init__(self, by_index: bool):
        self._by_index = by_index
        self._queues: dict[int, list[tuple[int, int, int, TaskRecord]]] = {}  # tenant -> (arrival, tie, seq, task)
        self._joined = 0  # tasks ever added: the order of joining
        self._count = 0

    def add(self, task: TaskRecord) -> None:
        tie = task.index if self._by_index else 0
        entry = (task.arrival, tie, self._joined, task)
        self._joined += 1
        bisect.insort(self._queues.setdefault(task.tenant, []), entry)  # (the join number is unique: no task compared)
        self._count += 1

    def remove(self, task: TaskRecord) -> None:
        queue = self._queues[task.tenant]
        for i, entry in enumerate(queue):  # a started task is near the front of its queue
            if entry[3] is task:
                del queue[i]
                break
        else:
            raise ValueError(f"task {task.tenant}/{task.index} is not ready")
        if not queue:
            del self._queues[task.tenant]
        self._count -= 1

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[TaskRecord]:
        """Every ready task, tenant by tenant, each tenant's in its order."""
        for queue in self._queues.values():
            for entry in queue:
                yield entry[3]

    def tenants(self) -> int:
        """How many tenants have a task waiting."""
        return len(self._queues)

    def heads(self) -> Iterator[TaskRecord]:
        """Each waiting tenant's first task (its longest waiting)."""
        for queue in self._queues.values():
            yield queue[0][3]

    def merged(self, key: Callable[[TaskRecord], Any], skip: set[int]) -> Iterator[TaskRecord]:
        """All ready tasks in ascending `key`, lazily. `key` must order each tenant's tasks as
        its queue does and differ between tenants (it ends with the tenant, say). Tenants put
        into `skip` while iterating yield nothing more. Do not add or remove tasks meanwhile."""
        heap = [(key(queue[0][3]), tenant, 0) for tenant, queue in self._queues.items()]
        heapq.heapify(heap)
        while heap:
            _, tenant, i = heap[0]
            if tenant in skip:
                heapq.heappop(heap)
                continue
            queue = self._queues[tenant]
            if i + 1 < len(queue):
                heapq.heapreplace(heap, (key(queue[i + 1][3]), tenant, i + 1))
            else:
                heapq.heappop(heap)
            yield queue[i][3]
