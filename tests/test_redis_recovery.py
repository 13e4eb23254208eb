"""Redis restarts mid-run (AOF on): workers and submitters reconnect, scripts are reloaded
after NOSCRIPT, and every acknowledged command completes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis_fixtures

from lanecore import LaneConfig, QueueManagerBuilder
from lanecore.redis.testing import RedisServer

pytest.importorskip("redis", reason="the redis client package is not installed")

from lanecore.redis import DistributedManager, RedisBackend


@pytest.fixture
def server() -> Iterator[RedisServer]:
    yield from redis_fixtures.server(appendonly=True)


def build(url: str, ns: str) -> DistributedManager:
    return (
        QueueManagerBuilder()
        .with_lane("work", LaneConfig(1, 16), 0)
        .with_backend(RedisBackend(url, ns, lease=2.0, concurrency=8))
        .build()
    )


def test_redis_restart_mid_run_loses_nothing_acknowledged(server: RedisServer) -> None:
    ns = redis_fixtures.namespace()

    async def main() -> None:
        worker, client = build(server.url, ns), build(server.url, ns)
        runs: dict[int, int] = {}

        async def job(payload: Any) -> Any:
            runs[payload] = runs.get(payload, 0) + 1
            await asyncio.sleep(0.01)
            return payload * 2

        worker.register("job", job)
        await worker.start()
        await client.start()
        before = [client.submit("work", "job", i) for i in range(300)]
        await asyncio.gather(*(h.persisted() for h in before))
        await asyncio.sleep(0.1)  # some done, some running, most pending
        assert 0 < len(runs) < 300
        await asyncio.to_thread(server.restart)  # SIGTERM: AOF flushed, scripts forgotten
        during = [client.submit("work", "job", i) for i in range(300, 400)]
        await asyncio.gather(*(h.persisted() for h in during))
        results = await asyncio.gather(*before, *during)
        assert results == [i * 2 for i in range(400)]
        assert sorted(runs) == list(range(400))
        stats = await client.stats()
        assert stats.total_pending == 0 and stats.total_active == 0
        await client.close()
        await worker.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_dropped_connections_are_survived(server: RedisServer) -> None:
    ns = redis_fixtures.namespace()

    async def main() -> None:
        worker, client = build(server.url, ns), build(server.url, ns)

        async def job(payload: Any) -> Any:
            await asyncio.sleep(0.005)
            return payload

        worker.register("job", job)
        async with worker, client:
            first = [client.submit("work", "job", i) for i in range(100)]
            await asyncio.sleep(0.05)
            admin = server.url
            import redis.asyncio as aioredis

            r = aioredis.Redis.from_url(admin)
            await r.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            await r.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            await r.aclose()
            second = [client.submit("work", "job", i) for i in range(100, 200)]
            assert await asyncio.gather(*first, *second) == list(range(200))

    asyncio.run(asyncio.wait_for(main(), 30))
