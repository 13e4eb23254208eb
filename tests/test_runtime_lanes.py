"""Lanes added and removed while the manager runs, and lane templates with an idle TTL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lanecore import (
    LaneConfig,
    LaneNotFound,
    QueueManagerBuilder,
    RateLimitConfig,
    RetryPolicy,
    ShutdownInProgress,
)


def manager(core: Any, builder: QueueManagerBuilder | None = None) -> Any:
    builder = builder or QueueManagerBuilder().with_lane("base", LaneConfig(1, 2), 3)
    return builder.with_implementation(core.name).build()


async def noop() -> str:
    return "ok"


def test_add_lane_while_running_is_usable_by_the_next_submit(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        order: list[str] = []
        gate = asyncio.Event()

        def cmd(name: str) -> Any:
            async def go() -> str:
                order.append(name)
                await gate.wait()
                return name

            return go

        async with m:
            m.add_lane("urgent", LaneConfig(1, 1), 0)
            assert "urgent" in m.lane_ids
            assert m.lane_config("urgent").max_concurrency == 1
            base = [m.submit("base", cmd(f"b{i}")) for i in range(4)]
            await asyncio.sleep(0.01)
            urgent = m.submit("urgent", cmd("u"))
            await asyncio.sleep(0.01)
            gate.set()
            await asyncio.gather(*base, urgent)
            assert order.index("u") < order.index("b2")  # priority 0 overtakes queued work
            assert m.stats().lanes["urgent"].priority == 0

    run(main())


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("base", LaneConfig(), 1), ValueError),  # duplicate
        (("", LaneConfig(), 1), ValueError),
        ((7, LaneConfig(), 1), TypeError),
        (("x", "config", 1), TypeError),
        (("x", LaneConfig(), 256), ValueError),
        (("x", LaneConfig(), -1), ValueError),
    ],
)
def test_add_lane_rejects_bad_values_and_changes_nothing(
    core: Any, run: Any, args: Any, error: Any
) -> None:
    async def main() -> None:
        m = manager(core)
        async with m:
            before = m.lane_ids
            with pytest.raises(error):
                m.add_lane(*args)
            assert m.lane_ids == before

    run(main())


def test_remove_lane_refuses_new_work_at_once_and_lets_the_rest_finish(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, QueueManagerBuilder().with_lane("base", LaneConfig(1, 2), 3))
        gate = asyncio.Event()

        async def blocked() -> str:
            await gate.wait()
            return "done"

        async with m:
            m.add_lane("temp", LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(1, 0.01)), 1)
            running = m.submit("temp", blocked)
            await asyncio.sleep(0.01)
            pending = m.submit("temp", blocked)
            delayed = m.submit("temp", noop, delay=0.03)
            removal = asyncio.ensure_future(m.remove_lane("temp"))
            await asyncio.sleep(0.01)
            assert "temp" not in m.lane_ids
            with pytest.raises(LaneNotFound):
                m.submit("temp", noop)
            assert not removal.done()
            gate.set()
            await removal
            assert [running.result(), pending.result(), delayed.result()] == [
                "done",
                "done",
                "ok",
            ]
            assert "temp" not in m.stats().lanes
            with pytest.raises(LaneNotFound):
                await m.remove_lane("temp")
            # the freed index is reused by the next lane; the lane works as new
            m.add_lane("again", LaneConfig(1, 1), 1)
            assert await m.submit("again", noop) == "ok"
            assert m.stats().lanes["again"].pending == 0

    run(main())


def test_remove_lane_with_cancel_pending(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        gate = asyncio.Event()

        async def blocked() -> str:
            await gate.wait()
            return "done"

        async with m:
            m.add_lane("temp", LaneConfig(1, 1), 1)
            running = m.submit("temp", blocked)
            await asyncio.sleep(0.01)
            pending = [m.submit("temp", blocked) for _ in range(3)]
            delayed = m.submit("temp", noop, delay=10)
            removal = asyncio.ensure_future(m.remove_lane("temp", cancel_pending=True))
            await asyncio.sleep(0.01)
            assert all(h.cancelled() for h in [*pending, delayed])
            assert not running.done()  # running commands still finish
            gate.set()
            await removal
            assert running.result() == "done"

    run(main())


def test_remove_lane_before_start(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        m.add_lane("temp", LaneConfig(1, 1), 1)
        handle = m.submit("temp", noop)
        with pytest.raises(RuntimeError, match="before start"):
            await m.remove_lane("temp")
        assert "temp" in m.lane_ids  # nothing changed
        await m.remove_lane("temp", cancel_pending=True)
        assert handle.cancelled() and "temp" not in m.lane_ids
        await m.close()

    run(main())


def test_a_put_waiting_on_a_removed_lane_gets_lane_not_found(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        gate = asyncio.Event()

        async def blocked() -> None:
            await gate.wait()

        async with m:
            m.add_lane("temp", LaneConfig(1, 1).with_max_pending(1), 1)
            m.submit("temp", blocked)
            await asyncio.sleep(0.01)
            m.submit("temp", blocked)
            waiting = asyncio.ensure_future(m.put("temp", blocked))
            await asyncio.sleep(0.01)
            removal = asyncio.ensure_future(m.remove_lane("temp"))
            with pytest.raises(LaneNotFound):
                await waiting
            gate.set()
            await removal

    run(main())


def test_a_manager_of_templates_only_makes_lanes_on_first_submit(core: Any, run: Any) -> None:
    async def main() -> None:
        builder = QueueManagerBuilder().with_lane_template(
            "tenant:", LaneConfig(1, 2), 4, idle_ttl=60.0
        )
        m = manager(core, builder)
        async with m:
            assert m.lane_ids == []
            assert await m.submit("tenant:acme", noop) == "ok"
            assert await m.submit("tenant:acme", noop) == "ok"
            assert await (await m.put("tenant:zed", noop)) == "ok"
            assert m.submit_many("tenant:many", [noop, noop])
            assert sorted(m.lane_ids) == ["tenant:acme", "tenant:many", "tenant:zed"]
            assert m.stats().lanes["tenant:acme"].priority == 4
            with pytest.raises(LaneNotFound):
                m.submit("other:acme", noop)

    run(main())


def test_the_longest_matching_template_prefix_wins() -> None:
    builder = (
        QueueManagerBuilder()
        .with_lane_template("t:", LaneConfig(1, 2), 5)
        .with_lane_template("t:vip:", LaneConfig(1, 8), 1)
    )

    async def main() -> None:
        m = builder.build()
        async with m:
            await m.submit("t:vip:acme", noop)
            await m.submit("t:acme", noop)
            assert m.lane_config("t:vip:acme").max_concurrency == 8
            assert m.lane_config("t:acme").max_concurrency == 2

    asyncio.run(main())


def test_each_templated_lane_has_its_own_cap_and_bucket(core: Any, run: Any) -> None:
    async def main() -> None:
        config = LaneConfig(1, 1).with_rate_limit(RateLimitConfig.per_minute(2))
        builder = QueueManagerBuilder().with_lane_template("tenant:", config, 2)
        m = manager(core, builder)
        async with m:
            a = [m.submit("tenant:a", noop) for _ in range(3)]
            b = [m.submit("tenant:b", noop) for _ in range(2)]
            await asyncio.gather(*a[:2], *b)  # each tenant's burst of 2
            await asyncio.sleep(0.02)
            assert not a[2].done()  # tenant a is throttled; tenant b was not held back by it
            assert m.stats().lanes["tenant:a"].throttled
            assert not m.stats().lanes["tenant:b"].throttled
            a[2].cancel()

    run(main())


def test_an_idle_templated_lane_is_removed_after_its_ttl(core: Any, run: Any) -> None:
    async def main() -> None:
        builder = (
            QueueManagerBuilder()
            .with_lane("fixed", LaneConfig(1, 1), 0)
            .with_lane_template("s:", LaneConfig(1, 1), 3, idle_ttl=0.08)
        )
        m = manager(core, builder)
        gate = asyncio.Event()

        async def blocked() -> str:
            await gate.wait()
            return "done"

        async with m:
            await m.submit("s:idle", noop)
            busy = m.submit("s:busy", blocked)
            delayed = m.submit("s:later", noop, delay=0.3)
            await asyncio.sleep(0.2)
            assert "s:idle" not in m.lane_ids  # removed
            assert "s:busy" in m.lane_ids  # running: kept
            assert "s:later" in m.lane_ids  # a delayed command: kept
            assert "fixed" in m.lane_ids  # never removed: not templated
            gate.set()
            await busy
            await delayed
            await m.submit("s:idle", noop)  # made again from the template
            assert "s:idle" in m.lane_ids
            await asyncio.sleep(0.25)
            assert m.lane_ids == ["fixed"]

    run(main())


def test_bad_templates_are_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        QueueManagerBuilder().with_lane_template("", LaneConfig(), 1)
    with pytest.raises(ValueError, match="idle_ttl"):
        QueueManagerBuilder().with_lane_template("t:", LaneConfig(), 1, idle_ttl=0)
    with pytest.raises(TypeError):
        QueueManagerBuilder().with_lane_template("t:", "config", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="priority"):
        QueueManagerBuilder().with_lane_template("t:", LaneConfig(), 300)


def test_no_lane_is_made_after_close(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core, QueueManagerBuilder().with_lane_template("t:", LaneConfig(), 1))
        await m.start()
        await m.close()
        with pytest.raises(ShutdownInProgress):
            m.submit("t:x", noop)
        with pytest.raises(ShutdownInProgress):
            m.add_lane("x", LaneConfig(), 1)

    run(main())


def test_ten_thousand_lanes_come_and_go(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        async with m:
            for i in range(10_000):
                m.add_lane(f"l{i}", LaneConfig(1, 1), i % 8)
            handles = [m.submit(f"l{i}", noop) for i in range(0, 10_000, 7)]
            assert set(await asyncio.gather(*handles)) == {"ok"}
            for i in range(10_000):
                await m.remove_lane(f"l{i}")
            assert m.lane_ids == ["base"]
            assert await m.submit("base", noop) == "ok"

    run(main())


class _CountingInflight:
    """The manager's in-flight map, counting the full scans (``values()``) made of it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.scans = 0

    def values(self) -> Any:
        self.scans += 1
        return self.inner.values()

    def __contains__(self, key: object) -> bool:
        return key in self.inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_removing_a_lane_that_holds_nothing_looks_at_no_other_command(core: Any, run: Any) -> None:
    """remove_lane of an empty lane does not walk the outstanding commands of other lanes;
    a lane holding only a command waiting out its retry backoff is still waited for."""

    async def main() -> None:
        m = manager(core)
        failures = 0

        async def flaky() -> str:
            nonlocal failures
            if not failures:
                failures += 1
                raise RuntimeError("first try fails")
            return "retried"

        async with m:
            m.pause_lane("base")
            parked = [m.submit("base", noop) for _ in range(50)]
            counting = _CountingInflight(m._inflight)
            m._inflight = counting  # type: ignore[assignment]
            for i in range(100):
                m.add_lane(f"e{i}", LaneConfig(1, 1), 2)
            for i in range(100):
                await m.remove_lane(f"e{i}")
            assert counting.scans == 0
            m.add_lane("retry", LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(1, 0.05)), 1)
            handle = m.submit("retry", flaky)
            while failures == 0:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)
            assert m.stats().lanes["retry"].active == 0  # only waiting out its backoff
            await m.remove_lane("retry")
            assert handle.result() == "retried"
            assert counting.scans == 1
            m._inflight = counting.inner
            m.resume_lane("base")
            assert set(await asyncio.gather(*parked)) == {"ok"}

    run(main())
