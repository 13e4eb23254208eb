"""A least-privilege Redis user (``acl_rules(namespace)``): a worker process and a producer
running as that user use every part of the backend (submit, results, retries, dead letters,
events, stats, cancel, pause) with no command or key refused, and a second namespace's keys
and channels are out of its reach."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis_fixtures

from lanecore.redis.testing import RedisServer

pytest.importorskip("redis", reason="the redis client package is not installed")

import redis.asyncio as aioredis
import redis_apps
from redis.exceptions import NoPermissionError

from lanecore.redis import (
    DistributedManager,
    NamespaceForbidden,
    RedisBackend,
    RemoteCommandError,
    acl_rules,
)
from lanecore.redis.acl import acl_commands, script_commands

PASSWORD = "s3cret-pw"


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    yield from redis_fixtures.server(appendonly=False)


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def user_url(server: RedisServer, user: str) -> str:
    return f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"


def manager(url: str, ns: str) -> DistributedManager:
    builder, _ = redis_apps.plain()
    return builder.with_backend(RedisBackend(url, ns, lease=1.0, grace=0.2)).build()


async def make_user(server: RedisServer, user: str, ns: str) -> None:
    admin = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        rules = acl_rules(ns).split()
        await admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{PASSWORD}", *rules)
        await admin.execute_command("ACL", "LOG", "RESET")
    finally:
        await admin.aclose()


async def refusals(server: RedisServer, user: str) -> list[dict[str, Any]]:
    """What the ACL refused ``user`` since the log was reset."""
    admin = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        entries: list[dict[str, Any]] = await admin.acl_log()  # type: ignore[assignment]
    finally:
        await admin.aclose()
    return [entry for entry in entries if entry.get("username") == user]


def test_rules_name_the_namespace_and_only_what_lanecore_sends() -> None:
    rules = acl_rules("ns1")
    assert rules.startswith("resetkeys ~{ns1}:* resetchannels &{ns1}:r:* -@all +")
    allowed = re.findall(r"\+(\S+)", rules)
    assert allowed == acl_commands()
    assert {"evalsha", "eval", "blpop", "xread", "subscribe"} <= set(allowed)
    assert set(script_commands()) <= set(allowed)
    assert {"publish", "time", "zadd"} <= set(script_commands())
    assert not {"keys", "scan", "flushall", "flushdb", "config", "acl", "script"} & set(allowed)
    assert "+cluster|slots" in acl_rules("ns1", cluster=True)
    assert "+wait" in acl_rules("ns1", replicated=True)
    assert "cluster" not in rules and "+wait" not in rules
    # glob characters in the name match only themselves
    assert acl_rules("a*b?[c]").startswith(r"resetkeys ~{a\*b\?\[c\]}:* ")
    with pytest.raises(ValueError, match="braces"):
        acl_rules("bad{ns}")


def test_worker_and_producer_as_the_namespace_user(server: RedisServer) -> None:
    ns = redis_fixtures.namespace()
    user = f"u-{ns}"
    run(make_user(server, user, ns))
    url = user_url(server, user)
    workers = redis_fixtures.Workers(url, ns, 1, app="redis_apps:plain", concurrency=4)
    try:
        workers.wait_ready()

        async def produce() -> None:
            client = manager(url, ns)
            async with client:
                stream = client.subscribe()
                await client.events_ready()
                handles = [client.submit("high", "echo", i) for i in range(40)]
                handles += [client.submit("low", "echo", -i) for i in range(40)]
                assert await asyncio.gather(*handles) == list(range(40)) + [-i for i in range(40)]
                with pytest.raises(RemoteCommandError, match="ValueError: boom 7"):
                    await client.submit("low", "boom", 7, command_id="b-1")
                letters = await client.dlq.list()
                assert [(d.command_id, d.attempts) for d in letters] == [("b-1", 2)]
                with pytest.raises(RemoteCommandError):
                    await (await client.dlq.retry("b-1"))
                assert await client.dlq.len() == 1
                assert await client.dlq.clear() == 1
                await client.pause_lane("high")
                parked = client.submit("high", "echo", "parked")
                await parked.persisted()
                assert await client.cancel(parked.command_id)
                await client.resume_lane("high")
                assert await client.submit("high", "echo", "after") == "after"
                stats = await client.stats()
                assert stats.total_pending == 0 and stats.dead_letter_count == 0
                counters = await client.metrics()
                assert counters["high"]["lane.commands.completed"] == 41
                assert (await client.cluster_info())["active"] == 0
                event = await stream.recv(timeout=5)
                assert event is not None and event.key == "queue.command.submitted"
                stream.close()

        run(produce())
    finally:
        assert workers.close() == [0]
    # every command the worker and the producer sent was allowed
    assert run(refusals(server, user)) == []


def test_second_namespace_is_out_of_reach(server: RedisServer) -> None:
    ns1, ns2 = redis_fixtures.namespace(), redis_fixtures.namespace()
    user = f"u-{ns1}"
    run(make_user(server, user, ns1))
    url = user_url(server, user)

    async def main() -> None:
        other = manager(server.url, ns2)  # the default user queues a command in ns2
        await other.start()
        await other.submit("high", "echo", 1).persisted()
        await other.close()
        intruder = manager(url, ns2)
        with pytest.raises(NamespaceForbidden, match=f"may not use namespace '{ns2}'"):
            await intruder.start()
        await intruder.close()
        raw = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            for call in (
                raw.hgetall(f"{{{ns2}}}:info"),
                raw.llen(f"{{{ns2}}}:q:high"),
                raw.set(f"{{{ns2}}}:evon", "1"),
                raw.publish(f"{{{ns2}}}:r:someone", "x"),
                raw.get("unrelated-key"),
            ):
                with pytest.raises(NoPermissionError):
                    await call
            pubsub = raw.pubsub()
            with pytest.raises(NoPermissionError):  # the refusal is the subscribe's reply
                await pubsub.subscribe(f"{{{ns2}}}:r:someone")
                await pubsub.get_message(timeout=5)
            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            with pytest.raises(NoPermissionError):
                await raw.execute_command("KEYS", "*")
            assert await raw.llen(f"{{{ns1}}}:q:high") == 0  # its own namespace: allowed
        finally:
            await raw.aclose()
        check = manager(server.url, ns2)
        await check.start()
        assert (await check.stats()).lanes["high"].pending == 1  # untouched
        await check.close()

    run(main())
    refused = run(refusals(server, user))
    assert refused and {entry["reason"] for entry in refused} <= {"key", "channel", "command"}


def test_worker_process_for_another_namespace_exits_with_the_reason(server: RedisServer) -> None:
    ns1, ns2 = redis_fixtures.namespace(), redis_fixtures.namespace()
    user = f"u-{ns1}"
    run(make_user(server, user, ns1))
    argv = [
        sys.executable, "-m", "lanecore", "worker", "--redis", user_url(server, user),
        "--namespace", ns2, "--app", "redis_apps:plain",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{redis_fixtures.TESTS}{os.pathsep}{redis_fixtures.ROOT}"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"may not use namespace '{ns2}'" in done.stderr
    assert "acl_rules" in done.stderr


def test_password_is_hidden_in_repr_and_errors() -> None:
    url = f"redis://someone:{PASSWORD}@127.0.0.1:1/0"
    backend = RedisBackend(url, redis_fixtures.namespace())
    assert PASSWORD not in repr(backend) and "someone:***@127.0.0.1:1" in repr(backend)
    with pytest.raises(ValueError, match=r"someone:\*\*\*@") as bad:
        RedisBackend(url.replace("redis://", "http://"), redis_fixtures.namespace())
    assert PASSWORD not in str(bad.value)
    argv = [
        sys.executable, "-m", "lanecore", "worker", "--redis", url,
        "--app", "redis_apps:plain",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{redis_fixtures.TESTS}{os.pathsep}{redis_fixtures.ROOT}"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "cannot reach Redis at redis://someone:***@127.0.0.1:1/0" in done.stderr
    assert PASSWORD not in done.stderr
