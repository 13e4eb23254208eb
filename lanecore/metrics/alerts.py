"""AlertManager: queue-depth and latency thresholds (warning and critical) with callbacks.

An alert fires when a value *crosses* a threshold upwards, not again while it stays above; the
level re-arms once the value falls back below ``threshold * (1 - hysteresis)``. A check whose
value leaves the alert state unchanged costs one dict lookup and two comparisons.

Not thread-safe: call it from the thread running the event loop.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from lanecore._durations import check_int
from lanecore.metrics._callbacks import check_callback, invoke
from lanecore.metrics._validate import check_number

logger = logging.getLogger("lanecore")

_NONE: Final = 0
_WARNING: Final = 1
_CRITICAL: Final = 2


class AlertLevel(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class AlertKind(StrEnum):
    QUEUE_DEPTH = "queue_depth"
    LATENCY = "latency"


_LEVELS: Final = (None, AlertLevel.WARNING, AlertLevel.CRITICAL)


@dataclass(frozen=True, slots=True)
class Alert:
    """One threshold crossing: value reached threshold (wall-clock time.time() timestamp)."""

    level: AlertLevel
    kind: AlertKind
    lane_id: str
    value: float
    threshold: float
    timestamp: float


AlertCallback = Callable[[Alert], object]


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Warning and critical levels for queue depth (commands pending) and latency (ms).

    A level left as None is not watched. Each given level must be positive and a warning level
    must not exceed its critical level.
    """

    depth_warning: int | None = None
    depth_critical: int | None = None
    latency_warning_ms: float | None = None
    latency_critical_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("depth_warning", "depth_critical"):
            value = getattr(self, name)
            if value is not None:
                check_int(name, value, 1)
        for name in ("latency_warning_ms", "latency_critical_ms"):
            value = getattr(self, name)
            if value is not None:
                checked = check_number(name, value)
                if checked <= 0:
                    raise ValueError(f"{name} must be > 0, got {value!r}")
                object.__setattr__(self, name, checked)
        pairs = (
            ("depth_warning", "depth_critical"),
            ("latency_warning_ms", "latency_critical_ms"),
        )
        for low_name, high_name in pairs:
            low, high = getattr(self, low_name), getattr(self, high_name)
            if low is not None and high is not None and low > high:
                raise ValueError(f"{low_name} ({low!r}) must be <= {high_name} ({high!r})")

    def levels(self, kind: AlertKind) -> tuple[float, float]:
        """(warning, critical) for kind, inf for a level that is not watched."""
        warning: float | None
        critical: float | None
        if kind is AlertKind.QUEUE_DEPTH:
            warning, critical = self.depth_warning, self.depth_critical
        else:
            warning, critical = self.latency_warning_ms, self.latency_critical_ms
        return (
            math.inf if warning is None else float(warning),
            math.inf if critical is None else float(critical),
        )


class _Watch:
    """Alert state of one (lane, kind): its level and the band of values that keep it."""

    __slots__ = ("critical", "high", "keep", "level", "low", "warning")

    def __init__(self, warning: float, critical: float, keep: float) -> None:
        self.warning = warning
        self.critical = critical
        self.keep = keep  # 1 - hysteresis
        self.level = _NONE
        # values in [low, high) leave the level as it is (low 0: negatives get validated)
        self.low = 0.0
        self.high = min(warning, critical)

    def threshold(self, level: int) -> float:
        return self.warning if level == _WARNING else self.critical

    def move(self, value: float) -> int | None:
        """Apply value; the level that just fired, if any."""
        level = self.level
        while level > _NONE and value < self.threshold(level) * self.keep:
            level -= 1  # fell back below: re-arm this level
        target = (
            _CRITICAL if value >= self.critical else _WARNING if value >= self.warning else _NONE
        )
        fired = target if target > level else None
        self.level = max(level, target)
        if self.level == _NONE:
            self.low, self.high = 0.0, min(self.warning, self.critical)
        elif self.level == _WARNING:
            self.low, self.high = self.warning * self.keep, self.critical
        else:
            self.low, self.high = self.critical * self.keep, math.inf
        return fired


