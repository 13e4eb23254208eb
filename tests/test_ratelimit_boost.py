"""Rate limits and priority boost on a running manager (SPEC §1 scheduling rule, §3
RateLimitConfig and PriorityBoostConfig). Assertions are about order and counts; the only
timing checks are generous lower bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lanecore import (
    LaneConfig,
    PriorityBoostConfig,
    QueueManagerBuilder,
    RateLimitConfig,
)


async def guard(aw: Any, seconds: float = 3.0) -> Any:
    return await asyncio.wait_for(aw, seconds)


async def wait_until(cond: Callable[[], bool], seconds: float = 2.0) -> None:
    """Poll cond every ms; fail (TimeoutError) rather than hang."""
    async with asyncio.timeout(seconds):
        while not cond():
            await asyncio.sleep(0.001)


# ---------------------------------------------------------------------------- rate limits


def test_the_token_timer_is_consulted_only_while_a_lane_is_throttled(core: Any, run: Any) -> None:
    """A rate- or cost-limited lane that is not throttled costs other lanes' dispatches no
    call into the shell's token timer; once a lane is throttled, it is armed and fires."""

    async def main() -> None:
        calls = 0
        m = (
            QueueManagerBuilder()
            .with_lane("plain", LaneConfig(1, 10), 0)
            .with_lane("r", LaneConfig(1, 10).with_rate_limit(RateLimitConfig.per_second(50)), 1)
            .with_lane("c", LaneConfig(1, 10).with_cost_limit(RateLimitConfig.per_second(1000)), 2)
            .with_implementation(core.name)
            .build()
        )
        arm = m._arm_token_timer

        def counted() -> None:
            nonlocal calls
            calls += 1
            arm()

        m._arm_token_timer = counted  # type: ignore[method-assign]

        async def cmd() -> None:
            await asyncio.sleep(0)

        async with m:
            await guard(asyncio.gather(*(m.submit("plain", cmd) for _ in range(200))))
            await guard(asyncio.gather(*(m.submit("c", cmd, cost=10) for _ in range(5))))
            assert calls == 0
            assert m.stats().lanes["r"].throttled is False
            # 60 commands on a 50/s lane: the last 10 wait for tokens the timer brings
            await guard(asyncio.gather(*(m.submit("r", cmd) for _ in range(60))))
            assert calls > 0
            # a lane throttled for a minute: once its timer is armed, dispatches on other
            # lanes do not consult it again
            m.add_lane("slow", LaneConfig(1, 1).with_rate_limit(RateLimitConfig.per_minute(1)), 3)
            first = m.submit("slow", cmd)
            waiting = m.submit("slow", cmd)
            await guard(first)
            await asyncio.sleep(0)
            assert m.stats().lanes["slow"].throttled is True
            armed = calls
            assert armed > 0
            await guard(asyncio.gather(*(m.submit("plain", cmd) for _ in range(200))))
            assert calls == armed
            waiting.cancel()

    run(main())


