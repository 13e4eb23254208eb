"""Glue between the workload functions and pytest-benchmark: run a workload for a fixed number
of rounds with ``benchmark.pedantic`` and put what report.py needs into ``extra_info``."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from lanecore.bench import peers
from lanecore.bench.results import Throughput, median

R = TypeVar("R")


def fresh_heap() -> None:
    """Before every round (not timed): collect garbage left by the previous round, then
    freeze what is left (pytest's and the suite's own objects) so that the round's garbage
    collections scan only the objects the round makes, as in a lean application process
    instead of a test runner's heap. The same for every system."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def collected_heap() -> None:
    """Before every round of the rows that run as a user's process does (not timed): undo an
    earlier test's freeze and collect, and nothing more, so the round's garbage collections
    run as they would in the user's process (no ``gc.freeze``, no ``gc.disable``)."""
    gc.unfreeze()
    gc.collect()


@dataclass(frozen=True, slots=True)
class Paired:
    """The runs behind a paired ratio: ``tops`` has one run more than ``bottoms``."""

    ratio: float  # median of the pairs' ratios
    tops: list[Throughput]
    bottoms: list[Throughput]


def paired(
    top: Callable[[], Throughput],
    bottom: Callable[[], Throughput],
    pairs: int,
    prepare: Callable[[], None] = fresh_heap,
) -> Paired:
    """Median over ``pairs`` of top's rate ÷ bottom's, each bottom run between two top runs
    (top, bottom, top, bottom, ..., top; every run after ``prepare()``) and compared with
    the mean of its two neighbours: a slow spell of this shared machine, or a drift of its
    speed over the pairs, then weighs on both sides of each ratio, where the separate medians
    of two tests taken minutes apart would not."""
    ratios = []
    prepare()
    tops = [top()]
    bottoms = []
    for _ in range(pairs):
        prepare()
        bottoms.append(bottom())
        prepare()
        tops.append(top())
        before, b, after = tops[-2], bottoms[-1], tops[-1]
        check_completed([before, b, after])
        ratios.append((before.ops_per_s + after.ops_per_s) / 2 / b.ops_per_s)
    return Paired(median(ratios), tops, bottoms)


def paired_ratio(
    top: Callable[[], Throughput],
    bottom: Callable[[], Throughput],
    pairs: int,
    prepare: Callable[[], None] = fresh_heap,
) -> float:
    """``paired(...).ratio``: top's rate ÷ bottom's, measured in back-to-back pairs."""
    return paired(top, bottom, pairs, prepare).ratio


def skip_if_missing(system: str) -> None:
    """Skip a peer whose package is not installed, saying which package it needs."""
    reason = peers.missing_peer(system)
    if reason is not None:
        pytest.skip(reason)


def measure(
    benchmark: Any,
    fn: Callable[[], R],
    *,
    rounds: int,
    group: str,
    setup: Callable[[], None] = fresh_heap,
) -> list[R]:
    """Time ``fn`` for ``rounds`` rounds of one call each, ``setup()`` before each (not
    timed); return what every call returned."""
    results: list[R] = []

    def one_round() -> None:
        results.append(fn())

    benchmark.group = group
    benchmark.pedantic(one_round, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)
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
