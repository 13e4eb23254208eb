"""Metrics recorded by the scheduler itself (SPEC §9): counters, gauges, sampled timings, alerts."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from lanecore import CommandTimeout, LaneConfig, QueueManagerBuilder, RetryPolicy
from lanecore.metrics import (
    AlertManager,
    AlertThresholds,
    CollectingBackend,
    FastMetricsBackend,
    Gauge,
    LocalMetrics,
    MetricsSnapshot,
)
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


# -- the backend the user holds is current whenever it is read ------------------------------


class CountingGauge:
    """A gauge handle that counts how often it is set, then sets the backend's own gauge."""

    def __init__(self, inner: Gauge) -> None:
        self.inner = inner
        self.sets = 0

    def set(self, value: float) -> None:
        self.sets += 1
        self.inner.set(value)


class WatchedMetrics(LocalMetrics):
    """LocalMetrics that tells how many collectors it holds and how often its gauges were set."""

    def __init__(self) -> None:
        super().__init__()
        self.collectors = 0
        self.watched: dict[int, CountingGauge] = {}

    def add_collector(self, collector: Any) -> None:
        super().add_collector(collector)
        self.collectors += 1

    def remove_collector(self, collector: Any) -> None:
        super().remove_collector(collector)
        self.collectors -= 1

    def gauge(self, name: str, labels: Any = None) -> Any:
        inner = super().gauge(name, labels)
        return self.watched.setdefault(id(inner), CountingGauge(inner))

    @property
    def gauge_sets(self) -> int:
        return sum(g.sets for g in self.watched.values())


class PushedOnly:
    """A FastMetricsBackend that is not a CollectingBackend: the scheduler pushes into it."""

    def __init__(self) -> None:
        self.inner = WatchedMetrics()

    def counter(self, name: str, labels: Any = None) -> Any:
        return self.inner.counter(name, labels)

    def gauge(self, name: str, labels: Any = None) -> Any:
        return self.inner.gauge(name, labels)

    def histogram(self, name: str, labels: Any = None) -> Any:
        return self.inner.histogram(name, labels)

    def increment_counter(self, name: str, value: int = 1, labels: Any = None) -> None:
        self.inner.increment_counter(name, value, labels)

    def set_gauge(self, name: str, value: float, labels: Any = None) -> None:
        self.inner.set_gauge(name, value, labels)

    def record_histogram(self, name: str, value: float, labels: Any = None) -> None:
        self.inner.record_histogram(name, value, labels)

    def snapshot(self) -> MetricsSnapshot:
        return self.inner.snapshot()

    def reset(self) -> None:
        self.inner.reset()


async def ok() -> int:
    return 1


def test_backends_are_collecting_or_not() -> None:
    assert isinstance(LocalMetrics(), CollectingBackend)
    assert isinstance(PushedOnly(), FastMetricsBackend)
    assert not isinstance(PushedOnly(), CollectingBackend)


def test_the_held_local_metrics_is_exact_without_waiting(core: Any, run: Any) -> None:
    async def main() -> None:
        metrics = LocalMetrics()
        m = build(core, backend=metrics, interval=3600)
        gate = asyncio.Event()

        async def hold() -> None:
            await gate.wait()

        async with m:
            await asyncio.gather(*(m.submit("a", ok) for _ in range(100)))
            snap = metrics.snapshot()
            assert snap.counter(n.COMMANDS_SUBMITTED, lane="a") == 100
            assert snap.counter(n.COMMANDS_COMPLETED, lane="a") == 100
            assert snap.gauge(n.QUEUE_DEPTH, lane="a") == 0
            held = [m.submit("b", hold) for _ in range(5)]
            await asyncio.sleep(0.01)
            snap = metrics.snapshot()
            assert snap.counter(n.COMMANDS_SUBMITTED, lane="b") == 5
            assert snap.gauge(n.QUEUE_DEPTH, lane="b") == 4
            assert snap.gauge(n.QUEUE_ACTIVE, lane="b") == 1
            gate.set()
            await asyncio.gather(*held)
            assert metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="b") == 5

    run(main())


def test_resetting_the_held_backend_counts_from_then(core: Any, run: Any) -> None:
    async def main() -> None:
        metrics = LocalMetrics()
        m = build(core, backend=metrics, interval=3600)
        async with m:
            await asyncio.gather(*(m.submit("a", ok) for _ in range(7)))
            metrics.reset()  # the 7 are collected before the zeroing, not carried past it
            assert metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 0
            await asyncio.gather(*(m.submit("a", ok) for _ in range(2)))
            assert metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 2
            assert m.metrics.snapshot().counter(n.COMMANDS_SUBMITTED, lane="a") == 2

    run(main())


def test_reads_from_another_thread_hop_to_the_loop(core: Any, run: Any) -> None:
    async def main() -> None:
        metrics = LocalMetrics()
        m = build(core, backend=metrics, interval=3600)
        gate = asyncio.Event()

        async def hold() -> None:
            await gate.wait()

        async with m:
            await asyncio.gather(*(m.submit("a", ok) for _ in range(30)))
            for _ in range(3):
                m.submit("b", hold)
            await asyncio.sleep(0.01)
            snap = await asyncio.to_thread(metrics.snapshot)
            assert snap.counter(n.COMMANDS_COMPLETED, lane="a") == 30
            assert snap.gauge(n.QUEUE_DEPTH, lane="b") == 2
            snap = await asyncio.to_thread(m.metrics.snapshot)
            assert snap.counter(n.COMMANDS_SUBMITTED, lane="b") == 3
            gate.set()

    run(main())


