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


@dataclass(frozen=True, slots=True)
class QueueStats:
    total_pending: int
    total_active: int
    dead_letter_count: int
    retrying: int
    lanes: Mapping[str, LaneStatus]
