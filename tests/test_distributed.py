"""a3s-lane's distributed protocol: partitioners, PartitionConfig, envelopes and results,
LocalDistributedQueue and WorkerPool (alone and running commands on a QueueManager)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from lanecore import (
    CommandEnvelope,
    CommandResult,
    CustomPartitioner,
    DistributedQueue,
    HashPartitioner,
    LaneConfig,
    LocalDistributedQueue,
    PartitionConfig,
    Partitioner,
    PartitionStrategy,
    QueueManagerBuilder,
    RoundRobinPartitioner,
    WorkerPool,
    manager_executor,
)

TYPES = ["fetch", "summarize", "embed", "tool_call", "ünïcode"]


class Typed:
    command_type = "summarize"

    async def execute(self) -> None:
        pass


# --- partitioners ---------------------------------------------------------------------


def test_round_robin_cycles_through_every_partition() -> None:
    rr = RoundRobinPartitioner()
    assert [rr.partition("same", 4) for _ in range(9)] == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert isinstance(rr, Partitioner)


def test_hash_keys_on_command_type_whatever_carries_it() -> None:
    h = HashPartitioner()
    for n in (1, 3, 8):
        for t in TYPES:
            p = h.partition(t, n)
            assert 0 <= p < n
            assert h.partition(t, n) == p  # same type, same partition
    envelope = CommandEnvelope.create("summarize", "llm", 0)
    assert h.partition(envelope, 7) == h.partition(Typed(), 7) == h.partition("summarize", 7)
    assert len({h.partition(t, 64) for t in TYPES}) > 1  # not all on one partition


def test_hash_is_stable_across_processes() -> None:
    h = HashPartitioner()
    here = [h.partition(t, 13) for t in TYPES]
    code = (
        "from lanecore import HashPartitioner as H; import sys; "
        f"print([H().partition(t, 13) for t in {TYPES!r}])"
    )
    for seed in ("1", "2"):  # a different string-hash salt in each child
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == repr(here)


def test_custom_partitioner_is_checked() -> None:
    c = CustomPartitioner(lambda t: 0 if t.startswith("high") else 1)
    assert c.partition("high_priority", 4) == 0
    assert c.partition(Typed(), 4) == 1
    with pytest.raises(ValueError, match=r"returned 5 for command type 'x'.*0\.\.3"):
        CustomPartitioner(lambda t: 5).partition("x", 4)
    with pytest.raises(ValueError, match="returned -1"):
        CustomPartitioner(lambda t: -1).partition("x", 4)
    with pytest.raises(TypeError, match="must return an int"):
        CustomPartitioner(lambda t: "0").partition("x", 4)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="callable"):
        CustomPartitioner(3)  # type: ignore[arg-type]


def test_partitioners_reject_a_bad_partition_count() -> None:
    for p in (RoundRobinPartitioner(), HashPartitioner(), CustomPartitioner(lambda t: 0)):
        with pytest.raises(ValueError, match="num_partitions must be >= 1, got 0"):
            p.partition("x", 0)
        with pytest.raises(TypeError, match="num_partitions must be an int"):
            p.partition("x", 2.0)  # type: ignore[arg-type]


# --- PartitionConfig ---------------------------------------------------------------------


def test_partition_config_constructors() -> None:
    cpus = os.cpu_count() or 1
    assert PartitionConfig.auto() == PartitionConfig(cpus, PartitionStrategy.ROUND_ROBIN)
    assert PartitionConfig() == PartitionConfig.auto()
    assert PartitionConfig.hash(8) == PartitionConfig(8, "hash")  # type: ignore[arg-type]
    assert PartitionConfig.round_robin(3).strategy is PartitionStrategy.ROUND_ROBIN
    assert PartitionConfig.none() == PartitionConfig(1, PartitionStrategy.NONE)
    assert isinstance(PartitionConfig.hash(2).create_partitioner(), HashPartitioner)
    assert isinstance(PartitionConfig.auto().create_partitioner(), RoundRobinPartitioner)
    assert isinstance(PartitionConfig.none().create_partitioner(), RoundRobinPartitioner)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((0,), ValueError, "num_partitions must be >= 1, got 0"),
        ((-2,), ValueError, "num_partitions must be >= 1, got -2"),
        ((2.0,), TypeError, "num_partitions must be an int, got 2.0"),
        ((True,), TypeError, "num_partitions must be an int, got True"),
        ((2, "sticky"), ValueError, "strategy must be one of .*got 'sticky'"),
        ((2, 1), TypeError, "strategy must be a PartitionStrategy or str, got 1"),
        ((4, PartitionStrategy.NONE), ValueError, "single partition, got num_partitions=4"),
    ],
)
def test_bad_partition_configs_fail_at_once(
    args: tuple[Any, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        PartitionConfig(*args)


# --- envelopes and results ---------------------------------------------------------------


def test_envelope_payload_must_be_json() -> None:
    for bad in ({1, 2}, object(), {"x": float("nan")}, b"bytes"):
        with pytest.raises(TypeError, match="payload must be JSON-serialisable"):
            CommandEnvelope.create("t", "lane", 0, bad)
    with pytest.raises(TypeError, match="lane_id must be a non-empty str"):
        CommandEnvelope("id", "t", "", 0)
    with pytest.raises(ValueError, match="partition_id must be >= 0"):
        CommandEnvelope("id", "t", "lane", -1)
    with pytest.raises(TypeError, match="timezone-aware"):
        CommandEnvelope("id", "t", "lane", 0, created_at=datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="value must be JSON-serialisable"):
        CommandResult("id", "w", {1})
    with pytest.raises(ValueError, match="value or an error, not both"):
        CommandResult("id", "w", 1, "boom")


def test_envelope_and_result_round_trip_in_a3s_lane_shape() -> None:
    e = CommandEnvelope(
        "cmd1", "test", "query", 2, {"k": [1, 2]}, 3, datetime(2024, 5, 1, tzinfo=UTC)
    )
    d = e.to_dict()
    assert d["created_at"] == "2024-05-01T00:00:00Z"
    assert CommandEnvelope.from_dict(d) == e
    # what chrono writes (nanoseconds, Z) parses too
    d2 = {**d, "created_at": "2024-05-01T00:00:00.123456789Z"}
    assert CommandEnvelope.from_dict(d2).created_at.microsecond == 123456
    with pytest.raises(ValueError, match="lacks field 'lane_id'"):
        CommandEnvelope.from_dict({k: v for k, v in d.items() if k != "lane_id"})
    ok = CommandResult("cmd1", "worker1", {"v": 1}, duration_ms=150)
    err = CommandResult("cmd1", "worker1", error="boom")
    assert ok.ok and not err.ok
    assert ok.to_dict()["result"] == {"Ok": {"v": 1}}
    assert err.to_dict()["result"] == {"Err": "boom"}
    assert CommandResult.from_dict(ok.to_dict()) == ok
    assert CommandResult.from_dict(err.to_dict()) == err
    with pytest.raises(ValueError, match="result must be"):
        CommandResult.from_dict({**ok.to_dict(), "result": {"Maybe": 1}})


# --- LocalDistributedQueue ---------------------------------------------------------------


def test_auto_uses_the_cpu_count() -> None:
    q = LocalDistributedQueue.auto()
    assert q.num_partitions == os.cpu_count()
    assert q.is_coordinator and q.is_worker
    assert q.worker_id.startswith("local-")
    assert isinstance(q, DistributedQueue)


def test_local_queue_bad_arguments() -> None:
    with pytest.raises(TypeError, match="partition_config must be a PartitionConfig"):
        LocalDistributedQueue(4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity must be >= 0"):
        LocalDistributedQueue(PartitionConfig(2), capacity=-1)
    with pytest.raises(TypeError, match="partitioner must"):
        LocalDistributedQueue(PartitionConfig(2), partitioner=lambda: 0)  # type: ignore[arg-type]


def test_enqueue_dequeue_complete_and_read_back(run: Any) -> None:
    async def main() -> None:
        q = LocalDistributedQueue(PartitionConfig.hash(4), worker_id="w1")
        envelope = CommandEnvelope.create("test", "query", 2, {"n": 1}, id="cmd1")
        await q.enqueue(envelope)
        assert q.pending() == q.pending(2) == 1
        for other in (0, 1, 3):
            assert await q.dequeue(other) is None  # empty: None at once, no waiting
        got = await q.dequeue(2)
        assert got == envelope
        assert await q.dequeue(2) is None
        assert q.next_result_nowait() is None
        await q.complete(CommandResult(got.id, q.worker_id, {"done": got.payload["n"]}))
        result = await q.next_result()
        assert (result.command_id, result.worker_id, result.value) == ("cmd1", "w1", {"done": 1})
        # the partitioner picks the partition on submit: hash keeps a type together
        a = await q.submit("query", "embed", [1])
        b = await q.submit("query", "embed", [2])
        assert a.partition_id == b.partition_id == q.partitioner.partition("embed", 4)
        assert await q.dequeue_wait(a.partition_id) == a
        with pytest.raises(ValueError, match=r"partition_id must be in 0\.\.3, got 4"):
            await q.dequeue(4)
        with pytest.raises(ValueError, match="partition_id must be in"):
            await q.enqueue(CommandEnvelope.create("t", "query", 9))
        with pytest.raises(TypeError, match="takes a CommandEnvelope"):
            await q.enqueue({"id": "x"})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="takes a CommandResult"):
            await q.complete("done")  # type: ignore[arg-type]

    run(main())


def test_bounded_partition_applies_backpressure(run: Any) -> None:
    async def main() -> None:
        q = LocalDistributedQueue(PartitionConfig.none(), capacity=1)
        await q.enqueue(CommandEnvelope.create("t", "l", 0))
        blocked = asyncio.ensure_future(q.enqueue(CommandEnvelope.create("t", "l", 0)))
        await asyncio.sleep(0.01)
        assert not blocked.done()
        assert await q.dequeue(0) is not None
        await asyncio.wait_for(blocked, 1)
        assert q.pending() == 1

    run(main())


# --- WorkerPool --------------------------------------------------------------------------


def test_concurrent_workers_process_everything_exactly_once(run: Any) -> None:
    async def main() -> None:
        q = LocalDistributedQueue(PartitionConfig.round_robin(4), capacity=0)
        seen: Counter[str] = Counter()
        partitions: set[int] = set()

        async def execute(envelope: CommandEnvelope) -> Any:
            seen[envelope.id] += 1
            partitions.add(envelope.partition_id)
            await asyncio.sleep(0)
            if envelope.payload % 10 == 0:
                raise RuntimeError(f"no {envelope.payload}")
            return envelope.payload * 2

        pool = WorkerPool(q)
        pool.start(execute, concurrency=3)
        assert pool.is_running
        sent = [await q.submit("work", "double", i) for i in range(200)]
        results = [await asyncio.wait_for(q.next_result(), 5) for _ in sent]
        await pool.shutdown()
        assert not pool.is_running
        assert seen == Counter(e.id for e in sent)  # each exactly once
        assert partitions == {0, 1, 2, 3}
        by_id = {r.command_id: r for r in results}
        for e in sent:
            r = by_id[e.id]
            if e.payload % 10 == 0:
                assert r.error == f"RuntimeError: no {e.payload}"
            else:
                assert r.ok and r.value == e.payload * 2
        assert q.next_result_nowait() is None and q.pending() == 0

    run(main())


def test_shutdown_lets_a_running_command_finish(run: Any) -> None:
    async def main() -> None:
        q = LocalDistributedQueue(PartitionConfig.none())
        started = asyncio.Event()

        async def slow(envelope: CommandEnvelope) -> Any:
            started.set()
            await asyncio.sleep(0.05)
            return {1, 2}  # not JSON: reported as an error, not lost

        pool = WorkerPool(q)
        pool.start(slow)
        await q.submit("l", "slow")
        await started.wait()
        await pool.shutdown()
        result = q.next_result_nowait()
        assert result is not None and result.error is not None
        assert result.error.startswith("TypeError: value must be JSON-serialisable")
        with pytest.raises(TypeError, match="DistributedQueue"):
            WorkerPool(object())  # type: ignore[arg-type]

    run(main())


class PollingQueue:
    """A DistributedQueue that is not a LocalDistributedQueue: the pool polls it."""

    def __init__(self) -> None:
        self.inner = LocalDistributedQueue(PartitionConfig.round_robin(2), worker_id="poll")
        self.num_partitions = 2
        self.worker_id = "poll"
        self.is_coordinator = self.is_worker = True

    async def enqueue(self, envelope: CommandEnvelope) -> None:
        await self.inner.enqueue(envelope)

    async def dequeue(self, partition_id: int) -> CommandEnvelope | None:
        return await self.inner.dequeue(partition_id)

    async def complete(self, result: CommandResult) -> None:
        await self.inner.complete(result)


def test_pool_polls_any_distributed_queue(run: Any) -> None:
    async def main() -> None:
        q = PollingQueue()
        assert isinstance(q, DistributedQueue)

        async def echo(envelope: CommandEnvelope) -> Any:
            return envelope.payload

        pool = WorkerPool(q)
        pool.start(echo)
        await asyncio.sleep(0.02)  # let the workers go idle first
        for i in range(10):
            await q.enqueue(CommandEnvelope.create("echo", "l", i % 2, i))
        results = [await asyncio.wait_for(q.inner.next_result(), 5) for _ in range(10)]
        await pool.shutdown()
        assert sorted(r.value for r in results) == list(range(10))
        assert {r.worker_id for r in results} == {"poll"}

    run(main())


def test_manager_executor_runs_envelopes_on_lanes(run: Any) -> None:
    async def main() -> None:
        manager = QueueManagerBuilder().with_lane("llm", LaneConfig(1, 2), 5).build()

        async def summarize(payload: Any) -> Any:
            return f"summary of {payload['doc']}"

        manager.register("summarize", summarize)
        q = LocalDistributedQueue(PartitionConfig.hash(2))
        pool = WorkerPool(q)
        async with manager:
            pool.start(manager_executor(manager))
            await q.submit("llm", "summarize", {"doc": 42})
            await q.submit("nope", "summarize", {"doc": 1})
            results = [await asyncio.wait_for(q.next_result(), 5) for _ in range(2)]
            await pool.shutdown()
        ok, bad = sorted(results, key=lambda r: not r.ok)
        assert ok.value == "summary of 42"
        assert bad.error is not None and "LaneNotFound" in bad.error

    run(main())
