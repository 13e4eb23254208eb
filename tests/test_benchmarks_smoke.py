"""Smoke test of benchmarks/: every workload runs once at a tiny size on the stock asyncio loop,
for lanecore on each core and for the hand-written pool (and for a peer when it is installed).
Only results are checked (counts, ordering, percentiles), never timings, so it is safe on a
busy machine. Needs neither pytest-benchmark nor any peer package."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lanecore import _impl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; append so lanecore stays as is
    sys.path.append(str(ROOT))

from benchmarks import workloads  # noqa: E402

CORES = sorted(_impl.CORES)
LOOP = "asyncio"
COMMANDS = 200
LAYOUTS = workloads.LAYOUTS


def _complete(result: workloads.Throughput, commands: int = COMMANDS) -> None:
    assert result.commands == commands
    assert result.completed == commands
    assert result.seconds > 0


@pytest.mark.parametrize("workload", list(LAYOUTS))
@pytest.mark.parametrize("mode", ["", "-submit"])
@pytest.mark.parametrize("core", CORES)
def test_lanecore_throughput(core: str, mode: str, workload: str) -> None:
    result = workloads.throughput(f"lanecore-{core}{mode}", LOOP, LAYOUTS[workload], COMMANDS)
    _complete(result)


@pytest.mark.parametrize("workload", list(LAYOUTS))
def test_pool_throughput(workload: str) -> None:
    _complete(workloads.throughput("pool", LOOP, LAYOUTS[workload], COMMANDS))


@pytest.mark.parametrize("form", workloads.FORMS)
@pytest.mark.parametrize(
    "system", [*(f"lanecore-{c}{m}" for c in CORES for m in ("", "-submit")), "pool"]
)
def test_command_forms(system: str, form: str) -> None:
    """Every form through one submit each (lanes interleaved), submit_many and the pool; the
    submitting alone is timed too, and is part of the whole."""
    for workload in LAYOUTS:
        result = workloads.throughput(system, LOOP, LAYOUTS[workload], COMMANDS, form=form)
        _complete(result)
        assert result.submit_seconds is not None
        assert 0 < result.submit_seconds <= result.seconds
        assert result.submit_ns == result.submit_seconds / COMMANDS * 1e9


def test_lean_process() -> None:
    """The one-submit-per-command rows' fresh process: the rounds, then top/run pairs."""
    from benchmarks.harness import in_lean_process

    run = {"system": "pool", "loop": LOOP, "workload": "W1", "commands": COMMANDS, "form": "named"}
    top = {**run, "system": f"lanecore-{CORES[0]}-submit"}
    lean = in_lean_process(run, 2, top, 2)
    assert lean.pairs is not None
    assert [len(lean.rounds), len(lean.pairs.tops), len(lean.pairs.bottoms)] == [2, 3, 2]
    for result in [*lean.rounds, *lean.pairs.tops, *lean.pairs.bottoms]:
        _complete(result)
        assert result.submit_seconds is not None
    assert lean.pairs.ratio > 0
    assert in_lean_process(run, 1).pairs is None


def test_unknown_form() -> None:
    with pytest.raises(ValueError, match="form must be one of"):
        workloads.throughput("pool", LOOP, LAYOUTS["W10"], COMMANDS, form="lambda")


def test_aiojobs_throughput() -> None:
    pytest.importorskip("aiojobs")
    _complete(workloads.throughput("aiojobs", LOOP, LAYOUTS["W10"], COMMANDS))


def test_a3s_lane_throughput() -> None:
    pytest.importorskip("_a3s_lane")
    _complete(workloads.throughput("a3s-lane", LOOP, LAYOUTS["W10"], 20, a3s_threads=4), 20)


@pytest.mark.parametrize("variant", workloads.OVERHEAD_VARIANTS)
@pytest.mark.parametrize("core", CORES)
def test_overhead_variants(core: str, variant: str) -> None:
    result = workloads.throughput(
        f"lanecore-{core}", LOOP, LAYOUTS["W10"], COMMANDS, variant=variant
    )
    _complete(result)
    if variant == "subscriber":
        # submitted + started + completed per command, plus shutdown; some may be dropped
        events = result.details["events_read"] + result.details["events_dropped"]
        assert events == 3 * COMMANDS + 1
    if variant == "metrics":  # LocalMetrics was on and counted every command
        assert result.details["metrics_completed"] == COMMANDS


@pytest.mark.parametrize("core", CORES)
def test_lanecore_drain(core: str) -> None:
    _complete(workloads.drain(f"lanecore-{core}", LOOP, LAYOUTS["W10"], 1000), 1000)


@pytest.mark.parametrize(("lanes", "per_lane"), [(1, 10), (100, 10), (1000, 1)])
def test_lane_counts(lanes: int, per_lane: int) -> None:
    layout = workloads.layout(lanes, per_lane)
    _complete(workloads.throughput("lanecore-python", LOOP, layout, 2000), 2000)


PENDING, TRIES = 300, 5


