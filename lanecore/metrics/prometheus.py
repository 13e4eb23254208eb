"""PrometheusMetrics: the ``lanecore[prometheus]`` backend, on prometheus-client.

Names become Prometheus style (``lane.commands.submitted`` -> ``lane_commands_submitted_total``,
``lane.command.latency_ms`` -> ``lane_command_latency_ms``); labels become Prometheus labels.
Every record also goes to a LocalMetrics shadow, which answers ``snapshot()`` with percentiles.
prometheus_client is imported when a PrometheusMetrics is made, never by ``lanecore.metrics``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
from lanecore.metrics.local import Counter, Gauge, Kind, LocalMetrics
from lanecore.metrics.names import describe
from lanecore.metrics.snapshot import MetricsSnapshot

if TYPE_CHECKING:  # the ignore keeps mypy clean where the extra is not installed
    from prometheus_client import CollectorRegistry  # type: ignore[import-not-found,unused-ignore]

EXTRA_HINT = "PrometheusMetrics needs prometheus-client: pip install 'lanecore[prometheus]'"

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _prometheus_client() -> Any:
    """The prometheus_client module, or an ImportError naming the extra to install."""
    try:
        import prometheus_client  # type: ignore[import-not-found,unused-ignore]
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


class _Family:
    """One Prometheus metric (a name with fixed label names) and its labelled children."""

    def __init__(
        self,
        client: Any,
        kind: Kind,
        name: str,
        labelnames: tuple[str, ...],
        registry: CollectorRegistry | None,
        namespace: str,
        buckets: tuple[float, ...],
    ) -> None:
        self.kind = kind
        self.name = name
        self.labelnames = labelnames
        self._client = client
        self._registry = registry
        self._namespace = namespace
        self._buckets = buckets
        self.metric: Any = self._create()

    def _create(self) -> Any:
        base = prometheus_name(self.name)  # prometheus_client adds _total to counters itself
        common: dict[str, Any] = {
            "labelnames": self.labelnames,
            "namespace": self._namespace,
            "registry": self._registry,
        }
        if self.kind == "counter":
            return self._client.Counter(base, describe(self.name), **common)
        if self.kind == "gauge":
            return self._client.Gauge(base, describe(self.name), **common)
        return self._client.Histogram(base, describe(self.name), buckets=self._buckets, **common)

    def child(self, labels: LabelsKey) -> Any:
        """The child series for these labels (the metric itself when it has no labels)."""
        return self.metric.labels(*(v for _, v in labels)) if labels else self.metric

    def recreate(self) -> None:
        """Replace the metric by a fresh, zeroed one (prometheus_client cannot zero a histogram
        in place): unregister the old one, register the new one."""
        if self._registry is not None:
            self._registry.unregister(self.metric)
        self.metric = self._create()


class _PrometheusHandle:
    """A series: its Prometheus child (re-fetched after reset) and its LocalMetrics shadow."""

    __slots__ = ("_child", "_family", "_labels")

    def __init__(self, family: _Family, labels: LabelsKey) -> None:
        self._family = family
        self._labels = labels
        self._child: Any = family.child(labels)

    def rebind(self) -> None:
        """Point at the child of the family's current metric (after it was recreated)."""
        self._child = self._family.child(self._labels)


class PrometheusCounter(_PrometheusHandle):
    """Counter handle: increments the Prometheus child and the local shadow."""

    __slots__ = ("_shadow",)

    def __init__(self, family: _Family, labels: LabelsKey, shadow: Counter) -> None:
        super().__init__(family, labels)
        self._shadow = shadow

    def inc(self, n: int = 1) -> None:
        """Add n (an int >= 0)."""
        self._shadow.inc(n)
        self._child.inc(n)


