"""Overheads on W10: one event subscriber reading with ``async for``, retries configured but
never used (RetryPolicy.exponential(3)), a global concurrency cap (= the lanes' total, so it
never binds), and metrics on (``with_metrics(LocalMetrics())``, the issue's ≤ 10 % figure);
each compared with plain W10 on the same core in the same run. For the compiled core the
variant's slowdown is also measured in back-to-back pairs with plain W10
(``extra_info["paired_slowdown_pct"]``), which the report's figures use."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import config, workloads
from benchmarks.harness import label, measure, paired_ratio, record_throughput


@pytest.mark.parametrize("variant", workloads.OVERHEAD_VARIANTS)
@pytest.mark.parametrize("system", config.LANECORE_SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
def test_overheads(benchmark: Any, loop: str, system: str, variant: str) -> None:
    """W10 throughput with one feature switched on."""
    layout = workloads.layout(10, 10)
    results = measure(
        benchmark,
        lambda: workloads.throughput(system, loop, layout, config.W_COMMANDS, variant=variant),
        rounds=config.ROUNDS,
        group=f"overheads · {loop}",
    )
    label(benchmark, table="overheads", loop=loop, row=f"{system} {variant}", ref=f"{system} plain")
    record_throughput(benchmark, results)
    benchmark.extra_info["variant"] = variant
    if variant == "metrics":  # LocalMetrics saw every command complete
        assert all(r.details["metrics_completed"] == r.commands for r in results)
    if variant != "plain" and system == config.REFERENCE_SYSTEM:
        ratio = paired_ratio(
            lambda: workloads.throughput(system, loop, layout, config.W_COMMANDS),
            lambda: workloads.throughput(system, loop, layout, config.W_COMMANDS, variant=variant),
            config.PAIRS,
        )
        benchmark.extra_info["paired_slowdown_pct"] = (ratio - 1.0) * 100.0
