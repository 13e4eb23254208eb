"""LaneInstruments: every handle the scheduler needs for one lane, resolved once."""

from __future__ import annotations

from dataclasses import dataclass

from lanecore.metrics import names
from lanecore.metrics.protocol import (
    CounterHandle,
    FastMetricsBackend,
    GaugeHandle,
    HistogramHandle,
)


@dataclass(frozen=True, slots=True)
class LaneInstruments:
    """The SPEC §9 series of one lane, labelled {"lane": lane_id}: ``inst.completed.inc()``,
    ``inst.latency_ms.record(ms)``, ``inst.depth.set(n)`` ..."""

    lane_id: str
    submitted: CounterHandle
    completed: CounterHandle
    failed: CounterHandle
    timeout: CounterHandle
    retried: CounterHandle
    dead_lettered: CounterHandle
    depth: GaugeHandle
    active: GaugeHandle
    latency_ms: HistogramHandle
    wait_time_ms: HistogramHandle

    @classmethod
    def for_lane(cls, backend: FastMetricsBackend, lane_id: str) -> LaneInstruments:
        """Resolve (creating as needed) the lane's series in backend."""
        labels = {names.LANE_LABEL: lane_id}
        return cls(
            lane_id,
            backend.counter(names.COMMANDS_SUBMITTED, labels),
            backend.counter(names.COMMANDS_COMPLETED, labels),
            backend.counter(names.COMMANDS_FAILED, labels),
            backend.counter(names.COMMANDS_TIMEOUT, labels),
            backend.counter(names.COMMANDS_RETRIED, labels),
            backend.counter(names.COMMANDS_DEAD_LETTERED, labels),
            backend.gauge(names.QUEUE_DEPTH, labels),
            backend.gauge(names.QUEUE_ACTIVE, labels),
            backend.histogram(names.COMMAND_LATENCY_MS, labels),
            backend.histogram(names.COMMAND_WAIT_TIME_MS, labels),
        )
