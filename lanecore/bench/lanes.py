"""Lane layouts for the workloads and the lanecore manager built from one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from lanecore import LaneConfig, QueueManager, QueueManagerBuilder, RateLimitConfig, RetryPolicy

LaneLayout = list[tuple[str, int, int]]  # (lane_id, priority, max_concurrency)


def layout(lanes: int, per_lane_max: int) -> LaneLayout:
    """``lanes`` lanes at priorities 0, 1, 2, ... (modulo 256), each capped at per_lane_max."""
    return [(f"lane{i}", i % 256, per_lane_max) for i in range(lanes)]


def split(total: int, parts: int) -> list[int]:
    """``total`` commands over ``parts`` lanes, as evenly as possible."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def succeeded(futures: Sequence[asyncio.Future[Any]]) -> int:
    """How many of ``futures`` finished with a result (not cancelled, no exception)."""
    return sum(1 for f in futures if f.done() and not f.cancelled() and f.exception() is None)


def core_name(system: str) -> str:
    """ "lanecore-cython-submit" -> "cython"."""
    name = system.removeprefix("lanecore-").removesuffix("-submit")
    if name not in ("cython", "python"):
        raise ValueError(f"not a lanecore system: {system!r}")
    return name


def build_manager(
    core: str,
    lanes: LaneLayout,
    *,
    retry: RetryPolicy | None = None,
    global_cap: int = 0,
    rate: RateLimitConfig | None = None,
    metrics: bool = False,
) -> QueueManager:
    """A manager on ``core`` with the layout's lanes (``LaneConfig(1, max)``), plus the
    requested features: retries, a global cap, a rate limit, LocalMetrics."""
    builder = QueueManagerBuilder().with_implementation(core)
    for lane_id, priority, high in lanes:
        config = LaneConfig(1, high)
        if retry is not None:
            config = config.with_retry_policy(retry)
        if rate is not None:
            config = config.with_rate_limit(rate)
        builder.with_lane(lane_id, config, priority)
    if global_cap:
        builder.with_global_concurrency(global_cap)
    if metrics:
        from lanecore.metrics import LocalMetrics

        builder.with_metrics(LocalMetrics())
    return builder.build()
