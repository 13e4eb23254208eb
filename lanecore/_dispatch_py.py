"""Pure-Python twin of ``lanecore_pyx._dispatch``: the scheduler's per-command hot path.

The Dispatcher makes handles and queues them, hands dispatchable commands to idle runners
(or has the manager spawn one), and is the runner loop itself: pull the next command from the
lane table, run it inline, resolve its handle, repeat. Everything rare — failures, retries,
lane hooks, rate-limit timers, drain waiters — is delegated back to the manager.
"""

from __future__ import annotations

import asyncio
import time
from asyncio import CancelledError
from collections.abc import Iterable
from types import FunctionType
from typing import TYPE_CHECKING, Any

from lanecore import events
from lanecore.commands import CO_COROUTINE, Runner, to_runner
from lanecore.errors import CommandTimeout

if TYPE_CHECKING:
    from lanecore.handle import CommandHandle
    from lanecore.manager import QueueManager, _Lane

# A runner that keeps finding commands which finish without suspending yields to the loop
# after this many, so other tasks and I/O are never starved by a burst of quick commands.
YIELD_EVERY = 256


class Dispatcher:
    """The hot path of one manager; state the manager shares is passed in, not copied."""

    def __init__(self, manager: QueueManager, table: Any, handle_type: type[CommandHandle]) -> None:
        self.manager = manager
        self.table = table
        self.handle_type = handle_type
        self.inflight: dict[Any, CommandHandle] = manager._inflight
        self.idle: list[asyncio.Future[CommandHandle]] = manager._idle
        self.listeners = manager._listeners
        self.drain_waiters = manager._drain_waiters
        self.rings: list[Any] = manager._events.rings
        self.filtered: list[Any] = manager._events.filtered
        self.emit_filtered = manager._events.emit_filtered
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = False
        self.closed = False
        self.rate_limited = False
        self.next_id = 1
        self.starting = 0  # runners spawned that have not taken a command yet
        self.recorder: Any = None  # a MetricsRecorder when the manager records metrics
        self.sample_every = 0
        self.sample_count = 0

    def _queue(
        self,
        ls: _Lane,
        command: Any,
        run: Runner,
        timeout: float | None,
        command_id: Any,
        now: float,
    ) -> CommandHandle:
        if command_id is None:
            command_id = self.next_id
            self.next_id += 1
        handle = self.handle_type(loop=self.loop)
        handle.command_id = command_id
        handle._command = command
        handle._run = run
        handle._lane = ls
        handle._manager = self.manager
        handle._timeout = timeout
        handle._failures = 0
        handle._runner = None
        handle._timer = None
        if ls.boost is not None:
            handle._submitted_at = now
        if self.sample_every:
            self.sample_count += 1
            if self.sample_count >= self.sample_every:
                self.sample_count = 0
                handle._queued_at = time.perf_counter()
            else:
                handle._queued_at = None
        handle._ticket = self.table.push(ls.index, handle)
        self.inflight[command_id] = handle
        return handle

    def _emit(self, kind: int, handle: CommandHandle, timestamp: float | None = None) -> None:
        """Record command event ``kind`` (stamped ``timestamp``, None: now): straight into the
        unfiltered streams' rings, and through the hub for filtered streams."""
        for ring in self.rings:
            events.push_command_event(ring, kind, handle, timestamp)
        if self.filtered:
            self.emit_filtered(kind, handle, timestamp)

    def submit(
        self, ls: _Lane, command: Any, run: Runner, timeout: float | None, command_id: Any
    ) -> CommandHandle:
        """Queue one checked command and dispatch what may run."""
        loop = self.loop
        assert loop is not None
        handle = self._queue(ls, command, run, timeout, command_id, loop.time())
        if self.listeners:
            self._emit(events.SUBMITTED_KIND, handle)
        if ls.hooks:
            self.manager._lane_changed(ls)
        if self.started:
            self.kick()
        return handle

    def submit_many(
        self, ls: _Lane, commands: Iterable[Any], timeout: float | None, run_in_executor: bool
    ) -> list[CommandHandle]:
        """Check every command, then queue them all in order and dispatch what may run."""
        batch = list(commands)
        runs: list[Runner] = []
        for command in batch:
            if type(command) is FunctionType and command.__code__.co_flags & CO_COROUTINE:
                runs.append(command)
            else:
                runs.append(to_runner(command, run_in_executor))
        loop = self.loop
        assert loop is not None
        now = loop.time()
        first_id = self.next_id
        handles = [
            self._queue(ls, command, run, timeout, None, now)
            for command, run in zip(batch, runs, strict=True)
        ]
        if self.listeners:
            stamp = time.time()  # one batch, one submit time
            for ring in self.rings:  # the batch's ids are first_id, first_id + 1, ...
                ring.push_run(events.SUBMITTED_KIND, ls.lane_id, first_id, len(handles), stamp)
            if self.filtered:
                for handle in handles:
                    self.emit_filtered(events.SUBMITTED_KIND, handle, stamp)
        if ls.hooks:
            self.manager._lane_changed(ls)
        if self.started:
            self.kick()
        return handles

    def kick(self) -> None:
        """Hand commands that may run now to idle runners; if more may run, start one more
        runner (it takes the best command when it starts). Runners are added one at a time
        as commands suspend, so a burst of quick commands does not create a Task each."""
        if not self.started or self.closed:
            return
        pop = self.table.pop_ready
        idle = self.idle
        manager = self.manager
        while idle:
            handle = pop()
            if handle is None:
                break
            ls = handle._lane
            if ls.hooks:
                manager._lane_changed(ls)
            idle.pop().set_result(handle)
        if not idle and not self.starting and self.table.can_pop():
            self.starting += 1
            manager._spawn(None)
        if self.rate_limited:
            manager._arm_token_timer()

    async def run(self, handle: CommandHandle | None) -> None:
        """Run the given command (None: a new runner takes the best one), then keep pulling
        the next one until none may run, then wait to be handed one."""
        table = self.table
        pop = table.pop_ready
        complete = table.complete
        inflight = self.inflight
        listeners = self.listeners
        idle = self.idle
        emit = self._emit
        manager = self.manager
        rate_limited = self.rate_limited
        drain_waiters = self.drain_waiters
        recorder = self.recorder
        if recorder is not None:
            wait_records = recorder.wait_records
            run_records = recorder.run_records
        started = 0.0
        loop = self.loop
        assert loop is not None
        create_future = loop.create_future
        me = asyncio.current_task()
        assert me is not None
        burst = 0
        if handle is None:
            self.starting -= 1
        while True:
            if handle is None:
                handle = pop()
                if handle is None:
                    if rate_limited:
                        manager._arm_token_timer()
                    parked = create_future()
                    idle.append(parked)
                    handle = await parked
                    burst = 0
                    continue
                if rate_limited:
                    manager._arm_token_timer()
                if handle._lane.hooks:
                    manager._lane_changed(handle._lane)
                if not idle and not self.starting and table.can_pop():
                    # more may run: have a runner ready in case this command suspends
                    self.starting += 1
                    manager._spawn(None)
                burst += 1
                if burst >= YIELD_EVERY:
                    burst = 0
                    await asyncio.sleep(0)
            if not handle.done():  # else cancelled between hand-over and start
                ls = handle._lane
                handle._runner = me
                if recorder is not None:
                    started = 0.0
                    queued = handle._queued_at
                    if queued is not None:  # a sampled command: time its wait and its runs
                        started = time.perf_counter()
                        if queued >= 0.0:  # its first run (a retry's wait includes backoff)
                            handle._queued_at = -1.0
                            wait_records[ls.index]((started - queued) * 1000.0)
                if listeners:
                    emit(events.STARTED_KIND, handle)
                seconds = handle._timeout
                deadline = None
                try:
                    if seconds is None:
                        result = await handle._run()
                    else:
                        deadline = asyncio.timeout(seconds)
                        async with deadline:
                            result = await handle._run()
                except CancelledError as exc:
                    if handle.done():
                        return  # the handle was cancelled while running: this runner is detached
                    if me.cancelling():
                        manager._abandon(handle)
                        raise
                    manager._failed(handle, RuntimeError("command raised CancelledError"), exc)
                except TimeoutError as exc:
                    if handle.done():
                        return
                    if deadline is not None and deadline.expired():
                        assert seconds is not None
                        manager._failed(handle, CommandTimeout(handle.command_id, seconds), exc)
                    else:
                        manager._failed(handle, exc, None)
                except BaseException as exc:
                    if handle.done():
                        return
                    manager._failed(handle, exc, None)
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                else:
                    if handle.done():
                        return  # cancelled while running; the command ignored it
                    complete(ls.index)
                    command_id = handle.command_id
                    del inflight[command_id]
                    handle.set_result(result)
                    if started:
                        run_records[ls.index]((time.perf_counter() - started) * 1000.0)
                    if listeners:
                        emit(events.COMPLETED_KIND, handle)
                    if not inflight and drain_waiters:
                        manager._wake_drainers()
            handle = None
