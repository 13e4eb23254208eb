"""Soak test: millions of commands through one manager, with failures, retries, timeouts and
cancellations, checking that nothing is lost, nothing resolves twice and memory stays flat.

    python benchmarks/soak.py                                  # 10,000,000 commands
    python benchmarks/soak.py --commands 2000000 --loop uvloop --core cython

The mix (seeded, so a run is reproducible): 0.5 % of commands fail once and then succeed on
their retry, 0.5 % fail every attempt (dead-lettered after 1 + 2 runs), 0.1 % sleep past a
1 ms per-submit timeout on every attempt (CommandTimeout, dead-lettered), and 0.1 % are
cancelled at a random moment — right away (pending), or a batch later (pending, running,
waiting to retry, or already finished, when the cancel is a no-op). Every lane retries with
``RetryPolicy.fixed(2, 0)``. Commands are submitted in batches while earlier ones run, with at
most ``--inflight`` outstanding.

Checks: every handle resolves exactly once (a done-callback removes its id from the set of
outstanding ids; a second call or a leftover id is an error), submitted == completed + failed
+ cancelled, every final failure reached the DLQ (kept + evicted), the manager is idle at the
end, and RSS (``/proc/self/statm``) after the run is < ``--rss-tolerance`` (10 %) above RSS
after warm-up (the first ``--warmup`` commands, which fill the in-flight window, the DLQ and
the allocator's pools). Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make lanecore importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lanecore import CommandTimeout, LaneConfig, QueueManagerBuilder, RetryPolicy, _impl

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

LANES = (("hi", 0, 8), ("mid", 1, 16), ("lo", 2, 32))  # (lane id, priority, max concurrency)
GLOBAL_CAP = 48
RETRY = RetryPolicy.fixed(2, 0)
TIMEOUT = 0.001  # per-submit timeout of the "sleepy" commands, which sleep SLEEPY seconds
SLEEPY = 0.05
FLAKY_RATE = 0.005  # fail the first attempt, then succeed
BROKEN_RATE = 0.005  # fail every attempt
TIMEOUT_RATE = 0.001  # time out every attempt
CANCEL_RATE = 0.001  # cancelled (half at once, half one batch later)


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


# ------------------------------------------------------------------------------ commands
async def noop() -> int:
    return 1


async def yielding() -> int:
    await asyncio.sleep(0)
    return 2


async def broken() -> None:
    raise ValueError("broken command")


async def sleepy() -> None:
    await asyncio.sleep(SLEEPY)


class Flaky:
    """Fails its first attempt, succeeds on the retry."""

    __slots__ = ("attempts",)
    command_type = "flaky"

    def __init__(self) -> None:
        self.attempts = 0

    async def execute(self) -> int:
        self.attempts += 1
        if self.attempts == 1:
            raise ValueError("flaky command, first attempt")
        return 3


# ------------------------------------------------------------------------------ the run
@dataclass
class SoakResult:
    commands: int
    loop: str
    core: str
    seconds: float = 0.0
    completed: int = 0
    failed: int = 0
    timed_out: int = 0
    cancelled: int = 0
    cancel_requests: int = 0
    resolved_twice: int = 0
    unresolved: int = 0
    dlq_kept: int = 0
    dlq_evicted: int = 0
    final_stats: tuple[int, int, int] = (0, 0, 0)
    warmed_at: int = 0
    rss_warm: int = 0
    rss_end: int = 0
    rss_peak: int = 0
    blocks_warm: int = 0  # sys.getallocatedblocks(): live objects, whatever the RSS does
    blocks_end: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def rss_growth(self) -> float:
        return (self.rss_end - self.rss_warm) / self.rss_warm if self.rss_warm else 0.0

    @property
    def blocks_per_command(self) -> float:
        """Allocated blocks gained per command run after warm-up: about 0 unless something
        leaks (one leaked object per command makes it >= 1)."""
        after = self.commands - self.warmed_at
        return (self.blocks_end - self.blocks_warm) / after if after > 0 else 0.0

    @property
    def rate(self) -> float:
        return self.commands / self.seconds if self.seconds else 0.0

    def check(self, rss_tolerance: float) -> list[str]:
        """What went wrong (empty when every check passed)."""
        problems = list(self.errors)
        if self.resolved_twice:
            problems.append(f"{self.resolved_twice} handles resolved more than once")
        if self.unresolved:
            problems.append(f"{self.unresolved} handles never resolved")
        total = self.completed + self.failed + self.cancelled
        if total != self.commands:
            problems.append(
                f"submitted {self.commands} != completed {self.completed} + failed "
                f"{self.failed} + cancelled {self.cancelled} (= {total})"
            )
        if self.dlq_kept + self.dlq_evicted != self.failed:
            problems.append(
                f"DLQ kept {self.dlq_kept} + evicted {self.dlq_evicted} != failed {self.failed}"
            )
        if self.final_stats != (0, 0, 0):
            problems.append(f"not idle at the end: (pending, active, retrying) {self.final_stats}")
        if self.rss_growth >= rss_tolerance:
            problems.append(
                f"RSS grew {self.rss_growth:.1%} after warm-up (limit {rss_tolerance:.0%}): "
                f"{self.rss_warm / 2**20:.1f} MiB -> {self.rss_end / 2**20:.1f} MiB"
            )
        return problems

    def summary(self) -> str:
        mib = 2**20
        return "\n".join(
            [
                f"soak: {self.commands:,} commands, core={self.core}, loop={self.loop}: "
                f"{self.seconds:.1f} s ({self.rate:,.0f} commands/s)",
                f"  completed {self.completed:,}  failed {self.failed:,} (of which timed out "
                f"{self.timed_out:,})  cancelled {self.cancelled:,} "
                f"(cancel requests {self.cancel_requests:,})",
                f"  resolved twice {self.resolved_twice}  never resolved {self.unresolved}  "
                f"DLQ kept {self.dlq_kept} + evicted {self.dlq_evicted:,}",
                f"  RSS after warm-up ({self.warmed_at:,} commands) {self.rss_warm / mib:.1f} "
                f"MiB, at the end {self.rss_end / mib:.1f} MiB ({self.rss_growth:+.2%}), peak "
                f"{self.rss_peak / mib:.1f} MiB",
                f"  allocated blocks after warm-up {self.blocks_warm:,}, at the end "
                f"{self.blocks_end:,} ({self.blocks_per_command:+.4f} per command)",
            ]
        )


class Soak:
    def __init__(
        self,
        commands: int,
        *,
        core: str | None,
        inflight: int,
        batch: int,
        warmup: int,
        seed: int,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.commands = commands
        self.core = _impl.get_core(core).name
        self.inflight = inflight
        self.batch = batch
        self.warmup = warmup
        self.rng = random.Random(seed)
        self.progress = progress
        self.outstanding: set[Any] = set()
        self.room = asyncio.Event()
        self.result = SoakResult(commands, "", self.core)

    def _done(self, handle: Any) -> None:
        """Done-callback of every handle: it must find its id outstanding, exactly once."""
        try:
            self.outstanding.remove(handle.command_id)
        except KeyError:
            self.result.resolved_twice += 1
            return
        result = self.result
        if handle.cancelled():
            result.cancelled += 1
        else:
            error = handle.exception()
            if error is None:
                result.completed += 1
            else:
                result.failed += 1
                if isinstance(error, CommandTimeout):
                    result.timed_out += 1
        if len(self.outstanding) <= self.inflight - self.batch:
            self.room.set()

    def _pick(self) -> tuple[Any, bool]:
        """A command and whether it needs the per-submit timeout."""
        roll = self.rng.random()
        if roll < FLAKY_RATE:
            return Flaky(), False
        roll -= FLAKY_RATE
        if roll < BROKEN_RATE:
            return broken, False
        roll -= BROKEN_RATE
        if roll < TIMEOUT_RATE:
            return sleepy, True
        return (yielding if roll < 0.25 else noop), False

    async def run(self) -> SoakResult:
        builder = (
            QueueManagerBuilder().with_implementation(self.core).with_global_concurrency(GLOBAL_CAP)
        )
        for lane_id, priority, high in LANES:
            config = LaneConfig(1, high).with_retry_policy(RETRY)
            builder = builder.with_lane(lane_id, config, priority)
        m = builder.build()
        rng, done, result = self.rng, self._done, self.result
        lane_ids = [lane_id for lane_id, _, _ in LANES]
        cancel_later: list[Any] = []
        submitted = 0
        next_report = 0
        started = time.perf_counter()
        async with m:
            while submitted < self.commands:
                if len(self.outstanding) > self.inflight - self.batch:
                    self.room.clear()
                    await self.room.wait()
                for handle in cancel_later:  # cancelled a batch after their submit
                    if handle.cancel():
                        result.cancel_requests += 1
                cancel_later.clear()
                count = min(self.batch, self.commands - submitted)
                lane_id = lane_ids[rng.randrange(3)]
                plain: list[Any] = []
                special: list[Any] = []
                for _ in range(count):
                    command, needs_timeout = self._pick()
                    if needs_timeout:
                        special.append(m.submit(lane_id, command, timeout=TIMEOUT))
                    else:
                        plain.append(command)
                handles = m.submit_many(lane_id, plain) + special
                for handle in handles:
                    self.outstanding.add(handle.command_id)
                    handle.add_done_callback(done)
                    if rng.random() < CANCEL_RATE:
                        if rng.random() < 0.5 and handle.cancel():
                            result.cancel_requests += 1
                        else:
                            cancel_later.append(handle)
                submitted += count
                if result.rss_warm == 0 and submitted >= self.warmup:
                    # warm: the in-flight window has been full, the allocator's pools have
                    # grown to it and the DLQ holds failures; measure with nothing in flight
                    await self._idle(m)
                    result.rss_warm = rss_bytes()
                    result.blocks_warm = sys.getallocatedblocks()
                    result.warmed_at = submitted
                    result.rss_peak = max(result.rss_peak, result.rss_warm)
                if submitted >= next_report:
                    next_report += max(self.commands // 20, 1)
                    rss = rss_bytes()
                    result.rss_peak = max(result.rss_peak, rss)
                    if self.progress is not None:
                        self.progress(
                            f"  {submitted:>12,} submitted  {len(self.outstanding):>7,} "
                            f"outstanding  RSS {rss / 2**20:7.1f} MiB  "
                            f"{time.perf_counter() - started:7.1f} s"
                        )
            for handle in cancel_later:
                if handle.cancel():
                    result.cancel_requests += 1
            m.shutdown()
            await self._idle(m)
            result.seconds = time.perf_counter() - started
            stats = m.stats()
            result.final_stats = (stats.total_pending, stats.total_active, stats.retrying)
            result.unresolved = len(self.outstanding)
            del handles, plain, special, cancel_later
            await self._idle(m)
            result.rss_end = rss_bytes()
            result.blocks_end = sys.getallocatedblocks()
            result.rss_peak = max(result.rss_peak, result.rss_end)
        result.dlq_kept = len(m.dlq)
        result.dlq_evicted = m.dlq.evicted
        if result.rss_warm == 0:
            result.errors.append(f"warm-up ({self.warmup:,}) is not below the command count")
        return result

    async def _idle(self, m: Any) -> None:
        """Wait until nothing is in flight and every done-callback has run; collect garbage."""
        await m.drain()
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()


def run_soak(
    commands: int,
    *,
    loop: str = "asyncio",
    core: str | None = None,
    inflight: int = 50_000,
    batch: int = 1_000,
    warmup: int | None = None,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> SoakResult:
    """Run the soak on a fresh event loop of the given kind and return what happened."""
    if loop == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    elif loop == "asyncio":
        factory = asyncio.new_event_loop
    else:
        raise ValueError(f"loop must be 'asyncio' or 'uvloop', got {loop!r}")
    if warmup is None:
        warmup = max(min(commands // 10, 1_000_000), min(2 * inflight, commands // 2))
    soak = Soak(
        commands,
        core=core,
        inflight=inflight,
        batch=batch,
        warmup=warmup,
        seed=seed,
        progress=progress,
    )
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(soak.run())
    result.loop = loop
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=10_000_000)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--core", choices=("cython", "python"), default=None)
    parser.add_argument("--inflight", type=int, default=50_000, help="most outstanding commands")
    parser.add_argument("--batch", type=int, default=1_000, help="commands per submit batch")
    parser.add_argument("--warmup", type=int, default=None, help="commands before the RSS baseline")
    parser.add_argument("--rss-tolerance", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    result = run_soak(
        args.commands,
        loop=args.loop,
        core=args.core,
        inflight=args.inflight,
        batch=args.batch,
        warmup=args.warmup,
        seed=args.seed,
        progress=None if args.quiet else lambda line: print(line, flush=True),
    )
    print(result.summary())
    problems = result.check(args.rss_tolerance)
    for problem in problems:
        print(f"FAILED: {problem}")
    if not problems:
        print("OK: every check passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
