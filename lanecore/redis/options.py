"""The per-command options of a distributed submit (cost, delay, group), checked as the local
manager checks them and packed into the one field submit.lua reads ('' when none is used)."""

from __future__ import annotations

from typing import Any

from lanecore._durations import check_int, to_seconds
from lanecore.config import LaneConfig
from lanecore.groups import check_group


def pack(lane_id: str, config: LaneConfig, cost: Any, delay: Any, group: Any) -> str:
    """``"cost,delay ms,group"`` for submit.lua, or '' for a plain command. A cost above the
    lane's cost bucket raises ValueError (it could never run); on a lane without a cost limit
    the cost is accepted and has no effect, as on the local manager."""
    units = 1
    if cost is not None:
        check_int("cost", cost, 1)
        limit = config.cost_limit
        if limit is not None and not limit.is_unlimited:
            capacity = int(limit.max_requests or 0)
            if cost > capacity:
                raise ValueError(
                    f"cost {cost} exceeds the cost limit of lane {lane_id!r} (at most "
                    f"{capacity} per window): such a command could never run"
                )
            units = cost
    seconds = 0.0 if delay is None else to_seconds("delay", delay, allow_zero=True)
    if group is not None:
        check_group(group)
    if units == 1 and seconds == 0.0 and group is None:
        return ""
    return f"{units},{seconds * 1000.0:.3f},{group or ''}"
