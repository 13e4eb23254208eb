"""QueueManagerBuilder: assembles lanes and manager-wide settings into a QueueManager."""

from __future__ import annotations

from typing import Any

from lanecore import _impl
from lanecore._durations import check_int, to_seconds
from lanecore.config import DEFAULT_LANES, LaneConfig
from lanecore.dlq import DEFAULT_DLQ_SIZE
from lanecore.events import DEFAULT_EVENT_BUFFER
from lanecore.manager import QueueManager
from lanecore.metrics.alerts import AlertManager
from lanecore.recorder import MetricsSettings
from lanecore.storage.protocol import Storage


class QueueManagerBuilder:
    """Chainable: ``QueueManagerBuilder().with_default_lanes().with_lane(...).build()``.
    Each setting is checked when it is given, so a bad value fails at its own line."""

    def __init__(self) -> None:
        self._lanes: dict[str, tuple[LaneConfig, int]] = {}
        self._global_concurrency = 0
        self._dlq_size = DEFAULT_DLQ_SIZE
        self._event_buffer = DEFAULT_EVENT_BUFFER
        self._implementation: str | None = None
        self._storage: Storage | None = None
        self._metrics: MetricsSettings | None = None

    def with_default_lanes(self) -> QueueManagerBuilder:
        """Add system, control, query, session, skill and prompt (priorities 0..5)."""
        for lane_id, priority, low, high in DEFAULT_LANES:
            self._lanes[lane_id] = (LaneConfig(low, high), priority)
        return self

    def with_lane(
        self, lane_id: str, config: LaneConfig | None, priority: int
    ) -> QueueManagerBuilder:
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

    def with_global_concurrency(self, limit: int) -> QueueManagerBuilder:
        """Cap commands running at once across all lanes; each lane keeps its min reserved."""
        self._global_concurrency = check_int("global_concurrency", limit, 1)
        return self

    def with_dlq(self, size: int) -> QueueManagerBuilder:
        """Keep up to ``size`` dead letters (default 1000)."""
        self._dlq_size = check_int("dlq size", size, 1)
        return self

    def with_event_buffer(self, size: int) -> QueueManagerBuilder:
        """Default per-subscriber event buffer (default 1024)."""
        self._event_buffer = check_int("event_buffer", size, 1)
        return self

    def with_implementation(self, name: str) -> QueueManagerBuilder:
        """Pin the core: "cython" or "python" (default: the compiled one when it loaded)."""
        _impl.get_core(name)
        self._implementation = name
        return self

    def with_storage(self, storage: Storage) -> QueueManagerBuilder:
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
    ) -> QueueManagerBuilder:
        """Record the SPEC 9 metrics into ``backend`` (default: a new LocalMetrics):
        counters and gauges exactly, wait and run times of every ``sample_every``-th command,
        flushed every ``interval`` seconds and on each ``manager.metrics.snapshot()``;
        ``alerts`` get depth and latency checks."""
        if backend is None:
            from lanecore.metrics import LocalMetrics

            backend = LocalMetrics()
        check_int("sample_every", sample_every, 1)
        to_seconds("interval", interval)
        self._metrics = MetricsSettings(
            backend, interval=interval, sample_every=sample_every, alerts=alerts
        )
        return self

    def build(self) -> QueueManager:
        return QueueManager(
            [(lane_id, config, priority) for lane_id, (config, priority) in self._lanes.items()],
            global_concurrency=self._global_concurrency,
            dlq_size=self._dlq_size,
            event_buffer=self._event_buffer,
            implementation=self._implementation,
            storage=self._storage,
            metrics=self._metrics,
        )
