"""QueueMonitor (SPEC §9): samples a stats source every ``interval`` seconds, keeps the last
sample and running peaks, and warns (log + callbacks) when too much is pending or running.

As in a3s-lane, a warning is emitted for every sample whose total is strictly above its
threshold; the interval is what rate-limits them. Not thread-safe: one event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from lanecore._durations import Duration, check_int, to_seconds
from lanecore.metrics._callbacks import check_callback, invoke

logger = logging.getLogger("lanecore")

DEFAULT_INTERVAL = 10.0
DEFAULT_PENDING_WARNING_THRESHOLD = 100
DEFAULT_ACTIVE_WARNING_THRESHOLD = 50


class LaneSample(Protocol):
    """What the monitor reads of one lane (lanecore.LaneStatus fits)."""

    @property
    def pending(self) -> int: ...

    @property
    def active(self) -> int: ...


class StatsSample(Protocol):
    """What the monitor reads of a stats sample (lanecore.QueueStats fits)."""

    @property
    def total_pending(self) -> int: ...

    @property
    def total_active(self) -> int: ...

    @property
    def lanes(self) -> Mapping[str, LaneSample]: ...


class _HasStats(Protocol):
    def stats(self) -> StatsSample: ...


StatsSource = Callable[[], StatsSample] | _HasStats


class WarningKind(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class MonitorWarning:
    """A sample whose total (pending or active) was above its threshold."""

    kind: WarningKind
    value: int
    threshold: int
    timestamp: float
    sample: StatsSample


@dataclass(frozen=True, slots=True)
class MonitorStats:
    """What the monitor has seen: sample count, the last totals, peaks, warnings, errors
    (samples whose source raised)."""

    samples: int
    total_pending: int
    total_active: int
    peak_pending: int
    peak_active: int
    warnings_emitted: int
    errors: int
    last_sample_at: float | None


MonitorCallback = Callable[[MonitorWarning], object]
SampleCallback = Callable[[StatsSample], object]


class QueueMonitor:
    """Periodic health check of a queue: ``async with QueueMonitor(manager, interval=5): ...``.

    source is a callable returning a stats sample, or an object with a ``stats()`` method
    (a QueueManager). The first sample is taken at start, then one every interval.
    """

    def __init__(
        self,
        source: StatsSource,
        interval: Duration = DEFAULT_INTERVAL,
        pending_warning_threshold: int = DEFAULT_PENDING_WARNING_THRESHOLD,
        active_warning_threshold: int = DEFAULT_ACTIVE_WARNING_THRESHOLD,
    ) -> None:
        if callable(source):
            self._read: Callable[[], StatsSample] = source
        elif callable(getattr(source, "stats", None)):
            self._read = source.stats
        else:
            raise TypeError(f"source must be a callable or have a stats() method, got {source!r}")
        self.interval = to_seconds("interval", interval)
        self.pending_warning_threshold = check_int(
            "pending_warning_threshold", pending_warning_threshold, 1
        )
        self.active_warning_threshold = check_int(
            "active_warning_threshold", active_warning_threshold, 1
        )
        self._warning_callbacks: list[MonitorCallback] = []
        self._sample_callbacks: list[SampleCallback] = []
        self._task: asyncio.Task[None] | None = None
        self._last: StatsSample | None = None
        self._last_at: float | None = None
        self._samples = 0
        self._peak_pending = 0
        self._peak_active = 0
        self._warnings = 0
        self._errors = 0

    # -- callbacks -----------------------------------------------------------------------------

    def on_warning(self, callback: MonitorCallback) -> MonitorCallback:
        """Call callback(MonitorWarning) on each warning; usable as a decorator."""
        check_callback(callback)
        self._warning_callbacks.append(callback)
        return callback

    def on_sample(self, callback: SampleCallback) -> SampleCallback:
        """Call callback(sample) after each sample, e.g. to feed AlertManager.check_depth."""
        check_callback(callback)
        self._sample_callbacks.append(callback)
        return callback

    # -- sampling ------------------------------------------------------------------------------

    @property
    def last(self) -> StatsSample | None:
        """The last sample taken (None before the first)."""
        return self._last

    def check(self) -> StatsSample:
        """Take one sample now: update peaks, warn, run callbacks. Errors of the source
        propagate (the periodic task logs and counts them instead)."""
        sample = self._read()
        pending, active = sample.total_pending, sample.total_active
        self._last, self._last_at = sample, time.time()
        self._samples += 1
        self._peak_pending = max(self._peak_pending, pending)
        self._peak_active = max(self._peak_active, active)
        if pending > self.pending_warning_threshold:
            self._warn(WarningKind.PENDING, pending, self.pending_warning_threshold, sample)
        if active > self.active_warning_threshold:
            self._warn(WarningKind.ACTIVE, active, self.active_warning_threshold, sample)
        for callback in list(self._sample_callbacks):
            invoke(callback, sample, "monitor sample")
        return sample

    def _warn(self, kind: WarningKind, value: int, threshold: int, sample: StatsSample) -> None:
        self._warnings += 1
        logger.warning(
            "lanecore: high number of %s commands: %d (threshold: %d)", kind.value, value, threshold
        )
        warning = MonitorWarning(kind, value, threshold, time.time(), sample)
        for callback in list(self._warning_callbacks):
            invoke(callback, warning, "monitor warning")

    def stats(self) -> MonitorStats:
        """Counts, last totals and peaks so far."""
        last = self._last
        return MonitorStats(
            samples=self._samples,
            total_pending=0 if last is None else last.total_pending,
            total_active=0 if last is None else last.total_active,
            peak_pending=self._peak_pending,
            peak_active=self._peak_active,
            warnings_emitted=self._warnings,
            errors=self._errors,
            last_sample_at=self._last_at,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start sampling on the running loop (no-op when already running)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="lanecore QueueMonitor"
            )

    async def stop(self) -> None:
        """Stop sampling and wait for the task to end (no-op when not running)."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled ourselves, not just the monitor task

    async def __aenter__(self) -> QueueMonitor:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval
        next_at = loop.time()
        while True:
            try:
                self.check()
            except Exception:
                self._errors += 1
                logger.exception("lanecore: QueueMonitor could not read the queue stats")
            next_at += interval
            now = loop.time()
            if next_at <= now:  # fell behind: skip the missed ticks, keep the phase
                next_at += (math.floor((now - next_at) / interval) + 1) * interval
            await asyncio.sleep(next_at - now)
