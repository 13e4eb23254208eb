"""The workloads, as plain functions: each builds a fresh event loop (or core table), runs one
workload to completion for one system, and returns what happened (counts and timings).

The bench_*.py files time them with pytest-benchmark; tests/test_benchmarks_smoke.py runs
them once at tiny sizes and checks the counts. Rates come from ``time.perf_counter()`` taken
inside the workload, around the part being measured (not loop start-up or teardown).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, TypeVar

from benchmarks import peers
from benchmarks.config import loop_factory
from lanecore import (
    LaneConfig,
    QueueManager,
    QueueManagerBuilder,
    RateLimitConfig,
    RetryPolicy,
    _impl,
)

T = TypeVar("T")

LaneLayout = list[tuple[str, int, int]]  # (lane_id, priority, max_concurrency)

OVERHEAD_VARIANTS = ("plain", "subscriber", "retries", "global_cap")


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class Throughput:
    """``commands`` were submitted, ``completed`` finished normally, in ``seconds``."""

    commands: int
    completed: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ops_per_s(self) -> float:
        return self.commands / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class Preempt:
    """Submit-to-start latencies of control commands while prompts are queued."""

    latencies_us: list[float]
    queued_before_first_control: int  # queued prompts started before the 1st control started
    queued_during_tries: int  # queued prompts started before the last control returned
    completed: int
    expected: int

    @property
    def p50_us(self) -> float:
        return percentile(self.latencies_us, 50)

    @property
    def p99_us(self) -> float:
        return percentile(self.latencies_us, 99)


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


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# ------------------------------------------------------------------------------ helpers
def run_on(loop: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` to completion on a fresh loop of the named kind."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main())


def layout(lanes: int, per_lane_max: int) -> LaneLayout:
    """``lanes`` lanes at priorities 0, 1, 2, ... (modulo 256), each capped at per_lane_max."""
    return [(f"lane{i}", i % 256, per_lane_max) for i in range(lanes)]


def split(total: int, parts: int) -> list[int]:
    """``total`` commands over ``parts`` lanes, as evenly as possible."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _succeeded(futures: Sequence[asyncio.Future[Any]]) -> int:
    return sum(1 for f in futures if f.done() and not f.cancelled() and f.exception() is None)


def core_name(system: str) -> str:
    """ "lanecore-cython-submit" -> "cython"."""
    name = system.removeprefix("lanecore-").removesuffix("-submit")
    if name not in ("cython", "python"):
        raise ValueError(f"not a lanecore system: {system!r}")
    return name


def _build(
    core: str,
    lanes: LaneLayout,
    *,
    retry: RetryPolicy | None = None,
    global_cap: int = 0,
    rate: RateLimitConfig | None = None,
) -> QueueManager:
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
    return builder.build()


# ------------------------------------------------------------------------------ W10 / W1 / scaling
def throughput(
    system: str,
    loop: str,
    lanes: LaneLayout,
    commands: int,
    *,
    variant: str = "plain",
    a3s_threads: int = 16,
) -> Throughput:
    """Submit ``commands`` no-op commands spread evenly over ``lanes`` (lane by lane, all at
    once) and await every result. Systems: lanecore-<core> (``submit_many`` per lane),
    lanecore-<core>-submit (one ``submit`` per command), pool, aiojobs, a3s-lane.
    ``variant`` (lanecore only): plain, subscriber, retries or global_cap."""
    if system == "a3s-lane":
        done, seconds = peers.a3s_run(lanes, commands, a3s_threads)
        return Throughput(commands, done, seconds, {"threads": a3s_threads})
    if system == "pool":
        return run_on(loop, lambda: _pool_throughput(lanes, commands))
    if system == "aiojobs":
        return run_on(loop, lambda: _aiojobs_throughput(lanes, commands))
    batch = not system.endswith("-submit")
    return run_on(
        loop,
        lambda: _lanecore_throughput(core_name(system), lanes, commands, batch, variant, False),
    )


