"""Per-lane wait times (submit -> start) measured by the demo's own command wrapper.

Each command captures ``time.perf_counter()`` when it is made, right before ``submit``, and
records the difference when the scheduler starts it: the wait the caller sees, independent of
the manager's metrics. The newest ``keep`` waits per lane are kept for percentiles, so memory
stays bounded however long the demo runs; count, max and the shortest duration run are exact.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

Command = Callable[[], Coroutine[Any, Any, None]]

DEFAULT_KEEP = 10_000


def percentiles(values: Iterable[float], *qs: float) -> tuple[float | None, ...]:
    """The nearest-rank ``q``-quantile (0 < q <= 1) of ``values`` for each q (one sort);
    None for each when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return (None,) * len(qs)
    return tuple(ordered[max(1, math.ceil(q * len(ordered))) - 1] for q in qs)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank ``q``-quantile of ``values``; None when empty."""
    return percentiles(values, q)[0]


class LaneWaits:
    """What one lane's commands waited (the newest ``keep`` waits, and the longest of all),
    how many started and finished, and the shortest duration among those that started."""

    __slots__ = ("done", "max_wait", "recent", "shortest_run", "started")

    def __init__(self, keep: int) -> None:
        self.recent: deque[float] = deque(maxlen=keep)
        self.started = 0
        self.done = 0
        self.max_wait = 0.0
        self.shortest_run = math.inf

    def p(self, *qs: float) -> tuple[float | None, ...]:
        """The q-quantiles of the kept waits, in seconds (None before any command started)."""
        return percentiles(self.recent, *qs)


class WaitTracker:
    """Makes the demo's commands and collects their waits per lane."""

    def __init__(self, lanes: Iterable[str], keep: int = DEFAULT_KEEP) -> None:
        self.lanes: dict[str, LaneWaits] = {lane: LaneWaits(keep) for lane in lanes}

    def command(self, lane: str, duration: float) -> Command:
        """A command for ``lane`` that sleeps ``duration`` seconds; make it just before submit
        (its wait is measured from now)."""
        waits = self.lanes[lane]
        submitted = time.perf_counter()

        async def simulated_work() -> None:
            wait = time.perf_counter() - submitted
            waits.recent.append(wait)
            waits.started += 1
            if wait > waits.max_wait:
                waits.max_wait = wait
            if duration < waits.shortest_run:
                waits.shortest_run = duration
            await asyncio.sleep(duration)
            waits.done += 1

        simulated_work.__qualname__ = f"{lane}_work"
        return simulated_work
