"""Hostile users: what the manager does when subscribers, filters, commands and callers misbehave.

Every test runs on both scheduling cores and on the stock asyncio loop and uvloop. No test
depends on wall-clock speed: waits are loop turns (``settle``) or awaits of handles, and the
one timed command (a 100 ms ``time.sleep``) only checks that nothing breaks around it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from lanecore import (
    CommandTimeout,
    LaneConfig,
    LaneNotFound,
    PriorityBoostConfig,
    QueueManagerBuilder,
    RateLimitConfig,
    RetryPolicy,
    ShutdownInProgress,
    UnknownCommandType,
)
from lanecore.storage import SqliteStorage


def manager(core: Any, *lanes: tuple[str, LaneConfig, int], **options: Any) -> Any:
    builder = QueueManagerBuilder().with_implementation(core.name)
    for lane_id, config, priority in lanes or (("a", LaneConfig(1, 2), 0),):
        builder = builder.with_lane(lane_id, config, priority)
    if "global_concurrency" in options:
        builder = builder.with_global_concurrency(options["global_concurrency"])
    if "storage" in options:
        builder = builder.with_storage(options["storage"])
    return builder.build()


async def settle(turns: int = 20) -> None:
    """Let queued callbacks, hand-overs and zero-delay timers run (loop turns, no clock)."""
    for _ in range(turns):
        await asyncio.sleep(0)


class Resolutions:
    """Counts done-callback calls per handle: each must resolve exactly once."""

    def __init__(self) -> None:
        self.calls: dict[Any, int] = {}

    def watch(self, handle: Any) -> Any:
        self.calls.setdefault(handle.command_id, 0)

        def done(_: Any) -> None:
            self.calls[handle.command_id] += 1

        handle.add_done_callback(done)
        return handle

    def all_once(self) -> bool:
        return all(n == 1 for n in self.calls.values())


async def quick(n: int = 0) -> int:
    await asyncio.sleep(0)
    return n


def quick_n(n: int) -> Callable[[], Awaitable[int]]:
    async def command() -> int:
        await asyncio.sleep(0)
        return n

    return command


def assert_idle(m: Any) -> None:
    stats = m.stats()
    assert (stats.total_pending, stats.total_active, stats.retrying) == (0, 0, 0), stats


# ------------------------------------------------------------------------------ events
def test_subscriber_that_never_reads(core: Any, run: Any) -> None:
    """A stream nobody reads keeps its buffer bounded, counts what it drops, and dispatch goes
    on; a reading subscriber next to it still sees everything."""

    async def main() -> None:
        m = manager(core, ("a", LaneConfig(1, 3), 0))
        deaf = m.subscribe(buffer_size=8)
        reader = m.subscribe(buffer_size=10_000)
        async with m:
            handles = [m.submit("a", quick_n(n)) for n in range(300)]
            assert await asyncio.gather(*handles) == list(range(300))
        events = 300 * 3 + 1  # submitted, started, completed; shutdown.started
        assert len(deaf) == 8
        assert deaf.dropped == events - 8
        assert len(reader) == events and reader.dropped == 0
        assert_idle(m)

    run(main())


def test_event_filter_that_raises(core: Any, run: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A filter predicate that raises is logged; its stream skips the event; dispatch and the
    other subscribers carry on."""

    async def main() -> None:
        m = manager(core)
        calls = 0

        def hostile(event: Any) -> bool:
            nonlocal calls
            calls += 1
            if calls % 2:
                raise ValueError("filter exploded")
            return True

        bad = m.subscribe_filtered(hostile)
        good = m.subscribe()
        async with m:
            handles = [m.submit("a", quick_n(n)) for n in range(20)]
            assert await asyncio.gather(*handles) == list(range(20))
        assert calls == 61  # 20 x (submitted, started, completed) + shutdown.started
        assert len(bad) == 30  # every other event got through
        assert len(good) == 61
        assert_idle(m)

    with caplog.at_level(logging.ERROR, logger="lanecore"):
        run(main())
    raised = [r for r in caplog.records if "event filter raised" in r.getMessage()]
    assert len(raised) == 31
    assert all(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in raised)


# ------------------------------------------------------------------- BaseException
class Boom(BaseException):
    """A BaseException that is neither KeyboardInterrupt nor SystemExit."""


