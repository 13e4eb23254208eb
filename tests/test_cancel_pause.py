"""Cancelling handles (pending, running, retrying), manager.cancel, and pausing lanes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lanecore import LaneConfig, LaneNotFound, QueueManagerBuilder, RetryPolicy


def one_lane(core: Any, config: LaneConfig) -> Any:
    return QueueManagerBuilder().with_lane("a", config, 0).with_implementation(core.name).build()


def test_cancel_pending_never_runs(core: Any, run: Any) -> None:
    async def main() -> None:
        m = one_lane(core, LaneConfig(1, 1))
        ran: list[int] = []
        gate = asyncio.Event()

        def cmd(n: int) -> Any:
            async def go() -> None:
                ran.append(n)
                await gate.wait()

            return go

        async with m:
            handles = [m.submit("a", cmd(n)) for n in range(4)]
            await asyncio.sleep(0.01)
            assert handles[2].cancel()
            assert not handles[2].cancel()  # already cancelled
            assert m.cancel(handles[3].command_id)
            assert not m.cancel(handles[3].command_id)
            assert not m.cancel("no-such-id")
            assert m.stats().lanes["a"].pending == 1
            gate.set()
            await asyncio.gather(handles[0], handles[1])
            assert handles[2].cancelled() and handles[3].cancelled()
        assert ran == [0, 1]

    run(main())


def test_cancel_running_frees_the_slot_at_once(core: Any, run: Any) -> None:
    async def main() -> None:
        m = one_lane(core, LaneConfig(1, 1))
        cleaned = asyncio.Event()
        second_started = asyncio.Event()

        async def slow() -> None:
            try:
                await asyncio.sleep(60)
            finally:
                cleaned.set()

        async def quick() -> str:
            second_started.set()
            return "second"

        async with m:
            first = m.submit("a", slow)
            second = m.submit("a", quick)
            await asyncio.sleep(0.01)
            assert m.stats().lanes["a"].active == 1
            first.cancel()
            # the slot is free before the cancelled command has even unwound
            assert m.stats().lanes["a"].active <= 1
            assert await second == "second"
            await asyncio.wait_for(cleaned.wait(), 1)
            with pytest.raises(asyncio.CancelledError):
                await first
            assert m.stats().total_active == 0

    run(main())


def test_cancel_running_command_that_ignores_cancellation(core: Any, run: Any) -> None:
    """The slot is freed anyway and the late result is discarded."""

    async def main() -> None:
        m = one_lane(core, LaneConfig(1, 1))
        release = asyncio.Event()

        async def stubborn() -> str:
            while True:
                try:
                    await release.wait()
                    return "late"
                except asyncio.CancelledError:
                    continue

        async def quick() -> str:
            return "quick"

        async with m:
            h = m.submit("a", stubborn)
            await asyncio.sleep(0.01)
            h.cancel()
            assert await m.submit("a", quick) == "quick"
            release.set()
            await asyncio.sleep(0.01)
            assert h.cancelled()
            assert m.stats().total_active == 0

    run(main())


def test_cancel_from_inside_the_command(core: Any, run: Any) -> None:
    async def main() -> None:
        m = one_lane(core, LaneConfig(1, 1))
        holder: list[Any] = []

        async def suicidal() -> str:
            holder[0].cancel()
            await asyncio.sleep(0)
            return "unreachable"

        async def after() -> str:
            return "after"

        async with m:
            holder.append(m.submit("a", suicidal))
            nxt = m.submit("a", after)
            assert await nxt == "after"
            assert holder[0].cancelled()

    run(main())


def test_awaiter_cancellation_cancels_the_command(core: Any, run: Any) -> None:
    async def main() -> None:
        m = one_lane(core, LaneConfig(1, 1))
        started = asyncio.Event()
        finished = []

        async def slow() -> None:
            started.set()
            await asyncio.sleep(60)
            finished.append(True)

        async with m:
            h = m.submit("a", slow)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(h, 0.05)
            assert h.cancelled()
            assert started.is_set() and not finished

    run(main())


def test_cancel_during_retry_backoff(core: Any, run: Any) -> None:
    async def main() -> None:
        m = one_lane(core, LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(5, 60)))
        runs = 0

        async def flaky() -> None:
            nonlocal runs
            runs += 1
            raise RuntimeError("try again")

        async with m:
            h = m.submit("a", flaky)
            await asyncio.sleep(0.02)
            assert runs == 1 and m.stats().retrying == 1
            assert m.cancel(h.command_id)
            assert h.cancelled() and m.stats().retrying == 0
        assert runs == 1
        assert len(m.dlq) == 0

    run(main())


def test_pause_and_resume(core: Any, run: Any) -> None:
    async def main() -> None:
        m = (
            QueueManagerBuilder()
            .with_lane("a", LaneConfig(1, 2), 0)
            .with_lane("b", LaneConfig(1, 2), 1)
            .with_implementation(core.name)
            .build()
        )
        order: list[str] = []

        def cmd(tag: str) -> Any:
            async def go() -> None:
                order.append(tag)

            return go

        async with m:
            m.pause_lane("a")
            assert m.stats().lanes["a"].paused
            ha = [m.submit("a", cmd("a")) for _ in range(3)]
            hb = [m.submit("b", cmd("b")) for _ in range(3)]
            await asyncio.gather(*hb)
            await asyncio.sleep(0.01)
            assert order == ["b"] * 3
            assert m.stats().lanes["a"].pending == 3
            m.resume_lane("a")
            await asyncio.gather(*ha)
            assert order == ["b"] * 3 + ["a"] * 3
            with pytest.raises(LaneNotFound):
                m.pause_lane("zzz")
            with pytest.raises(LaneNotFound):
                m.resume_lane("zzz")

    run(main())


def test_pause_does_not_stop_running_commands(core: Any, run: Any) -> None:
    async def main() -> None:
        m = one_lane(core, LaneConfig(1, 1))
        gate = asyncio.Event()

        async def wait_gate() -> str:
            await gate.wait()
            return "done"

        async def later() -> str:
            return "later"

        async with m:
            running = m.submit("a", wait_gate)
            await asyncio.sleep(0.01)
            m.pause_lane("a")
            queued = m.submit("a", later)
            gate.set()
            assert await running == "done"
            await asyncio.sleep(0.01)
            assert not queued.done()
            m.resume_lane("a")
            assert await queued == "later"

    run(main())


def test_close_cancels_everything_outstanding(core: Any, run: Any) -> None:
    async def main() -> None:
        m = one_lane(core, LaneConfig(1, 1))

        async def forever() -> None:
            await asyncio.sleep(60)

        await m.start()
        handles = [m.submit("a", forever) for _ in range(3)]
        await asyncio.sleep(0.01)
        await m.close()
        assert all(h.cancelled() for h in handles)
        assert m.stats().total_pending == 0 and m.stats().total_active == 0

    run(main())
