"""Pure-Python twin of ``lanecore_pyx._dispatch``: the scheduler's per-command path.

The Dispatcher owns everything a command goes through on the common path: ``submit`` checks
the common forms (async function, ``functools.partial`` of one, object with ``async def
execute``, registered name), makes the handle in a copy of the caller's context, queues it and
wakes a runner; runners pull the next command from the lane table, run it inline in its
context and resolve its handle. Everything else (other forms, options, errors, failures,
retries, lane hooks, rate-limit timers) goes to the shell through ``DispatchHooks``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from asyncio import CancelledError
from collections.abc import Callable, Generator, Iterable, Iterator
from types import CoroutineType, FunctionType
from typing import Any

from lanecore._coreapi import (
    CANCELLED_ITSELF,
    COMPLETED_KIND,
    NO_ARGUMENT,
    RAISED,
    STARTED_KIND,
    SUBMITTED_KIND,
    TIMED_OUT,
    CoreHandle,
    DispatchHooks,
    NamedCommand,
    Runner,
    plain_json,
)

logger = logging.getLogger("lanecore")

# A runner that keeps finding commands which finish without suspending yields to the loop
# after this many, so other tasks and I/O are never starved by a burst of quick commands.
YIELD_EVERY = 256

CO_COROUTINE = 0x0080
_PARTIAL = functools.partial
_EXECUTE_CACHE_SIZE = 1024


def _is_async_function(obj: Any) -> bool:
    return type(obj) is FunctionType and bool(obj.__code__.co_flags & CO_COROUTINE)


class LaneRecord:
    """The core's record of one lane; ``policy`` is the shell's object for it."""

    __slots__ = (
        "held",
        "hooks",
        "index",
        "lane_id",
        "max_pending",
        "policy",
        "run_in_executor",
        "stamps",
        "timeout",
    )

    def __init__(
        self,
        lane_id: str,
        index: int,
        timeout: float | None,
        run_in_executor: bool,
        hooks: bool,
        stamps: bool,
        policy: Any,
    ) -> None:
        self.lane_id = lane_id
        self.index = index
        self.timeout = timeout
        self.run_in_executor = run_in_executor
        self.hooks = hooks
        self.stamps = stamps
        self.policy = policy
        self.max_pending = 0
        self.held = 0

    def __repr__(self) -> str:
        return f"<LaneRecord {self.lane_id!r} #{self.index}>"


class Inflight:
    """Every outstanding command (queued, running or waiting to retry) by id: a read-only
    mapping for the shell. Auto-numbered ids (ints, in submit order) and other ids (str) are
    kept apart, as in the compiled core (which indexes the former by position)."""

    __slots__ = ("_auto", "named")

    def __init__(self) -> None:
        self.named: dict[Any, CoreHandle] = {}
        self._auto: dict[int, CoreHandle] = {}

    def add(self, command_id: Any, handle: CoreHandle) -> None:
        if type(command_id) is int:
            self._auto[command_id] = handle
        else:
            self.named[command_id] = handle

    def remove(self, command_id: Any) -> None:
        """Drop ``command_id`` if it is outstanding."""
        if type(command_id) is int:
            self._auto.pop(command_id, None)
        else:
            self.named.pop(command_id, None)

    def __len__(self) -> int:
        return len(self.named) + len(self._auto)

    def __bool__(self) -> bool:
        return bool(self.named) or bool(self._auto)

    def get(self, command_id: Any, default: Any = None) -> Any:
        """The handle of an outstanding command, or ``default``."""
        if type(command_id) is int:
            return self._auto.get(command_id, default)
        try:
            return self.named.get(command_id, default)
        except TypeError:  # unhashable: no such command
            return default

    def __contains__(self, command_id: Any) -> bool:
        return self.get(command_id) is not None

    def __getitem__(self, command_id: Any) -> CoreHandle:
        item = self.get(command_id)
        if item is None:
            raise KeyError(command_id)
        return item  # type: ignore[no-any-return]

    def keys(self) -> list[Any]:
        """The ids of the outstanding commands."""
        return [key for key, _ in self.items()]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def values(self) -> list[CoreHandle]:
        """The handles of the outstanding commands."""
        return [item for _, item in self.items()]

    def items(self) -> list[tuple[Any, CoreHandle]]:
        """(id, handle) of every outstanding command: named ones, then auto-numbered by id."""
        return [*self.named.items(), *self._auto.items()]

    def __repr__(self) -> str:
        return f"<Inflight {len(self)} outstanding>"


def _await_iter(run: Runner) -> Iterator[Any]:
    """One attempt's awaitable, as the iterator that steps it."""
    awaitable: Any = run()
    if type(awaitable) is CoroutineType:
        return awaitable  # type: ignore[return-value]
    get = getattr(type(awaitable), "__await__", None)
    if get is None:
        raise TypeError(f"{run!r} returned {awaitable!r}, which is not awaitable")
    it: Iterator[Any] = get(awaitable)
    return it


