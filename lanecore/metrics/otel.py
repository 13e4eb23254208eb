"""OpenTelemetryMetrics: the ``lanecore[otel]`` backend, on the OpenTelemetry metrics API/SDK.

Counters become OTel Counters, gauges ObservableGauges (read from a LocalMetrics shadow at
each collection), histograms OTel Histograms in ms with explicit bucket bounds as advice.
Metric names keep their a3s-lane form (dots are valid in OTel names); labels become attributes.
Every record also goes to the shadow, which answers ``snapshot()`` with percentiles.
OpenTelemetry is imported when an OpenTelemetryMetrics is made, never by ``lanecore.metrics``;
it needs opentelemetry-sdk >= 1.30 (histogram bucket advice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lanecore._version import __version__
from lanecore.metrics._buckets import DEFAULT_MS_BUCKETS, check_buckets
from lanecore.metrics._byname import ByNameRecording
from lanecore.metrics._validate import (
    Labels,
    LabelsKey,
    SeriesKey,
    check_name,
    labels_key,
)
from lanecore.metrics.histogram import Histogram
from lanecore.metrics.local import Counter, Kind, LocalMetrics
from lanecore.metrics.local import Gauge as LocalGauge
from lanecore.metrics.names import COUNTERS, GAUGES, describe
from lanecore.metrics.snapshot import MetricsSnapshot

if TYPE_CHECKING:  # the ignore keeps mypy clean where the extra is not installed
    from opentelemetry.metrics import (  # type: ignore[import-not-found,unused-ignore]
        CallbackOptions,
        Meter,
        MeterProvider,
        Observation,
    )

EXTRA_HINT = "OpenTelemetryMetrics needs opentelemetry-sdk: pip install 'lanecore[otel]'"
METER_NAME = "lanecore"


def _otel_metrics() -> Any:
    """The opentelemetry.metrics module, or an ImportError naming the extra to install."""
    try:
        from opentelemetry import metrics  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ImportError(EXTRA_HINT) from exc
    return metrics


class OtelCounter:
    """Counter handle: adds to the OTel counter (with the series' attributes) and the shadow."""

    __slots__ = ("_attributes", "_instrument", "_shadow")

    def __init__(self, instrument: Any, attributes: dict[str, str], shadow: Counter) -> None:
        self._instrument = instrument
        self._attributes = attributes
        self._shadow = shadow

    def inc(self, n: int = 1) -> None:
        """Add n (an int >= 0)."""
        self._shadow.inc(n)
        self._instrument.add(n, self._attributes)


class OtelHistogram:
    """Histogram handle: records in the shadow (which rejects bad values), then in OTel."""

    __slots__ = ("_attributes", "_instrument", "_shadow")

    def __init__(self, instrument: Any, attributes: dict[str, str], shadow: Histogram) -> None:
        self._instrument = instrument
        self._attributes = attributes
        self._shadow = shadow

    def record(self, value: float) -> None:
        """Record one value (ms)."""
        self._shadow.record(value)
        self._instrument.record(value, self._attributes)


class OpenTelemetryMetrics(ByNameRecording):
    """MetricsBackend (and FastMetricsBackend) recording into OpenTelemetry instruments.

    meter_provider defaults to the global one (``opentelemetry.metrics.get_meter_provider()``,
    a no-op until the application configures an SDK MeterProvider). ``reset()`` zeroes the
    shadow (``snapshot()``) and the gauges; OTel counters and histograms cannot be reset from
    the API - use DELTA temporality in the reader/exporter for per-interval values.
    Not thread-safe: one event loop.
    """

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        *,
        meter_name: str = METER_NAME,
        buckets: Sequence[float] = DEFAULT_MS_BUCKETS,
    ) -> None:
        metrics = _otel_metrics()
        self._metrics = metrics
        provider = metrics.get_meter_provider() if meter_provider is None else meter_provider
        self._meter: Meter = provider.get_meter(meter_name, __version__)
        self._buckets = check_buckets(buckets)
        self._shadow = LocalMetrics()
        self._instruments: dict[str, tuple[Kind, Any]] = {}
        self._handles: dict[SeriesKey, OtelCounter | LocalGauge | OtelHistogram] = {}

    def _instrument(self, kind: Kind, name: str) -> Any:
        """The OTel instrument of name, created on first use."""
        found = self._instruments.get(name)
        if found is not None:
            if found[0] != kind:
                raise ValueError(
                    f"metric {name!r} is a {found[0]}, it cannot also be used as a {kind}"
                )
            return found[1]
        meter, description = self._meter, describe(name)
        instrument: Any
        if kind == "counter":
            unit = "{command}" if name in COUNTERS else ""
            instrument = meter.create_counter(name, unit=unit, description=description)
        elif kind == "gauge":
            instrument = meter.create_observable_gauge(
                name,
                callbacks=[self._gauge_reader(name)],
                unit="{command}" if name in GAUGES else "",
                description=description,
            )
        else:
            instrument = meter.create_histogram(
                name,
                unit="ms",
                description=description,
                explicit_bucket_boundaries_advisory=self._buckets,
            )
        self._instruments[name] = (kind, instrument)
        return instrument

    def _gauge_reader(self, name: str) -> Any:
        """The observable-gauge callback of name: one Observation per shadow series."""
        observation = self._metrics.Observation
        gauges = self._shadow_gauges

        def read(options: CallbackOptions) -> Iterable[Observation]:
            return [observation(g.value, dict(labels)) for labels, g in gauges(name)]

        return read

    def _shadow_gauges(self, name: str) -> list[tuple[LabelsKey, LocalGauge]]:
        return [
            (key[1], handle)
            for key, handle in self._handles.items()
            if key[0] == name and isinstance(handle, LocalGauge)
        ]

    def _lookup(self, kind: Kind, name: str, labels: Labels | None) -> tuple[SeriesKey, Any]:
        key = (check_name(name), labels_key(labels))
        return key, self._instrument(kind, name)

    def counter(self, name: str, labels: Labels | None = None) -> OtelCounter:
        """The handle of a counter series (the same one on every call)."""
        key, instrument = self._lookup("counter", name, labels)
        found = self._handles.get(key)
        if found is None:
            shadow = self._shadow.counter(name, labels)
            found = self._handles[key] = OtelCounter(instrument, dict(key[1]), shadow)
        assert isinstance(found, OtelCounter)
        return found

    def gauge(self, name: str, labels: Labels | None = None) -> LocalGauge:
        """The handle of a gauge series: the shadow gauge itself, which OTel observes."""
        key, _ = self._lookup("gauge", name, labels)
        found = self._handles.get(key)
        if found is None:
            found = self._handles[key] = self._shadow.gauge(name, labels)
        assert isinstance(found, LocalGauge)
        return found

    def histogram(self, name: str, labels: Labels | None = None) -> OtelHistogram:
        """The handle of a histogram series (the same one on every call)."""
        key, instrument = self._lookup("histogram", name, labels)
        found = self._handles.get(key)
        if found is None:
            shadow = self._shadow.histogram(name, labels)
            found = self._handles[key] = OtelHistogram(instrument, dict(key[1]), shadow)
        assert isinstance(found, OtelHistogram)
        return found

    def snapshot(self) -> MetricsSnapshot:
        """The local shadow's snapshot (same values, plus percentiles)."""
        return self._shadow.snapshot()

    def reset(self) -> None:
        """Zero the shadow and the gauges (OTel counters/histograms stay cumulative)."""
        self._shadow.reset()
