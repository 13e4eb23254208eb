"""a3s-lane's ``distributed`` module on asyncio: command envelopes, the ``DistributedQueue``
protocol, ``LocalDistributedQueue`` (one in-process queue per partition) and ``WorkerPool``.

Implement ``DistributedQueue`` to move envelopes between machines; the local queue is for one
event loop (not thread-safe). For lanes shared by many processes, see ``lanecore.redis``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lanecore._durations import check_int
from lanecore.partition import PartitionConfig, Partitioner, PartitionId

if TYPE_CHECKING:
    from lanecore.manager import QueueManager

logger = logging.getLogger("lanecore")

WorkerId = str
"""Names the process (or queue instance) that ran a command."""

DEFAULT_CAPACITY = 1000  # a3s-lane's channel size, per partition and for results

Executor = Callable[["CommandEnvelope"], Awaitable[Any]]


def _check_json(name: str, value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be JSON-serialisable, got {value!r} ({exc})") from None


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str, got {value!r}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CommandEnvelope:
    """A command as it travels to a worker: its type and JSON payload, plus routing."""

    id: str
    command_type: str
    lane_id: str
    partition_id: PartitionId
    payload: Any = None
    retry_count: int = 0
    created_at: datetime = field(default_factory=_utcnow)

    def __post_init__(self) -> None:
        _check_str("id", self.id)
        _check_str("command_type", self.command_type)
        _check_str("lane_id", self.lane_id)
        check_int("partition_id", self.partition_id, 0)
        check_int("retry_count", self.retry_count, 0)
        if not isinstance(self.created_at, datetime) or self.created_at.tzinfo is None:
            raise TypeError(
                f"created_at must be a timezone-aware datetime, got {self.created_at!r}"
            )
        _check_json("payload", self.payload)

    @classmethod
    def create(
        cls,
        command_type: str,
        lane_id: str,
        partition_id: PartitionId,
        payload: Any = None,
        *,
        id: str | None = None,
    ) -> CommandEnvelope:
        """A new envelope with a fresh uuid4 id (unless given) created now."""
        return cls(id or uuid.uuid4().hex, command_type, lane_id, partition_id, payload)

    def to_dict(self) -> dict[str, Any]:
        """The serde JSON shape a3s-lane uses (``created_at`` as RFC 3339, UTC)."""
        created = self.created_at.astimezone(UTC).isoformat()
        return {
            "id": self.id,
            "command_type": self.command_type,
            "lane_id": self.lane_id,
            "partition_id": self.partition_id,
            "payload": self.payload,
            "retry_count": self.retry_count,
            "created_at": created.replace("+00:00", "Z"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommandEnvelope:
        """The envelope ``to_dict`` (or a3s-lane) wrote; ValueError naming a missing field."""
        try:
            created = data["created_at"]
            return cls(
                data["id"],
                data["command_type"],
                data["lane_id"],
                data["partition_id"],
                data["payload"],
                data["retry_count"],
                datetime.fromisoformat(created) if isinstance(created, str) else created,
            )
        except KeyError as exc:
            raise ValueError(f"envelope lacks field {exc.args[0]!r}") from None


@dataclass(frozen=True)
class CommandResult:
    """What a worker reports for one envelope: a JSON value, or an error string (a3s-lane's
    ``Result<Value, String>``), the worker's id and how long it ran."""

    command_id: str
    worker_id: WorkerId
    value: Any = None
    error: str | None = None
    duration_ms: int = 0

    def __post_init__(self) -> None:
        _check_str("command_id", self.command_id)
        _check_str("worker_id", self.worker_id)
        check_int("duration_ms", self.duration_ms, 0)
        if self.error is not None:
            if not isinstance(self.error, str):
                raise TypeError(f"error must be a str or None, got {self.error!r}")
            if self.value is not None:
                raise ValueError("a CommandResult holds a value or an error, not both")
        _check_json("value", self.value)

    @property
    def ok(self) -> bool:
        """True when the command succeeded (``error`` is None)."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The serde JSON shape a3s-lane uses: ``result`` is ``{"Ok": v}`` or ``{"Err": s}``."""
        result = {"Ok": self.value} if self.error is None else {"Err": self.error}
        return {
            "command_id": self.command_id,
            "result": result,
            "worker_id": self.worker_id,
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommandResult:
        """The result ``to_dict`` (or a3s-lane) wrote; ValueError if malformed."""
        try:
            result = data["result"]
            if (
                not isinstance(result, Mapping)
                or len(result) != 1
                or not {"Ok", "Err"} & set(result)
            ):
                raise ValueError(
                    f'result must be {{"Ok": value}} or {{"Err": str}}, got {result!r}'
                )
            return cls(
                data["command_id"],
                data["worker_id"],
                value=result.get("Ok"),
                error=result.get("Err"),
                duration_ms=data["duration_ms"],
            )
        except KeyError as exc:
            raise ValueError(f"result lacks field {exc.args[0]!r}") from None


@runtime_checkable
class DistributedQueue(Protocol):
    """Moves envelopes from a coordinator to workers, partition by partition, and results
    back. ``dequeue`` returns None when the partition has nothing (it does not wait)."""

    async def enqueue(self, envelope: CommandEnvelope) -> None: ...

    async def dequeue(self, partition_id: PartitionId) -> CommandEnvelope | None: ...

    async def complete(self, result: CommandResult) -> None: ...

    @property
    def num_partitions(self) -> int: ...

    @property
    def worker_id(self) -> WorkerId: ...

    @property
    def is_coordinator(self) -> bool: ...

    @property
    def is_worker(self) -> bool: ...


class LocalDistributedQueue:
    """The in-process ``DistributedQueue``: an asyncio.Queue per partition plus one for
    results, each holding up to ``capacity`` items (0: unbounded); ``enqueue`` and
    ``complete`` wait while theirs is full. Both coordinator and worker, like a3s-lane's."""

    def __init__(
        self,
        partition_config: PartitionConfig | None = None,
        *,
        capacity: int = DEFAULT_CAPACITY,
        partitioner: Partitioner | None = None,
        worker_id: WorkerId | None = None,
    ) -> None:
        config = PartitionConfig.auto() if partition_config is None else partition_config
        if not isinstance(config, PartitionConfig):
            raise TypeError(f"partition_config must be a PartitionConfig, got {config!r}")
        check_int("capacity", capacity, 0)
        if partitioner is not None and not isinstance(partitioner, Partitioner):
            raise TypeError(f"partitioner must have partition(command, n), got {partitioner!r}")
        if worker_id is not None:
            _check_str("worker_id", worker_id)
        self._config = config
        self._partitioner = partitioner or config.create_partitioner()
        self._worker_id = worker_id or f"local-{uuid.uuid4()}"
        self._partitions: list[asyncio.Queue[CommandEnvelope]] = [
            asyncio.Queue(capacity) for _ in range(config.num_partitions)
        ]
        self._results: asyncio.Queue[CommandResult] = asyncio.Queue(capacity)

    @classmethod
    def auto(cls) -> LocalDistributedQueue:
        """One partition per CPU (``os.cpu_count()``), round-robin."""
        return cls(PartitionConfig.auto())

    @property
    def partition_config(self) -> PartitionConfig:
        return self._config

    @property
    def partitioner(self) -> Partitioner:
        return self._partitioner

    @property
    def num_partitions(self) -> int:
        return self._config.num_partitions

    @property
    def worker_id(self) -> WorkerId:
        return self._worker_id

    @property
    def is_coordinator(self) -> bool:
        return True

    @property
    def is_worker(self) -> bool:
        return True

    def _queue(self, partition_id: object) -> asyncio.Queue[CommandEnvelope]:
        index = check_int("partition_id", partition_id, 0, self.num_partitions - 1)
        return self._partitions[index]

    async def enqueue(self, envelope: CommandEnvelope) -> None:
        """Queue the envelope on its ``partition_id`` (ValueError if out of range)."""
        if not isinstance(envelope, CommandEnvelope):
            raise TypeError(f"enqueue takes a CommandEnvelope, got {envelope!r}")
        await self._queue(envelope.partition_id).put(envelope)

    async def submit(
        self, lane_id: str, command_type: str, payload: Any = None, *, id: str | None = None
    ) -> CommandEnvelope:
        """Coordinator shortcut: pick the partition with the partitioner, wrap, enqueue."""
        partition = self._partitioner.partition(command_type, self.num_partitions)
        envelope = CommandEnvelope.create(command_type, lane_id, partition, payload, id=id)
        await self.enqueue(envelope)
        return envelope

    async def dequeue(self, partition_id: PartitionId) -> CommandEnvelope | None:
        """The partition's next envelope, or None at once if it is empty (as a3s-lane)."""
        queue = self._queue(partition_id)
        return None if queue.empty() else queue.get_nowait()

    async def dequeue_wait(self, partition_id: PartitionId) -> CommandEnvelope:
        """The partition's next envelope, waiting for one; cancelling loses nothing."""
        return await self._queue(partition_id).get()

    async def complete(self, result: CommandResult) -> None:
        """Report a result; read it back with ``next_result``."""
        if not isinstance(result, CommandResult):
            raise TypeError(f"complete takes a CommandResult, got {result!r}")
        await self._results.put(result)

    async def next_result(self) -> CommandResult:
        """The oldest unread result, waiting for one."""
        return await self._results.get()

    def next_result_nowait(self) -> CommandResult | None:
        """The oldest unread result, or None if there is none yet."""
        return None if self._results.empty() else self._results.get_nowait()

    def pending(self, partition_id: PartitionId | None = None) -> int:
        """Envelopes waiting in one partition, or in all of them."""
        if partition_id is None:
            return sum(q.qsize() for q in self._partitions)
        return self._queue(partition_id).qsize()


class WorkerPool:
    """Runs ``executor(envelope)`` for every envelope, ``concurrency`` tasks per partition,
    and reports each outcome with ``complete``: the return value (JSON), or the exception
    as ``"Type: message"``."""

    def __init__(self, queue: DistributedQueue) -> None:
        if not isinstance(queue, DistributedQueue):
            raise TypeError(f"WorkerPool needs a DistributedQueue, got {queue!r}")
        self._queue = queue
        self._tasks: dict[asyncio.Task[None], bool] = {}  # task -> busy (not cancellable)
        self._stopping = False

    @property
    def is_running(self) -> bool:
        return bool(self._tasks) and not self._stopping

    def start(self, executor: Executor, *, concurrency: int = 1) -> None:
        """Start the workers on the running loop."""
        if not callable(executor):
            raise TypeError(f"executor must be an async callable(envelope), got {executor!r}")
        check_int("concurrency", concurrency, 1)
        if self._tasks:
            raise RuntimeError("this WorkerPool is already started")
        self._stopping = False
        for partition in range(self._queue.num_partitions):
            for _ in range(concurrency):
                task = asyncio.get_running_loop().create_task(self._work(partition, executor))
                self._tasks[task] = False

    async def shutdown(self) -> None:
        """Stop taking envelopes; commands already running finish and report first.
        Envelopes still queued stay in the queue."""
        self._stopping = True
        for task, busy in self._tasks.items():
            if not busy:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _work(self, partition: PartitionId, executor: Executor) -> None:
        task = asyncio.current_task()
        assert task is not None
        queue = self._queue
        idle = 0.001
        while not self._stopping:
            if isinstance(queue, LocalDistributedQueue):
                envelope: CommandEnvelope | None = await queue.dequeue_wait(partition)
                self._tasks[task] = True
            else:  # poll: a remote dequeue must not be cancelled mid-way
                self._tasks[task] = True
                try:
                    envelope = await queue.dequeue(partition)
                except Exception as exc:  # a flaky backend: log, back off, poll again
                    logger.warning("dequeue(%d) failed: %r", partition, exc)
                    envelope, idle = None, 0.05
            if envelope is None:
                self._tasks[task] = False
                await asyncio.sleep(idle)
                idle = min(idle * 2, 0.05)
                continue
            idle = 0.001
            result = await self._run(executor, envelope)
            try:
                await queue.complete(result)
            except Exception as exc:  # as a3s-lane: a lost report does not stop the worker
                logger.error("complete(%r) failed: %r", result.command_id, exc)
            self._tasks[task] = False

    async def _run(self, executor: Executor, envelope: CommandEnvelope) -> CommandResult:
        worker = self._queue.worker_id
        started = time.perf_counter()
        try:
            value = await executor(envelope)
            error = None
        except Exception as exc:
            value, error = None, f"{type(exc).__name__}: {exc}"
        ms = int((time.perf_counter() - started) * 1000)
        try:
            return CommandResult(envelope.id, worker, value, error, ms)
        except TypeError as exc:  # the value is not JSON
            return CommandResult(envelope.id, worker, error=f"TypeError: {exc}", duration_ms=ms)


def manager_executor(manager: QueueManager) -> Executor:
    """An executor that runs each envelope as a named command on ``manager`` (its lane,
    registered handler and payload), so lane priority, caps and retries apply."""

    async def execute(envelope: CommandEnvelope) -> Any:
        return await manager.submit(
            envelope.lane_id, envelope.command_type, envelope.payload, command_id=envelope.id
        )

    return execute