def test_a_read_while_the_loop_is_blocked_serves_the_last_values(core: Any, run: Any) -> None:
    async def main() -> None:
        metrics = LocalMetrics()
        m = build(core, backend=metrics, interval=3600)
        async with m:
            await asyncio.gather(*(m.submit("a", ok) for _ in range(4)))
            assert metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 4
            await asyncio.gather(*(m.submit("a", ok) for _ in range(3)))
            seen: list[MetricsSnapshot] = []
            reader = threading.Thread(target=lambda: seen.append(metrics.snapshot()))
            reader.start()
            reader.join()  # blocks the loop: the read cannot hop to it and gives up
            assert seen[0].counter(n.COMMANDS_COMPLETED, lane="a") == 4
            assert metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 7

    run(main())


def test_after_close_the_backend_keeps_the_final_values(core: Any, run: Any) -> None:
    async def main() -> None:
        metrics = WatchedMetrics()
        m = build(core, backend=metrics, interval=0.01)
        async with m:
            assert metrics.collectors == 1
            await asyncio.gather(*(m.submit("a", ok) for _ in range(12)))
            await asyncio.sleep(0.05)  # a few intervals: nothing pushes into a collecting backend
            assert metrics.gauge_sets == 0
        assert metrics.collectors == 0  # removed at close, after a last flush
        sets = metrics.gauge_sets
        assert sets > 0
        await asyncio.sleep(0.05)
        assert metrics.gauge_sets == sets  # no timer left
        snap = metrics.snapshot()
        assert snap.counter(n.COMMANDS_SUBMITTED, lane="a") == 12
        assert snap.counter(n.COMMANDS_COMPLETED, lane="a") == 12
        assert snap.gauge(n.QUEUE_ACTIVE, lane="a") == 0

    run(main())


def test_a_backend_that_does_not_collect_is_pushed_until_close(core: Any, run: Any) -> None:
    async def main() -> None:
        backend = PushedOnly()
        m = build(core, backend=backend, interval=0.01)
        async with m:
            await asyncio.gather(*(m.submit("a", ok) for _ in range(5)))
            assert m.metrics.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 5
            before = backend.inner.gauge_sets
            await asyncio.sleep(0.05)  # the interval timer pushes copies meanwhile
            assert backend.inner.gauge_sets > before
        sets = backend.inner.gauge_sets
        await asyncio.sleep(0.05)
        assert backend.inner.gauge_sets == sets  # no timer left
        assert backend.snapshot().counter(n.COMMANDS_COMPLETED, lane="a") == 5

    run(main())


def test_a_prometheus_scrape_shows_the_counts_right_away(core: Any, run: Any) -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from lanecore.metrics import PrometheusMetrics

    async def main() -> None:
        registry = prometheus_client.CollectorRegistry()
        m = build(core, backend=PrometheusMetrics(registry), interval=3600)
        gate = asyncio.Event()

        async def hold() -> None:
            await gate.wait()

        async with m:
            await asyncio.gather(*(m.submit("a", ok) for _ in range(100)))
            for _ in range(3):
                m.submit("b", hold)
            await asyncio.sleep(0.01)
            lines = set(prometheus_client.generate_latest(registry).decode().splitlines())
            assert 'lane_commands_submitted_total{lane="a"} 100.0' in lines
            assert 'lane_commands_completed_total{lane="a"} 100.0' in lines
            assert 'lane_queue_depth{lane="b"} 2.0' in lines
            assert 'lane_queue_active{lane="b"} 1.0' in lines
            # a scrape thread (what start_http_server runs) hops to the loop for the counts
            await asyncio.gather(*(m.submit("a", ok) for _ in range(5)))
            text = await asyncio.to_thread(prometheus_client.generate_latest, registry)
            assert 'lane_commands_completed_total{lane="a"} 105.0' in text.decode().splitlines()
            gate.set()
        value = registry.get_sample_value
        assert value("lane_commands_completed_total", {"lane": "b"}) == 3.0
        assert value("lane_queue_depth", {"lane": "b"}) == 0.0

    run(main())


def _otel_values(reader: Any, name: str) -> dict[str, Any]:
    """The exported data points of one metric, by lane."""
    found: dict[str, Any] = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        found[point.attributes["lane"]] = point.value
    return found


def test_an_otel_collection_shows_the_counts_right_away(core: Any, run: Any) -> None:
    pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from lanecore.metrics import OpenTelemetryMetrics

    async def main() -> None:
        reader = InMemoryMetricReader()
        backend = OpenTelemetryMetrics(MeterProvider(metric_readers=[reader]))
        m = build(core, backend=backend, interval=3600)
        gate = asyncio.Event()

        async def hold() -> None:
            await gate.wait()

        async with m:
            await asyncio.gather(*(m.submit("a", ok) for _ in range(100)))
            for _ in range(3):
                m.submit("b", hold)
            await asyncio.sleep(0.01)
            assert _otel_values(reader, n.COMMANDS_SUBMITTED) == {"a": 100, "b": 3}
            assert _otel_values(reader, n.COMMANDS_COMPLETED) == {"a": 100, "b": 0}
            assert _otel_values(reader, n.QUEUE_DEPTH) == {"a": 0, "b": 2}
            await asyncio.gather(*(m.submit("a", ok) for _ in range(5)))
            # a reader's export thread hops to the loop for the counts
            completed = await asyncio.to_thread(_otel_values, reader, n.COMMANDS_COMPLETED)
            assert completed["a"] == 105
            gate.set()
        assert _otel_values(reader, n.COMMANDS_COMPLETED) == {"a": 105, "b": 3}
        assert _otel_values(reader, n.QUEUE_ACTIVE) == {"a": 0, "b": 0}

    run(main())
