"""How a runner drives a command's coroutine: the compiled runner takes the first step itself
(a command that finishes without suspending needs no await machinery) and awaits the rest
only when it suspends. Every outcome must be what ``await command()`` gives, on both cores."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from lanecore import LaneConfig, QueueManager, QueueManagerBuilder


def manager(core: Any, max_concurrency: int = 4) -> QueueManager:
    return (
        QueueManagerBuilder()
        .with_implementation(core.name)
        .with_lane("work", LaneConfig(1, max_concurrency), 0)
        .build()
    )


class Boom(Exception):
    pass


def test_results_and_errors_before_and_after_suspending(core: Any, run: Any) -> None:
    async def main() -> None:
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def at_once() -> dict[str, int]:
            return {"n": 1}

        async def after_steps() -> str:
            await asyncio.sleep(0)  # a bare yield (None) to the task
            value = await gate  # a future
            await asyncio.sleep(0.001)  # a timer
            return value + "!"

        async def fails_at_once() -> None:
            raise Boom("before any await")

        async def fails_later() -> None:
            await asyncio.sleep(0)
            raise Boom("after an await")

        m = manager(core)
        async with m:
            handles = [m.submit("work", f) for f in (at_once, after_steps, fails_at_once)]
            later = m.submit("work", fails_later)
            await asyncio.sleep(0.01)
            gate.set_result("opened")
            assert await handles[0] == {"n": 1}
            assert await handles[1] == "opened!"
            with pytest.raises(Boom, match="before any await"):
                await handles[2]
            with pytest.raises(Boom, match="after an await"):
                await later

    run(main())


def test_cancelling_a_suspended_command_throws_into_it(core: Any, run: Any) -> None:
    async def main() -> None:
        seen: list[str] = []
        started = asyncio.Event()

        async def waits_forever() -> None:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        async def ok() -> int:
            return 7

        m = manager(core, max_concurrency=1)
        async with m:
            h = m.submit("work", waits_forever)
            await started.wait()
            h.cancel()
            assert await m.submit("work", ok) == 7  # the lane's slot came back
            assert h.cancelled()
        assert seen == ["cancelled"]

    run(main())


def test_a_command_that_swallows_cancellation_does_not_stall_the_lane(core: Any, run: Any) -> None:
    async def main() -> None:
        started = asyncio.Event()
        finished = asyncio.Event()

        async def stubborn() -> str:
            started.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                await asyncio.sleep(0.001)  # goes on awaiting after the cancel
            finished.set()
            return "ignored the cancel"

        async def ok() -> int:
            return 1

        m = manager(core, max_concurrency=1)
        async with m:
            h = m.submit("work", stubborn)
            await started.wait()
            h.cancel()
            assert await asyncio.gather(*(m.submit("work", ok) for _ in range(3))) == [1, 1, 1]
            await asyncio.wait_for(finished.wait(), 1)
            assert h.cancelled()

    run(main())


def test_close_cancels_suspended_commands(core: Any, run: Any) -> None:
    async def main() -> None:
        closed: list[int] = []

        async def sleeper(i: int) -> None:
            try:
                await asyncio.sleep(10)
            finally:
                closed.append(i)

        m = manager(core)
        await m.start()
        handles = [m.submit("work", functools.partial(sleeper, i)) for i in range(4)]
        await asyncio.sleep(0.01)
        await m.close()
        assert all(h.cancelled() for h in handles)
        assert sorted(closed) == [0, 1, 2, 3]

    run(main())


def test_commands_that_return_a_future_still_run(core: Any, run: Any) -> None:
    """A sync callable run in the executor: its runner returns a Future, not a native
    coroutine, and is awaited the ordinary way."""

    def blocking() -> str:
        return "from a thread"

    async def main() -> None:
        m = manager(core)
        async with m:
            assert await m.submit("work", blocking, run_in_executor=True) == "from a thread"

    run(main())
