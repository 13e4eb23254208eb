"""Drop-in for the a3s-lane 0.4 Python SDK: ``from lanecore.compat import Lane, LaneConfig``.

The SDK (``_a3s_lane``) is a blocking, thread-safe facade over a scheduler running in its own
runtime. ``Lane`` does the same over a lanecore ``QueueManager``: the manager lives on an event
loop in a private daemon thread, and every method hands its work to that loop and waits, so it
may be called from any thread, including one that is running another event loop.

As in the SDK: payloads go through JSON, unregistered command types echo them, a submit before
``start()`` waits for it, errors are ``RuntimeError``s (here lanecore's own exceptions too).
Beyond it: ``register(command_type, fn)`` runs real handlers; ``close()`` / ``with`` stop the
loop thread. Stricter: ``LaneConfig`` values are checked when made (negative or inverted
bounds raise here) and a Lane needs a lane. ``PyLane``, ``PyLaneConfig``, ... alias the
SDK's class names.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from lanecore import (
    CommandHandle,
    CommandTimeout,
    LaneError,
    LaneNotFound,
    QueueManager,
    QueueManagerBuilder,
    ShutdownInProgress,
)
from lanecore import EventStream as CoreEventStream
from lanecore import LaneConfig as CoreLaneConfig
from lanecore import LaneEvent as CoreLaneEvent

__all__ = [
    "EventStream",
    "Lane",
    "LaneConfig",
    "LaneEvent",
    "LaneNotFoundError",
    "LaneStatus",
    "LaneTimeout",
    "PyEventStream",
    "PyLane",
    "PyLaneConfig",
    "PyLaneEvent",
    "PyLaneStatus",
    "PyQueueStats",
    "QueueStats",
    "ShutdownInProgress",
]

T = TypeVar("T")
Handler = Callable[[Any], Any]

SHUTDOWN_MESSAGE = "Queue is shutting down, not accepting new commands"  # the SDK's wording
CLOSE_TIMEOUT = 5.0  # seconds the garbage collector / interpreter exit waits for the loop


class LaneNotFoundError(LaneNotFound, RuntimeError):
    """Unknown lane id: lanecore's LaneNotFound, and the RuntimeError the SDK raises."""

    def __init__(self, lane_id: object, known: list[str] | None = None) -> None:
        super().__init__(lane_id, known)
        self.args = (f"Lane not found: {lane_id}",)


class LaneTimeout(LaneError, TimeoutError, RuntimeError):
    """drain() or a command ran out of time: a TimeoutError, and the SDK's RuntimeError."""


# ---------------------------------------------------------------------------- values


@dataclass(eq=False)
class LaneConfig:
    """One lane of ``Lane.with_lanes``, with the SDK's signature and defaults (max 10)."""

    lane_id: str
    priority: int
    min_concurrency: int = 1
    max_concurrency: int = 10
    timeout_secs: float | None = None
    pressure_threshold: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.lane_id, str) or not self.lane_id:
            raise TypeError(f"lane_id must be a non-empty str, got {self.lane_id!r}")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise TypeError(f"priority must be an int, got {self.priority!r}")
        if not 0 <= self.priority <= 255:
            raise ValueError(f"priority must be in 0..255, got {self.priority!r}")
        self._to_core()  # check the values now, where the mistake is

    def _to_core(self) -> CoreLaneConfig:
        config = CoreLaneConfig(self.min_concurrency, self.max_concurrency)
        if self.timeout_secs is not None:
            config = config.with_timeout(self.timeout_secs)
        return config.with_pressure_threshold(self.pressure_threshold)

    def __repr__(self) -> str:
        return (
            f"LaneConfig(lane_id={self.lane_id!r}, priority={self.priority}, "
            f"min={self.min_concurrency}, max={self.max_concurrency})"
        )


