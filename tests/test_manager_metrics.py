"""Metrics recorded by the scheduler itself (SPEC §9): counters, gauges, sampled timings, alerts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lanecore import CommandTimeout, LaneConfig, QueueManagerBuilder, RetryPolicy
from lanecore.metrics import AlertManager, AlertThresholds, LocalMetrics
from lanecore.metrics import names as n


def build(core: Any, **metrics: Any) -> Any:
    return (
        QueueManagerBuilder()
        .with_lane("a", LaneConfig(1, 2).with_retry_policy(RetryPolicy.fixed(1, 0.001)), 0)
        .with_lane("b", LaneConfig(1, 1), 1)
        .with_implementation(core.name)
        .with_metrics(**metrics)
        .build()
    )


def test_no_metrics_unless_asked(core: Any) -> None:
    m = QueueManagerBuilder().with_lane("a", None, 0).with_implementation(core.name).build()
    assert m.metrics is None


def test_counters_match_what_happened(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, sample_every=1)
        flaky_runs = 0

        async def ok() -> int:
            return 1

        async def flaky() -> int:
            nonlocal flaky_runs
            flaky_runs += 1
            if flaky_runs == 1:
                raise RuntimeError("once")
            return 2

        async def broken() -> None:
            raise RuntimeError("always")

        async def slow() -> None:
            await asyncio.sleep(10)

        async with m:
            oks = [m.submit("a", ok) for _ in range(10)]
            f = m.submit("a", flaky)
            b = m.submit("a", broken)
            t = m.submit("b", slow, timeout=0.01)
            gate = asyncio.Event()

            async def hold() -> None:
                await gate.wait()

            c = m.submit("b", hold)
            await asyncio.gather(*oks, f, return_exceptions=True)
            with pytest.raises(RuntimeError):
                await b
            with pytest.raises(CommandTimeout):
                await t
            await asyncio.sleep(0.01)
            c.cancel()
        snap = m.metrics.snapshot()
        assert snap.counter(n.COMMANDS_SUBMITTED, lane="a") == 12
        assert snap.counter(n.COMMANDS_SUBMITTED, lane="b") == 2
        assert snap.counter(n.COMMANDS_COMPLETED, lane="a") == 11
        assert snap.counter(n.COMMANDS_COMPLETED, lane="b") == 0
        # "broken" fails twice (one retry), "flaky" once, the timed-out command once (no retry)
        assert snap.counter(n.COMMANDS_RETRIED, lane="a") == 2
        assert snap.counter(n.COMMANDS_FAILED, lane="a") == 1
        assert snap.counter(n.COMMANDS_DEAD_LETTERED, lane="a") == 1
        assert snap.counter(n.COMMANDS_TIMEOUT, lane="b") == 1
        assert snap.counter(n.COMMANDS_FAILED, lane="b") == 1
        latency = snap.histogram(n.COMMAND_LATENCY_MS, lane="a")
        assert latency is not None and latency.count == 11
        wait = snap.histogram(n.COMMAND_WAIT_TIME_MS, lane="a")
        assert wait is not None and wait.count >= 11

    run(main())


def test_gauges_show_depth_and_active(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core)
        gate = asyncio.Event()

        async def hold() -> None:
            await gate.wait()

        async with m:
            for _ in range(5):
                m.submit("b", hold)
            await asyncio.sleep(0.01)
            snap = m.metrics.snapshot()
            assert snap.gauge(n.QUEUE_DEPTH, lane="b") == 4
            assert snap.gauge(n.QUEUE_ACTIVE, lane="b") == 1
            gate.set()
        snap = m.metrics.snapshot()
        assert snap.gauge(n.QUEUE_DEPTH, lane="b") == 0
        assert snap.gauge(n.QUEUE_ACTIVE, lane="b") == 0

    run(main())


def test_timings_are_sampled_and_plausible(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, sample_every=4)

        async def sleepy() -> None:
            await asyncio.sleep(0.02)

        async with m:
            await asyncio.gather(*(m.submit("a", sleepy) for _ in range(16)))
        latency = m.metrics.snapshot().histogram(n.COMMAND_LATENCY_MS, lane="a")
        assert latency is not None and latency.count == 4
        assert latency.min >= 15.0  # each sampled run slept 20 ms

    run(main())


def test_custom_backend_and_reset(core: Any, run: Any) -> None:
    async def main() -> None:
        backend = LocalMetrics()
        m = build(core, backend=backend)

        async def ok() -> None:
            return None

        async with m:
            await asyncio.gather(*(m.submit("a", ok) for _ in range(3)))
            assert m.metrics.backend is backend
            assert m.metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 3
            m.metrics.reset()
            assert m.metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 0
            await m.submit("a", ok)
            assert m.metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 1
        # the backend itself holds the same numbers
        assert backend.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 1

    run(main())


def test_depth_alerts_fire_from_the_scheduler(core: Any, run: Any) -> None:
    async def main() -> None:
        alerts = AlertManager(AlertThresholds(depth_warning=3, depth_critical=6))
        fired: list[Any] = []
        alerts.on_alert(fired.append)
        m = build(core, alerts=alerts, interval=0.01)
        gate = asyncio.Event()

        async def hold() -> None:
            await gate.wait()

        async with m:
            for _ in range(8):
                m.submit("b", hold)
            await asyncio.sleep(0.05)  # a few flush intervals
            gate.set()
        # depth went from 0 to 7 between two flushes: the highest level crossed fires
        assert [(a.lane_id, str(a.level)) for a in fired][:1] == [("b", "critical")]
        assert fired[0].value >= 6

    run(main())


def test_bad_metrics_settings() -> None:
    builder = QueueManagerBuilder().with_lane("a", None, 0)
    with pytest.raises(ValueError, match="sample_every"):
        builder.with_metrics(sample_every=0)
    with pytest.raises(ValueError, match="interval"):
        builder.with_metrics(interval=0)
    with pytest.raises(TypeError, match="backend"):
        builder.with_metrics(object()).build()
