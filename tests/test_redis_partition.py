"""A network partition between hosts (issue 14, part 3): three workers, each in its own
network namespace linked to a bridge in the namespace that holds redis-server. One worker's
link is cut (packets dropped silently both ways) for three times the lease while it runs
commands, then restored.

Checked: its commands run again on the other workers; its late acks are refused by the
fencing token and counted (``cluster_info()['zombie_acks']``); the producer sees each command
completed once, with the result of the attempt Redis accepted; the lane cap holds.

What "the cap holds" means here (the lease contract of SPEC §10): Redis grants a lane at most
``max`` leases at once. An attempt holds its slot from its claim until its ack, or until its
lease expires and the reaper frees the slot. A cut-off worker cannot know when that happens
and keeps running its commands; from then on they are zombies: outside the cap, results
refused. So the test counts each accepted attempt from start to end, and each refused one
from its start until the start of its command's accepted attempt (which was claimed after the
reaper freed the refused attempt's slot; reaped commands go to the front of their lane, so
that slot is the next one taken). Those intervals never overlap more than the cap. The
physical overlap, zombies included, may exceed it and is not asserted.

Needs root for ``ip netns``: skips saying why elsewhere, fails instead with
LANECORE_REQUIRE_NETNS=1 (CI sets it)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis_fixtures

pytest.importorskip("redis", reason="the redis client package is not installed")

import partition_app

from lanecore.events import COMMAND_COMPLETED
from lanecore.redis import DistributedManager, RedisBackend
from lanecore.redis.netns import HubRedis, Topology, netem_unavailable, unavailable
from lanecore.redis.testing import RedisServerUnavailable

LEASE = 1.0
CUT = 3 * LEASE
COMMANDS = 6
SLEEP = 2.0  # each attempt: the cut-off worker still runs its commands when they are reaped


def require_netns() -> None:
    """Skip (fail with LANECORE_REQUIRE_NETNS=1) when this machine forbids ip netns."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("LANECORE_REQUIRE_NETNS") == "1":
            pytest.fail(f"LANECORE_REQUIRE_NETNS=1 but ip netns is not usable: {reason}")
        pytest.skip(f"ip netns is not permitted on this machine: {reason}")


@pytest.fixture(scope="module")
def hub() -> Iterator[tuple[Topology, HubRedis]]:
    require_netns()
    with Topology(3) as topology:
        try:
            redis = HubRedis(topology)
            redis.start()
        except RedisServerUnavailable as exc:
            pytest.skip(f"no redis-server could be started: {exc}")
        try:
            yield topology, redis
        finally:
            redis.close()


@dataclass
class Attempt:
    index: int
    attempt_id: str
    pid: int
    start: float
    end: float | None = None