def _attempt(context: contextvars.Context, run: Runner) -> Generator[Any, Any, Any]:
    """``await run()``, with every step of it taken inside ``context``, as a Task steps its
    coroutine inside the Task's context."""
    it = context.run(_await_iter, run)
    send = getattr(it, "send", None)
    if send is None:
        send = lambda _value: next(it)  # noqa: E731 (a plain iterator: no value to send)
    throw = getattr(it, "throw", None)
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                out = context.run(send, value)
            else:
                thrown, error = error, None
                if throw is None:
                    raise thrown
                out = context.run(throw, thrown)
        except StopIteration as stop:
            return stop.value
        try:
            value = yield out
        except GeneratorExit:
            close = getattr(it, "close", None)
            if close is not None:
                context.run(close)
            raise
        except BaseException as exc:
            value, error = None, exc


class _InContext:
    """Awaiting this awaits one attempt of a command inside its context."""

    __slots__ = ("context", "run")

    def __init__(self, context: contextvars.Context, run: Runner) -> None:
        self.context = context
        self.run = run

    def __await__(self) -> Generator[Any, Any, Any]:
        return _attempt(self.context, self.run)


class Dispatcher:
    """The per-command path of one manager. ``hooks`` is the shell's side of the interface;
    ``rings`` and ``filtered`` are the event hub's lists (the core appends to neither)."""

    def __init__(
        self,
        hooks: DispatchHooks,
        table: Any,
        handle_type: type[CoreHandle],
        *,
        rings: list[Any],
        filtered: list[Any],
        emit_filtered: Callable[[int, Any, float | None], None],
    ) -> None:
        self.hooks = hooks
        self.table = table
        self.handle_type = handle_type
        self.lanes: dict[str, LaneRecord] = {}
        self.inflight = Inflight()
        self.idle: list[asyncio.Future[None]] = []
        self.runners: set[asyncio.Task[None]] = set()
        self.rings = rings
        self.filtered = filtered
        self.emit_filtered = emit_filtered
        self.loop: asyncio.AbstractEventLoop | None = None
        self.accepting = True
        self.started = False
        self.closed = False
        self.rate_limited = False
        # the throttled-lane count the shell's token timer is armed for, -1 while none is
        # armed: the core calls hooks.arm_token_timer only when the table's count differs
        self.token_armed_for = -1
        self.drain_wanted = False
        self.next_id = 1
        self.starting = 0  # runners spawned that have not looked for a command yet
        self.waking = False  # an idle runner was woken and has not looked yet
        self.recorder: Any = None  # has wait_records and run_records when metrics are on
        self.sample_every = 0
        self.sample_count = 0
        self.named: dict[str, Callable[[Any], Any]] | None = None  # name -> handler, or None
        self.named_prefix = ""
        self.named_next = 0
        self._execute_is_async: dict[type, bool] = {}
        self._runner_context = contextvars.Context()

    # ------------------------------------------------------------------ lanes
    def add_lane(
        self,
        lane_id: str,
        index: int,
        timeout: float | None,
        run_in_executor: bool,
        hooks: bool,
        stamps: bool,
        policy: Any,
    ) -> LaneRecord:
        """Record a lane of the table (``index``) under ``lane_id`` and return its record."""
        if not isinstance(lane_id, str) or not lane_id:
            raise ValueError(f"lane id must be a non-empty str, got {lane_id!r}")
        if lane_id in self.lanes:
            raise ValueError(f"duplicate lane id {lane_id!r}")
        record = LaneRecord(lane_id, index, timeout, run_in_executor, hooks, stamps, policy)
        self.lanes[lane_id] = record
        return record

    # ------------------------------------------------------------------ submitting
    def named_id(self) -> str:
        """A fresh id for a named command (``named_prefix``-n)."""
        self.named_next += 1
        return f"{self.named_prefix}-{self.named_next}"

    def runner_of(self, command: Any) -> Runner | None:
        """The Runner of a command of a common form, or None (then the shell decides)."""
        if _is_async_function(command):
            return command  # type: ignore[no-any-return]
        kind = type(command)
        if kind is _PARTIAL:
            return command if _is_async_function(command.func) else None
        return command.execute if self._execute_is_async_of(kind) else None

    def _execute_is_async_of(self, kind: type) -> bool:
        """Whether class ``kind`` has an async ``execute`` (remembered per class)."""
        is_async = self._execute_is_async.get(kind)
        if is_async is None:
            is_async = _is_async_function(getattr(kind, "execute", None))
            if len(self._execute_is_async) >= _EXECUTE_CACHE_SIZE:
                self._execute_is_async.clear()
            self._execute_is_async[kind] = is_async
        return is_async

    def submit(
        self,
        lane_id: Any,
        command: Any,
        payload: Any = NO_ARGUMENT,
        *,
        timeout: Any = None,
        command_id: Any = None,
        run_in_executor: Any = None,
        cost: Any = None,
        delay: Any = None,
        group: Any = None,
    ) -> CoreHandle:
        """Queue a command on a lane and return its handle (see QueueManager.submit)."""
        if (
            timeout is None
            and command_id is None
            and run_in_executor is None
            and cost is None
            and delay is None
            and group is None
            and self.accepting
            and self.loop is not None
            and type(lane_id) is str
        ):
            ls = self.lanes.get(lane_id)
            if ls is not None and (
                not ls.max_pending or self.table.pending(ls.index) + ls.held < ls.max_pending
            ):
                if payload is NO_ARGUMENT:
                    run = self.runner_of(command)
                    if run is not None:
                        return self.queue(ls, command, run, ls.timeout, None)
                elif type(command) is str and self.named is not None:
                    handler = self.named.get(command)
                    if handler is not None and plain_json(payload):
                        named = NamedCommand(command, payload, handler)
                        return self.queue(ls, named, named, ls.timeout, self.named_id())
        return self.hooks.submit(
            lane_id, command, payload, timeout, command_id, run_in_executor, cost, delay, group
        )

    def _handle(
        self,
        ls: LaneRecord,
        command: Any,
        run: Runner,
        timeout: float | None,
        command_id: Any,
        context: contextvars.Context | None,
        cost: int = 1,
        group: str | None = None,
        hold: bool = False,
    ) -> CoreHandle:
        if command_id is None:
            command_id = self.next_id
            self.next_id += 1
        handle = self.handle_type(loop=self.loop)
        handle.command_id = command_id
        handle._command = command
        handle._run = run
        handle._lane = ls
        handle._owner = self.hooks
        handle._timeout = timeout
        handle._failures = 0
        handle._runner = None
        handle._timer = None
        handle._context = contextvars.copy_context() if context is None else context
        handle._cost = cost
        handle._group = group
        handle._queued_at = None
        if ls.stamps:
            assert self.loop is not None
            handle._submitted_at = self.loop.time()
        if self.sample_every:
            self.sample_count += 1
            if self.sample_count >= self.sample_every:
                self.sample_count = 0
                handle._queued_at = time.perf_counter()
        if not hold:
            handle._ticket = self._push(ls, handle, cost)
        self.inflight.add(command_id, handle)
        return handle

    def _push(self, ls: LaneRecord, handle: CoreHandle, cost: int) -> int:
        if cost == 1:
            return self.table.push(ls.index, handle)  # type: ignore[no-any-return]
        return self.table.push(ls.index, handle, cost)  # type: ignore[no-any-return]

    def queue(
        self,
        ls: LaneRecord,
        command: Any,
        run: Runner,
        timeout: float | None,
        command_id: Any,
        context: contextvars.Context | None = None,
        cost: int = 1,
        group: str | None = None,
        hold: bool = False,
    ) -> CoreHandle:
        """Queue one checked command (in ``context``; None: a copy of the current one) and
        dispatch what may run. The shell's checked submits end here. ``hold``: make the
        handle but keep it out of its lane until the shell releases it (a delay)."""
        handle = self._handle(ls, command, run, timeout, command_id, context, cost, group, hold)
        if self.rings or self.filtered:
            self._emit(SUBMITTED_KIND, handle, None)
        if not hold:
            if ls.hooks:
                self.hooks.lane_changed(ls)
            self.kick()
        return handle

    def release(self, handle: CoreHandle) -> None:
        """Put a held handle (delayed, or waiting to retry) at the back of its lane and
        dispatch what may run."""
        ls: Any = handle._lane
        handle._ticket = self._push(ls, handle, handle._cost)
        if ls.hooks:
            self.hooks.lane_changed(ls)
        self.kick()

    def queue_many(
        self, ls: LaneRecord, commands: Iterable[Any], timeout: float | None
    ) -> list[CoreHandle]:
        """Check every command, then queue them all in order (each in its own copy of the
        current context) and dispatch what may run."""
        batch = list(commands)
        runs: list[Runner | None] = []
        for command in batch:  # check them all first; bind an execute only as it is queued
            if _is_async_function(command) or (
                type(command) is _PARTIAL and _is_async_function(command.func)
            ):
                runs.append(command)
            elif self._execute_is_async_of(type(command)):
                runs.append(None)
            else:
                runs.append(self.hooks.runner_for(command, ls.run_in_executor))
        first_id = self.next_id
        handles = [
            self._handle(ls, command, command.execute if run is None else run, timeout, None, None)
            for command, run in zip(batch, runs, strict=True)
        ]
        if self.rings or self.filtered:
            stamp = time.time()  # one batch, one submit time
            for ring in self.rings:  # the batch's ids are first_id, first_id + 1, ...
                ring.push_run(SUBMITTED_KIND, ls.lane_id, first_id, len(handles), stamp)
            if self.filtered:
                for handle in handles:
                    self.emit_filtered(SUBMITTED_KIND, handle, stamp)
        if ls.hooks:
            self.hooks.lane_changed(ls)
        self.kick()
        return handles

    def _emit(self, kind: int, handle: CoreHandle, timestamp: float | None) -> None:
        """Record command event ``kind`` (stamped ``timestamp``, None: now): straight into the
        unfiltered streams' rings, and through the hub for filtered streams."""
        source = handle._command if kind == STARTED_KIND else None
        group = handle._group
        for ring in self.rings:
            if group is None:
                ring.push_command(kind, handle._lane.lane_id, handle.command_id, source, timestamp)
            else:
                ring.push_command(
                    kind, handle._lane.lane_id, handle.command_id, source, timestamp, group
                )
        if self.filtered:
            self.emit_filtered(kind, handle, timestamp)

    def forget(self, handle: CoreHandle) -> None:
        """The handle is resolved outside the runner (cancelled, dead-lettered): drop it."""
        self.inflight.remove(handle.command_id)
        if not self.inflight and self.drain_wanted:
            self.hooks.drained()

    # ------------------------------------------------------------------ runners
    def kick(self) -> None:
        """Make sure a runner will look for work: wake one idle runner, or start one. Nothing
        is done while one already woken or started has not looked yet, so a burst of submits
        costs one wake-up; each runner that finds work wakes the next if more may run."""
        if not self.started or self.closed:
            return
        if not (self.waking or self.starting) and self.table.can_pop():
            self._wake_one()
        if self.rate_limited:
            throttled = self.table.throttled_count
            if throttled and throttled != self.token_armed_for:  # (else: nothing to arm)
                self.hooks.arm_token_timer()

    def _wake_one(self) -> None:
        idle = self.idle
        while idle:
            parked = idle.pop()
            if not parked.done():
                self.waking = True
                parked.set_result(None)
                return
        self.starting += 1
        assert self.loop is not None
        task = self.loop.create_task(self.run(), context=self._runner_context)
        self.runners.add(task)
        task.add_done_callback(self._runner_done)

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        self.runners.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                logger.error("lanecore runner crashed", exc_info=exc)

    async def run(self) -> None:
        """A runner: take the best command that may run, run it, repeat; park when none may."""
        table = self.table
        pop = table.pop_ready
        complete = table.complete
        inflight = self.inflight
        idle = self.idle
        hooks = self.hooks
        recorder = self.recorder
        wait_records = run_records = None
        if recorder is not None:
            wait_records = recorder.wait_records
            run_records = recorder.run_records
        started = 0.0
        assert self.loop is not None
        create_future = self.loop.create_future
        me = asyncio.current_task()
        assert me is not None
        burst = 0
        self.starting -= 1
        while True:
            if burst >= YIELD_EVERY:
                burst = 0
                await asyncio.sleep(0)
            handle: Any = pop()
            # (a lane with a rate limit may be added at run time; with none throttled, or
            # the shell's timer armed for the lanes throttled now, the hook would return at
            # once: lanes are only throttled by pops, so none needs an earlier wake)
            if self.rate_limited:
                throttled = table.throttled_count
                if throttled and throttled != self.token_armed_for:
                    hooks.arm_token_timer()
            if handle is None:
                parked = create_future()
                idle.append(parked)
                await parked
                self.waking = False
                burst = 0
                continue
            burst += 1
            ls = handle._lane
            if ls.hooks:
                hooks.lane_changed(ls)
            if not (self.waking or self.starting) and table.can_pop():
                self._wake_one()  # more may run: a runner for it, in case this one suspends
            handle._runner = me
            if recorder is not None:
                started = 0.0
                queued = handle._queued_at
                if queued is not None:  # a sampled command: time its wait and its runs
                    started = time.perf_counter()
                    if queued >= 0.0:  # its first run (a retry's wait includes backoff)
                        handle._queued_at = -1.0
                        wait_records[ls.index]((started - queued) * 1000.0)  # type: ignore[index]
            if self.rings or self.filtered:
                self._emit(STARTED_KIND, handle, None)
            seconds = handle._timeout
            deadline = None
            try:
                if seconds is None:
                    result = await _InContext(handle._context, handle._run)
                else:
                    deadline = asyncio.timeout(seconds)
                    async with deadline:
                        result = await _InContext(handle._context, handle._run)
            except CancelledError as exc:
                if handle.done():
                    return  # the handle was cancelled while running: this runner is detached
                if me.cancelling():
                    hooks.abandoned(handle)
                    raise
                hooks.attempt_failed(handle, exc, CANCELLED_ITSELF)
            except TimeoutError as exc:
                if handle.done():
                    return
                expired = deadline is not None and deadline.expired()
                hooks.attempt_failed(handle, exc, TIMED_OUT if expired else RAISED)
            except BaseException as exc:
                if handle.done():
                    return
                hooks.attempt_failed(handle, exc, RAISED)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
            else:
                if handle.done():
                    return  # cancelled while running; the command ignored it
                complete(ls.index)
                handle._run = handle._context = None  # no more attempts: let them go now
                inflight.remove(handle.command_id)
                handle.set_result(result)
                if started:
                    run_records[ls.index]((time.perf_counter() - started) * 1000.0)  # type: ignore[index]
                if self.rings or self.filtered:
                    self._emit(COMPLETED_KIND, handle, None)
                if not inflight and self.drain_wanted:
                    hooks.drained()

    def close(self) -> list[asyncio.Task[None]]:
        """Stop dispatching: park no more, release the idle runners; returns every runner
        (the caller cancels and awaits them)."""
        self.closed = True
        self.accepting = False
        for parked in self.idle:
            parked.cancel()
        self.idle.clear()
        return list(self.runners)