@pytest.mark.parametrize("exc_type", [Boom, GeneratorExit], ids=["custom", "GeneratorExit"])
def test_command_raising_base_exception(core: Any, run: Any, exc_type: type) -> None:
    """The handle resolves once with the exception, it is dead-lettered, and the manager keeps
    dispatching (the runner survives)."""

    async def main() -> None:
        m = manager(core, ("a", LaneConfig(1, 1), 0))
        seen = Resolutions()

        async def hostile() -> None:
            await asyncio.sleep(0)
            raise exc_type("raised by a command")

        async with m:
            bad = seen.watch(m.submit("a", hostile))
            after = [seen.watch(m.submit("a", quick_n(n))) for n in range(5)]
            assert await asyncio.gather(*after) == list(range(5))
            with pytest.raises(exc_type, match="raised by a command"):
                await bad
            assert await m.submit("a", quick_n(9)) == 9
            await settle()
        assert seen.all_once()
        assert len(m.dlq) == 1 and m.dlq.list()[0].error.startswith(exc_type.__name__)
        assert_idle(m)

    run(main())


# A KeyboardInterrupt escaping a task step leaves CPython 3.11.7's recursion-depth bookkeeping
# off (seen with a bare asyncio task and no lanecore at all): every later ast.parse() raises
# "SystemError: AST constructor recursion depth mismatch", which breaks pytest's assertion
# rewriting and report formatting. So these scenarios run in a child interpreter.
INTERRUPT_SCENARIO = r"""
import asyncio, json, sys
from functools import partial
from lanecore import LaneConfig, QueueManagerBuilder

core, loop_name, exc_name = sys.argv[1:4]
exc_type = {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit}[exc_name]
if loop_name == "uvloop":
    import uvloop
    factory = uvloop.new_event_loop
else:
    factory = asyncio.new_event_loop
out, state, calls = {}, {}, {"bad": 0, "queued": 0}

def counting(name):
    def done(_):
        calls[name] += 1
    return done

async def quick(n):
    await asyncio.sleep(0)
    return n

async def settle(turns):
    for _ in range(turns):
        await asyncio.sleep(0)

async def interrupted():
    m = state["m"] = (QueueManagerBuilder().with_implementation(core)
                      .with_lane("a", LaneConfig(1, 1), 0).build())
    await m.start()

    async def hostile():
        await asyncio.sleep(0)
        raise exc_type()

    state["bad"] = m.submit("a", hostile)
    state["bad"].add_done_callback(counting("bad"))
    state["queued"] = m.submit("a", partial(quick, 1))
    state["queued"].add_done_callback(counting("queued"))
    await asyncio.sleep(3600)  # the loop stops long before

async def resumed():
    m, bad, queued = state["m"], state["bad"], state["queued"]
    # nothing new is submitted: the work queued behind the interrupt must run by itself
    await settle(50)
    out["queued_ran_by_itself"] = queued.done()
    out["later_result"] = await m.submit("a", partial(quick, 7))  # (dispatches a stranded one)
    out["queued_result"] = await queued
    await settle(20)
    stats = m.stats()
    out["idle"] = [stats.total_pending, stats.total_active, stats.retrying]
    out["dlq"] = len(m.dlq)
    out["dead_letter_error"] = m.dlq.list()[0].error
    await m.close()

with asyncio.Runner(loop_factory=factory) as runner:
    try:
        runner.run(interrupted())
        out["escaped"] = None
    except BaseException as exc:
        out["escaped"] = type(exc).__name__
    bad = state["bad"]
    out["bad_done"] = bad.done()
    out["bad_exception"] = type(bad.exception()).__name__
    out["slot_freed"] = state["m"].stats().total_active == 0
    runner.run(resumed())
out["calls"] = calls
print(json.dumps(out))
"""


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_command_raising_keyboard_interrupt_or_system_exit(
    core: Any, loop_name: str, exc_type: type
) -> None:
    """As asyncio does for a task, the runner re-raises KeyboardInterrupt/SystemExit after
    resolving the handle, so it stops the loop. The handle has resolved (once) with that
    exception and was dead-lettered, its slot is free, and when the application runs the loop
    again the command queued behind it runs without further prodding, and new work runs.

    Regression test of a BUG found at 8f37d89 (fixed in ee69cb1, where ``_failed`` schedules a
    dispatch): the runner freed the slot and re-raised without pulling the next command, and
    nothing else dispatched, so the queued command never ran (drain() hung)."""
    child = subprocess.run(
        [sys.executable, "-c", INTERRUPT_SCENARIO, core.name, loop_name, exc_type.__name__],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout.strip().splitlines()[-1])
    assert out["escaped"] == exc_type.__name__
    assert out["bad_done"] and out["bad_exception"] == exc_type.__name__
    assert out["slot_freed"]
    assert out["queued_ran_by_itself"], "the command queued behind the interrupt was stranded"
    assert out["queued_result"] == 1 and out["later_result"] == 7
    assert out["idle"] == [0, 0, 0]
    assert out["dlq"] == 1 and out["dead_letter_error"] == exc_type.__name__
    assert out["calls"] == {"bad": 1, "queued": 1}