@dataclass(frozen=True, slots=True)
class LaneEvent:
    """An event as the SDK shows it: payload None when empty, timestamp an RFC 3339 str."""

    key: str
    payload: dict[str, Any] | None
    timestamp: str

    @classmethod
    def _from_core(cls, event: CoreLaneEvent) -> LaneEvent:
        payload: dict[str, Any] | None = None
        if event.payload:
            payload = dict(sorted(event.payload.items()))  # the SDK's keys come sorted
            if "command_id" in payload:  # and its command ids are strings
                payload["command_id"] = str(payload["command_id"])
        stamp = datetime.fromtimestamp(event.timestamp, UTC).isoformat()
        return cls(event.key, payload, stamp)

    def __repr__(self) -> str:
        return f"LaneEvent(key={self.key!r})"


@dataclass(frozen=True, slots=True)
class LaneStatus:
    """One lane in ``stats().lanes``."""

    lane_id: str
    pending: int
    active: int
    min_concurrency: int
    max_concurrency: int

    def __repr__(self) -> str:
        return (
            f"LaneStatus(lane_id={self.lane_id!r}, pending={self.pending}, "
            f"active={self.active}, min={self.min_concurrency}, max={self.max_concurrency})"
        )


@dataclass(frozen=True, slots=True)
class QueueStats:
    """``Lane.stats()``: totals and a list of LaneStatus (a list, as in the SDK)."""

    total_pending: int
    total_active: int
    lanes: list[LaneStatus]

    def __repr__(self) -> str:
        return (
            f"QueueStats(pending={self.total_pending}, active={self.total_active}, "
            f"lanes={len(self.lanes)})"
        )


# ---------------------------------------------------------------------------- commands


class _Command:
    """What Lane.submit queues: runs the handler registered for its type, else echoes."""

    __slots__ = ("command_type", "handler", "is_async", "payload")

    def __init__(
        self, command_type: str, payload: Any, handler: Handler | None, is_async: bool
    ) -> None:
        self.command_type = command_type
        self.payload = payload
        self.handler = handler
        self.is_async = is_async

    async def execute(self) -> Any:
        handler = self.handler
        if handler is None:
            return self.payload
        if self.is_async:
            return await handler(self.payload)
        # a sync handler never runs on the loop: it would stall every lane
        return await asyncio.get_running_loop().run_in_executor(None, handler, self.payload)


def _json_copy(payload: Any) -> Any:
    """The payload as the SDK's commands see it: a JSON round trip (tuples become lists,
    object keys str and sorted); TypeError/ValueError for what JSON cannot carry, as in the SDK."""
    if payload is None or type(payload) in (str, int, bool):
        return payload
    return json.loads(json.dumps(payload, allow_nan=False, sort_keys=True))


def _is_async(fn: Callable[..., Any]) -> bool:
    """An ``async def`` function, or an object whose class has ``async def __call__``."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


# ---------------------------------------------------------------------------- the loop thread


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Body of the loop thread: run until stopped, then release the executor and the loop."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


def _stop_loop(
    loop: asyncio.AbstractEventLoop,
    thread: threading.Thread,
    manager: QueueManager,
    timeout: float | None,
) -> None:
    """Close the manager (cancelling what is outstanding), stop the loop, join its thread."""
    if not thread.is_alive():
        return
    if threading.current_thread() is thread:  # dropped by a handler: cannot wait for ourselves
        task = loop.create_task(manager.close())
        task.add_done_callback(lambda _: loop.stop())
        return
    try:
        asyncio.run_coroutine_threadsafe(manager.close(), loop).result(timeout)
    finally:
        with contextlib.suppress(RuntimeError):  # already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)


class _Waiter:
    """One blocked ``submit``: the loop thread stores the outcome and releases ``lock``
    (lighter than a concurrent.futures.Future, which matters at tens of thousands a second)."""

    __slots__ = ("abandoned", "error", "handle", "lock", "loop", "result")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.lock.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.handle: CommandHandle | None = None
        self.abandoned = False

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.lock.release()

    def settle(self, handle: CommandHandle) -> None:
        """Done callback of the command's handle, on the loop thread."""
        if handle.cancelled():
            self.error = ShutdownInProgress("the Lane was closed before the command finished")
        elif (error := handle.exception()) is not None:
            self.error = error
        else:
            self.result = handle.result()
        self.lock.release()

    def wait(self) -> Any:
        try:
            self.lock.acquire()
        except BaseException:  # e.g. KeyboardInterrupt: cancel the command as well
            self.abandoned = True
            self.cancel_handle()
            raise
        if self.error is not None:
            raise self.error
        return self.result

    def cancel_handle(self) -> None:
        """Called by both threads after abandoned/handle is set, so one of them cancels."""
        handle = self.handle
        if handle is not None and self.abandoned:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to cancel
                self.loop.call_soon_threadsafe(handle.cancel)


