"""lanecore.metrics: counters, gauges and latency histograms of the lanes (SPEC §9), alerts and
a periodic queue monitor.

``LocalMetrics`` is the in-process backend; ``PrometheusMetrics`` (extra ``prometheus``) and
``OpenTelemetryMetrics`` (extra ``otel``) export the same series; they import their client
library only when constructed, so ``import lanecore.metrics`` needs nothing outside the
standard library. All three are CollectingBackends: the scheduler's counters and gauges are
computed when the backend is read (snapshot, scrape, export), never pushed on a timer.
Record, and use alerts and monitors, from the thread running the event loop; a backend may be
read (snapshot, scrape, export) from any thread.
"""

from __future__ import annotations

from lanecore.metrics._buckets import DEFAULT_MS_BUCKETS
from lanecore.metrics._validate import Labels, LabelsKey, SeriesKey
from lanecore.metrics.alerts import Alert, AlertKind, AlertLevel, AlertManager, AlertThresholds
from lanecore.metrics.collectors import READ_TIMEOUT, Collector, LoopCollector
from lanecore.metrics.histogram import (
    BUCKET_COUNT,
    HIGHEST_MS,
    LOWEST_MS,
    RELATIVE_ERROR,
    Histogram,
    HistogramSummary,
)
from lanecore.metrics.instruments import LaneInstruments
from lanecore.metrics.local import Counter, Gauge, LocalMetrics
from lanecore.metrics.monitor import MonitorStats, MonitorWarning, QueueMonitor, WarningKind
from lanecore.metrics.names import (
    COMMAND_LATENCY_MS,
    COMMAND_WAIT_TIME_MS,
    COMMANDS_COMPLETED,
    COMMANDS_DEAD_LETTERED,
    COMMANDS_FAILED,
    COMMANDS_RETRIED,
    COMMANDS_SUBMITTED,
    COMMANDS_TIMEOUT,
    LANE_LABEL,
    QUEUE_ACTIVE,
    QUEUE_DEPTH,
)
from lanecore.metrics.otel import OpenTelemetryMetrics
from lanecore.metrics.prometheus import PrometheusMetrics
from lanecore.metrics.protocol import (
    CollectingBackend,
    CounterHandle,
    FastMetricsBackend,
    GaugeHandle,
    HistogramHandle,
    MetricsBackend,
)
from lanecore.metrics.snapshot import MetricsSnapshot

__all__ = [
    "BUCKET_COUNT",
    "COMMANDS_COMPLETED",
    "COMMANDS_DEAD_LETTERED",
    "COMMANDS_FAILED",
    "COMMANDS_RETRIED",
    "COMMANDS_SUBMITTED",
    "COMMANDS_TIMEOUT",
    "COMMAND_LATENCY_MS",
    "COMMAND_WAIT_TIME_MS",
    "DEFAULT_MS_BUCKETS",
    "HIGHEST_MS",
    "LANE_LABEL",
    "LOWEST_MS",
    "QUEUE_ACTIVE",
    "QUEUE_DEPTH",
    "READ_TIMEOUT",
    "RELATIVE_ERROR",
    "Alert",
    "AlertKind",
    "AlertLevel",
    "AlertManager",
    "AlertThresholds",
    "CollectingBackend",
    "Collector",
    "Counter",
    "CounterHandle",
    "FastMetricsBackend",
    "Gauge",
    "GaugeHandle",
    "Histogram",
    "HistogramHandle",
    "HistogramSummary",
    "Labels",
    "LabelsKey",
    "LaneInstruments",
    "LocalMetrics",
    "LoopCollector",
    "MetricsBackend",
    "MetricsSnapshot",
    "MonitorStats",
    "MonitorWarning",
    "OpenTelemetryMetrics",
    "PrometheusMetrics",
    "QueueMonitor",
    "SeriesKey",
    "WarningKind",
]
