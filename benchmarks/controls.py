"""Issue 13's figures for the local manager's controls (lanes at run time, templates, cost
limits, max_pending, delays, groups), on each core and loop:

1. W10, one ``submit`` per command, on a manager with no controls vs the same manager that
   also has a lane template, a cost-limited lane, a max_pending lane and delayed and grouped
   commands sitting on other lanes (paired, alternating runs);
2. 10,000 live lanes: the dispatch rate with 100,000 commands spread over all of them, and
   over 10 of them, vs W10 with 10 lanes (paired); memory per idle lane added through
   ``manager.add_lane``; 10,000 lanes added then removed through ``add_lane`` /
   ``await remove_lane``; 10,000 submits to "tenant:N" ids making lanes from a template, and
   the idle sweep that removes them;
3. a cost limit of 1,000 units/s over 10 s, random costs 1..50: units spent vs the rate plus
   the initial burst, and process CPU ÷ wall time;
4. 100,000 commands delayed 30 s: CPU ÷ wall over a 5 s idle window after submitting them,
   and ns per delayed submit vs a plain one;
5. ``cancel_group`` of a group of 100 among 10k, 100k and 1M pending commands, and of a group
   of 10,000: its time should not grow with the pending count.

    python -m benchmarks.controls [--quick] [--json PATH] [--cores cython,python]
                                  [--loops asyncio,uvloop] [--sections w10,lanes,...]

A timing script, not a test: nothing here asserts a time (it only checks that every command it
waits for completed). Quote the ratios of one run, not the seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import platform
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from lanecore import (
    CommandHandle,
    LaneConfig,
    QueueManager,
    QueueManagerBuilder,
    RateLimitConfig,
    _impl,
)
from lanecore.bench.lanes import layout, succeeded
from lanecore.bench.loops import available_loops, run_on
from lanecore.bench.peers import noop
from lanecore.bench.results import Throughput, median

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("w10", "lanes", "cost", "delayed", "groups")
VARIANTS = ("controls", "controls_throttled")
"""W10 beside the controls: idle ones (the figure), and with the cost-limited lane throttled
(a command waiting for tokens an hour away, so the token timer is armed: context)."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """Every size the script uses; ``QUICK`` is for the smoke test."""

    commands: int = 100_000  # W10 and the 10,000-lane dispatch runs
    pairs: int = 11  # back-to-back pairs per paired ratio
    lanes: int = 10_000
    cost_seconds: float = 10.0
    delayed: int = 100_000
    delay: float = 30.0
    idle_seconds: float = 5.0
    submit_rounds: int = 3  # alternating plain / delayed submit rounds
    among: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    small_group: int = 100
    big_group: int = 10_000
    reps: int = 5  # groups of each size cancelled per backlog (the big one: 2)
    ttl: float = 2.0  # idle_ttl of the templated lanes
    busy_pending: int = 100_000  # remove_lane while this many commands are pending elsewhere


FULL = Sizes()
QUICK = Sizes(
    commands=2_000,
    pairs=1,
    lanes=300,
    cost_seconds=0.3,
    delayed=1_000,
    delay=30.0,
    idle_seconds=0.2,
    submit_rounds=1,
    among=(1_000, 5_000),
    small_group=10,
    big_group=500,
    reps=2,
    ttl=0.2,
    busy_pending=2_000,
)


# --------------------------------------------------------------------------- helpers
def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def _start_stop(
    build: Callable[[], QueueManager], body: Callable[[QueueManager], Awaitable[T]]
) -> Callable[[], Coroutine[Any, Any, T]]:
    """A coroutine function that starts a fresh manager, runs ``body`` and closes it
    (``close`` cancels what is left: delayed commands would keep ``drain`` waiting)."""

    async def run() -> T:
        manager = build()
        await manager.start()
        try:
            return await body(manager)
        finally:
            await manager.close()

    return run


def _check(result: Throughput) -> Throughput:
    if result.completed != result.commands:
        raise RuntimeError(f"only {result.completed} of {result.commands} commands completed")
    return result


def paired(
    top: Callable[[], Throughput], bottom: Callable[[], Throughput], pairs: int
) -> dict[str, Any]:
    """Runs top, bottom, top, ..., top (a ``gc.collect()`` before each, untimed); each bottom
    rate ÷ the mean of its two neighbours' (so a slow spell weighs on both sides); the median
    of those ratios and their range."""
    gc.collect()
    _check(top())  # warm-up, not counted
    gc.collect()
    _check(bottom())
    tops: list[Throughput] = []
    bottoms: list[Throughput] = []
    gc.collect()
    tops.append(_check(top()))
    for _ in range(pairs):
        gc.collect()
        bottoms.append(_check(bottom()))
        gc.collect()
        tops.append(_check(top()))
    ratios = [
        b.ops_per_s / ((before.ops_per_s + after.ops_per_s) / 2)
        for before, b, after in zip(tops, bottoms, tops[1:], strict=False)
    ]
    return {
        "ratio": round(median(ratios), 4),
        "ratio_min": round(min(ratios), 4),
        "ratio_max": round(max(ratios), 4),
        "ref_ops_per_s": round(median([t.ops_per_s for t in tops])),
        "ops_per_s": round(median([b.ops_per_s for b in bottoms])),
        "pairs": pairs,
        "commands": bottoms[0].commands,
    }


# --------------------------------------------------------------------------- 1, 2: dispatch
def _dispatch_manager(core: str, template: bool) -> QueueManager:
    builder = QueueManagerBuilder().with_implementation(core)
    for lane_id, priority, high in layout(10, 10):
        builder.with_lane(lane_id, LaneConfig(1, high), priority)
    if template:
        builder.with_lane_template("tenant:", LaneConfig(1, 2), priority=5, idle_ttl=60.0)
    return builder.build()


async def _add_controls(manager: QueueManager, throttled: bool) -> asyncio.Event:
    """Controls on lanes W10 does not use: a cost-limited lane running one grouped command
    (and, if ``throttled``, one more waiting for tokens an hour away), a max_pending lane,
    delayed and grouped commands on both and on two lanes made from the template. Returns
    the event that releases the running command."""
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    cost = RateLimitConfig.per_hour(10) if throttled else RateLimitConfig.per_minute(6000)
    manager.add_lane("costly", LaneConfig(1, 4).with_cost_limit(cost), 10)
    manager.add_lane("bounded", LaneConfig(1, 4).with_max_pending(1000), 11)
    manager.submit("costly", hold, cost=10, group="session-1")
    for i in range(5):
        manager.submit("costly", noop, cost=2, delay=3600.0, group="session-1")
        manager.submit("bounded", noop, delay=3600.0, group="session-2")
        manager.submit(f"tenant:{i % 2}", noop, delay=3600.0, group="session-3")
    if throttled:
        manager.submit("costly", noop, cost=10)
    for _ in range(3):
        await asyncio.sleep(0)
    lanes = manager.stats().lanes
    if lanes["costly"].active != 1 or lanes["costly"].throttled != throttled:
        raise RuntimeError(f"controls not in place: {lanes['costly']}")
    return gate


def dispatch(
    core: str,
    loop: str,
    commands: int,
    *,
    lanes: int = 10,
    targets: int = 10,
    extras: str = "",
    collect: bool = True,
) -> Throughput:
    """W10 with one ``submit`` per command (async function form, command i to target lane
    i mod ``targets``), on a manager with ``lanes`` lanes (``lane{i}``, max 10, priority
    i mod 256; the 10 beyond W10's added with ``add_lane`` after start) and, with ``extras``
    one of VARIANTS, the controls of ``_add_controls`` too. Timed from the first submit to
    the last result. ``collect``: a ``gc.collect()`` after that set-up, just before the
    timer (without it, the objects 10,000 new lanes leave in the young generations bring a
    full collection into the timed window: see benchmarks/README.md)."""
    if extras and extras not in VARIANTS:
        raise ValueError(f"extras must be one of {VARIANTS}, got {extras!r}")

    async def body(manager: QueueManager) -> Throughput:
        for i in range(10, lanes):
            manager.add_lane(f"lane{i}", LaneConfig(1, 10), i % 256)
        gate = await _add_controls(manager, extras == "controls_throttled") if extras else None
        ids = [f"lane{i}" for i in range(targets)]
        lane_of = [ids[i % targets] for i in range(commands)]
        fn = noop
        submit = manager.submit
        handles: list[asyncio.Future[Any]] = []
        append = handles.append
        if collect:
            gc.collect()
        start = time.perf_counter()
        for lane_id in lane_of:
            append(submit(lane_id, fn))
        submitted = time.perf_counter()
        for handle in handles:
            await handle
        seconds = time.perf_counter() - start
        if gate is not None:
            gate.set()
        return Throughput(commands, succeeded(handles), seconds, {}, submitted - start)

    result: Throughput = run_on(
        loop, _start_stop(lambda: _dispatch_manager(core, bool(extras)), body)
    )
    return result


def w10_figures(core: str, loop: str, size: Sizes) -> dict[str, Any]:
    """Figure 1: each variant ÷ plain W10, paired."""
    plain = functools.partial(dispatch, core, loop, size.commands)
    return {
        variant: paired(plain, functools.partial(plain, extras=variant), size.pairs)
        for variant in VARIANTS
    }


def lane_dispatch_figures(core: str, loop: str, size: Sizes) -> dict[str, Any]:
    """Figure 2, rates: 10,000 lanes with the commands over all of them or over 10 ÷ W10
    (and the latter without the ``gc.collect()`` after adding the lanes)."""
    plain = functools.partial(dispatch, core, loop, size.commands)
    return {
        "spread": paired(
            plain, functools.partial(plain, lanes=size.lanes, targets=size.lanes), size.pairs
        ),
        "ten_used": paired(plain, functools.partial(plain, lanes=size.lanes), size.pairs),
        "ten_used_no_collect": paired(
            functools.partial(plain, collect=False),
            functools.partial(plain, lanes=size.lanes, collect=False),
            size.pairs,
        ),
    }


# --------------------------------------------------------------------------- 2: lanes
def lane_memory(core: str, lanes: int) -> dict[str, float]:
    """Bytes per idle lane (tracemalloc) added through ``manager.add_lane`` before start,
    id strings included: plain lanes, and lanes with a rate and a cost limit."""
    out: dict[str, float] = {}
    rated = (
        LaneConfig(1, 4)
        .with_rate_limit(RateLimitConfig.per_second(10))
        .with_cost_limit(RateLimitConfig.per_minute(1000))
    )
    for name, config in (("plain", LaneConfig(1, 4)), ("rated", rated)):
        manager = _dispatch_manager(core, False)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(lanes):
            manager.add_lane(f"idle{i}", config, i % 256)
        after, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[f"{name}_bytes_per_lane"] = round((after - before) / lanes, 1)
        out[f"{name}_peak_bytes_per_lane"] = round((peak - before) / lanes, 1)
        del manager
    return out


def churn(core: str, loop: str, lanes: int) -> dict[str, float]:
    """``lanes`` lanes added through ``add_lane`` then removed through ``await remove_lane``
    on a started manager (first added, first removed): plain and rated lanes."""
    out: dict[str, float] = {}
    rated = LaneConfig(1, 4).with_rate_limit(RateLimitConfig.per_second(10))
    rated = rated.with_cost_limit(RateLimitConfig.per_minute(1000))
    for name, config in (("plain", LaneConfig(1, 4)), ("rated", rated)):

        async def body(manager: QueueManager, config: LaneConfig = config) -> tuple[float, float]:
            ids = [f"c{i}" for i in range(lanes)]
            gc.collect()
            start = time.perf_counter()
            for i, lane_id in enumerate(ids):
                manager.add_lane(lane_id, config, i % 256)
            added = time.perf_counter()
            for lane_id in ids:
                await manager.remove_lane(lane_id)
            removed = time.perf_counter()
            if len(manager.lane_ids) != 10:
                raise RuntimeError(f"{len(manager.lane_ids)} lanes left, expected 10")
            return added - start, removed - added

        add, remove = run_on(loop, _start_stop(lambda: _dispatch_manager(core, False), body))
        out[f"{name}_add_ms"] = _ms(add)
        out[f"{name}_remove_ms"] = _ms(remove)
        out[f"{name}_total_ms"] = _ms(add + remove)
    return out


def remove_while_busy(core: str, loop: str, pending: int, lanes: int = 100) -> dict[str, float]:
    """``remove_lane`` of an empty lane while ``pending`` commands wait on a paused lane
    (context: the call looks through every outstanding command for the lane's)."""

    async def body(manager: QueueManager) -> float:
        manager.pause_lane("lane0")
        handles = manager.submit_many("lane0", [noop] * pending)
        for i in range(lanes):
            manager.add_lane(f"r{i}", LaneConfig(1, 4), 20)
        start = time.perf_counter()
        for i in range(lanes):
            await manager.remove_lane(f"r{i}")
        seconds = time.perf_counter() - start
        for handle in handles:
            handle.cancel()
        return seconds

    seconds = run_on(loop, _start_stop(lambda: _dispatch_manager(core, False), body))
    return {"pending": pending, "us_per_remove": round(seconds / lanes * 1e6, 2)}


def templated(core: str, loop: str, lanes: int, ttl: float) -> dict[str, Any]:
    """``lanes`` submits to "tenant:N" ids, each making its lane from a template, then as many
    to the lanes now there; then the idle sweep (every ttl/4) that removes them all: each
    sweep call is timed."""

    def build() -> QueueManager:
        return (
            QueueManagerBuilder()
            .with_implementation(core)
            .with_lane("base", LaneConfig(1, 10), 0)
            .with_lane_template("tenant:", LaneConfig(1, 2), priority=5, idle_ttl=ttl)
            .build()
        )

    async def body(manager: QueueManager) -> dict[str, Any]:
        sweeps: list[tuple[float, int, int]] = []  # seconds, lanes before, lanes after
        sweeper = manager._sweeper
        inner = sweeper._sweep

        def timed(now: float) -> int:
            before = len(manager.lane_ids)
            start = time.perf_counter()
            remaining = inner(now)
            sweeps.append((time.perf_counter() - start, before, len(manager.lane_ids)))
            return remaining

        sweeper._sweep = timed
        ids = [f"tenant:{i}" for i in range(lanes)]
        submit = manager.submit
        fn = noop
        gc.collect()
        start = time.perf_counter()
        first = [submit(lane_id, fn) for lane_id in ids]
        made = time.perf_counter()
        for handle in first:
            await handle
        still = len(manager.lane_ids) - 1
        gc.collect()
        again_start = time.perf_counter()
        second = [submit(lane_id, fn) for lane_id in ids]
        again = time.perf_counter()
        for handle in second:
            await handle
        idle_from = time.perf_counter()
        sweeps.clear()
        deadline = idle_from + 3 * ttl + 5.0
        while len(manager.lane_ids) > 1 and time.perf_counter() < deadline:
            await asyncio.sleep(ttl / 16)
        gone = time.perf_counter()
        if len(manager.lane_ids) != 1:
            raise RuntimeError(f"{len(manager.lane_ids) - 1} templated lanes not swept")
        removing = [s for s, before, after in sweeps if after < before]
        scanning = [s for s, before, after in sweeps if after == before and before > 1]
        return {
            "lanes": lanes,
            "making_submit_us": round((made - start) / lanes * 1e6, 3),
            "existing_submit_us": round((again - again_start) / lanes * 1e6, 3),
            "existing_lanes_before_second_pass": still,
            "idle_ttl_s": ttl,
            "removed_after_s": round(gone - idle_from, 3),
            "sweeps": len(sweeps),
            "removing_sweep_ms": _ms(sum(removing)),
            "scan_sweep_ms": _ms(max(scanning)) if scanning else None,
        }

    result: dict[str, Any] = run_on(loop, _start_stop(build, body))
    return result


# --------------------------------------------------------------------------- 3: cost limit
def cost_accuracy(core: str, loop: str, seconds: float, rate: int = 1000) -> dict[str, Any]:
    """A lane limited to ``rate`` cost units/s (max 100 running) with a backlog of no-op
    commands of random cost 1..50: units of the commands started in [0, seconds] vs the
    initial burst (one window's capacity) + rate * seconds; CPU = process time ÷ wall."""
    rng = random.Random(13)
    count = int((rate + rate * seconds) / 25.5 * 1.5) + 50
    costs = [rng.randint(1, 50) for _ in range(count)]
    starts: list[tuple[float, int]] = []

    async def command(cost: int) -> None:
        starts.append((time.perf_counter(), cost))

    def build() -> QueueManager:
        config = LaneConfig(1, 100).with_cost_limit(RateLimitConfig.per_second(rate))
        return QueueManagerBuilder().with_implementation(core).with_lane("llm", config, 0).build()

    async def body(manager: QueueManager) -> dict[str, Any]:
        gc.collect()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        handles = [manager.submit("llm", functools.partial(command, c), cost=c) for c in costs]
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        spent = sum(c for t, c in starts if t - wall0 <= seconds)
        started = sum(1 for t, _ in starts if t - wall0 <= seconds)
        for handle in handles:
            handle.cancel()
        expected = rate * seconds
        return {
            "rate": rate,
            "seconds": seconds,
            "burst": rate,
            "spent": spent,
            "commands_started": started,
            "backlog_left": count - len(starts),
            "error_pct": round((spent - rate - expected) / expected * 100, 3),
            "cpu_pct": round(cpu / wall * 100, 3),
        }

    result: dict[str, Any] = run_on(loop, _start_stop(build, body))
    return result


# --------------------------------------------------------------------------- 4: delayed
def delayed(core: str, loop: str, size: Sizes) -> dict[str, Any]:
    """Submitting ``size.delayed`` commands with ``delay`` vs without, alternating rounds on
    fresh managers (ns per submit, the submit loop alone); then, after the last delayed
    round, CPU ÷ wall over ``idle_seconds`` while they all wait."""
    n = size.delayed

    def build() -> QueueManager:
        return (
            QueueManagerBuilder()
            .with_implementation(core)
            .with_lane("timers", LaneConfig(1, 10), 0)
            .build()
        )

    def submits(
        delay: float | None, idle: float
    ) -> Callable[[QueueManager], Awaitable[tuple[float, float | None, int]]]:
        async def body(manager: QueueManager) -> tuple[float, float | None, int]:
            submit = manager.submit
            fn = noop
            handles: list[CommandHandle] = []
            append = handles.append
            gc.collect()
            start = time.perf_counter()
            if delay is None:
                for _ in range(n):
                    append(submit("timers", fn))
            else:
                for _ in range(n):
                    append(submit("timers", fn, delay=delay))
            seconds = time.perf_counter() - start
            cpu_pct = None
            scheduled = manager.stats().lanes["timers"].scheduled
            if delay is None:
                for handle in handles:
                    await handle
            elif idle:
                await asyncio.sleep(0)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                await asyncio.sleep(idle)
                cpu = time.process_time() - cpu0
                cpu_pct = cpu / (time.perf_counter() - wall0) * 100
            return seconds, cpu_pct, scheduled

        return body

    plain_ns: list[float] = []
    delayed_ns: list[float] = []
    cpu_pct: float | None = None
    scheduled = 0
    for r in range(size.submit_rounds + 1):  # the first pair warms up
        seconds, _, _ = run_on(loop, _start_stop(build, submits(None, 0.0)))
        if r:
            plain_ns.append(seconds / n * 1e9)
        last = r == size.submit_rounds
        seconds, pct, scheduled = run_on(
            loop, _start_stop(build, submits(size.delay, size.idle_seconds if last else 0.0))
        )
        if r:
            delayed_ns.append(seconds / n * 1e9)
        if last:
            cpu_pct = pct
    assert cpu_pct is not None
    return {
        "commands": n,
        "delay_s": size.delay,
        "scheduled_while_idle": scheduled,
        "idle_window_s": size.idle_seconds,
        "idle_cpu_pct": round(cpu_pct, 3),
        "plain_submit_ns": round(median(plain_ns), 1),
        "delayed_submit_ns": round(median(delayed_ns), 1),
        "delayed_vs_plain": round(median(delayed_ns) / median(plain_ns), 3),
    }


# --------------------------------------------------------------------------- 5: groups
def cancel_groups(core: str, loop: str, size: Sizes) -> dict[str, Any]:
    """For each backlog in ``size.among``: that many pending commands over the 10 W10 lanes
    (paused), among them ``reps`` groups of ``small_group`` members and, where the backlog
    is at least 10x bigger, 2 groups of ``big_group``, members spread at random through the
    lanes, then ``reps`` "recent" groups of ``small_group`` submitted last, one group after
    the other; each ``cancel_group`` call is timed."""
    out: dict[str, Any] = {}
    for total in size.among:
        groups: dict[str, int] = {f"small{i}": size.small_group for i in range(size.reps)}
        if total >= 10 * size.big_group:
            groups.update({f"big{i}": size.big_group for i in range(2)})
        labels: list[str | None] = [name for name, k in groups.items() for _ in range(k)]
        labels += [None] * (total - len(labels) - size.reps * size.small_group)
        random.Random(total).shuffle(labels)
        # and as many small groups submitted last, each member after the other: their
        # memory is recent and close together (the control for the spread groups' cache misses)
        recent = {f"recent{i}": size.small_group for i in range(size.reps)}
        labels += [name for name, k in recent.items() for _ in range(k)]
        groups = {**recent, **groups}

        async def body(
            manager: QueueManager,
            labels: list[str | None] = labels,
            groups: dict[str, int] = groups,
            total: int = total,
        ) -> dict[str, list[float]]:
            ids = [f"lane{i}" for i in range(10)]
            for lane_id in ids:
                manager.pause_lane(lane_id)
            submit = manager.submit
            fn = noop
            handles = [
                submit(ids[i % 10], fn) if g is None else submit(ids[i % 10], fn, group=g)
                for i, g in enumerate(labels)
            ]
            times: dict[str, list[float]] = {}
            gc.collect()
            for name, k in groups.items():
                start = time.perf_counter()
                cancelled = manager.cancel_group(name)
                seconds = time.perf_counter() - start
                if cancelled != k:
                    raise RuntimeError(f"cancel_group({name!r}) cancelled {cancelled}, not {k}")
                times.setdefault(name.rstrip("0123456789"), []).append(seconds)
                await asyncio.sleep(0)  # the done callbacks run (untimed)
            pending = manager.stats().total_pending
            if pending != total - sum(groups.values()):
                raise RuntimeError(f"{pending} pending after the cancels")
            for handle in handles:
                handle.cancel()
            return times

        times = run_on(loop, _start_stop(lambda: _dispatch_manager(core, False), body))
        row: dict[str, Any] = {}
        for kind, samples in times.items():
            k = size.big_group if kind == "big" else size.small_group
            row[f"{kind}_group"] = k
            row[f"{kind}_us"] = round(median(samples) * 1e6, 2)
            row[f"{kind}_us_per_member"] = round(median(samples) * 1e6 / k, 4)
        out[str(total)] = row
    low, high = str(size.among[0]), str(size.among[-1])
    out["small_high_vs_low"] = round(out[high]["small_us"] / out[low]["small_us"], 3)
    out["recent_high_vs_low"] = round(out[high]["recent_us"] / out[low]["recent_us"], 3)
    big = [str(t) for t in size.among if "big_us" in out[str(t)]]
    if big:
        out["big_per_member_vs_small"] = round(
            out[big[-1]]["big_us_per_member"] / out[big[-1]]["small_us_per_member"], 3
        )
    return out


# --------------------------------------------------------------------------- the run
def _machine(quick: bool, argv: list[str]) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    try:
        uv: str | None = metadata.version("uvloop")
    except metadata.PackageNotFoundError:
        uv = None
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(["python -m benchmarks.controls", *argv]),
        "quick": quick,
        "commit": git("rev-parse", "--short=12", "HEAD")
        + (" dirty" if git("status", "--porcelain", "--untracked-files=no") else ""),
        "nproc": os.cpu_count(),
        "load_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "uvloop": uv,
    }


def run(
    size: Sizes, cores: list[str], loops: list[str], sections: list[str], log: Callable[[str], None]
) -> dict[str, Any]:
    """Every section for every core and loop; ``log`` gets one line per figure."""
    results: dict[str, Any] = {}
    for core in cores:
        per_core: dict[str, Any] = {"loops": {}}
        if "lanes" in sections:
            per_core["memory"] = lane_memory(core, size.lanes)
            log(f"[{core}] idle lane: {per_core['memory']}")
        for loop in loops:
            got: dict[str, Any] = {}
            tag = f"[{core} {loop}]"
            if "w10" in sections:
                got["w10"] = w10_figures(core, loop, size)
                for variant, figures in got["w10"].items():
                    log(f"{tag} W10 {variant} ÷ plain: {figures}")
            if "lanes" in sections:
                got["lanes"] = {
                    "dispatch": lane_dispatch_figures(core, loop, size),
                    "churn": churn(core, loop, size.lanes),
                    "remove_while_busy": remove_while_busy(core, loop, size.busy_pending),
                    "templated": templated(core, loop, size.lanes, size.ttl),
                }
                for key, figures in got["lanes"].items():
                    log(f"{tag} lanes {key}: {figures}")
            if "cost" in sections:
                got["cost"] = cost_accuracy(core, loop, size.cost_seconds)
                log(f"{tag} cost: {got['cost']}")
            if "delayed" in sections:
                got["delayed"] = delayed(core, loop, size)
                log(f"{tag} delayed: {got['delayed']}")
            if "groups" in sections:
                got["groups"] = cancel_groups(core, loop, size)
                log(f"{tag} groups: {got['groups']}")
            per_core["loops"][loop] = got
        results[core] = per_core
    return results


def figures(results: dict[str, Any], size: Sizes) -> list[dict[str, Any]]:
    """The issue's figures, one row per figure and core: measured per loop, and whether the
    target holds on every loop."""
    rows: list[dict[str, Any]] = []

    def add(
        name: str,
        target: str,
        core: str,
        key: Callable[[dict[str, Any]], Any],
        ok: Callable[[Any], bool] | None,
        fmt: str,
    ) -> None:
        per_loop = {}
        for loop, got in results[core]["loops"].items():
            try:
                per_loop[loop] = key(got)
            except KeyError:
                continue
        if not per_loop:
            return
        met = None if ok is None else all(ok(v) for v in per_loop.values())
        measured = "; ".join(f"{loop}: {fmt.format(v)}" for loop, v in per_loop.items())
        rows.append(
            {
                "figure": name,
                "core": core,
                "target": target,
                "measured": measured,
                "values": per_loop,
                "met": met,
            }
        )

    for core in results:
        memory = results[core].get("memory")
        if memory is not None:
            rows.append(
                {
                    "figure": "bytes per idle lane through add_lane (tracemalloc): plain / "
                    "with a rate and a cost limit",
                    "core": core,
                    "target": "(context)",
                    "measured": f"{memory['plain_bytes_per_lane']:.0f} / "
                    f"{memory['rated_bytes_per_lane']:.0f}",
                    "values": memory,
                    "met": None,
                }
            )
        add(
            "W10 with idle controls on other lanes ÷ without (rate, paired)",
            "≥ 0.97x",
            core,
            lambda g: g["w10"]["controls"]["ratio"],
            lambda v: v >= 0.97,
            "{:.3f}x",
        )
        add(
            "same, the cost-limited lane throttled (token timer armed)",
            "(context)",
            core,
            lambda g: g["w10"]["controls_throttled"]["ratio"],
            None,
            "{:.3f}x",
        )
        add(
            f"{size.lanes:,} lanes, commands over all of them ÷ W10 (paired)",
            "≥ 0.8x",
            core,
            lambda g: g["lanes"]["dispatch"]["spread"]["ratio"],
            lambda v: v >= 0.8,
            "{:.3f}x",
        )
        add(
            f"{size.lanes:,} lanes, commands over 10 of them ÷ W10 (paired)",
            "≥ 0.8x",
            core,
            lambda g: g["lanes"]["dispatch"]["ten_used"]["ratio"],
            lambda v: v >= 0.8,
            "{:.3f}x",
        )
        add(
            "same, no gc.collect() between adding the lanes and the timed window",
            "(context)",
            core,
            lambda g: g["lanes"]["dispatch"]["ten_used_no_collect"]["ratio"],
            None,
            "{:.3f}x",
        )
        add(
            f"{size.lanes:,} lanes: add_lane + await remove_lane",
            "< 1 s",
            core,
            lambda g: g["lanes"]["churn"]["plain_total_ms"],
            lambda v: v < 1000,
            "{:.0f} ms",
        )
        add(
            "same, lanes with a rate and a cost limit",
            "< 1 s",
            core,
            lambda g: g["lanes"]["churn"]["rated_total_ms"],
            lambda v: v < 1000,
            "{:.0f} ms",
        )
        add(
            f"cost limit 1,000 units/s over {size.cost_seconds:g} s: error",
            "within ±1 %",
            core,
            lambda g: g["cost"]["error_pct"],
            lambda v: abs(v) <= 1.0,
            "{:+.2f} %",
        )
        add(
            "cost limit: process CPU ÷ wall",
            "< 5 %",
            core,
            lambda g: g["cost"]["cpu_pct"],
            lambda v: v < 5.0,
            "{:.2f} %",
        )
        add(
            f"{size.delayed:,} delayed commands waiting: process CPU ÷ wall over the idle window",
            "no CPU (< 1 %)",
            core,
            lambda g: g["delayed"]["idle_cpu_pct"],
            lambda v: v < 1.0,
            "{:.3f} %",
        )
        add(
            f'{size.lanes:,} submits to new "tenant:N" ids: µs per submit making a lane'
            " / per submit to an existing one",
            "(context)",
            core,
            lambda g: (
                g["lanes"]["templated"]["making_submit_us"],
                g["lanes"]["templated"]["existing_submit_us"],
            ),
            None,
            "{0[0]:.2f} / {0[1]:.2f} µs",
        )
        add(
            f"idle sweep removing {size.lanes:,} templated lanes (one loop callback)",
            "(context)",
            core,
            lambda g: g["lanes"]["templated"]["removing_sweep_ms"],
            None,
            "{:.1f} ms",
        )
        add(
            f"remove_lane of an empty lane, {size.busy_pending:,} commands pending on another lane",
            "(context)",
            core,
            lambda g: g["lanes"]["remove_while_busy"]["us_per_remove"],
            None,
            "{:.0f} µs",
        )
        add(
            "delayed submit ÷ plain submit (ns per command)",
            "(context)",
            core,
            lambda g: g["delayed"]["delayed_vs_plain"],
            None,
            "{:.2f}x",
        )
        add(
            f"cancel_group of {size.small_group}: among {size.among[-1]:,} pending"
            f" ÷ among {size.among[0]:,}",
            "flat (≤ 2x)",
            core,
            lambda g: g["groups"]["small_high_vs_low"],
            lambda v: v <= 2.0,
            "{:.2f}x",
        )
        add(
            f"same, groups of {size.small_group} submitted last (recent, contiguous memory)",
            "(context)",
            core,
            lambda g: g["groups"]["recent_high_vs_low"],
            None,
            "{:.2f}x",
        )
        add(
            f"cancel_group per member: group of {size.big_group:,} ÷ group of {size.small_group}",
            "flat (≤ 2x)",
            core,
            lambda g: g["groups"]["big_per_member_vs_small"],
            lambda v: v <= 2.0,
            "{:.2f}x",
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The figures as a markdown table."""
    lines = ["| figure | core | target | measured | met? |", "|---|---|---|---|---|"]
    for row in rows:
        met = {None: "(context)", True: "yes", False: "**no**"}[row["met"]]
        lines.append(
            f"| {row['figure']} | {row['core']} | {row['target']} | {row['measured']} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.controls", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--cores", default=",".join(sorted(_impl.CORES)))
    parser.add_argument("--loops", default=",".join(available_loops()))
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--markdown", action="store_true", help="print the figures table")
    args = parser.parse_args(args_in)
    cores = args.cores.split(",")
    loops = args.loops.split(",")
    sections = args.sections.split(",")
    for name, chosen, known in (
        ("core", cores, _impl.CORES),
        ("loop", loops, available_loops()),
        ("section", sections, SECTIONS),
    ):
        unknown = [c for c in chosen if c not in known]
        if unknown:
            parser.error(f"unknown {name}(s) {unknown}; choose from {sorted(known)}")
    size = QUICK if args.quick else FULL
    machine = _machine(args.quick, args_in)
    results = run(size, cores, loops, sections, lambda line: print(line, flush=True))
    machine["load_end"] = list(os.getloadavg())
    rows = figures(results, size)
    if args.markdown:
        print(markdown(rows))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"machine": machine, "sizes": asdict(size), "results": results, "figures": rows}
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
