"""LocalMetrics: the in-process backend, cheap enough for the scheduler's hot path.

Counters and gauges are plain objects with one numeric slot, histograms are fixed-size bucket
arrays (see lanecore.metrics.histogram); series live in dicts keyed by (name, sorted labels).
Handles returned by ``counter()``/``gauge()``/``histogram()`` record with one method call.
It is a CollectingBackend: ``snapshot()`` and ``reset()`` first call the collectors, so series
the scheduler derives from its core's counts are current whenever they are read.

Record from the thread running the event loop (like QueueManager). ``snapshot()`` may be called
from another thread: the scheduler's collector hops to the loop's thread for its part.
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
from lanecore.metrics.collectors import Collector, Collectors
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
    """In-process metrics backend (MetricsBackend, FastMetricsBackend and CollectingBackend)."""

    __slots__ = ("_collectors", "_counters", "_gauges", "_histograms", "_kinds")

    def __init__(self) -> None:
        self._counters: dict[SeriesKey, Counter] = {}
        self._gauges: dict[SeriesKey, Gauge] = {}
        self._histograms: dict[SeriesKey, Histogram] = {}
        self._kinds: Final = MetricKinds()
        self._collectors: Final = Collectors()

    # -- collectors (CollectingBackend) --------------------------------------------------------

    def add_collector(self, collector: Collector) -> None:
        """Call collector() before every snapshot() and reset() (and on collect())."""
        self._collectors.add(collector)

    def remove_collector(self, collector: Collector) -> None:
        """Stop calling collector (ValueError if it was not added)."""
        self._collectors.remove(collector)

    def collect(self) -> None:
        """Run the collectors now, bringing derived series (and handles' values) up to date."""
        self._collectors.run()

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
        """A frozen copy of every series after running the collectors, histograms summarised
        with their percentiles."""
        self._collectors.run()
        # dict(...) copies in one step, so a series added meanwhile by the loop's thread
        # cannot break a snapshot taken on another thread
        return MetricsSnapshot(
            counters={key: c.value for key, c in dict(self._counters).items()},
            gauges={key: g.value for key, g in dict(self._gauges).items()},
            histograms={key: h.summary() for key, h in dict(self._histograms).items()},
        )

    def reset(self) -> None:
        """Zero every series in place, after running the collectors (so counts up to now are
        not carried past the reset): handles stay valid and the series stay listed."""
        self._collectors.run()
        for c in self._counters.values():
            c.value = 0
        for g in self._gauges.values():
            g.value = 0.0
        for h in self._histograms.values():
            h.reset()
