"""lanecore.metrics: LocalMetrics and its histogram, the Prometheus and OpenTelemetry backends,
AlertManager and QueueMonitor."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import socket
import statistics
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanecore.metrics import (
    BUCKET_COUNT,
    COMMAND_LATENCY_MS,
    COMMAND_WAIT_TIME_MS,
    COMMANDS_COMPLETED,
    COMMANDS_DEAD_LETTERED,
    COMMANDS_FAILED,
    COMMANDS_RETRIED,
    COMMANDS_SUBMITTED,
    COMMANDS_TIMEOUT,
    DEFAULT_MS_BUCKETS,
    HIGHEST_MS,
    LOWEST_MS,
    QUEUE_ACTIVE,
    QUEUE_DEPTH,
    RELATIVE_ERROR,
    Alert,
    AlertKind,
    AlertLevel,
    AlertManager,
    AlertThresholds,
    CollectingBackend,
    CounterHandle,
    FastMetricsBackend,
    GaugeHandle,
    Histogram,
    HistogramHandle,
    LaneInstruments,
    LocalMetrics,
    LoopCollector,
    MetricsBackend,
    MetricsSnapshot,
    MonitorWarning,
    QueueMonitor,
    WarningKind,
)
from lanecore.metrics.histogram import EMPTY_SUMMARY, bucket_bounds, bucket_index
from lanecore.stats import LaneStatus, QueueStats

try:  # numpy cross-checks the exact order statistics when it is installed
    import numpy as np
except ImportError:  # pragma: no cover - numpy is optional for this file
    np = None

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]
PROMPT = {"lane": "prompt"}


def sample(pending: int, active: int) -> QueueStats:
    """A QueueStats with one lane holding everything."""
    lane = LaneStatus("prompt", 5, 5, pending, active, 1, 2, False, False)
    return QueueStats(pending, active, 0, 0, {"prompt": lane})


# -- names and protocol ------------------------------------------------------------------------


def test_metric_names_are_a3s_lanes() -> None:
    counters = (
        COMMANDS_SUBMITTED,
        COMMANDS_COMPLETED,
        COMMANDS_FAILED,
        COMMANDS_TIMEOUT,
        COMMANDS_RETRIED,
        COMMANDS_DEAD_LETTERED,
    )
    kinds = ("submitted", "completed", "failed", "timeout", "retried", "dead_lettered")
    assert counters == tuple(f"lane.commands.{kind}" for kind in kinds)
    assert (QUEUE_DEPTH, QUEUE_ACTIVE) == ("lane.queue.depth", "lane.queue.active")
    assert (COMMAND_LATENCY_MS, COMMAND_WAIT_TIME_MS) == (
        "lane.command.latency_ms",
        "lane.command.wait_time_ms",
    )


def test_local_metrics_implements_the_protocols() -> None:
    m = LocalMetrics()
    assert isinstance(m, MetricsBackend)
    assert isinstance(m, FastMetricsBackend)
    assert isinstance(m.counter("c"), CounterHandle)
    assert isinstance(m.gauge("g"), GaugeHandle)
    assert isinstance(m.histogram("h"), HistogramHandle)
    assert not isinstance(object(), MetricsBackend)


def test_import_pulls_in_no_third_party_module() -> None:
    code = (
        "import sys, lanecore.metrics as m; m.LocalMetrics().snapshot(); "
        "bad = [n for n in sys.modules if n.split('.')[0] in "
        "('prometheus_client', 'opentelemetry', 'numpy', 'hypothesis')]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- LocalMetrics ------------------------------------------------------------------------------


def test_local_counters_gauges_histograms_and_snapshot_lookups() -> None:
    m = LocalMetrics()
    m.increment_counter(COMMANDS_COMPLETED, labels=PROMPT)
    m.increment_counter(COMMANDS_COMPLETED, 4, {"lane": "prompt"})
    m.increment_counter(COMMANDS_COMPLETED, 2, {"lane": "query"})
    m.increment_counter("unlabelled")
    m.set_gauge(QUEUE_DEPTH, 7, PROMPT)
    m.set_gauge(QUEUE_DEPTH, 3.5, PROMPT)
    for v in (1.0, 2.0, 3.0, 4.0):
        m.record_histogram(COMMAND_LATENCY_MS, v, PROMPT)
    snap = m.snapshot()
    assert isinstance(snap, MetricsSnapshot)
    assert snap.counter(COMMANDS_COMPLETED, lane="prompt") == 5
    assert snap.counter(COMMANDS_COMPLETED, lane="query") == 2
    assert snap.counter(COMMANDS_COMPLETED, lane="nope") == 0
    assert snap.counter("unlabelled") == 1
    assert snap.counter_total(COMMANDS_COMPLETED) == 7
    assert snap.label_sets(COMMANDS_COMPLETED) == [(("lane", "prompt"),), (("lane", "query"),)]
    assert snap.gauge(QUEUE_DEPTH, lane="prompt") == 3.5
    assert snap.gauge(QUEUE_DEPTH, lane="query") is None
    summary = snap.histogram(COMMAND_LATENCY_MS, lane="prompt")
    assert summary is not None
    assert (summary.count, summary.sum, summary.min, summary.max, summary.mean) == (
        4,
        10.0,
        1.0,
        4.0,
        2.5,
    )
    assert summary.p50 == pytest.approx(2.0, rel=RELATIVE_ERROR)
    assert summary.p99 == 4.0  # clamped to the exact max
    assert snap.histogram(COMMAND_WAIT_TIME_MS, lane="prompt") is None
    assert snap.counters[(COMMANDS_COMPLETED, (("lane", "prompt"),))] == 5


def test_handles_are_shared_per_series_and_with_the_by_name_api() -> None:
    m = LocalMetrics()
    c = m.counter("c", {"a": "1", "b": "2"})
    assert m.counter("c", {"b": "2", "a": "1"}) is c  # label order does not matter
    assert m.counter("c", {"a": "1"}) is not c
    c.inc()
    c.inc(2)
    m.increment_counter("c", 10, {"b": "2", "a": "1"})
    g = m.gauge("g")
    g.set(5)
    g.inc()
    g.dec(0.5)
    h = m.histogram("h", PROMPT)
    h.record(10.0)
    m.record_histogram("h", 20.0, PROMPT)
    snap = m.snapshot()
    assert snap.counter("c", a="1", b="2") == 13
    assert snap.gauge("g") == 5.5
    assert snap.histogram("h", lane="prompt") == h.summary()
    assert h.count == 2


def test_snapshot_is_frozen_and_detached() -> None:
    m = LocalMetrics()
    c = m.counter("c")
    c.inc()
    snap = m.snapshot()
    c.inc()
    m.counter("new").inc()
    assert snap.counter("c") == 1
    assert snap.counter("new") == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.counters = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.counters[("c", ())] = 5  # type: ignore[index]


def test_reset_zeroes_in_place_and_handles_stay_valid() -> None:
    m = LocalMetrics()
    c, g, h = m.counter("c", PROMPT), m.gauge("g", PROMPT), m.histogram("h", PROMPT)
    c.inc(3)
    g.set(9)
    h.record(5.0)
    m.reset()
    snap = m.snapshot()
    assert snap.counter("c", lane="prompt") == 0
    assert snap.gauge("g", lane="prompt") == 0.0
    assert snap.histogram("h", lane="prompt") == EMPTY_SUMMARY
    c.inc()
    h.record(2.0)
    snap = m.snapshot()
    assert snap.counter("c", lane="prompt") == 1
    summary = snap.histogram("h", lane="prompt")
    assert summary is not None and (summary.count, summary.min, summary.max) == (1, 2.0, 2.0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m.increment_counter("c", -1), ValueError, "-1"),
        (lambda m: m.increment_counter("c", 1.5), TypeError, "1.5"),
        (lambda m: m.increment_counter("c", True), TypeError, "True"),
        (lambda m: m.increment_counter("c", "1"), TypeError, "'1'"),
        (lambda m: m.set_gauge("g", math.nan), ValueError, "nan"),
        (lambda m: m.set_gauge("g", math.inf), ValueError, "inf"),
        (lambda m: m.set_gauge("g", "3"), TypeError, "'3'"),
        (lambda m: m.record_histogram("h", -0.5), ValueError, "-0.5"),
        (lambda m: m.record_histogram("h", math.nan), ValueError, "nan"),
        (lambda m: m.record_histogram("h", math.inf), ValueError, "inf"),
        (lambda m: m.record_histogram("h", None), TypeError, "None"),
        (lambda m: m.increment_counter("", 1), ValueError, "empty"),
        (lambda m: m.increment_counter(5, 1), TypeError, "5"),
        (lambda m: m.increment_counter("c", 1, {"lane": 1}), TypeError, "1"),
        (lambda m: m.increment_counter("c", 1, {"": "x"}), TypeError, "''"),
        (lambda m: m.increment_counter("c", 1, ["lane"]), TypeError, "lane"),
        (lambda m: m.histogram("h").percentile(101), ValueError, "101"),
        (lambda m: m.histogram("h").percentile(math.nan), ValueError, "nan"),
        (lambda m: m.histogram("h").percentile("50"), TypeError, "'50'"),
    ],
)
def test_bad_input_is_rejected_naming_the_value(
    call: Callable[[LocalMetrics], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call(LocalMetrics())


def test_bad_values_do_not_create_series() -> None:
    m = LocalMetrics()
    with pytest.raises(ValueError):
        m.increment_counter("c", -1)
    with pytest.raises(ValueError):
        m.record_histogram("h", -1.0)
    assert m.snapshot() == MetricsSnapshot()  # no series (timestamps are not compared)


def test_one_name_cannot_be_two_kinds() -> None:
    m = LocalMetrics()
    m.increment_counter("x", labels=PROMPT)
    with pytest.raises(ValueError, match="'x' is a counter"):
        m.set_gauge("x", 1.0)
    with pytest.raises(ValueError, match="cannot also be used as a histogram"):
        m.histogram("x", PROMPT)


@pytest.mark.parametrize("value", [-1.0, -1e-300, math.nan, math.inf, -math.inf])
def test_fast_path_record_rejects_bad_values(value: float) -> None:
    h = Histogram()
    with pytest.raises(ValueError, match="finite number >= 0"):
        h.record(value)
    assert h.count == 0


# -- collectors --------------------------------------------------------------------------------


def test_local_metrics_runs_its_collectors_before_each_read() -> None:
    m = LocalMetrics()
    assert isinstance(m, CollectingBackend)
    depth = m.gauge(QUEUE_DEPTH, PROMPT)
    done = m.counter(COMMANDS_COMPLETED, PROMPT)
    calls: list[str] = []

    def collect() -> None:  # what the scheduler's collector does: derive series at read time
        calls.append("collect")
        depth.set(len(calls))
        done.inc(10)

    m.add_collector(collect)
    assert m.snapshot().gauge(QUEUE_DEPTH, lane="prompt") == 1
    assert m.snapshot().counter(COMMANDS_COMPLETED, lane="prompt") == 20
    m.reset()  # collected first, then zeroed: nothing collected before is carried past it
    assert m.snapshot().counter(COMMANDS_COMPLETED, lane="prompt") == 10
    m.collect()
    assert done.value == 20
    m.remove_collector(collect)
    m.snapshot()
    assert len(calls) == 5
    with pytest.raises(ValueError):
        m.remove_collector(collect)
    with pytest.raises(TypeError, match="callable"):
        m.add_collector(42)  # type: ignore[arg-type]


def test_a_raising_collector_is_logged_and_the_read_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = LocalMetrics()
    m.increment_counter(COMMANDS_SUBMITTED, 3, PROMPT)

    def broken() -> None:
        raise RuntimeError("collector down")

    m.add_collector(broken)
    m.add_collector(lambda: m.set_gauge(QUEUE_DEPTH, 2, PROMPT))
    with caplog.at_level(logging.ERROR, logger="lanecore"):
        snap = m.snapshot()
    assert snap.counter(COMMANDS_SUBMITTED, lane="prompt") == 3
    assert snap.gauge(QUEUE_DEPTH, lane="prompt") == 2  # the next collector still ran
    assert "collector down" in caplog.text


def test_loop_collector_runs_on_the_loop_thread(run: Run[None]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        threads: list[int] = []
        collector = LoopCollector(lambda: threads.append(threading.get_ident()), loop)
        assert collector() is True  # on the loop's thread: called directly
        assert await asyncio.to_thread(collector) is True  # from another: hops to the loop
        assert threads == [threading.get_ident()] * 2

        def broken() -> None:
            raise RuntimeError("in the loop")

        with pytest.raises(RuntimeError, match="in the loop"):  # raised in the reading thread
            await asyncio.to_thread(LoopCollector(broken, loop))

    run(main())


def test_loop_collector_gives_up_on_a_blocked_loop(run: Run[None]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        calls: list[str] = []
        collector = LoopCollector(lambda: calls.append("ran"), loop, timeout=0.05)
        answers: list[bool] = []

        def read_twice() -> None:
            answers.append(collector())  # the loop is blocked in join(): times out
            answers.append(collector())  # the first hop is still unanswered: no second wait

        reader = threading.Thread(target=read_twice)
        reader.start()
        reader.join()
        assert answers == [False, False]
        assert calls == []
        await asyncio.sleep(0)  # the loop is free: the late call runs, once
        assert calls == ["ran"]
        assert await asyncio.to_thread(collector) is True  # and hops work again
        assert calls == ["ran", "ran"]

    run(main())


def test_loop_collector_skips_a_loop_that_is_not_running() -> None:
    loop = asyncio.new_event_loop()
    try:
        calls: list[str] = []
        collector = LoopCollector(lambda: calls.append("ran"), loop)
        assert collector() is True  # made on this thread: runs here
        answers: list[bool] = []
        reader = threading.Thread(target=lambda: answers.append(collector()))
        reader.start()
        reader.join()
        assert answers == [False]
        assert calls == ["ran"]
    finally:
        loop.close()


# -- histogram buckets and accuracy ------------------------------------------------------------


def test_bucket_layout_covers_one_microsecond_to_one_hour() -> None:
    assert BUCKET_COUNT == 1026
    assert LOWEST_MS <= 0.001 and HIGHEST_MS >= 3_600_000
    assert bucket_bounds(0) == (0.0, LOWEST_MS)
    assert bucket_bounds(BUCKET_COUNT - 1) == (HIGHEST_MS, math.inf)
    for i in range(BUCKET_COUNT - 1):
        assert bucket_bounds(i)[1] == pytest.approx(bucket_bounds(i + 1)[0], rel=1e-12)
    assert bucket_bounds(BUCKET_COUNT - 2)[1] == pytest.approx(HIGHEST_MS, rel=1e-12)
    assert math.isclose(RELATIVE_ERROR, 2 ** (1 / 64) - 1) and RELATIVE_ERROR < 0.011
    with pytest.raises(ValueError, match="1026"):
        bucket_bounds(BUCKET_COUNT)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0.0, max_value=1e9, allow_nan=False))
def test_record_lands_in_the_bucket_that_holds_the_value(value: float) -> None:
    h = Histogram()
    h.record(value)
    counts = h.bucket_counts()
    index = counts.index(1)
    assert index == bucket_index(value)
    low, high = bucket_bounds(index)
    assert low * (1 - 1e-12) <= value < high * (1 + 1e-12)


def _check_percentiles(data: list[float]) -> None:
    """Every summary percentile within the documented bound of the exact order statistic:
    rank ceil(p/100 * n), i.e. numpy's method="inverted_cdf" (and statistics.median_low for
    p50)."""
    h = Histogram()
    for v in data:
        h.record(v)
    s = h.summary()
    ordered = sorted(data)
    n = len(data)
    assert s.count == n
    assert (s.min, s.max) == (ordered[0], ordered[-1])
    assert s.mean == pytest.approx(statistics.fmean(data), rel=1e-9, abs=1e-12)
    exact = {p: ordered[max(1, -(-p * n // 100)) - 1] for p in (50, 90, 95, 99)}
    assert exact[50] == statistics.median_low(data)
    if np is not None:
        arr = np.asarray(data)
        for p, value in exact.items():
            assert float(np.percentile(arr, p, method="inverted_cdf")) == value
    for p, estimate in zip((50, 90, 95, 99), (s.p50, s.p90, s.p95, s.p99), strict=True):
        truth = exact[p]
        bound = truth * RELATIVE_ERROR * (1 + 1e-9) if truth >= LOWEST_MS else LOWEST_MS / 2
        assert abs(estimate - truth) <= bound, (p, estimate, truth)
        assert h.percentile(p) == estimate


# log-uniform over the whole tracked range, so every octave gets exercised
tracked = st.floats(min_value=math.log2(LOWEST_MS), max_value=21.999).map(lambda e: 2.0**e)


@settings(max_examples=200, deadline=None)
@given(st.lists(tracked, min_size=1, max_size=400))
def test_percentiles_within_relative_error_of_exact_order_statistics(data: list[float]) -> None:
    _check_percentiles(data)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(min_value=0.0, max_value=LOWEST_MS, exclude_max=True), tracked),
        min_size=1,
        max_size=200,
    )
)
def test_percentiles_of_sub_microsecond_values_within_half_a_microsecond(
    data: list[float],
) -> None:
    _check_percentiles(data)


def test_percentiles_of_a_large_lognormal_sample() -> None:
    rng = random.Random(7)
    data = [min(max(rng.lognormvariate(3.0, 2.0), LOWEST_MS), HIGHEST_MS / 2) for _ in range(10**5)]
    _check_percentiles(data)


def test_values_past_the_top_bucket_report_the_max() -> None:
    h = Histogram()
    for v in (1.0, 2.0 * HIGHEST_MS, 3.0 * HIGHEST_MS):
        h.record(v)
    assert h.bucket_counts()[-1] == 2
    assert h.summary().p99 == 3.0 * HIGHEST_MS
    assert h.percentile(0) == 1.0 and h.percentile(100) == 3.0 * HIGHEST_MS


def test_empty_histogram_summary_is_zero() -> None:
    h = Histogram()
    assert h.summary() == EMPTY_SUMMARY
    assert h.percentile(99) == 0.0
    assert h.count == 0


def test_histogram_memory_is_bounded() -> None:
    h = LocalMetrics().histogram(COMMAND_LATENCY_MS, PROMPT)
    buckets_before = h.bucket_count
    size_before = sys.getsizeof(h) + sys.getsizeof(h._buckets)
    rng = random.Random(1)
    values = [rng.expovariate(1 / 50.0) for _ in range(10_000)]
    record = h.record
    for _ in range(100):  # 1M records
        for v in values:
            record(v)
    assert h.count == 1_000_000
    assert h.bucket_count == buckets_before == BUCKET_COUNT
    assert sys.getsizeof(h) + sys.getsizeof(h._buckets) == size_before
    assert h.summary().p50 == pytest.approx(50.0 * math.log(2), rel=0.02)


# -- LaneInstruments ---------------------------------------------------------------------------


def test_lane_instruments_bundle_the_series_of_a_lane() -> None:
    m = LocalMetrics()
    inst = LaneInstruments.for_lane(m, "prompt")
    inst.submitted.inc()
    inst.submitted.inc()
    inst.completed.inc()
    inst.failed.inc()
    inst.timeout.inc()
    inst.retried.inc()
    inst.dead_lettered.inc()
    inst.depth.set(4)
    inst.active.set(2)
    inst.latency_ms.record(12.0)
    inst.wait_time_ms.record(3.0)
    snap = m.snapshot()
    assert snap.counter(COMMANDS_SUBMITTED, lane="prompt") == 2
    for name in (COMMANDS_COMPLETED, COMMANDS_FAILED, COMMANDS_TIMEOUT, COMMANDS_RETRIED):
        assert snap.counter(name, lane="prompt") == 1
    assert snap.counter(COMMANDS_DEAD_LETTERED, lane="prompt") == 1
    assert (snap.gauge(QUEUE_DEPTH, lane="prompt"), snap.gauge(QUEUE_ACTIVE, lane="prompt")) == (
        4,
        2,
    )
    latency = snap.histogram(COMMAND_LATENCY_MS, lane="prompt")
    wait = snap.histogram(COMMAND_WAIT_TIME_MS, lane="prompt")
    assert latency is not None and latency.max == 12.0
    assert wait is not None and wait.max == 3.0
    assert LaneInstruments.for_lane(m, "prompt").completed is inst.completed


# -- Prometheus --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(registry: Any) -> str:
    prometheus_client = pytest.importorskip("prometheus_client")
    port = _free_port()
    started = prometheus_client.start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    finally:
        if isinstance(started, tuple):  # prometheus-client >= 0.20 returns (server, thread)
            server, thread = started
            server.shutdown()
            server.server_close()
            thread.join(5)


def test_prometheus_names() -> None:
    pytest.importorskip("prometheus_client")
    from lanecore.metrics.prometheus import prometheus_name

    assert prometheus_name(COMMANDS_SUBMITTED, "counter") == "lane_commands_submitted_total"
    assert prometheus_name(QUEUE_DEPTH, "gauge") == "lane_queue_depth"
    assert prometheus_name(COMMAND_LATENCY_MS, "histogram") == "lane_command_latency_ms"
    assert prometheus_name("9-lives", "gauge") == "_9_lives"


def test_prometheus_backend_is_scraped_over_http() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from lanecore.metrics import PrometheusMetrics

    registry = prometheus_client.CollectorRegistry()
    m = PrometheusMetrics(registry)
    assert isinstance(m, FastMetricsBackend) and m.registry is registry
    m.increment_counter(COMMANDS_SUBMITTED, 2, PROMPT)
    m.counter(COMMANDS_SUBMITTED, PROMPT).inc()
    m.increment_counter(COMMANDS_SUBMITTED, 1, {"lane": "query"})
    m.set_gauge(QUEUE_DEPTH, 7, PROMPT)
    for v in (0.3, 4.0, 20.0, 20.0, 700.0):
        m.record_histogram(COMMAND_LATENCY_MS, v, PROMPT)
    text = _scrape(registry)
    lines = set(text.splitlines())
    assert "# TYPE lane_commands_submitted_total counter" in lines
    assert 'lane_commands_submitted_total{lane="prompt"} 3.0' in lines
    assert 'lane_commands_submitted_total{lane="query"} 1.0' in lines
    assert "# TYPE lane_queue_depth gauge" in lines
    assert 'lane_queue_depth{lane="prompt"} 7.0' in lines
    assert "# TYPE lane_command_latency_ms histogram" in lines
    assert 'lane_command_latency_ms_bucket{lane="prompt",le="0.5"} 1.0' in lines
    assert 'lane_command_latency_ms_bucket{lane="prompt",le="5.0"} 2.0' in lines
    assert 'lane_command_latency_ms_bucket{lane="prompt",le="25.0"} 4.0' in lines
    assert 'lane_command_latency_ms_bucket{lane="prompt",le="+Inf"} 5.0' in lines
    assert 'lane_command_latency_ms_count{lane="prompt"} 5.0' in lines
    assert 'lane_command_latency_ms_sum{lane="prompt"} 744.3' in lines
    assert len([ln for ln in lines if ln.startswith("lane_command_latency_ms_bucket")]) == (
        len(DEFAULT_MS_BUCKETS) + 1
    )
    snap = m.snapshot()  # the shadow answers with percentiles
    assert snap.counter(COMMANDS_SUBMITTED, lane="prompt") == 3
    summary = snap.histogram(COMMAND_LATENCY_MS, lane="prompt")
    assert summary is not None and summary.count == 5
    assert summary.p50 == pytest.approx(20.0, rel=RELATIVE_ERROR)
    assert summary.p99 == 700.0


def test_prometheus_reset_zeroes_the_registry_and_keeps_handles() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from lanecore.metrics import PrometheusMetrics

    registry = prometheus_client.CollectorRegistry()
    m = PrometheusMetrics(registry, namespace="app")
    c, h = m.counter(COMMANDS_COMPLETED, PROMPT), m.histogram(COMMAND_LATENCY_MS, PROMPT)
    g = m.gauge("plain")
    c.inc(5)
    h.record(3.0)
    g.set(2)
    m.reset()
    value = registry.get_sample_value
    assert value("app_lane_commands_completed_total", PROMPT) == 0.0
    assert value("app_lane_command_latency_ms_count", PROMPT) == 0.0
    assert value("app_plain") == 0.0
    c.inc()
    h.record(3.0)
    g.set(4)
    assert value("app_lane_commands_completed_total", PROMPT) == 1.0
    assert value("app_lane_command_latency_ms_count", PROMPT) == 1.0
    assert value("app_plain") == 4.0
    assert m.snapshot().counter(COMMANDS_COMPLETED, lane="prompt") == 1


def test_prometheus_rejects_inconsistent_use() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from lanecore.metrics import PrometheusMetrics

    m = PrometheusMetrics(prometheus_client.CollectorRegistry())
    m.increment_counter(COMMANDS_FAILED, labels=PROMPT)
    with pytest.raises(ValueError, match=r"label names \['lane'\], got \['lane', 'x'\]"):
        m.increment_counter(COMMANDS_FAILED, labels={"lane": "a", "x": "b"})
    with pytest.raises(ValueError, match="is a counter"):
        m.set_gauge(COMMANDS_FAILED, 1, PROMPT)
    with pytest.raises(ValueError, match="finite number >= 0"):
        m.record_histogram(COMMAND_LATENCY_MS, -1.0, PROMPT)
    with pytest.raises(ValueError, match="-3"):
        m.increment_counter(COMMANDS_FAILED, -3, PROMPT)
    with pytest.raises(ValueError, match="strictly increasing"):
        PrometheusMetrics(prometheus_client.CollectorRegistry(), buckets=[1.0, 1.0])
    assert m.snapshot().counter_total(COMMANDS_FAILED) == 1


def test_prometheus_scrape_runs_the_collectors_from_any_thread() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from lanecore.metrics import PrometheusMetrics

    registry = prometheus_client.CollectorRegistry()
    m = PrometheusMetrics(registry)
    assert isinstance(m, CollectingBackend)
    done = m.counter(COMMANDS_COMPLETED, PROMPT)
    depth = m.gauge(QUEUE_DEPTH, PROMPT)
    threads: list[int] = []

    def collect() -> None:
        threads.append(threading.get_ident())
        done.inc()
        depth.set(len(threads))

    m.add_collector(collect)
    text = _scrape(registry)  # served by prometheus_client's HTTP thread
    assert 'lane_commands_completed_total{lane="prompt"} 1.0' in text.splitlines()
    assert 'lane_queue_depth{lane="prompt"} 1.0' in text.splitlines()
    assert threads[0] != threading.get_ident()
    assert registry.get_sample_value("lane_queue_depth", PROMPT) == 2.0
    assert m.snapshot().counter(COMMANDS_COMPLETED, lane="prompt") == 3
    m.remove_collector(collect)
    assert registry.get_sample_value("lane_queue_depth", PROMPT) == 3.0
    assert len(threads) == 3


def test_prometheus_names_stay_unique_in_a_registry() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from lanecore.metrics import PrometheusMetrics

    registry = prometheus_client.CollectorRegistry()
    first, second = PrometheusMetrics(registry), PrometheusMetrics(registry)
    first.increment_counter(COMMANDS_SUBMITTED, 2, PROMPT)
    with pytest.raises(ValueError, match="lane_commands_submitted_total"):
        second.counter(COMMANDS_SUBMITTED, PROMPT)
    second.set_gauge(QUEUE_DEPTH, 5, PROMPT)  # other names are fine
    with pytest.raises(ValueError, match="__reserved"):
        first.increment_counter(COMMANDS_FAILED, labels={"__reserved": "x"})
    text = prometheus_client.generate_latest(registry).decode()
    assert 'lane_commands_submitted_total{lane="prompt"} 2.0' in text.splitlines()
    assert 'lane_queue_depth{lane="prompt"} 5.0' in text.splitlines()
    assert "lane_commands_failed" not in text
    only = registry.restricted_registry(["lane_queue_depth"])
    assert prometheus_client.generate_latest(only).decode().count("lane_queue_depth{") == 1


def test_prometheus_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from lanecore.metrics.prometheus import PrometheusMetrics

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"lanecore\[prometheus\]"):
        PrometheusMetrics()


# -- OpenTelemetry -----------------------------------------------------------------------------


def _otel_points(reader: Any) -> dict[str, list[Any]]:
    """Exported data points by metric name."""
    points: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "lanecore"
            for metric in sm.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def test_otel_backend_exports_to_an_in_memory_reader() -> None:
    pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from lanecore.metrics import OpenTelemetryMetrics

    reader = InMemoryMetricReader()
    m = OpenTelemetryMetrics(MeterProvider(metric_readers=[reader]))
    assert isinstance(m, FastMetricsBackend)
    m.increment_counter(COMMANDS_SUBMITTED, 2, PROMPT)
    m.counter(COMMANDS_SUBMITTED, PROMPT).inc()
    m.increment_counter(COMMANDS_SUBMITTED, 1, {"lane": "query"})
    m.set_gauge(QUEUE_DEPTH, 7, PROMPT)
    m.gauge(QUEUE_DEPTH, {"lane": "query"}).set(1)
    for v in (0.3, 4.0, 20.0, 20.0, 700.0):
        m.histogram(COMMAND_LATENCY_MS, PROMPT).record(v)
    points = _otel_points(reader)
    counts = {p.attributes["lane"]: p.value for p in points[COMMANDS_SUBMITTED]}
    assert counts == {"prompt": 3, "query": 1}
    depths = {p.attributes["lane"]: p.value for p in points[QUEUE_DEPTH]}
    assert depths == {"prompt": 7, "query": 1}
    (latency,) = points[COMMAND_LATENCY_MS]
    assert dict(latency.attributes) == PROMPT
    assert (latency.count, latency.sum, latency.min, latency.max) == (5, 744.3, 0.3, 700.0)
    assert tuple(latency.explicit_bounds) == DEFAULT_MS_BUCKETS
    assert sum(latency.bucket_counts) == 5
    assert latency.bucket_counts[list(DEFAULT_MS_BUCKETS).index(25.0)] == 2  # (10, 25]
    summary = m.snapshot().histogram(COMMAND_LATENCY_MS, lane="prompt")
    assert summary is not None and summary.p50 == pytest.approx(20.0, rel=RELATIVE_ERROR)

    m.reset()  # the shadow and the gauges; OTel sums stay cumulative
    assert m.snapshot().counter(COMMANDS_SUBMITTED, lane="prompt") == 0
    points = _otel_points(reader)
    assert {p.value for p in points[QUEUE_DEPTH]} == {0.0}
    assert {p.attributes["lane"]: p.value for p in points[COMMANDS_SUBMITTED]}["prompt"] == 3


def test_otel_collection_runs_the_collectors() -> None:
    pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from lanecore.metrics import OpenTelemetryMetrics

    reader = InMemoryMetricReader()
    m = OpenTelemetryMetrics(MeterProvider(metric_readers=[reader]))
    assert isinstance(m, CollectingBackend)
    done, depth = m.counter(COMMANDS_COMPLETED, PROMPT), m.gauge(QUEUE_DEPTH, PROMPT)
    source = {"completed": 4, "depth": 9}  # counts kept elsewhere, as the core keeps them
    seen = {"completed": 0}

    def collect() -> None:  # derives the series from the source, like the scheduler's
        done.inc(source["completed"] - seen["completed"])
        seen["completed"] = source["completed"]
        depth.set(source["depth"])

    m.add_collector(collect)
    points = _otel_points(reader)
    assert [p.value for p in points[COMMANDS_COMPLETED]] == [4]
    assert [p.value for p in points[QUEUE_DEPTH]] == [9]
    source.update(completed=6, depth=1)
    points = _otel_points(reader)
    assert [p.value for p in points[COMMANDS_COMPLETED]] == [6]
    assert [p.value for p in points[QUEUE_DEPTH]] == [1]
    m.remove_collector(collect)
    source.update(completed=50)
    m.reset()  # the exported counter stays cumulative
    m.counter(COMMANDS_COMPLETED, PROMPT).inc()
    assert [p.value for p in _otel_points(reader)[COMMANDS_COMPLETED]] == [7]
    assert m.snapshot().counter(COMMANDS_COMPLETED, lane="prompt") == 1


def test_otel_default_provider_and_bad_use() -> None:
    pytest.importorskip("opentelemetry.metrics")
    from lanecore.metrics import OpenTelemetryMetrics

    m = OpenTelemetryMetrics()  # the global provider (a no-op unless configured)
    m.increment_counter(COMMANDS_RETRIED, labels=PROMPT)
    m.record_histogram(COMMAND_WAIT_TIME_MS, 1.5, PROMPT)
    assert m.snapshot().counter(COMMANDS_RETRIED, lane="prompt") == 1
    with pytest.raises(ValueError, match="is a counter"):
        m.histogram(COMMANDS_RETRIED)
    with pytest.raises(ValueError, match="nan"):
        m.record_histogram(COMMAND_WAIT_TIME_MS, math.nan, PROMPT)


def test_otel_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from lanecore.metrics.otel import OpenTelemetryMetrics

    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"lanecore\[otel\]"):
        OpenTelemetryMetrics()


# -- AlertManager ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"depth_warning": 0}, ValueError, "depth_warning must be >= 1, got 0"),
        ({"depth_critical": -5}, ValueError, "depth_critical.*-5"),
        ({"depth_warning": 1.5}, TypeError, "depth_warning.*1.5"),
        ({"depth_warning": True}, TypeError, "depth_warning.*True"),
        ({"latency_warning_ms": 0}, ValueError, "latency_warning_ms must be > 0, got 0"),
        ({"latency_critical_ms": math.nan}, ValueError, "latency_critical_ms.*nan"),
        ({"latency_critical_ms": "9"}, TypeError, "latency_critical_ms.*'9'"),
        (
            {"depth_warning": 20, "depth_critical": 10},
            ValueError,
            r"depth_warning \(20\) must be <= depth_critical \(10\)",
        ),
        (
            {"latency_warning_ms": 5.0, "latency_critical_ms": 1.0},
            ValueError,
            r"latency_warning_ms \(5.0\) must be <= latency_critical_ms \(1.0\)",
        ),
    ],
)
def test_alert_thresholds_are_validated(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        AlertThresholds(**kwargs)


def test_alert_thresholds_accept_equal_levels_and_none() -> None:
    AlertThresholds(5, 5, 1.0, 1.0)
    AlertThresholds(depth_critical=5)
    AlertThresholds()


def test_alerts_fire_on_crossing_and_rearm_below() -> None:
    alerts = AlertManager(AlertThresholds(depth_warning=10, depth_critical=20))
    fired: list[Alert] = []
    alerts.on_alert(fired.append)
    for depth in (5, 10, 12, 10, 20, 25, 15, 21, 30, 3, 11, 9, 10):
        alerts.check_depth("prompt", depth)
    assert [(a.level, a.value, a.threshold) for a in fired] == [
        (AlertLevel.WARNING, 10, 10),
        (AlertLevel.CRITICAL, 20, 20),
        (AlertLevel.CRITICAL, 21, 20),  # fell below critical at 15, crossed again
        (AlertLevel.WARNING, 11, 10),  # fell below warning at 3
        (AlertLevel.WARNING, 10, 10),  # fell below at 9
    ]
    assert all(a.kind is AlertKind.QUEUE_DEPTH and a.lane_id == "prompt" for a in fired)
    assert all(a.timestamp > 0 for a in fired)
    assert alerts.alerts_fired == 5
    assert alerts.level("prompt", AlertKind.QUEUE_DEPTH) is AlertLevel.WARNING
    assert alerts.level("other", AlertKind.QUEUE_DEPTH) is None


def test_jumping_to_critical_fires_one_alert_and_returns_it() -> None:
    alerts = AlertManager(AlertThresholds(latency_warning_ms=100.0, latency_critical_ms=1000.0))
    fired: list[Alert] = []
    alerts.on_alert(fired.append)
    assert alerts.check_latency("llm", 50.0) is None
    alert = alerts.check_latency("llm", 5000.0)
    assert fired == [alert]
    assert alert is not None and alert.kind is AlertKind.LATENCY
    assert (alert.level, alert.value, alert.threshold) == (AlertLevel.CRITICAL, 5000.0, 1000.0)
    assert alerts.check_latency("llm", 200.0) is None  # down to warning: re-arms critical only
    assert alerts.level("llm", AlertKind.LATENCY) is AlertLevel.WARNING


def test_alert_hysteresis() -> None:
    alerts = AlertManager(AlertThresholds(depth_warning=10), hysteresis=0.2)
    levels = [alerts.check_depth("q", d) is not None for d in (10, 9, 8, 10, 7, 10)]
    assert levels == [True, False, False, False, False, True]  # re-armed only below 8
    with pytest.raises(ValueError, match=r"hysteresis.*1\.0"):
        AlertManager(hysteresis=1.0)


def test_per_lane_thresholds_override_global() -> None:
    alerts = AlertManager(
        AlertThresholds(depth_warning=100), lanes={"prompt": AlertThresholds(depth_warning=5)}
    )
    assert alerts.check_depth("prompt", 6) is not None
    assert alerts.check_depth("query", 6) is None
    assert alerts.check_depth("query", 100) is not None
    alerts.set_thresholds(None, lane_id="prompt")  # back to the global ones, re-armed
    assert alerts.thresholds_for("prompt") == AlertThresholds(depth_warning=100)
    assert alerts.check_depth("prompt", 50) is None
    alerts.set_thresholds(None)  # no thresholds at all: nothing fires
    assert alerts.check_depth("query", 10_000) is None
    assert AlertManager().check_latency("x", 1e9) is None
    with pytest.raises(TypeError, match="AlertThresholds"):
        alerts.set_thresholds({"depth_warning": 1})  # type: ignore[arg-type]


def test_alert_check_validates_values() -> None:
    alerts = AlertManager(AlertThresholds(depth_warning=10, latency_warning_ms=10.0))
    with pytest.raises(ValueError, match="-1"):
        alerts.check_depth("prompt", -1)
    with pytest.raises(ValueError, match="nan"):
        alerts.check_latency("prompt", math.nan)
    with pytest.raises(TypeError, match="lane_id"):
        alerts.check_depth(3, 50)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        alerts.on_alert("not callable")  # type: ignore[arg-type]


def test_a_raising_callback_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alerts = AlertManager(AlertThresholds(depth_warning=1))
    seen: list[Alert] = []

    def broken(alert: Alert) -> None:
        raise RuntimeError("callback bug")

    alerts.on_alert(broken)
    alerts.on_alert(seen.append)
    with caplog.at_level(logging.WARNING, logger="lanecore"):
        alert = alerts.check_depth("prompt", 5)
    assert seen == [alert]
    errors = [r for r in caplog.records if r.name == "lanecore" and r.exc_info]
    assert len(errors) == 1 and "callback bug" in str(errors[0].exc_info)
    assert any("warning alert on lane 'prompt'" in r.getMessage() for r in caplog.records)
    alerts.remove_callback(broken)
    caplog.clear()
    alerts.check_depth("prompt", 0)
    alerts.check_depth("prompt", 5)
    assert len(seen) == 2 and not any(r.exc_info for r in caplog.records)


def test_async_callbacks_run_on_the_loop(run: Run[None], caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertManager(AlertThresholds(depth_warning=1))
    seen: list[Alert] = []

    @alerts.on_alert
    async def record(alert: Alert) -> None:
        await asyncio.sleep(0)
        seen.append(alert)

    @alerts.on_alert
    async def broken(alert: Alert) -> None:
        raise RuntimeError("async callback bug")

    async def main() -> None:
        alert = alerts.check_depth("prompt", 3)
        assert seen == []  # scheduled, not awaited inline
        for _ in range(5):
            await asyncio.sleep(0)
        assert seen == [alert]

    with caplog.at_level(logging.ERROR, logger="lanecore"):
        run(main())
    assert any("async callback bug" in str(r.exc_info) for r in caplog.records)


def test_async_callback_without_a_loop_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertManager(AlertThresholds(depth_warning=1))

    async def cb(alert: Alert) -> None:
        raise AssertionError("must not run")

    alerts.on_alert(cb)
    with caplog.at_level(logging.WARNING, logger="lanecore"):
        assert alerts.check_depth("prompt", 3) is not None
    assert any("no running event loop" in r.getMessage() for r in caplog.records)


# -- QueueMonitor ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"interval": 0}, ValueError, "interval.*0"),
        ({"interval": -1.0}, ValueError, "interval.*-1.0"),
        ({"interval": math.nan}, ValueError, "interval.*nan"),
        ({"interval": "1"}, TypeError, "interval.*'1'"),
        ({"pending_warning_threshold": 0}, ValueError, "pending_warning_threshold.*0"),
        ({"active_warning_threshold": -2}, ValueError, "active_warning_threshold.*-2"),
        ({"active_warning_threshold": 2.5}, TypeError, "active_warning_threshold.*2.5"),
    ],
)
def test_monitor_arguments_are_validated(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        QueueMonitor(lambda: sample(0, 0), **kwargs)


def test_monitor_source_must_be_callable_or_have_stats() -> None:
    with pytest.raises(TypeError, match=r"source.*42"):
        QueueMonitor(42)  # type: ignore[arg-type]


def test_monitor_check_tracks_last_peaks_and_warnings(caplog: pytest.LogCaptureFixture) -> None:
    samples = iter([sample(3, 1), sample(11, 2), sample(10, 5), sample(4, 6)])
    monitor = QueueMonitor(
        lambda: next(samples), pending_warning_threshold=10, active_warning_threshold=5
    )
    assert monitor.stats().samples == 0 and monitor.last is None
    warnings: list[MonitorWarning] = []
    seen: list[Any] = []
    monitor.on_warning(warnings.append)
    monitor.on_sample(seen.append)
    with caplog.at_level(logging.WARNING, logger="lanecore"):
        for _ in range(4):
            monitor.check()
    stats = monitor.stats()
    assert (stats.samples, stats.total_pending, stats.total_active) == (4, 4, 6)
    assert (stats.peak_pending, stats.peak_active, stats.warnings_emitted) == (11, 6, 2)
    assert stats.errors == 0 and stats.last_sample_at is not None
    assert monitor.last == sample(4, 6) and len(seen) == 4
    # strictly above the threshold warns (11 > 10, 6 > 5); equal (10, 5) does not
    assert [(w.kind, w.value, w.threshold) for w in warnings] == [
        (WarningKind.PENDING, 11, 10),
        (WarningKind.ACTIVE, 6, 5),
    ]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == [
        "lanecore: high number of pending commands: 11 (threshold: 10)",
        "lanecore: high number of active commands: 6 (threshold: 5)",
    ]


def test_monitor_reads_a_queue_manager() -> None:
    from lanecore import QueueManagerBuilder

    manager = QueueManagerBuilder().with_default_lanes().build()
    monitor = QueueMonitor(manager, interval=1)
    stats = monitor.check()
    assert stats.total_pending == 0 and "prompt" in stats.lanes
    assert monitor.stats().samples == 1


def test_monitor_samples_periodically(run: Run[None]) -> None:
    pending = 0

    def source() -> QueueStats:
        nonlocal pending
        pending += 1
        return sample(pending, 0)

    monitor = QueueMonitor(source, interval=0.01, pending_warning_threshold=3)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with monitor:
            assert monitor.running
            await monitor.start()  # no-op while running
            await asyncio.sleep(0.055)
        elapsed = loop.time() - started
        assert not monitor.running
        taken = monitor.stats().samples
        assert 2 <= taken <= elapsed / 0.01 + 2  # one at start, then one per interval
        await asyncio.sleep(0.03)
        assert monitor.stats().samples == taken  # stopped means stopped
        await monitor.stop()  # no-op when stopped
        await monitor.start()  # and it can start again
        await asyncio.sleep(0)
        await monitor.stop()
        assert monitor.stats().samples == taken + 1

    run(main())
    stats = monitor.stats()
    assert stats.warnings_emitted == stats.samples - 3
    assert stats.peak_pending == stats.total_pending == stats.samples


def test_monitor_survives_a_failing_source(
    run: Run[None], caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def flaky() -> QueueStats:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise RuntimeError("stats unavailable")
        return sample(1, 1)

    monitor = QueueMonitor(flaky, interval=0.005)

    async def main() -> None:
        async with monitor, asyncio.timeout(5):
            while calls < 4:
                await asyncio.sleep(0.005)

    with caplog.at_level(logging.ERROR, logger="lanecore"):
        run(main())
    stats = monitor.stats()
    assert stats.errors >= 2 and stats.samples >= 2
    assert any("stats unavailable" in str(r.exc_info) for r in caplog.records)