# ------------------------------------------------------------------ odd return values
def test_unpicklable_results_are_returned_as_is(core: Any, run: Any, tmp_path: Path) -> None:
    """Nothing pickles or copies a result: a lambda, a socket and a generator come back as the
    very objects returned, also from a named command on a manager with storage."""

    async def main() -> None:
        sock = socket.socket()
        fn = lambda: 42  # noqa: E731 - the point is a lambda
        gen = (i for i in range(3))
        values = [fn, sock, gen]
        try:
            m = manager(core, storage=SqliteStorage(tmp_path / "q.db"))

            async def handler(payload: int) -> Any:
                return values[payload]

            m.register("odd", handler)
            async with m:
                for i, value in enumerate(values):

                    async def command(value: Any = value) -> Any:
                        return value

                    assert await m.submit("a", command) is value
                    named = m.submit("a", "odd", i)
                    await named.persisted()
                    assert await named is value
            assert_idle(m)
        finally:
            sock.close()

    run(main())


def test_huge_result_is_not_retained(core: Any, run: Any) -> None:
    """A 50 MB result is handed over by reference, and once the caller drops the handle the
    manager holds no reference to it (or to the handle)."""

    async def main() -> weakref.ref[Any]:
        m = manager(core)

        async def huge() -> bytes:
            await asyncio.sleep(0)
            return bytes(50 * 1024 * 1024)

        async with m:
            handle = m.submit("a", huge)
            result = await handle
            assert len(result) == 50 * 1024 * 1024
            ref = weakref.ref(handle)
            del handle, result
        assert_idle(m)
        return ref

    ref = run(main())
    gc.collect()
    assert ref() is None


# --------------------------------------------------------------------- loop blockers
def test_command_blocking_the_loop(core: Any, run: Any) -> None:
    """A command that blocks the loop for 100 ms delays the others but breaks nothing."""

    async def main() -> None:
        m = manager(core, ("a", LaneConfig(1, 4), 0), ("b", LaneConfig(1, 2), 1))
        seen = Resolutions()
        peak = {"a": 0, "b": 0}
        running = {"a": 0, "b": 0}

        def tracked(lane_id: str, n: int) -> Callable[[], Awaitable[int]]:
            async def command() -> int:
                running[lane_id] += 1
                peak[lane_id] = max(peak[lane_id], running[lane_id])
                try:
                    await asyncio.sleep(0)
                    return n
                finally:
                    running[lane_id] -= 1

            return command

        async def blocker() -> str:
            time.sleep(0.1)  # deliberately blocks the event loop
            return "blocked"

        async with m:
            handles = [seen.watch(m.submit("a", tracked("a", n))) for n in range(20)]
            slow = seen.watch(m.submit("a", blocker))
            handles += [seen.watch(m.submit("b", tracked("b", n))) for n in range(20, 40)]
            stats = m.stats()
            assert stats.total_active <= 6 and stats.total_pending + stats.total_active == 41
            assert await asyncio.gather(*handles) == list(range(40))
            assert await slow == "blocked"
            await settle()
        assert peak["a"] <= 4 and peak["b"] <= 2
        assert seen.all_once()
        assert_idle(m)
        assert len(m.dlq) == 0

    run(main())


