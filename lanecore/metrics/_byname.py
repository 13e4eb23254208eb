"""The by-name MetricsBackend methods, shared by every backend that hands out handles."""

from __future__ import annotations

from lanecore.metrics._validate import Labels, check_count, check_number
from lanecore.metrics.protocol import CounterHandle, GaugeHandle, HistogramHandle


class ByNameRecording:
    """increment_counter / set_gauge / record_histogram: check the value, then use the handle
    of the series (name, labels) that the backend's counter/gauge/histogram returns."""

    __slots__ = ()

    def counter(self, name: str, labels: Labels | None = None) -> CounterHandle:
        raise NotImplementedError

    def gauge(self, name: str, labels: Labels | None = None) -> GaugeHandle:
        raise NotImplementedError

    def histogram(self, name: str, labels: Labels | None = None) -> HistogramHandle:
        raise NotImplementedError

    def increment_counter(self, name: str, value: int = 1, labels: Labels | None = None) -> None:
        """Add value (an int >= 0) to the counter series (name, labels)."""
        checked = check_count(name, value)  # before the series is made: bad input adds none
        self.counter(name, labels).inc(checked)

    def set_gauge(self, name: str, value: float, labels: Labels | None = None) -> None:
        """Set the gauge series (name, labels) to value (a finite number)."""
        checked = check_number(f"value of gauge {name!r}", value)
        self.gauge(name, labels).set(checked)

    def record_histogram(self, name: str, value: float, labels: Labels | None = None) -> None:
        """Record value (ms, a finite number >= 0) in the histogram series (name, labels)."""
        checked = check_number(f"value of histogram {name!r}", value, non_negative=True)
        self.histogram(name, labels).record(checked)
