"""``lanecore demo``: the six default lanes under a simulated agent workload, shown live.

Work arrives per lane at random (seeded) under a global concurrency cap, so lanes compete for
slots and priority decides who runs; prompt work queues while control work passes through.
The closing summary checks that control never waited behind prompt work (exit 1 if it did).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from lanecore import QueueManager, QueueManagerBuilder, __version__
from lanecore.cli import summary
from lanecore.cli.errors import CliError
from lanecore.cli.render import LaneRow, PlainRenderer, Renderer, Snapshot, choose_renderer
from lanecore.cli.waits import WaitTracker
from lanecore.cli.workload import Arrival, generate

GLOBAL_CONCURRENCY = 8
"""Slots across all lanes: above the six lanes' total min_concurrency (6) by two, far below the
sum of their max_concurrency (28), so lanes really compete and priority decides."""

DRAIN_TIMEOUT = 60.0
"""How long queued work may take to finish once no more arrives, before it is cancelled."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """The demo's command-line options."""

    duration: float = 8.0
    no_live: bool = False
    uvloop: bool = False
    seed: int | None = None
    core: str | None = None


@dataclass(slots=True)
class _Progress:
    phase: str = "running"
    drain_seconds: float = 0.0
    cancelled: int = 0


def _loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        raise CliError(
            "--uvloop needs uvloop, which is not installed: pip install 'lanecore[uvloop]'"
        ) from None
    return uvloop.new_event_loop


def build_manager(core: str | None) -> QueueManager:
    """The six default lanes under the demo's global cap, on the requested core."""
    builder = QueueManagerBuilder().with_default_lanes()
    try:
        if core is not None:
            builder.with_implementation(core)
    except (LookupError, ValueError) as exc:
        raise CliError(f"--core {core}: {exc}") from None
    return builder.with_global_concurrency(GLOBAL_CONCURRENCY).build()


def _snapshot(
    manager: QueueManager,
    tracker: WaitTracker,
    progress: _Progress,
    elapsed: float,
    duration: float,
    setup: str,
) -> Snapshot:
    stats = manager.stats()
    rows = []
    for lane_id, status in stats.lanes.items():
        waits = tracker.lanes[lane_id]
        p50, p99 = waits.p(0.5, 0.99)
        rows.append(
            LaneRow(
                lane_id,
                status.priority,
                status.pending,
                status.active,
                waits.done,
                None if p50 is None else p50 * 1e3,
                None if p99 is None else p99 * 1e3,
            )
        )
    return Snapshot(
        elapsed=elapsed,
        duration=duration,
        phase=progress.phase,
        active=stats.total_active,
        cap=GLOBAL_CONCURRENCY,
        setup=setup,
        rows=tuple(rows),
    )


async def _drive(
    manager: QueueManager,
    arrivals: list[Arrival],
    tracker: WaitTracker,
    renderer: Renderer,
    duration: float,
    setup: str,
) -> _Progress:
    """Submit each arrival on time, refresh the view meanwhile, then drain the queues."""
    loop = asyncio.get_running_loop()
    progress = _Progress()
    t0 = loop.time()

    def show() -> None:
        elapsed = loop.time() - t0
        renderer.update(_snapshot(manager, tracker, progress, elapsed, duration, setup))

    async def refresh() -> None:
        while True:
            await asyncio.sleep(renderer.interval)
            show()

    await manager.start()
    renderer.start()
    ticker = loop.create_task(refresh())
    try:
        for arrival in arrivals:
            delay = t0 + arrival.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            manager.submit(arrival.lane, tracker.command(arrival.lane, arrival.duration))
        rest = t0 + duration - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)
        progress.phase = "draining"
        manager.shutdown()
        drain_started = loop.time()
        try:
            await manager.drain(DRAIN_TIMEOUT)
        except TimeoutError:
            stats = manager.stats()
            progress.cancelled = stats.total_pending + stats.total_active
        progress.drain_seconds = loop.time() - drain_started
        progress.phase = "done"
    finally:
        ticker.cancel()
        # retrieve a drawing failure (e.g. BrokenPipeError); the final show() raises it again
        await asyncio.gather(ticker, return_exceptions=True)
        if progress.phase != "done":
            progress.phase = "stopped"  # interrupted (Ctrl-C) or failed
        try:
            show()
        finally:
            renderer.stop()
            await manager.close()
    return progress


def run(options: DemoOptions) -> int:
    """Run the demo; 0 when the summary proves control never waited behind prompt work."""
    if not options.duration > 0:
        raise CliError(f"--duration must be > 0, got {options.duration}")
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    loop_factory = _loop_factory(options.uvloop)
    manager = build_manager(options.core)
    arrivals = generate(options.duration, seed)
    tracker = WaitTracker(manager.lane_ids)
    renderer = choose_renderer(options.no_live)
    loop_name = "uvloop" if options.uvloop else "asyncio"
    setup = f"core {manager.implementation}, loop {loop_name}, seed {seed}"
    print(
        f"lanecore {__version__} demo: {len(arrivals)} commands over {options.duration:g} s "
        f"on the six default lanes, global cap {GLOBAL_CONCURRENCY}\n{setup}",
        flush=True,
    )
    if isinstance(renderer, PlainRenderer) and not options.no_live and sys.stdout.isatty():
        print(
            "(rich is not installed: plain snapshots; pip install 'lanecore[cli]' for a live table)"
        )
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        progress = runner.run(_drive(manager, arrivals, tracker, renderer, options.duration, setup))
    wall = time.perf_counter() - started
    priorities = {lane_id: lane.priority for lane_id, lane in manager.stats().lanes.items()}
    print(
        f"\nsummary: {len(arrivals)} commands in {wall:.1f} s "
        f"({options.duration:g} s of arrivals, {progress.drain_seconds:.1f} s to drain; {setup})"
    )
    if progress.cancelled:
        print(f"drain timed out after {DRAIN_TIMEOUT:g} s: {progress.cancelled} commands cancelled")
    for line in summary.lane_lines(tracker.lanes, priorities):
        print(line)
    result = summary.verdict(tracker.lanes)
    for line in result.lines:
        print(line)
    if not result.ok:
        print(f"(repeat this workload with --seed {seed})")
    return 0 if result.ok else 1
