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
import time
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
from lanecore.backpressure import RoomWaiters
from lanecore.commands import Runner, command_type_of, to_runner
from lanecore.config import LaneConfig
from lanecore.dlq import DEFAULT_DLQ_SIZE, DeadLetter, DeadLetterQueue
from lanecore.durable import Durability
from lanecore.errors import CommandTimeout, LaneFull, LaneNotFound, ShutdownInProgress
from lanecore.events import DEFAULT_EVENT_BUFFER, EventFilter, EventHub, EventStream
from lanecore.groups import Groups, check_group
from lanecore.handle import CommandHandle
from lanecore.recorder import ManagerMetrics, MetricsRecorder, MetricsSettings
from lanecore.stats import LaneStatus, QueueStats
from lanecore.storage.protocol import Storage
from lanecore.templates import IdleSweeper, LaneTemplate, check_lane_spec
from lanecore.timers import DELAYED, RETRY, Due, DueHeap

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
        "activity",
        "boost",
        "boost_head",
        "boost_timer",
        "config",
        "cost_capacity",
        "hooks",
        "idle_since",
        "index",
        "lane_id",
        "max_pending",
        "pressure",
        "priority",
        "record",
        "retry",
        "retrying",
        "room",
        "run_in_executor",
        "scheduled",
        "template",
        "timeout",
        "under_pressure",
    )

    record: LaneRecord  # the core's record of this lane

    def __init__(
        self,
        lane_id: str,
        index: int,
        config: LaneConfig,
        priority: int,
        template: LaneTemplate | None = None,
    ) -> None:
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
        cost = config.cost_limit
        self.cost_capacity = 0 if cost is None or cost.max_requests is None else cost.max_requests
        self.max_pending = config.max_pending or 0
        self.room: RoomWaiters | None = None  # put() calls waiting for room (bounded lanes)
        self.scheduled = 0  # delayed commands not yet due
        self.retrying = 0  # failed commands waiting out their backoff
        self.template = template  # the template it was made from, or None
        self.activity = -1  # pushes + completions when the idle sweep last looked
        self.idle_since = 0.0
        # lanes with a boost, a pressure threshold or a bound need a look after every change
        self.hooks = self.boost is not None or self.pressure is not None or self.max_pending > 0


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
        templates: Sequence[LaneTemplate] = (),
    ) -> None:
        check_int("global_concurrency", global_concurrency, 0)
        check_int("event_buffer", event_buffer, 1)
        templates = list(templates)
        for template in templates:
            if not isinstance(template, LaneTemplate):
                raise TypeError(f"templates must be LaneTemplate objects, got {template!r}")
        if not lanes and not templates:
            raise ValueError("a QueueManager needs at least one lane or lane template")
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
        self._rate_limited = False
        self._token_coalesce = TOKEN_WAKE_MIN
        self._recorder: MetricsRecorder | None = None
        for lane_id, config, priority in lanes:
            if lane_id in self._lanes:
                raise ValueError(f"duplicate lane id {lane_id!r}")
            self._install_lane(*check_lane_spec(lane_id, config, priority), None)
        self._templates = sorted(templates, key=lambda t: -len(t.prefix))  # longest prefix first
        self._sweeper = IdleSweeper(self._sweep, templates)
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
        self._timers = DueHeap(self._due)
        self._groups = Groups()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token_timer: asyncio.TimerHandle | None = None
        self._token_when = 0.0
        self._token_armed_for = 0
        self._started = False
        self._shutdown = False
        self._closed = False
        self._metrics: ManagerMetrics | None = None
        if metrics is not None:
            self._recorder = MetricsRecorder(self, metrics.backend, **metrics.options)
            self._metrics = ManagerMetrics(self._recorder)
            self._dispatch.recorder = self._recorder
            self._dispatch.sample_every = self._recorder.sample_every
        if type(self).submit is QueueManager.submit:  # (a subclass's own submit wins)
            self.__dict__["submit"] = self._dispatch.submit  # the core's submit, no frame here

    # ------------------------------------------------------------------ lanes
    def _install_lane(
        self, lane_id: str, config: LaneConfig, priority: int, template: LaneTemplate | None
    ) -> _Lane:
        """Add a checked lane to the table, the core and this shell."""
        rate = config.rate_limit
        cost = config.cost_limit
        buckets: list[float] = []
        for limit in (rate, cost):
            if limit is not None and not limit.is_unlimited:
                assert limit.max_requests is not None
                buckets += [float(limit.max_requests), limit.tokens_per_second]
            else:
                buckets += [0.0, 0.0]
        if cost is not None and not cost.is_unlimited:
            index = self._table.add_lane(
                priority, config.min_concurrency, config.max_concurrency, *buckets
            )
        elif rate is not None and not rate.is_unlimited:
            index = self._table.add_lane(
                priority, config.min_concurrency, config.max_concurrency, *buckets[:2]
            )
        else:
            index = self._table.add_lane(priority, config.min_concurrency, config.max_concurrency)
        ls = self._lanes[lane_id] = _Lane(lane_id, index, config, priority, template)
        ls.record = self._dispatch.add_lane(
            lane_id, index, ls.timeout, ls.run_in_executor, ls.hooks, ls.boost is not None, ls
        )
        if ls.max_pending:
            ls.record.max_pending = ls.max_pending
            ls.room = RoomWaiters(lambda: self._room(ls))
        for limit in (rate, cost):
            if limit is not None and not limit.is_unlimited:
                # A bucket refills from empty in one window; waking within half of it never
                # lets a bucket overflow (tokens lost), so the rate is exact whatever the
                # coalescing.
                window = to_seconds("window", limit.window)
                self._token_coalesce = min(self._token_coalesce, window / 2)
                self._rate_limited = self._dispatch.rate_limited = True
        if self._recorder is not None:
            self._recorder.lane_added(ls)
        return ls

    @property
    def _by_index(self) -> list[_Lane]:
        """The lanes in table order."""
        return sorted(self._lanes.values(), key=lambda ls: ls.index)

    def add_lane(self, lane_id: str, config: LaneConfig | None, priority: int) -> None:
        """Add a lane while the manager runs (or before): the next ``submit`` can use it.
        A duplicate id raises ValueError; bad values raise as for ``with_lane``."""
        if config is None:
            config = LaneConfig()
        lane_id, config, priority = check_lane_spec(lane_id, config, priority)
        if lane_id in self._lanes:
            raise ValueError(f"duplicate lane id {lane_id!r}")
        if self._closed:
            raise ShutdownInProgress("the manager is closed: no lanes can be added")
        self._install_lane(lane_id, config, priority, None)

    async def remove_lane(self, lane_id: str, *, cancel_pending: bool = False) -> None:
        """Remove a lane: new submits to it raise LaneNotFound at once; what it holds runs
        to the end (``cancel_pending=True``: its pending, delayed and retrying commands are
        cancelled, its running ones still finish); then it leaves the table."""
        if not isinstance(cancel_pending, bool):
            raise TypeError(f"cancel_pending must be a bool, got {cancel_pending!r}")
        ls = self._lane(lane_id)
        record = ls.record
        i = ls.index
        outstanding: list[CommandHandle] = []
        if self._table.pending(i) or self._table.active(i) or record.held:
            # (a lane that holds nothing is removed without a look at every outstanding
            # command: 10,000 lanes leave in O(lanes) however much other lanes hold)
            outstanding = [h for h in self._inflight.values() if h._lane is record]
        if outstanding and not cancel_pending and not self._started:
            raise RuntimeError(
                f"remove_lane({lane_id!r}) before start(): its {len(outstanding)} commands "
                "could never finish (start first, or pass cancel_pending=True)"
            )
        del self._lanes[lane_id]
        del self._dispatch.lanes[lane_id]
        if ls.room is not None:
            ls.room.fail_all(lambda: LaneNotFound(lane_id, list(self._lanes)))
        if cancel_pending:
            for handle in outstanding:
                if handle._runner is None and not handle.done():
                    handle.cancel()
        waiting = [h for h in outstanding if not h.done()]
        if waiting:
            await asyncio.wait(waiting)
        self._drop_lane(ls)

    def _drop_lane(self, ls: _Lane) -> None:
        """Take a lane that holds nothing any more out of the table (its index is reused)."""
        if ls.boost_timer is not None:
            ls.boost_timer.cancel()
            ls.boost_timer = None
        if self._recorder is not None:
            self._recorder.lane_removed(ls)
        self._table.remove_lane(ls.index)
        self._kick()  # its reservation is released: other lanes may run now

    def _template_lane(self, lane_id: Any) -> _Lane | None:
        """The lane a template makes for ``lane_id``, or None when no template matches."""
        if self._templates and isinstance(lane_id, str):
            for template in self._templates:
                if lane_id.startswith(template.prefix):
                    if self._closed:
                        raise ShutdownInProgress("the manager is closed: no lanes can be added")
                    ls = self._install_lane(lane_id, template.config, template.priority, template)
                    if self._loop is not None:
                        self._sweeper.watch(self._loop)
                    return ls
        return None

    def _sweep(self, now: float) -> int:
        """Remove the templated lanes that held nothing for their template's idle_ttl; return
        how many templated lanes remain."""
        table = self._table
        remaining = 0
        for ls in [ls for ls in self._lanes.values() if ls.template is not None]:
            i = ls.index
            activity = table.pushes(i) + table.completions(i)
            if activity != ls.activity:
                ls.activity = activity
                ls.idle_since = now
            waiting = 0 if ls.room is None else len(ls.room)
            busy = table.pending(i) or table.active(i) or ls.record.held or waiting
            template = ls.template
            assert template is not None
            if busy:
                ls.idle_since = now
            elif now - ls.idle_since >= template.idle_ttl:
                del self._lanes[ls.lane_id]
                del self._dispatch.lanes[ls.lane_id]
                self._drop_lane(ls)
                continue
            remaining += 1
        return remaining

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
            loop = self._bind_loop()
            if self._recorder is not None:
                self._recorder.start(loop)
            if any(ls.template is not None for ls in self._lanes.values()):
                self._sweeper.watch(loop)
            self._started = self._dispatch.started = True
            self._dispatch.kick()

    def shutdown(self) -> None:
        """Stop accepting work; queued and running commands still complete (see drain)."""
        if not self._shutdown:
            self._shutdown = True
            self._dispatch.accepting = False
            for ls in self._lanes.values():
                if ls.room is not None:
                    ls.room.fail_all(
                        lambda: ShutdownInProgress("shutdown() was called while put() waited")
                    )
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
        self._timers.close()
        self._sweeper.close()
        if self._token_timer is not None:
            self._token_timer.cancel()
            self._token_timer = None
            self._dispatch.token_armed_for = -1
        for ls in self._lanes.values():
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

    def _submit_lane(self, lane_id: Any) -> _Lane:
        """The lane a submit goes to (made from a template if need be), or raise."""
        ls = self._lanes.get(lane_id) if isinstance(lane_id, str) else None
        if ls is None:
            if self._shutdown:
                raise ShutdownInProgress(f"shutdown() was called; {lane_id!r} accepts no new work")
            ls = self._template_lane(lane_id)
            if ls is None:
                raise LaneNotFound(lane_id, list(self._lanes))
        if self._shutdown:
            raise ShutdownInProgress(f"shutdown() was called; {lane_id!r} accepts no new work")
        return ls

    def _options(self, ls: _Lane, cost: Any, delay: Any, group: Any) -> tuple[int, float]:
        """Check ``cost`` and ``delay`` (and ``group``) of a submit; return cost and delay."""
        if cost is None:
            cost = 1
        else:
            check_int("cost", cost, 1)
            if ls.cost_capacity and cost > ls.cost_capacity:
                raise ValueError(
                    f"cost {cost} exceeds the cost limit of lane {ls.lane_id!r} (at most "
                    f"{ls.cost_capacity} per window): such a command could never run"
                )
        seconds = 0.0 if delay is None else to_seconds("delay", delay, allow_zero=True)
        if group is not None:
            check_group(group)
        return cost, seconds

    def _room(self, ls: _Lane) -> int:
        """How many more commands a bounded lane can hold now."""
        pending: int = self._table.pending(ls.index)
        return ls.max_pending - pending - ls.record.held

    def _check_room(self, ls: _Lane) -> None:
        if ls.max_pending and self._room(ls) <= 0:
            raise LaneFull(ls.lane_id, ls.max_pending)

    def _enqueue(
        self,
        ls: _Lane,
        command: Any,
        run: Runner,
        seconds: float | None,
        command_id: Any,
        context: contextvars.Context | None,
        cost: int,
        delay: float,
        group: str | None,
    ) -> CommandHandle:
        """Queue a checked command with its options: held in the timer heap while delayed,
        tracked in its group."""
        if self._loop is None:
            self._bind_loop()
        assert self._loop is not None
        hold = delay > 0.0
        handle: CommandHandle = self._dispatch.queue(
            ls.record, command, run, seconds, command_id, context, cost, group, hold
        )
        if hold:
            handle._timer = self._timers.schedule(
                self._loop, self._loop.time() + delay, handle, DELAYED
            )
            ls.scheduled += 1
            ls.record.held += 1
        if group is not None:
            self._groups.add(group, handle)
        return handle

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
        cost: int | None = None,
        delay: Duration | None = None,
        group: str | None = None,
    ) -> CommandHandle:
        """Queue a command on a lane and return its handle; raises at once on bad input.
        ``command`` is a callable or command object, or the name of a registered command type
        (then ``payload`` is its JSON-serialisable argument). The command runs in a copy of
        the context current here, as a Task would. ``cost``: what it draws from the lane's
        cost limit (default 1); ``delay``: seconds (or a timedelta) before it enters its
        lane; ``group``: a name ``cancel_group`` cancels it by. A full bounded lane raises
        LaneFull.

        (An instance's ``submit`` is the core's, which takes the common forms itself and
        hands the rest to ``_submit_checked``.)"""
        handle: CommandHandle = self._dispatch.submit(
            lane_id,
            command,
            payload,
            timeout=timeout,
            command_id=command_id,
            run_in_executor=run_in_executor,
            cost=cost,
            delay=delay,
            group=group,
        )
        return handle

    async def put(
        self,
        lane_id: str,
        command: Any,
        payload: Any = NO_ARGUMENT,
        *,
        timeout: Duration | None = None,
        command_id: Hashable | None = None,
        run_in_executor: bool | None = None,
        cost: int | None = None,
        delay: Duration | None = None,
        group: str | None = None,
    ) -> CommandHandle:
        """``submit``, waiting for room in a lane bounded by ``with_max_pending`` (waiters are
        served in arrival order; cancelling a waiting ``put`` queues nothing)."""
        ls = self._submit_lane(lane_id)
        self._options(ls, cost, delay, group)  # bad values fail now, not after the wait
        room = ls.room
        turn = None
        if room is not None:
            turn = await room.wait(self._bind_loop())
        try:
            return self.submit(
                lane_id,
                command,
                payload,
                timeout=timeout,
                command_id=command_id,
                run_in_executor=run_in_executor,
                cost=cost,
                delay=delay,
                group=group,
            )
        finally:
            if room is not None:
                room.done(turn)

    def _submit_checked(
        self,
        lane_id: Any,
        command: Any,
        payload: Any,
        timeout: Any,
        command_id: Any,
        run_in_executor: Any,
        cost: Any = None,
        delay: Any = None,
        group: Any = None,
    ) -> CommandHandle:
        """Every submit the core's fast path does not take: check it all, raise or queue."""
        if isinstance(command, str):
            return self._submit_named(
                lane_id,
                command,
                None if payload is NO_ARGUMENT else payload,
                command_id,
                timeout=timeout,
                cost=cost,
                delay=delay,
                group=group,
            )
        if payload is not NO_ARGUMENT:
            raise TypeError(
                "a payload goes with a named command: submit(lane_id, 'command_type', payload)"
            )
        ls = self._submit_lane(lane_id)
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
        cost, wait = self._options(ls, cost, delay, group)
        self._check_room(ls)
        return self._enqueue(ls, command, run, seconds, command_id, None, cost, wait, group)

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
        cost: Any = None,
        delay: Any = None,
        group: Any = None,
    ) -> CommandHandle:
        """Submit a registered command; stores it first when the manager has storage."""
        ls = self._submit_lane(lane_id)
        if command_id is not None and (not isinstance(command_id, str) or not command_id):
            raise TypeError(f"command_id must be a non-empty str, got {command_id!r}")
        command, command_id = self._durable.named(command_type, payload, command_id)
        if command_id in self._inflight:
            raise ValueError(f"command_id {command_id!r} is already queued or running")
        seconds = ls.timeout if timeout is None else to_seconds("timeout", timeout)
        cost, wait = self._options(ls, cost, delay, group)
        self._check_room(ls)
        if self._loop is None:
            self._bind_loop()
        if persisted is None and self._durable.storage is not None:
            not_before = time.time() + wait if wait else None
            persisted = self._durable.save(ls.lane_id, command, command_id, not_before)
        handle = self._enqueue(
            ls, command, command, seconds, command_id, context, cost, wait, group
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
        """Queue several commands on one lane, in order; all are checked before any is queued.
        On a bounded lane (``with_max_pending``) LaneFull is raised, queueing none, when
        they do not all fit."""
        ls = self._submit_lane(lane_id)
        if ls.max_pending:
            commands = list(commands)
            if len(commands) > self._room(ls):
                raise LaneFull(ls.lane_id, ls.max_pending)
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
        group = handle._group
        if listeners and timed_out:
            self._events.emit(
                events.COMMAND_TIMEOUT,
                _grouped(
                    {"lane_id": ls.lane_id, "command_id": command_id, "error": str(error)}, group
                ),
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
            ls.retrying += 1
            ls.record.held += 1
            handle._timer = self._timers.schedule(
                self._loop, self._loop.time() + ls.retry.backoff(attempts), handle, RETRY
            )
            if listeners:
                self._events.emit(
                    events.COMMAND_RETRY,
                    _grouped(
                        {"lane_id": ls.lane_id, "command_id": command_id, "attempt": attempts},
                        group,
                    ),
                )
            return
        command_type = command_type_of(handle._command)
        letter = DeadLetter(
            command_id, command_type, ls.lane_id, _describe(error), attempts, group=group
        )
        self._dlq.add(letter, self._durable.dead_lettered(handle, letter))
        self._dispatch.forget(handle)
        handle.set_exception(error)
        if listeners:
            self._events.emit(
                events.COMMAND_DEAD_LETTERED,
                _grouped(
                    {"lane_id": ls.lane_id, "command_id": command_id, "command_type": command_type},
                    group,
                ),
            )
            self._events.emit(
                events.COMMAND_FAILED,
                _grouped(
                    {"lane_id": ls.lane_id, "command_id": command_id, "error": _describe(error)},
                    group,
                ),
            )

    def _due(self, entry: Due) -> None:
        """A delay or a retry's backoff has passed: the command enters the back of its lane."""
        handle: CommandHandle = entry.handle
        handle._timer = None
        ls: _Lane = handle._lane.policy
        self._unhold(ls, entry.kind)
        if entry.kind == RETRY and self._recorder is not None:
            self._recorder.repushed(ls)
        self._dispatch.release(handle)

    def _unhold(self, ls: _Lane, kind: int) -> None:
        """One of the lane's delayed or retrying commands left the timer heap."""
        ls.record.held -= 1
        if kind == RETRY:
            self._retrying -= 1
            ls.retrying -= 1
        else:
            ls.scheduled -= 1

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
        timer: Due | None = handle._timer
        if timer is not None:
            timer.cancel()
            handle._timer = None
            self._unhold(ls, timer.kind)
            if ls.room is not None:
                ls.room.wake()
        elif self._table.remove(ls.index, handle._ticket) is not None:
            if ls.cost_capacity:  # a new head may be cheaper: time the next token afresh
                self._token_armed_for = self._dispatch.token_armed_for = -1
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
        if ls.room is not None:
            ls.room.wake()

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
        """Wake up exactly when the first throttled lane gets its next token. The core's
        ``token_armed_for`` mirrors ``_token_armed_for`` while a timer is armed (-1 while
        none is), so the core skips this call when it would return at once."""
        table = self._table
        throttled = table.throttled_count
        if not throttled or self._closed:
            return
        timer = self._token_timer
        if timer is not None and throttled == self._token_armed_for:
            return  # lanes are only throttled by pops, so no new lane needs an earlier wake
        self._token_armed_for = throttled
        self._dispatch.token_armed_for = -1 if timer is None else throttled
        delay = table.next_token_delay()
        if delay < 0.0:
            return
        assert self._loop is not None
        when = self._loop.time() + max(delay, self._token_coalesce)
        if timer is not None:
            if self._token_when <= when:
                return
            timer.cancel()
        self._token_when = when
        self._token_timer = self._loop.call_at(when, self._token_due)
        self._dispatch.token_armed_for = throttled

    def _token_due(self) -> None:
        self._token_timer = None
        self._dispatch.token_armed_for = -1
        self._table.wake_throttled()
        self._kick()

    # ------------------------------------------------------------------ control
    def cancel(self, command_id: Hashable) -> bool:
        """Cancel a queued, retrying or running command; False if it is not outstanding."""
        handle = self._inflight.get(command_id)
        return handle.cancel() if handle is not None else False

    def cancel_group(self, group: str) -> int:
        """Cancel every pending, delayed, retrying and running command of ``group`` (running
        ones free their slots at once); return how many were cancelled."""
        return self._groups.cancel(group)

    def group_size(self, group: str) -> int:
        """Outstanding (pending, delayed, retrying or running) commands of ``group``."""
        return self._groups.size(group)

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
                scheduled=ls.scheduled,
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


def _grouped(payload: dict[str, Any], group: str | None) -> dict[str, Any]:
    """An event payload, with the command's group when it has one."""
    if group is not None:
        payload["group"] = group
    return payload


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
        cost: Any,
        delay: Any,
        group: Any,
    ) -> CoreHandle:
        return self._manager._submit_checked(
            lane_id, command, payload, timeout, command_id, run_in_executor, cost, delay, group
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
