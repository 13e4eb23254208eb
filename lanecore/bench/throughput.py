"""W10 / W1 throughput: no-op commands submitted at once over a lane layout, every result
awaited, for lanecore (either core) and its peers; also the drain rate of a pre-filled queue.

Rates come from ``time.perf_counter()`` taken inside the workload, from just before the
first submit to the last result (not loop start-up or teardown); ``submit_seconds`` is the
part from the first submit to the last one returning.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from lanecore import RetryPolicy
from lanecore.bench import forms, peers
from lanecore.bench.forms import FORMS, check_form
from lanecore.bench.lanes import LaneLayout, build_manager, core_name, layout, succeeded
from lanecore.bench.loops import run_on
from lanecore.bench.results import Throughput
from lanecore.metrics.names import COMMANDS_COMPLETED

__all__ = ["FORMS", "LAYOUTS", "OVERHEAD_VARIANTS", "W1", "W10", "drain", "throughput"]

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
    form: str = "fn",
) -> Throughput:
    """Submit ``commands`` no-op commands over ``lanes`` (all at once) and await every result.

    Systems: lanecore-<core> (``submit_many`` per lane), lanecore-<core>-submit and pool (one
    ``submit`` per command, command i to lane i mod n), aiojobs, a3s-lane. ``form`` (lanecore
    and pool): how each command is written, one of ``forms.FORMS``; commands are built before
    the timer starts. ``variant`` (lanecore only): one of OVERHEAD_VARIANTS."""
    check_form(form)
    if system == "a3s-lane":
        done, seconds = peers.a3s_run(lanes, commands, a3s_threads)
        return Throughput(commands, done, seconds, {"threads": a3s_threads})
    if system == "pool":
        return run_on(loop, lambda: _pool_throughput(lanes, commands, form))
    if system == "aiojobs":
        return run_on(loop, lambda: _aiojobs_throughput(lanes, commands))
    batch = not system.endswith("-submit")
    return run_on(
        loop,
        lambda: _lanecore_throughput(
            core_name(system), lanes, commands, batch, variant, False, form
        ),
    )


def drain(system: str, loop: str, lanes: LaneLayout, pending: int) -> Throughput:
    """Queue ``pending`` commands first (not timed), then time how fast they all complete."""
    return run_on(
        loop,
        lambda: _lanecore_throughput(core_name(system), lanes, pending, True, "plain", True, "fn"),
    )


async def _lanecore_throughput(
    core: str,
    lanes: LaneLayout,
    commands: int,
    batch: bool,
    variant: str,
    drain_only: bool,
    form: str,
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
    if form == "named":
        manager.register(forms.NAMED, forms.noop_handler)
    lane_ids = [lane_id for lane_id, _, _ in lanes]
    if batch:  # lane j gets commands j, j + n, ...: the ones one submit each would send it
        grouped = forms.by_lane(forms.batch_commands(form, commands), len(lanes))
        batches = list(zip(lane_ids, grouped, strict=True))
    else:
        lane_of = forms.interleaved(lane_ids, commands)
        made = forms.items(form, commands)
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
            if form == "named":
                name = forms.NAMED
                for lane_id, payload in zip(lane_of, made, strict=True):
                    append(submit(lane_id, name, payload))
            else:
                for lane_id, command in zip(lane_of, made, strict=True):
                    append(submit(lane_id, command))
        submitted = time.perf_counter()
        if drain_only:
            start = submitted
        for handle in handles:
            await handle
        seconds = time.perf_counter() - start
        if manager.metrics is not None:  # the "metrics" variant: what LocalMetrics counted
            snapshot = manager.metrics.snapshot()
            details = {"metrics_completed": snapshot.counter_total(COMMANDS_COMPLETED)}
    if reader is not None and stream is not None:
        await reader
        details = {"events_read": seen, "events_dropped": stream.dropped}
    return Throughput(commands, succeeded(handles), seconds, details, submitted - start)


async def _pool_throughput(lanes: LaneLayout, commands: int, form: str) -> Throughput:
    """One ``pool.submit`` per command, command i at lane i mod n's priority; the form's
    callable is made in the submitting loop where the pool's user would make it."""
    pool = peers.PriorityPool(sum(high for _, _, high in lanes))
    await pool.start()
    priority_of = forms.interleaved([priority for _, priority, _ in lanes], commands)
    made = forms.items(form, commands)
    try:
        start = time.perf_counter()
        futures: list[asyncio.Future[Any]] = []
        submit = pool.submit
        append = futures.append
        if form == "object":
            for priority, command in zip(priority_of, made, strict=True):
                append(submit(priority, command.execute))
        elif form == "named":
            partial, handler = functools.partial, forms.noop_handler
            for priority, payload in zip(priority_of, made, strict=True):
                append(submit(priority, partial(handler, payload)))
        else:
            for priority, fn in zip(priority_of, made, strict=True):
                append(submit(priority, fn))
        submitted = time.perf_counter()
        for future in futures:
            await future
        seconds = time.perf_counter() - start
    finally:
        await pool.close()
    return Throughput(commands, succeeded(futures), seconds, submit_seconds=submitted - start)


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
