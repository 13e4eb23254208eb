"""Namespaces on a 3-node Redis Cluster (``cluster=True``): two namespaces whose slots are on
different nodes run at the same time, each with its worker process, every command completes
and each namespace's keys sit on its own node; clients follow the slot when it moves; a
least-privilege user works there with ``acl_rules(ns, cluster=True)``; a plain server given
``cluster=True`` is refused with the reason."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis_fixtures

from lanecore.redis.testing import RedisServer, RedisServerUnavailable, find_redis_server
from lanecore.redis.testing_cluster import RedisClusterServers, find_redis_cli

pytest.importorskip("redis", reason="the redis client package is not installed")

import redis.asyncio as aioredis
import redis_apps
from redis.crc import key_slot

from lanecore.redis import DistributedManager, RedisBackend, acl_rules
from lanecore.redis.cluster import NotACluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServers]:
    try:
        servers = RedisClusterServers(3)
        servers.start()
    except RedisServerUnavailable as exc:
        pytest.skip(f"no Redis Cluster could be started: {exc}")
    try:
        yield servers
    finally:
        servers.close()


def run(coro: Any, timeout: float = 90) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def slot(ns: str) -> int:
    return key_slot(ns.encode())


def namespaces_on_different_nodes(cluster: RedisClusterServers, count: int) -> list[str]:
    """``count`` fresh namespaces, each served by a different master."""
    nodes = cluster.nodes()
    chosen: dict[int, str] = {}
    while len(chosen) < count:
        ns = redis_fixtures.namespace()
        port = next(node.port for node in nodes if node.serves(slot(ns)))
        chosen.setdefault(port, ns)
    return list(chosen.values())


def manager(url: str, ns: str, **backend: Any) -> DistributedManager:
    builder, _ = redis_apps.plain()
    backend.setdefault("cluster", True)
    return builder.with_backend(RedisBackend(url, ns, lease=1.0, grace=0.2, **backend)).build()


async def keys_in_slot(port: int, ns: str) -> int:
    node = aioredis.Redis(host="127.0.0.1", port=port)
    try:
        return int(await node.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot(ns)))
    finally:
        await node.aclose()


def test_two_namespaces_on_different_nodes_at_the_same_time(cluster: RedisClusterServers) -> None:
    first, second = namespaces_on_different_nodes(cluster, 2)
    owners = [cluster.owner(slot(ns)).port for ns in (first, second)]
    assert owners[0] != owners[1]
    # the URL names the third node, which serves neither namespace
    seed = next(server.url for server in cluster.servers if server.port not in owners)
    workers = [
        redis_fixtures.Workers(seed, ns, 1, app="redis_apps:plain", extra=["--cluster"])
        for ns in (first, second)
    ]
    try:
        for group in workers:
            group.wait_ready()

        async def produce(ns: str, sign: int) -> None:
            client = manager(seed, ns)
            async with client:
                handles = [client.submit("high", "echo", sign * i) for i in range(60)]
                handles += [client.submit("low", "echo", sign * 1000 + i) for i in range(60)]
                expected = [sign * i for i in range(60)] + [sign * 1000 + i for i in range(60)]
                assert await asyncio.gather(*handles) == expected
                counters = await client.metrics()
                assert counters["high"]["lane.commands.completed"] == 60
                assert counters["low"]["lane.commands.completed"] == 60
                assert (await client.stats()).total_pending == 0

        async def both() -> None:
            await asyncio.gather(produce(first, 1), produce(second, -1))
            for ns, port in zip((first, second), owners, strict=True):
                assert await keys_in_slot(port, ns) > 0  # the namespace lives on its node

        run(both())
    finally:
        for group in workers:
            assert group.close() == [0]


def test_clients_follow_the_namespace_when_its_slot_moves(cluster: RedisClusterServers) -> None:
    ns = redis_fixtures.namespace()
    source = cluster.owner(slot(ns)).port
    target = next(port for port in cluster.ports if port != source)

    async def main() -> None:
        worker = manager(cluster.url, ns)
        worker.register("echo", redis_apps.echo)
        client = manager(cluster.url, ns)
        async with worker, client:
            assert await asyncio.gather(*(client.submit("high", "echo", i) for i in range(20)))
            # quiet namespace (idle worker blocked on its wake-up list): move the slot
            await asyncio.to_thread(cluster.move_slot, slot(ns), target)
            assert cluster.owner(slot(ns)).port == target
            handles = [client.submit("low", "echo", i) for i in range(40)]
            assert await asyncio.gather(*handles) == list(range(40))
            assert (await client.metrics())["low"]["lane.commands.completed"] == 40
        assert await keys_in_slot(target, ns) > 0

    run(main())


def test_least_privilege_user_on_the_cluster(cluster: RedisClusterServers) -> None:
    ns = redis_fixtures.namespace()
    user, password = f"u-{ns}", "pw-cluster"

    async def main() -> None:
        for port in cluster.ports:  # ACL users are per node
            admin = aioredis.Redis(host="127.0.0.1", port=port)
            rules = acl_rules(ns, cluster=True).split()
            await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", *rules)
            await admin.execute_command("ACL", "LOG", "RESET")
            await admin.aclose()
        url = f"redis://{user}:{password}@127.0.0.1:{cluster.ports[0]}/0"
        worker = manager(url, ns)
        worker.register("echo", redis_apps.echo)
        async with worker:
            assert await asyncio.gather(*(worker.submit("high", "echo", i) for i in range(30)))
            assert (await worker.stats()).total_pending == 0
        for port in cluster.ports:
            admin = aioredis.Redis(host="127.0.0.1", port=port, decode_responses=True)
            log: list[dict[str, Any]] = await admin.acl_log()  # type: ignore[assignment]
            await admin.aclose()
            assert [entry for entry in log if entry.get("username") == user] == []

    run(main())


@pytest.fixture
def plain() -> Iterator[RedisServer]:
    yield from redis_fixtures.server(appendonly=False)


def test_cluster_true_on_a_plain_server_says_so(plain: RedisServer) -> None:
    async def main() -> None:
        client = manager(plain.url, redis_fixtures.namespace())
        with pytest.raises(NotACluster, match="is not a Redis Cluster node"):
            await client.start()
        await client.close()

    run(main())


def test_cluster_needs_database_zero_and_a_tcp_url() -> None:
    with pytest.raises(ValueError, match="only database 0") as info:
        RedisBackend("redis://me:secret@127.0.0.1:7000/3", "ns", cluster=True)
    assert "secret" not in str(info.value) and "me:***@" in str(info.value)
    with pytest.raises(ValueError, match="needs a redis:// or rediss:// URL"):
        RedisBackend("unix:///tmp/redis.sock", "ns", cluster=True)
    with pytest.raises(ValueError, match="do not go with Sentinel"):
        RedisBackend("redis+sentinel://127.0.0.1:26379/mymaster/0", "ns", cluster=True)
    with pytest.raises(ValueError, match="cluster must be a bool"):
        RedisBackend("redis://127.0.0.1:7000/0", "ns", cluster="yes")  # type: ignore[arg-type]


def test_scaling_benchmark_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/redis_cluster_scaling.py at a tiny size: every layout completes its jobs."""
    if find_redis_server() is None or find_redis_cli() is None:
        pytest.skip("no redis-server or redis-cli on PATH")
    if str(redis_fixtures.ROOT) not in sys.path:  # benchmarks/ is not installed
        sys.path.append(str(redis_fixtures.ROOT))
    from benchmarks import redis_cluster_scaling

    assert redis_cluster_scaling.main(["--jobs", "300", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for layout in redis_cluster_scaling.LAYOUTS:
        assert layout in out
