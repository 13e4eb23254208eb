"""Glue between the workload functions and pytest-benchmark: run a workload for a fixed number
of rounds with ``benchmark.pedantic`` and put what report.py needs into ``extra_info``."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lanecore.bench import peers
from lanecore.bench.results import Throughput, median

R = TypeVar("R")
ROOT = Path(__file__).resolve().parents[1]


def fresh_heap() -> None:
    """Before every round (not timed): collect garbage left by the previous round, then
    freeze what is left (pytest's and the suite's own objects) so that the round's garbage
    collections scan only the objects the round makes, as in a lean application process
    instead of a test runner's heap. The same for every system."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclass(frozen=True, slots=True)
class Paired:
    """Runs in back-to-back pairs, top, bottom, top, ..., top (one top more than bottoms),
    and the median of top's rate ÷ bottom's over the pairs."""

    tops: list[Throughput]
    bottoms: list[Throughput]

    @property
    def ratio(self) -> float:
        """Each bottom run compared with the mean of its two neighbours: a slow spell of this
        shared machine, or a drift of its speed over the pairs, then weighs on both sides of
        each ratio, where the separate medians of two tests taken minutes apart would not."""
        check_completed([*self.tops, *self.bottoms])
        return median(
            [
                (before.ops_per_s + after.ops_per_s) / 2 / b.ops_per_s
                for before, b, after in zip(self.tops, self.bottoms, self.tops[1:], strict=False)
            ]
        )


def paired_ratio(
    top: Callable[[], Throughput], bottom: Callable[[], Throughput], pairs: int
) -> float:
    """Top's rate ÷ bottom's over ``pairs`` back-to-back pairs (see Paired), every run after
    ``fresh_heap``."""
    fresh_heap()
    tops = [top()]
    bottoms = []
    for _ in range(pairs):
        fresh_heap()
        bottoms.append(bottom())
        fresh_heap()
        tops.append(top())
    return Paired(tops, bottoms).ratio


@dataclass(frozen=True, slots=True)
class Lean:
    """What ``in_lean_process`` ran: the rounds, and the pairs when a top was given."""

    rounds: list[Throughput]
    pairs: Paired | None


def in_lean_process(
    run: dict[str, Any], rounds: int, top: dict[str, Any] | None = None, pairs: int = 0
) -> Lean:
    """Run ``run`` (system, loop, workload, commands, form) ``rounds`` times, then ``pairs``
    back-to-back pairs with ``top`` if given, in a fresh interpreter that imports lanecore
    and not pytest (benchmarks/lean.py): the user's one-process script, a ``gc.collect()``
    before each run and no ``gc.freeze``."""
    spec = {"run": run, "rounds": rounds, "top": top, "pairs": pairs}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.lean"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"benchmarks.lean failed ({done.returncode}):\n{done.stderr}")
    out = json.loads(done.stdout)

    def results(key: str) -> list[Throughput]:
        return [Throughput(**r) for r in out[key]]

    return Lean(results("rounds"), Paired(results("tops"), results("bottoms")) if top else None)


def lean_measure(
    benchmark: Any,
    run: dict[str, Any],
    *,
    rounds: int,
    group: str,
    top: dict[str, Any] | None = None,
    pairs: int = 0,
) -> Lean:
    """``in_lean_process`` as one pytest-benchmark round (its own timing is the whole child
    process; the rates come from inside each run)."""
    done: list[Lean] = []
    benchmark.group = group
    benchmark.pedantic(
        lambda: done.append(in_lean_process(run, rounds, top, pairs)),
        rounds=1,
        iterations=1,
        warmup_rounds=0,
    )
    return done[0]


def skip_if_missing(system: str) -> None:
    """Skip a peer whose package is not installed, saying which package it needs."""
    reason = peers.missing_peer(system)
    if reason is not None:
        pytest.skip(reason)


def measure(benchmark: Any, fn: Callable[[], R], *, rounds: int, group: str) -> list[R]:
    """Time ``fn`` for ``rounds`` rounds of one call each; return what every call returned."""
    results: list[R] = []

    def one_round() -> None:
        results.append(fn())

    benchmark.group = group
    benchmark.pedantic(one_round, setup=fresh_heap, rounds=rounds, iterations=1, warmup_rounds=0)
    return results


def label(benchmark: Any, *, table: str, loop: str | None, row: str, ref: str | None) -> None:
    """Which report table this result belongs to, its row, and the row it is compared with."""
    benchmark.extra_info.update(table=table, loop=loop, row=row, ref=ref)


def check_completed(results: list[Throughput]) -> None:
    """Every command of every run completed."""
    for result in results:
        assert result.completed == result.commands, (
            f"only {result.completed} of {result.commands} commands completed"
        )


def record_throughput(benchmark: Any, results: list[Throughput]) -> None:
    """Check every command completed, then record the median and best rate over the rounds
    (and the median submit-phase ns per command, where the workload measures it)."""
    check_completed(results)
    rates = [r.ops_per_s for r in results]
    benchmark.extra_info.update(
        commands=results[0].commands,
        rounds=len(results),
        ops_per_s=median(rates),
        ops_per_s_best=max(rates),
        seconds=median([r.seconds for r in results]),
    )
    submit_ns = [r.submit_ns for r in results if r.submit_ns is not None]
    if submit_ns:
        benchmark.extra_info["submit_ns"] = median(submit_ns)
    details = results[-1].details
    if details:
        benchmark.extra_info.update(details)