def drain(system: str, loop: str, lanes: LaneLayout, pending: int) -> Throughput:
    """Queue ``pending`` commands first (not timed), then time how fast they all complete."""
    return run_on(
        loop,
        lambda: _lanecore_throughput(core_name(system), lanes, pending, True, "plain", True),
    )


async def _lanecore_throughput(
    core: str,
    lanes: LaneLayout,
    commands: int,
    batch: bool,
    variant: str,
    drain_only: bool,
) -> Throughput:
    if variant not in OVERHEAD_VARIANTS:
        raise ValueError(f"variant must be one of {OVERHEAD_VARIANTS}, got {variant!r}")
    manager = _build(
        core,
        lanes,
        retry=RetryPolicy.exponential(3) if variant == "retries" else None,
        global_cap=sum(high for _, _, high in lanes) if variant == "global_cap" else 0,
    )
    counts = split(commands, len(lanes))
    noop = peers.noop
    batches = [(spec[0], [noop] * n) for spec, n in zip(lanes, counts, strict=True)]
    details: dict[str, Any] = {}
    seen = 0

    async def read(stream: Any) -> None:
        nonlocal seen
        async for _ in stream:
            seen += 1

    reader: asyncio.Task[None] | None = None
    stream = None
    async with manager:
        if variant == "subscriber":
            stream = manager.subscribe()
            reader = asyncio.get_running_loop().create_task(read(stream))
            await asyncio.sleep(0)  # the reader is waiting before the first submit
        start = time.perf_counter()
        handles: list[asyncio.Future[Any]] = []
        if batch:
            submit_many = manager.submit_many
            for lane_id, fns in batches:
                handles += submit_many(lane_id, fns)
        else:
            submit = manager.submit
            append = handles.append
            for lane_id, fns in batches:
                for fn in fns:
                    append(submit(lane_id, fn))
        if drain_only:
            start = time.perf_counter()
        for handle in handles:
            await handle
        seconds = time.perf_counter() - start
    if reader is not None and stream is not None:
        await reader
        details = {"events_read": seen, "events_dropped": stream.dropped}
    return Throughput(commands, _succeeded(handles), seconds, details)


async def _pool_throughput(lanes: LaneLayout, commands: int) -> Throughput:
    pool = peers.PriorityPool(sum(high for _, _, high in lanes))
    await pool.start()
    counts = split(commands, len(lanes))
    noop = peers.noop
    try:
        start = time.perf_counter()
        futures: list[asyncio.Future[Any]] = []
        submit = pool.submit
        append = futures.append
        for (_, priority, _), n in zip(lanes, counts, strict=True):
            for _ in range(n):
                append(submit(priority, noop))
        for future in futures:
            await future
        seconds = time.perf_counter() - start
    finally:
        await pool.close()
    return Throughput(commands, _succeeded(futures), seconds)


async def _aiojobs_throughput(lanes: LaneLayout, commands: int) -> Throughput:
    """aiojobs has no lanes or priorities: one Scheduler limited to the lanes' total cap."""
    failures = 0

    def on_error(_scheduler: Any, _context: dict[str, Any]) -> None:
        nonlocal failures
        failures += 1

    scheduler = peers.aiojobs_scheduler(sum(high for _, _, high in lanes), on_error)
    noop = peers.noop
    start = time.perf_counter()
    spawn = scheduler.spawn
    for _ in range(commands):
        await spawn(noop())
    await scheduler.wait_and_close()  # returns once every job has finished
    seconds = time.perf_counter() - start
    return Throughput(commands, commands - failures, seconds)


# ------------------------------------------------------------------------------ PREEMPT
def preempt(system: str, loop: str, pending: int, tries: int) -> Preempt:
    """Lanes control (priority 1, max 3) and prompt (priority 5, max 2): two slow prompts run
    (awaiting an Event), ``pending`` prompts queue behind them, then ``tries`` control
    commands are submitted one at a time; each records perf_counter() when it starts."""
    if system == "pool":
        return run_on(loop, lambda: _preempt(_PoolSide(), pending, tries))
    if system == "aiojobs":
        return run_on(loop, lambda: _preempt(_AiojobsSide(), pending, tries))
    return run_on(loop, lambda: _preempt(_LanecoreSide(core_name(system)), pending, tries))


