"""Records the SPEC §9 metrics of a manager into a MetricsBackend, at almost no per-command cost.

Per-command counts are not incremented one by one: the lane table already counts pushes and
completions in C, and the rare events (failed attempts, retries, cancellations of running
commands) are counted here, so ``submitted`` and ``completed`` are derived from them at each
flush. Gauges are read from the table at flush time. Wait and run times are measured on every
``sample_every``-th command submitted (1 = every command), which keeps the percentiles
unbiased.

A flush happens whenever the backend is read: a CollectingBackend (LocalMetrics, and the
Prometheus and OpenTelemetry backends) calls the recorder's collector on every read from
``start()`` to ``stop()``, on the loop's thread (a read from another thread hops there). A
backend that does not collect is flushed every ``interval`` seconds instead. Depth alerts are
checked at each flush and every ``interval`` seconds; the last flush happens at close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from lanecore._durations import check_int, to_seconds
from lanecore.metrics import (
    CollectingBackend,
    FastMetricsBackend,
    LaneInstruments,
    LocalMetrics,
    MetricsSnapshot,
)
from lanecore.metrics.alerts import AlertManager
from lanecore.metrics.collectors import LoopCollector


class RecordedLane(Protocol):
    """A lane as the recorder sees it: its id and its index in the lane table."""

    @property
    def lane_id(self) -> str: ...

    @property
    def index(self) -> int: ...


class LaneCountsSource(Protocol):
    """The lane table's per-lane counts that the counters and gauges are derived from."""

    def pushes(self, index: int) -> int: ...

    def completions(self, index: int) -> int: ...

    def pending(self, index: int) -> int: ...

    def active(self, index: int) -> int: ...


class RecordedManager(Protocol):
    """What MetricsRecorder reads of its QueueManager: the lanes in table order and the lane
    table (named here so this module need not import the manager, which imports it)."""

    @property
    def _by_index(self) -> Sequence[RecordedLane]: ...

    @property
    def _table(self) -> LaneCountsSource: ...


class MetricsSettings:
    """What QueueManagerBuilder.with_metrics() collected: the backend and recorder options."""

    __slots__ = ("backend", "options")

    def __init__(self, backend: Any, **options: Any) -> None:
        self.backend = backend
        self.options = options


class LaneCounts:
    """One lane's instruments and the counts its derived counters are computed from."""

    __slots__ = (
        "inst",
        "not_completed",
        "repushed",
        "seen_completed",
        "seen_submitted",
    )

    def __init__(self, inst: LaneInstruments) -> None:
        self.inst = inst
        self.repushed = 0  # pushes that were retries, not submissions
        self.not_completed = 0  # complete() calls for failed or cancelled commands
        self.seen_submitted = 0
        self.seen_completed = 0