# --------------------------------------------------------------------- cancellation
@pytest.mark.parametrize("how", ["handle-then-await", "handle-then-return", "manager"])
def test_command_cancels_itself(core: Any, run: Any, how: str) -> None:
    """A command cancelling its own handle: the handle is cancelled exactly once, the slot is
    freed, the command gets no further than its next await, the lane goes on."""

    async def main() -> None:
        m = manager(core, ("a", LaneConfig(1, 1), 0))
        seen = Resolutions()
        me: dict[str, Any] = {}
        progress: list[str] = []

        async def suicidal() -> str:
            await asyncio.sleep(0)
            if how == "manager":
                assert m.cancel(me["handle"].command_id)
            else:
                assert me["handle"].cancel()
            progress.append("cancelled itself")
            if how != "handle-then-return":
                await asyncio.sleep(0)
                progress.append("survived an await")
            return "returned"

        async with m:
            me["handle"] = seen.watch(m.submit("a", suicidal))
            after = seen.watch(m.submit("a", quick_n(5)))
            assert await after == 5
            with pytest.raises(asyncio.CancelledError):
                await me["handle"]
            await settle()
        assert progress == ["cancelled itself"]
        assert me["handle"].cancelled()
        assert seen.all_once()
        assert_idle(m)
        assert len(m.dlq) == 0

    run(main())


def test_command_cancels_its_neighbours(core: Any, run: Any) -> None:
    """A command cancels a running neighbour, a pending one and one waiting to retry."""

    async def main() -> None:
        retrying = LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(3, 3600))
        m = manager(core, ("a", LaneConfig(1, 3), 0), ("r", retrying, 1))
        seen = Resolutions()
        gate = asyncio.Event()
        neighbour_cleaned = asyncio.Event()
        handles: dict[str, Any] = {}

        async def neighbour() -> None:
            try:
                await gate.wait()
            finally:
                neighbour_cleaned.set()

        async def failing() -> None:
            raise ValueError("retry me")

        async def killer() -> str:
            await settle()
            assert m.stats().retrying == 1
            assert handles["running"].cancel()
            assert m.cancel(handles["pending"].command_id)
            assert handles["retrying"].cancel()
            return "done"

        async with m:
            handles["retrying"] = seen.watch(m.submit("r", failing))
            handles["running"] = seen.watch(m.submit("a", neighbour))
            handles["blocker"] = seen.watch(m.submit("a", neighbour))
            handles["killer"] = seen.watch(m.submit("a", killer))
            handles["pending"] = seen.watch(m.submit("a", quick_n(1)))
            assert await handles["killer"] == "done"
            await neighbour_cleaned.wait()
            gate.set()
            await handles["blocker"]
            await settle()
        for name in ("running", "pending", "retrying"):
            assert handles[name].cancelled(), name
        assert seen.all_once()
        assert_idle(m)
        assert len(m.dlq) == 0

    run(main())


def test_double_cancel_and_cancel_after_completion(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, ("a", LaneConfig(1, 1), 0))
        seen = Resolutions()
        gate = asyncio.Event()

        async def blocked() -> str:
            await gate.wait()
            return "ok"

        async with m:
            running = seen.watch(m.submit("a", blocked))
            pending = seen.watch(m.submit("a", blocked))
            finished = seen.watch(m.submit("a", blocked))
            await settle()
            assert pending.cancel() and not pending.cancel()
            assert not m.cancel(pending.command_id)
            assert m.cancel(running.command_id) and not running.cancel()
            assert not m.cancel(running.command_id)
            gate.set()
            assert await finished == "ok"
            assert not finished.cancel() and not m.cancel(finished.command_id)
            await settle()
        assert finished.result() == "ok"
        assert seen.all_once()
        assert_idle(m)

    run(main())


# ----------------------------------------------------------------------- re-entrancy
def test_commands_submit_more_commands(core: Any, run: Any) -> None:
    """Commands submit children to their own lane (without waiting: it is full) and to another
    lane (awaiting them); the children submit and await grandchildren on a third lane."""

    async def main() -> None:
        m = manager(
            core, ("a", LaneConfig(1, 2), 1), ("b", LaneConfig(1, 3), 0), ("c", LaneConfig(1, 3), 2)
        )
        seen = Resolutions()
        fire_and_forget: list[Any] = []

        async def leaf(n: int) -> int:
            await asyncio.sleep(0)
            return n

        async def child(n: int) -> int:
            grandchildren = [seen.watch(m.submit("c", partial(leaf, k))) for k in range(2)]
            return n + sum(await asyncio.gather(*grandchildren))

        async def parent(n: int) -> int:
            fire_and_forget.append(seen.watch(m.submit("a", partial(leaf, 100 + n))))
            children = [seen.watch(m.submit("b", partial(child, k))) for k in range(3)]
            return sum(await asyncio.gather(*children))

        async with m:
            parents = [seen.watch(m.submit("a", partial(parent, n))) for n in range(4)]
            # each child: k + (0 + 1); each parent: (0+1) + (1+1) + (2+1) = 6
            assert await asyncio.gather(*parents) == [6] * 4
            assert sorted(await asyncio.gather(*fire_and_forget)) == [100, 101, 102, 103]
            await settle()
        assert len(seen.calls) == 4 + 4 + 12 + 24
        assert seen.all_once()
        assert_idle(m)

    run(main())


