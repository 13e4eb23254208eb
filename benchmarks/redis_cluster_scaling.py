"""One namespace vs two on a 3-node Redis Cluster: how far splitting lanes across namespaces
(whose slots sit on different nodes) takes throughput past one Redis node.

    python -m benchmarks.redis_cluster_scaling [--jobs 20000] [--rounds 3] [--concurrency 50]

(a script, not a pytest-benchmark module; tests/test_redis_cluster.py runs it at a tiny size)

Starts a throwaway cluster (``RedisClusterServers``: 3 masters on 127.0.0.1, AOF off) and
picks namespaces A and B whose slots are on different masters. Each round runs, one after the
other, three layouts of no-op jobs (``benchmarks.redis_app``), every namespace with its own
``python -m lanecore worker --cluster`` processes and its own producer manager (one event loop
for all producers, ``submit_many`` batches of 500):

- ``1 ns x 1 worker``: A alone, one worker process;
- ``1 ns x 2 workers``: A alone, two worker processes (the same client processes as below);
- ``2 ns x 1 worker``: A and B at once, one worker process each.

A layout's throughput is all its jobs / the time from the first submit to the last result.
Per layout it prints the median over the rounds of jobs/s; for the busiest redis-server its
CPU per 1,000 jobs, the share of one core it used, and ``redis-bound/s``, the jobs/s at which
it would use a whole core (the ceiling Redis sets, when clients have cores to spare); and the
worker processes' CPU per 1,000 jobs. The ratios between layouts are of one run, side by
side; the machine's cores are shared by the cluster, the workers and the producer, so the
figures say where the time goes, not what a bigger machine would do.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from redis.crc import key_slot

from benchmarks import redis_app
from benchmarks.redis_peers import WorkerGroup, redis_cpu
from lanecore.redis import RedisBackend
from lanecore.redis.testing_cluster import RedisClusterServers

BATCH = 500
LAYOUTS = {
    "1 ns x 1 worker": (1, 1),
    "1 ns x 2 workers": (1, 2),
    "2 ns x 1 worker": (2, 1),
}


@dataclass
class Row:
    """One layout's round: jobs, seconds, busiest node's CPU seconds, workers' CPU seconds."""

    jobs: int
    seconds: float
    redis_busiest: float
    workers: float

    @property
    def per_s(self) -> float:
        return self.jobs / self.seconds


def namespaces(cluster: RedisClusterServers) -> list[str]:
    """Two namespaces served by different masters."""
    nodes, chosen = cluster.nodes(), {}
    for index in range(10_000):
        ns = f"bench{index}"
        owner = next(node.port for node in nodes if node.serves(key_slot(ns.encode())))
        chosen.setdefault(owner, ns)
        if len(chosen) == 2:
            return list(chosen.values())
    raise RuntimeError("no two namespaces on different nodes")


def worker_argv(url: str, ns: str, concurrency: int) -> list[str]:
    return [
        sys.executable, "-m", "lanecore", "worker", "--redis", url, "--namespace", ns,
        "--app", "benchmarks.redis_app:app", "--concurrency", str(concurrency), "--cluster",
    ]  # fmt: skip


async def produce(manager: Any, jobs: int) -> None:
    """Submit ``jobs`` no-op jobs in batches (each batch acknowledged before the next is
    built) and await every result."""
    handles: list[Any] = []
    for start in range(0, jobs, BATCH):
        part = manager.submit_many(
            redis_app.LANE, [("noop", i) for i in range(start, min(jobs, start + BATCH))]
        )
        handles += part
        await part[-1].persisted()
    await asyncio.gather(*handles)


async def one_round(
    cluster: RedisClusterServers, used: list[str], jobs: int, groups: list[WorkerGroup]
) -> Row:
    managers = [
        redis_app.lanes().with_backend(RedisBackend(cluster.url, ns, cluster=True)).build()
        for ns in used
    ]
    try:
        await asyncio.gather(*(manager.start(worker=False) for manager in managers))
        cpu0 = [redis_cpu(url) for url in cluster.urls]
        workers0 = sum(group.cpu_seconds() for group in groups)
        start = time.perf_counter()
        await asyncio.gather(*(produce(manager, jobs) for manager in managers))
        seconds = time.perf_counter() - start
        cpu = [redis_cpu(url) - before for url, before in zip(cluster.urls, cpu0, strict=True)]
        workers = sum(group.cpu_seconds() for group in groups) - workers0
    finally:
        for manager in managers:
            await manager.close()
    return Row(jobs * len(used), seconds, max(cpu), workers)


def run_layout(
    cluster: RedisClusterServers, pair: list[str], layout: tuple[int, int], jobs: int, conc: int
) -> Row:
    count, processes = layout
    used = pair[:count]
    groups = [WorkerGroup(worker_argv(cluster.url, ns, conc), processes) for ns in used]
    try:
        for group in groups:
            group.start()
        return asyncio.run(one_round(cluster, used, jobs, groups))
    finally:
        for group in groups:
            group.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per namespace a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50, help="per worker process")
    args = parser.parse_args(argv)
    with RedisClusterServers(3) as cluster:
        pair = namespaces(cluster)
        ports = [cluster.owner(key_slot(ns.encode())).port for ns in pair]
        print(f"namespaces {pair} on the masters at ports {ports}")
        run_layout(cluster, pair, (2, 1), min(2000, args.jobs), args.concurrency)  # warm-up
        rows: dict[str, list[Row]] = {name: [] for name in LAYOUTS}
        for _ in range(args.rounds):
            for name, layout in LAYOUTS.items():
                rows[name].append(run_layout(cluster, pair, layout, args.jobs, args.concurrency))
    print(
        f"\n{'layout':<18} {'jobs/s':>8} {'÷ 1ns1w':>8} {'redis ms/1k':>12} "
        f"{'redis core':>10} {'redis-bound/s':>14} {'workers ms/1k':>14}"
    )
    base = statistics.median(r.per_s for r in rows["1 ns x 1 worker"])
    for name, found in rows.items():
        per_s = statistics.median(r.per_s for r in found)
        redis_ms = statistics.median(1e6 * r.redis_busiest / r.jobs for r in found)
        share = statistics.median(r.redis_busiest / r.seconds for r in found)
        workers_ms = statistics.median(1e6 * r.workers / r.jobs for r in found)
        print(
            f"{name:<18} {per_s:>8.0f} {per_s / base:>8.2f} {redis_ms:>12.1f} "
            f"{share:>10.0%} {1e6 / redis_ms:>14.0f} {workers_ms:>14.1f}"
        )
    print(
        "\n(medians of the rounds; redis: the busiest node, its CPU per 1,000 jobs of the layout "
        "and its share of one core; redis-bound/s: the jobs/s at which that node would use a "
        "whole core; workers: all worker processes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
