"""The workloads behind ``lanecore bench`` and the pytest-benchmark suite in benchmarks/.

W10 / W1 throughput and PREEMPT latency, for lanecore and its peers (a hand-written
``asyncio.PriorityQueue`` pool, aiojobs, the a3s-lane SDK). It is installed with lanecore so
the CLI can run it, but ``import lanecore`` never imports it; the peers are imported lazily.
"""