@pytest.mark.parametrize(
    "key", ["queue.command.submitted", "queue.command.started", "queue.command.completed"]
)
def test_event_filter_submits_commands(core: Any, run: Any, key: str) -> None:
    """A filter predicate submits a follow-up command from inside the scheduler's emit (so from
    inside submit, the runner or the completion path); bounded, so it terminates."""

    async def main() -> None:
        m = manager(core, ("a", LaneConfig(1, 2), 0))
        seen = Resolutions()
        follow_ups: list[Any] = []
        submitted = 0

        def reentrant(event: Any) -> bool:
            nonlocal submitted
            if event.key == key and submitted < 10:
                submitted += 1  # before submit: a 'submitted' filter is re-entered by it
                follow_ups.append(seen.watch(m.submit("a", quick_n(submitted - 1))))
            return False

        stream = m.subscribe_filtered(reentrant)
        async with m:
            first = seen.watch(m.submit("a", quick_n(-1)))
            assert await first == -1
            while len(follow_ups) < 10 or not all(h.done() for h in follow_ups):
                await asyncio.sleep(0)
            assert sorted(h.result() for h in follow_ups) == list(range(10))
            await settle()
        assert len(stream) == 0
        assert seen.all_once() and len(seen.calls) == 11
        assert_idle(m)

    run(main())


@pytest.mark.parametrize("key", ["queue.command.submitted", "queue.command.started"])
def test_event_filter_cancels_the_command(core: Any, run: Any, key: str) -> None:
    """A filter cancels the command its event is about. On 'submitted' the command never runs;
    on 'started' (it is dispatched: cancelling it cancels a running command) it gets no further
    than its first await. Either way the handle is cancelled once and the lane goes on."""

    async def main() -> None:
        m = manager(core, ("a", LaneConfig(1, 1), 0))
        seen = Resolutions()
        victim: dict[str, Any] = {}
        progress: list[str] = []

        def hostile(event: Any) -> bool:
            if event.key == key and event.payload["command_id"] == victim.get("id"):
                assert m.cancel(event.payload["command_id"])
            return True

        m.subscribe_filtered(hostile)

        async def target() -> None:
            progress.append("body")
            await asyncio.sleep(0)
            progress.append("past its first await")

        async with m:
            victim["id"] = "victim"
            handle = seen.watch(m.submit("a", target, command_id="victim"))
            after = seen.watch(m.submit("a", quick_n(2)))
            assert await after == 2
            await settle()
        assert handle.cancelled()
        assert progress == ([] if key.endswith("submitted") else ["body"])
        assert seen.all_once()
        assert_idle(m)

    run(main())


# ------------------------------------------------------------------------ bad inputs
async def _noop() -> None:
    return None


def _sync_callable() -> int:
    return 1


class _SyncCommand:
    command_type = "sync"

    def execute(self) -> int:
        return 1


def _submit_coroutine_object(m: Any) -> None:
    coro = _noop()
    try:
        m.submit("a", coro)
    finally:
        coro.close()


def _submit_duplicate_id(m: Any) -> None:
    m.submit("a", _noop, command_id="held")  # "held" is queued by the fixture


def _build(*lanes: tuple[str, LaneConfig, int]) -> Callable[[Any], Any]:
    def build(m: Any) -> Any:
        builder = QueueManagerBuilder()
        for lane in lanes:
            builder = builder.with_lane(*lane)
        return builder.build()

    return build


