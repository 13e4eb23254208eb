"""DueHeap: every command of a manager that waits for a time (a delay, a retry's backoff) in
one heap, with one loop timer for the earliest of them.

A timer per command costs a TimerHandle and a heap entry in the loop each; here a waiting
command costs one small entry, and 100,000 of them cost no CPU until the first is due.
Cancelled entries are dropped lazily (the heap is compacted when most of it is dead).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any

DELAYED = 0
"""A command submitted with ``delay=``: it enters its lane when due."""
RETRY = 1
"""A failed command waiting out its retry backoff."""


class Due:
    """One waiting command: ``handle`` is released at loop time ``when``; ``kind`` is DELAYED
    or RETRY. It sits in the handle's ``_timer`` slot, so cancelling the handle finds it."""

    __slots__ = ("_heap", "handle", "kind", "when")

    def __init__(self, heap: DueHeap, when: float, handle: Any, kind: int) -> None:
        self._heap: DueHeap | None = heap
        self.when = when
        self.handle = handle
        self.kind = kind

    @property
    def cancelled(self) -> bool:
        return self._heap is None

    def cancel(self) -> None:
        """Take it out of the heap (idempotent); the timer then skips it."""
        heap = self._heap
        if heap is not None:
            self._heap = None
            self.handle = None
            heap._dropped()

    def __repr__(self) -> str:
        kind = "delayed" if self.kind == DELAYED else "retry"
        return f"<Due {kind} at {self.when:.3f}{' cancelled' if self.cancelled else ''}>"


class DueHeap:
    """Entries by due time (ties: in the order scheduled); ``on_due(entry)`` is called for
    each once its time has come, from one ``call_at`` timer armed for the earliest."""

    def __init__(self, on_due: Callable[[Due], None]) -> None:
        self._on_due = on_due
        self._heap: list[tuple[float, int, Due]] = []
        self._seq = 0
        self._dead = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._firing = False
        self._closed = False

    def __len__(self) -> int:
        """Entries still waiting."""
        return len(self._heap) - self._dead

    def schedule(self, loop: asyncio.AbstractEventLoop, when: float, handle: Any, kind: int) -> Due:
        """Have ``handle`` released at loop time ``when``."""
        self._loop = loop
        entry = Due(self, when, handle, kind)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, entry))
        if self._timer is None or when < self._timer_at:
            self._arm(when)
        return entry

    def _arm(self, when: float) -> None:
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
        assert self._loop is not None
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _dropped(self) -> None:
        self._dead += 1
        if self._firing:
            return
        heap = self._heap
        if self._dead > 64 and self._dead * 2 > len(heap):
            self._heap = [item for item in heap if not item[2].cancelled]
            heapq.heapify(self._heap)
            self._dead = 0
        if len(self._heap) == self._dead and self._timer is not None:
            self._timer.cancel()  # nothing left to wait for
            self._timer = None

    def _fire(self) -> None:
        """The earliest entry is due: release every entry whose time has come."""
        self._timer = None
        assert self._loop is not None
        now = self._loop.time()
        heap = self._heap
        self._firing = True  # (no compaction meanwhile: on_due may cancel other entries)
        try:
            while heap and heap[0][0] <= now:
                entry = heapq.heappop(heap)[2]
                if entry.cancelled:
                    self._dead -= 1
                    continue
                entry._heap = None
                self._on_due(entry)
        finally:
            self._firing = False
            while heap and heap[0][2].cancelled:
                heapq.heappop(heap)
                self._dead -= 1
            if heap:
                self._arm(heap[0][0])

    def close(self) -> None:
        """Stop the timer; entries stay (their handles are cancelled by the manager)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
