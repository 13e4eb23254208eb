"""The app lanecore's worker processes load for bench_redis.py:

    python -m lanecore worker --redis URL --namespace NS --app benchmarks.redis_app:app

One lane, ``work``, whose max (``LANE_MAX``) is at least every worker's slots together, so the
cluster-wide lane cap never binds and each process runs up to ``--concurrency`` jobs at once,
like the peers' workers. The producer builds its manager from the same ``lanes()``.
"""

from __future__ import annotations

import os
from typing import Any

from lanecore import LaneConfig, QueueManagerBuilder

LANE = "work"
LANE_MAX = 1000
_PID = os.getpid()


async def noop(payload: Any) -> int:
    """The no-op job; it returns the worker's pid so the producer can count jobs per process."""
    return _PID


def lanes() -> QueueManagerBuilder:
    """The lane layout every process of the benchmark's namespace shares."""
    return QueueManagerBuilder().with_lane(LANE, LaneConfig(1, LANE_MAX), 0)


def app() -> tuple[QueueManagerBuilder, dict[str, Any]]:
    """What ``--app benchmarks.redis_app:app`` loads: the lanes and the one handler."""
    return lanes(), {"noop": noop}
