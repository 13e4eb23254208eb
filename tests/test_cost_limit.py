"""Cost-based rate limits: ``submit(..., cost=n)`` draws from ``LaneConfig.with_cost_limit``'s
bucket beside the request bucket; a command dispatches only when every bucket can pay, tokens
are spent at dispatch, and a big head is not overtaken within its lane."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lanecore import LaneConfig, QueueManagerBuilder, RateLimitConfig


def manager(core: Any, config: LaneConfig) -> Any:
    return (
        QueueManagerBuilder()
        .with_lane("llm", config, 1)
        .with_lane("other", LaneConfig(1, 4), 2)
        .with_implementation(core.name)
        .build()
    )


def recorder(log: list[Any], name: Any) -> Any:
    async def go() -> Any:
        log.append(name)
        return name

    return go


def test_costs_are_drawn_from_the_cost_bucket_at_dispatch(core: Any, run: Any) -> None:
    async def main() -> None:
        config = LaneConfig(1, 4).with_cost_limit(RateLimitConfig(100, 60.0))
        m = manager(core, config)
        ran: list[Any] = []
        async with m:
            first = [m.submit("llm", recorder(ran, i), cost=40) for i in range(2)]
            third = m.submit("llm", recorder(ran, 2), cost=40)  # 80 spent: 20 left
            await asyncio.gather(*first)
            await asyncio.sleep(0.02)
            assert not third.done()
            assert m.stats().lanes["llm"].throttled
            small = m.submit("llm", recorder(ran, "small"), cost=10)
            await asyncio.sleep(0.02)
            # FIFO within the lane: the cheap command waits behind the big head
            assert not small.done() and ran == [0, 1]
            assert await m.submit("other", recorder(ran, "other")) == "other"  # others run
            third.cancel()  # the head leaves: the next one is checked at once
            assert await small == "small"

    run(main())


def test_every_bucket_must_pay(core: Any, run: Any) -> None:
    async def main() -> None:
        config = (
            LaneConfig(1, 4)
            .with_rate_limit(RateLimitConfig(2, 60.0))
            .with_cost_limit(RateLimitConfig(1000, 60.0))
        )
        m = manager(core, config)
        ran: list[Any] = []
        async with m:
            handles = [m.submit("llm", recorder(ran, i), cost=1) for i in range(3)]
            await asyncio.gather(*handles[:2])
            await asyncio.sleep(0.02)
            assert ran == [0, 1] and not handles[2].done()  # the request bucket is empty
            handles[2].cancel()

    run(main())


def test_costs_refill_at_the_rate(core: Any, run: Any) -> None:
    async def main() -> None:
        config = LaneConfig(1, 4).with_cost_limit(RateLimitConfig(50, 0.1))  # 500/s
        m = manager(core, config)
        async with m:
            handles = [m.submit("llm", recorder([], i), cost=50) for i in range(3)]
            assert await asyncio.gather(*handles) == [0, 1, 2]

    run(main())


@pytest.mark.parametrize(
    ("cost", "error"),
    [(0, ValueError), (-3, ValueError), (1.5, TypeError), (True, TypeError), ("5", TypeError)],
)
def test_bad_costs_raise_and_queue_nothing(core: Any, run: Any, cost: Any, error: Any) -> None:
    async def main() -> None:
        m = manager(core, LaneConfig(1, 4).with_cost_limit(RateLimitConfig(100, 60.0)))
        async with m:
            with pytest.raises(error, match="cost"):
                m.submit("llm", recorder([], 0), cost=cost)
            assert m.stats().total_pending == 0 and not m._inflight

    run(main())


def test_a_cost_above_the_capacity_could_never_run(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, LaneConfig(1, 4).with_cost_limit(RateLimitConfig(100, 60.0)))

        async def echo(payload: Any) -> Any:
            return payload

        m.register("echo", echo)
        async with m:
            with pytest.raises(ValueError, match="could never run") as info:
                m.submit("llm", recorder([], 0), cost=101)
            assert "101" in str(info.value) and "'llm'" in str(info.value)
            with pytest.raises(ValueError, match="could never run"):
                m.submit("llm", "echo", {}, cost=500)
            assert m.stats().total_pending == 0
            assert await m.submit("llm", recorder([], "max"), cost=100) == "max"
            # a lane without a cost limit accepts and ignores costs
            assert await m.submit("other", recorder([], "free"), cost=10**9) == "free"

    run(main())


def test_cost_limited_retries_pay_again(core: Any, run: Any) -> None:
    async def main() -> None:
        from lanecore import RetryPolicy

        config = (
            LaneConfig(1, 1)
            .with_cost_limit(RateLimitConfig(30, 60.0))
            .with_retry_policy(RetryPolicy.fixed(3, 0.001))
        )
        m = manager(core, config)
        attempts = 0

        async def flaky() -> None:
            nonlocal attempts
            attempts += 1
            raise RuntimeError("again")

        async with m:
            handle = m.submit("llm", flaky, cost=10)
            await asyncio.sleep(0.1)
            assert attempts == 3  # the third attempt spent the last 10; the fourth waits
            assert not handle.done()
            handle.cancel()

    run(main())
