"""Redis: no-op named jobs, 2 worker processes on one redis-server, lanecore's Redis backend
side by side with bullmq and arq (issue 6's benchmark; the goal is >= 2x bullmq's throughput).

    python -m pytest benchmarks/bench_redis.py --benchmark-only

Per system, a module-scoped fixture starts a throwaway ``redis-server`` (AOF off) and
``REDIS_PROCESSES`` worker processes running ``REDIS_CONCURRENCY`` jobs each, and warms them
up; then

- ``test_redis_burst``: ``REDIS_JOBS`` jobs enqueued at once, ``REDIS_ROUNDS`` rounds; table
  ``REDIS`` (ops/s, and p50/p99 enqueue → completion over every round's jobs);
- ``test_redis_paced``: ``REDIS_PACED_JOBS`` jobs offered one at a time at
  ``REDIS_PACED_RATE``/s, one round; table ``REDIS-paced`` (p50/p99 latency without a backlog).

Both also record CPU seconds per 1,000 jobs for the workers, redis-server and the producer.
How each system enqueues and what "completed" means for it: see redis_peers.py. A system is
skipped, with the reason, when redis-server, its package, or lanecore's backend is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks import redis_peers
from benchmarks.config import (
    LOOP_NAMES,
    REDIS_BATCH,
    REDIS_CONCURRENCY,
    REDIS_JOBS,
    REDIS_PACED_JOBS,
    REDIS_PACED_RATE,
    REDIS_PROCESSES,
    REDIS_ROUNDS,
)
from benchmarks.harness import label, measure
from benchmarks.redis_peers import RedisRun, percentile

LOOP = "uvloop" if "uvloop" in LOOP_NAMES else "asyncio"  # workers and producer alike


@pytest.fixture(scope="module")
def redis_setup(request: pytest.FixtureRequest) -> Iterator[redis_peers.Setup]:
    """A redis-server and warmed-up workers for one system, shared by its two benchmarks."""
    system: str = request.param
    reason = redis_peers.missing(system)
    if reason is not None:
        pytest.skip(reason)
    with redis_peers.running(
        system,
        processes=REDIS_PROCESSES,
        concurrency=REDIS_CONCURRENCY,
        loop=LOOP,
        batch=REDIS_BATCH,
    ) as setup:
        yield setup


def _record(benchmark: Any, results: list[RedisRun]) -> None:
    """ops/s per round (median, best), latency percentiles over all rounds, CPU per 1k jobs."""
    for result in results:
        assert result.completed == result.jobs, f"{result.completed} of {result.jobs} completed"
    rates = sorted(r.ops_per_s for r in results)
    latencies = [ms for r in results for ms in r.latencies_ms]
    jobs = sum(r.jobs for r in results)
    cpu = {
        key: sum(r.cpu_s.get(key, 0.0) for r in results) * 1000.0 / jobs
        for key in ("workers", "redis", "producer")
    }
    benchmark.extra_info.update(
        commands=results[0].jobs,
        rounds=len(results),
        ops_per_s=rates[len(rates) // 2] if len(rates) % 2 else sum(rates) / len(rates),
        ops_per_s_best=rates[-1],
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies),
        cpu_workers_ms_per_job=cpu["workers"],
        cpu_redis_ms_per_job=cpu["redis"],
        cpu_producer_ms_per_job=cpu["producer"],
        per_process=" / ".join(
            f"{sum(c):,}" for c in zip(*(r.per_process for r in results), strict=True)
        ),
        processes=REDIS_PROCESSES,
        concurrency=REDIS_CONCURRENCY,
    )


@pytest.mark.parametrize("redis_setup", redis_peers.SYSTEMS, indirect=True)
def test_redis_burst(benchmark: Any, redis_setup: redis_peers.Setup) -> None:
    results = measure(
        benchmark,
        lambda: redis_setup.run("burst", REDIS_JOBS),
        rounds=REDIS_ROUNDS,
        group="redis · burst (2 worker processes)",
    )
    label(benchmark, table="REDIS", loop=LOOP, row=redis_setup.system, ref=redis_peers.REFERENCE)
    _record(benchmark, results)


@pytest.mark.parametrize("redis_setup", redis_peers.SYSTEMS, indirect=True)
def test_redis_paced(benchmark: Any, redis_setup: redis_peers.Setup) -> None:
    results = measure(
        benchmark,
        lambda: redis_setup.run("paced", REDIS_PACED_JOBS, rate=REDIS_PACED_RATE),
        rounds=1,
        group=f"redis · paced {REDIS_PACED_RATE}/s (2 worker processes)",
    )
    label(
        benchmark, table="REDIS-paced", loop=LOOP, row=redis_setup.system, ref=redis_peers.REFERENCE
    )
    _record(benchmark, results)
    benchmark.extra_info.update(rate=REDIS_PACED_RATE)
