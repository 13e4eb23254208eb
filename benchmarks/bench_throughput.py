"""W10 and W1: 100,000 no-op commands submitted at once over 10 lanes (priorities 0-9, max 10
each) or into one lane (max 10), every result awaited; lanecore vs its peers. The pool's test
also measures lanecore ÷ pool in back-to-back pairs (``extra_info["paired_reference_ratio"]``),
which the report's figure uses."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import config, workloads
from benchmarks.harness import label, measure, paired_ratio, record_throughput, skip_if_missing

SYSTEMS = [
    *config.LANECORE_SYSTEMS,
    *(f"{system}-submit" for system in config.LANECORE_SYSTEMS),
    "pool",
    "aiojobs",
    "a3s-lane",
]
LAYOUTS = workloads.LAYOUTS  # W10: 10 lanes (priorities 0-9, max 10 each); W1: one lane


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
@pytest.mark.parametrize("workload", list(LAYOUTS))
def test_throughput(benchmark: Any, workload: str, loop: str, system: str) -> None:
    """Commands per second from the first submit to the last result."""
    skip_if_missing(system)
    lanes = LAYOUTS[workload]
    commands = config.A3S_COMMANDS if system == "a3s-lane" else config.W_COMMANDS
    results = measure(
        benchmark,
        lambda: workloads.throughput(system, loop, lanes, commands, a3s_threads=config.A3S_THREADS),
        rounds=config.throughput_rounds(system),
        group=f"{workload} · {loop}",
    )
    label(benchmark, table=workload, loop=loop, row=system, ref=config.REFERENCE_SYSTEM)
    record_throughput(benchmark, results)
    if system == "pool":  # the report's "lanecore ÷ pool" figure: back-to-back pairs
        reference = config.REFERENCE_SYSTEM
        benchmark.extra_info["paired_reference_ratio"] = paired_ratio(
            lambda: workloads.throughput(reference, loop, lanes, commands),
            lambda: workloads.throughput(system, loop, lanes, commands),
            config.PAIRS,
        )