# ---------------------------------------------------------------------------- Lane


class Lane:
    """Priority command queue with blocking, thread-safe methods (the SDK's ``PyLane``).

    ``Lane()`` has the six default lanes; ``Lane.with_lanes([...])`` custom ones. The
    keywords ``implementation`` ("cython"/"python") and ``global_concurrency`` are lanecore
    extensions.
    """

    def __init__(
        self,
        *,
        implementation: str | None = None,
        global_concurrency: int | None = None,
        _configs: Iterable[LaneConfig] | None = None,
    ) -> None:
        builder = QueueManagerBuilder()
        if implementation is not None:
            builder.with_implementation(implementation)
        if global_concurrency is not None:
            builder.with_global_concurrency(global_concurrency)
        if _configs is None:
            builder.with_default_lanes()
        else:
            for config in _configs:
                if not isinstance(config, LaneConfig):
                    raise TypeError(f"with_lanes takes LaneConfig values, got {config!r}")
                builder.with_lane(config.lane_id, config._to_core(), config.priority)
        self._manager = builder.build()
        self._lane_ids = frozenset(self._manager.lane_ids)
        self._handlers: dict[str, tuple[Handler, bool]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._finalizer: weakref.finalize[Any, Lane] | None = None
        self._shutdown = False
        self._closed = False
        self._inbox: list[tuple[str, _Command, _Waiter]] = []
        self._inbox_scheduled = False

    @classmethod
    def with_lanes(
        cls,
        configs: Iterable[LaneConfig],
        *,
        implementation: str | None = None,
        global_concurrency: int | None = None,
    ) -> Lane:
        """A Lane with exactly these lanes (a later config of the same id replaces one)."""
        return cls(
            implementation=implementation,
            global_concurrency=global_concurrency,
            _configs=list(configs),
        )

    @property
    def implementation(self) -> str:
        """The scheduling core in use: "cython" or "python"."""
        return self._manager.implementation

    # ------------------------------------------------------------------ the loop
    def _loop_locked(self) -> asyncio.AbstractEventLoop:
        """The manager's loop, its thread started on first use. Callers hold ``_lock`` and
        have checked ``_closed``: so nothing is handed to a loop that close() has stopped."""
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=_run_loop, args=(loop,), name="lanecore-compat", daemon=True
            )
            thread.start()
            self._thread = thread
            # stops the thread when this Lane is garbage-collected or at interpreter exit
            self._finalizer = weakref.finalize(
                self, _stop_loop, loop, thread, self._manager, CLOSE_TIMEOUT
            )
            self._loop = loop
        return self._loop

    def _on_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def _check_may_block(self, what: str) -> None:
        if self._on_loop_thread():
            raise RuntimeError(
                f"Lane.{what}() blocks, so it cannot be called from the Lane's own event loop "
                "(e.g. in an async handler); do it from a sync handler or another thread"
            )

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the loop thread and return its result (inline once closed)."""
        if self._on_loop_thread():
            return fn()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        with self._lock:
            if self._closed:  # no loop thread any more: the lock serialises the callers
                return fn()
            self._loop_locked().call_soon_threadsafe(run)
        return done.result()

    def _await(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        """Run a coroutine on the loop and wait for it; cancel it if the waiter is interrupted."""
        try:
            self._check_may_block(what)
            with self._lock:
                if self._closed:
                    raise ShutdownInProgress("the Lane is closed")
                future = asyncio.run_coroutine_threadsafe(coro, self._loop_locked())
        except BaseException:
            coro.close()
            raise
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start dispatching; commands submitted earlier wait until now. Idempotent."""
        self._await(self._manager.start(), "start")

    def shutdown(self) -> None:
        """Stop accepting new commands; queued and running ones still finish (see drain)."""
        self._shutdown = True
        self._call(self._manager.shutdown)

    def drain(self, timeout_secs: float | None = None) -> None:
        """Wait until no command is pending or running; LaneTimeout (a RuntimeError, as in
        the SDK, and a TimeoutError) after ``timeout_secs``, dropping nothing."""
        if self._closed:
            return  # close() cancelled whatever was outstanding
        try:
            self._await(self._manager.drain(timeout_secs), "drain")
        except TimeoutError as exc:
            assert timeout_secs is not None
            raise LaneTimeout(
                f"Command timed out after {round(timeout_secs * 1000)}ms ({exc})"
            ) from None

    def close(self) -> None:
        """Shut down now: cancel outstanding commands, end event streams, stop the loop
        thread. Idempotent; blocking submitters get ShutdownInProgress."""
        self._check_may_block("close")
        with self._lock:
            if self._closed:
                return
            self._shutdown = self._closed = True
            finalizer = self._finalizer
        if finalizer is not None:
            finalizer.detach()
            assert self._loop is not None and self._thread is not None
            _stop_loop(self._loop, self._thread, self._manager, None)

    def __enter__(self) -> Lane:
        """``with Lane() as lane``: start; on a normal exit shut down, drain and close."""
        self.start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.shutdown()
                self.drain()
        finally:
            self.close()

    # ------------------------------------------------------------------ commands
    def register(self, command_type: str, fn: Handler) -> None:
        """Run ``fn(payload)`` for commands of this type instead of echoing the payload. A
        sync ``fn`` runs in the loop's default executor, an ``async def`` one on the loop."""
        if not isinstance(command_type, str) or not command_type:
            raise TypeError(f"command_type must be a non-empty str, got {command_type!r}")
        if not callable(fn):
            raise TypeError(f"handler must be callable, got {fn!r}")
        with self._lock:
            self._handlers[command_type] = (fn, _is_async(fn))

    def submit(self, lane_id: str, command_type: str, payload: Any = None) -> Any:
        """Run a command on a lane and block until it finishes: its handler's result, or the
        payload itself when no handler is registered (as the SDK does)."""
        if not isinstance(lane_id, str):
            raise TypeError(f"lane_id must be a str, got {lane_id!r}")
        if not isinstance(command_type, str):
            raise TypeError(f"command_type must be a str, got {command_type!r}")
        if self._shutdown:
            raise ShutdownInProgress(SHUTDOWN_MESSAGE)
        if lane_id not in self._lane_ids:
            raise LaneNotFoundError(lane_id, sorted(self._lane_ids))
        handler, is_async = self._handlers.get(command_type, (None, False))
        command = _Command(command_type, _json_copy(payload), handler, is_async)
        self._check_may_block("submit")
        with self._lock:
            if self._closed:
                raise ShutdownInProgress(SHUTDOWN_MESSAGE)
            loop = self._loop_locked()
            waiter = _Waiter(loop)
            # hand over in batches: one loop wake-up for all the commands queued meanwhile
            self._inbox.append((lane_id, command, waiter))
            if not self._inbox_scheduled:
                self._inbox_scheduled = True
                loop.call_soon_threadsafe(self._take_inbox)
        try:
            return waiter.wait()
        except CommandTimeout as exc:
            raise LaneTimeout(f"Command timed out after {round(exc.timeout * 1000)}ms") from exc

    def _take_inbox(self) -> None:
        """On the loop: submit every command handed over since the last call."""
        with self._lock:
            batch, self._inbox = self._inbox, []
            self._inbox_scheduled = False
        submit = self._manager.submit
        for lane_id, command, waiter in batch:
            if waiter.abandoned:
                continue
            try:
                handle = submit(lane_id, command)
            except ShutdownInProgress:
                waiter.fail(ShutdownInProgress(SHUTDOWN_MESSAGE))
            except BaseException as exc:
                waiter.fail(exc)
            else:
                waiter.handle = handle
                handle.add_done_callback(waiter.settle)
                waiter.cancel_handle()

    # ------------------------------------------------------------------ events and stats
    def subscribe(self) -> EventStream:
        """A stream of every event from now on; read it with ``recv(timeout_ms=None)``."""
        return EventStream(self, self._call(self._manager.subscribe))

    def subscribe_filtered(self, keys: Iterable[str]) -> EventStream:
        """A stream of the events whose key is one of ``keys`` (exact match; unknown keys
        are allowed and never match, as in the SDK)."""
        if isinstance(keys, str):
            raise TypeError(f"pass a list of event keys, not the single string {keys!r}")
        wanted = frozenset(keys)
        for key in wanted:
            if not isinstance(key, str):
                raise TypeError(f"event keys must be str, got {key!r}")
        stream = self._call(lambda: self._manager.subscribe_filtered(lambda e: e.key in wanted))
        return EventStream(self, stream)

    def stats(self) -> QueueStats:
        """Pending and running commands, in total and per lane."""
        core = self._call(self._manager.stats)
        lanes = [
            LaneStatus(s.lane_id, s.pending, s.active, s.min_concurrency, s.max_concurrency)
            for s in core.lanes.values()
        ]
        return QueueStats(core.total_pending, core.total_active, lanes)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "shut down" if self._shutdown else "open"
        return f"<Lane {sorted(self._lane_ids)} {state}>"


