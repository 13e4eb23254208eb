"""Where lanecore's Redis backend spends its time, and the most claims/s one Redis node gives it.

    python -m benchmarks.redis_ceiling [--processes 2,4,8] [--concurrency 50] [--batch 1000]
        [--jobs 20000] [--rounds 3] [--mode burst|drain] [--slowlog]

(a script, not a pytest-benchmark module; tests/test_redis_ceiling.py runs it at a tiny size)

Per worker count: a fresh ``redis-server`` (AOF off, as bench_redis.py), that many
``python -m lanecore worker`` processes at ``--concurrency`` each (``benchmarks.redis_app``,
uvloop), one producer (this process, uvloop), a warm-up burst, then ``--rounds`` rounds of
``--jobs`` no-op jobs:

- ``burst``: bench_redis.py's workload: ``submit_many`` per ``--batch``, ``persisted()``
  awaited per batch, then every result awaited; jobs/s = jobs / (first submit -> last result).
- ``drain``: the lane is paused, every job submitted and persisted, then the lane resumed;
  claims/s = jobs / (resume -> last result). Submitting is outside the timed window, so this
  is what the claim path (step.lua, the workers, results back to the producer) sustains.

Per round it records CPU seconds of the producer (``process_time``), of every worker
(``/proc``) and of redis-server (``INFO cpu``), and Redis's ``INFO commandstats``: calls and
microseconds of each command, including those the scripts run. With ``--slowlog`` every
command is also logged (``slowlog-log-slower-than 0``), so the time Redis spent in each script
(submit.lua, step.lua, ...) is split by its SHA; logging costs Redis a little, so the
throughput columns of such a run read slightly low.

It prints, per worker count, the median jobs/s and per job: CPU of each party in µs, Redis's
share of one core over the timed window, ``redis-bound/s`` (jobs per second of Redis CPU: the
rate at which Redis would use a whole core), the scripts' µs per job and per call, and the
inner commands per job. On this 2-core machine the parties' CPU per job, summed, bounds jobs/s
at 2 / sum; the biggest term is the one to cut.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from time import process_time
from typing import Any

import redis

from benchmarks import redis_app
from benchmarks.redis_peers import WorkerGroup, lanecore_worker_argv, redis_cpu
from lanecore.redis import RedisBackend
from lanecore.redis.scripts import NAMES, Script
from lanecore.redis.testing import RedisServer

NAMESPACE = "ceiling"


@dataclass
class Round:
    """One round: jobs, seconds, CPU seconds per party, Redis's command and script stats."""

    jobs: int
    seconds: float
    cpu: dict[str, float]
    commands: dict[str, tuple[int, int]]  # command -> (calls, usec), from INFO commandstats
    scripts: dict[str, tuple[int, int]] = field(default_factory=dict)  # script -> (calls, usec)

    @property
    def per_s(self) -> float:
        return self.jobs / self.seconds


def script_names() -> dict[str, str]:
    """SHA -> script name, for telling SLOWLOG entries apart."""
    return {Script(name, [], "").sha: name for name in NAMES}


def commandstats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """INFO commandstats as command -> (calls, usec)."""
    info: dict[str, Any] = client.info("commandstats")
    return {
        key.removeprefix("cmdstat_"): (int(value["calls"]), int(value["usec"]))
        for key, value in info.items()
    }


