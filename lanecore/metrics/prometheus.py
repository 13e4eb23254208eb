"""PrometheusMetrics: the ``lanecore[prometheus]`` backend, on prometheus-client.

Names become Prometheus style (``lane.commands.submitted`` -> ``lane_commands_submitted_total``,
``lane.command.latency_ms`` -> ``lane_command_latency_ms``); labels become Prometheus labels.
Series live in a LocalMetrics shadow (which answers ``snapshot()`` with percentiles) plus
explicit-bucket counts for histograms; one prometheus-client custom collector turns them into
metric families at each scrape, after running the backend's collectors, so what a scrape shows
is computed then. prometheus_client is imported when a PrometheusMetrics is made, never by
``lanecore.metrics``.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from lanecore.metrics._buckets import DEFAULT_MS_BUCKETS, check_buckets
from lanecore.metrics._byname import ByNameRecording
from lanecore.metrics._validate import (
    Labels,
    LabelsKey,
    SeriesKey,
    check_name,
    labels_key,
)
from lanecore.metrics.collectors import Collector, Collectors
from lanecore.metrics.histogram import Histogram
from lanecore.metrics.local import Counter, Gauge, Kind, LocalMetrics
from lanecore.metrics.names import describe
from lanecore.metrics.snapshot import MetricsSnapshot

if TYPE_CHECKING:  # the ignore keeps mypy clean where the extra is not installed
    from prometheus_client import CollectorRegistry  # type: ignore[import-not-found,unused-ignore]

EXTRA_HINT = "PrometheusMetrics needs prometheus-client: pip install 'lanecore[prometheus]'"

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _prometheus_client() -> Any:
    """The prometheus_client module (with its ``core`` metric families), or an ImportError
    naming the extra to install."""
    try:
        import prometheus_client  # type: ignore[import-not-found,unused-ignore]
        import prometheus_client.core  # type: ignore[import-not-found,unused-ignore]
        import prometheus_client.utils  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ImportError(EXTRA_HINT) from exc
    return prometheus_client


def prometheus_name(name: str, kind: Kind = "gauge") -> str:
    """The exposition name of a metric: dots and other invalid characters become ``_``, a
    leading digit gets a ``_`` prefix, and counters end in ``_total``."""
    base = _INVALID.sub("_", name)
    if base[:1].isdigit():
        base = "_" + base
    if kind == "counter" and not base.endswith("_total"):
        base += "_total"
    return base


class PrometheusHistogram:
    """Histogram handle: records in the local shadow (which rejects negative, NaN and infinite
    values) and counts the value in its explicit bucket (``le``: the first bound >= value)."""

    __slots__ = ("_bounds", "_shadow", "counts")

    def __init__(self, shadow: Histogram, bounds: tuple[float, ...]) -> None:
        self._shadow = shadow
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket, the last one is +Inf

    def record(self, value: float) -> None:
        """Record one value (ms)."""
        self._shadow.record(value)
        self.counts[bisect_left(self._bounds, value)] += 1

    @property
    def sum(self) -> float:
        """Sum of the values recorded."""
        return self._shadow.sum

    def reset(self) -> None:
        """Forget every value (the shadow is reset with the rest of the shadow)."""
        self.counts[:] = [0] * len(self.counts)


_Series = Counter | Gauge | PrometheusHistogram

_FAMILY_TYPES: Final = {
    "counter": "CounterMetricFamily",
    "gauge": "GaugeMetricFamily",
    "histogram": "HistogramMetricFamily",
}


class _Family:
    """One Prometheus metric (a name with fixed label names) and the series under it."""

    __slots__ = ("created", "doc", "full_name", "kind", "labelnames", "name", "series")

    def __init__(
        self, client: Any, kind: Kind, name: str, labelnames: tuple[str, ...], namespace: str
    ) -> None:
        self.kind = kind
        self.name = name
        self.labelnames = labelnames
        self.doc = describe(name)
        # an unregistered prometheus_client metric of the same shape checks the metric and
        # label names as prometheus_client does, and tells the exposed name
        probe_type = {"counter": client.Counter, "gauge": client.Gauge}.get(kind, client.Histogram)
        probe = probe_type(
            prometheus_name(name), self.doc, labelnames, namespace=namespace, registry=None
        )
        self.full_name: str = probe.describe()[0].name
        self.series: dict[LabelsKey, _Series] = {}
        self.created: dict[LabelsKey, float] = {}  # time.time() a series was made or reset

    def add(self, labels: LabelsKey, series: _Series) -> None:
        """List a new series under the family."""
        self.created[labels] = time.time()
        self.series[labels] = series

    def reset(self) -> None:
        """The series start again from now (their ``_created`` sample says when)."""
        now = time.time()
        for labels in self.created:
            self.created[labels] = now

    def empty(self, client: Any) -> Any:
        """The family with no samples (what the registry's describe() sees)."""
        family_type = getattr(client.core, _FAMILY_TYPES[self.kind])
        return family_type(self.full_name, self.doc, labels=self.labelnames)

    def export(self, client: Any, bounds: Sequence[str]) -> Any:
        """The family with one sample set per series, as the values stand now."""
        family = self.empty(client)
        # prometheus_client's own metrics leave out _created after disable_created_metrics()
        with_created = getattr(client.metrics, "_use_created", True)
        for labels, series in list(self.series.items()):
            values = [v for _, v in labels]
            created = self.created.get(labels) if with_created else None
            if isinstance(series, PrometheusHistogram):
                cumulative, total = [], 0
                for bound, count in zip(bounds, list(series.counts), strict=True):
                    total += count
                    cumulative.append((bound, total))
                family.add_metric(values, cumulative, series.sum)
                if created is not None:
                    family.add_sample(f"{self.full_name}_created", dict(labels), created)
            elif isinstance(series, Counter):
                family.add_metric(values, series.value, created)
            else:
                family.add_metric(values, series.value)
        return family


class _Exporter:
    """The custom collector registered in the prometheus_client registry for one backend."""

    __slots__ = ("_backend",)

    def __init__(self, backend: PrometheusMetrics) -> None:
        self._backend = backend

    def describe(self) -> list[Any]:
        """The metric families (no samples), so the registry detects duplicate names."""
        return self._backend._describe()

    def collect(self) -> list[Any]:
        """The metric families with their samples, computed now."""
        return self._backend._collect()


class PrometheusMetrics(ByNameRecording):
    """MetricsBackend (FastMetricsBackend, CollectingBackend) exported by a prometheus_client
    custom collector.

    registry defaults to prometheus_client's global REGISTRY (what ``start_http_server()``
    serves); pass a CollectorRegistry to keep metrics apart, e.g. in tests. A metric's label
    names are fixed by its first use (the scheduler always uses ``lane``); a name another
    collector of the registry already exposes is a ValueError at first use. Histograms use
    ``buckets`` (ms, DEFAULT_MS_BUCKETS). A scrape, ``snapshot()`` and ``reset()`` run the
    collectors first; a scrape may come from another thread (the collectors hop to the loop's
    thread). ``reset()`` zeroes every series (Prometheus treats it as a counter reset); handles
    already given out stay valid. Record from the event loop's thread.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "",
        buckets: Sequence[float] = DEFAULT_MS_BUCKETS,
    ) -> None:
        client = _prometheus_client()
        if not isinstance(namespace, str):
            raise TypeError(f"namespace must be a str, got {namespace!r}")
        self._client = client
        self._registry = client.REGISTRY if registry is None else registry
        self._namespace = namespace
        self._buckets = check_buckets(buckets)
        self._bucket_names = (
            *(client.utils.floatToGoString(b) for b in self._buckets),
            "+Inf",
        )
        self._shadow = LocalMetrics()
        self._families: dict[str, _Family] = {}
        self._handles: dict[SeriesKey, _Series] = {}
        self._collectors = Collectors()
        self._exporter = _Exporter(self)
        self._registry.register(self._exporter)

    @property
    def registry(self) -> CollectorRegistry:
        """The registry the metrics are registered in."""
        registry: CollectorRegistry = self._registry
        return registry

    # -- collectors (CollectingBackend) --------------------------------------------------------

    def add_collector(self, collector: Collector) -> None:
        """Call collector() before every scrape, snapshot() and reset()."""
        self._collectors.add(collector)

    def remove_collector(self, collector: Collector) -> None:
        """Stop calling collector (ValueError if it was not added)."""
        self._collectors.remove(collector)

    def _describe(self) -> list[Any]:
        return [family.empty(self._client) for family in list(self._families.values())]

    def _collect(self) -> list[Any]:
        self._collectors.run()
        names = self._bucket_names
        return [family.export(self._client, names) for family in list(self._families.values())]

    # -- handles -------------------------------------------------------------------------------

    def _family(self, kind: Kind, name: str, labels: LabelsKey) -> _Family:
        """The metric of name, created (and its names claimed in the registry) on first use;
        ValueError if it was first used as another kind or with other label names, or if
        another collector of the registry exposes its name."""
        labelnames = tuple(k for k, _ in labels)
        family = self._families.get(name)
        if family is None:
            family = _Family(self._client, kind, name, labelnames, self._namespace)
            self._families[name] = family
            self._registry.unregister(self._exporter)  # registered again with the new names
            try:
                self._registry.register(self._exporter)
            except ValueError:
                del self._families[name]
                self._registry.register(self._exporter)
                raise
        elif family.kind != kind:
            raise ValueError(
                f"metric {name!r} is a {family.kind}, it cannot also be used as a {kind}"
            )
        elif family.labelnames != labelnames:
            raise ValueError(
                f"metric {name!r} has label names {list(family.labelnames)}, got {list(labelnames)}"
            )
        return family

    def _lookup(self, kind: Kind, name: str, labels: Labels | None) -> tuple[SeriesKey, _Family]:
        key = (check_name(name), labels_key(labels))
        return key, self._family(kind, name, key[1])

    def counter(self, name: str, labels: Labels | None = None) -> Counter:
        """The handle of a counter series (the same one on every call): the shadow's counter,
        which the scrape reads."""
        key, family = self._lookup("counter", name, labels)
        found = self._handles.get(key)
        if found is None:
            found = self._handles[key] = self._shadow.counter(name, labels)
            family.add(key[1], found)
        assert isinstance(found, Counter)
        return found

    def gauge(self, name: str, labels: Labels | None = None) -> Gauge:
        """The handle of a gauge series (the same one on every call): the shadow's gauge,
        which the scrape reads."""
        key, family = self._lookup("gauge", name, labels)
        found = self._handles.get(key)
        if found is None:
            found = self._handles[key] = self._shadow.gauge(name, labels)
            family.add(key[1], found)
        assert isinstance(found, Gauge)
        return found

    def histogram(self, name: str, labels: Labels | None = None) -> PrometheusHistogram:
        """The handle of a histogram series (the same one on every call)."""
        key, family = self._lookup("histogram", name, labels)
        found = self._handles.get(key)
        if found is None:
            handle = PrometheusHistogram(self._shadow.histogram(name, labels), self._buckets)
            found = self._handles[key] = handle
            family.add(key[1], found)
        assert isinstance(found, PrometheusHistogram)
        return found

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self) -> MetricsSnapshot:
        """The local shadow's snapshot after running the collectors (the values a scrape shows,
        plus percentiles)."""
        self._collectors.run()
        return self._shadow.snapshot()

    def reset(self) -> None:
        """Zero every series, after running the collectors."""
        self._collectors.run()
        self._shadow.reset()
        for handle in self._handles.values():
            if isinstance(handle, PrometheusHistogram):
                handle.reset()
        for family in self._families.values():
            family.reset()
