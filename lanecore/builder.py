"""QueueManagerBuilder: assembles lanes and manager-wide settings into a QueueManager."""

from __future__ import annotations

from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from lanecore import _impl
from lanecore._durations import check_int, to_seconds
from lanecore.config import DEFAULT_LANES, LaneConfig
from lanecore.dlq import DEFAULT_DLQ_SIZE
from lanecore.events import DEFAULT_EVENT_BUFFER
from lanecore.manager import QueueManager
from lanecore.metrics.alerts import AlertManager
from lanecore.recorder import MetricsSettings
from lanecore.storage.protocol import Storage
from lanecore.templates import LaneTemplate

B_co = TypeVar("B_co", bound="QueueManagerBuilder", covariant=True)
B = TypeVar("B", bound="QueueManagerBuilder")


@runtime_checkable
class ScaleOutBackend(Protocol[B_co]):
    """A backend that shares the lanes between processes (``lanecore.redis.RedisBackend``).
    ``with_backend`` hands it the builder, so this module never imports ``lanecore.redis``."""

    def bind_builder(self, builder: QueueManagerBuilder, *, overwrite_lanes: bool) -> B_co:
        """A builder of the distributed manager, with ``builder``'s settings so far."""
        ...


class QueueManagerBuilder:
    """Chainable: ``QueueManagerBuilder().with_default_lanes().with_lane(...).build()``.
    Each setting is checked when it is given, so a bad value fails at its own line."""

    def __init__(self) -> None:
        self._lanes: dict[str, tuple[LaneConfig, int]] = {}
        self._templates: dict[str, LaneTemplate] = {}
        self._global_concurrency = 0
        self._dlq_size = DEFAULT_DLQ_SIZE
        self._event_buffer = DEFAULT_EVENT_BUFFER
        self._implementation: str | None = None
        self._storage: Storage | None = None
        self._metrics: MetricsSettings | None = None
        self._backend: ScaleOutBackend[QueueManagerBuilder] | None = None
        self._overwrite_lanes = False

    def with_default_lanes(self) -> Self:
        """Add system, control, query, session, skill and prompt (priorities 0..5)."""
        for lane_id, priority, low, high in DEFAULT_LANES:
            self._lanes[lane_id] = (LaneConfig(low, high), priority)
        return self

    def with_lane(self, lane_id: str, config: LaneConfig | None, priority: int) -> Self:
        """Add a lane, or replace the lane of that id (None config: LaneConfig())."""
        if not isinstance(lane_id, str):
            raise TypeError(f"lane_id must be a str, got {lane_id!r}")
        if not lane_id:
            raise ValueError("lane_id must not be empty")
        if config is None:
            config = LaneConfig()
        elif not isinstance(config, LaneConfig):
            raise TypeError(f"config must be a LaneConfig, got {config!r}")
        self._lanes[lane_id] = (config, check_int("priority", priority, 0, 255))
        return self

    def with_lane_template(
        self,
        prefix: str,
        config: LaneConfig | None,
        priority: int,
        *,
        idle_ttl: float = 60.0,
    ) -> Self:
        """A ``submit`` to an unknown lane id starting with ``prefix`` (e.g. "tenant:") makes
        that lane from ``config`` and ``priority``, with its own cap and buckets; such a lane
        is removed once it held nothing (pending, running, delayed, retrying) for
        ``idle_ttl`` seconds. The longest matching prefix wins; a template with the same
        prefix replaces the earlier one."""
        template = LaneTemplate(
            prefix, LaneConfig() if config is None else config, priority, idle_ttl
        )
        self._templates[prefix] = template
        return self

    def with_global_concurrency(self, limit: int) -> Self:
        """Cap commands running at once across all lanes. Each lane's min_concurrency is
        reserved for it, in priority order as far as the cap allows: lanes whose reservation no
        longer fits get none (``limit=1``: strict priority, one command at a time)."""
        self._global_concurrency = check_int("global_concurrency", limit, 1)
        return self

    def with_dlq(self, size: int) -> Self:
        """Keep up to ``size`` dead letters (default 1000)."""
        self._dlq_size = check_int("dlq size", size, 1)
        return self

    def with_event_buffer(self, size: int) -> Self:
        """Default per-subscriber event buffer (default 1024)."""
        self._event_buffer = check_int("event_buffer", size, 1)
        return self

    def with_implementation(self, name: str) -> Self:
        """Pin the core: "cython" or "python" (default: the compiled one when it loaded)."""
        _impl.get_core(name)
        self._implementation = name
        return self

    def with_storage(self, storage: Storage) -> Self:
        """Persist named commands and dead letters there (e.g. SqliteStorage(path)); the
        manager re-runs stored unfinished commands on start and closes the storage on close."""
        if not isinstance(storage, Storage):
            raise TypeError(f"storage must implement lanecore.storage.Storage, got {storage!r}")
        self._storage = storage
        return self

    def with_metrics(
        self,
        backend: Any = None,
        *,
        interval: float = 1.0,
        sample_every: int = 16,
        alerts: AlertManager | None = None,
    ) -> Self:
        """Record the SPEC 9 metrics into ``backend`` (default: a new LocalMetrics):
        counters and gauges exactly, wait and run times of every ``sample_every``-th command.
        A collecting backend (LocalMetrics, PrometheusMetrics, OpenTelemetryMetrics) computes
        counters and gauges whenever it is read, from any thread, so the one you hold is
        current; another backend is flushed every ``interval`` seconds and on each
        ``manager.metrics.snapshot()``. ``alerts`` get latency checks per sample and depth
        checks at each read and every ``interval`` seconds."""
        if backend is None:
            from lanecore.metrics import LocalMetrics

            backend = LocalMetrics()
        check_int("sample_every", sample_every, 1)
        to_seconds("interval", interval)
        self._metrics = MetricsSettings(
            backend, interval=interval, sample_every=sample_every, alerts=alerts
        )
        return self

    def with_backend(self, backend: ScaleOutBackend[B], *, overwrite_lanes: bool = False) -> B:
        """Share the lanes through Redis (``lanecore.redis.RedisBackend``, extra ``redis``):
        returns a builder whose ``build()`` makes a ``DistributedManager``. The lane configs
        are stored in Redis on start; a manager whose lanes differ from the stored ones fails
        with LaneConfigMismatch unless ``overwrite_lanes=True``. Does not combine with
        ``with_storage`` or ``with_metrics`` (ValueError)."""
        if not isinstance(backend, ScaleOutBackend):
            raise TypeError(f"backend must be a lanecore.redis.RedisBackend, got {backend!r}")
        built = backend.bind_builder(self, overwrite_lanes=overwrite_lanes)
        self._backend = backend
        self._overwrite_lanes = overwrite_lanes
        return built

    def build(self) -> QueueManager:
        """The local QueueManager; after ``with_backend()`` the DistributedManager instead
        (for precise types build from what ``with_backend()`` returned)."""
        if self._backend is not None:
            bound = self._backend.bind_builder(self, overwrite_lanes=self._overwrite_lanes)
            return bound.build()
        return QueueManager(
            [(lane_id, config, priority) for lane_id, (config, priority) in self._lanes.items()],
            global_concurrency=self._global_concurrency,
            dlq_size=self._dlq_size,
            event_buffer=self._event_buffer,
            implementation=self._implementation,
            storage=self._storage,
            metrics=self._metrics,
            templates=list(self._templates.values()),
        )
