"""Three worker processes (``python -m lanecore worker``) on one Redis: dispatch follows
priority across them, a lane's max holds cluster-wide, a rate limit holds in total, and a
SIGKILLed worker's commands are run again by the others after their lease."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
import redis_fixtures

from lanecore.redis.testing import RedisServer

pytest.importorskip("redis", reason="the redis client package is not installed")

import redis.asyncio as aioredis
import redis_apps

from lanecore.redis import DistributedManager, RedisBackend


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    yield from redis_fixtures.server()


def submitter(url: str, ns: str) -> DistributedManager:
    return redis_apps.app().with_backend(RedisBackend(url, ns, lease=1.0)).build()


def run(coro: Any, timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_priority_order_across_three_workers(server: RedisServer) -> None:
    ns = redis_fixtures.namespace()

    async def enqueue() -> list[str]:
        client = submitter(server.url, ns)
        handles = [
            client.submit("low", "record", {"tag": f"low{i}", "sleep": 0.02}) for i in range(12)
        ]
        handles += [
            client.submit("high", "record", {"tag": f"high{i}", "sleep": 0.02}) for i in range(12)
        ]
        await asyncio.gather(*(h.persisted() for h in handles))
        await client.close()
        return [h.command_id for h in handles]

    run(enqueue())
    workers = redis_fixtures.Workers(server.url, ns, 3, concurrency=2)
    try:
        workers.wait_ready()

        async def check() -> list[str]:
            client = submitter(server.url, ns)
            r = aioredis.Redis.from_url(server.url, decode_responses=True)
            try:
                while await r.llen(f"test:{ns}:order") < 24:  # type: ignore[misc]
                    await asyncio.sleep(0.05)
                order: list[str] = await r.lrange(f"test:{ns}:order", 0, -1)  # type: ignore[misc]
                stats = await client.stats()
                assert stats.total_pending == 0
                return order
            finally:
                await r.aclose()
                await client.close()

        order = run(check())
    finally:
        assert workers.close() == [0, 0, 0]
    highs = [i for i, tag in enumerate(order) if tag.startswith("high")]
    # every high-priority command was claimed before any low one; a start may overtake
    # another only by the few commands claimed at the same moment by other workers
    assert max(highs) < 12 + 2, order


@pytest.fixture(scope="module")
def cluster(server: RedisServer) -> Iterator[tuple[str, redis_fixtures.Workers]]:
    ns = redis_fixtures.namespace()
    workers = redis_fixtures.Workers(server.url, ns, 3, concurrency=8)
    try:
        workers.wait_ready()
        yield ns, workers
    finally:
        workers.close()


def test_lane_max_holds_cluster_wide(
    server: RedisServer, cluster: tuple[str, redis_fixtures.Workers]
) -> None:
    ns, _ = cluster

    async def main() -> str:
        client = submitter(server.url, ns)
        r = aioredis.Redis.from_url(server.url, decode_responses=True)
        try:
            handles = [client.submit("two", "counted", {"sleep": 0.03}) for _ in range(30)]
            assert await asyncio.gather(*handles) == [1] * 30
            return str(await r.get(f"test:{ns}:max"))
        finally:
            await r.aclose()
            await client.close()

    assert run(main()) == "2"


def test_rate_limit_holds_in_total(
    server: RedisServer, cluster: tuple[str, redis_fixtures.Workers]
) -> None:
    ns, _ = cluster

    async def main() -> list[float]:
        client = submitter(server.url, ns)
        r = aioredis.Redis.from_url(server.url, decode_responses=True)
        try:
            handles = [client.submit("rated", "stamp", i) for i in range(300)]
            await asyncio.gather(*handles)
            stamps = await r.lrange(f"test:{ns}:stamps", 0, -1)  # type: ignore[misc]
            return sorted(float(s) for s in stamps)
        finally:
            await r.aclose()
            await client.close()

    stamps = run(main())
    assert len(stamps) == 300
    start = stamps[0]
    # the burst of 50 (full bucket), then 50/s: measure 4 s of steady state after the burst
    window = [s for s in stamps if start + 0.5 <= s < start + 4.5]
    rate = len(window) / 4.0
    assert 47.5 <= rate <= 52.5, rate
    assert len([s for s in stamps if s < start + 0.5]) <= 50 + 25 + 2


def test_sigkilled_worker_commands_rerun_and_zombie_ack_rejected(server: RedisServer) -> None:
    ns = redis_fixtures.namespace()
    workers = redis_fixtures.Workers(server.url, ns, 3, concurrency=2, lease=1.0)
    try:
        workers.wait_ready()

        async def main() -> None:
            client = submitter(server.url, ns)
            r = aioredis.Redis.from_url(server.url, decode_responses=True)
            keys = client.backend.keys
            try:
                handles = [
                    client.submit("work", "slow", {"i": i, "sleep": 1.5}, command_id=f"k{i}")
                    for i in range(6)
                ]
                await asyncio.gather(*(h.persisted() for h in handles))
                while await r.llen(f"test:{ns}:starts") < 6:  # type: ignore[misc]
                    await asyncio.sleep(0.02)
                starts = await r.lrange(f"test:{ns}:starts", 0, -1)  # type: ignore[misc]
                victim = int(starts[0].split(":")[1])
                lost = [f"k{s.split(':')[0]}" for s in starts if int(s.split(":")[1]) == victim]
                tokens = {c: await r.hget(keys.command(c), "k") for c in lost}  # type: ignore[misc]
                os.kill(victim, signal.SIGKILL)
                results = await asyncio.gather(*handles)
                for command_id, pid in zip((h.command_id for h in handles), results, strict=True):
                    assert (pid != victim) if command_id in lost else True
                done = await r.lrange(f"test:{ns}:done", 0, -1)  # type: ignore[misc]
                assert sorted({d.split(":")[0] for d in done}) == [str(i) for i in range(6)]
                assert all(int(d.split(":")[1]) != victim for d in done)
                # the dead worker's ack arrives late: refused by its stale fencing token
                command_id = lost[0]
                reply = await client.backend.scripts.step(
                    await client._connected(),
                    "zombie",
                    1000,
                    0,
                    60_000,
                    1,
                    command_id,
                    tokens[command_id],
                    "ok",
                    '"zombie"',
                    0,
                    "",
                    "0",
                )
                assert int(reply[2]) == 1
                assert await r.hget(keys.command(command_id), "res") != '"zombie"'  # type: ignore[misc]
                info = await client.cluster_info()
                assert info["zombie_acks"] == 1 and info["stalls"] == len(lost)
            finally:
                await r.aclose()
                await client.close()

        run(main())
    finally:
        statuses = workers.close()
    assert sorted(statuses) == [-signal.SIGKILL, 0, 0]


def test_worker_cli_errors_and_supervisor(server: RedisServer) -> None:
    import subprocess
    import sys

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(redis_fixtures.TESTS), str(redis_fixtures.ROOT), env.get("PYTHONPATH")])
    )
    env["LANECORE_TEST_REDIS"] = server.url
    env["LANECORE_TEST_NS"] = redis_fixtures.namespace()
    base = [sys.executable, "-m", "lanecore", "worker"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], env=env, capture_output=True, text=True, timeout=30, check=False
        )

    assert cli("--help").returncode == 0
    bad = cli("--redis", server.url, "--app", "no_such_module:app")
    assert bad.returncode == 2 and "cannot import module 'no_such_module'" in bad.stderr
    bad = cli("--redis", server.url, "--app", "redis_apps:nothing")
    assert bad.returncode == 2 and "has no 'nothing'" in bad.stderr
    assert cli("--redis", server.url, "--app", "redis_apps").returncode == 2
    assert cli("--redis", server.url, "--app", "redis_apps:app", "--processes", "0").returncode == 2
    down = cli("--redis", "redis://127.0.0.1:1/0", "--app", "redis_apps:app")
    assert down.returncode == 1 and "cannot reach Redis" in down.stderr
    # --processes 2: two children, SIGTERM to the parent stops both cleanly
    parent = subprocess.Popen(
        [
            *base,
            "--redis",
            server.url,
            "--namespace",
            env["LANECORE_TEST_NS"],
            "--app",
            "redis_apps:app",
            "--processes",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert parent.stdout is not None
    assert [parent.stdout.readline()[:5] for _ in range(2)] == [b"ready", b"ready"]
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=20) == 0
    parent.stdout.close()
