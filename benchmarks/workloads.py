"""The workloads, as plain functions: each builds a fresh event loop (or core table), runs one
workload to completion for one system, and returns what happened (counts and timings).

W10 / W1 throughput (in every command form), the drain rate and PREEMPT live in
``lanecore.bench`` (installed, so ``lanecore bench`` runs them too) and are re-exported here;
this module adds the suite-only workloads: token buckets, rate limits, the core alone and
memory.

The bench_*.py files time them with pytest-benchmark; tests/test_benchmarks_smoke.py runs
them once at tiny sizes and checks the counts. Rates come from ``time.perf_counter()`` taken
inside the workload, around the part being measured (not loop start-up or teardown).
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from lanecore import RateLimitConfig, _impl
from lanecore.bench import peers
from lanecore.bench.forms import FORMS
from lanecore.bench.lanes import LaneLayout, build_manager, core_name, layout, split
from lanecore.bench.loops import run_on
from lanecore.bench.preempt import PATIENCE_SECONDS, PROMPT_SECONDS, preempt
from lanecore.bench.results import Preempt, Throughput, median, percentile
from lanecore.bench.throughput import LAYOUTS, OVERHEAD_VARIANTS, drain, throughput

__all__ = [
    "FORMS",
    "LAYOUTS",
    "OVERHEAD_VARIANTS",
    "PATIENCE_SECONDS",
    "PROMPT_SECONDS",
    "IdleWait",
    "LaneLayout",
    "Memory",
    "Preempt",
    "RateRun",
    "Throughput",
    "bucket_throughput",
    "core_memory",
    "core_push_pop",
    "drain",
    "idle_wait",
    "layout",
    "manager_memory",
    "median",
    "percentile",
    "preempt",
    "rate_accuracy",
    "split",
    "throughput",
]


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class RateRun:
    """Commands started within ``seconds`` of the first submit on a rate-limited lane."""

    rate: int
    seconds: float
    started: int  # starts in [0, seconds], burst included
    burst: int
    cpu_seconds: float
    wall_seconds: float
    submitted: int

    @property
    def expected(self) -> float:
        return self.rate * self.seconds

    @property
    def error_pct(self) -> float:
        """(started after the burst - rate x seconds) / (rate x seconds), in %."""
        return (self.started - self.burst - self.expected) / self.expected * 100.0

    @property
    def cpu_pct(self) -> float:
        """Process CPU time over wall time, in % of one core."""
        return self.cpu_seconds / self.wall_seconds * 100.0


@dataclass(frozen=True, slots=True)
class Memory:
    """Bytes traced by tracemalloc while ``items`` commands were pushed."""

    items: int
    retained_bytes: int
    peak_bytes: int

    @property
    def bytes_per_item(self) -> float:
        return self.retained_bytes / self.items


# ------------------------------------------------------------------------------ token buckets
def bucket_throughput(system: str, loop: str, calls: int) -> Throughput:
    """``calls`` non-blocking acquisitions from a bucket holding ``calls`` tokens, inside a
    coroutine: lanecore's TokenBucket.try_acquire (per core) or aiolimiter's
    ``if has_capacity(): await acquire()``."""
    if system == "aiolimiter":
        return run_on(loop, lambda: _aiolimiter_calls(calls))
    return run_on(loop, lambda: _bucket_calls(core_name(system), calls))


async def _bucket_calls(core: str, calls: int) -> Throughput:
    bucket = _impl.get_core(core).TokenBucket(float(calls), 1.0)
    acquire = bucket.try_acquire
    granted = 0
    start = time.perf_counter()
    for _ in range(calls):
        if acquire():
            granted += 1
    seconds = time.perf_counter() - start
    return Throughput(calls, granted, seconds)


async def _aiolimiter_calls(calls: int) -> Throughput:
    limiter = peers.aiolimiter_limiter(calls, 3600.0)
    has_capacity = limiter.has_capacity
    acquire = limiter.acquire
    granted = 0
    start = time.perf_counter()
    for _ in range(calls):
        if has_capacity():
            await acquire()
            granted += 1
    seconds = time.perf_counter() - start
    return Throughput(calls, granted, seconds)


def rate_accuracy(system: str, loop: str, rate: int, seconds: float) -> RateRun:
    """Keep a rate-limited lane (``rate`` per second, burst ``rate``) busy for ``seconds`` and
    count the commands that started; also the process CPU time over the same wall time."""
    if system == "aiolimiter":
        return run_on(loop, lambda: _aiolimiter_rate(rate, seconds))
    return run_on(loop, lambda: _lanecore_rate(core_name(system), rate, seconds))


def _rate_backlog(rate: int, seconds: float) -> int:
    """Enough commands to keep the lane waiting for tokens until the window ends."""
    return rate + int(rate * seconds * 1.2) + 100


async def _lanecore_rate(core: str, rate: int, seconds: float) -> RateRun:
    manager = build_manager(core, [("limited", 0, 100)], rate=RateLimitConfig.per_second(rate))
    starts: list[float] = []
    record = starts.append
    perf_counter = time.perf_counter

    async def command() -> None:
        record(perf_counter())

    backlog = _rate_backlog(rate, seconds)
    await manager.start()
    try:
        wall0, cpu0 = perf_counter(), time.process_time()
        manager.submit_many("limited", [command] * backlog)
        await asyncio.sleep(seconds)
        wall1, cpu1 = perf_counter(), time.process_time()
    finally:
        await manager.close()
    started = sum(1 for t in starts if t - wall0 <= seconds)
    return RateRun(rate, seconds, started, rate, cpu1 - cpu0, wall1 - wall0, backlog)


@dataclass(frozen=True, slots=True)
class IdleWait:
    """CPU used while the only queued command waits for a token that is a minute away."""

    started: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def cpu_pct(self) -> float:
        return self.cpu_seconds / self.wall_seconds * 100.0


def idle_wait(system: str, loop: str, seconds: float) -> IdleWait:
    """A lane (or aiolimiter) allowing 1 command per minute gets 2: the first runs at once,
    the second waits ~60 s for its token; measure process CPU / wall over ``seconds`` of that
    wait, i.e. the cost of waiting alone, without the dispatches the busy run includes."""
    if system == "aiolimiter":
        return run_on(loop, lambda: _aiolimiter_idle(seconds))
    return run_on(loop, lambda: _lanecore_idle(core_name(system), seconds))


async def _lanecore_idle(core: str, seconds: float) -> IdleWait:
    manager = build_manager(core, [("limited", 0, 1)], rate=RateLimitConfig.per_minute(1))
    started = 0

    async def command() -> None:
        nonlocal started
        started += 1

    await manager.start()
    try:
        manager.submit_many("limited", [command, command])
        await asyncio.sleep(0.05)  # the first command runs; the second is now throttled
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        wall1, cpu1 = time.perf_counter(), time.process_time()
    finally:
        await manager.close()
    return IdleWait(started, cpu1 - cpu0, wall1 - wall0)


async def _aiolimiter_idle(seconds: float) -> IdleWait:
    limiter = peers.aiolimiter_limiter(1, 60.0)
    started = 0

    async def worker() -> None:
        nonlocal started
        for _ in range(2):
            await limiter.acquire()
            started += 1

    task = asyncio.get_running_loop().create_task(worker())
    await asyncio.sleep(0.05)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return IdleWait(started, cpu1 - cpu0, wall1 - wall0)


async def _aiolimiter_rate(rate: int, seconds: float, workers: int = 100) -> RateRun:
    """``workers`` coroutines, each ``await limiter.acquire()`` then run the command."""
    limiter = peers.aiolimiter_limiter(rate, 1.0)
    starts: list[float] = []
    record = starts.append
    perf_counter = time.perf_counter
    backlog = _rate_backlog(rate, seconds)
    left = backlog

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await limiter.acquire()
            record(perf_counter())

    loop = asyncio.get_running_loop()
    wall0, cpu0 = perf_counter(), time.process_time()
    tasks = [loop.create_task(worker()) for _ in range(workers)]
    await asyncio.sleep(seconds)
    wall1, cpu1 = perf_counter(), time.process_time()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    started = sum(1 for t in starts if t - wall0 <= seconds)
    return RateRun(rate, seconds, started, rate, cpu1 - cpu0, wall1 - wall0, backlog)


# ------------------------------------------------------------------------------ the core alone
def _table(core: str, lanes: int, capacity: int) -> Any:
    table = _impl.get_core(core).LaneTable(0)
    for i in range(lanes):
        table.add_lane(i % 16, 1, capacity)  # 16 priority levels, lanes share levels
    return table


def core_push_pop(core: str, items: int, lanes: int) -> Throughput:
    """Push ``items`` placeholders round-robin over ``lanes`` lanes of a LaneTable, then pop
    them all with pop_ready(); the loops run in C (map / iter) so the core dominates."""
    table = _table(core, lanes, items)
    lane_of = [i % lanes for i in range(items)]
    item = object()
    start = time.perf_counter()
    deque(map(table.push, lane_of, repeat(item, items)), maxlen=0)
    deque(iter(table.pop_ready, None), maxlen=0)
    seconds = time.perf_counter() - start
    completed = table.total_active if table.total_pending == 0 else 0
    return Throughput(items, completed, seconds)


def core_memory(core: str, items: int, lanes: int = 10) -> Memory:
    """tracemalloc around pushing ``items`` pre-made objects into a LaneTable: what the core
    itself allocates per pending command (ring buffers, tickets), not the objects."""
    table = _table(core, lanes, items)
    lane_of = [i % lanes for i in range(items)]
    objects = [object() for _ in range(items)]
    push = table.push
    return _traced(items, lambda: deque(map(push, lane_of, objects), maxlen=0))


def manager_memory(core: str, loop: str, items: int, lanes: int = 10) -> Memory:
    """tracemalloc around submit_many of ``items`` no-op commands to a manager that is not
    started: the handle plus the manager's bookkeeping per pending command (informational)."""

    async def main() -> Memory:
        manager = build_manager(core, layout(lanes, 10))
        batches = [(f"lane{i}", [peers.noop] * n) for i, n in enumerate(split(items, lanes))]
        held: list[Any] = []

        def submit_all() -> None:
            for lane_id, fns in batches:
                held.extend(manager.submit_many(lane_id, fns))

        try:
            return _traced(items, submit_all)
        finally:
            await manager.close()

    return run_on(loop, main)


def _traced(items: int, action: Callable[[], object]) -> Memory:
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    action()
    after, peak = tracemalloc.get_traced_memory()
    if not was_tracing:
        tracemalloc.stop()
    return Memory(items, after - before, peak - before)
