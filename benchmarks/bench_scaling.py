"""Scaling: W10-style throughput over 1, 10, 100 and 1,000 lanes (same total commands; each
lane max 10, and again with the total slots fixed), and the drain rate with 1k, 10k, 100k
and 1M commands queued first."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import config, workloads
from benchmarks.harness import label, measure, record_throughput


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


def _slots_label(per_lane: int, fixed: bool) -> str:
    return f" (max {per_lane} each, {config.SLOT_TOTAL} slots)" if fixed else ""


@pytest.mark.parametrize("lanes", config.LANE_COUNTS)
@pytest.mark.parametrize("slots", ["max10", "fixed"])
@pytest.mark.parametrize("system", config.LANECORE_SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
def test_lane_scaling(benchmark: Any, loop: str, system: str, slots: str, lanes: int) -> None:
    """The same commands spread over more lanes, each lane max 10 ("max10", as the issue
    asks) or with the lanes' total max held at SLOT_TOTAL ("fixed"); vs 10 lanes."""
    fixed = slots == "fixed"
    per_lane = config.SLOT_TOTAL // lanes if fixed else 10
    layout = workloads.layout(lanes, per_lane)
    results = measure(
        benchmark,
        lambda: workloads.throughput(system, loop, layout, config.W_COMMANDS),
        rounds=config.ROUNDS,
        group=f"lanes · {loop}",
    )
    label(
        benchmark,
        table="lanes",
        loop=loop,
        row=f"{system} {lanes} lanes{_slots_label(per_lane, fixed)}",
        ref=f"{system} 10 lanes{_slots_label(config.SLOT_TOTAL // 10, fixed)}",
    )
    record_throughput(benchmark, results)
    benchmark.extra_info.update(lanes=lanes, max_per_lane=per_lane, slots=lanes * per_lane)


@pytest.mark.parametrize("pending", config.PENDING_COUNTS)
@pytest.mark.parametrize("system", config.LANECORE_SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
def test_pending_drain(benchmark: Any, loop: str, system: str, pending: int) -> None:
    """Drain rate once ``pending`` commands are queued over 10 lanes (submit not timed)."""
    layout = workloads.layout(10, 10)
    smallest = config.PENDING_COUNTS[0]
    results = measure(
        benchmark,
        lambda: workloads.drain(system, loop, layout, pending),
        rounds=config.pending_rounds(pending),
        group=f"pending · {loop}",
    )
    label(
        benchmark,
        table="pending",
        loop=loop,
        row=f"{system} {_count(pending)} pending",
        ref=f"{system} {_count(smallest)} pending",
    )
    record_throughput(benchmark, results)
    benchmark.extra_info["pending"] = pending
