"""A global cap below the lanes' total min_concurrency (SPEC §3, issue 12): reservations are
granted in priority order as far as the cap allows; a cap of 1 is strict priority, one command
at a time. Assertions are about order and counts, never timings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lanecore import LaneConfig, QueueManagerBuilder, RateLimitConfig


async def wait_until(cond: Callable[[], bool], seconds: float = 2.0) -> None:
    """Poll cond every ms; fail (TimeoutError) rather than hang."""
    async with asyncio.timeout(seconds):
        while not cond():
            await asyncio.sleep(0.001)


class Gated:
    """Commands that record their start and run until their own gate opens."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.running = 0
        self.peak = 0

    def __call__(self, name: str) -> Callable[[], Any]:
        gate = self.gates[name] = asyncio.Event()

        async def go() -> str:
            self.started.append(name)
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                await gate.wait()
            finally:
                self.running -= 1
            return name

        return go

    def open(self, name: str) -> None:
        self.gates[name].set()

    def open_all(self) -> None:
        for gate in self.gates.values():
            gate.set()

    async def run_in_turn(self, *names: str) -> None:
        """Let each named command finish once it is the latest to start, in this order."""
        for name in names:
            await wait_until(self.latest_is(name))
            self.open(name)

    def latest_is(self, name: str) -> Callable[[], bool]:
        return lambda: self.started[-1:] == [name]


def test_default_lanes_with_a_cap_of_four_build_and_run(core: Any, run: Any) -> None:
    async def main() -> None:
        m = (
            QueueManagerBuilder()
            .with_default_lanes()
            .with_global_concurrency(4)
            .with_implementation(core.name)
            .build()
        )
        reserved = {lane: s.reserved for lane, s in m.stats().lanes.items()}
        assert reserved == {
            "system": 1,
            "control": 1,
            "query": 1,
            "session": 1,
            "skill": 0,
            "prompt": 0,
        }
        cmd = Gated()
        async with m:
            handles = [m.submit(lane, cmd(f"{lane}{n}")) for n in range(3) for lane in m.lane_ids]
            await wait_until(lambda: cmd.running == 4)
            assert m.stats().total_active == 4
            cmd.open_all()
            done = await asyncio.gather(*handles)
        assert sorted(done) == sorted(cmd.started) and len(done) == 18
        assert cmd.peak == 4

    run(main())


def test_cap_of_one_is_strict_priority_one_at_a_time(core: Any, run: Any) -> None:
    async def main() -> None:
        m = (
            QueueManagerBuilder()
            .with_default_lanes()
            .with_global_concurrency(1)
            .with_implementation(core.name)
            .build()
        )
        assert [s.reserved for s in m.stats().lanes.values()] == [1, 0, 0, 0, 0, 0]
        cmd = Gated()
        async with m:
            prompts = [m.submit("prompt", cmd(f"p{n}")) for n in range(3)]
            await wait_until(lambda: cmd.started == ["p0"])
            control = m.submit("control", cmd("c0"))
            query = m.submit("query", cmd("q0"))
            await asyncio.sleep(0.01)
            assert cmd.started == ["p0"]  # the cap is full: nothing else starts
            await cmd.run_in_turn("p0", "c0", "q0", "p1", "p2")
            await asyncio.gather(*prompts, control, query)
        # the control and query commands overtook the queued prompt work, in priority order
        assert cmd.started == ["p0", "c0", "q0", "p1", "p2"]
        assert cmd.peak == 1

    run(main())


def test_reservations_are_granted_in_priority_order(core: Any, run: Any) -> None:
    """Cap 2 over three lanes of min 1: "top" and "mid" hold a slot each, "low" none."""

    async def main() -> None:
        m = (
            QueueManagerBuilder()
            .with_lane("low", LaneConfig(1, 10), 9)  # added first, granted last
            .with_lane("top", LaneConfig(1, 10), 0)
            .with_lane("mid", LaneConfig(1, 10), 5)
            .with_global_concurrency(2)
            .with_implementation(core.name)
            .build()
        )
        lanes = m.stats().lanes
        assert {lane: s.reserved for lane, s in lanes.items()} == {"low": 0, "top": 1, "mid": 1}
        assert lanes["low"].min_concurrency == 1
        cmd = Gated()
        async with m:
            top = [m.submit("top", cmd(f"t{n}")) for n in range(4)]
            await wait_until(lambda: cmd.started == ["t0", "t1"])  # nothing else pending
            low = m.submit("low", cmd("l0"))
            cmd.open("t0")
            await wait_until(lambda: len(cmd.started) == 3)
            assert cmd.started[2] == "t2"  # low, under its min, has no reservation: priority
            mid = m.submit("mid", cmd("m0"))
            cmd.open("t1")
            await wait_until(lambda: len(cmd.started) == 4)
            assert cmd.started[3] == "m0"  # mid's reservation: the freed slot is mid's
            cmd.open_all()
            await asyncio.gather(*top, mid, low)
        assert cmd.peak == 2

    run(main())


