"""The claim script on its own (no worker loop): the global cap with min reservations counted
cluster-wide, strict priority with per-lane max, token buckets, fencing tokens and the
reaper returning expired leases to the front of their lane, then to the DLQ."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis_fixtures

from lanecore import LaneConfig, QueueManagerBuilder, RateLimitConfig
from lanecore.redis.testing import RedisServer

pytest.importorskip("redis", reason="the redis client package is not installed")

from lanecore.redis import DistributedManager, RedisBackend


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    yield from redis_fixtures.server()


class Claimer:
    """Calls the step script directly, as a worker would."""

    def __init__(self, manager: DistributedManager, worker_id: str = "w1") -> None:
        self.manager = manager
        self.worker_id = worker_id

    async def step(
        self, limit: int, acks: list[Any] | None = None, lease_ms: int = 60_000
    ) -> tuple[int, int, list[tuple[str, str, str]]]:
        """(wait ms, rejected acks, [(command id, token, lane)])."""
        manager = self.manager
        client = await manager._connected()
        acks = acks or []
        reply = await manager.backend.scripts.step(
            client, self.worker_id, lease_ms, limit, 60_000, len(acks) // 7, *acks
        )
        claimed = [(reply[i], str(reply[i + 1]), reply[i + 5]) for i in range(3, len(reply), 7)]
        return int(reply[0]), int(reply[2]), claimed


def ok(command_id: str, token: str) -> list[Any]:
    return [command_id, token, "ok", "null", 0, "", "0"]


def build(url: str, builder: QueueManagerBuilder, **backend: Any) -> DistributedManager:
    return builder.with_backend(RedisBackend(url, redis_fixtures.namespace(), **backend)).build()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_global_cap_reserves_min_slots_cluster_wide(server: RedisServer) -> None:
    async def main() -> None:
        manager = build(
            server.url,
            QueueManagerBuilder()
            .with_lane("a", LaneConfig(1, 5), 0)
            .with_lane("b", LaneConfig(2, 5), 1)
            .with_global_concurrency(4),
        )
        await manager.start(worker=False)
        for i in range(10):
            manager.submit("a", "x", i)
            manager.submit("b", "x", i)
        await manager._submitter.wait_sent()
        one, two = Claimer(manager, "w1"), Claimer(manager, "w2")
        # w1 asks for everything: 'a' (higher priority) gets cap 4 minus b's reserve of 2
        _, _, got = await one.step(10)
        assert [lane for *_, lane in got] == ["a", "a", "b", "b"]
        # the cap is cluster-wide: another worker gets nothing
        _, _, nothing = await two.step(10)
        assert nothing == []
        # a slot of 'a' frees: 'b' is at its min, so strict priority gives it back to 'a'
        command_id, token, _ = got[0]
        _, rejected, again = await two.step(10, ok(command_id, token))
        assert rejected == 0 and [lane for *_, lane in again] == ["a"]
        # a slot of 'b' frees while 'b' is under its min: reserved for 'b'
        command_id, token, _ = got[2]
        _, _, again = await one.step(10, ok(command_id, token))
        assert [lane for *_, lane in again] == ["b"]
        await manager.close()

    run(main())


def test_strict_priority_and_lane_max(server: RedisServer) -> None:
    async def main() -> None:
        manager = build(
            server.url,
            QueueManagerBuilder()
            .with_lane("low", LaneConfig(1, 10), 5)
            .with_lane("high", LaneConfig(1, 3), 0)
            .with_lane("mid", LaneConfig(1, 10), 2),
        )
        await manager.start(worker=False)
        for lane in ("low", "mid", "high"):
            for i in range(4):
                manager.submit(lane, "x", i)
        await manager._submitter.wait_sent()
        _, _, got = await Claimer(manager).step(8)
        assert [lane for *_, lane in got] == ["high"] * 3 + ["mid"] * 4 + ["low"]
        stats = await manager.stats()
        assert (stats.lanes["high"].active, stats.lanes["high"].pending) == (3, 1)
        await manager.close()

    run(main())


def test_token_bucket_refills_from_redis_time(server: RedisServer) -> None:
    async def main() -> None:
        manager = build(
            server.url,
            QueueManagerBuilder()
            .with_lane("rated", LaneConfig(1, 50).with_rate_limit(RateLimitConfig.per_second(5)), 0)
            .with_lane("other", LaneConfig(1, 50), 1),
        )
        await manager.start(worker=False)
        for i in range(10):
            manager.submit("rated", "x", i)
        manager.submit("other", "x", 0)
        await manager._submitter.wait_sent()
        claimer = Claimer(manager)
        wait, _, got = await claimer.step(20)
        # the burst of 5, and the lower-priority lane keeps running meanwhile
        assert sorted(lane for *_, lane in got) == ["other"] + ["rated"] * 5
        assert 100 <= wait <= 200  # the next token is due in 1/5 s
        wait, _, got = await claimer.step(20)
        assert got == []
        await asyncio.sleep(wait / 1000 + 0.02)
        _, _, got = await claimer.step(20)
        assert [lane for *_, lane in got] == ["rated"]
        await manager.close()

    run(main())


def test_fencing_tokens_and_reaper(server: RedisServer) -> None:
    async def main() -> None:
        manager = build(
            server.url,
            QueueManagerBuilder().with_lane("q", LaneConfig(1, 10), 0),
            max_stalls=1,
            lease=0.2,
            grace=0.0,
        )
        await manager.start(worker=False)
        first = manager.submit("q", "x", 1, command_id="first")
        manager.submit("q", "x", 2, command_id="second")
        await first.persisted()
        client = await manager._connected()
        scripts = manager.backend.scripts
        zombie = Claimer(manager, "zombie")
        _, _, got = await zombie.step(1, lease_ms=100)
        assert [c for c, *_ in got] == ["first"]
        stale_token = got[0][1]
        await asyncio.sleep(0.15)
        assert await scripts.reap(client, "me", 50, 100, 1) == 1
        # back at the FRONT of its lane, with a new token; the zombie's ack is refused
        _, _, got = await Claimer(manager, "w2").step(1, lease_ms=100)
        assert [c for c, *_ in got] == ["first"] and got[0][1] != stale_token
        _, rejected, _ = await zombie.step(0, ok("first", stale_token))
        assert rejected == 1
        assert (await manager.cluster_info())["zombie_acks"] == 1
        # a second stall exceeds max_stalls=1: dead-lettered, the submitter hears it
        await asyncio.sleep(0.15)
        await client.delete(manager.backend.keys.prefix + "reaper")
        assert await scripts.reap(client, "me", 50, 100, 1) == 1
        with pytest.raises(Exception, match="lease expired 2 times"):
            await first
        letters = await manager.dlq.list()
        assert [(d.command_id, d.attempts) for d in letters] == [("first", 2)]
        # the reaper lock: a second reaper within the lock's time does nothing
        assert await scripts.reap(client, "other", 50, 100, 1) == -1
        await manager.close()

    run(main())


def test_equal_priority_lanes_round_robin_within_and_across_steps(server: RedisServer) -> None:
    async def main() -> None:
        manager = build(
            server.url,
            QueueManagerBuilder()
            .with_lane("a", LaneConfig(1, 10), 1)
            .with_lane("b", LaneConfig(1, 10), 1)
            .with_lane("c", LaneConfig(1, 10), 1)
            .with_lane("top", LaneConfig(1, 10), 0),
        )
        await manager.start(worker=False)
        for lane in ("a", "b", "c"):
            for i in range(3):
                manager.submit(lane, "x", i)
        manager.submit("top", "x", 0)
        manager.submit("top", "x", 1)
        await manager._submitter.wait_sent()
        claimer = Claimer(manager)
        # strict priority first; within level 1 each claim sends its lane behind the others
        _, _, got = await claimer.step(4)
        assert [lane for *_, lane in got] == ["top", "top", "a", "b"]
        # the rotation is kept in Redis: 'c' (not served yet) goes before 'a' and 'b'
        _, _, got = await claimer.step(3)
        assert [lane for *_, lane in got] == ["c", "a", "b"]
        _, _, got = await claimer.step(10)
        assert [lane for *_, lane in got] == ["c", "a", "b", "c"]
        await manager.close()

    run(main())


# ------------------------------------------- a global cap below the lanes' total minimum
def lanes_of(got: list[tuple[str, str, str]]) -> list[str]:
    return [lane for *_, lane in got]


def test_cap_below_total_min_grants_reservations_by_priority(server: RedisServer) -> None:
    async def main() -> None:
        manager = build(
            server.url,
            QueueManagerBuilder()
            .with_lane("low", LaneConfig(1, 10), 5)  # added first, granted last
            .with_lane("top", LaneConfig(1, 10), 0)
            .with_lane("mid", LaneConfig(1, 10), 2)
            .with_global_concurrency(2),
        )
        await manager.start(worker=False)
        stats = await manager.stats()
        assert {lane: s.reserved for lane, s in stats.lanes.items()} == {
            "top": 1,
            "mid": 1,
            "low": 0,
        }
        for i in range(4):
            manager.submit("top", "x", i)
        await manager._submitter.wait_sent()
        claimer = Claimer(manager)
        _, _, tops = await claimer.step(10)
        assert lanes_of(tops) == ["top", "top"]  # nothing else pending: the whole cap
        manager.submit("low", "x", 0)
        await manager._submitter.wait_sent()
        command_id, token, _ = tops[0]
        _, _, got = await claimer.step(10, ok(command_id, token))
        assert lanes_of(got) == ["top"]  # low, under its min, has no reservation: priority
        manager.submit("mid", "x", 0)
        await manager._submitter.wait_sent()
        command_id, token, _ = tops[1]
        _, _, got = await claimer.step(10, ok(command_id, token))
        assert lanes_of(got) == ["mid"]  # mid's reservation: the freed slot is mid's
        await manager.close()

    run(main())


def test_cap_of_one_is_strict_priority_one_at_a_time(server: RedisServer) -> None:
    async def main() -> None:
        manager = build(
            server.url, QueueManagerBuilder().with_default_lanes().with_global_concurrency(1)
        )
        await manager.start(worker=False)
        stats = await manager.stats()
        assert [stats.lanes[lane].reserved for lane in manager.lane_ids] == [1, 0, 0, 0, 0, 0]
        for i in range(3):
            manager.submit("prompt", "x", i)
        await manager._submitter.wait_sent()
        claimer = Claimer(manager)
        _, _, running = await claimer.step(10)
        assert lanes_of(running) == ["prompt"]
        manager.submit("control", "x", 0)
        await manager._submitter.wait_sent()
        _, _, got = await Claimer(manager, "w2").step(10)
        assert got == []  # never two at once, cluster-wide
        order = []
        for _ in range(3):
            command_id, token, _ = running[0]
            _, _, running = await claimer.step(10, ok(command_id, token))
            assert len(running) == 1
            order += lanes_of(running)
        # the control command overtook the queued prompt work
        assert order == ["control", "prompt", "prompt"]
        await manager.close()

    run(main())


def test_equal_priorities_grant_in_the_order_lanes_were_added(server: RedisServer) -> None:
    """'b' was added before 'a' (though 'a' sorts first by name): 'b' gets the one slot."""

    async def main() -> None:
        manager = build(
            server.url,
            QueueManagerBuilder()
            .with_lane("b", LaneConfig(1, 4), 3)
            .with_lane("a", LaneConfig(1, 4), 3)
            .with_global_concurrency(1),
        )
        await manager.start(worker=False)
        stats = await manager.stats()
        assert (stats.lanes["b"].reserved, stats.lanes["a"].reserved) == (1, 0)
        manager.submit("a", "x", 0)
        manager.submit("b", "x", 0)
        await manager._submitter.wait_sent()
        _, _, got = await Claimer(manager).step(10)
        assert lanes_of(got) == ["b"]
        await manager.close()

    run(main())


def test_a_lane_without_a_reservation_uses_free_slots(server: RedisServer) -> None:
    async def main() -> None:
        manager = build(
            server.url,
            QueueManagerBuilder()
            .with_lane("top", LaneConfig(2, 4), 0)
            .with_lane("free", LaneConfig(0, 4), 1)
            .with_lane("low", LaneConfig(1, 4), 2)
            .with_global_concurrency(2),
        )
        await manager.start(worker=False)
        stats = await manager.stats()
        assert [stats.lanes[lane].reserved for lane in ("top", "free", "low")] == [2, 0, 0]
        for i in range(3):
            manager.submit("low", "x", i)
        await manager._submitter.wait_sent()
        _, _, got = await Claimer(manager).step(10)
        assert lanes_of(got) == ["low", "low"]
        await manager.close()

    run(main())


def test_paused_and_throttled_lanes_hold_no_slot(server: RedisServer) -> None:
    async def main() -> None:
        limited = LaneConfig(2, 2).with_rate_limit(RateLimitConfig.per_minute(1))
        manager = build(
            server.url,
            QueueManagerBuilder()
            .with_lane("paused", LaneConfig(2, 2), 0)
            .with_lane("limited", limited, 1)
            .with_lane("other", LaneConfig(0, 5), 2)
            .with_global_concurrency(4),
        )
        await manager.start(worker=False)
        await manager.pause_lane("paused")
        for i in range(3):
            manager.submit("paused", "x", i)
            manager.submit("limited", "x", i)
            manager.submit("other", "x", i)
        await manager._submitter.wait_sent()
        _, _, got = await Claimer(manager).step(10)
        # "paused" holds none of its 2; "limited" spends its one token and, waiting for the
        # next, holds no reservation either: "other" (no reservation) takes the rest
        assert lanes_of(got) == ["limited", "other", "other", "other"]
        stats = await manager.stats()
        assert (stats.lanes["paused"].reserved, stats.lanes["limited"].reserved) == (2, 2)
        await manager.close()

    run(main())


def test_a_queued_id_whose_hash_is_gone_gives_its_slot_back(server: RedisServer) -> None:
    """A claim pops each lane's share at once; an id in the queue without its pending hash
    (evicted, say) is skipped, its slot and token are given back and the limit is still
    filled from the lane, in order."""

    async def main() -> None:
        rated = LaneConfig(1, 10).with_rate_limit(RateLimitConfig.per_minute(3))
        manager = build(server.url, QueueManagerBuilder().with_lane("q", rated, 0))
        await manager.start(worker=False)
        for name in ("a", "b", "c", "d"):
            manager.submit("q", "x", name, command_id=name)
        await manager._submitter.wait_sent()
        client = await manager._connected()
        await client.delete(manager.backend.keys.command("a"))
        _, _, got = await Claimer(manager).step(2)
        assert [c for c, *_ in got] == ["b", "c"]
        stats = await manager.stats()
        assert (stats.lanes["q"].active, stats.lanes["q"].pending) == (2, 1)
        # 3 tokens a minute: "a" did not spend one, so "d" still gets the third
        _, _, got = await Claimer(manager).step(5)
        assert [c for c, *_ in got] == ["d"]
        await manager.close()

    run(main())


def test_an_id_twice_in_one_submit_call_is_queued_once(server: RedisServer) -> None:
    """submit.lua skips the per-command read when none of a call's ids is stored, but an id
    repeated within the call is read: the second one follows the first."""

    async def main() -> None:
        manager = build(server.url, QueueManagerBuilder().with_lane("q", LaneConfig(1, 10), 0))
        await manager.start(worker=False)
        client = await manager._connected()
        reply = await manager.backend.scripts.submit(
            client, "", 0, 3, 3, "q", "x", "", "same", "1", "other", "2", "same", "3"
        )
        assert reply[::2] == ["new", "new", "p"]
        stats = await manager.stats()
        assert stats.lanes["q"].pending == 2
        _, _, got = await Claimer(manager).step(5)
        assert [c for c, *_ in got] == ["same", "other"]
        await manager.close()

    run(main())


def test_a_stopped_worker_claims_nothing_with_its_claim_queued(server: RedisServer) -> None:
    """An idle worker has a claim queued behind its BLPOP; stop_claiming sets that claim's
    gate and unblocks it, so it claims nothing, even with a claimable command pending."""

    async def main() -> None:
        namespace = redis_fixtures.namespace()
        lanes = QueueManagerBuilder().with_lane("q", LaneConfig(1, 10), 0)
        worker = lanes.with_backend(RedisBackend(server.url, namespace)).build()

        async def echo(payload: Any) -> Any:
            return payload

        worker.register("x", echo)
        await worker.start(worker=True)
        submitter = lanes.with_backend(RedisBackend(server.url, namespace)).build()
        await submitter.start(worker=False)
        assert await submitter.submit("q", "x", 1) == 1  # ran by the worker, which idles
        loop_worker = worker.worker
        assert loop_worker is not None
        # a pending command no wake-up announces: queued while the lane is paused, then the
        # pause flag cleared by hand (resume_lane would push a wake-up)
        await submitter.pause_lane("q")
        late = submitter.submit("q", "x", 2)
        await late.persisted()
        client = await submitter._connected()
        keys = submitter.backend.keys
        await asyncio.sleep(0.1)  # the worker woke for it, found the lane paused, idles again
        assert loop_worker._woken is not None
        await client.hset(keys.lane("q"), "pause", "0")  # type: ignore[misc]
        worker.shutdown()  # nothing of its own outstanding: it stops claiming at once
        assert loop_worker.stopped is not None
        await asyncio.wait_for(asyncio.shield(loop_worker.stopped), 5)
        stats = await submitter.stats()
        assert (stats.lanes["q"].pending, stats.lanes["q"].active) == (1, 0)
        gate = keys.worker_gate(loop_worker.worker_id)
        assert await client.exists(gate, keys.worker_wake(loop_worker.worker_id)) == 0
        await worker.close()
        late.cancel()
        await submitter.close()

    run(main())
