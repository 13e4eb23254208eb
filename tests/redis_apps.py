"""Worker apps for the Redis tests: ``python -m lanecore worker --app redis_apps:app``.
Handlers record what they do in Redis (keys ``test:<namespace>:*``, from the environment
variables LANECORE_TEST_REDIS and LANECORE_TEST_NS) so the tests can check it."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import redis.asyncio as aioredis

from lanecore import LaneConfig, QueueManagerBuilder, RateLimitConfig, RetryPolicy

_client: aioredis.Redis | None = None
_log: Any = None

# INCR the running count and keep the highest value seen
_RUNNING_MAX = """
local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n
"""


def client() -> aioredis.Redis:
    global _client
    if _client is None:
        _client = aioredis.Redis.from_url(os.environ["LANECORE_TEST_REDIS"], decode_responses=True)
    return _client


def key(name: str) -> str:
    return f"test:{os.environ['LANECORE_TEST_NS']}:{name}"


async def record(payload: Any) -> Any:
    await client().rpush(key("order"), payload["tag"])  # type: ignore[misc]
    await asyncio.sleep(payload.get("sleep", 0.0))
    return payload["tag"]


async def counted(payload: Any) -> int:
    c = client()
    await c.eval(_RUNNING_MAX, 2, key("running"), key("max"))  # type: ignore[misc]
    try:
        await asyncio.sleep(payload["sleep"])
    finally:
        await c.decr(key("running"))
    return 1


async def stamp(payload: Any) -> int:
    await client().rpush(key("stamps"), repr(time.time()))  # type: ignore[misc]
    return 1


async def slow(payload: Any) -> int:
    mark = f"{payload['i']}:{os.getpid()}"
    await client().rpush(key("starts"), mark)  # type: ignore[misc]
    await asyncio.sleep(payload["sleep"])
    await client().rpush(key("done"), mark)  # type: ignore[misc]
    return os.getpid()


def _job_log(line: str) -> None:
    """Append one line to this process's job log, ``$LANECORE_TEST_LOG/<pid>.log``."""
    global _log
    if _log is None:
        path = os.path.join(os.environ["LANECORE_TEST_LOG"], f"{os.getpid()}.log")
        _log = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - process-wide
    _log.write(line + "\n")


async def logged(payload: Any) -> Any:
    """Log ``start <i> <monotonic>``, sleep, log ``end <i> <monotonic>`` (no Redis used, so
    it runs the same whichever server is the primary)."""
    _job_log(f"start {payload['i']} {time.monotonic()!r}")
    try:
        await asyncio.sleep(payload["sleep"])
    finally:
        _job_log(f"end {payload['i']} {time.monotonic()!r}")
    return payload["i"]


HANDLERS = {"record": record, "counted": counted, "stamp": stamp, "slow": slow, "logged": logged}


def app() -> QueueManagerBuilder:
    """The lanes every test process (workers and submitters) uses."""
    return (
        QueueManagerBuilder()
        .with_lane("high", LaneConfig(1, 8), 0)
        .with_lane("two", LaneConfig(1, 2), 2)
        .with_lane("rated", LaneConfig(1, 50).with_rate_limit(RateLimitConfig.per_second(50)), 3)
        .with_lane("work", LaneConfig(1, 16), 4)
        .with_lane("low", LaneConfig(1, 8), 5)
    )


async def noop(payload: Any) -> None:
    return None


def capped() -> QueueManagerBuilder:
    """One lane of at most three running commands cluster-wide (the failover test)."""
    return QueueManagerBuilder().with_lane("capped", LaneConfig(1, 3), 0)


def bench() -> tuple[QueueManagerBuilder, dict[str, Any]]:
    """One wide lane and a no-op handler, for throughput checks."""
    return QueueManagerBuilder().with_lane("bench", LaneConfig(1, 10_000), 0), {"noop": noop}


async def echo(payload: Any) -> Any:
    return payload


async def boom(payload: Any) -> None:
    raise ValueError(f"boom {payload}")


def plain() -> tuple[QueueManagerBuilder, dict[str, Any]]:
    """Two lanes (``low`` retries once) and handlers that use no Redis keys of their own, for
    workers that may reach only their namespace (ACL, TLS and cluster tests)."""
    builder = (
        QueueManagerBuilder()
        .with_lane("high", LaneConfig(1, 8), 0)
        .with_lane("low", LaneConfig(1, 8).with_retry_policy(RetryPolicy.fixed(1, 0.01)), 5)
    )
    return builder, {"echo": echo, "boom": boom}


async def nap(payload: Any) -> Any:
    """Log ``start`` to Redis, sleep ``sleep`` seconds, log ``done`` (not when cancelled)."""
    c = client()
    await c.rpush(key("starts"), payload["tag"])  # type: ignore[misc]
    await asyncio.sleep(payload.get("sleep", 0.0))
    await c.rpush(key("done"), payload["tag"])  # type: ignore[misc]
    return payload["tag"]


def controls() -> tuple[QueueManagerBuilder, dict[str, Any]]:
    """Lanes with issue 13's controls (tests/test_redis_controls.py): a cost limit of 20 units
    per second, a bound of 3 held commands, a plain lane, and a template for per-tenant lanes
    of one running command each, removed after 0.6 s idle."""
    builder = (
        QueueManagerBuilder()
        .with_lane("costed", LaneConfig(1, 8).with_cost_limit(RateLimitConfig.per_second(20)), 1)
        .with_lane("bounded", LaneConfig(1, 1).with_max_pending(3), 2)
        .with_lane("open", LaneConfig(1, 16), 3)
        .with_lane_template("tenant:", LaneConfig(1, 1), 4, idle_ttl=0.6)
    )
    return builder, {"nap": nap, "echo": echo, "boom": boom, "logged": logged}
