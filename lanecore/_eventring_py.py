"""A subscriber's bounded event buffer (pure-Python twin of ``lanecore_pyx._eventring``).

Command events are recorded as (kind, lane id, command id, source, timestamp, group), one
entry per event (a submit_many batch as one entry per command), and made into ``event_type``
instances only when read (``object.__new__``, then its ``key``, ``timestamp``, ``_lane_id``,
``_command_id``, ``_source``, ``_group`` and ``_payload`` slots; the payload is made on
access); ready event objects are stored as they are. When the buffer is full the oldest
event is dropped; ``dropped`` counts them. ``next_ready()`` hands a buffered event to
``async for`` without a coroutine.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from lanecore._coreapi import Ready  # an awaitable that is already done

_READY = -1  # the kind of a ready event object
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class EventRing:
    """Holds the newest ``capacity`` events; ``waker`` (if set) is called once by the next push."""

    __slots__ = ("_buffer", "event_type", "keys", "offered", "taken", "waker")

    def __init__(self, capacity: int, event_type: type[Any], keys: tuple[str, ...]) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be an int >= 1, got {capacity!r}")
        for name in (
            "key",
            "_payload",
            "_lane_id",
            "_command_id",
            "_source",
            "timestamp",
            "_group",
        ):
            if name not in getattr(event_type, "__slots__", ()):
                raise TypeError(f"{event_type.__qualname__}.{name} is not a __slots__ member")
        # (kind, lane id or ready event, command id, command_type source, timestamp, group)
        self._buffer: deque[tuple[int, Any, Any, Any, float, Any]] = deque(maxlen=capacity)
        self.event_type = event_type
        self.keys = keys
        self.offered = 0
        self.taken = 0
        self.waker: Callable[[], object] | None = None

    def push_command(
        self,
        kind: int,
        lane_id: Any,
        command_id: Any,
        source: Any = None,
        timestamp: float | None = None,
        group: Any = None,
    ) -> None:
        """Record event ``kind`` (an index into ``keys``) of command ``command_id`` of lane
        ``lane_id``; ``source`` (or None) is what its command_type comes from. Stamped
        ``timestamp`` (time.time() seconds; None: now). A ``group`` (not None) shows in the
        event's payload as "group"."""
        self._check_kind(kind)
        stamp = time.time() if timestamp is None else timestamp
        self._buffer.append((kind, lane_id, command_id, source, stamp, group))
        self.offered += 1
        if self.waker is not None:
            self._fire_waker()

    def push_run(
        self,
        kind: int,
        lane_id: Any,
        first_id: int,
        count: int,
        timestamp: float | None = None,
        group: Any = None,
    ) -> None:
        """Record event ``kind`` (an index into ``keys``) of ``count`` commands of lane
        ``lane_id`` whose ids are ``first_id``, ``first_id + 1``, ... (one submit_many batch),
        all stamped ``timestamp`` (None: now) and of ``group`` (None: none)."""
        self._check_kind(kind)
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if not _INT64_MIN <= first_id <= _INT64_MAX or (
            count and first_id > _INT64_MAX - (count - 1)
        ):
            raise OverflowError(f"command ids from {first_id} for {count} overflow int64")
        if not count:
            return
        stamp = time.time() if timestamp is None else timestamp
        capacity = self.capacity
        kept = min(count, capacity)  # only the newest ``capacity`` would stay
        start = first_id + count - kept
        self._buffer.extend(
            (kind, lane_id, i, None, stamp, group) for i in range(start, start + kept)
        )
        self.offered += count
        if self.waker is not None:
            self._fire_waker()

    def _fire_waker(self) -> None:
        """Call the waker (once: it is cleared first)."""
        waker = self.waker
        if waker is not None:
            self.waker = None
            waker()

    def _check_kind(self, kind: int) -> None:
        if not 0 <= kind < len(self.keys):
            raise ValueError(
                f"kind must be an index into keys (0..{len(self.keys) - 1}), got {kind}"
            )

    def push(self, event: Any) -> None:
        """Record a ready event object."""
        self._buffer.append((_READY, event, None, None, 0.0, None))
        self.offered += 1
        if self.waker is not None:
            self._fire_waker()

    def pop(self) -> Any:
        """The oldest event (made from its record now), or None when empty."""
        if not self._buffer:
            return None
        kind, item, command_id, source, timestamp, group = self._buffer.popleft()
        self.taken += 1
        if kind == _READY:
            return item
        event = object.__new__(self.event_type)
        event.key = self.keys[kind]
        event._payload = None
        event._lane_id = item
        event._command_id = command_id
        event._source = source
        event.timestamp = timestamp
        event._group = group
        return event

    def next_ready(self) -> Ready[Any] | None:
        """An awaitable of the oldest event when one is buffered (for ``__anext__``), else
        None."""
        if not self._buffer:
            return None
        return Ready(self.pop())

    def iterator(self, more: Callable[[], Awaitable[Any]]) -> EventIterator:
        """An async iterator over this ring: each step hands over the oldest buffered event,
        or returns ``more()`` (an awaitable of the next event) when none is buffered."""
        return EventIterator(self, more)

    def clear(self) -> None:
        """Drop every buffered event (they are not counted as dropped)."""
        self.taken += len(self._buffer)
        self._buffer.clear()

    def __len__(self) -> int:
        return len(self._buffer)

    @property
    def capacity(self) -> int:
        maxlen = self._buffer.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def dropped(self) -> int:
        """Events lost because the ring was full."""
        return self.offered - self.taken - len(self._buffer)


class EventIterator:
    """``EventRing.iterator(more)``: the oldest buffered event, else ``more()``."""

    __slots__ = ("_more", "_ring")

    def __init__(self, ring: EventRing, more: Callable[[], Awaitable[Any]]) -> None:
        self._ring = ring
        self._more = more

    def __aiter__(self) -> EventIterator:
        return self

    def __anext__(self) -> Awaitable[Any]:
        ready = self._ring.next_ready()
        return self._more() if ready is None else ready