class PrometheusGauge(_PrometheusHandle):
    """Gauge handle: sets the Prometheus child and the local shadow."""

    __slots__ = ("_shadow",)

    def __init__(self, family: _Family, labels: LabelsKey, shadow: Gauge) -> None:
        super().__init__(family, labels)
        self._shadow = shadow

    def set(self, value: float) -> None:
        """Set the value."""
        self._shadow.set(value)
        self._child.set(value)


class PrometheusHistogram(_PrometheusHandle):
    """Histogram handle: records in the local shadow (which rejects negative, NaN and infinite
    values before Prometheus sees them), then observes in the Prometheus child."""

    __slots__ = ("_shadow",)

    def __init__(self, family: _Family, labels: LabelsKey, shadow: Histogram) -> None:
        super().__init__(family, labels)
        self._shadow = shadow

    def record(self, value: float) -> None:
        """Record one value (ms)."""
        self._shadow.record(value)
        self._child.observe(value)


_Handle = PrometheusCounter | PrometheusGauge | PrometheusHistogram


class PrometheusMetrics(ByNameRecording):
    """MetricsBackend (and FastMetricsBackend) exporting to a prometheus_client registry.

    registry defaults to prometheus_client's global REGISTRY (what ``start_http_server()``
    serves); pass a CollectorRegistry to keep metrics apart, e.g. in tests. A metric's label
    names are fixed by its first use (the scheduler always uses ``lane``). Histograms use
    ``buckets`` (ms, DEFAULT_MS_BUCKETS). ``reset()`` replaces every metric by a zeroed one
    (Prometheus treats it as a counter reset) and re-points the handles already given out.
    Not thread-safe: one event loop.
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
        self._shadow = LocalMetrics()
        self._families: dict[str, _Family] = {}
        self._handles: dict[SeriesKey, _Handle] = {}

    @property
    def registry(self) -> CollectorRegistry:
        """The registry the metrics are registered in."""
        registry: CollectorRegistry = self._registry
        return registry

    def _family(self, kind: Kind, name: str, labels: LabelsKey) -> _Family:
        """The metric of name, created on first use; ValueError if it was first used as
        another kind or with other label names."""
        labelnames = tuple(k for k, _ in labels)
        family = self._families.get(name)
        if family is None:
            family = _Family(
                self._client,
                kind,
                name,
                labelnames,
                self._registry,
                self._namespace,
                self._buckets,
            )
            self._families[name] = family
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

    def counter(self, name: str, labels: Labels | None = None) -> PrometheusCounter:
        """The handle of a counter series (the same one on every call)."""
        key, family = self._lookup("counter", name, labels)
        found = self._handles.get(key)
        if found is None:
            shadow = self._shadow.counter(name, labels)
            found = self._handles[key] = PrometheusCounter(family, key[1], shadow)
        assert isinstance(found, PrometheusCounter)
        return found

    def gauge(self, name: str, labels: Labels | None = None) -> PrometheusGauge:
        """The handle of a gauge series (the same one on every call)."""
        key, family = self._lookup("gauge", name, labels)
        found = self._handles.get(key)
        if found is None:
            shadow = self._shadow.gauge(name, labels)
            found = self._handles[key] = PrometheusGauge(family, key[1], shadow)
        assert isinstance(found, PrometheusGauge)
        return found

    def histogram(self, name: str, labels: Labels | None = None) -> PrometheusHistogram:
        """The handle of a histogram series (the same one on every call)."""
        key, family = self._lookup("histogram", name, labels)
        found = self._handles.get(key)
        if found is None:
            shadow = self._shadow.histogram(name, labels)
            found = self._handles[key] = PrometheusHistogram(family, key[1], shadow)
        assert isinstance(found, PrometheusHistogram)
        return found

    def snapshot(self) -> MetricsSnapshot:
        """The local shadow's snapshot (same values, plus percentiles)."""
        return self._shadow.snapshot()

    def reset(self) -> None:
        """Zero every series, in the shadow and in the registry."""
        self._shadow.reset()
        for family in self._families.values():
            family.recreate()
        for handle in self._handles.values():
            handle.rebind()
