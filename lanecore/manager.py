"""QueueManager: the asyncio shell around the scheduling core.

The core's Dispatcher owns the per-command path: ``submit`` of the common command forms,
handles, queueing, and the runners that pull the next dispatchable command and run it inline
(no Task, lock or timer per command). The manager implements the core's ``DispatchHooks``:
the uncommon submits and their checks, failures and retries, dead letters, events, boost
timers and rate-limit wake-ups. Ordering and caps live in the core's lane table.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any

from lanecore import _impl, events
from lanecore._coreapi import (
    CANCELLED_ITSELF,
    NO_ARGUMENT,
    TIMED_OUT,
    CoreHandle,
    InflightMap,
    LaneRecord,
)
from lanecore._durations import Duration, check_int, to_seconds
from lanecore.commands import Runner, command_type_of, to_runner
from lanecore.config import LaneConfig
from lanecore.dlq import DEFAULT_DLQ_SIZE, DeadLetter, DeadLetterQueue
from lanecore.durable import Durability
from lanecore.errors import CommandTimeout, LaneNotFound, ShutdownInProgress
from lanecore.events import DEFAULT_EVENT_BUFFER, EventFilter, EventHub, EventStream
from lanecore.handle import CommandHandle
from lanecore.recorder import ManagerMetrics, MetricsRecorder, MetricsSettings
from lanecore.stats import LaneStatus, QueueStats
from lanecore.storage.protocol import Storage

logger = logging.getLogger("lanecore")

TOKEN_WAKE_MIN = 0.005
"""Seconds: a throttled lane is woken at most this often and spends the tokens that accrued
meanwhile together. Sub-millisecond timers make uvloop spin and each wake-up costs a system
call, so at 1,000 tokens/s waking per token costs ~10 % of a core; coalescing keeps it < 5 %
and never changes the rate (see ``_token_coalesce``)."""

LaneSpec = tuple[str, LaneConfig, int]


class _Lane:
    """The shell's view of one lane: its config and the policy state the core doesn't hold."""

    __slots__ = (
        "boost",
        "boost_head",
        "boost_timer",
        "config",
        "hooks",
        "index",
        "lane_id",
        "pressure",
        "priority",
        "record",
        "retry",
        "run_in_executor",
        "timeout",
        "under_pressure",
    )

    record: LaneRecord  # the core's record of this lane

    def __init__(self, lane_id: str, index: int, config: LaneConfig, priority: int) -> None:
        self.lane_id = lane_id
        self.index = index
        self.config = config
        self.priority = priority
        self.timeout = config.timeout
        self.retry = config.retry_policy
        self.run_in_executor = config.run_in_executor
        boost = config.priority_boost
        self.boost = boost if boost is not None and boost.enabled else None
        self.boost_head: CommandHandle | None = None
        self.boost_timer: asyncio.TimerHandle | None = None
        self.pressure = config.pressure_threshold
        self.under_pressure = False
        # lanes with a boost or a pressure threshold need a look after every queue change
        self.hooks = self.boost is not None or self.pressure is not None


class QueueManager:
    """Schedules commands over prioritised lanes. Build one with QueueManagerBuilder.

    Not thread-safe: call every method from the thread running its event loop.
    """

    def __init__(
        self,
        lanes: Sequence[LaneSpec],
        *,
        global_concurrency: int = 0,
        dlq_size: int = DEFAULT_DLQ_SIZE,
        event_buffer: int = DEFAULT_EVENT_BUFFER,
        implementation: str | None = None,
        storage: Storage | None = None,
        metrics: MetricsSettings | None = None,
    ) -> None:
        check_int("global_concurrency", global_concurrency, 0)
        check_int("event_buffer", event_buffer, 1)
        if not lanes:
            raise ValueError("a QueueManager needs at least one lane")
        core = _impl.get_core(implementation)
        self.implementation: str = core.name
        # pending handles stay out of the young GC generations (compiled core; see _lanetable)
        self._table = core.LaneTable(
            global_concurrency,
            untracked_type=CommandHandle,
            untracked_slots=("_command", "_run", "_context"),
        )
        self._events = EventHub(event_buffer, core.EventRing)
        self._listeners = self._events.streams  # non-empty only while someone subscribes
        self._dispatch = core.Dispatcher(
            _Hooks(self),
            self._table,
            CommandHandle,
            rings=self._events.rings,
            filtered=self._events.filtered,
            emit_filtered=self._events.emit_filtered,
        )
        self._inflight: InflightMap = self._dispatch.inflight
        self._lanes: dict[str, _Lane] = {}
        for lane_id, config, priority in lanes:
            if not isinstance(lane_id, str):
                raise TypeError(f"lane id must be a str, got {lane_id!r}")
            if not lane_id:
                raise ValueError("lane id must not be empty")
            if lane_id in self._lanes:
                raise ValueError(f"duplicate lane id {lane_id!r}")
            if not isinstance(config, LaneConfig):
                raise TypeError(f"config of lane {lane_id!r} must be a LaneConfig, got {config!r}")
            check_int("priority", priority, 0, 255)
            rate = config.rate_limit
            if rate is not None and not rate.is_unlimited:
                assert rate.max_requests is not None
                index = self._table.add_lane(
                    priority,
                    config.min_concurrency,
                    config.max_concurrency,
                    float(rate.max_requests),
                    rate.tokens_per_second,
                )
            else:
                index = self._table.add_lane(
                    priority, config.min_concurrency, config.max_concurrency
                )
            ls = self._lanes[lane_id] = _Lane(lane_id, index, config, priority)
            ls.record = self._dispatch.add_lane(
                lane_id, index, ls.timeout, ls.run_in_executor, ls.hooks, ls.boost is not None, ls
            )
        self._by_index: list[_Lane] = sorted(self._lanes.values(), key=lambda ls: ls.index)
        windows = [
            to_seconds("window", ls.config.rate_limit.window)
            for ls in self._by_index
            if ls.config.rate_limit is not None and not ls.config.rate_limit.is_unlimited
        ]
        self._rate_limited = bool(windows)
        # A bucket refills from empty in one window; waking within half of it never lets a
        # bucket overflow (tokens lost), so the rate is exact whatever the coalescing.
        self._token_coalesce = min([TOKEN_WAKE_MIN, *(w / 2 for w in windows)])
        if storage is not None and not isinstance(storage, Storage):
            raise TypeError(f"storage must implement lanecore.storage.Storage, got {storage!r}")
        self._durable = Durability(self, storage, self._dispatch.named_id)
        self._dispatch.named_prefix = self._durable.id_prefix
        if storage is None:  # named commands need no storing: the core takes them itself
            self._dispatch.named = self._durable.handlers
        self._dlq = DeadLetterQueue(dlq_size)
        self._dlq._resubmit = self._retry_dead_letter
        if storage is not None:
            self._dlq._on_remove = self._durable.forget_dead_letter
            self._dlq._on_clear = self._durable.clear_dead_letters
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._retrying = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token_timer: asyncio.TimerHandle | None = None
        self._token_when = 0.0
        self._token_armed_for = 0
        self._started = False
        self._shutdown = False
        self._closed = False
        self._dispatch.rate_limited = self._rate_limited
        self._recorder: MetricsRecorder | None = None
        self._metrics: ManagerMetrics | None = None
        if metrics is not None:
            self._recorder = MetricsRecorder(self, metrics.backend, **metrics.options)
            self._metrics = ManagerMetrics(self._recorder)
            self._dispatch.recorder = self._recorder
            self._dispatch.sample_every = self._recorder.sample_every
        if type(self).submit is QueueManager.submit:  # (a subclass's own submit wins)
            self.__dict__["submit"] = self._dispatch.submit  # the core's submit, no frame here

    # ------------------------------------------------------------------ lifecycle
    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "QueueManager methods must be called from a running event loop "
                "(use lanecore.compat for blocking use from threads)"
            ) from None
        if self._loop is None:
            self._loop = self._dispatch.loop = loop
        elif self._loop is not loop:
            raise RuntimeError("this QueueManager is bound to another event loop")
        return loop

    async def start(self) -> None:
        """Begin dispatching (commands submitted before start wait in their lanes)."""
        if self._closed:
            raise ShutdownInProgress("the manager is closed and cannot be started again")
        self._bind_loop()
        if not self._started:
            await self._durable.recover()
            if self._recorder is not None:
                self._recorder.start(self._bind_loop())
            self._started = self._dispatch.started = True
            self._dispatch.kick()

    def shutdown(self) -> None:
        """Stop accepting work; queued and running commands still complete (see drain)."""
        if not self._shutdown:
            self._shutdown = True
            self._dispatch.accepting = False
            if self._listeners:
                self._events.emit(events.SHUTDOWN_STARTED, {})

    async def drain(self, timeout: Duration | None = None) -> None:
        """Wait until nothing is pending, running or waiting to retry. On timeout raise
        TimeoutError and drop nothing."""
        seconds = None if timeout is None else to_seconds("timeout", timeout, allow_zero=True)
        if not self._inflight:
            return
        loop = self._bind_loop()
        if not self._started:
            raise RuntimeError(
                f"drain() before start(): {len(self._inflight)} commands can never finish"
            )
        waiter: asyncio.Future[None] = loop.create_future()
        self._drain_waiters.append(waiter)
        self._dispatch.drain_wanted = True
        try:
            if seconds is None:
                await waiter
            else:
                async with asyncio.timeout(seconds):
                    await waiter
        except TimeoutError:
            raise TimeoutError(
                f"drain timed out after {seconds:g}s with {len(self._inflight)} commands "
                "outstanding (none dropped)"
            ) from None
        finally:
            if waiter in self._drain_waiters:
                self._drain_waiters.remove(waiter)
                self._dispatch.drain_wanted = bool(self._drain_waiters)

    async def close(self) -> None:
        """Shut down now: cancel every outstanding command, stop the runners, end event streams."""
        self.shutdown()
        if self._closed:
            return
        self._closed = True
        self._dispatch.accepting = False
        self._durable.kept.update(self._inflight)  # cancelled by close: they run at next start
        for handle in list(self._inflight.values()):
            handle.cancel()
        runners = self._dispatch.close()
        if self._token_timer is not None:
            self._token_timer.cancel()
            self._token_timer = None
        for ls in self._by_index:
            if ls.boost_timer is not None:
                ls.boost_timer.cancel()
                ls.boost_timer = None
        for task in runners:
            task.cancel()
        if runners:
            await asyncio.gather(*runners, return_exceptions=True)
        self._events.close_all()
        if self._recorder is not None:
            self._recorder.stop()
        await self._durable.close()

    async def __aenter__(self) -> QueueManager:
        await self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Normal exit: shut down and drain, then close. Exit by exception: cancel and close."""
        try:
            self.shutdown()
            if exc_type is None:
                await self.drain()
        finally:
            await self.close()

    # ------------------------------------------------------------------ submitting
    def _lane(self, lane_id: str) -> _Lane:
        try:
            return self._lanes[lane_id]
        except (KeyError, TypeError):
            raise LaneNotFound(lane_id, list(self._lanes)) from None

    def register(
        self,
        command_type: str,
        handler: Callable[[Any], Any],
        *,
        run_in_executor: bool = False,
        replace: bool = False,
    ) -> None:
        """Register ``async def handler(payload)`` for named commands of ``command_type``
        (a sync handler only with run_in_executor=True)."""
        self._durable.register(
            command_type, handler, run_in_executor=run_in_executor, replace=replace
        )

    @property
    def command_types(self) -> list[str]:
        """The command types with a registered handler."""
        return self._durable.command_types

    @property
    def recovered(self) -> list[CommandHandle]:
        """Handles of the stored commands that start() submitted again."""
        return self._durable.recovered

    def submit(
        self,
        lane_id: str,
        command: Any,
        payload: Any = NO_ARGUMENT,
        *,
        timeout: Duration | None = None,
        command_id: Hashable | None = None,
        run_in_executor: bool | None = None,
    ) -> CommandHandle:
        """Queue a command on a lane and return its handle; raises at once on bad input.
        ``command`` is a callable or command object, or the name of a registered command type
        (then ``payload`` is its JSON-serialisable argument). The command runs in a copy of
        the context current here, as a Task would.

        (An instance's ``submit`` is the core's, which takes the common forms itself and
        hands the rest to ``_submit_checked``.)"""
        handle: CommandHandle = self._dispatch.submit(
            lane_id,
            command,
            payload,
            timeout=timeout,
            command_id=command_id,
            run_in_executor=run_in_executor,
        )
        return handle

    def _submit_checked(
        self,
        lane_id: Any,
        command: Any,
        payload: Any,
        timeout: Any,
        command_id: Any,
        run_in_executor: Any,
    ) -> CommandHandle:
        """Every submit the core's fast path does not take: check it all, raise or queue."""
        if isinstance(command, str):
            return self._submit_named(
                lane_id,
                command,
                None if payload is NO_ARGUMENT else payload,
                command_id,
                timeout=timeout,
            )
        if payload is not NO_ARGUMENT:
            raise TypeError(
                "a payload goes with a named command: submit(lane_id, 'command_type', payload)"
            )
        ls = self._lanes.get(lane_id) if isinstance(lane_id, str) else None
        if ls is None:
            raise LaneNotFound(lane_id, list(self._lanes))
        if self._shutdown:
            raise ShutdownInProgress(f"shutdown() was called; {lane_id!r} accepts no new work")
        if run_in_executor is not None and not isinstance(run_in_executor, bool):
            raise TypeError(f"run_in_executor must be a bool or None, got {run_in_executor!r}")
        executor = ls.run_in_executor if run_in_executor is None else run_in_executor
        run = self._dispatch.runner_of(command) or to_runner(command, executor)
        seconds = ls.timeout if timeout is None else to_seconds("timeout", timeout)
        if command_id is None:
            pass  # the core numbers it
        elif not isinstance(command_id, str) or not command_id:
            raise TypeError(f"command_id must be a non-empty str, got {command_id!r}")
        elif command_id in self._inflight:
            raise ValueError(f"command_id {command_id!r} is already queued or running")
        if self._loop is None:
            self._bind_loop()
        handle: CommandHandle = self._dispatch.queue(ls.record, command, run, seconds, command_id)
        return handle

    def _submit_named(
        self,
        lane_id: str,
        command_type: str,
        payload: Any,
        command_id: Any,
        *,
        timeout: Duration | None = None,
        persisted: Awaitable[None] | None = None,
        failures: int = 0,
        context: contextvars.Context | None = None,
    ) -> CommandHandle:
        """Submit a registered command; stores it first when the manager has storage."""
        ls = self._lane(lane_id)
        if self._shutdown:
            raise ShutdownInProgress(f"shutdown() was called; {lane_id!r} accepts no new work")
        if command_id is not None and (not isinstance(command_id, str) or not command_id):
            raise TypeError(f"command_id must be a non-empty str, got {command_id!r}")
        command, command_id = self._durable.named(command_type, payload, command_id)
        if command_id in self._inflight:
            raise ValueError(f"command_id {command_id!r} is already queued or running")
        seconds = ls.timeout if timeout is None else to_seconds("timeout", timeout)
        if self._loop is None:
            self._bind_loop()
        if persisted is None and self._durable.storage is not None:
            persisted = self._durable.save(ls.lane_id, command, command_id)
        handle: CommandHandle = self._dispatch.queue(
            ls.record, command, command, seconds, command_id, context
        )
        handle._failures = failures
        if persisted is not None:
            self._durable.track(handle, persisted)
        return handle

    def _retry_dead_letter(self, letter: DeadLetter, payload: Any) -> CommandHandle:
        command_id = letter.command_id
        if not isinstance(command_id, str) or command_id in self._inflight:
            command_id = None
        return self._submit_named(letter.lane_id, letter.command_type, payload, command_id)

    def submit_many(
        self, lane_id: str, commands: Iterable[Any], *, timeout: Duration | None = None
    ) -> list[CommandHandle]:
        """Queue several commands on one lane, in order; all are checked before any is queued."""
        ls = self._lane(lane_id)
        if self._shutdown:
            raise ShutdownInProgress(f"shutdown() was called; {lane_id!r} accepts no new work")
        seconds = ls.timeout if timeout is None else to_seconds("timeout", timeout)
        if self._loop is None:
            self._bind_loop()
        handles: list[CommandHandle] = self._dispatch.queue_many(ls.record, commands, seconds)
        return handles

    # ------------------------------------------------------------------ the core's hooks
    def _kick(self) -> None:
        """Have a runner look for work (after a slot or token frees)."""
        self._dispatch.kick()

    def _failed(self, handle: CommandHandle, error: BaseException, how: int) -> None:
        """An attempt failed: free its slot, then schedule a retry or resolve the handle.
        Called by the runner, which then pulls the next command into the freed slot."""
        if how == TIMED_OUT:
            assert handle._timeout is not None
            error = _caused(CommandTimeout(handle.command_id, handle._timeout), error)
        elif how == CANCELLED_ITSELF:
            error = _caused(RuntimeError("command raised CancelledError"), error)
        ls: _Lane = handle._lane.policy
        self._table.complete(ls.index)
        handle._runner = None
        handle._failures = attempts = handle._failures + 1
        command_id = handle.command_id
        listeners = self._listeners
        timed_out = how == TIMED_OUT
        if listeners and timed_out:
            self._events.emit(
                events.COMMAND_TIMEOUT,
                {"lane_id": ls.lane_id, "command_id": command_id, "error": str(error)},
            )
        fatal = isinstance(error, (KeyboardInterrupt, SystemExit))
        if fatal and self._loop is not None:
            # the runner re-raises and ends, like an asyncio task: whatever is queued behind
            # this command gets a runner when the loop runs again
            self._loop.call_soon(self._kick)
        will_retry = not fatal and not self._closed and ls.retry.should_retry(attempts)
        if self._recorder is not None:
            self._recorder.attempt_failed(ls, timed_out, will_retry)
        if will_retry:
            assert self._loop is not None
            self._durable.attempted(handle, attempts)
            self._retrying += 1
            handle._timer = self._loop.call_later(
                ls.retry.backoff(attempts), self._retry_due, handle
            )
            if listeners:
                self._events.emit(
                    events.COMMAND_RETRY,
                    {"lane_id": ls.lane_id, "command_id": command_id, "attempt": attempts},
                )
            return
        command_type = command_type_of(handle._command)
        letter = DeadLetter(command_id, command_type, ls.lane_id, _describe(error), attempts)
        self._dlq.add(letter, self._durable.dead_lettered(handle, letter))
        self._dispatch.forget(handle)
        handle.set_exception(error)
        if listeners:
            self._events.emit(
                events.COMMAND_DEAD_LETTERED,
                {"lane_id": ls.lane_id, "command_id": command_id, "command_type": command_type},
            )
            self._events.emit(
                events.COMMAND_FAILED,
                {"lane_id": ls.lane_id, "command_id": command_id, "error": _describe(error)},
            )

    def _retry_due(self, handle: CommandHandle) -> None:
        """A retry's backoff has passed: the command re-enters at the back of its lane."""
        handle._timer = None
        self._retrying -= 1
        ls: _Lane = handle._lane.policy
        if self._recorder is not None:
            self._recorder.repushed(ls)
        handle._ticket = self._table.push(ls.index, handle)
        if ls.hooks:
            self._lane_changed(ls)
        self._kick()

    def _abandon(self, handle: CommandHandle) -> None:
        """The runner itself is being cancelled (loop teardown): cancel its command too."""
        ls: _Lane = handle._lane.policy
        self._table.complete(ls.index)
        if self._recorder is not None:
            self._recorder.slot_dropped(ls)
        self._dispatch.forget(handle)
        asyncio.Future.cancel(handle)

    def _discard(self, handle: CommandHandle) -> None:
        """Called by CommandHandle.cancel before the handle is marked cancelled."""
        ls: _Lane = handle._lane.policy
        timer = handle._timer
        if timer is not None:
            timer.cancel()
            handle._timer = None
            self._retrying -= 1
        elif self._table.remove(ls.index, handle._ticket) is not None:
            if ls.hooks:
                self._lane_changed(ls)
            self._kick()  # a released min reservation may let other lanes run
        else:  # handed to a runner: free the slot now, stop the runner if it started
            self._table.complete(ls.index)
            if self._recorder is not None:
                self._recorder.slot_dropped(ls)
            runner = handle._runner
            if runner is not None:
                handle._runner = None
                runner.cancel()
            self._kick()
        self._dispatch.forget(handle)

    def _wake_drainers(self) -> None:
        waiters = list(self._drain_waiters)
        self._drain_waiters.clear()
        self._dispatch.drain_wanted = False
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ lane policies
    def _lane_changed(self, ls: _Lane) -> None:
        """After a push or pop on a lane with a boost or pressure threshold."""
        table = self._table
        threshold = ls.pressure
        if threshold is not None:
            pending = table.pending(ls.index)
            if ls.under_pressure:
                if pending == 0:
                    ls.under_pressure = False
                    if self._listeners:
                        self._events.emit(events.LANE_IDLE, {"lane_id": ls.lane_id})
            elif pending >= threshold:
                ls.under_pressure = True
                if self._listeners:
                    self._events.emit(events.LANE_PRESSURE, {"lane_id": ls.lane_id})
        if ls.boost is not None:
            head = table.peek(ls.index)
            if head is not ls.boost_head:
                ls.boost_head = head
                self._apply_boost(ls)

    def _apply_boost(self, ls: _Lane) -> None:
        """Set the lane's effective priority from its oldest command's age; time the next step."""
        boost = ls.boost
        assert boost is not None and self._loop is not None
        if ls.boost_timer is not None:
            ls.boost_timer.cancel()
            ls.boost_timer = None
        head = ls.boost_head
        priority = ls.priority
        if head is not None:
            age = self._loop.time() - head._submitted_at
            priority = boost.effective_priority(ls.priority, age)
            step = boost.next_change(age)
            if step is not None:
                ls.boost_timer = self._loop.call_at(head._submitted_at + step, self._boost_due, ls)
        self._table.set_priority(ls.index, priority)

    def _boost_due(self, ls: _Lane) -> None:
        ls.boost_timer = None
        self._apply_boost(ls)

    def _arm_token_timer(self) -> None:
        """Wake up exactly when the first throttled lane gets its next token."""
        table = self._table
        throttled = table.throttled_count
        if not throttled or self._closed:
            return
        if self._token_timer is not None and throttled == self._token_armed_for:
            return  # lanes are only throttled by pops, so no new lane needs an earlier wake
        self._token_armed_for = throttled
        delay = table.next_token_delay()
        if delay < 0.0:
            return
        assert self._loop is not None
        when = self._loop.time() + max(delay, self._token_coalesce)
        timer = self._token_timer
        if timer is not None:
            if self._token_when <= when:
                return
            timer.cancel()
        self._token_when = when
        self._token_timer = self._loop.call_at(when, self._token_due)

    def _token_due(self) -> None:
        self._token_timer = None
        self._table.wake_throttled()
        self._kick()

    # ------------------------------------------------------------------ control
    def cancel(self, command_id: Hashable) -> bool:
        """Cancel a queued, retrying or running command; False if it is not outstanding."""
        handle = self._inflight.get(command_id)
        return handle.cancel() if handle is not None else False

    def pause_lane(self, lane_id: str) -> None:
        """Stop dispatching from a lane; its running commands carry on."""
        self._table.pause(self._lane(lane_id).index)
        self._kick()  # its min reservation is released: other lanes may run now

    def resume_lane(self, lane_id: str) -> None:
        self._table.resume(self._lane(lane_id).index)
        self._kick()

    def subscribe(self, *, buffer_size: int | None = None) -> EventStream:
        """A stream of every event from now on."""
        return self._events.subscribe(None, buffer_size)

    def subscribe_filtered(
        self, accept: EventFilter, *, buffer_size: int | None = None
    ) -> EventStream:
        """A stream of the events whose key is in ``accept``, or for which ``accept(event)``."""
        if accept is None:
            raise TypeError("subscribe_filtered needs event keys or a predicate")
        return self._events.subscribe(accept, buffer_size)

    # ------------------------------------------------------------------ inspection
    @property
    def metrics(self) -> ManagerMetrics | None:
        """The metrics backend (snapshot() is up to date), or None without with_metrics()."""
        return self._metrics

    @property
    def dlq(self) -> DeadLetterQueue:
        return self._dlq

    @property
    def lane_ids(self) -> list[str]:
        return list(self._lanes)

    @property
    def is_shutdown(self) -> bool:
        return self._shutdown

    def lane_config(self, lane_id: str) -> LaneConfig:
        return self._lane(lane_id).config

    def stats(self) -> QueueStats:
        table = self._table
        lanes = {}
        for ls in self._by_index:
            i = ls.index
            lanes[ls.lane_id] = LaneStatus(
                lane_id=ls.lane_id,
                priority=ls.priority,
                effective_priority=table.priority(i),
                pending=table.pending(i),
                active=table.active(i),
                min_concurrency=ls.config.min_concurrency,
                max_concurrency=ls.config.max_concurrency,
                paused=table.is_paused(i),
                throttled=table.is_throttled(i),
                reserved=table.reservation(i),
            )
        return QueueStats(
            total_pending=table.total_pending,
            total_active=table.total_active,
            dead_letter_count=len(self._dlq),
            retrying=self._retrying,
            lanes=lanes,
        )


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _caused(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


class _Hooks:
    """The manager's side of the core's interface (``lanecore._coreapi.DispatchHooks``)."""

    __slots__ = ("_manager",)

    def __init__(self, manager: QueueManager) -> None:
        self._manager = manager

    def submit(
        self,
        lane_id: Any,
        command: Any,
        payload: Any,
        timeout: Any,
        command_id: Any,
        run_in_executor: Any,
    ) -> CoreHandle:
        return self._manager._submit_checked(
            lane_id, command, payload, timeout, command_id, run_in_executor
        )

    def runner_for(self, command: Any, run_in_executor: bool) -> Runner:
        return to_runner(command, run_in_executor)

    def lane_changed(self, lane: LaneRecord) -> None:
        self._manager._lane_changed(lane.policy)

    def attempt_failed(self, handle: Any, error: BaseException, how: int) -> None:
        self._manager._failed(handle, error, how)

    def abandoned(self, handle: Any) -> None:
        self._manager._abandon(handle)

    def arm_token_timer(self) -> None:
        self._manager._arm_token_timer()

    def drained(self) -> None:
        self._manager._wake_drainers()

    def discard(self, handle: Any) -> None:
        self._manager._discard(handle)
