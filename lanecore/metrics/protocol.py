"""The interfaces a metrics backend offers the scheduler.

``MetricsBackend`` is the a3s-lane API (SPEC §9): by-name calls with a labels mapping.
``FastMetricsBackend`` adds handles: the scheduler resolves a series once (e.g. per lane) and
then records with one method call, no dict lookup or validation per event.
``CollectingBackend`` adds collectors: functions the backend calls before each read, so the
scheduler's counters and gauges are computed when they are read instead of pushed on a timer.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from lanecore.metrics._validate import Labels
from lanecore.metrics.collectors import Collector
from lanecore.metrics.snapshot import MetricsSnapshot


@runtime_checkable
class CounterHandle(Protocol):
    """One counter series."""

    def inc(self, n: int = 1) -> None: ...


@runtime_checkable
class GaugeHandle(Protocol):
    """One gauge series."""

    def set(self, value: float) -> None: ...


@runtime_checkable
class HistogramHandle(Protocol):
    """One histogram series (values in ms)."""

    def record(self, value: float) -> None: ...


@runtime_checkable
class MetricsBackend(Protocol):
    """Where the scheduler's metrics go. Labels are a str->str mapping, e.g. {"lane": id}."""

    def increment_counter(self, name: str, value: int = 1, labels: Labels | None = None) -> None:
        """Add value (an int >= 0) to a counter series."""
        ...

    def set_gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        """Set a gauge series to value."""
        ...

    def record_histogram(self, name: str, value: float, labels: Labels | None = None) -> None:
        """Record one value (ms, finite, >= 0) in a histogram series."""
        ...

    def snapshot(self) -> MetricsSnapshot:
        """A frozen copy of every series, with histogram percentiles."""
        ...

    def reset(self) -> None:
        """Zero every series; handles already given out stay valid."""
        ...


@runtime_checkable
class FastMetricsBackend(MetricsBackend, Protocol):
    """A backend that also hands out per-series handles for the hot path."""

    def counter(self, name: str, labels: Labels | None = None) -> CounterHandle:
        """The handle of a counter series (the same one on every call)."""
        ...

    def gauge(self, name: str, labels: Labels | None = None) -> GaugeHandle:
        """The handle of a gauge series (the same one on every call)."""
        ...

    def histogram(self, name: str, labels: Labels | None = None) -> HistogramHandle:
        """The handle of a histogram series (the same one on every call)."""
        ...


@runtime_checkable
class CollectingBackend(Protocol):
    """A backend that calls its collectors before every read: ``snapshot()``, ``reset()`` and
    what its exporter reads (a Prometheus scrape, an OpenTelemetry collection). A read may come
    from another thread; a collector that must run on an event loop's thread hops there itself
    (see ``lanecore.metrics.collectors.LoopCollector``)."""

    def add_collector(self, collector: Collector) -> None:
        """Call collector() (no arguments, result ignored) before every read."""
        ...

    def remove_collector(self, collector: Collector) -> None:
        """Stop calling collector (ValueError if it was not added)."""
        ...
