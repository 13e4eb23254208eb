"""The Redis backend in one process: submit on one manager, run on another (worker), errors,
retries, dead letters, idempotent ids, lane-config checks, cancel, events and bad input."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis_fixtures

from lanecore import (
    CommandTimeout,
    LaneConfig,
    LaneNotFound,
    QueueManagerBuilder,
    RetryPolicy,
    ShutdownInProgress,
)
from lanecore.redis.testing import RedisServer

pytest.importorskip("redis", reason="the redis client package is not installed")

from lanecore.redis import (
    DistributedManager,
    LaneConfigMismatch,
    RedisBackend,
    RemoteCommandError,
)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    yield from redis_fixtures.server()


@pytest.fixture
def ns() -> str:
    return redis_fixtures.namespace()


def lanes() -> QueueManagerBuilder:
    return (
        QueueManagerBuilder()
        .with_default_lanes()
        .with_lane("retry", LaneConfig(1, 2).with_retry_policy(RetryPolicy.fixed(2, 0.05)), 3)
        .with_lane("timed", LaneConfig(1, 2).with_timeout(0.2), 3)
    )


def manager(url: str, ns: str, **backend: Any) -> DistributedManager:
    backend.setdefault("lease", 1.0)
    backend.setdefault("grace", 0.2)
    return lanes().with_backend(RedisBackend(url, ns, **backend)).build()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_import_lanecore_does_not_import_redis() -> None:
    code = "import sys, lanecore, lanecore.builder; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_submit_here_run_there_result_and_errors(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        worker = manager(server.url, ns)
        ran: list[Any] = []

        async def echo(payload: Any) -> Any:
            ran.append(payload)
            return {"echo": payload}

        async def boom(payload: Any) -> None:
            raise ValueError(f"bad {payload}")

        worker.register("echo", echo)
        worker.register("boom", boom)
        client = manager(server.url, ns)
        async with worker, client:
            assert worker.worker is not None and client.worker is None
            handle = client.submit("query", "echo", [1, "two"])
            await handle.persisted()
            assert await handle == {"echo": [1, "two"]}
            assert ran == [[1, "two"]]
            failing = client.submit("query", "boom", 7)
            with pytest.raises(RemoteCommandError, match="ValueError: bad 7") as info:
                await failing
            assert info.value.error_type == "ValueError"
            handles = [client.submit("session", "echo", i) for i in range(200)]
            assert await asyncio.gather(*handles) == [{"echo": i} for i in range(200)]
            stats = await client.stats()
            assert stats.total_pending == 0 and stats.total_active == 0
            assert stats.dead_letter_count == 1
            counters = await client.metrics()
            assert counters["session"]["lane.commands.completed"] == 200
            assert counters["query"]["lane.commands.failed"] == 1

    run(main())


def test_retries_then_dead_letter_then_dlq_retry(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        worker = manager(server.url, ns)
        calls: list[int] = []
        fail = True

        async def flaky(payload: Any) -> str:
            calls.append(payload)
            if fail:
                raise RuntimeError("still failing")
            return "fixed"

        worker.register("flaky", flaky)
        async with worker:
            handle = worker.submit("retry", "flaky", 1, command_id="job-1")
            with pytest.raises(RemoteCommandError, match="still failing"):
                await handle
            assert calls == [1, 1, 1]  # 1 + max_retries
            letters = await worker.dlq.list()
            assert [(d.command_id, d.command_type, d.lane_id, d.attempts) for d in letters] == [
                ("job-1", "flaky", "retry", 3)
            ]
            assert letters[0].error == "RuntimeError: still failing"
            counters = (await worker.metrics())["retry"]
            assert counters["lane.commands.retried"] == 2
            assert counters["lane.commands.dead_lettered"] == 1
            fail = False
            again = await worker.dlq.retry("job-1")
            assert await again == "fixed"
            assert await worker.dlq.len() == 0
            with pytest.raises(LookupError):
                await worker.dlq.retry("job-1")

    run(main())


def test_timeout_is_a_failed_attempt(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        worker = manager(server.url, ns)

        async def sleepy(payload: Any) -> None:
            await asyncio.sleep(5)

        worker.register("sleepy", sleepy)
        async with worker:
            with pytest.raises(CommandTimeout):
                await worker.submit("timed", "sleepy", None)
            assert (await worker.metrics())["timed"]["lane.commands.timeout"] == 1

    run(main())


def test_idempotent_command_ids(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        worker = manager(server.url, ns)
        other = manager(server.url, ns)
        runs: list[Any] = []
        gate = asyncio.Event()

        async def once(payload: Any) -> Any:
            runs.append(payload)
            await gate.wait()
            return payload

        worker.register("once", once)
        async with worker, other:
            first = other.submit("query", "once", "a", command_id="same")
            await first.persisted()
            assert other.submit("query", "once", "a", command_id="same") is first
            second = worker.submit("query", "once", "b", command_id="same")
            await second.persisted()
            await asyncio.sleep(0.1)
            gate.set()
            assert await first == "a" and await second == "a"
            late = other.submit("query", "once", "c", command_id="same")
            assert await late == "a"
            assert runs == ["a"]

    run(main())


def test_lane_config_mismatch_and_overwrite(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        first = manager(server.url, ns)
        await first.start()
        changed = (
            lanes()
            .with_lane("query", LaneConfig(1, 3), 2)
            .with_backend(RedisBackend(server.url, ns))
            .build()
        )
        with pytest.raises(LaneConfigMismatch, match=r"lane 'query'.*max_concurrency") as info:
            await changed.start()
        assert "stored=10 here=3" in str(info.value)
        await changed.close()
        forced = (
            lanes()
            .with_lane("query", LaneConfig(1, 3), 2)
            .with_backend(RedisBackend(server.url, ns), overwrite_lanes=True)
            .build()
        )
        await forced.start()
        assert (await forced.stats()).lanes["query"].max_concurrency == 3
        await forced.close()
        await first.close()

    run(main())


def test_bad_input(server: RedisServer, ns: str) -> None:
    from lanecore.storage import MemoryStorage

    async def main() -> None:
        client = manager(server.url, ns)
        with pytest.raises(LaneNotFound):
            client.submit("nope", "echo", 1)
        with pytest.raises(TypeError, match="JSON"):
            client.submit("query", "echo", {1, 2})
        with pytest.raises(TypeError, match="command_id"):
            client.submit("query", "echo", 1, command_id=5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="command_type"):
            client.submit("query", "", 1)
        client.shutdown()
        with pytest.raises(ShutdownInProgress):
            client.submit("query", "echo", 1)
        await client.close()

    run(main())
    backend = RedisBackend(server.url, ns)
    with pytest.raises(ValueError, match="with_storage"):
        QueueManagerBuilder().with_default_lanes().with_storage(MemoryStorage()).with_backend(
            backend
        )
    with pytest.raises(ValueError, match="with_storage"):
        QueueManagerBuilder().with_default_lanes().with_backend(backend).with_storage(
            MemoryStorage()
        )
    with pytest.raises(ValueError, match=r"lease \(1s\).*'slow' timeout \(5s\)"):
        QueueManagerBuilder().with_lane("slow", LaneConfig().with_timeout(5), 0).with_backend(
            RedisBackend(server.url, ns, lease=1)
        ).build()
    with pytest.raises(ValueError, match="namespace"):
        RedisBackend(server.url, "a{b}")
    with pytest.raises(TypeError, match="RedisBackend"):
        QueueManagerBuilder().with_backend("redis://x")  # type: ignore[arg-type]


def test_cancel_pause_and_stats(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        worker = manager(server.url, ns)
        ran: list[Any] = []

        async def job(payload: Any) -> Any:
            ran.append(payload)
            return payload

        worker.register("job", job)
        async with worker:
            await worker.pause_lane("prompt")
            handles = [worker.submit("prompt", "job", i) for i in range(3)]
            await asyncio.gather(*(h.persisted() for h in handles))
            stats = await worker.stats()
            assert stats.lanes["prompt"].pending == 3 and stats.lanes["prompt"].paused
            assert await worker.cancel(handles[0].command_id)
            assert handles[0].cancelled()
            handles[1].cancel()
            await asyncio.sleep(0.1)
            await worker.resume_lane("prompt")
            assert await handles[2] == 2
            assert ran == [2]
            assert not await worker.cancel(handles[2].command_id)

    run(main())


def test_events_are_cluster_wide(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        worker = manager(server.url, ns)
        watcher = manager(server.url, ns)

        async def job(payload: Any) -> Any:
            return payload

        worker.register("job", job)
        async with worker, watcher:
            stream = watcher.subscribe()
            await watcher.events_ready()
            handle = worker.submit("query", "job", 1, command_id="ev-1")
            await handle
            seen = []
            while len(seen) < 3:
                event = await stream.recv(timeout=5)
                assert event is not None
                seen.append((event.key, event.payload))
            assert seen == [
                ("queue.command.submitted", {"lane_id": "query", "command_id": "ev-1"}),
                (
                    "queue.command.started",
                    {"lane_id": "query", "command_id": "ev-1", "command_type": "job"},
                ),
                ("queue.command.completed", {"lane_id": "query", "command_id": "ev-1"}),
            ]
            stream.close()

    run(main())


LANE_EVENTS = ["queue.lane.pressure", "queue.lane.idle"]


def pressure_lanes(threshold: int = 3) -> QueueManagerBuilder:
    return (
        QueueManagerBuilder()
        .with_lane("hot", LaneConfig(1, 2).with_pressure_threshold(threshold), 0)
        .with_lane("calm", LaneConfig(1, 2), 1)
    )


def pressure_manager(url: str, ns: str, threshold: int = 3) -> DistributedManager:
    backend = RedisBackend(url, ns, lease=1.0, grace=0.2)
    return pressure_lanes(threshold).with_backend(backend).build()


def test_lane_pressure_and_idle_events(server: RedisServer, ns: str) -> None:
    async def job(payload: Any) -> Any:
        return payload

    async def main() -> None:
        client = pressure_manager(server.url, ns)  # submit-only
        stream = client.subscribe_filtered(LANE_EVENTS)
        await client.events_ready()

        async def quiet() -> None:
            event = await stream.recv(timeout=0.3)
            assert event is None, f"unexpected {event!r}"

        handles = [client.submit("hot", "job", i) for i in range(2)]
        handles += [client.submit("calm", "job", i) for i in range(5)]  # no threshold: silent
        await asyncio.gather(*(h.persisted() for h in handles))
        await quiet()  # 2 pending in 'hot': below its threshold of 3

        handles.append(client.submit("hot", "job", 2))
        await handles[-1].persisted()
        event = await stream.recv(timeout=5)
        assert event is not None
        assert (event.key, event.payload) == ("queue.lane.pressure", {"lane_id": "hot"})

        # only the first crossing is reported, also when cancels keep it above the threshold
        extra = [client.submit("hot", "job", i) for i in range(3, 6)]
        await asyncio.gather(*(h.persisted() for h in extra))
        assert await client.cancel(extra[0].command_id)
        await quiet()
        handles += extra[1:]

        worker = pressure_manager(server.url, ns)
        worker.register("job", job)
        async with worker:
            await asyncio.gather(*handles)
            event = await stream.recv(timeout=5)
            assert event is not None
            assert (event.key, event.payload) == ("queue.lane.idle", {"lane_id": "hot"})
            await quiet()

            # a new crossing is reported again; cancelling the lane empty reports idle
            await worker.pause_lane("hot")
            again = [client.submit("hot", "job", i) for i in range(3)]
            await asyncio.gather(*(h.persisted() for h in again))
            event = await stream.recv(timeout=5)
            assert event is not None and event.key == "queue.lane.pressure"
            for handle in again:
                assert await client.cancel(handle.command_id)
            event = await stream.recv(timeout=5)
            assert event is not None
            assert (event.key, event.payload) == ("queue.lane.idle", {"lane_id": "hot"})
            await quiet()
            await worker.resume_lane("hot")
        stream.close()
        await client.close()

    run(main())


def test_pressure_threshold_is_part_of_the_stored_config(server: RedisServer, ns: str) -> None:
    async def main() -> None:
        first = pressure_manager(server.url, ns, threshold=3)
        await first.start()
        other = pressure_manager(server.url, ns, threshold=4)
        with pytest.raises(LaneConfigMismatch, match="pressure_threshold stored=3 here=4"):
            await other.start()
        await other.close()
        await first.close()

    run(main())


def test_equal_priority_lanes_take_turns(server: RedisServer, ns: str) -> None:
    def build() -> DistributedManager:
        return (
            QueueManagerBuilder()
            .with_lane("a", LaneConfig(1, 1), 2)
            .with_lane("b", LaneConfig(1, 1), 2)
            .with_lane("later", LaneConfig(1, 1), 3)
            .with_backend(RedisBackend(server.url, ns, lease=1.0, grace=0.2, concurrency=1))
            .build()
        )

    async def main() -> None:
        client = build()  # submit-only: everything is queued before a worker starts
        handles = [client.submit("a", "job", f"a{i}") for i in range(4)]
        handles += [client.submit("b", "job", f"b{i}") for i in range(4)]
        handles += [client.submit("later", "job", f"later{i}") for i in range(2)]
        await asyncio.gather(*(h.persisted() for h in handles))

        order: list[str] = []

        async def job(payload: Any) -> Any:
            order.append(payload)
            return payload

        worker = build()
        worker.register("job", job)
        async with worker:
            await asyncio.gather(*handles)
        # one slot: lanes of one level alternate, the lower level runs after both are empty
        assert order == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "later0", "later1"]
        await client.close()

    run(main())


def test_global_cap_below_the_lanes_total_min(server: RedisServer, ns: str) -> None:
    """Default lanes (six of min 1) under a cluster-wide cap of 1: strict priority, one at a
    time (once refused with ValueError)."""

    def build() -> DistributedManager:
        return (
            QueueManagerBuilder()
            .with_default_lanes()
            .with_global_concurrency(1)
            .with_backend(RedisBackend(server.url, ns, lease=1.0, grace=0.2, concurrency=4))
            .build()
        )

    async def main() -> None:
        client = build()  # submit-only: everything is queued before a worker starts
        handles = [client.submit("prompt", "job", f"prompt{i}") for i in range(2)]
        handles += [client.submit("skill", "job", "skill0"), client.submit("system", "job", "sys0")]
        await asyncio.gather(*(h.persisted() for h in handles))
        order: list[str] = []
        running = peak = 0

        async def job(payload: Any) -> Any:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            order.append(payload)
            await asyncio.sleep(0)
            running -= 1
            return payload

        worker = build()
        worker.register("job", job)
        async with worker:
            await asyncio.gather(*handles)
            stats = await worker.stats()
        assert order == ["sys0", "skill0", "prompt0", "prompt1"] and peak == 1
        assert [stats.lanes[lane].reserved for lane in worker.lane_ids] == [1, 0, 0, 0, 0, 0]
        await client.close()

    run(main())