class MetricsRecorder:
    """The manager's side of metrics: derived counters, gauges, sampled timings, alerts."""

    def __init__(
        self,
        manager: RecordedManager,
        backend: Any,
        *,
        interval: float = 1.0,
        sample_every: int = 16,
        alerts: AlertManager | None = None,
    ) -> None:
        if not isinstance(backend, FastMetricsBackend):
            raise TypeError(
                "metrics backend must implement MetricsBackend with handles "
                f"(counter/gauge/histogram), got {backend!r}"
            )
        self.backend = backend
        self.interval = to_seconds("interval", interval)
        self.sample_every = check_int("sample_every", sample_every, 1)
        if alerts is not None and not isinstance(alerts, AlertManager):
            raise TypeError(f"alerts must be an AlertManager, got {alerts!r}")
        self.alerts = alerts
        self._manager = manager
        # by lane index (None: a removed lane's index, until a new lane takes it)
        self._lanes: list[LaneCounts | None] = []
        self._timer: asyncio.TimerHandle | None = None
        self._collecting: CollectingBackend | None = (
            backend if isinstance(backend, CollectingBackend) else None
        )
        # from start(): flushes on the loop's thread; registered with a collecting backend
        self._collector: LoopCollector | None = None
        self._registered = False
        # by lane index, for the dispatcher's sampled timings: ``record(ms)`` of each histogram
        # (changed in place when lanes come and go: runners hold these lists)
        self.wait_records: list[Callable[[float], None] | None] = []
        self.run_records: list[Callable[[float], None] | None] = []
        for ls in manager._by_index:
            self.lane_added(ls)

    def lane_added(self, ls: RecordedLane) -> None:
        """Count a lane from now on (at its index, which a removed lane may have had)."""
        counts = LaneCounts(LaneInstruments.for_lane(self.backend, ls.lane_id))
        index = ls.index
        missing = index + 1 - len(self._lanes)
        if missing > 0:
            self._lanes.extend([None] * missing)
            self.wait_records.extend([None] * missing)
            self.run_records.extend([None] * missing)
        self._lanes[index] = counts
        self.wait_records[index] = counts.inst.wait_time_ms.record
        self.run_records[index] = (
            counts.inst.latency_ms.record
            if self.alerts is None
            else self._ran_with_alerts(counts.inst)
        )

    def lane_removed(self, ls: RecordedLane) -> None:
        """A lane is about to leave the table: bring its counts up to date, then forget it."""
        self.flush()
        index = ls.index
        self._lanes[index] = None
        self.wait_records[index] = self.run_records[index] = None

    # ------------------------------------------------------------------ events
    def _ran_with_alerts(self, inst: LaneInstruments) -> Callable[[float], None]:
        record = inst.latency_ms.record
        check = self.alerts.check_latency  # type: ignore[union-attr]
        lane_id = inst.lane_id

        def ran(ms: float) -> None:
            record(ms)
            check(lane_id, ms)

        return ran

    def attempt_failed(self, ls: RecordedLane, timed_out: bool, will_retry: bool) -> None:
        counts = self._lanes[ls.index]
        assert counts is not None
        counts.not_completed += 1
        if timed_out:
            counts.inst.timeout.inc()
        if will_retry:
            counts.inst.retried.inc()
        else:
            counts.inst.failed.inc()
            counts.inst.dead_lettered.inc()

    def repushed(self, ls: RecordedLane) -> None:
        counts = self._lanes[ls.index]
        assert counts is not None
        counts.repushed += 1

    def slot_dropped(self, ls: RecordedLane) -> None:
        """A running command was cancelled: its complete() is not a completion."""
        counts = self._lanes[ls.index]
        assert counts is not None
        counts.not_completed += 1

    # ------------------------------------------------------------------ flushing
    def flush(self) -> None:
        """Bring the backend's counters and gauges up to date with the lane table (call it on
        the loop's thread: the table is not thread-safe)."""
        table = self._manager._table
        alerts = self.alerts
        for index, counts in enumerate(self._lanes):
            if counts is None:
                continue
            submitted = table.pushes(index) - counts.repushed
            if submitted > counts.seen_submitted:
                counts.inst.submitted.inc(submitted - counts.seen_submitted)
                counts.seen_submitted = submitted
            completed = table.completions(index) - counts.not_completed
            if completed > counts.seen_completed:
                counts.inst.completed.inc(completed - counts.seen_completed)
                counts.seen_completed = completed
            depth = table.pending(index)
            counts.inst.depth.set(depth)
            counts.inst.active.set(table.active(index))
            if alerts is not None:
                alerts.check_depth(counts.inst.lane_id, depth)

    def check_depths(self) -> None:
        """Feed every lane's queue depth to the alerts (between reads of a collecting backend)."""
        alerts = self.alerts
        if alerts is None:
            return
        table = self._manager._table
        for index, counts in enumerate(self._lanes):
            if counts is None:
                continue
            alerts.check_depth(counts.inst.lane_id, table.pending(index))

    def collect(self) -> None:
        """Flush on the loop's thread: directly there (or before start), else by a hop to it;
        when the loop does not answer in time the backend keeps its last values."""
        if self._collector is None:
            self.flush()
        else:
            self._collector()

    @property
    def registered(self) -> bool:
        """Whether the backend calls this recorder's collector on every read."""
        return self._registered

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by the manager's start() on the loop's thread: collect at every read of a
        collecting backend, else flush every interval; alerts get a depth check every interval."""
        self._collector = LoopCollector(self.flush, loop)
        if self._collecting is not None:
            self._collecting.add_collector(self._collector)
            self._registered = True
            if self.alerts is not None:
                self._schedule(loop, self.check_depths)
        else:
            self._schedule(loop, self.flush)

    def _schedule(self, loop: asyncio.AbstractEventLoop, tick: Callable[[], None]) -> None:
        self._timer = loop.call_later(self.interval, self._tick, loop, tick)

    def _tick(self, loop: asyncio.AbstractEventLoop, tick: Callable[[], None]) -> None:
        tick()
        self._schedule(loop, tick)

    def stop(self) -> None:
        """Called by the manager's close(): cancel the timer, flush a last time, then stop
        collecting, so the backend keeps the final values."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        if self._registered:
            self._registered = False
            assert self._collecting is not None and self._collector is not None
            self._collecting.remove_collector(self._collector)
        self._collector = None


class ManagerMetrics:
    """``manager.metrics``: the backend, with snapshot() current even before start() and with a
    backend that does not collect."""

    def __init__(self, recorder: MetricsRecorder) -> None:
        self._recorder = recorder
        self.backend = recorder.backend

    def increment_counter(self, name: str, value: int = 1, labels: Any = None) -> None:
        self.backend.increment_counter(name, value, labels)

    def set_gauge(self, name: str, value: float, labels: Any = None) -> None:
        self.backend.set_gauge(name, value, labels)

    def record_histogram(self, name: str, value: float, labels: Any = None) -> None:
        self.backend.record_histogram(name, value, labels)

    def snapshot(self) -> MetricsSnapshot:
        """The backend's snapshot, the scheduler's counts brought up to date first."""
        if not self._recorder.registered:  # (a registered collector runs in snapshot())
            self._recorder.collect()
        snapshot: MetricsSnapshot = self.backend.snapshot()
        return snapshot

    def reset(self) -> None:
        """Zero every series; counts start again from now."""
        if not self._recorder.registered:
            self._recorder.collect()
        self.backend.reset()

    def __repr__(self) -> str:
        return f"<ManagerMetrics backend={self.backend!r}>"


def default_backend() -> LocalMetrics:
    return LocalMetrics()
