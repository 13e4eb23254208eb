"""The systems lanecore is compared with: a hand-written priority pool, and thin adapters for
aiojobs, aiolimiter and the a3s-lane SDK (imported lazily, so none of them is required to
import this module). Used by ``lanecore bench`` and by the suite in benchmarks/."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from typing import Any

from lanecore.bench.installed import installed

Job = Callable[[], Awaitable[Any]]


async def noop() -> None:
    """The no-op command every throughput workload runs."""


# system -> (module it imports as, pip requirement)
PEER_PACKAGES = {
    "aiojobs": ("aiojobs", "aiojobs"),
    "aiolimiter": ("aiolimiter", "aiolimiter"),
    "a3s-lane": ("_a3s_lane", "a3s-lane==0.4.0"),
}


def missing_peer(system: str) -> str | None:
    """Why a peer system cannot run here (its package is not installed), or None if it can."""
    module, requirement = PEER_PACKAGES.get(system, (None, None))
    if module is None or installed(module):
        return None
    return f"{system} is not installed (pip install '{requirement}')"


class PriorityPool:
    """What a user writes by hand: one ``asyncio.PriorityQueue`` of
    ``(priority, seq, fn, future)`` and N long-lived worker coroutines.

    It has global priority order but no per-lane caps: any worker runs any item.
    """

    def __init__(self, workers: int) -> None:
        self._queue: asyncio.PriorityQueue[tuple[int, int, Job, asyncio.Future[Any]]] = (
            asyncio.PriorityQueue()
        )
        self._seq = itertools.count()
        self._workers: list[asyncio.Task[None]] = []
        self._size = workers

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work()) for _ in range(self._size)]
        await asyncio.sleep(0)  # let every worker reach its first get()

    def submit(self, priority: int, fn: Job) -> asyncio.Future[Any]:
        """Queue ``fn`` at ``priority`` (0 = first) and return a future of its result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((priority, next(self._seq), fn, future))
        return future

    async def _work(self) -> None:
        get = self._queue.get
        while True:
            _, _, fn, future = await get()
            try:
                result = await fn()
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)


def aiojobs_scheduler(
    limit: int, on_error: Callable[[Any, dict[str, Any]], None] | None = None
) -> Any:
    """An ``aiojobs.Scheduler`` running at most ``limit`` jobs, with an unbounded pending queue
    (``pending_limit=0``) so every spawn returns at once, like a submit; ``on_error`` is told
    of jobs that failed."""
    aiojobs = import_module("aiojobs")
    return aiojobs.Scheduler(
        limit=limit, pending_limit=0, wait_timeout=None, exception_handler=on_error
    )


def aiolimiter_limiter(max_rate: float, time_period: float) -> Any:
    """An ``aiolimiter.AsyncLimiter`` (a leaky bucket; it also allows a burst of max_rate)."""
    return import_module("aiolimiter").AsyncLimiter(max_rate, time_period)


def a3s_run(
    lanes: Sequence[tuple[str, int, int]],
    commands: int,
    threads: int,
) -> tuple[int, float]:
    """Drive the blocking a3s-lane 0.4.0 SDK: ``lanes`` are (lane_id, priority, max); submit
    ``commands`` unregistered (echo) commands round-robin over the lanes from ``threads``
    threads. Returns (commands completed, seconds from first submit to last result)."""
    sdk = import_module("_a3s_lane")
    configs = [
        sdk.PyLaneConfig(lane_id, priority=priority, min_concurrency=1, max_concurrency=high)
        for lane_id, priority, high in lanes
    ]
    lane = sdk.PyLane.with_lanes(configs)
    lane.start()
    ids = [lane_id for lane_id, _, _ in lanes]
    done = 0
    lock = threading.Lock()

    def one(i: int) -> None:
        nonlocal done
        lane.submit(ids[i % len(ids)], "noop", None)
        with lock:
            done += 1

    try:
        with ThreadPoolExecutor(threads) as pool:
            start = time.perf_counter()
            list(pool.map(one, range(commands)))
            elapsed = time.perf_counter() - start
    finally:
        lane.shutdown()
        lane.drain(timeout_secs=30.0)
    return done, elapsed
