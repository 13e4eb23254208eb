"""PREEMPT: how long a control command waits to start while the prompt lane is full (2 slow
prompts running) and 10,000 more prompts are queued, each a 50 ms LLM-like call. Latency is
perf_counter() inside the command minus perf_counter() just before submit. The workload is
lanecore.bench.preempt (see its docstring for how the queued prompts are released)."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import config, workloads
from benchmarks.harness import label, measure, skip_if_missing

SYSTEMS = [*config.LANECORE_SYSTEMS, "pool", "aiojobs", "a3s-lane"]


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
def test_preempt(benchmark: Any, loop: str, system: str) -> None:
    """p50/p99 submit-to-start latency of control commands, in microseconds."""
    if system == "a3s-lane":
        pytest.skip(
            "a3s-lane's SDK runs no user code (unregistered command types echo their payload), "
            "so it has no slow prompt to hold the lane and no start timestamp to take"
        )
    skip_if_missing(system)
    results = measure(
        benchmark,
        lambda: workloads.preempt(system, loop, config.PREEMPT_PENDING, config.PREEMPT_TRIES),
        rounds=config.PREEMPT_ROUNDS,
        group=f"PREEMPT · {loop}",
    )
    for result in results:
        assert result.completed == result.expected
    label(benchmark, table="PREEMPT", loop=loop, row=system, ref=config.REFERENCE_SYSTEM)
    samples = [us for result in results for us in result.latencies_us]
    benchmark.extra_info.update(
        pending=config.PREEMPT_PENDING,
        tries=config.PREEMPT_TRIES,
        samples=len(samples),
        p50_us=workloads.percentile(samples, 50),
        p99_us=workloads.percentile(samples, 99),
        max_us=max(samples),
        first_us=workloads.median([r.latencies_us[0] for r in results]),
        queued_before_first_control=max(r.queued_before_first_control for r in results),
        queued_during_tries=max(r.queued_during_tries for r in results),
        prompt_ms=workloads.PROMPT_SECONDS * 1e3,
        gave_up=sum(r.gave_up for r in results),
    )
