"""Back-pressure: ``LaneConfig.with_max_pending`` (LaneFull from ``submit`` on a full lane,
nothing queued) and ``await manager.put`` (waits for room, FIFO, cancellation-safe)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lanecore import LaneConfig, LaneFull, QueueManagerBuilder, RetryPolicy, ShutdownInProgress


def manager(core: Any, max_pending: int = 2, max_concurrency: int = 1) -> Any:
    return (
        QueueManagerBuilder()
        .with_lane("a", LaneConfig(1, max_concurrency).with_max_pending(max_pending), 0)
        .with_lane("free", LaneConfig(1, 2), 1)
        .with_implementation(core.name)
        .build()
    )


def blocker(gate: asyncio.Event, log: list[Any] | None = None, name: Any = None) -> Any:
    async def go() -> Any:
        if log is not None:
            log.append(name)
        await gate.wait()
        return name

    return go


def test_submit_on_a_full_lane_raises_lane_full_and_changes_nothing(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, max_pending=2)
        gate = asyncio.Event()

        async def echo(payload: Any) -> Any:
            return payload

        m.register("echo", echo)
        async with m:
            running = m.submit("a", blocker(gate))
            await asyncio.sleep(0.01)  # running: does not count against the bound
            queued = [m.submit("a", blocker(gate)) for _ in range(2)]
            before = m.stats()
            inflight = len(m._inflight)
            with pytest.raises(LaneFull) as info:
                m.submit("a", blocker(gate))
            assert info.value.lane_id == "a" and info.value.max_pending == 2
            assert "'a'" in str(info.value) and "max_pending=2" in str(info.value)
            with pytest.raises(LaneFull):
                m.submit("a", "echo", {})  # the bound holds for named commands too
            with pytest.raises(LaneFull):
                m.submit_many("a", [blocker(gate)])
            assert m.stats() == before and len(m._inflight) == inflight
            assert m.submit("free", blocker(gate))  # other lanes are unaffected
            gate.set()
            await asyncio.gather(running, *queued)
            assert m.submit("a", blocker(gate))  # room again

    run(main())


def test_delayed_and_retrying_commands_count_against_the_bound(core: Any, run: Any) -> None:
    async def main() -> None:
        config = (
            LaneConfig(1, 1).with_max_pending(2).with_retry_policy(RetryPolicy.fixed(2, 10.0))
        )
        m = QueueManagerBuilder().with_lane("a", config, 0).with_implementation(core.name).build()

        async def fails() -> None:
            raise RuntimeError("again")

        async def noop() -> None:
            pass

        async with m:
            retrying = m.submit("a", fails)
            for _ in range(100):
                await asyncio.sleep(0.002)
                if m.stats().retrying:
                    break
            delayed = m.submit("a", noop, delay=10)
            with pytest.raises(LaneFull):
                m.submit("a", noop)
            delayed.cancel()
            again = m.submit("a", noop, delay=10)  # the cancelled one's room is free again
            retrying.cancel()
            assert await m.submit("a", noop) is None
            again.cancel()

    run(main())


def test_put_waits_for_room_in_fifo_order(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, max_pending=1)
        gate = asyncio.Event()
        ran: list[Any] = []
        async with m:
            first = m.submit("a", blocker(gate, ran, "first"))
            await asyncio.sleep(0.01)
            second = m.submit("a", blocker(gate, ran, "second"))  # fills the bound
            puts = [asyncio.ensure_future(m.put("a", blocker(gate, ran, i))) for i in range(4)]
            await asyncio.sleep(0.01)
            assert not any(p.done() for p in puts)
            gate.set()
            handles = await asyncio.gather(*puts)
            await asyncio.gather(first, second, *handles)
            assert ran == ["first", "second", 0, 1, 2, 3]

    run(main())


def test_a_cancelled_put_queues_nothing_and_passes_its_turn_on(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, max_pending=1)
        gate = asyncio.Event()
        ran: list[Any] = []
        async with m:
            first = m.submit("a", blocker(gate, ran, "first"))
            await asyncio.sleep(0.01)
            second = m.submit("a", blocker(gate, ran, "second"))
            waiting = asyncio.ensure_future(m.put("a", blocker(gate, ran, "cancelled")))
            later = asyncio.ensure_future(m.put("a", blocker(gate, ran, "later")))
            await asyncio.sleep(0.01)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            gate.set()
            handle = await later
            await asyncio.gather(first, second, handle)
            assert ran == ["first", "second", "later"]

    run(main())


def test_put_checks_its_arguments_before_waiting(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, max_pending=1)

        async def noop() -> None:
            pass

        async with m:
            with pytest.raises(ValueError, match="cost"):
                await m.put("a", noop, cost=0)
            with pytest.raises(ValueError, match="delay"):
                await m.put("a", noop, delay=-1)
            with pytest.raises(LookupError):
                await m.put("nope", noop)
            assert await (await m.put("free", noop)) is None  # an unbounded lane: no wait

    run(main())


def test_shutdown_releases_waiting_puts(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, max_pending=1)
        gate = asyncio.Event()
        await m.start()
        m.submit("a", blocker(gate))
        await asyncio.sleep(0.01)
        m.submit("a", blocker(gate))
        waiting = asyncio.ensure_future(m.put("a", blocker(gate)))
        await asyncio.sleep(0.01)
        m.shutdown()
        with pytest.raises(ShutdownInProgress):
            await waiting
        gate.set()
        await m.drain()
        await m.close()

    run(main())


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_max_pending_is_refused(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="max_pending"):
        LaneConfig().with_max_pending(bad)
