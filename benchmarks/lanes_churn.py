"""Many lanes in the lane table alone (no event loop), compiled vs twin, side by side:

* 10,000 lanes added, then all removed (without and with a global limit, with rate limits);
* push+pop throughput with 10 live lanes vs 10,000 (dispatch must not walk lanes);
* a token wake-up (next_token_delay + wake_throttled) with 10,000 rate-limited lanes of
  which 10 are throttled vs 10 lanes of which 10 are throttled;
* the memory of an idle lane (tracemalloc; the compiled record's sizeof too).

    python -m benchmarks.lanes_churn

A timing script, not a test: nothing here asserts a time. Quote the ratios, not the seconds.
"""

from __future__ import annotations

import gc
import importlib
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from lanecore import _impl

LANES = 10_000


def _best(fn: Callable[[], Any], rounds: int = 5) -> float:
    """The fastest of ``rounds`` runs, in seconds (a busy machine only makes runs slower)."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def churn(core: Any, limit: int, rated: bool) -> None:
    """Add LANES lanes, then remove them all (most recent first, then the rest)."""
    table = core.LaneTable(limit, clock=time.monotonic)
    extra = (5.0, 10.0) if rated else ()
    lanes = [table.add_lane(i % 8, 1, 4, *extra) for i in range(LANES)]
    for lane in lanes:
        table.remove_lane(lane)


def push_pop(core: Any, lanes: int, items: int = 200_000) -> Callable[[], None]:
    """A run of ``items`` push+pop pairs over the first 10 of ``lanes`` live lanes (the
    lanes are added first, untimed)."""
    table = core.LaneTable()
    for i in range(lanes):
        table.add_lane(i % 8, 0, items)

    def run() -> None:
        push, pop = table.push, table.pop_ready
        for i in range(items):
            push(i % 10, i)
            if i % 2:
                pop()
                pop()

    return run


def wakes(core: Any, lanes: int, throttled: int = 10, rounds: int = 5000) -> Callable[[], None]:
    """A run of ``rounds`` token wake-ups with ``throttled`` of ``lanes`` rate-limited lanes
    waiting (set up first, untimed)."""
    table = core.LaneTable(clock=lambda: 0.0)
    for _ in range(lanes):
        table.add_lane(0, 0, 4, 1, 1.0)
    for lane in range(throttled):
        table.push(lane, "a")
        table.push(lane, "b")
    while table.pop_ready() is not None:
        pass
    assert table.throttled_count == throttled

    def run() -> None:
        for _ in range(rounds):
            table.next_token_delay()
            table.wake_throttled()  # nothing is due: they stay throttled

    return run


def lane_bytes(core: Any) -> float:
    """Bytes per idle lane (pure lanes, no buckets), tracemalloc over LANES lanes."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    table = core.LaneTable()
    for i in range(LANES):
        table.add_lane(i % 8, 1, 4)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del table
    return (after - before) / LANES


def main() -> None:
    for name in sorted(_impl.CORES):
        core = _impl.get_core(name)
        print(f"== {name} core")
        base = _best(lambda core=core: churn(core, 0, False))
        for limit, rated in ((0, True), (LANES // 2, False), (LANES // 2, True)):
            t = _best(lambda core=core, limit=limit, rated=rated: churn(core, limit, rated))
            print(
                f"  {LANES} lanes added+removed, limit={limit} rated={rated}: {t * 1e3:.1f} ms"
                f" ({t / base:.2f}x the plain case, {base * 1e3:.1f} ms)"
            )
        few = _best(push_pop(core, 10))
        many = _best(push_pop(core, LANES))
        print(f"  push+pop, {LANES} live lanes vs 10: {many / few:.2f}x the time")
        few = _best(wakes(core, 10))
        many = _best(wakes(core, LANES))
        print(f"  token wake-up, 10 throttled of {LANES} lanes vs of 10: {many / few:.2f}x")
        module = importlib.import_module(core.LaneTable.__module__)
        size = getattr(module, "_LANE_RECORD_SIZE", None)
        record = f", sizeof(lane_t) = {size}" if size else ""
        print(f"  idle lane: {lane_bytes(core):.0f} bytes (tracemalloc){record}")


if __name__ == "__main__":
    main()