def read_attempts(path: str) -> dict[str, Attempt]:
    attempts: dict[str, Attempt] = {}
    with open(path, encoding="ascii") as log:
        for line in log:
            kind, index, attempt_id, pid, stamp = line.split()
            if kind == "start":
                attempts[attempt_id] = Attempt(int(index), attempt_id, int(pid), float(stamp))
            else:
                attempts[attempt_id].end = float(stamp)
    return attempts


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (one ending as another starts: not both)."""
    edges = sorted(
        [(a, 1) for a, b in intervals if b > a] + [(b, -1) for a, b in intervals if b > a]
    )
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def producer(url: str, ns: str) -> DistributedManager:
    builder, _ = partition_app.app()
    return builder.with_backend(RedisBackend(url, ns, lease=LEASE)).build()


async def wait_for(what: str, check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_cut_worker_commands_rerun_elsewhere_late_acks_fenced_cap_holds(
    hub: tuple[Topology, HubRedis],
) -> None:
    topology, redis = hub
    ns = redis_fixtures.namespace()
    path = partition_app.attempts_path(ns)
    workers = redis_fixtures.Workers(
        redis.url,
        ns,
        3,
        app="partition_app:app",
        concurrency=4,
        lease=LEASE,
        prefixes=[topology.exec_prefix(i) for i in range(3)],
    )
    report: dict[str, Any] = {}

    async def scenario() -> None:
        client = producer(redis.unix_url, ns)
        try:
            await client.start()
            events = client.subscribe_filtered([COMMAND_COMPLETED])
            await client.events_ready()
            handles = [
                client.submit("capped", "attempt", {"i": i, "sleep": SLEEP}, command_id=f"p{i}")
                for i in range(COMMANDS)
            ]

            async def started() -> bool:
                return os.path.exists(path) and os.path.getsize(path) > 0

            await wait_for("the first attempt to start", started)
            victim_pid = next(iter(read_attempts(path).values())).pid
            victim = [proc.pid for proc in workers.procs].index(victim_pid)
            topology.cut(victim)
            report["cut_at"] = time.monotonic()
            await asyncio.sleep(CUT)
            report["restored_at"] = time.monotonic()
            topology.restore(victim)
            report["victim"] = victim_pid
            report["phase"] = "awaiting the results"
            results = await asyncio.wait_for(asyncio.gather(*handles), 30)
            report["results"] = results

            # the victim's late acks reach Redis once its connections resume
            async def settled() -> bool:
                attempts = read_attempts(path)
                if any(a.end is None for a in attempts.values()):
                    return False
                info = await client.cluster_info()
                return info["zombie_acks"] >= len(attempts) - COMMANDS

            report["phase"] = "awaiting the late acks"
            await wait_for("every attempt to end and its ack to be applied", settled)
            report["info"] = await client.cluster_info()
            report["metrics"] = await client.metrics()
            # a barrier: events are ordered, so every completion before it has been read
            # once the barrier command's own completion arrives
            barrier = client.submit("capped", "attempt", {"i": COMMANDS, "sleep": 0.0})
            report["phase"] = "reading completion events"
            completed: list[str] = []
            while barrier.command_id not in completed:
                event = await events.recv(timeout=20)
                assert event is not None, "no completion event within 20 s"
                completed.append(event.payload["command_id"])
            report["barrier"] = await barrier
            report["completed_events"] = completed[:-1]
        finally:
            await client.close()

    try:
        workers.wait_ready()
        try:
            asyncio.run(asyncio.wait_for(scenario(), 50))
        except TimeoutError:
            with open(path, encoding="ascii") as log:
                raise AssertionError(
                    f"stuck {report.get('phase')}; {report}; attempts:\n{log.read()}"
                ) from None
    finally:
        statuses = workers.close()
        try:
            attempts = read_attempts(path)
        finally:
            if os.path.exists(path):
                os.unlink(path)
    assert statuses == [0, 0, 0]  # the cut-off worker recovered and stopped cleanly too

    victim, cut_at, restored_at = report["victim"], report["cut_at"], report["restored_at"]
    results: list[dict[str, Any]] = report["results"]
    # the producer: each command's result is correct and comes from one of its attempts
    accepted = {}
    for i, result in enumerate(results):
        assert result["i"] == i and result["square"] == i * i, result
        run = attempts[result["attempt"]]
        assert run.index == i and run.pid == result["pid"]
        accepted[result["attempt"]] = run
    barrier = report["barrier"]
    accepted[barrier["attempt"]] = attempts[barrier["attempt"]]
    # ... and each command completed once: one completion event and one count each
    assert sorted(report["completed_events"]) == sorted(f"p{i}" for i in range(COMMANDS))
    assert report["metrics"]["capped"]["lane.commands.completed"] == COMMANDS  # before the barrier

    # the cut-off worker was running commands at the cut; each ran again on another worker
    # (during the cut: nothing else could have claimed it) and that attempt's result won
    caught = [a for a in attempts.values() if a.pid == victim and a.start < cut_at]
    assert caught, attempts
    for lost in caught:
        winner = next(a for a in accepted.values() if a.index == lost.index)
        assert winner.pid != victim and cut_at < winner.start < restored_at, (lost, winner)
    # every attempt that is not the accepted one was acked late and refused, and counted
    assert all(a.end is not None for a in attempts.values())
    refused = [a for a in attempts.values() if a.attempt_id not in accepted]
    assert set(map(id, caught)) <= set(map(id, refused))
    assert report["info"]["zombie_acks"] == len(refused)
    assert report["info"]["stalls"] >= len(caught)

    # the cap: accepted attempts [start, end]; refused ones until their command's winner began
    winner_start = {a.index: a.start for a in accepted.values()}
    held = [(a.start, a.end) for a in accepted.values() if a.end is not None]
    held += [(a.start, min(a.end or a.start, winner_start[a.index])) for a in refused]
    assert max_overlap(held) <= partition_app.CAP, held
    physical = max_overlap([(a.start, a.end or a.start) for a in attempts.values()])
    print(f"max overlap: leases {max_overlap(held)}, physical incl. zombies {physical}")


def test_partition_delay_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    """benchmarks/partition_delay.py end to end (figures checked for shape, never timings)."""
    require_netns()
    if str(redis_fixtures.ROOT) not in sys.path:
        sys.path.append(str(redis_fixtures.ROOT))
    from benchmarks import partition_delay

    out = tmp_path / "figures.json"
    argv = ["--rounds", "1", "--jobs", "40", "--paced-jobs", "10", "--rate", "100"]
    argv += ["--delay-ms", "5", "--modes", "direct,netem,relay+D", "--json", str(out)]
    assert partition_delay.main(argv) == 0
    results = json.loads(out.read_text())["results"]
    netem = netem_unavailable()
    assert list(results) == ["direct", "netem", "relay+D"]
    for mode, figures in results.items():
        if mode == "netem" and netem is not None:
            assert figures.startswith("skipped: ") and "netem" in figures
            continue
        assert figures["jobs_per_s"] > 0
        assert 0 < figures["paced_p50_ms"] <= figures["paced_p99_ms"]
        assert 0 < figures["burst_p50_ms"] <= figures["burst_p99_ms"]