class AlertManager:
    """Watches queue depth and command latency per lane against global or per-lane
    AlertThresholds and calls the ``on_alert`` callbacks when one is crossed."""

    def __init__(
        self,
        thresholds: AlertThresholds | None = None,
        *,
        lanes: Mapping[str, AlertThresholds] | None = None,
        hysteresis: float = 0.0,
    ) -> None:
        h = check_number("hysteresis", hysteresis)
        if not 0.0 <= h < 1.0:
            raise ValueError(f"hysteresis must be in [0, 1), got {hysteresis!r}")
        self._keep = 1.0 - h
        self._global: AlertThresholds | None = None
        self._lanes: dict[str, AlertThresholds] = {}
        self._watches: dict[AlertKind, dict[str, _Watch]] = {kind: {} for kind in AlertKind}
        self._depth = self._watches[AlertKind.QUEUE_DEPTH]
        self._latency = self._watches[AlertKind.LATENCY]
        self._callbacks: list[AlertCallback] = []
        self.alerts_fired = 0
        self.set_thresholds(thresholds)
        for lane_id, lane_thresholds in (lanes or {}).items():
            self.set_thresholds(lane_thresholds, lane_id=lane_id)

    def set_thresholds(
        self, thresholds: AlertThresholds | None, *, lane_id: str | None = None
    ) -> None:
        """Set (or with None, remove) the global thresholds, or those of one lane, which then
        override the global ones for it. Alert state of the lanes concerned is re-armed."""
        if thresholds is not None and not isinstance(thresholds, AlertThresholds):
            raise TypeError(f"thresholds must be AlertThresholds or None, got {thresholds!r}")
        if lane_id is None:
            self._global = thresholds
            for watches in self._watches.values():
                for lane in [lane for lane in watches if lane not in self._lanes]:
                    del watches[lane]
            return
        if not isinstance(lane_id, str):
            raise TypeError(f"lane_id must be a str, got {lane_id!r}")
        if thresholds is None:
            self._lanes.pop(lane_id, None)
        else:
            self._lanes[lane_id] = thresholds
        for watches in self._watches.values():
            watches.pop(lane_id, None)

    def thresholds_for(self, lane_id: str) -> AlertThresholds | None:
        """The thresholds that apply to a lane (its own, else the global ones)."""
        return self._lanes.get(lane_id, self._global)

    def on_alert(self, callback: AlertCallback) -> AlertCallback:
        """Call callback(alert) on every alert (an async one runs as a task); usable as a
        decorator. A callback that raises is logged to the "lanecore" logger."""
        check_callback(callback)
        self._callbacks.append(callback)
        return callback

    def remove_callback(self, callback: AlertCallback) -> None:
        """Stop calling callback (ValueError if it was not registered)."""
        self._callbacks.remove(callback)

    def check_depth(self, lane_id: str, depth: int) -> Alert | None:
        """Feed a lane's queue depth; returns the alert it fired, if any."""
        watch = self._depth.get(lane_id)
        if watch is not None and watch.low <= depth < watch.high:
            return None
        return self._check(AlertKind.QUEUE_DEPTH, lane_id, depth)

    def check_latency(self, lane_id: str, ms: float) -> Alert | None:
        """Feed one command latency (ms) of a lane; returns the alert it fired, if any."""
        watch = self._latency.get(lane_id)
        if watch is not None and watch.low <= ms < watch.high:
            return None
        return self._check(AlertKind.LATENCY, lane_id, ms)

    def level(self, lane_id: str, kind: AlertKind) -> AlertLevel | None:
        """The alert level a lane is at for kind (None when below every threshold)."""
        watch = self._watches[kind].get(lane_id)
        return None if watch is None else _LEVELS[watch.level]

    def _check(self, kind: AlertKind, lane_id: str, value: float) -> Alert | None:
        """Slow path: validate, create the lane's watch if new, move it, fire."""
        if not isinstance(lane_id, str):
            raise TypeError(f"lane_id must be a str, got {lane_id!r}")
        what = "depth" if kind is AlertKind.QUEUE_DEPTH else "latency"
        checked = check_number(what, value, non_negative=True)
        watches = self._watches[kind]
        watch = watches.get(lane_id)
        if watch is None:
            thresholds = self.thresholds_for(lane_id)
            warning, critical = (
                (math.inf, math.inf) if thresholds is None else thresholds.levels(kind)
            )
            watch = watches[lane_id] = _Watch(warning, critical, self._keep)
        fired = watch.move(checked)
        if fired is None:
            return None
        level = _LEVELS[fired]
        assert level is not None
        alert = Alert(level, kind, lane_id, checked, watch.threshold(fired), time.time())
        self.alerts_fired += 1
        logger.log(
            logging.ERROR if level is AlertLevel.CRITICAL else logging.WARNING,
            "lanecore: %s alert on lane %r: %s %s reached %s",
            level.value,
            lane_id,
            kind.value,
            value,
            alert.threshold,
        )
        for callback in list(self._callbacks):
            invoke(callback, alert, "alert")
        return alert