NAN = math.nan
BAD_INPUTS = [
    # LaneConfig fields
    (lambda m: LaneConfig(-1, 1), ValueError, "min_concurrency"),
    (lambda m: LaneConfig(3, 2), ValueError, "max_concurrency"),
    (lambda m: LaneConfig(1.5, 2), TypeError, "min_concurrency"),
    (lambda m: LaneConfig(1, True), TypeError, "max_concurrency"),
    (lambda m: LaneConfig(timeout=-1), ValueError, "timeout"),
    (lambda m: LaneConfig().with_timeout(0), ValueError, "timeout"),
    (lambda m: LaneConfig().with_timeout(NAN), ValueError, "timeout"),
    (lambda m: LaneConfig().with_timeout(timedelta(seconds=-1)), ValueError, "timeout"),
    (lambda m: LaneConfig().with_timeout("1"), TypeError, "timeout"),
    (lambda m: LaneConfig().with_retry_policy(3), TypeError, "retry_policy"),
    (lambda m: LaneConfig().with_rate_limit(10), TypeError, "rate_limit"),
    (lambda m: LaneConfig().with_priority_boost(5.0), TypeError, "priority_boost"),
    (lambda m: LaneConfig().with_pressure_threshold(0), ValueError, "pressure_threshold"),
    (lambda m: LaneConfig().with_run_in_executor("yes"), TypeError, "run_in_executor"),
    # RetryPolicy
    (lambda m: RetryPolicy.exponential(-1), ValueError, "max_retries"),
    (lambda m: RetryPolicy.fixed(1.5, 0), TypeError, "max_retries"),
    (lambda m: RetryPolicy.fixed(1, -0.5), ValueError, "delay"),
    (lambda m: RetryPolicy(1, initial_delay=2, max_delay=1), ValueError, "max_delay"),
    (lambda m: RetryPolicy(1, multiplier=0.5), ValueError, "multiplier"),
    (lambda m: RetryPolicy.exponential(1).with_jitter(1.5), ValueError, "jitter"),
    (lambda m: RetryPolicy.none().delay_for_attempt(0), ValueError, "attempt"),
    (lambda m: RetryPolicy.none().should_retry(-1), ValueError, "attempts_so_far"),
    # RateLimitConfig
    (lambda m: RateLimitConfig.per_second(0), ValueError, "n must"),
    (lambda m: RateLimitConfig.per_minute(-5), ValueError, "n must"),
    (lambda m: RateLimitConfig.per_hour(2.5), TypeError, "n must"),
    (lambda m: RateLimitConfig(10, window=0), ValueError, "window"),
    # PriorityBoostConfig
    (lambda m: PriorityBoostConfig.standard(0), ValueError, "deadline"),
    (lambda m: PriorityBoostConfig.aggressive(-1), ValueError, "deadline"),
    (lambda m: PriorityBoostConfig.new("10s"), TypeError, "deadline"),
    (lambda m: PriorityBoostConfig.new(10).with_boost(11, 1), ValueError, "before"),
    (lambda m: PriorityBoostConfig.new(10).with_boost(5, 0), ValueError, "levels"),
    (lambda m: PriorityBoostConfig.disabled().with_boost(1, 1), ValueError, "deadline"),
    # builder settings
    (lambda m: QueueManagerBuilder().with_lane("", LaneConfig(), 0), ValueError, "lane_id"),
    (lambda m: QueueManagerBuilder().with_lane(7, LaneConfig(), 0), TypeError, "lane_id"),
    (lambda m: QueueManagerBuilder().with_lane("x", LaneConfig(), 256), ValueError, "priority"),
    (lambda m: QueueManagerBuilder().with_lane("x", LaneConfig(), -1), ValueError, "priority"),
    (lambda m: QueueManagerBuilder().with_lane("x", "cfg", 0), TypeError, "config"),
    (lambda m: QueueManagerBuilder().with_global_concurrency(0), ValueError, "global"),
    (lambda m: QueueManagerBuilder().with_dlq(0), ValueError, "dlq"),
    (lambda m: QueueManagerBuilder().with_event_buffer(0), ValueError, "event_buffer"),
    (lambda m: QueueManagerBuilder().with_implementation("rust"), ValueError, "rust"),
    (lambda m: QueueManagerBuilder().with_storage(object()), TypeError, "storage"),
    (_build(), ValueError, "at least one lane"),
    # submit
    (lambda m: m.submit("nope", _noop), LaneNotFound, "nope"),
    (lambda m: m.submit(None, _noop), LaneNotFound, "None"),
    (lambda m: m.submit("a", 42), TypeError, "42"),
    (lambda m: m.submit("a", None), TypeError, "None"),
    (_submit_coroutine_object, TypeError, "awaitable"),
    (lambda m: m.submit("a", _sync_callable), TypeError, "async"),
    (lambda m: m.submit("a", _SyncCommand()), TypeError, "execute"),
    (lambda m: m.submit("a", _noop, timeout=0), ValueError, "timeout"),
    (lambda m: m.submit("a", _noop, timeout=-1.0), ValueError, "timeout"),
    (lambda m: m.submit("a", _noop, timeout=math.inf), ValueError, "timeout"),
    (lambda m: m.submit("a", _noop, timeout="5"), TypeError, "timeout"),
    (lambda m: m.submit("a", _noop, command_id=5), TypeError, "command_id"),
    (lambda m: m.submit("a", _noop, command_id=""), TypeError, "command_id"),
    (_submit_duplicate_id, ValueError, "held"),
    (lambda m: m.submit("a", "no-such-type", {}), UnknownCommandType, "no-such-type"),
    (lambda m: m.submit("nope", "echo", {}), LaneNotFound, "nope"),
    (lambda m: m.submit("a", "echo", {"x": {1, 2}}), TypeError, "JSON"),
    (lambda m: m.submit("a", "echo", {"x": NAN}), TypeError, "JSON"),
    (lambda m: m.submit("a", "echo", object()), TypeError, "JSON"),
    (lambda m: m.submit("a", "echo", {}, command_id=3), TypeError, "command_id"),
    (lambda m: m.submit("a", "echo", {}, timeout=-2), ValueError, "timeout"),
    (lambda m: m.submit("a", _noop, {"payload": 1}), TypeError, "payload"),
    (lambda m: m.submit_many("a", [_noop, 42, _noop]), TypeError, "42"),
    (lambda m: m.submit_many("nope", [_noop]), LaneNotFound, "nope"),
    (lambda m: m.submit_many("a", [_noop], timeout=0), ValueError, "timeout"),
    # control and events
    (lambda m: m.pause_lane("nope"), LaneNotFound, "nope"),
    (lambda m: m.resume_lane("nope"), LaneNotFound, "nope"),
    (lambda m: m.subscribe_filtered(["queue.command.completed", "bogus"]), ValueError, "bogus"),
    (lambda m: m.subscribe_filtered("queue.command.completed"), TypeError, "list"),
    (lambda m: m.subscribe_filtered(None), TypeError, "keys"),
    (lambda m: m.subscribe(buffer_size=0), ValueError, "buffer_size"),
    (lambda m: m.drain(timeout=-1), ValueError, "timeout"),
    (lambda m: m.register("echo", _noop), ValueError, "already registered"),
    (lambda m: m.register("sync", _sync_callable), TypeError, "async"),
    (lambda m: m.register("", _noop), TypeError, "command_type"),
    (lambda m: m.dlq.retry("never-failed"), LookupError, "never-failed"),
]


