"""MetricsSnapshot: a frozen, point-in-time copy of every series of a metrics backend."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lanecore.metrics._validate import LabelsKey, SeriesKey
from lanecore.metrics.histogram import HistogramSummary


def _key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    return name, tuple(sorted(labels.items()))


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Counters, gauges and histogram summaries keyed by ``(name, labels)``, where labels are
    sorted ``(key, value)`` pairs. Look one series up with ``snap.counter(name, lane="x")``."""

    counters: Mapping[SeriesKey, int] = field(default_factory=lambda: MappingProxyType({}))
    gauges: Mapping[SeriesKey, float] = field(default_factory=lambda: MappingProxyType({}))
    histograms: Mapping[SeriesKey, HistogramSummary] = field(
        default_factory=lambda: MappingProxyType({})
    )
    timestamp: float = field(default_factory=time.time, compare=False)  # time.time()

    def __post_init__(self) -> None:
        # read-only copies, so the snapshot cannot change after it was taken
        object.__setattr__(self, "counters", MappingProxyType(dict(self.counters)))
        object.__setattr__(self, "gauges", MappingProxyType(dict(self.gauges)))
        object.__setattr__(self, "histograms", MappingProxyType(dict(self.histograms)))

    def counter(self, name: str, /, **labels: str) -> int:
        """Value of one counter series; 0 if it was never created."""
        return self.counters.get(_key(name, labels), 0)

    def gauge(self, name: str, /, **labels: str) -> float | None:
        """Value of one gauge series; None if it was never set."""
        return self.gauges.get(_key(name, labels))

    def histogram(self, name: str, /, **labels: str) -> HistogramSummary | None:
        """Summary of one histogram series; None if it was never created."""
        return self.histograms.get(_key(name, labels))

    def counter_total(self, name: str) -> int:
        """Sum of a counter over all its label sets (e.g. over every lane)."""
        return sum(v for (n, _), v in self.counters.items() if n == name)

    def label_sets(self, name: str) -> list[LabelsKey]:
        """The label sets (sorted pairs) under which a metric has series, in sorted order."""
        found = {
            labels
            for series in (self.counters, self.gauges, self.histograms)
            for (n, labels) in series
            if n == name
        }
        return sorted(found)
