"""Issue 13's controls on the Redis backend, cluster-wide, with three worker processes
(``python -m lanecore worker --app redis_apps:controls``) and a producer in this process:
delayed commands, max_pending (checked atomically in the submit script) and ``put``, cost
limits in the claim script, groups cancelled across workers, lanes added, removed and made
from templates at run time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis_fixtures

from lanecore.redis.testing import RedisServer

pytest.importorskip("redis", reason="the redis client package is not installed")

import redis.asyncio as aioredis
import redis_apps

from lanecore import LaneConfig, LaneFull, LaneNotFound, RateLimitConfig
from lanecore.redis import DistributedManager, RedisBackend

APP = "redis_apps:controls"


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    yield from redis_fixtures.server()


def producer(url: str, ns: str) -> DistributedManager:
    builder, _ = redis_apps.controls()
    return builder.with_backend(RedisBackend(url, ns, lease=1.0)).build()


def run(coro: Any, timeout: float = 40) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Cluster:
    """Three workers on one namespace, a producer and a plain client for the test keys."""

    def __init__(self, url: str, ns: str, workers: redis_fixtures.Workers) -> None:
        self.url, self.ns, self.workers = url, ns, workers

    async def __aenter__(self) -> Cluster:
        self.manager = producer(self.url, self.ns)
        await self.manager.start()
        self.redis = aioredis.Redis.from_url(self.url, decode_responses=True)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.manager.close()
        await self.redis.aclose()

    async def listed(self, name: str) -> list[str]:
        return list(await self.redis.lrange(f"test:{self.ns}:{name}", 0, -1))  # type: ignore[misc]

    async def wait_listed(self, name: str, count: int) -> list[str]:
        while len(items := await self.listed(name)) < count:
            await asyncio.sleep(0.02)
        return items


@pytest.fixture
def workers(server: RedisServer) -> Iterator[tuple[str, redis_fixtures.Workers]]:
    ns = redis_fixtures.namespace()
    procs = redis_fixtures.Workers(server.url, ns, 3, app=APP, concurrency=4, lease=1.0)
    try:
        procs.wait_ready()
        yield ns, procs
    finally:
        assert procs.close() == [0, 0, 0]


def cluster(server: RedisServer, workers: tuple[str, redis_fixtures.Workers]) -> Cluster:
    return Cluster(server.url, workers[0], workers[1])


# ---------------------------------------------------------------------------- delayed
def test_delayed_command_is_scheduled_then_runs(server: RedisServer, workers: Any) -> None:
    async def main() -> None:
        async with cluster(server, workers) as c:
            m = c.manager
            later = m.submit("open", "echo", "later", delay=0.5)
            dropped = m.submit("open", "echo", "dropped", delay=30)
            now = m.submit("open", "echo", "now")
            await asyncio.gather(later.persisted(), dropped.persisted())
            assert await now == "now"
            stats = await m.stats()
            assert stats.lanes["open"].scheduled == 2 and stats.lanes["open"].pending == 0
            assert stats.retrying == 0
            assert not later.done()
            assert await m.cancel(dropped.command_id)
            assert dropped.cancelled()
            assert await later == "later"
            stats = await m.stats()
            assert stats.lanes["open"].scheduled == 0 and stats.total_pending == 0

    run(main())


def test_bad_options_raise_at_submit_and_queue_nothing(server: RedisServer) -> None:
    async def main() -> None:
        m = producer(server.url, redis_fixtures.namespace())
        async with m:
            with pytest.raises(ValueError, match="delay"):
                m.submit("open", "echo", 1, delay=-1)
            with pytest.raises(TypeError, match="cost must be an int"):
                m.submit("costed", "echo", 1, cost=2.5)  # type: ignore[arg-type]
            with pytest.raises(
                ValueError, match=r"cost 21 exceeds the cost limit of lane 'costed'"
            ):
                m.submit("costed", "echo", 1, cost=21)
            with pytest.raises(ValueError, match="group must be a non-empty str"):
                m.submit("open", "echo", 1, group="")
            with pytest.raises(LaneNotFound):
                m.submit("nowhere", "echo", 1)
            assert (await m.stats()).total_pending == 0

    run(main())


# ---------------------------------------------------------------------------- max_pending
def test_max_pending_is_atomic_in_redis_and_put_waits(server: RedisServer) -> None:
    ns = redis_fixtures.namespace()

    async def fill() -> None:
        a, b = producer(server.url, ns), producer(server.url, ns)
        await a.start()
        await b.start()
        try:
            # two processes race for the 3 places of "bounded" (no worker runs yet)
            handles = [m.submit("bounded", "echo", i) for i in range(3) for m in (a, b)]
            results = await asyncio.gather(
                *(h.persisted() for h in handles), return_exceptions=True
            )
            full = [r for r in results if isinstance(r, LaneFull)]
            assert len(full) == 3 and all(r is None for r in results if not isinstance(r, LaneFull))
            assert "'bounded'" in str(full[0]) and "max_pending=3" in str(full[0])
            for h in handles:
                if h.done() and not h.cancelled():
                    assert h.exception() is None or isinstance(h.exception(), LaneFull)
            stats = await a.stats()
            assert stats.lanes["bounded"].pending == 3
            # a delayed command counts against the bound too
            await a.cancel(next(h for h in handles if not h.done()).command_id)
            await a.submit("bounded", "echo", "late", delay=60).persisted()
            with pytest.raises(LaneFull):
                await a.submit("bounded", "echo", "over").persisted()
        finally:  # close, not drain: no worker runs these yet
            await a.close()
            await b.close()

    run(fill())
    procs = redis_fixtures.Workers(server.url, ns, 3, app=APP, concurrency=2, lease=1.0)
    try:
        procs.wait_ready()

        async def drain_with_put() -> None:
            m = producer(server.url, ns)
            await m.start()
            try:
                # the lane is full until the workers drain it: put() waits, in order
                handles = [await m.put("bounded", "echo", f"put{i}") for i in range(5)]
                assert await asyncio.gather(*handles) == [f"put{i}" for i in range(5)]
                # a put cancelled while it waits queues nothing
                # "late" (delayed 60 s) is still held; two more fill the lane
                held = [m.submit("bounded", "echo", f"d{i}", delay=60) for i in range(2)]
                await asyncio.gather(*(h.persisted() for h in held))
                waiting = asyncio.ensure_future(m.put("bounded", "echo", "never"))
                await asyncio.sleep(0.2)
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
                stats = await m.stats()
                assert stats.lanes["bounded"].scheduled == 3 and stats.lanes["bounded"].pending == 0
            finally:  # close, not drain: the delayed ones are due in a minute
                await m.close()

        run(drain_with_put())
    finally:
        assert procs.close() == [0, 0, 0]


# ---------------------------------------------------------------------------- cost limit
def test_cost_limit_holds_cluster_wide_and_keeps_fifo(server: RedisServer, workers: Any) -> None:
    async def main() -> None:
        async with cluster(server, workers) as c:
            m = c.manager
            # 20 units per second, a burst of 20: the big head (20) waits for a full bucket
            # and the small ones behind it do not overtake it
            costs = [5, 20, 1, 1, 1, 1, 1, 20, 2]
            start = time.monotonic()
            handles = [
                m.submit("costed", "nap", {"tag": f"{i}:{cost}"}, cost=cost)
                for i, cost in enumerate(costs)
            ]
            await asyncio.gather(*handles)
            elapsed = time.monotonic() - start
            order = [int(tag.split(":")[0]) for tag in await c.listed("starts")]
            assert order == sorted(order), order  # FIFO within the lane across 3 workers
            # 52 units at 20/s after a burst of 20 need at least (52 - 20) / 20 s
            assert elapsed >= (sum(costs) - 20) / 20 * 0.9, elapsed

    run(main())


# ---------------------------------------------------------------------------- groups
def test_cancel_group_reaches_commands_running_on_other_workers(
    server: RedisServer, workers: Any
) -> None:
    async def main() -> None:
        async with cluster(server, workers) as c:
            m = c.manager
            running = [
                m.submit("open", "nap", {"tag": f"run{i}", "sleep": 30}, group="s7")
                for i in range(6)
            ]
            await c.wait_listed("starts", 6)  # spread over the three workers
            pending = [
                m.submit("bounded", "nap", {"tag": f"p{i}", "sleep": 30}, group="s7")
                for i in range(2)
            ]
            delayed = [m.submit("open", "echo", i, delay=60, group="s7") for i in range(3)]
            other = m.submit("open", "echo", "other", group="s8")
            await asyncio.gather(*(h.persisted() for h in [*pending, *delayed]))
            # another group's command is untouched; awaited here, as it would otherwise be
            # counted active (claimed, not yet acked) by the stats read just after the cancel
            assert await other == "other"
            assert await m.group_size("s7") == 11
            before = await m.stats()
            assert before.lanes["open"].active >= 6
            assert await m.cancel_group("s7") == 11
            after = await m.stats()  # slots freed at once, nothing left of the group
            assert after.lanes["open"].active == 0 and after.lanes["open"].scheduled == 0
            assert await m.group_size("s7") == 0
            for handle in [*running, *pending, *delayed]:
                with pytest.raises(asyncio.CancelledError):
                    await handle
            assert await m.cancel_group("s7") == 0
            # the workers cancelled the running tasks: none of them finished
            await asyncio.sleep(0.3)
            assert not [t for t in await c.listed("done") if t.startswith("run")]
            # and the freed slots run new work at once
            assert await m.submit("open", "echo", "next") == "next"
            info = await m.cluster_info()
            assert info["active"] == 0 and info["zombie_acks"] == 0

    run(main())


def test_cancel_reaches_a_command_running_on_another_worker(
    server: RedisServer, workers: Any
) -> None:
    async def main() -> None:
        async with cluster(server, workers) as c:
            m = c.manager
            by_id = m.submit("open", "nap", {"tag": "by-id", "sleep": 1.0})
            by_handle = m.submit("open", "nap", {"tag": "by-handle", "sleep": 1.0})
            await c.wait_listed("starts", 2)
            assert (await m.stats()).lanes["open"].active == 2
            assert await m.cancel(by_id.command_id)
            assert (await m.stats()).lanes["open"].active == 1  # its slot freed at once
            with pytest.raises(asyncio.CancelledError):
                await by_id
            assert not await m.cancel(by_id.command_id)  # already cancelled
            assert by_handle.cancel()  # the handle's cancel reaches the worker too
            while (await m.stats()).lanes["open"].active:
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.5)  # past the naps' end: neither run finished
            assert await c.listed("done") == []
            assert await m.submit("open", "echo", "next") == "next"
            info = await m.cluster_info()
            assert info["active"] == 0 and info["zombie_acks"] == 0

    run(main())


def test_events_and_dead_letters_carry_the_group(server: RedisServer, workers: Any) -> None:
    async def main() -> None:
        async with cluster(server, workers) as c:
            m = c.manager
            stream = m.subscribe()
            await m.events_ready()
            failed = m.submit("open", "boom", 1, group="g1")
            with pytest.raises(Exception, match="boom"):
                await failed
            letter = await m.dlq.get(failed.command_id)
            assert letter is not None and letter.group == "g1"
            seen: dict[str, Any] = {}
            while "queue.command.dead_lettered" not in seen:
                event = await asyncio.wait_for(stream.recv(), 5)
                if event.payload.get("command_id") == failed.command_id:
                    seen[event.key] = event.payload
            for key in ("queue.command.submitted", "queue.command.started"):
                assert seen[key]["group"] == "g1", seen
            assert await m.group_size("g1") == 0

    run(main())


# ---------------------------------------------------------------------------- lanes at run time
def test_lanes_added_and_removed_at_run_time(server: RedisServer, workers: Any) -> None:
    async def main() -> None:
        async with cluster(server, workers) as c:
            m = c.manager
            await m.add_lane("extra", LaneConfig(1, 2), 0)
            assert await m.submit("extra", "echo", "hi") == "hi"  # the workers found it
            with pytest.raises(ValueError, match="duplicate lane id 'extra'"):
                await m.add_lane("extra", LaneConfig(1, 2), 0)
            other = producer(c.url, c.ns)  # a second process learns of it from Redis
            async with other:
                with pytest.raises(ValueError, match="already has it"):
                    await other.add_lane("extra", LaneConfig(1, 3), 0)
                with pytest.raises(ValueError, match="priority"):
                    await other.add_lane("bad", LaneConfig(1, 3), -1)
                with pytest.raises(LaneNotFound):
                    other.submit("extra", "echo", 1)
                assert "extra" in await other.refresh_lanes()
                assert await other.submit("extra", "echo", "there") == "there"
                slow = [m.submit("extra", "nap", {"tag": f"x{i}", "sleep": 0.3}) for i in range(4)]
                await asyncio.gather(*(h.persisted() for h in slow))
                removing = asyncio.ensure_future(m.remove_lane("extra"))
                await asyncio.sleep(0.05)
                with pytest.raises(LaneNotFound):
                    m.submit("extra", "echo", 1)
                late = other.submit("extra", "echo", 1)  # refused in Redis too
                with pytest.raises(LaneNotFound):
                    await late.persisted()
                await removing
                assert await asyncio.gather(*slow) == [f"x{i}" for i in range(4)]  # finished
                assert "extra" not in (await m.stats()).lanes
                # cancel_pending: pending ones are cancelled, the running ones finish
                await m.add_lane("extra", LaneConfig(1, 1), 0)
                held = [m.submit("extra", "nap", {"tag": f"y{i}", "sleep": 0.3}) for i in range(4)]
                await c.wait_listed("starts", 5)  # x0..x3 and y0
                await m.remove_lane("extra", cancel_pending=True)
                assert await held[0] == "y0"
                for handle in held[1:]:
                    with pytest.raises(asyncio.CancelledError):
                        await handle
            with pytest.raises(LaneNotFound):
                await m.remove_lane("extra")

    run(main())


def test_templated_lanes_have_their_own_cap_and_are_removed_when_idle(
    server: RedisServer, workers: Any
) -> None:
    async def main() -> None:
        async with cluster(server, workers) as c:
            m = c.manager
            handles = [
                m.submit(f"tenant:{t}", "nap", {"tag": f"{t}{i}", "sleep": 0.2})
                for i in range(3)
                for t in "ab"
            ]
            await asyncio.sleep(0.1)
            stats = await m.stats()
            # each tenant has its own cap of one running command
            assert stats.lanes["tenant:a"].active == 1 and stats.lanes["tenant:b"].active == 1
            assert stats.lanes["tenant:a"].max_concurrency == 1
            await asyncio.gather(*handles)
            order = await c.listed("starts")
            assert [t for t in order if t[0] == "a"] == ["a0", "a1", "a2"]
            # idle for longer than idle_ttl (0.6 s) plus a sweep or two: removed cluster-wide
            deadline = time.monotonic() + 10
            while "tenant:a" in (await m.stats()).lanes:
                assert time.monotonic() < deadline, "the idle templated lane was not removed"
                await asyncio.sleep(0.1)
            # a submit makes it again, from the template
            assert await m.submit("tenant:a", "echo", "back") == "back"
            assert "tenant:a" in (await m.stats()).lanes

    run(main())


def test_cost_limit_config_round_trips_through_redis(server: RedisServer) -> None:
    async def main() -> None:
        ns = redis_fixtures.namespace()
        m = producer(server.url, ns)
        async with m:
            config = LaneConfig(1, 2).with_cost_limit(RateLimitConfig.per_minute(600))
            await m.add_lane("llm", config.with_max_pending(9), 0)
            other = producer(server.url, ns)
            async with other:
                stored = await other._lane_config("llm")
                assert stored.cost_limit == config.cost_limit and stored.max_pending == 9

    run(main())