def test_a_lane_without_a_reservation_runs_when_slots_are_free(core: Any, run: Any) -> None:
    async def main() -> None:
        m = (
            QueueManagerBuilder()
            .with_lane("top", LaneConfig(2, 4), 0)
            .with_lane("low", LaneConfig(1, 4), 9)
            .with_global_concurrency(2)
            .with_implementation(core.name)
            .build()
        )
        assert m.stats().lanes["low"].reserved == 0
        cmd = Gated()
        async with m:
            handles = [m.submit("low", cmd(f"l{n}")) for n in range(3)]
            await wait_until(lambda: cmd.running == 2)  # "top" has no work: both slots
            assert m.stats().lanes["low"].active == 2
            cmd.open_all()
            await asyncio.gather(*handles)

    run(main())


def test_min_concurrency_zero_lanes_share_a_cap(core: Any, run: Any) -> None:
    """No reservations at all: the cap is shared in strict priority order."""

    async def main() -> None:
        m = (
            QueueManagerBuilder()
            .with_lane("gpu-high", LaneConfig(0, 4), 0)
            .with_lane("gpu-low", LaneConfig(0, 4), 1)
            .with_global_concurrency(1)
            .with_implementation(core.name)
            .build()
        )
        assert [s.reserved for s in m.stats().lanes.values()] == [0, 0]
        cmd = Gated()
        async with m:
            low = [m.submit("gpu-low", cmd(f"l{n}")) for n in range(2)]
            await wait_until(lambda: cmd.started == ["l0"])
            high = m.submit("gpu-high", cmd("h0"))
            await cmd.run_in_turn("l0", "h0", "l1")
            await asyncio.gather(*low, high)
        assert cmd.started == ["l0", "h0", "l1"] and cmd.peak == 1

    run(main())


def test_a_paused_lane_holds_no_slot(core: Any, run: Any) -> None:
    async def main() -> None:
        m = (
            QueueManagerBuilder()
            .with_lane("held", LaneConfig(2, 2), 0)
            .with_lane("other", LaneConfig(0, 5), 1)
            .with_global_concurrency(2)
            .with_implementation(core.name)
            .build()
        )
        cmd = Gated()
        async with m:
            m.pause_lane("held")
            held = [m.submit("held", cmd(f"h{n}")) for n in range(2)]
            other = [m.submit("other", cmd(f"o{n}")) for n in range(3)]
            await wait_until(lambda: cmd.running == 2)
            assert cmd.started == ["o0", "o1"]  # the paused lane's reservation is free
            assert m.stats().lanes["held"].reserved == 2  # (granted, just not held)
            m.resume_lane("held")
            cmd.open("o0")
            await wait_until(lambda: len(cmd.started) == 3)
            assert cmd.started[2] == "h0"  # resumed: the freed slot goes to its reservation
            cmd.open_all()
            await asyncio.gather(*held, *other)

    run(main())


def test_a_throttled_lane_holds_no_slot(core: Any, run: Any) -> None:
    async def main() -> None:
        limited = LaneConfig(2, 2).with_rate_limit(RateLimitConfig.per_minute(1))
        m = (
            QueueManagerBuilder()
            .with_lane("limited", limited, 0)
            .with_lane("other", LaneConfig(0, 5), 1)
            .with_global_concurrency(2)
            .with_implementation(core.name)
            .build()
        )
        cmd = Gated()
        async with m:
            limited_handles = [m.submit("limited", cmd(f"r{n}")) for n in range(2)]
            other = [m.submit("other", cmd(f"o{n}")) for n in range(2)]
            await wait_until(lambda: cmd.running == 2)
            # "limited" spent its one token; waiting for the next it holds no reservation
            assert cmd.started == ["r0", "o0"]
            status = m.stats().lanes["limited"]
            assert status.throttled and status.pending == 1 and status.reserved == 2
            limited_handles[1].cancel()  # (its next token is a minute away)
            cmd.open_all()
            await asyncio.gather(limited_handles[0], *other)

    run(main())
