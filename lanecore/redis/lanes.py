"""Lane configs as stored in Redis: a canonical JSON per lane (to detect managers that
disagree) and the runtime fields the scripts read (priority, bounds, token bucket, deadline
boost, pressure threshold)."""

from __future__ import annotations

import json
from typing import Any

from lanecore.boost import PriorityBoostConfig
from lanecore.config import LaneConfig
from lanecore.ratelimit import RateLimitConfig
from lanecore.retry import RetryPolicy

LaneSpec = tuple[str, LaneConfig, int]  # lane id, config, base priority


class LaneConfigMismatch(ValueError):
    """The lanes stored in Redis for this namespace differ from this manager's."""


def _bucket(rate: RateLimitConfig | None) -> list[Any] | None:
    return None if rate is None or rate.is_unlimited else [rate.max_requests, rate.window]


def spec(config: LaneConfig, priority: int) -> dict[str, Any]:
    """Everything about a lane that every process of a namespace must agree on (the cost
    limit and max_pending only when set, so lanes stored before they existed still match)."""
    retry = config.retry_policy
    boost = config.priority_boost
    fields: dict[str, Any] = {
        "priority": priority,
        "min_concurrency": config.min_concurrency,
        "max_concurrency": config.max_concurrency,
        "timeout": config.timeout,
        "retry": [
            retry.max_retries,
            retry.initial_delay,
            retry.max_delay,
            retry.multiplier,
            retry.jitter,
        ],
        "rate_limit": _bucket(config.rate_limit),
        "priority_boost": None
        if boost is None or not boost.enabled
        else [boost.deadline, [list(step) for step in boost.steps]],
        "pressure_threshold": config.pressure_threshold,
    }
    if _bucket(config.cost_limit) is not None:
        fields["cost_limit"] = _bucket(config.cost_limit)
    if config.max_pending is not None:
        fields["max_pending"] = config.max_pending
    return fields


def encode(config: LaneConfig, priority: int) -> str:
    """The canonical JSON of a lane (stable key order, so equal configs give equal text)."""
    return json.dumps(spec(config, priority), sort_keys=True, separators=(",", ":"))


def decode(text: str) -> tuple[LaneConfig, int]:
    """A lane config and priority back from its canonical JSON (for lanes this process did
    not configure itself)."""
    data = json.loads(text)
    retry = RetryPolicy(*data["retry"])
    rate = None if data["rate_limit"] is None else RateLimitConfig(*data["rate_limit"])
    boost = None
    if data["priority_boost"] is not None:
        deadline, steps = data["priority_boost"]
        boost = PriorityBoostConfig(deadline, tuple((b, int(levels)) for b, levels in steps))
    config = LaneConfig(
        data["min_concurrency"],
        data["max_concurrency"],
        timeout=data["timeout"],
        retry_policy=retry,
        rate_limit=rate,
        priority_boost=boost,
        pressure_threshold=data["pressure_threshold"],
    )
    if data.get("cost_limit") is not None:
        config = config.with_cost_limit(RateLimitConfig(*data["cost_limit"]))
    if data.get("max_pending") is not None:
        config = config.with_max_pending(int(data["max_pending"]))
    return config, int(data["priority"])


def describe_difference(lane_id: str, stored: str, mine: str) -> str:
    """One line naming the lane and each field that differs (stored vs this manager)."""
    try:
        old, new = json.loads(stored), json.loads(mine)
    except ValueError:
        return f"lane {lane_id!r}: stored config {stored!r} differs from {mine!r}"
    fields = sorted(set(old) | set(new))
    diffs = [
        f"{f} stored={old.get(f)!r} here={new.get(f)!r}" for f in fields if old.get(f) != new.get(f)
    ]
    what = "global settings" if lane_id == "" else f"lane {lane_id!r}"
    return f"{what} differs from the one stored in Redis: " + ", ".join(diffs)


def _per_ms(rate: RateLimitConfig | None) -> tuple[float, int]:
    """A bucket's refill per millisecond and capacity ((0, 0): no bucket)."""
    if rate is None or rate.is_unlimited:
        return 0.0, 0
    return rate.tokens_per_second / 1000.0, int(rate.max_requests or 0)


def runtime_args(lane_id: str, config: LaneConfig, priority: int) -> list[Any]:
    """The per-lane fields of store_lane (common.lua, LANE_FIELDS): id, JSON, priority, min,
    max, tokens per ms, bucket capacity, boost deadline ms, boost steps, pressure threshold
    (0: none), cost units per ms, cost capacity (0, 0: no cost limit), max pending (0: none)."""
    per_ms, capacity = _per_ms(config.rate_limit)
    cost_per_ms, cost_capacity = _per_ms(config.cost_limit)
    boost = config.priority_boost
    deadline_ms, steps = 0.0, ""
    if boost is not None and boost.deadline is not None:
        deadline_ms = boost.deadline * 1000.0
        steps = ";".join(f"{before * 1000.0:.3f}:{levels}" for before, levels in boost.steps)
    return [
        lane_id,
        encode(config, priority),
        priority,
        config.min_concurrency,
        config.max_concurrency,
        repr(per_ms),
        capacity,
        repr(deadline_ms),
        steps,
        config.pressure_threshold or 0,
        repr(cost_per_ms),
        cost_capacity,
        config.max_pending or 0,
    ]


def granted_reservations(lanes: list[tuple[int, int, int]], cap: int) -> list[int]:
    """The min reservation each lane is granted, as step.lua grants it: ``lanes`` holds
    (priority, order added, min) per lane; by priority, then order, each gets its min while
    the running sum fits ``cap``; the first that does not fit and all after it get 0."""
    granted = [0] * len(lanes)
    used = 0
    for index in sorted(range(len(lanes)), key=lambda i: lanes[i][:2]):
        want = lanes[index][2]
        if cap and used + want > cap:
            break
        used += want
        granted[index] = want
    return granted


def check_lease(lanes: list[LaneSpec], lease: float, grace: float) -> None:
    """A lease must outlast a lane's timeout plus grace, or long commands would be handed to
    a second worker while the first still runs them; ValueError naming the lane otherwise."""
    for lane_id, config, _ in lanes:
        if config.timeout is not None and lease < config.timeout + grace:
            raise ValueError(
                f"lease ({lease:g}s) must be >= lane {lane_id!r} timeout ({config.timeout:g}s) "
                f"+ grace ({grace:g}s); pass RedisBackend(..., lease={config.timeout + grace:g}) "
                "or shorten the lane's timeout"
            )
