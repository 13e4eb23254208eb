"""Throughput and latency of the Redis backend when every worker's link to Redis is slow
(issue 14, part 3): worker processes in their own network namespaces, Redis in another
(lanecore.redis.netns), the producer beside Redis on its unix socket.

    python -m benchmarks.partition_delay [--delay-ms 20] [--jobs 10000] [--rounds 5] \
        [--json benchmarks/results/partition_delay.json]

Modes, run one after another in one invocation, each on a fresh topology, Redis and workers:

- ``direct``: plain veth links;
- ``netem``: ``tc qdisc replace dev eth0 root netem delay D`` on every worker link (what
  the worker sends waits D ms); skipped, saying why, where the kernel has no netem;
- ``relay+0`` and ``relay+D``: the workers reach Redis through benchmarks/delay_relay.py in the
  Redis namespace, which passes on what they send after 0 or D ms: a userspace stand-in for
  netem (chunks, not packets; TCP acks undelayed); compare relay+D with relay+0.

Per mode: ``--workers`` processes of ``python -m lanecore worker --app
benchmarks.redis_app:app --concurrency C`` (no-op jobs, one wide lane), a warm-up, then

- burst: ``--jobs`` jobs submitted at once; jobs/s (first submit to last result) and p50/p99
  of each job's submit -> result;
- paced: ``--paced-jobs`` jobs, one every 1/``--rate`` s; p50/p99 submit -> result.

Every mode runs ``--rounds`` times, the modes interleaved; the table shows medians. Needs
root (ip netns). Prints a table; ``--json PATH`` writes the figures too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

from benchmarks import redis_app
from lanecore.bench.results import percentile
from lanecore.redis.netns import HubRedis, NetemUnavailable, Topology, unavailable

ROOT = Path(__file__).resolve().parent.parent
RELAY_PORT = 6380
LOOP = "uvloop" if find_spec("uvloop") is not None else "asyncio"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _wait_ready(proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(b"ready"):
            return
        if not line and proc.poll() is not None:
            break
    raise RuntimeError(f"{what} did not start (exit status {proc.poll()})")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def cluster(mode: str, args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """A topology, Redis and ready workers for ``mode``; yields (unix URL, namespace)."""
    with Topology(args.workers) as topology, HubRedis(topology) as redis:
        url = redis.url
        procs: list[subprocess.Popen[bytes]] = []
        relay_started = False
        try:
            if mode == "netem":
                for worker in range(args.workers):
                    topology.delay(worker, args.delay_ms)
            elif mode.startswith("relay"):
                delay = 0.0 if mode == "relay+0" else args.delay_ms
                hub = topology.hub_address
                relay = topology.popen(
                    None,
                    [sys.executable, "-m", "benchmarks.delay_relay", "--listen",
                     f"{hub}:{RELAY_PORT}", "--to", f"{hub}:6379", "--delay-ms", str(delay)],
                    env=_env(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                )  # fmt: skip
                procs.append(relay)
                relay_started = True
                _wait_ready(relay, "the delay relay")
                url = f"redis://{hub}:{RELAY_PORT}/0"
            namespace = "b" + uuid.uuid4().hex[:10]
            argv = [
                sys.executable, "-m", "lanecore", "worker", "--redis", url,
                "--namespace", namespace, "--app", "benchmarks.redis_app:app",
                "--concurrency", str(args.concurrency), "--loop", LOOP,
            ]  # fmt: skip
            workers = [
                topology.popen(
                    i, argv, env=_env(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
                )
                for i in range(args.workers)
            ]
            procs[:0] = workers
            for proc in workers:
                _wait_ready(proc, f"worker {proc.pid}")
            yield redis.unix_url, namespace
        finally:
            _stop(procs[:-1] if relay_started else procs)  # the workers first, then the relay
            if relay_started:
                _stop(procs[-1:])


async def _measure(url: str, namespace: str, args: argparse.Namespace) -> dict[str, float]:
    from lanecore.redis import RedisBackend

    manager = redis_app.lanes().with_backend(RedisBackend(url, namespace)).build()
    await manager.start(worker=False)
    lane = redis_app.LANE
    try:
        await asyncio.gather(*manager.submit_many(lane, [("noop", i) for i in range(500)]))

        # burst
        finished: list[float] = []
        started = time.perf_counter()
        handles = manager.submit_many(lane, [("noop", i) for i in range(args.jobs)])
        for handle in handles:
            handle.add_done_callback(lambda _: finished.append(time.perf_counter()))
        await asyncio.gather(*handles)
        burst = [t - started for t in finished]

        # paced
        latencies: list[float] = []
        paced = []
        begin = time.perf_counter()
        for k in range(args.paced_jobs):
            wait = begin + k / args.rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            submitted = time.perf_counter()
            handle = manager.submit(lane, "noop", k)
            handle.add_done_callback(
                lambda _, t=submitted: latencies.append(time.perf_counter() - t)
            )
            paced.append(handle)
        await asyncio.gather(*paced)
    finally:
        await manager.close()
    return {
        "jobs_per_s": args.jobs / max(burst),
        "burst_p50_ms": percentile(burst, 50) * 1000,
        "burst_p99_ms": percentile(burst, 99) * 1000,
        "paced_p50_ms": percentile(latencies, 50) * 1000,
        "paced_p99_ms": percentile(latencies, 99) * 1000,
    }


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, float] | str:
    """The figures of one mode, or why it was skipped."""
    try:
        with cluster(mode, args) as (url, namespace):
            runner = asyncio.run
            if LOOP == "uvloop":
                import uvloop

                runner = uvloop.run
            return runner(_measure(url, namespace, args))
    except NetemUnavailable as exc:
        return f"skipped: {exc} (the kernel has no sch_netem)"


def _table(results: dict[str, dict[str, float] | str], delay_ms: float) -> str:
    """One row per mode; jobs/s also as a ratio to its reference (relay+D: relay+0, others:
    direct), both medians of the same invocation."""
    rows = [
        f"{'mode':<10} {'jobs/s':>8} {'ratio':>14} {'burst p50':>10} {'burst p99':>10} "
        f"{'paced p50':>10} {'paced p99':>10}"
    ]
    for mode, figures in results.items():
        name = mode.replace("+D", f"+{delay_ms:g}")
        if isinstance(figures, str):
            rows.append(f"{name:<10} {figures}")
            continue
        ref = "relay+0" if mode == "relay+D" and "relay+0" in results else "direct"
        base = results.get(ref)
        ratio = "-"
        if isinstance(base, dict) and mode != ref:
            ratio = f"{figures['jobs_per_s'] / base['jobs_per_s']:.2f} ÷ {ref}"
        rows.append(
            f"{name:<10} {figures['jobs_per_s']:>8.0f} {ratio:>14} "
            f"{figures['burst_p50_ms']:>8.1f}ms {figures['burst_p99_ms']:>8.1f}ms "
            f"{figures['paced_p50_ms']:>8.1f}ms {figures['paced_p99_ms']:>8.1f}ms"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--paced-jobs", type=int, default=600)
    parser.add_argument("--rate", type=float, default=200.0, help="paced jobs per second")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each mode (median)")
    parser.add_argument("--modes", default="direct,netem,relay+0,relay+D")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    for name in ("rounds", "delay_ms", "workers", "concurrency", "jobs", "paced_jobs", "rate"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    modes = args.modes.split(",")
    bad = sorted(set(modes) - {"direct", "netem", "relay+0", "relay+D"})
    if bad:
        parser.error(f"--modes: unknown mode(s) {bad}")
    reason = unavailable()
    if reason is not None:
        print(f"partition_delay: skipped: {reason}")
        return 0
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    results: dict[str, dict[str, float] | str] = {}
    for round_ in range(args.rounds):  # modes interleaved, so drift hits each alike
        for mode in modes:
            if isinstance(results.get(mode), str):
                continue
            figures = run_mode(mode, args)
            print(f"round {round_ + 1} {mode}: {figures}", file=sys.stderr, flush=True)
            if isinstance(figures, str):
                results[mode] = figures
            else:
                runs[mode].append(figures)
    for mode, got in runs.items():
        if got:
            results[mode] = {key: statistics.median(r[key] for r in got) for key in got[0]}
    results = {mode: results[mode] for mode in modes if mode in results}
    print(
        f"{args.workers} workers x {args.concurrency} slots, no-op jobs, loop {LOOP}; burst "
        f"{args.jobs} jobs, paced {args.paced_jobs} at {args.rate:g}/s; D = {args.delay_ms:g} ms; "
        f"median of {args.rounds} rounds"
    )
    print(_table(results, args.delay_ms))
    if args.json:
        document = {"args": vars(args), "results": results, "runs": runs}
        Path(args.json).write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
