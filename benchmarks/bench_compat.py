"""16 threads calling the blocking ``submit`` of lanecore.compat vs the a3s-lane 0.4 SDK.

    python -m pytest benchmarks/bench_compat.py --benchmark-only

Each thread submits echo commands (no handler: the payload comes back) one after another, so
this measures the round trip thread -> scheduler -> thread. The SDK (``pip install
a3s-lane==0.4.0``) polls every 10 ms and manages ~90 commands/s, so it gets a small count.
commands/s of each and the ratio go to ``benchmark.extra_info`` (see --benchmark-json) and are
printed. Target: lanecore >= 10,000 commands/s and >= 100x the SDK.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from lanecore.compat import Lane, LaneConfig

THREADS = 16
COMPAT_COMMANDS = 32_000  # per round
SDK_COMMANDS = 64  # 4 per thread: ~0.7 s
HAVE_SDK = importlib.util.find_spec("_a3s_lane") is not None

RATES: dict[str, float] = {}  # commands/s, filled by the tests below (SDK first)


def lanes(config: Any) -> list[Any]:
    return [
        config("high", priority=0, min_concurrency=1, max_concurrency=4),
        config("low", priority=10, min_concurrency=1, max_concurrency=2),
    ]


def hammer(submit: Callable[[str, str, Any], Any], total: int) -> float:
    """Wall time for THREADS threads to submit ``total`` commands between them."""
    per_thread = total // THREADS
    barrier = threading.Barrier(THREADS + 1)

    def worker(n: int) -> None:
        lane_id = "high" if n % 2 == 0 else "low"
        barrier.wait()
        for i in range(per_thread):
            submit(lane_id, "echo", i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def measure_sdk() -> float:
    from _a3s_lane import PyLane, PyLaneConfig

    lane = PyLane.with_lanes(lanes(PyLaneConfig))
    lane.start()
    try:
        return SDK_COMMANDS / hammer(lane.submit, SDK_COMMANDS)
    finally:
        lane.shutdown()
        lane.drain(timeout_secs=30.0)


@pytest.mark.skipif(not HAVE_SDK, reason="a3s-lane SDK not installed")
def test_sdk_blocking_submit_16_threads(benchmark: Any) -> None:
    RATES["sdk"] = rate = float(benchmark.pedantic(measure_sdk, rounds=1, iterations=1))
    benchmark.extra_info.update(commands=SDK_COMMANDS, threads=THREADS, commands_per_s=rate)


def test_compat_blocking_submit_16_threads(benchmark: Any, capsys: Any) -> None:
    lane = Lane.with_lanes(lanes(LaneConfig))
    lane.start()
    try:
        benchmark.pedantic(
            hammer, args=(lane.submit, COMPAT_COMMANDS), rounds=5, iterations=1, warmup_rounds=1
        )
    finally:
        lane.close()
    rate = COMPAT_COMMANDS / benchmark.stats.stats.median
    RATES["lanecore"] = rate
    info: dict[str, Any] = {
        "commands": COMPAT_COMMANDS,
        "threads": THREADS,
        "implementation": lane.implementation,
        "commands_per_s": rate,
    }
    if HAVE_SDK and "sdk" not in RATES:  # run on its own (-k): measure the SDK here
        RATES["sdk"] = measure_sdk()
    if "sdk" in RATES:
        info["sdk_commands_per_s"] = RATES["sdk"]
        info["ratio_vs_sdk"] = rate / RATES["sdk"]
    benchmark.extra_info.update(info)
    with capsys.disabled():
        line = f"\nlanecore.compat ({lane.implementation}): {rate:,.0f} commands/s"
        if "sdk" in RATES:
            sdk = RATES["sdk"]
            line += f"; a3s-lane SDK: {sdk:,.1f} commands/s; ratio {rate / sdk:,.0f}x"
        print(line)
