"""Point-in-time statistics of a manager and of each lane."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LaneStatus:
    lane_id: str
    priority: int
    effective_priority: int
    pending: int
    active: int
    min_concurrency: int
    max_concurrency: int
    paused: bool
    throttled: bool
    reserved: int = 0
    """Slots the global cap grants the lane: its min_concurrency, or 0 where the cap is below
    the total minimum of it and the lanes above it (without a cap: the min, which then has no
    effect). Held only while the lane has pending work and is neither paused nor throttled."""
    scheduled: int = 0
    """Delayed commands (``submit(..., delay=)``) not yet due: they hold no slot and are not
    counted in ``pending`` until they enter the lane."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    total_pending: int
    total_active: int
    dead_letter_count: int
    retrying: int
    lanes: Mapping[str, LaneStatus]
