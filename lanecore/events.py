"""Lane events: the a3s-lane keys, and bounded per-subscriber streams that never stall dispatch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class LaneEvent:
    """One event: its key, a payload dict and the wall-clock time it happened (time.time())."""

    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)


EventFilter = Iterable[str] | Callable[[LaneEvent], bool] | None


def _make_predicate(accept: EventFilter) -> Callable[[LaneEvent], bool] | None:
    if accept is None:
        return None
    if callable(accept):
        return accept
    if isinstance(accept, str):
        raise TypeError(f"pass a list of event keys, not the single string {accept!r}")
    keys = frozenset(accept)
    for key in keys:
        if key not in EVENT_KEYS:
            raise ValueError(f"unknown event key {key!r}; known keys: {sorted(EVENT_KEYS)}")
    return lambda event: event.key in keys


class EventStream:
    """Events for one subscriber, oldest first. When its buffer is full the oldest event is
    dropped and counted in ``dropped``, so a slow reader never holds up the scheduler."""

    def __init__(self, hub: EventHub, buffer_size: int, accept: EventFilter = None) -> None:
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"buffer_size must be an int >= 1, got {buffer_size!r}")
        self._hub = hub
        self._predicate = _make_predicate(accept)
        self._buffer: deque[LaneEvent] = deque(maxlen=buffer_size)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.dropped = 0

    def _offer(self, event: LaneEvent) -> None:
        predicate = self._predicate
        if predicate is not None:
            try:
                if not predicate(event):
                    return
            except Exception:
                logger.exception("event filter raised; event %s skipped for this stream", event.key)
                return
        buffer = self._buffer
        if len(buffer) == buffer.maxlen:
            self.dropped += 1
        buffer.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

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
                        self._waiter = loop.create_future()
                        try:
                            await self._waiter
                        finally:
                            self._waiter = None
            except TimeoutError:
                return None
        return self._buffer.popleft() if self._buffer else None

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> LaneEvent:
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
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

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

    def close_all(self) -> None:
        self.closed = True
        for stream in list(self.streams):
            stream.close()