def test_rate_limit_burst_then_refill(core: Any, run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        starts: list[float] = []

        async def cmd() -> None:
            starts.append(loop.time())

        m = (
            QueueManagerBuilder()
            .with_lane("r", LaneConfig(1, 100).with_rate_limit(RateLimitConfig.per_second(20)), 0)
            .with_implementation(core.name)
            .build()
        )
        async with m:
            handles = [m.submit("r", cmd) for _ in range(24)]
            for _ in range(3):
                await asyncio.sleep(0)
            await asyncio.sleep(0.005)
            # the burst (capacity 20) ran at once; the next token is ~50 ms away
            assert len(starts) == 20
            st = m.stats().lanes["r"]
            assert st.pending == 4
            assert st.throttled is True
            assert m.stats().total_pending == 4
            await wait_until(lambda: len(starts) >= 21)
            # generous lower bound: one token takes 50 ms at 20/s
            assert starts[20] - starts[0] >= 0.03
            await guard(asyncio.gather(*handles))
            assert len(starts) == 24
            assert starts[23] - starts[0] >= 0.15  # 4 refills of 50 ms, minus slack
            st = m.stats().lanes["r"]
            assert st.pending == 0 and st.throttled is False

    run(main())


def test_rate_limit_does_not_block_lower_priority_lanes(core: Any, run: Any) -> None:
    async def main() -> None:
        low_running = 0
        low_peak = 0
        low_done = 0

        async def r_cmd() -> None:
            await asyncio.sleep(0.002)

        async def low_cmd() -> None:
            nonlocal low_running, low_peak, low_done
            low_running += 1
            low_peak = max(low_peak, low_running)
            await asyncio.sleep(0.005)
            low_running -= 1
            low_done += 1

        m = (
            QueueManagerBuilder()
            .with_lane("r", LaneConfig(1, 4).with_rate_limit(RateLimitConfig.per_minute(2)), 0)
            .with_lane("low", LaneConfig(1, 4), 5)
            .with_global_concurrency(4)
            .with_implementation(core.name)
            .build()
        )
        await m.start()
        try:
            hr = [m.submit("r", r_cmd) for _ in range(6)]
            hl = [m.submit("low", low_cmd) for _ in range(12)]
            # the high-priority lane spends its burst of 2 and then waits ~30 s per token;
            # meanwhile the low lane keeps running, and above its reserved minimum
            await guard(asyncio.gather(*hl))
            assert low_done == 12
            assert low_peak >= 2
            st = m.stats()
            assert st.lanes["r"].pending == 4
            assert st.lanes["r"].throttled is True
            assert sum(h.done() for h in hr) == 2
            # and the low lane still gets work in while r waits
            assert await guard(m.submit("low", low_cmd)) is None
        finally:
            await m.close()
        assert all(h.cancelled() for h in hr[2:])

    run(main())


def test_throttled_lane_is_skipped_in_the_same_dispatch_pass(core: Any, run: Any) -> None:
    """Everything is queued before start(), so one dispatch pass must get past the throttled
    high-priority lane to the low one; nothing else would wake the scheduler for ~60 s."""

    async def main() -> None:
        gate = asyncio.Event()
        low_started = 0

        async def r_cmd() -> None:
            await gate.wait()

        async def low_cmd() -> None:
            nonlocal low_started
            low_started += 1
            await gate.wait()

        m = (
            QueueManagerBuilder()
            .with_lane("r", LaneConfig(1, 3).with_rate_limit(RateLimitConfig.per_minute(1)), 0)
            .with_lane("low", LaneConfig(1, 3), 5)
            .with_implementation(core.name)
            .build()
        )
        hr = [m.submit("r", r_cmd) for _ in range(3)]
        hl = [m.submit("low", low_cmd) for _ in range(3)]
        await m.start()
        try:
            await wait_until(lambda: low_started == 3)
            st = m.stats().lanes
            assert (st["r"].active, st["r"].pending, st["r"].throttled) == (1, 2, True)
            assert (st["low"].active, st["low"].pending) == (3, 0)
            gate.set()
            await guard(asyncio.gather(hr[0], *hl))
        finally:
            await m.close()

    run(main())


def test_idle_rate_limited_lane_keeps_its_burst(core: Any, run: Any) -> None:
    async def main() -> None:
        started = 0

        async def cmd() -> None:
            nonlocal started
            started += 1

        async def busy() -> None:
            await asyncio.sleep(0.001)

        m = (
            QueueManagerBuilder()
            .with_lane("r", LaneConfig(1, 10).with_rate_limit(RateLimitConfig.per_minute(5)), 0)
            .with_lane("other", LaneConfig(1, 2), 1)
            .with_implementation(core.name)
            .build()
        )
        async with m:
            # lots of dispatching elsewhere, and time passing, while r has nothing to do
            await guard(asyncio.gather(*[m.submit("other", busy) for _ in range(30)]))
            await asyncio.sleep(0.03)
            assert m.stats().lanes["r"].throttled is False
            hs = [m.submit("r", cmd) for _ in range(7)]
            await asyncio.sleep(0.01)
            assert started == 5  # the whole burst was still there
            assert m.stats().lanes["r"].throttled is True
            for h in hs[5:]:
                h.cancel()
            await guard(asyncio.gather(*hs[:5]))

    run(main())


def test_tokens_not_spent_while_lane_is_paused_or_full(core: Any, run: Any) -> None:
    async def main() -> None:
        started = 0
        gate = asyncio.Event()

        async def cmd() -> None:
            nonlocal started
            started += 1
            await gate.wait()

        async def quick() -> None:
            nonlocal started
            started += 1

        m = (
            QueueManagerBuilder()
            .with_lane("r", LaneConfig(1, 1).with_rate_limit(RateLimitConfig.per_minute(3)), 0)
            .with_lane("other", LaneConfig(1, 2), 1)
            .with_implementation(core.name)
            .build()
        )
        async with m:
            # at max concurrency: the queued ones wait for the slot, not for tokens
            h1 = m.submit("r", cmd)
            h2 = m.submit("r", quick)
            await asyncio.sleep(0.01)
            await guard(asyncio.gather(*[m.submit("other", quick) for _ in range(10)]))
            assert started == 1 + 10
            assert m.stats().lanes["r"].throttled is False
            gate.set()
            await guard(asyncio.gather(h1, h2))
            # paused with work queued: no tokens spent either
            m.pause_lane("r")
            h3 = m.submit("r", quick)
            await guard(asyncio.gather(*[m.submit("other", quick) for _ in range(10)]))
            await asyncio.sleep(0.01)
            assert not h3.done()
            m.resume_lane("r")
            await guard(h3)  # the third token of three
            h4 = m.submit("r", quick)
            await asyncio.sleep(0.02)
            assert not h4.done() and m.stats().lanes["r"].throttled is True
            h4.cancel()
            assert m.stats().lanes["r"].pending == 0

    run(main())


def test_unlimited_rate_limit_is_no_limit(core: Any, run: Any) -> None:
    async def main() -> None:
        started = 0

        async def cmd() -> None:
            nonlocal started
            started += 1

        m = (
            QueueManagerBuilder()
            .with_lane("u", LaneConfig(1, 500).with_rate_limit(RateLimitConfig.unlimited()), 0)
            .with_implementation(core.name)
            .build()
        )
        async with m:
            hs = [m.submit("u", cmd) for _ in range(300)]
            await guard(asyncio.gather(*hs))
            assert started == 300
            assert m.stats().lanes["u"].throttled is False

    run(main())


# ---------------------------------------------------------------------------- priority boost


def _boost_manager(core: Any, boost: PriorityBoostConfig | None) -> Any:
    """A global cap of 3: "high" (priority 1) may run 2, "low" (priority 5) holds its reserved
    slot with a blocker, so who gets a freed slot is decided by effective priority alone."""
    low = LaneConfig(1, 2)
    if boost is not None:
        low = low.with_priority_boost(boost)
    return (
        QueueManagerBuilder()
        .with_lane("high", LaneConfig(1, 2), 1)
        .with_lane("low", low, 5)
        .with_global_concurrency(3)
        .with_implementation(core.name)
        .build()
    )


async def _boost_scenario(m: Any, wait: float) -> list[str]:
    order: list[str] = []
    high_gate = asyncio.Event()
    low_gate = asyncio.Event()

    async def high_blocker() -> None:
        await high_gate.wait()

    async def low_blocker() -> None:
        await low_gate.wait()

    def rec(name: str) -> Any:
        async def cmd() -> None:
            order.append(name)
            await asyncio.sleep(0.001)

        return cmd

    async with m:
        lb = m.submit("low", low_blocker)
        hb = [m.submit("high", high_blocker) for _ in range(2)]
        await wait_until(lambda: m.stats().total_active == 3)  # the global cap is full
        hq = [m.submit("high", rec(f"H{i}")) for i in range(6)]
        lq = m.submit("low", rec("L"))
        assert m.stats().lanes["low"].effective_priority == 5
        await asyncio.sleep(wait)
        order.append(f"eff={m.stats().lanes['low'].effective_priority}")
        high_gate.set()
        await guard(asyncio.gather(*hb, *hq, lq))
        assert m.stats().lanes["low"].effective_priority == 5
        low_gate.set()
        await guard(lb)
    return order


def test_without_boost_high_priority_lane_wins(core: Any, run: Any) -> None:
    order = run(_boost_scenario(_boost_manager(core, None), 0.08))
    assert order[0] == "eff=5"
    assert order[1:] == ["H0", "H1", "H2", "H3", "H4", "H5", "L"]


def test_boost_past_deadline_runs_low_lane_first(core: Any, run: Any) -> None:
    order = run(_boost_scenario(_boost_manager(core, PriorityBoostConfig.new(0.05)), 0.08))
    # past the 50 ms deadline the low lane's effective priority is 0, above "high" (1)
    assert order[0] == "eff=0"
    assert order[1] == "L"
    assert sorted(order[2:]) == [f"H{i}" for i in range(6)]


def test_boost_before_deadline_changes_nothing(core: Any, run: Any) -> None:
    order = run(_boost_scenario(_boost_manager(core, PriorityBoostConfig.new(5.0)), 0.02))
    assert order[0] == "eff=5"
    assert order[-1] == "L"


def test_standard_boost_steps_down_over_time(core: Any, run: Any) -> None:
    async def main() -> None:
        gate = asyncio.Event()

        async def blocker() -> None:
            await gate.wait()

        async def quick() -> str:
            return "ran"

        boost = PriorityBoostConfig.standard(0.4)  # steps at ages 0.1, 0.2, 0.3, 0.36, 0.4
        m = (
            QueueManagerBuilder()
            .with_lane("low", LaneConfig(1, 1).with_priority_boost(boost), 5)
            .with_implementation(core.name)
            .build()
        )
        loop = asyncio.get_running_loop()
        async with m:
            hb = m.submit("low", blocker)  # holds the only slot
            await asyncio.sleep(0.005)
            assert m.stats().lanes["low"].effective_priority == 5  # nothing pending
            t0 = loop.time()
            h = m.submit("low", quick)
            samples: list[tuple[float, int]] = []
            while loop.time() - t0 < 0.5:
                samples.append((loop.time() - t0, m.stats().lanes["low"].effective_priority))
                await asyncio.sleep(0.005)
            values = [v for _, v in samples]
            assert values[0] == 5
            assert values[-1] == 0
            assert values == sorted(values, reverse=True)  # never goes back up
            assert {4, 3, 2} <= set(values)  # each 100 ms step was seen
            assert set(values) <= {5, 4, 3, 2, 1, 0}
            # no step came early (generous: a late timer is fine, an early one is not)
            for age, v in samples:
                assert v >= boost.effective_priority(5, age + 0.002), (age, v)
            gate.set()
            assert await guard(h) == "ran"
            await guard(hb)
            # the queue emptied: back to the base priority
            assert m.stats().lanes["low"].effective_priority == 5

    run(main())


def test_boost_age_follows_the_new_oldest_command(core: Any, run: Any) -> None:
    async def main() -> None:
        gate = asyncio.Event()

        async def blocker() -> None:
            await gate.wait()

        async def quick() -> None:
            await gate.wait()

        m = (
            QueueManagerBuilder()
            .with_lane(
                "low", LaneConfig(1, 1).with_priority_boost(PriorityBoostConfig.new(0.06)), 5
            )
            .with_implementation(core.name)
            .build()
        )
        async with m:
            hb = m.submit("low", blocker)
            await asyncio.sleep(0.005)
            h1 = m.submit("low", quick)
            await asyncio.sleep(0.08)
            assert m.stats().lanes["low"].effective_priority == 0
            h2 = m.submit("low", quick)  # younger than the deadline
            hb.cancel()  # frees the slot: h1 runs, h2 becomes the oldest pending
            await asyncio.sleep(0.005)
            assert h1.done() is False and m.stats().lanes["low"].active == 1
            assert m.stats().lanes["low"].pending == 1
            assert m.stats().lanes["low"].effective_priority == 5  # h2 is only ~5 ms old
            await asyncio.sleep(0.08)
            assert m.stats().lanes["low"].effective_priority == 0
            h2.cancel()
            assert m.stats().lanes["low"].effective_priority == 5  # nothing pending
            gate.set()
            await guard(h1)

    run(main())