def _case_id(case: tuple[Any, type, str]) -> str:
    _, exc_type, match = case
    return f"{exc_type.__name__}-{match}"


@pytest.mark.parametrize(("bad", "exc_type", "match"), BAD_INPUTS, ids=map(_case_id, BAD_INPUTS))
def test_bad_input_raises_and_changes_nothing(
    core: Any, run: Any, bad: Callable[[Any], Any], exc_type: type, match: str
) -> None:
    """Each bad input of SPEC §3/§4 raises the documented exception (naming the offending
    field or value), leaves stats and the DLQ as they were, and queued work still completes."""

    async def main() -> None:
        gate = asyncio.Event()

        async def echo(payload: Any) -> Any:
            await gate.wait()
            return payload

        m = manager(core, ("a", LaneConfig(1, 2), 0), ("b", LaneConfig(1, 1), 1))
        m.register("echo", echo)
        seen = Resolutions()

        async def held() -> str:
            await gate.wait()
            return "held"

        async with m:
            work = [seen.watch(m.submit("a", held, command_id="held"))]
            work += [seen.watch(m.submit("a", "echo", n)) for n in range(3)]
            m.pause_lane("b")
            work.append(seen.watch(m.submit("b", held)))
            await settle()
            before = (m.stats(), len(m.dlq))
            assert before[0].total_active == 2 and before[0].total_pending == 3

            with pytest.raises(exc_type, match=match):
                result = bad(m)
                if asyncio.iscoroutine(result):
                    await result
            await settle()

            assert (m.stats(), len(m.dlq)) == before
            gate.set()
            m.resume_lane("b")
            assert await asyncio.gather(*work) == ["held", 0, 1, 2, "held"]
            await settle()
        assert seen.all_once() and len(seen.calls) == 5
        assert_idle(m)

    run(main())


