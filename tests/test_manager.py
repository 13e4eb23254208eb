"""Submitting commands: forms of command, results, ordering, and bad input at submit."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from lanecore import (
    CommandHandle,
    LaneConfig,
    LaneNotFound,
    QueueManager,
    QueueManagerBuilder,
    ShutdownInProgress,
    UnknownCommandType,
)


def build(core: Any, *lanes: tuple, **settings: Any) -> QueueManager:
    builder = QueueManagerBuilder().with_implementation(core.name)
    for lane_id, config, priority in lanes:
        builder = builder.with_lane(lane_id, config, priority)
    if "global_concurrency" in settings:
        builder = builder.with_global_concurrency(settings["global_concurrency"])
    return builder.build()


class Echo:
    command_type = "echo"

    def __init__(self, value: Any) -> None:
        self.value = value

    async def execute(self) -> Any:
        return self.value


class AsyncCallable:
    async def __call__(self) -> str:
        return "called"


def test_manager_reports_its_core(core: Any) -> None:
    m = build(core, ("a", LaneConfig(), 0))
    assert m.implementation == core.name


def test_command_forms_and_results(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 4), 0))

        async def plain() -> int:
            return 7

        async def add(x: int, y: int) -> int:
            return x + y

        async with m:
            handles = [
                m.submit("a", Echo("obj")),
                m.submit("a", plain),
                m.submit("a", functools.partial(add, 2, 3)),
                m.submit("a", AsyncCallable()),
            ]
            assert all(isinstance(h, CommandHandle) for h in handles)
            assert all(isinstance(h, asyncio.Future) for h in handles)
            assert [await h for h in handles] == ["obj", 7, 5, "called"]
            assert handles[0].command_type == "echo"
            assert handles[1].command_type.endswith("plain")
            assert handles[0].lane_id == "a"

    run(main())


def test_sync_callables_are_never_run_on_the_loop(core: Any, run: Any) -> None:
    """A sync callable is rejected, even a lambda that returns an awaitable."""

    async def main() -> None:
        m = build(core, ("a", LaneConfig(), 0))
        async with m:

            def sync_fn() -> int:
                return 1

            for fn in (sync_fn, lambda: asyncio.sleep(0)):
                with pytest.raises(TypeError, match="not an async callable"):
                    m.submit("a", fn)
            assert m.stats().total_pending == 0

    run(main())


def test_exceptions_propagate(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(), 0))

        async def boom() -> None:
            raise KeyError("nope")

        async with m:
            with pytest.raises(KeyError, match="nope"):
                await m.submit("a", boom)
            assert await m.submit("a", Echo(1)) == 1  # still dispatching

    run(main())


def test_command_ids(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(), 0))
        async with m:
            h1 = m.submit("a", Echo(1))
            h2 = m.submit("a", Echo(2))
            h3 = m.submit("a", Echo(3), command_id="job-3")
            assert h1.command_id != h2.command_id
            assert h3.command_id == "job-3"
            with pytest.raises(ValueError, match="job-3"):
                m.submit("a", Echo(4), command_id="job-3")
            with pytest.raises(TypeError, match="command_id"):
                m.submit("a", Echo(4), command_id=12)
            with pytest.raises(TypeError, match="command_id"):
                m.submit("a", Echo(4), command_id="")
            await asyncio.gather(h1, h2, h3)
            # a finished id may be reused
            assert await m.submit("a", Echo(5), command_id="job-3") == 5

    run(main())


def test_fifo_within_a_lane(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        seen: list[int] = []

        def cmd(n: int) -> Any:
            async def go() -> None:
                seen.append(n)
                await asyncio.sleep(0)

            return go

        handles = [m.submit("a", cmd(n)) for n in range(50)]
        async with m:
            await asyncio.gather(*handles)
        assert seen == list(range(50))

    run(main())


def test_higher_priority_overtakes_whatever_the_arrival_order(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(
            core,
            ("control", LaneConfig(1, 3), 1),
            ("prompt", LaneConfig(1, 2), 5),
            global_concurrency=2,
        )
        order: list[str] = []
        gate = asyncio.Event()

        def cmd(name: str, wait: bool) -> Any:
            async def go() -> None:
                order.append(name)
                if wait:
                    await gate.wait()

            return go

        await m.start()
        # two prompts take the two global slots, more prompts queue behind them
        for n in range(5):
            m.submit("prompt", cmd(f"prompt-{n}", n < 2))
        await asyncio.sleep(0.01)
        control = m.submit("control", cmd("control", False))
        gate.set()
        await control
        await m.drain()
        await m.close()
        assert order[:2] == ["prompt-0", "prompt-1"]
        assert order[2] == "control", order

    run(main())


def test_max_concurrency_is_never_exceeded(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 3), 0), ("b", LaneConfig(1, 2), 1))
        running = {"a": 0, "b": 0}
        peak = {"a": 0, "b": 0}

        def cmd(lane: str) -> Any:
            async def go() -> None:
                running[lane] += 1
                peak[lane] = max(peak[lane], running[lane])
                await asyncio.sleep(0.001)
                running[lane] -= 1

            return go

        async with m:
            handles = [m.submit(lane, cmd(lane)) for _ in range(40) for lane in ("a", "b")]
            await asyncio.gather(*handles)
        assert peak == {"a": 3, "b": 2}

    run(main())


def test_equal_priorities_are_served_round_robin(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(
            core,
            ("x", LaneConfig(1, 1), 2),
            ("y", LaneConfig(1, 1), 2),
            ("z", LaneConfig(1, 1), 2),
            global_concurrency=3,
        )
        order: list[str] = []

        def cmd(lane: str) -> Any:
            async def go() -> None:
                order.append(lane)
                await asyncio.sleep(0)

            return go

        for lane in ("x", "y", "z"):
            for _ in range(4):
                m.submit(lane, cmd(lane))
        async with m:
            pass
        assert sorted(order) == ["x"] * 4 + ["y"] * 4 + ["z"] * 4
        # no lane runs twice before each other lane of its level ran once more
        for i in range(0, 12, 3):
            assert sorted(order[i : i + 3]) == ["x", "y", "z"], order

    run(main())


def test_commands_submitted_before_start_wait_for_it(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(), 0))
        h = m.submit("a", Echo("late"))
        await asyncio.sleep(0.01)
        assert not h.done()
        assert m.stats().total_pending == 1
        await m.start()
        await m.start()  # idempotent
        assert await h == "late"
        await m.close()

    run(main())


def test_submit_many_keeps_order_and_checks_everything_first(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        async with m:
            handles = m.submit_many("a", [Echo(n) for n in range(100)])
            assert [await h for h in handles] == list(range(100))
            with pytest.raises(TypeError):
                m.submit_many("a", [Echo(1), "not a command", Echo(2)])
            assert m.stats().total_pending == 0
            with pytest.raises(LaneNotFound):
                m.submit_many("nope", [Echo(1)])

    run(main())


@pytest.mark.parametrize(
    ("lane", "command", "kwargs", "error", "match"),
    [
        ("missing", Echo(1), {}, LaneNotFound, "missing"),
        (None, Echo(1), {}, LaneNotFound, "None"),
        ("a", 42, {}, TypeError, "42"),
        ("a", "echo", {}, UnknownCommandType, "echo"),
        ("a", None, {}, TypeError, "None"),
        ("a", Echo(1), {"timeout": -1}, ValueError, "timeout"),
        ("a", Echo(1), {"timeout": 0}, ValueError, "timeout"),
        ("a", Echo(1), {"timeout": "soon"}, TypeError, "timeout"),
        ("a", Echo(1), {"timeout": float("inf")}, ValueError, "timeout"),
    ],
)
def test_bad_submit_raises_and_leaves_no_trace(
    core: Any, run: Any, lane: Any, command: Any, kwargs: Any, error: type, match: str
) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(), 0))
        async with m:
            keep = m.submit("a", Echo("kept"))
            before = m.stats()
            with pytest.raises(error, match=match):
                m.submit(lane, command, **kwargs)
            assert m.stats() == before
            assert await keep == "kept"

    run(main())


def test_coroutine_objects_are_rejected_with_a_hint(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(), 0))

        async def work() -> None:
            return None

        async with m:
            coro = work()
            try:
                with pytest.raises(TypeError, match="can run only once"):
                    m.submit("a", coro)
            finally:
                coro.close()
            assert m.stats().total_pending == 0

    run(main())


def test_sync_callables_run_in_executor_only_when_asked(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(
            core,
            ("a", LaneConfig(), 0),
            ("threads", LaneConfig().with_run_in_executor(), 1),
        )
        import threading

        def blocking() -> str:
            return threading.current_thread().name

        class SyncCommand:
            command_type = "sync"

            def execute(self) -> int:
                return 5

        async with m:
            with pytest.raises(TypeError, match="run_in_executor"):
                m.submit("a", blocking)
            with pytest.raises(TypeError, match="run_in_executor"):
                m.submit("a", SyncCommand())
            name = await m.submit("a", blocking, run_in_executor=True)
            assert name != threading.current_thread().name
            assert await m.submit("threads", SyncCommand()) == 5

    run(main())


def test_submit_after_shutdown(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(), 0))
        await m.start()
        queued = m.submit("a", Echo("before"))
        m.shutdown()
        assert m.is_shutdown
        with pytest.raises(ShutdownInProgress):
            m.submit("a", Echo("after"))
        with pytest.raises(ShutdownInProgress):
            m.submit_many("a", [Echo("after")])
        assert await queued == "before"  # accepted work still runs
        await m.drain()
        await m.close()
        with pytest.raises(ShutdownInProgress):
            await m.start()

    run(main())


def test_submit_needs_a_running_loop(core: Any) -> None:
    m = build(core, ("a", LaneConfig(), 0))
    with pytest.raises(RuntimeError, match="running event loop"):
        m.submit("a", Echo(1))
    assert m.stats().total_pending == 0


def test_quick_commands_do_not_starve_the_loop(core: Any, run: Any) -> None:
    """A burst of commands that never suspend still lets other tasks run in between."""

    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        async def noop() -> None:
            return None

        async with m:
            t = asyncio.create_task(ticker())
            handles = m.submit_many("a", [noop] * 5000)
            await handles[-1]
            stop = True
            await t
        assert ticks > 5

    run(main())
