"""Durable throughput: named commands through a manager with SqliteStorage, end to end.

    python -m pytest benchmarks/bench_durable.py --benchmark-only

One round: build a manager with ``SqliteStorage`` on a fresh file in a temporary directory,
start it, submit 50,000 named no-op commands (``submit(lane, "noop", payload)``: each is saved
at submit, and removed from storage when it finishes), await every ``persisted()`` (its batch
has committed) and every result, then ``close()`` (which waits for the writer to commit the
removals and shut down). The figure is commands per second over the whole round, in
``extra_info["commands_per_s"]`` (median over the rounds; the target is >= 50,000/s).

``LANECORE_BENCH_SCALE`` scales the command count as for the other benchmarks.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.config import scaled
from benchmarks.harness import fresh_heap
from lanecore import LaneConfig, QueueManagerBuilder, _impl
from lanecore.storage import SqliteStorage

COMMANDS = scaled(50_000, 1_000, 1_000)
ROUNDS = 5
TARGET = 50_000  # commands/s


async def noop(payload: Any) -> Any:
    return payload


async def durable_round(path: Path, commands: int, core: str) -> float:
    """Seconds for one end-to-end round (checks every result and that storage ends empty)."""
    started = time.perf_counter()
    m = (
        QueueManagerBuilder()
        .with_implementation(core)
        .with_lane("work", LaneConfig(1, 64), 0)
        .with_storage(SqliteStorage(path))
        .build()
    )
    m.register("noop", noop)
    await m.start()
    submit = m.submit
    handles = [submit("work", "noop", i) for i in range(commands)]
    for handle in handles:  # awaited in turn: no Task per command
        await handle.persisted()
    for i, handle in enumerate(handles):
        assert await handle == i
    await m.close()
    seconds = time.perf_counter() - started
    check = SqliteStorage(path)
    try:
        assert await check.load_commands() == []  # every finished command was removed
    finally:
        await check.close()
    return seconds


def loop_factory(loop: str) -> Any:
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.new_event_loop
    return asyncio.new_event_loop


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("core", sorted(_impl.CORES))
def test_durable_named_commands(benchmark: Any, tmp_path: Path, core: str, loop: str) -> None:
    seconds: list[float] = []

    def one_round() -> None:
        path = tmp_path / f"round{len(seconds)}.db"
        with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
            seconds.append(runner.run(durable_round(path, COMMANDS, core)))

    benchmark.group = "durable named commands (SqliteStorage)"
    benchmark.pedantic(one_round, setup=fresh_heap, rounds=ROUNDS, iterations=1)
    rates = [COMMANDS / s for s in seconds]
    benchmark.extra_info.update(
        commands=COMMANDS,
        core=core,
        loop=loop,
        commands_per_s=round(statistics.median(rates)),
        best_commands_per_s=round(max(rates)),
        target_commands_per_s=TARGET,
    )
