"""lanecore's benchmark suite (pytest-benchmark) and the workloads it measures.

Run it with ``python -m pytest benchmarks --benchmark-only`` (see benchmarks/README.md).
Nothing here is imported by lanecore itself. The W10/W1/PREEMPT workloads and the peers live
in ``lanecore.bench`` (installed, for ``lanecore bench``); the peers (aiojobs, aiolimiter,
a3s-lane) are imported lazily so the workload functions also run without them.
"""
