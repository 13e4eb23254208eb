"""Token buckets: try_acquire throughput (lanecore's TokenBucket on both cores vs aiolimiter),
a lane limited to 1000/s kept busy for 5 s (accuracy, and CPU used while it waits for
tokens), and the CPU used while nothing but a token a minute away is awaited."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import config, workloads
from benchmarks.harness import label, measure, record_throughput, skip_if_missing

SYSTEMS = [*config.LANECORE_SYSTEMS, "aiolimiter"]


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
def test_bucket_throughput(benchmark: Any, loop: str, system: str) -> None:
    """Non-blocking acquisitions per second while tokens are available."""
    skip_if_missing(system)
    results = measure(
        benchmark,
        lambda: workloads.bucket_throughput(system, loop, config.BUCKET_CALLS),
        rounds=config.QUICK_ROUNDS,
        group=f"token bucket · {loop}",
    )
    label(benchmark, table="bucket", loop=loop, row=system, ref=config.REFERENCE_SYSTEM)
    record_throughput(benchmark, results)


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
def test_rate_accuracy(benchmark: Any, loop: str, system: str) -> None:
    """Starts within the window minus the initial burst, vs rate x seconds; CPU / wall."""
    skip_if_missing(system)
    results = measure(
        benchmark,
        lambda: workloads.rate_accuracy(system, loop, config.RATE_PER_SECOND, config.RATE_SECONDS),
        rounds=config.ROUNDS_SLOW,
        group=f"rate limit · {loop}",
    )
    label(benchmark, table="rate", loop=loop, row=system, ref=config.REFERENCE_SYSTEM)
    result = results[-1]
    assert result.started >= result.burst
    benchmark.extra_info.update(
        rate=result.rate,
        seconds=result.seconds,
        started=result.started,
        burst=result.burst,
        expected=result.expected,
        error_pct=result.error_pct,
        cpu_pct=result.cpu_pct,
    )


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
def test_idle_wait_cpu(benchmark: Any, loop: str, system: str) -> None:
    """CPU / wall while the only queued command waits a minute for its token."""
    skip_if_missing(system)
    results = measure(
        benchmark,
        lambda: workloads.idle_wait(system, loop, config.IDLE_SECONDS),
        rounds=config.ROUNDS_SLOW,
        group=f"rate limit · {loop}",
    )
    label(
        benchmark,
        table="rate",
        loop=loop,
        row=f"{system} idle",
        ref=f"{config.REFERENCE_SYSTEM} idle",
    )
    result = results[-1]
    assert result.started == 1
    benchmark.extra_info.update(seconds=result.wall_seconds, cpu_pct=result.cpu_pct)
