"""DistributedBuilder: what ``QueueManagerBuilder.with_backend(backend)`` returns; the same
chainable settings, and ``build()`` makes a DistributedManager."""

from __future__ import annotations

from typing import Any, NoReturn

from lanecore.builder import QueueManagerBuilder
from lanecore.redis.base import BackendBase
from lanecore.redis.manager import DistributedManager


class DistributedBuilder(QueueManagerBuilder):
    """A QueueManagerBuilder bound to a RedisBackend. Storage and local metrics do not apply
    (commands, dead letters and counters live in Redis), so those settings are refused."""

    _redis_backend: BackendBase
    _overwrite_lanes: bool

    @classmethod
    def from_builder(
        cls, builder: QueueManagerBuilder, backend: BackendBase, overwrite_lanes: bool
    ) -> DistributedBuilder:
        if not isinstance(backend, BackendBase):
            raise TypeError(f"backend must be a lanecore.redis.RedisBackend, got {backend!r}")
        if builder._storage is not None:
            raise ValueError(
                "with_backend() and with_storage() do not combine: with a Redis backend the "
                "commands and dead letters are kept in Redis"
            )
        if builder._metrics is not None:
            raise ValueError(
                "with_backend() and with_metrics() do not combine: a distributed manager keeps "
                "its counters in Redis (see DistributedManager.metrics())"
            )
        new = cls()
        new.__dict__.update(builder.__dict__)
        new._lanes = dict(builder._lanes)
        new._redis_backend = backend
        new._overwrite_lanes = bool(overwrite_lanes)
        return new

    def with_storage(self, storage: Any) -> NoReturn:
        raise ValueError(
            "with_storage() does not combine with with_backend(): with a Redis backend the "
            "commands and dead letters are kept in Redis"
        )

    def with_metrics(self, backend: Any = None, **_: Any) -> NoReturn:
        raise ValueError(
            "with_metrics() does not combine with with_backend(): a distributed manager keeps "
            "its counters in Redis (see DistributedManager.metrics())"
        )

    def build(self) -> DistributedManager:  # type: ignore[override]
        return DistributedManager(
            self._redis_backend,
            [(lane_id, config, priority) for lane_id, (config, priority) in self._lanes.items()],
            global_concurrency=self._global_concurrency,
            dlq_size=self._dlq_size,
            event_buffer=self._event_buffer,
            overwrite_lanes=self._overwrite_lanes,
            templates=list(self._templates.values()),
        )
