"""OpenTelemetryMetrics: the ``lanecore[otel]`` backend, on the OpenTelemetry metrics API/SDK.

Counters become OTel ObservableCounters and gauges ObservableGauges, both observed from a
LocalMetrics shadow at each collection after running the backend's collectors, so what an
export shows is computed then; histograms are OTel Histograms in ms with explicit bucket
bounds as advice. Metric names keep their a3s-lane form (dots are valid in OTel names); labels
become attributes. The shadow answers ``snapshot()`` with percentiles.
OpenTelemetry is imported when an OpenTelemetryMetrics is made, never by ``lanecore.metrics``;
it needs opentelemetry-sdk >= 1.30 (histogram bucket advice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lanecore._version import __version__
from lanecore.metrics._buckets import DEFAULT_MS_BUCKETS, check_buckets
from lanecore.metrics._byname import ByNameRecording
from lanecore.metrics._validate import (
    Labels,
    SeriesKey,
    check_name,
    labels_key,
)
from lanecore.metrics.collectors import Collector, Collectors
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
    """MetricsBackend (FastMetricsBackend, CollectingBackend) recording into OpenTelemetry.

    meter_provider defaults to the global one (``opentelemetry.metrics.get_meter_provider()``,
    a no-op until the application configures an SDK MeterProvider). Each collection of an
    observable instrument, ``snapshot()`` and ``reset()`` run the collectors first; a
    collection may come from a reader's thread (the collectors hop to the loop's thread).
    ``reset()`` zeroes the shadow (``snapshot()``) and the gauges; the exported counters and
    histograms stay cumulative - use DELTA temporality in the reader/exporter for
    per-interval values. Record from the event loop's thread.
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
        self._handles: dict[SeriesKey, Counter | LocalGauge | OtelHistogram] = {}
        # per counter series, what reset() zeroed in the shadow: exported counts stay cumulative
        self._before_reset: dict[SeriesKey, int] = {}
        self._collectors = Collectors()

    # -- collectors (CollectingBackend) --------------------------------------------------------

    def add_collector(self, collector: Collector) -> None:
        """Call collector() before every collection of an observable instrument, snapshot()
        and reset()."""
        self._collectors.add(collector)

    def remove_collector(self, collector: Collector) -> None:
        """Stop calling collector (ValueError if it was not added)."""
        self._collectors.remove(collector)

    # -- instruments ---------------------------------------------------------------------------

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
            instrument = meter.create_observable_counter(
                name,
                callbacks=[self._observer(name, self._counter_value)],
                unit="{command}" if name in COUNTERS else "",
                description=description,
            )
        elif kind == "gauge":
            instrument = meter.create_observable_gauge(
                name,
                callbacks=[self._observer(name, self._gauge_value)],
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

    def _observer(
        self, name: str, value_of: Callable[[SeriesKey, Any], float | None]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """The callback of the observable instrument of name: run the collectors, then one
        Observation per series of name (value_of skips the handles of other kinds)."""
        observation = self._metrics.Observation
        handles = self._handles
        collectors = self._collectors

        def read(options: CallbackOptions) -> Iterable[Observation]:
            collectors.run()
            found = []
            for key, handle in list(handles.items()):
                if key[0] == name:
                    value = value_of(key, handle)
                    if value is not None:
                        found.append(observation(value, dict(key[1])))
            return found

        return read

    def _counter_value(self, key: SeriesKey, handle: Any) -> float | None:
        if not isinstance(handle, Counter):
            return None
        return self._before_reset.get(key, 0) + handle.value

    def _gauge_value(self, key: SeriesKey, handle: Any) -> float | None:
        return handle.value if isinstance(handle, LocalGauge) else None

    def _lookup(self, kind: Kind, name: str, labels: Labels | None) -> tuple[SeriesKey, Any]:
        key = (check_name(name), labels_key(labels))
        return key, self._instrument(kind, name)

    def counter(self, name: str, labels: Labels | None = None) -> Counter:
        """The handle of a counter series: the shadow counter itself, which OTel observes."""
        key, _ = self._lookup("counter", name, labels)
        found = self._handles.get(key)
        if found is None:
            found = self._handles[key] = self._shadow.counter(name, labels)
        assert isinstance(found, Counter)
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

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self) -> MetricsSnapshot:
        """The local shadow's snapshot after running the collectors (same values, plus
        percentiles)."""
        self._collectors.run()
        return self._shadow.snapshot()

    def reset(self) -> None:
        """Zero the shadow and the gauges after running the collectors (the exported counters
        and histograms stay cumulative)."""
        self._collectors.run()
        for key, handle in self._handles.items():
            if isinstance(handle, Counter):
                self._before_reset[key] = self._before_reset.get(key, 0) + handle.value
        self._shadow.reset()
