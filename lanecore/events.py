"""Lane events: the a3s-lane keys, and bounded per-subscriber streams that never stall dispatch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

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


class LaneEvent:
    """One event: its key, a payload dict and the wall-clock time it happened (time.time())."""

    __slots__ = ("key", "payload", "timestamp")

    def __init__(
        self, key: str, payload: dict[str, Any] | None = None, timestamp: float | None = None
    ) -> None:
        self.key = key
        self.payload = {} if payload is None else payload
        self.timestamp = time.time() if timestamp is None else timestamp

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


# A command event as the scheduler records it: (key, handle, timestamp). Its payload is made
# from the handle only when a subscriber reads the event, so emitting costs one tuple.
CommandRecord = tuple[str, Any, float]


def _event_from_record(record: CommandRecord) -> LaneEvent:
    key, handle, timestamp = record
    payload = {"lane_id": handle.lane_id, "command_id": handle.command_id}
    if key == COMMAND_STARTED:
        payload["command_type"] = handle.command_type
    return LaneEvent(key, payload, timestamp)


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

    def __init__(self, hub: EventHub, buffer_size: int, accept: EventFilter = None) -> None:
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"buffer_size must be an int >= 1, got {buffer_size!r}")
        self._hub = hub
        self._keys: frozenset[str] | None = None
        self._predicate: Callable[[LaneEvent], bool] | None = None
        if callable(accept):
            self._predicate = accept
        elif accept is not None:
            self._keys = _event_keys(accept)
        self._plain = self._keys is None and self._predicate is None  # takes every event
        self._buffer: deque[LaneEvent | CommandRecord] = deque(maxlen=buffer_size)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        # dropped = offered - taken - buffered: counting is all the hot path does per event
        self._offered = 0
        self._taken = 0

    @property
    def dropped(self) -> int:
        """Events this stream lost because its buffer was full (the oldest go first)."""
        return self._offered - self._taken - len(self._buffer)

    def _wake(self) -> None:
        """Wake the task waiting in recv() (once: later events find no waiter)."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _offer(self, event: LaneEvent | CommandRecord) -> None:
        key = event[0] if isinstance(event, tuple) else event.key
        if self._keys is not None and key not in self._keys:
            return
        predicate = self._predicate
        if predicate is not None:
            if isinstance(event, tuple):
                event = _event_from_record(event)
            try:
                if not predicate(event):
                    return
            except Exception:
                logger.exception("event filter raised; event %s skipped for this stream", key)
                return
        self._buffer.append(event)
        self._offered += 1
        if self._waiter is not None:
            self._wake()

    async def recv(self, timeout: float | None = None) -> LaneEvent | None:
        """The next event; None if ``timeout`` seconds pass first or the stream is closed.
        One task at a time may wait on a stream (like asyncio.StreamReader)."""
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
        ):
            raise ValueError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
        if not self._buffer and not self._closed:
            if self._waiter is not None:
                raise RuntimeError("another task is already waiting on this EventStream")
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(timeout):
                    while not self._buffer and not self._closed:
                        waiter = self._waiter = loop.create_future()
                        try:
                            await waiter
                        finally:
                            if self._waiter is waiter:
                                self._waiter = None
            except TimeoutError:
                return None
        if not self._buffer:
            return None
        self._taken += 1
        event = self._buffer.popleft()
        return _event_from_record(event) if isinstance(event, tuple) else event

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> LaneEvent:
        buffer = self._buffer
        if buffer:  # the common case while events flow: no recv() coroutine
            self._taken += 1
            item = buffer.popleft()
            return _event_from_record(item) if isinstance(item, tuple) else item
        event = await self.recv()
        if event is None:
            raise StopAsyncIteration
        return event

    def __len__(self) -> int:
        """Events buffered and not yet read."""
        return len(self._buffer)

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
    """The subscribers of one manager; ``streams`` is empty when nobody listens."""

    def __init__(self, buffer_size: int = DEFAULT_EVENT_BUFFER) -> None:
        self.buffer_size = buffer_size
        self.streams: list[EventStream] = []
        self.closed = False

    def subscribe(self, accept: EventFilter = None, buffer_size: int | None = None) -> EventStream:
        stream = EventStream(self, self.buffer_size if buffer_size is None else buffer_size, accept)
        if self.closed:
            stream.close()  # the manager is closed: the stream ends at once
        else:
            self.streams.append(stream)
        return stream

    def _remove(self, stream: EventStream) -> None:
        if stream in self.streams:
            self.streams.remove(stream)

    def emit(self, key: str, payload: dict[str, Any]) -> None:
        event = LaneEvent(key, payload, time.time())
        for stream in self.streams:
            stream._offer(event)

    def emit_command(self, key: str, handle: Any) -> None:
        """A submitted/started/completed event of a command: its payload is made on read."""
        record = (key, handle, time.time())
        for stream in self.streams:
            if stream._plain:  # _offer, inlined: up to three of these per command
                stream._buffer.append(record)
                stream._offered += 1
                if stream._waiter is not None:
                    stream._wake()
            else:
                stream._offer(record)

    def close_all(self) -> None:
        self.closed = True
        for stream in list(self.streams):
            stream.close()
