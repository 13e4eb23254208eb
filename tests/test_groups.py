"""Groups: ``submit(..., group=)``, ``cancel_group`` (pending, delayed, retrying and running
commands; running slots freed at once), ``group_size``, and the group on events and dead
letters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lanecore import LaneConfig, QueueManagerBuilder, RetryPolicy, events


async def drain(stream: Any) -> list[Any]:
    got = []
    while (event := await stream.recv(timeout=0.02)) is not None:
        got.append(event)
    return got


def manager(core: Any, config: LaneConfig | None = None) -> Any:
    config = config or LaneConfig(1, 2)
    return (
        QueueManagerBuilder()
        .with_lane("a", config, 0)
        .with_lane("b", LaneConfig(1, 4).with_retry_policy(config.retry_policy), 1)
        .with_implementation(core.name)
        .build()
    )


def test_cancel_group_cancels_every_state_and_frees_slots(core: Any, run: Any) -> None:
    async def main() -> None:
        policy = RetryPolicy.fixed(3, 10.0)
        m = manager(core, LaneConfig(1, 2).with_retry_policy(policy))
        gate = asyncio.Event()
        started: list[str] = []

        def blocker(name: str) -> Any:
            async def go() -> None:
                started.append(name)
                await gate.wait()

            return go

        async def fails() -> None:
            raise RuntimeError("retry me")

        async def noop() -> str:
            return "ok"

        async with m:
            running = [m.submit("a", blocker(f"r{i}"), group="s7") for i in range(2)]
            await asyncio.sleep(0.01)
            assert m.stats().lanes["a"].active == 2
            pending = m.submit("a", blocker("p"), group="s7")
            delayed = m.submit("b", noop, delay=10, group="s7")
            retrying = m.submit("b", fails, group="s7")
            other = m.submit("b", noop, group="other")
            ungrouped = m.submit("a", noop)
            for _ in range(100):
                await asyncio.sleep(0.002)
                if m.stats().retrying:
                    break
            assert m.stats().retrying == 1
            assert m.group_size("s7") == 5
            assert await other == "ok"
            assert m.group_size("other") == 0

            assert m.cancel_group("s7") == 5
            assert m.group_size("s7") == 0
            for handle in [*running, pending, delayed, retrying]:
                assert handle.cancelled()
            stats = m.stats()
            assert stats.lanes["a"].active <= 1  # the slots were freed at once
            assert stats.lanes["b"].scheduled == 0 and stats.retrying == 0
            assert await ungrouped == "ok"  # runs in a freed slot
            assert m.cancel_group("s7") == 0
            assert started == ["r0", "r1"]

    run(main())


def test_cancel_group_skips_finished_commands(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)

        async def noop() -> int:
            return 1

        async with m:
            done = [m.submit("a", noop, group="g") for _ in range(3)]
            await asyncio.gather(*done)
            assert m.group_size("g") == 0
            assert m.cancel_group("g") == 0
            assert m.cancel_group("never-seen") == 0

    run(main())


@pytest.mark.parametrize(("group", "error"), [("", ValueError), (7, TypeError), (b"g", TypeError)])
def test_bad_groups_raise_and_queue_nothing(core: Any, run: Any, group: Any, error: Any) -> None:
    async def main() -> None:
        m = manager(core)

        async def noop() -> None:
            pass

        async with m:
            with pytest.raises(error, match="group"):
                m.submit("a", noop, group=group)
            with pytest.raises(error, match="group"):
                m.cancel_group(group)
            with pytest.raises(error, match="group"):
                m.group_size(group)
            assert not m._inflight

    run(main())


def test_events_and_dead_letters_carry_the_group(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, LaneConfig(1, 2).with_retry_policy(RetryPolicy.fixed(1, 0.001)))

        async def noop() -> None:
            pass

        async def fails() -> None:
            raise RuntimeError("boom")

        async with m:
            stream = m.subscribe()
            mine = m.subscribe_filtered(lambda e: e.payload.get("group") == "s1")
            await m.submit("a", noop, group="s1")
            await m.submit("a", noop)
            with pytest.raises(RuntimeError):
                await m.submit("a", fails, group="s1")
            letter = m.dlq.list()[-1]
            assert letter.group == "s1"
            got = await drain(stream)
            grouped = [e for e in got if e.payload.get("group") == "s1"]
            keys = [e.key for e in grouped]
            for key in (
                events.COMMAND_SUBMITTED,
                events.COMMAND_STARTED,
                events.COMMAND_COMPLETED,
                events.COMMAND_RETRY,
                events.COMMAND_FAILED,
                events.COMMAND_DEAD_LETTERED,
            ):
                assert key in keys, (key, keys)
            ungrouped = [e for e in got if e.payload.get("command_id") == 2]
            assert ungrouped and all("group" not in e.payload for e in ungrouped)
            filtered = await drain(mine)
            assert filtered and all(e.payload["group"] == "s1" for e in filtered)

    run(main())