class _Side:
    """How one system queues prompts and runs a control command."""

    async def start(self) -> None:
        """Start the system (workers, runners)."""

    async def prompts(self, fns: list[peers.Job]) -> list[Any]:
        """Queue prompt commands; return one awaitable per command."""
        raise NotImplementedError

    async def run_control(self, fn: peers.Job) -> Any:
        """Submit one control command and return its result."""
        raise NotImplementedError

    async def finish(self, waitables: list[Any]) -> int:
        """Wait for every prompt, shut down; return how many completed normally."""
        raise NotImplementedError


class _LanecoreSide(_Side):
    def __init__(self, core: str) -> None:
        self.manager = _build(core, [("control", 1, 3), ("prompt", 5, 2)])

    async def start(self) -> None:
        await self.manager.start()

    async def prompts(self, fns: list[peers.Job]) -> list[Any]:
        return list(self.manager.submit_many("prompt", fns))

    async def run_control(self, fn: peers.Job) -> Any:
        return await self.manager.submit("control", fn)

    async def finish(self, waitables: list[Any]) -> int:
        for handle in waitables:
            await handle
        self.manager.shutdown()
        await self.manager.drain()
        await self.manager.close()
        return _succeeded(waitables)


class _PoolSide(_Side):
    """One PriorityQueue, 2 + 3 = 5 workers: prompts at priority 5, control at priority 1."""

    def __init__(self) -> None:
        self.pool = peers.PriorityPool(5)

    async def start(self) -> None:
        await self.pool.start()

    async def prompts(self, fns: list[peers.Job]) -> list[Any]:
        return [self.pool.submit(5, fn) for fn in fns]

    async def run_control(self, fn: peers.Job) -> Any:
        return await self.pool.submit(1, fn)

    async def finish(self, waitables: list[Any]) -> int:
        for future in waitables:
            await future
        await self.pool.close()
        return _succeeded(waitables)


class _AiojobsSide(_Side):
    """One Scheduler(limit=5); it starts jobs in spawn order (no priorities)."""

    def __init__(self) -> None:
        self.scheduler = peers.aiojobs_scheduler(5)

    async def prompts(self, fns: list[peers.Job]) -> list[Any]:
        spawn = self.scheduler.spawn
        return [await spawn(fn()) for fn in fns]

    async def run_control(self, fn: peers.Job) -> Any:
        job = await self.scheduler.spawn(fn())
        return await job.wait()

    async def finish(self, waitables: list[Any]) -> int:
        completed = 0
        for job in waitables:
            await job.wait()
            completed += 1
        await self.scheduler.close()
        return completed


async def _preempt(side: _Side, pending: int, tries: int) -> Preempt:
    release = asyncio.Event()
    slow_running = 0
    queued_started = 0

    async def slow_prompt() -> None:
        nonlocal slow_running
        slow_running += 1
        await release.wait()

    async def queued_prompt() -> None:
        nonlocal queued_started
        queued_started += 1

    async def control() -> tuple[float, int]:
        return time.perf_counter(), queued_started

    await side.start()
    waitables = await side.prompts([slow_prompt, slow_prompt])
    while slow_running < 2:
        await asyncio.sleep(0)
    waitables += await side.prompts([queued_prompt] * pending)
    latencies: list[float] = []
    first_seen = -1
    perf_counter = time.perf_counter
    for _ in range(tries):
        submitted = perf_counter()
        started, seen = await side.run_control(control)
        latencies.append((started - submitted) * 1e6)
        if first_seen < 0:
            first_seen = seen
    during = queued_started
    release.set()
    completed = await side.finish(waitables) + len(latencies)
    return Preempt(latencies, first_seen, during, completed, 2 + pending + tries)


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
    manager = _build(core, [("limited", 0, 100)], rate=RateLimitConfig.per_second(rate))
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
    manager = _build(core, [("limited", 0, 1)], rate=RateLimitConfig.per_minute(1))
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
        manager = _build(core, layout(lanes, 10))
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
