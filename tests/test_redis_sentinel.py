"""Redis Sentinel: the redis+sentinel:// URL and keyword forms (bad values named),
acknowledge="replicated" (persisted() only after a replica has the command; NotReplicated
when none confirms), a failover mid-run: three ``python -m lanecore worker`` processes and
a producer on a primary + replica + three sentinels, the primary SIGKILLed (later a worker
too); the run completes on the promoted replica, every acknowledged command ran, the lane
cap held; and a SENTINEL FAILOVER switchover followed by a producer and a worker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis_fixtures

from lanecore import LaneConfig, QueueManagerBuilder
from lanecore.redis.testing import RedisServer, RedisServerUnavailable
from lanecore.redis.testing_sentinel import SERVER_ARGS, SentinelSet, info

pytest.importorskip("redis", reason="the redis client package is not installed")

import redis.asyncio as aioredis
import redis.exceptions
import redis_apps

from lanecore.redis import CommandLost, DistributedManager, NotReplicated, RedisBackend
from lanecore.redis.keys import Keys

# ------------------------------------------------------------------ configuration


def test_sentinel_url_and_keyword_forms_name_the_same_setup() -> None:
    by_url = RedisBackend("redis+sentinel://127.0.0.1:26379,10.0.0.2/mymaster/2", "ns")
    assert by_url.sentinel is not None
    assert by_url.sentinel.sentinels == (("127.0.0.1", 26379), ("10.0.0.2", 26379))
    assert (by_url.sentinel.service, by_url.sentinel.db) == ("mymaster", 2)
    by_keywords = RedisBackend(
        sentinels=[("127.0.0.1", 26379), ("10.0.0.2", 26379)], service="mymaster"
    )
    assert by_keywords.url == "redis+sentinel://127.0.0.1:26379,10.0.0.2:26379/mymaster/0"
    assert RedisBackend(by_keywords.url).sentinel == by_keywords.sentinel
    secret = RedisBackend("redis+sentinel://:pw@h:1/svc?sentinel_password=spw").sentinel
    assert secret is not None
    assert (secret.password, secret.sentinel_password) == ("pw", "spw")
    assert RedisBackend("redis://127.0.0.1:6379/0").sentinel is None


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("redis+sentinel://h:0/svc", "'0'"),
        ("redis+sentinel://h:port/svc", "'port'"),
        ("redis+sentinel:///svc", "no sentinel address"),
        ("redis+sentinel://h", "must name the service"),
        ("redis+sentinel://h/svc/zero", "'zero'"),
        ("redis+sentinel://h/svc/0/extra", "must name the service"),
        ("redis+sentinel://h/bad%20name", "'bad name'"),
        ("redis+sentinel://h,/svc", "bad sentinel address ''"),
        ("redis+sentinel://h/svc?ssl=1", "'ssl'"),
    ],
)
def test_bad_sentinel_urls_are_refused_naming_the_bad_part(url: str, named: str) -> None:
    with pytest.raises(ValueError) as caught:
        RedisBackend(url)
    assert named in str(caught.value)


def test_a_password_in_a_bad_url_is_not_echoed() -> None:
    with pytest.raises(ValueError) as caught:
        RedisBackend("redis+sentinel://:hunter2@h:99999/svc")
    assert "hunter2" not in str(caught.value) and "'99999'" in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"sentinels": [], "service": "m"}, "[]"),
        ({"sentinels": "h:26379", "service": "m"}, "'h:26379'"),
        ({"sentinels": [("h", 0)], "service": "m"}, "('h', 0)"),
        ({"sentinels": [("h", True)], "service": "m"}, "('h', True)"),
        ({"sentinels": [("", 26379)], "service": "m"}, "('', 26379)"),
        ({"sentinels": [("h", 26379, 1)], "service": "m"}, "('h', 26379, 1)"),
        ({"sentinels": [("h", 26379)]}, "None"),
        ({"sentinels": [("h", 26379)], "service": "a/b"}, "'a/b'"),
        ({"service": "m"}, "None"),
        ({"url": "redis://h", "sentinels": [("h", 1)], "service": "m"}, "'redis://h'"),
        ({"url": "redis://h", "acknowledge": "all"}, "'all'"),
        ({"url": "redis://h", "acknowledge": "replicated", "replication_timeout": 0}, "0"),
    ],
)
def test_bad_backend_settings_are_refused_naming_the_value(
    kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError) as caught:
        RedisBackend(**kwargs)
    assert named in str(caught.value)


# ------------------------------------------------------------------ acknowledge="replicated"


def build(backend: RedisBackend) -> DistributedManager:
    return (
        QueueManagerBuilder().with_lane("work", LaneConfig(1, 8), 0).with_backend(backend).build()
    )


@pytest.fixture
def primary() -> Iterator[RedisServer]:
    yield from redis_fixtures.server(appendonly=False)


@pytest.fixture
def other_primary() -> Iterator[RedisServer]:
    yield from redis_fixtures.server(appendonly=False)


def replica_of(primary: RedisServer) -> RedisServer:
    """A started replica of ``primary``; skips the test when none can be started."""
    replica = RedisServer(
        appendonly=False, extra_args=[*SERVER_ARGS, "--replicaof", "127.0.0.1", str(primary.port)]
    )
    try:
        replica.start()
    except RedisServerUnavailable as exc:  # pragma: no cover - the primary just started
        pytest.skip(f"no redis-server could be started: {exc}")
    return replica


def test_replicated_without_a_replica_raises_not_replicated_and_still_runs(
    primary: RedisServer,
) -> None:
    ns = redis_fixtures.namespace()

    async def main() -> None:
        backend = RedisBackend(primary.url, ns, acknowledge="replicated", replication_timeout=0.2)
        manager = build(backend)

        async def double(payload: Any) -> Any:
            return payload * 2

        manager.register("double", double)
        async with manager:
            handle = manager.submit("work", "double", 21)
            with pytest.raises(NotReplicated, match=handle.command_id):
                await handle.persisted()
            assert await handle == 42  # stored on the primary: it ran all the same

    asyncio.run(asyncio.wait_for(main(), 30))


def test_replicated_persisted_means_the_replica_has_the_command(primary: RedisServer) -> None:
    replica = replica_of(primary)
    ns = redis_fixtures.namespace()

    async def main() -> None:
        manager = build(RedisBackend(primary.url, ns, acknowledge="replicated"))
        reader = aioredis.Redis.from_url(replica.url, decode_responses=True)
        try:
            while info(replica.port).get("master_link_status") != "up":
                await asyncio.sleep(0.02)
            await manager.start(worker=False)  # no worker: the commands stay pending
            for i in range(50):
                handle = manager.submit("work", "double", i)
                await handle.persisted()
                # read from the replica at once: WAIT said it has the submit's writes
                state = await reader.hget(Keys(ns).command(handle.command_id), "s")
                assert state == "p", handle.command_id
        finally:
            await manager.close()
            await reader.aclose()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        replica.close()


def test_a_command_lost_from_redis_fails_its_handle_after_a_reconnect(
    primary: RedisServer,
) -> None:
    ns = redis_fixtures.namespace()

    async def main() -> None:
        manager = build(RedisBackend(primary.url, ns))
        admin = aioredis.Redis.from_url(primary.url, decode_responses=True)
        try:
            await manager.start(worker=False)
            lost, kept = manager.submit("work", "x", 1), manager.submit("work", "x", 2)
            await asyncio.gather(lost.persisted(), kept.persisted())
            keys = Keys(ns)
            # what a failover does to a submit the replica never got: it is simply not there
            await admin.delete(keys.command(lost.command_id))
            await admin.lrem(keys.queue("work"), 0, lost.command_id)  # type: ignore[misc]
            await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            with pytest.raises(CommandLost, match=lost.command_id):
                await lost
            assert not kept.done()  # still in Redis: still waiting for a worker
        finally:
            await manager.close()
            await admin.aclose()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_replica_missing_the_command_is_not_taken_for_its_loss(
    primary: RedisServer, other_primary: RedisServer
) -> None:
    """Right after a failover a client may reach a replica that has not synced yet (or a
    sentinel that still names the old primary, restarted as a replica): such a server lacks
    commands that are safe on the primary. The re-read after a reconnect must not fail their
    handles with CommandLost; the replica refuses its write probe and the read is retried."""
    stale = replica_of(other_primary)  # a replica of a server that has none of its keys
    ns = redis_fixtures.namespace()

    async def main() -> None:
        manager = build(RedisBackend(primary.url, ns))
        reader = aioredis.Redis.from_url(stale.url, decode_responses=True)
        try:
            await manager.start(worker=False)
            handle = manager.submit("work", "x", 1)
            await handle.persisted()
            submitter = manager._submitter
            on_primary = submitter._client
            submitter._client = reader  # the re-read lands on the stale replica
            with pytest.raises(redis.exceptions.ReadOnlyError):
                await submitter._resync()
            assert not handle.done()
            submitter._client = on_primary
            await submitter._resync()  # on the primary: still there, still pending
            assert not handle.done()
        finally:
            await manager.close()
            await reader.aclose()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        stale.close()


# ------------------------------------------------------------------ failover

CAP = 3  # redis_apps.capped: the lane's max concurrency, cluster-wide
JOB_SECONDS = 0.05


@pytest.fixture
def sentinel_set() -> Iterator[SentinelSet]:
    try:
        cluster = SentinelSet()
        cluster.start()
    except RedisServerUnavailable as exc:
        pytest.skip(f"no redis-server could be started: {exc}")
    try:
        yield cluster
    finally:
        cluster.close()


def test_failover_mid_run_loses_no_replicated_command_and_keeps_the_cap(
    sentinel_set: SentinelSet, tmp_path: Path
) -> None:
    ns = redis_fixtures.namespace()
    workers = redis_fixtures.Workers(
        sentinel_set.url,
        ns,
        3,
        app="redis_apps:capped",
        concurrency=4,
        lease=2.0,
        env={"LANECORE_TEST_LOG": str(tmp_path)},
    )
    acked: set[int] = set()
    refused: set[int] = set()  # NotReplicated: stored on the primary, no replica confirmed
    results: dict[int, Any] = {}
    marks: dict[str, int] = {}
    killed: dict[int, float] = {}  # pid -> monotonic time of its SIGKILL

    async def main() -> None:
        backend = RedisBackend(  # the keyword form; the workers got the URL form
            sentinels=[("127.0.0.1", s.port) for s in sentinel_set.sentinels],
            service=sentinel_set.service,
            namespace=ns,
            lease=2.0,
            acknowledge="replicated",
            replication_timeout=1.0,
        )
        producer = redis_apps.capped().with_backend(backend).build()
        await producer.start()
        handles: dict[int, Any] = {}
        acks: list[asyncio.Task[None]] = []
        stop = asyncio.Event()

        async def acknowledge(i: int) -> None:
            try:
                await handles[i].persisted()
                acked.add(i)
            except NotReplicated:
                refused.add(i)

        async def produce() -> None:
            i = 0
            while not stop.is_set():
                handles[i] = producer.submit("capped", "logged", {"i": i, "sleep": JOB_SECONDS})
                acks.append(asyncio.ensure_future(acknowledge(i)))
                i += 1
                await asyncio.sleep(0.02)

        async def until(check: Any) -> None:
            while not check():
                await asyncio.sleep(0.02)

        feeding = asyncio.ensure_future(produce())
        await until(lambda: len(acked) >= 40 and len(results_so_far(handles)) >= 20)
        marks["killed"] = len(handles)
        old = await asyncio.to_thread(sentinel_set.kill_primary)  # mid-run, jobs in flight
        await asyncio.to_thread(sentinel_set.wait_promoted, old)
        await asyncio.to_thread(sentinel_set.rejoin, old)  # back, as the new one's replica
        marks["rejoined"] = len(handles)
        await until(lambda: len([i for i in acked if i >= marks["rejoined"]]) >= 10)
        victim = workers.procs[0]  # a worker dies too: its claimed commands run elsewhere
        victim.kill()
        await asyncio.to_thread(victim.wait)
        killed[victim.pid] = time.monotonic()  # its open runs ended by now
        await until(lambda: len([i for i in acked if i >= marks["rejoined"]]) >= 30)
        stop.set()
        await feeding
        await asyncio.gather(*acks)
        for i, handle in handles.items():  # the run completes on the promoted primary
            results[i] = await handle
        await producer.close()

    try:
        workers.wait_ready()
        asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        statuses = workers.close()
    assert statuses == [-signal.SIGKILL, 0, 0]
    assert results == {i: i for i in results}
    spans = redis_fixtures.job_spans(tmp_path, killed)
    ran = {job for job, _, _ in spans}
    assert acked <= ran  # every acknowledged command ran at least once
    assert set(results) <= ran
    assert any(i >= marks["rejoined"] for i in acked)
    assert any(i < marks["killed"] for i in acked)
    assert redis_fixtures.max_overlap(spans) <= CAP


def test_a_switchover_is_followed_by_producer_and_worker(sentinel_set: SentinelSet) -> None:
    """SENTINEL FAILOVER promotes the replica while the primary lives on: for the seconds
    until the sentinels demote it, connections to it still work but WAIT finds no replica
    (NotReplicated); at the demotion they are dropped and the client asks the sentinels
    again. Every command acknowledged as replicated returns its result; one refused with
    NotReplicated may be lost with the old primary's writes (CommandLost)."""
    ns = redis_fixtures.namespace()
    moved: dict[str, int] = {}
    acked: list[int] = []
    refused: list[int] = []

    async def main() -> None:
        backend = RedisBackend(
            sentinel_set.url, ns, lease=2.0, acknowledge="replicated", replication_timeout=1.0
        )
        manager = build(backend)

        async def double(payload: Any) -> Any:
            return payload * 2

        manager.register("double", double)
        handles: list[Any] = []
        acks: list[asyncio.Task[None]] = []
        stop = asyncio.Event()

        async def acknowledge(i: int) -> None:
            try:
                await handles[i].persisted()
                acked.append(i)
            except NotReplicated:
                refused.append(i)

        async def produce() -> None:
            while not stop.is_set():
                handles.append(manager.submit("work", "double", len(handles)))
                acks.append(asyncio.ensure_future(acknowledge(len(handles) - 1)))
                await asyncio.sleep(0.01)

        async with manager:
            feeding = asyncio.ensure_future(produce())
            while sum(h.done() for h in handles) < 20:
                await asyncio.sleep(0.02)
            moved["old"], moved["new"] = await asyncio.to_thread(sentinel_set.switch_over)
            moved["after"] = len(handles)
            while len([i for i in acked if i >= moved["after"]]) < 20:
                await asyncio.sleep(0.02)
            stop.set()
            await feeding
            await asyncio.gather(*acks)
            for i in acked:  # a replica had these: they ran, whichever server ran them
                assert await handles[i] == 2 * i
            for i in refused:
                with contextlib.suppress(CommandLost):
                    assert await handles[i] == 2 * i

    asyncio.run(asyncio.wait_for(main(), 60))
    assert moved["old"] != moved["new"] == sentinel_set.primary_port()
    assert any(i < moved["after"] for i in acked)