def _check_preempt(result: workloads.Preempt, tries: int = TRIES) -> None:
    assert result.completed == result.expected == 2 + PENDING + tries
    assert len(result.latencies_us) == tries
    assert all(us > 0 for us in result.latencies_us)
    assert result.p99_us >= result.p50_us


@pytest.mark.parametrize("core", CORES)
def test_lanecore_preempt(core: str) -> None:
    result = workloads.preempt(f"lanecore-{core}", LOOP, PENDING, TRIES)
    _check_preempt(result)
    # every control started before any queued prompt: the prompt lane stayed at its cap of 2
    assert result.queued_before_first_control == 0
    assert result.queued_during_tries == 0
    assert not result.gave_up
    assert max(result.latencies_us) < workloads.PROMPT_SECONDS * 1e6  # never behind a prompt


def test_pool_preempt() -> None:
    result = workloads.preempt("pool", LOOP, PENDING, TRIES)
    _check_preempt(result)
    assert result.queued_before_first_control == 0  # priority order puts control first
    # but the pool has no per-lane cap: its 3 free workers took queued (50 ms) prompts, so
    # later controls waited for one of them to finish; the rest were released at the end
    assert 3 <= result.queued_during_tries < PENDING
    assert max(result.latencies_us) > 0.5 * workloads.PROMPT_SECONDS * 1e6
    assert not result.gave_up


def test_aiojobs_preempt() -> None:
    pytest.importorskip("aiojobs")
    result = workloads.preempt("aiojobs", LOOP, PENDING, TRIES, patience=0.2)
    # FIFO: the first control waits behind every queued 50 ms prompt, so patience runs out,
    # the prompts are released (they all start, returning at once) and the tries stop
    assert result.gave_up
    _check_preempt(result, tries=1)
    assert result.queued_before_first_control == PENDING
    assert result.latencies_us[0] >= 0.2e6


@pytest.mark.parametrize("core", CORES)
def test_core_push_pop(core: str) -> None:
    _complete(workloads.core_push_pop(core, 10_000, 64), 10_000)


@pytest.mark.parametrize("core", CORES)
def test_core_memory(core: str) -> None:
    result = workloads.core_memory(core, 10_000)
    assert result.items == 10_000
    assert 0 < result.bytes_per_item <= result.peak_bytes / result.items


@pytest.mark.parametrize("core", CORES)
def test_manager_memory(core: str) -> None:
    result = workloads.manager_memory(core, LOOP, 2_000)
    assert result.bytes_per_item > workloads.core_memory(core, 2_000).bytes_per_item


@pytest.mark.parametrize("system", [f"lanecore-{core}" for core in CORES] + ["aiolimiter"])
def test_bucket_throughput(system: str) -> None:
    if system == "aiolimiter":
        pytest.importorskip("aiolimiter")
    _complete(workloads.bucket_throughput(system, LOOP, 10_000), 10_000)


@pytest.mark.parametrize("system", [f"lanecore-{core}" for core in CORES] + ["aiolimiter"])
def test_rate_accuracy(system: str) -> None:
    if system == "aiolimiter":
        pytest.importorskip("aiolimiter")
    result = workloads.rate_accuracy(system, LOOP, 1000, 0.3)
    assert result.submitted > result.burst + result.expected
    assert result.started >= result.burst  # the bucket starts full
    assert result.started <= result.burst + result.expected + 1  # never beyond the rate
    assert result.cpu_seconds >= 0 and result.wall_seconds >= result.seconds


@pytest.mark.parametrize("system", [f"lanecore-{core}" for core in CORES] + ["aiolimiter"])
def test_idle_wait(system: str) -> None:
    if system == "aiolimiter":
        pytest.importorskip("aiolimiter")
    result = workloads.idle_wait(system, LOOP, 0.1)
    assert result.started == 1  # the second command is still waiting for its token
    assert result.cpu_seconds >= 0 and result.wall_seconds >= 0.1


def test_percentile_and_split() -> None:
    assert workloads.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert workloads.percentile([1.0, 2.0], 100) == 2.0
    assert workloads.split(10, 3) == [4, 3, 3]
    assert [priority for _, priority, _ in workloads.layout(300, 1)][255:258] == [255, 0, 1]


@pytest.mark.parametrize("system", ["lanecore-redis", "bullmq", "arq"])
def test_redis_peers(system: str) -> None:
    """bench_redis.py's workload at a tiny size: a redis-server, 2 worker processes, a burst
    and a paced run; every job completes, both processes take part. About 1 s per system."""
    from benchmarks import redis_peers

    reason = redis_peers.missing(system)
    if reason is not None:
        pytest.skip(reason)
    with redis_peers.running(
        system, processes=2, concurrency=5, loop=LOOP, batch=20, warmup=10
    ) as setup:
        burst = setup.run("burst", 40)
        paced = setup.run("paced", 10, rate=500)
    for result, jobs in ((burst, 40), (paced, 10)):
        assert result.completed == result.jobs == jobs
        assert len(result.latencies_ms) == jobs and min(result.latencies_ms) > 0
        assert result.seconds > 0
    assert sum(burst.per_process) == 40