class EventStream:
    """Events of one subscription (the SDK's ``PyEventStream``); ``recv`` blocks its caller."""

    def __init__(self, lane: Lane, stream: CoreEventStream) -> None:
        self._lane = lane
        self._stream = stream
        self._lock = threading.Lock()  # one waiter at a time on the lanecore stream

    def recv(self, timeout_ms: float | None = None) -> LaneEvent | None:
        """The next event, or None after ``timeout_ms`` milliseconds (0: only look) or once
        the Lane is closed. Without a timeout it waits for as long as it takes."""
        if timeout_ms is not None and (
            isinstance(timeout_ms, bool)
            or not isinstance(timeout_ms, (int, float))
            or timeout_ms < 0
        ):
            raise ValueError(f"timeout_ms must be None or a number >= 0, got {timeout_ms!r}")
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        if not self._lock.acquire(timeout=-1 if timeout_ms is None else timeout_ms / 1000):
            return None
        try:
            if self._lane._closed:
                return None
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            event = self._lane._await(self._stream.recv(timeout), "recv")
        except ShutdownInProgress:  # closed meanwhile
            return None
        finally:
            self._lock.release()
        return None if event is None else LaneEvent._from_core(event)

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> LaneEvent:
        """Iterate until the Lane is closed."""
        event = self.recv()
        if event is None:
            raise StopIteration
        return event

    def __repr__(self) -> str:
        return f"<EventStream buffered={len(self._stream)} dropped={self._stream.dropped}>"


# The SDK's own class names, so ``from lanecore.compat import PyLane as Lane`` works too.
PyLane = Lane
PyLaneConfig = LaneConfig
PyLaneEvent = LaneEvent
PyEventStream = EventStream
PyLaneStatus = LaneStatus
PyQueueStats = QueueStats
