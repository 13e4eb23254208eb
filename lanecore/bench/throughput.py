"""W10 / W1 throughput: no-op commands submitted at once over a lane layout, every result
awaited, for lanecore (either core) and its peers; also the drain rate of a pre-filled queue.

Rates come from ``time.perf_counter()`` taken inside the workload, from just before the
first submit to the last result (not loop start-up or teardown).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lanecore import RetryPolicy
from lanecore.bench import peers
from lanecore.bench.lanes import (
    LaneLayout,
    build_manager,
    core_name,
    layout,
    split,
    succeeded,
)
from lanecore.bench.loops import run_on
from lanecore.bench.results import Throughput
from lanecore.metrics.names import COMMANDS_COMPLETED

OVERHEAD_VARIANTS = ("plain", "subscriber", "retries", "global_cap", "metrics")
"""W10 with one feature on: an event subscriber, retries configured but never used, a global
cap that never binds, LocalMetrics recording every series."""

W10 = "W10"
W1 = "W1"
LAYOUTS: dict[str, LaneLayout] = {W10: layout(10, 10), W1: layout(1, 10)}
"""W10: 10 lanes at priorities 0-9, max 10 each. W1: one lane, max 10."""


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
    ``variant`` (lanecore only): one of OVERHEAD_VARIANTS."""
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
    manager = build_manager(
        core,
        lanes,
        retry=RetryPolicy.exponential(3) if variant == "retries" else None,
        global_cap=sum(high for _, _, high in lanes) if variant == "global_cap" else 0,
        metrics=variant == "metrics",
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
        if manager.metrics is not None:  # the "metrics" variant: what LocalMetrics counted
            snapshot = manager.metrics.snapshot()
            details = {"metrics_completed": snapshot.counter_total(COMMANDS_COMPLETED)}
    if reader is not None and stream is not None:
        await reader
        details = {"events_read": seen, "events_dropped": stream.dropped}
    return Throughput(commands, succeeded(handles), seconds, details)


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
    return Throughput(commands, succeeded(futures), seconds)


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
