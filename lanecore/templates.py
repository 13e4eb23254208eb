"""Lane templates (``with_lane_template``): lanes made on the first submit to an id with the
template's prefix (one lane per tenant, each with its own cap and buckets), and removed by an
idle sweep once they held nothing for ``idle_ttl`` seconds.

The sweep is one loop timer, every ``idle_ttl / 4`` of the shortest template, running only
while templated lanes exist; it costs the dispatch path nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lanecore._durations import check_int, to_seconds
from lanecore.config import LaneConfig

SWEEPS_PER_TTL = 4
"""A templated lane is removed between ``idle_ttl`` and ``idle_ttl * (1 + 1/SWEEPS_PER_TTL)``
seconds after it last held anything."""


def check_lane_spec(
    lane_id: object, config: object, priority: object
) -> tuple[str, LaneConfig, int]:
    """A lane's id, config and priority, checked; TypeError/ValueError naming a bad one."""
    if not isinstance(lane_id, str):
        raise TypeError(f"lane id must be a str, got {lane_id!r}")
    if not lane_id:
        raise ValueError("lane id must not be empty")
    if not isinstance(config, LaneConfig):
        raise TypeError(f"config of lane {lane_id!r} must be a LaneConfig, got {config!r}")
    return lane_id, config, check_int("priority", priority, 0, 255)


@dataclass(frozen=True, slots=True)
class LaneTemplate:
    """Lanes whose id starts with ``prefix`` get ``config`` and ``priority``; each is removed
    after ``idle_ttl`` seconds with nothing pending, running, delayed or retrying."""

    prefix: str
    config: LaneConfig
    priority: int
    idle_ttl: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not self.prefix:
            raise ValueError(
                f"a lane template's prefix must be a non-empty str, got {self.prefix!r}"
            )
        check_lane_spec(self.prefix, self.config, self.priority)
        object.__setattr__(self, "idle_ttl", to_seconds("idle_ttl", self.idle_ttl))


class IdleSweeper:
    """Calls ``sweep(now)`` every ``idle_ttl / SWEEPS_PER_TTL`` (of the shortest template)
    while it returns a non-zero count of templated lanes."""

    def __init__(self, sweep: Callable[[float], int], templates: Sequence[LaneTemplate]) -> None:
        self._sweep = sweep
        ttls = [t.idle_ttl for t in templates]
        self.interval = min(ttls) / SWEEPS_PER_TTL if ttls else 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """A templated lane exists: make sure the sweep runs."""
        if self._timer is None and not self._closed and self.interval:
            self._timer = loop.call_later(self.interval, self._run, loop)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if self._sweep(loop.time()):
            self.watch(loop)

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
