"""The scheduling core alone (no event loop): push + pop of 1,000,000 items over 64 lanes of
a LaneTable, compiled vs twin; and the core's memory per pending command (tracemalloc)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import config, workloads
from benchmarks.harness import label, measure, record_throughput

CORES = list(config.CORE_NAMES)
REF = f"lanecore-{CORES[0]}"


@pytest.mark.parametrize("core", CORES)
def test_core_push_pop(benchmark: Any, core: str) -> None:
    """Push+pop pairs per second (a pair = one push and one pop_ready)."""
    results = measure(
        benchmark,
        lambda: workloads.core_push_pop(core, config.CORE_ITEMS, config.CORE_LANES),
        rounds=config.QUICK_ROUNDS,
        group="core push+pop",
    )
    label(benchmark, table="core", loop=None, row=f"lanecore-{core}", ref=REF)
    record_throughput(benchmark, results)
    benchmark.extra_info["lanes"] = config.CORE_LANES


@pytest.mark.parametrize("core", CORES)
def test_core_memory(benchmark: Any, core: str) -> None:
    """Bytes the core allocates per pending command (the commands themselves excluded)."""
    results = measure(
        benchmark,
        lambda: workloads.core_memory(core, config.MEMORY_ITEMS),
        rounds=1,
        group="memory",
    )
    label(benchmark, table="memory", loop=None, row=f"lanecore-{core} core", ref=f"{REF} core")
    result = results[0]
    benchmark.extra_info.update(
        items=result.items,
        bytes_per_item=result.bytes_per_item,
        peak_bytes_per_item=result.peak_bytes / result.items,
    )


@pytest.mark.parametrize("core", CORES)
def test_manager_memory(benchmark: Any, core: str) -> None:
    """Bytes per pending command for the whole manager (handle + bookkeeping), for context."""
    items = config.MEMORY_ITEMS // 10
    results = measure(
        benchmark,
        lambda: workloads.manager_memory(core, "asyncio", items),
        rounds=1,
        group="memory",
    )
    label(benchmark, table="memory", loop=None, row=f"lanecore-{core} manager", ref=f"{REF} core")
    result = results[0]
    benchmark.extra_info.update(
        items=result.items,
        bytes_per_item=result.bytes_per_item,
        peak_bytes_per_item=result.peak_bytes / result.items,
    )
