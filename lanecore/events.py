"""Lane events: the a3s-lane keys, and bounded per-subscriber streams that never stall dispatch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from lanecore._eventring_py import EventRing as EventRingPy
from lanecore.commands import command_type_of

logger = logging.getLogger("lanecore")

COMMAND_SUBMITTED = "queue.command.submitted"
COMMAND_STARTED = "queue.command.started"
COMMAND_COMPLETED = "queue.command.completed"
COMMAND_RETRY = "queue.command.retry"
COMMAND_DEAD_LETTERED = "queue.command.dead_lettered"
COMMAND_FAILED = "queue.command.failed"
COMMAND_TIMEOUT = "queue.command.timeout"
SHUTDOWN_STARTED = "queue.shutdown.started"
LANE_PRESSURE = "queue.lane.pressure"
LANE_IDLE = "queue.lane.idle"

EVENT_KEYS = frozenset(
    {
        COMMAND_SUBMITTED,
        COMMAND_STARTED,
        COMMAND_COMPLETED,
        COMMAND_RETRY,
        COMMAND_DEAD_LETTERED,
        COMMAND_FAILED,
        COMMAND_TIMEOUT,
        SHUTDOWN_STARTED,
        LANE_PRESSURE,
        LANE_IDLE,
    }
)

DEFAULT_EVENT_BUFFER = 1024


# The command events the scheduler records per command, by kind (the index here).
COMMAND_EVENT_KEYS: tuple[str, ...] = (COMMAND_SUBMITTED, COMMAND_STARTED, COMMAND_COMPLETED)
SUBMITTED_KIND, STARTED_KIND, COMPLETED_KIND = 0, 1, 2


class LaneEvent:
    """One event: its key, a payload dict and the wall-clock time it happened (time.time())."""

    # a command event keeps its fields until the payload is first read: _lane_id,
    # _command_id, _source (what command_type_of() names, for a started event) and _group
    # (the command's group, None: none)
    __slots__ = ("_command_id", "_group", "_lane_id", "_payload", "_source", "key", "timestamp")

    def __init__(
        self, key: str, payload: dict[str, Any] | None = None, timestamp: float | None = None
    ) -> None:
        self.key = key
        self._payload: dict[str, Any] | None = {} if payload is None else payload
        self._lane_id: Any = None
        self._command_id: Any = None
        self._source: Any = None
        self._group: Any = None
        self.timestamp = time.time() if timestamp is None else timestamp

    @property
    def payload(self) -> dict[str, Any]:
        """The event's data (for a command event: lane_id, command_id, command_type when it
        started, and group when the command has one), made on first access."""
        payload = self._payload
        if payload is None:
            payload = {"lane_id": self._lane_id, "command_id": self._command_id}
            if self.key == COMMAND_STARTED:
                payload["command_type"] = command_type_of(self._source)
            if self._group is not None:
                payload["group"] = self._group
            self._payload = payload
            self._lane_id = self._command_id = self._source = self._group = None
        return payload

    @payload.setter
    def payload(self, value: dict[str, Any]) -> None:
        self._payload = value
        self._lane_id = self._command_id = self._source = self._group = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LaneEvent):
            return NotImplemented
        return (self.key, self.payload, self.timestamp) == (
            other.key,
            other.payload,
            other.timestamp,
        )

    __hash__ = None  # type: ignore[assignment]  # the payload dict is mutable

    def __repr__(self) -> str:
        return f"LaneEvent({self.key!r}, {self.payload!r}, {self.timestamp!r})"


_new_event = object.__new__
_EVENT_CLASS = LaneEvent  # what rings make command events of (bound here, once)


def command_event(kind: int, handle: Any, timestamp: float) -> LaneEvent:
    """The event of a command record, as a subscriber reads it (payload made on access)."""
    event: LaneEvent = _new_event(LaneEvent)
    event.key = COMMAND_EVENT_KEYS[kind]
    event._payload = None
    event._lane_id = handle.lane_id
    event._command_id = handle.command_id
    event._source = handle
    event._group = getattr(handle, "_group", None)
    event.timestamp = timestamp
    return event


def push_command_event(ring: Any, kind: int, handle: Any, timestamp: float | None) -> None:
    """Record command event ``kind`` of ``handle`` into ``ring`` (an EventRing of either
    core): its lane id, its id, and for a started event the command its type comes from."""
    source = handle._command if kind == STARTED_KIND else None
    group = getattr(handle, "_group", None)
    if group is None:
        ring.push_command(kind, handle.lane_id, handle.command_id, source, timestamp)
    else:
        ring.push_command(kind, handle.lane_id, handle.command_id, source, timestamp, group)


EventFilter = Iterable[str] | Callable[[LaneEvent], bool] | None


def _event_keys(accept: Iterable[str]) -> frozenset[str]:
    if isinstance(accept, str):
        raise TypeError(f"pass a list of event keys, not the single string {accept!r}")
    keys = frozenset(accept)
    for key in keys:
        if key not in EVENT_KEYS:
            raise ValueError(f"unknown event key {key!r}; known keys: {sorted(EVENT_KEYS)}")
    return keys


class EventStream:
    """Events for one subscriber, oldest first. When its buffer is full the oldest event is
    dropped and counted in ``dropped``, so a slow reader never holds up the scheduler."""

    def __init__(
        self,
        hub: EventHub,
        buffer_size: int,
        accept: EventFilter = None,
        ring_type: type[Any] = EventRingPy,
    ) -> None:
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"buffer_size must be an int >= 1, got {buffer_size!r}")
        self._hub = hub
        self._keys: frozenset[str] | None = None
        self._predicate: Callable[[LaneEvent], bool] | None = None
        if callable(accept):
            self._predicate = accept
        elif accept is not None:
            self._keys = _event_keys(accept)
        self.plain = self._keys is None and self._predicate is None  # takes every event
        self._ring = ring_type(buffer_size, _EVENT_CLASS, COMMAND_EVENT_KEYS)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    @property
    def dropped(self) -> int:
        """Events this stream lost because its buffer was full (the oldest go first)."""
        return int(self._ring.dropped)

    def _wake(self) -> None:
        """Wake the task waiting in recv()."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _accepts(self, event: LaneEvent) -> bool:
        if self._keys is not None and event.key not in self._keys:
            return False
        predicate = self._predicate
        if predicate is not None:
            try:
                return bool(predicate(event))
            except Exception:
                logger.exception("event filter raised; event %s skipped for this stream", event.key)
                return False
        return True

    def _offer(self, event: LaneEvent) -> None:
        """A ready event, through this stream's filter."""
        if self.plain or self._accepts(event):
            self._ring.push(event)

    def _offer_command(self, kind: int, handle: Any, timestamp: float | None = None) -> None:
        """A command event (stamped ``timestamp``, None: now), through this stream's filter
        (unfiltered streams get command events from the dispatcher, straight into their ring)."""
        if self._predicate is None:
            keys = self._keys
            if keys is None or COMMAND_EVENT_KEYS[kind] in keys:
                push_command_event(self._ring, kind, handle, timestamp)
            return
        event = command_event(kind, handle, time.time() if timestamp is None else timestamp)
        if self._accepts(event):
            self._ring.push(event)

    async def recv(self, timeout: float | None = None) -> LaneEvent | None:
        """The next event; None if ``timeout`` seconds pass first or the stream is closed.
        One task at a time may wait on a stream (like asyncio.StreamReader)."""
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
        ):
            raise ValueError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
        ring = self._ring
        if not ring and not self._closed:
            if self._waiter is not None:
                raise RuntimeError("another task is already waiting on this EventStream")
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(timeout):
                    while not ring and not self._closed:
                        waiter = self._waiter = loop.create_future()
                        ring.waker = self._wake
                        try:
                            await waiter
                        finally:
                            ring.waker = None
                            if self._waiter is waiter:
                                self._waiter = None
            except TimeoutError:
                return None
        event: LaneEvent | None = ring.pop()
        return event

    def __aiter__(self) -> AsyncIterator[LaneEvent]:
        """``async for`` steps through the ring's own iterator (compiled: no Python frame per
        buffered event); ``__anext__`` below does the same one call at a time."""
        iterator: AsyncIterator[LaneEvent] = self._ring.iterator(self._next)
        return iterator

    def __anext__(self) -> Awaitable[LaneEvent]:
        ready: Awaitable[LaneEvent] | None = self._ring.next_ready()
        return self._next() if ready is None else ready  # events flowing: no coroutine

    async def _next(self) -> LaneEvent:
        event = await self.recv()
        if event is None:
            raise StopAsyncIteration
        return event

    def __len__(self) -> int:
        """Events buffered and not yet read."""
        return len(self._ring)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Unsubscribe; buffered events can still be read, then the stream ends."""
        if not self._closed:
            self._closed = True
            self._hub._remove(self)
            self._wake()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventHub:
    """The subscribers of one manager; ``streams`` is empty when nobody listens. The
    dispatcher pushes command events straight into ``rings`` (the buffers of the unfiltered
    streams) and hands them to ``emit_filtered`` only when a filtered stream exists."""

    def __init__(
        self, buffer_size: int = DEFAULT_EVENT_BUFFER, ring_type: type[Any] = EventRingPy
    ) -> None:
        self.buffer_size = buffer_size
        self.ring_type = ring_type
        self.streams: list[EventStream] = []
        self.rings: list[Any] = []
        self.filtered: list[EventStream] = []
        self.closed = False

    def subscribe(self, accept: EventFilter = None, buffer_size: int | None = None) -> EventStream:
        size = self.buffer_size if buffer_size is None else buffer_size
        stream = EventStream(self, size, accept, self.ring_type)
        if self.closed:
            stream.close()  # the manager is closed: the stream ends at once
        else:
            self.streams.append(stream)
            if stream.plain:
                self.rings.append(stream._ring)
            else:
                self.filtered.append(stream)
        return stream

    def _remove(self, stream: EventStream) -> None:
        if stream in self.streams:
            self.streams.remove(stream)
            if stream.plain:
                self.rings.remove(stream._ring)
            else:
                self.filtered.remove(stream)

    def emit(self, key: str, payload: dict[str, Any]) -> None:
        event = LaneEvent(key, payload, time.time())
        for stream in self.streams:
            stream._offer(event)

    def emit_filtered(self, kind: int, handle: Any, timestamp: float | None = None) -> None:
        """Command event ``kind`` of ``handle`` (stamped ``timestamp``, None: now), to the
        filtered streams only."""
        for stream in self.filtered:
            stream._offer_command(kind, handle, timestamp)

    def close_all(self) -> None:
        self.closed = True
        for stream in list(self.streams):
            stream.close()