def test_submit_after_shutdown_changes_nothing(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        gate = asyncio.Event()

        async def held() -> str:
            await gate.wait()
            return "held"

        await m.start()
        queued = [m.submit("a", held) for _ in range(3)]
        await settle()
        m.shutdown()
        before = (m.stats(), len(m.dlq))
        for attempt in (
            lambda: m.submit("a", held),
            lambda: m.submit_many("a", [held]),
            lambda: m.submit("a", "echo", {}),
        ):
            with pytest.raises(ShutdownInProgress):
                attempt()
        assert (m.stats(), len(m.dlq)) == before
        gate.set()
        await m.drain()
        assert [h.result() for h in queued] == ["held"] * 3
        await m.close()

    run(main())


def test_real_timeouts_resolve_once(core: Any, run: Any) -> None:
    """Real timers: a command that never returns times out; retries apply; the handle raises
    CommandTimeout once and the command is dead-lettered after its last attempt."""

    async def main() -> None:
        lane = LaneConfig(1, 2).with_timeout(0.01).with_retry_policy(RetryPolicy.fixed(1, 0))
        m = manager(core, ("a", lane, 0))
        seen = Resolutions()
        attempts = 0

        async def never() -> None:
            nonlocal attempts
            attempts += 1
            await asyncio.Event().wait()

        async with m:
            handle = seen.watch(m.submit("a", never))
            with pytest.raises(CommandTimeout):
                await handle
            assert await seen.watch(m.submit("a", quick_n(4))) == 4
            await settle()
        assert attempts == 2
        assert seen.all_once()
        assert len(m.dlq) == 1 and m.dlq.list()[0].attempts == 2
        assert_idle(m)

    run(main())


# ------------------------------------------------------------ found bugs (regressions)
@pytest.mark.parametrize("release", ["pause_lane", "cancel_pending"])
def test_released_reservation_dispatches_at_once(core: Any, run: Any, release: str) -> None:
    """SPEC §1: dispatch repeats until nothing is dispatchable, event-driven; §3 reserves min
    slots only for lanes *with pending work* (README: that are neither paused nor throttled).

    Lane "limited" (priority 0, min 1, per_hour(1)) has spent its only token, so its next
    command waits throttled. Lane "b" (priority 1, min 1, max 2) must run both its commands in
    the global cap of 2 at once: the throttled lane holds no reservation. Pausing "limited",
    or cancelling its pending command, changes nothing then.

    Regression test of a BUG found at 8f37d89 by this test and by test_model.py (fixed in
    ee69cb1, where pause_lane() and the pending-cancel path dispatch): when a throttled lane
    still held its reservation, neither released it to the dispatcher, so b's command idled
    until the rate-limit timer fired — up to an hour here. Since issue 12 a throttled lane
    holds no reservation at all."""

    async def main() -> None:
        limited = LaneConfig(1, 1).with_rate_limit(RateLimitConfig.per_hour(1))
        m = manager(core, ("limited", limited, 0), ("b", LaneConfig(1, 2), 1), global_concurrency=2)
        gate = asyncio.Event()
        started: list[str] = []

        def command(name: str) -> Callable[[], Awaitable[None]]:
            async def run_it() -> None:
                started.append(name)
                await gate.wait()

            return run_it

        await m.start()
        await m.submit("limited", quick)  # spends the lane's only token
        throttled = m.submit("limited", command("limited-2"))
        m.submit("b", command("b-1"))
        m.submit("b", command("b-2"))
        await settle()
        assert started == ["b-1", "b-2"] and m.stats().lanes["limited"].throttled
        if release == "pause_lane":
            m.pause_lane("limited")
        else:
            assert throttled.cancel()
        await settle()
        try:
            assert started == ["b-1", "b-2"], "the released slot was not used"
        finally:
            await m.close()

    run(main())
