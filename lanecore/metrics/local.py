"""LocalMetrics: the in-process backend, cheap enough for the scheduler's hot path.

Counters and gauges are plain objects with one numeric slot, histograms are fixed-size bucket
arrays (see lanecore.metrics.histogram); series live in dicts keyed by (name, sorted labels).
Handles returned by ``counter()``/``gauge()``/``histogram()`` record with one method call.

Not thread-safe: like QueueManager, use it from the thread running the event loop.
"""

from __future__ import annotations

from typing import Final, Literal

from lanecore.metrics._byname import ByNameRecording
from lanecore.metrics._validate import (
    Labels,
    SeriesKey,
    check_name,
    labels_key,
)
from lanecore.metrics.histogram import Histogram
from lanecore.metrics.snapshot import MetricsSnapshot

Kind = Literal["counter", "gauge", "histogram"]


class Counter:
    """One counter series; ``inc(n)`` is the hot path (n is not validated there)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: int = 0

    def inc(self, n: int = 1) -> None:
        """Add n (an int >= 0)."""
        self.value += n

    def __repr__(self) -> str:
        return f"Counter(value={self.value})"


class Gauge:
    """One gauge series: a value that goes up and down."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0.0

    def set(self, value: float) -> None:
        """Set the value."""
        self.value = value

    def inc(self, delta: float = 1.0) -> None:
        """Add delta."""
        self.value += delta

    def dec(self, delta: float = 1.0) -> None:
        """Subtract delta."""
        self.value -= delta

    def __repr__(self) -> str:
        return f"Gauge(value={self.value})"


class MetricKinds:
    """Remembers whether a metric name is a counter, gauge or histogram, so one name is never
    used as two kinds (exporters such as Prometheus would reject that)."""

    __slots__ = ("_kinds",)

    def __init__(self) -> None:
        self._kinds: dict[str, Kind] = {}

    def claim(self, name: str, kind: Kind) -> None:
        """Record name as kind; ValueError if it is already another kind."""
        known = self._kinds.setdefault(name, kind)
        if known != kind:
            raise ValueError(f"metric {name!r} is a {known}, it cannot also be used as a {kind}")


class LocalMetrics(ByNameRecording):
    """In-process metrics backend (implements MetricsBackend and FastMetricsBackend)."""

    __slots__ = ("_counters", "_gauges", "_histograms", "_kinds")

    def __init__(self) -> None:
        self._counters: dict[SeriesKey, Counter] = {}
        self._gauges: dict[SeriesKey, Gauge] = {}
        self._histograms: dict[SeriesKey, Histogram] = {}
        self._kinds: Final = MetricKinds()

    # -- handles (fast path) -------------------------------------------------------------------

    def counter(self, name: str, labels: Labels | None = None) -> Counter:
        """The counter series (name, labels), created at 0 on first use."""
        key = (check_name(name), labels_key(labels))
        found = self._counters.get(key)
        if found is None:
            self._kinds.claim(name, "counter")
            found = self._counters[key] = Counter()
        return found

    def gauge(self, name: str, labels: Labels | None = None) -> Gauge:
        """The gauge series (name, labels), created at 0.0 on first use."""
        key = (check_name(name), labels_key(labels))
        found = self._gauges.get(key)
        if found is None:
            self._kinds.claim(name, "gauge")
            found = self._gauges[key] = Gauge()
        return found

    def histogram(self, name: str, labels: Labels | None = None) -> Histogram:
        """The histogram series (name, labels), created empty on first use."""
        key = (check_name(name), labels_key(labels))
        found = self._histograms.get(key)
        if found is None:
            self._kinds.claim(name, "histogram")
            found = self._histograms[key] = Histogram()
        return found

    # -- MetricsBackend (validated, by name) ---------------------------------------------------

    def snapshot(self) -> MetricsSnapshot:
        """A frozen copy of every series, histograms summarised with their percentiles."""
        return MetricsSnapshot(
            counters={key: c.value for key, c in self._counters.items()},
            gauges={key: g.value for key, g in self._gauges.items()},
            histograms={key: h.summary() for key, h in self._histograms.items()},
        )

    def reset(self) -> None:
        """Zero every series in place: handles stay valid and the series stay listed."""
        for c in self._counters.values():
            c.value = 0
        for g in self._gauges.values():
            g.value = 0.0
        for h in self._histograms.values():
            h.reset()
