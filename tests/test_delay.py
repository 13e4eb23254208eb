"""Delayed commands: ``submit(..., delay=)`` holds a command out of its lane until it is due,
as "scheduled", cancellable, holding no slot; one manager-wide timer heap (no Task or timer per
command)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from lanecore import LaneConfig, QueueManagerBuilder, RetryPolicy


def manager(core: Any, config: LaneConfig | None = None) -> Any:
    return (
        QueueManagerBuilder()
        .with_lane("a", config or LaneConfig(1, 2), 0)
        .with_lane("b", LaneConfig(1, 2), 1)
        .with_implementation(core.name)
        .build()
    )


async def noop() -> str:
    return "done"


def test_a_delayed_command_waits_then_runs_at_the_back_of_its_lane(core: Any, run: Any) -> None:
    async def main() -> None:
        order: list[str] = []

        def cmd(name: str) -> Any:
            async def go() -> str:
                order.append(name)
                return name

            return go

        m = manager(core, LaneConfig(1, 1))
        async with m:
            loop = asyncio.get_running_loop()
            start = loop.time()
            late = m.submit("a", cmd("late"), delay=0.05)
            assert m.stats().lanes["a"].scheduled == 1
            assert m.stats().lanes["a"].pending == 0
            assert await m.submit("a", cmd("now")) == "now"
            assert order == ["now"]
            assert await late == "late"
            assert loop.time() - start >= 0.049  # (uvloop keeps time in whole ms)
            assert m.stats().lanes["a"].scheduled == 0
            assert order == ["now", "late"]

    run(main())


def test_delay_accepts_a_timedelta_and_zero(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        async with m:
            zero = m.submit("a", noop, delay=0)
            assert m.stats().lanes["a"].scheduled == 0  # no delay: straight into the lane
            td = m.submit("a", noop, delay=timedelta(milliseconds=20))
            assert m.stats().lanes["a"].scheduled == 1
            assert await asyncio.gather(zero, td) == ["done", "done"]

    run(main())


@pytest.mark.parametrize(
    ("delay", "error"),
    [(-1, ValueError), (float("nan"), ValueError), ("1s", TypeError), (True, TypeError)],
)
def test_bad_delays_raise_and_queue_nothing(core: Any, run: Any, delay: Any, error: Any) -> None:
    async def main() -> None:
        m = manager(core)
        async with m:
            with pytest.raises(error, match="delay"):
                m.submit("a", noop, delay=delay)
            stats = m.stats()
            assert stats.total_pending == 0 and stats.lanes["a"].scheduled == 0
            assert not m._inflight

    run(main())


def test_a_scheduled_command_can_be_cancelled_and_holds_no_slot(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, LaneConfig(1, 1))
        ran: list[int] = []

        async def mark() -> None:
            ran.append(1)

        async with m:
            delayed = [m.submit("a", mark, delay=0.03) for _ in range(5)]
            assert m.stats().lanes["a"].scheduled == 5
            assert m.stats().lanes["a"].active == 0
            # the lane's only slot is free for undelayed work meanwhile
            assert await m.submit("a", noop) == "done"
            assert delayed[0].cancel()
            assert m.cancel(delayed[1].command_id)
            assert m.stats().lanes["a"].scheduled == 3
            await asyncio.gather(*delayed[2:])
            assert len(ran) == 3
            assert delayed[0].cancelled() and delayed[1].cancelled()
            assert m.stats().lanes["a"].scheduled == 0

    run(main())


def test_due_order_is_by_time_then_by_submit(core: Any, run: Any) -> None:
    async def main() -> None:
        order: list[int] = []

        def cmd(n: int) -> Any:
            async def go() -> None:
                order.append(n)

            return go

        m = manager(core, LaneConfig(1, 1))
        async with m:
            handles = [
                m.submit("a", cmd(0), delay=0.06),
                m.submit("a", cmd(1), delay=0.02),
                m.submit("a", cmd(2), delay=0.04),
                m.submit("a", cmd(3), delay=0.02),
            ]
            await asyncio.gather(*handles)
        assert order == [1, 3, 2, 0]

    run(main())


def test_many_delayed_commands_use_one_loop_timer(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        async with m:
            loop = asyncio.get_running_loop()
            before = len(loop._scheduled) if hasattr(loop, "_scheduled") else None  # type: ignore[attr-defined]
            handles = [m.submit("a", noop, delay=0.2 + i * 1e-5) for i in range(2000)]
            if before is not None:  # the stock loop: count its timers
                assert len(loop._scheduled) - before <= 1  # type: ignore[attr-defined]
            assert m.stats().lanes["a"].scheduled == 2000
            for handle in handles[:1000]:
                handle.cancel()
            assert m.stats().lanes["a"].scheduled == 1000
            results = await asyncio.gather(*handles[1000:])
            assert results == ["done"] * 1000
            assert m.stats().lanes["a"].scheduled == 0

    run(main())


def test_retries_wait_in_the_same_heap_and_can_be_cancelled(core: Any, run: Any) -> None:
    async def main() -> None:
        attempts = 0

        async def flaky() -> str:
            nonlocal attempts
            attempts += 1
            if attempts < 3:
                raise RuntimeError("not yet")
            return "ok"

        policy = RetryPolicy.fixed(5, 0.01)
        m = manager(core, LaneConfig(1, 1).with_retry_policy(policy))
        async with m:
            assert await m.submit("a", flaky) == "ok"
            assert attempts == 3

            async def always() -> None:
                raise RuntimeError("no")

            handle = m.submit("a", always)
            for _ in range(100):
                await asyncio.sleep(0.002)
                if m.stats().retrying:
                    break
            assert m.stats().retrying == 1
            assert handle.cancel()
            assert m.stats().retrying == 0
            await asyncio.sleep(0.03)
            assert handle.cancelled()

    run(main())


def test_close_cancels_scheduled_commands(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        await m.start()
        handle = m.submit("a", noop, delay=10)
        await m.close()
        assert handle.cancelled()

    run(main())


def test_drain_waits_for_delayed_commands(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        async with m:
            handle = m.submit("a", noop, delay=0.03)
            await m.drain()
            assert handle.done() and handle.result() == "done"

    run(main())


def test_named_commands_take_a_delay(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)

        async def echo(payload: Any) -> Any:
            return payload

        m.register("echo", echo)
        async with m:
            handle = m.submit("a", "echo", {"x": 1}, delay=0.02)
            assert m.stats().lanes["a"].scheduled == 1
            assert await handle == {"x": 1}

    run(main())