def results_so_far(handles: dict[int, Any]) -> list[int]:
    return [i for i, handle in handles.items() if handle.done()]


def test_job_log_overlap_counts_a_killed_process_until_the_kill(tmp_path: Path) -> None:
    (tmp_path / "10.log").write_text("start 1 1.0\nend 1 2.0\nstart 2 2.0\nend 2 3.0\n")
    (tmp_path / "11.log").write_text("start 3 1.5\nstart 4 1.6\nend 4 1.7\n")
    with pytest.raises(AssertionError, match="process 11"):
        redis_fixtures.job_spans(tmp_path)
    spans = redis_fixtures.job_spans(tmp_path, killed={11: 2.5})
    assert sorted(spans) == [(1, 1.0, 2.0), (2, 2.0, 3.0), (3, 1.5, 2.5), (4, 1.6, 1.7)]
    assert redis_fixtures.max_overlap(spans) == 3  # 1, 3 and 4 at 1.65


def test_the_worker_command_names_a_bad_sentinel_url() -> None:
    url = "redis+sentinel://h:0/m"
    done = subprocess.run(
        [sys.executable, "-m", "lanecore", "worker", "--redis", url, "--app", "redis_apps:app"],
        env=redis_fixtures.child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "bad sentinel port '0'" in done.stderr