def slowlog_scripts(client: redis.Redis, names: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Calls and microseconds per script from the SLOWLOG (every command logged)."""
    out: dict[str, list[int]] = {}
    for entry in client.slowlog_get(-1):
        args = [a.decode() if isinstance(a, bytes) else str(a) for a in entry["command"].split()]
        if len(args) > 1 and args[0].upper() == "EVALSHA":
            name = names.get(args[1], args[1][:8])
        else:
            name = args[0].lower() if args else "?"
        calls_usec = out.setdefault(name, [0, 0])
        calls_usec[0] += 1
        calls_usec[1] += int(entry["duration"])
    return {name: (c, u) for name, (c, u) in out.items()}


class Bench:
    """A redis-server, ``processes`` workers and a producer manager made per round."""

    def __init__(self, processes: int, concurrency: int, batch: int, slowlog: bool) -> None:
        self.processes, self.concurrency, self.batch = processes, concurrency, batch
        self.slowlog = slowlog
        self.server = RedisServer(appendonly=False)
        self.group: WorkerGroup | None = None
        self.admin: redis.Redis | None = None
        self.names = script_names()

    def __enter__(self) -> Bench:
        self.server.start()
        self.admin = redis.Redis.from_url(self.server.url)
        if self.slowlog:
            self.admin.config_set("slowlog-max-len", 1_000_000)
        argv = lanecore_worker_argv(self.server.url, NAMESPACE, self.concurrency, "uvloop")
        self.group = WorkerGroup(argv, self.processes)
        self.group.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.group is not None:
            self.group.close()
        if self.admin is not None:
            self.admin.close()
        self.server.close()

    def run(self, mode: str, jobs: int) -> Round:
        """One round on a fresh uvloop loop and producer manager."""
        import uvloop

        group, admin = self.group, self.admin
        assert group is not None and admin is not None
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            manager = runner.run(self._open())
            try:
                if mode == "drain":
                    runner.run(self._fill(manager, jobs))
                admin.config_resetstat()
                admin.slowlog_reset()
                if self.slowlog:
                    admin.config_set("slowlog-log-slower-than", 0)
                workers0 = group.cpu_seconds()
                redis0 = redis_cpu(self.server.url)
                producer0 = process_time()
                seconds = runner.run(self._timed(manager, mode, jobs))
                cpu = {
                    "producer": process_time() - producer0,
                    "workers": group.cpu_seconds() - workers0,
                    "redis": redis_cpu(self.server.url) - redis0,
                }
                if self.slowlog:
                    admin.config_set("slowlog-log-slower-than", 10_000)
                commands = commandstats(admin)
                scripts = slowlog_scripts(admin, self.names) if self.slowlog else {}
            finally:
                runner.run(self._close(manager))
        return Round(jobs, seconds, cpu, commands, scripts)

    async def _open(self) -> Any:
        backend = RedisBackend(self.server.url, NAMESPACE)
        manager = redis_app.lanes().with_backend(backend).build()
        await manager.start(worker=False)
        return manager

    async def _close(self, manager: Any) -> None:
        manager.shutdown()
        await manager.drain(30.0)
        await manager.close()

    async def _fill(self, manager: Any, jobs: int) -> None:
        """drain mode: pause the lane, queue every job (persisted), keep the handles."""
        await manager.pause_lane(redis_app.LANE)
        self._handles = await self._submit(manager, jobs)

    async def _submit(self, manager: Any, jobs: int) -> list[Any]:
        handles: list[Any] = []
        for start in range(0, jobs, self.batch):
            n = min(self.batch, jobs - start)
            part = manager.submit_many(redis_app.LANE, [("noop", start + k) for k in range(n)])
            for handle in part:
                await handle.persisted()
            handles += part
        return handles

    async def _timed(self, manager: Any, mode: str, jobs: int) -> float:
        started = time.perf_counter()
        if mode == "drain":
            await manager.resume_lane(redis_app.LANE)
            handles = self._handles
        else:
            handles = await self._submit(manager, jobs)
        results = await asyncio.gather(*handles)
        seconds = time.perf_counter() - started
        assert len(results) == jobs and all(isinstance(r, int) for r in results)
        return seconds


def summarise(rounds: Sequence[Round]) -> dict[str, Any]:
    """Per-job figures over the rounds (sums), and the median jobs/s."""
    jobs = sum(r.jobs for r in rounds)
    seconds = sum(r.seconds for r in rounds)
    cpu = {k: sum(r.cpu[k] for r in rounds) for k in ("producer", "workers", "redis")}
    commands: dict[str, list[int]] = {}
    scripts: dict[str, list[int]] = {}
    for r in rounds:
        for source, target in ((r.commands, commands), (r.scripts, scripts)):
            for name, (calls, usec) in source.items():
                entry = target.setdefault(name, [0, 0])
                entry[0] += calls
                entry[1] += usec
    return {
        "jobs_per_s": statistics.median(r.per_s for r in rounds),
        "rates": [round(r.per_s) for r in rounds],
        "cpu_us_per_job": {k: v * 1e6 / jobs for k, v in cpu.items()},
        "redis_share": cpu["redis"] / seconds,
        "redis_bound_per_s": jobs / cpu["redis"] if cpu["redis"] else float("inf"),
        "cpu_bound_per_s": 2 * jobs / sum(cpu.values()) if sum(cpu.values()) else float("inf"),
        "scripts": {
            name: {
                "us_per_job": usec / jobs,
                "us_per_call": usec / calls,
                "calls_per_1k_jobs": calls * 1000 / jobs,
            }
            for name, (calls, usec) in sorted(scripts.items(), key=lambda kv: -kv[1][1])
        },
        "commands": {
            name: {"per_job": calls / jobs, "us_per_job": usec / jobs, "us_per_call": usec / calls}
            for name, (calls, usec) in sorted(commands.items(), key=lambda kv: -kv[1][1])
            if calls
        },
    }


def show(label: str, s: dict[str, Any]) -> None:
    cpu = s["cpu_us_per_job"]
    print(
        f"{label}: {s['jobs_per_s']:,.0f} jobs/s (rounds {s['rates']}); CPU µs/job "
        f"producer {cpu['producer']:.1f}, workers {cpu['workers']:.1f}, redis {cpu['redis']:.1f} "
        f"(sum {sum(cpu.values()):.1f}: 2 cores bound {s['cpu_bound_per_s']:,.0f}/s); redis "
        f"{s['redis_share']:.0%} of a core, redis-bound {s['redis_bound_per_s']:,.0f}/s"
    )
    for name, f in s["scripts"].items():
        print(
            f"    script {name:8} {f['us_per_job']:6.2f} µs/job  {f['us_per_call']:8.1f} µs/call"
            f"  {f['calls_per_1k_jobs']:7.1f} calls/1k jobs"
        )
    inner = [
        f"{name} {f['per_job']:.2f}x{f['us_per_call']:.2f}"
        for name, f in s["commands"].items()
        if name not in ("evalsha", "eval")
    ]
    evalsha = s["commands"].get("evalsha")
    if evalsha:
        print(
            f"    evalsha {evalsha['per_job']:.3f} calls/job, {evalsha['us_per_call']:.1f} µs/call "
            f"({evalsha['us_per_job']:.2f} µs/job, inner commands included)"
        )
    print("    inner commands per job x µs/call: " + ", ".join(inner[:16]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="2", help="worker counts, e.g. 2,4,8")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--mode", choices=("burst", "drain"), default="burst")
    parser.add_argument("--slowlog", action="store_true")
    parser.add_argument("--json", help="add the summaries to this JSON file")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    for processes in (int(p) for p in args.processes.split(",")):
        with Bench(processes, args.concurrency, args.batch, args.slowlog) as bench:
            if args.warmup:
                bench.run("burst", args.warmup)
            rounds = [bench.run(args.mode, args.jobs) for _ in range(args.rounds)]
        label = (
            f"{processes} workers x {args.concurrency}, {args.mode}, batch {args.batch}, "
            f"{args.jobs:,} jobs{', slowlog' if args.slowlog else ''}"
        )
        summary = summarise(rounds)
        show(label, summary)
        out[label] = summary
        sys.stdout.flush()
    if args.json:  # added to what the file holds (one label per configuration)
        try:
            with open(args.json, encoding="utf-8") as f:
                out = {**json.load(f), **out}
        except (OSError, ValueError):
            pass
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
