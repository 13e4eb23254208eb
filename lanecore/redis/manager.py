"""DistributedManager: the lane manager of one process in a Redis-backed cluster.

Any process can ``submit`` named commands; a process that ``register``s handlers and
``start``s also works: it claims commands by the cluster-wide lane rules and runs them.
Names follow the local ``QueueManager``; calls that need Redis (stats, cancel, dead letters,
drain) are coroutines. Acknowledged means ``await handle.persisted()`` returned: the command
is in Redis and (with AOF) survives any process and a Redis restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, cast

from redis.asyncio import Redis

from lanecore._durations import Duration, to_seconds
from lanecore.config import LaneConfig
from lanecore.durable import HandlerRegistry
from lanecore.errors import LaneFull, LaneNotFound, ShutdownInProgress
from lanecore.events import SHUTDOWN_STARTED, EventFilter, EventHub, EventStream
from lanecore.groups import check_group
from lanecore.redis import lanes as lane_codec
from lanecore.redis.base import BackendBase
from lanecore.redis.dlq import RedisDeadLetters
from lanecore.redis.events import EventReader
from lanecore.redis.handle import RemoteHandle
from lanecore.redis.options import pack as pack_options
from lanecore.redis.submitter import Submitter
from lanecore.redis.worker import Worker
from lanecore.stats import LaneStatus, QueueStats
from lanecore.storage.records import encode_payload
from lanecore.templates import LaneTemplate, check_lane_spec

logger = logging.getLogger("lanecore.redis")

ROOM_POLL = (0.005, 0.1)  # put(): first and longest pause between tries on a full lane
DROP_POLL = 0.02  # remove_lane(): pause between checks that the lane is empty


class DistributedManager:
    """Lanes shared through Redis; built by ``QueueManagerBuilder()...with_backend(b).build()``."""

    def __init__(
        self,
        backend: BackendBase,
        lanes: list[lane_codec.LaneSpec],
        *,
        global_concurrency: int = 0,
        dlq_size: int = 1000,
        event_buffer: int = 1024,
        overwrite_lanes: bool = False,
        templates: Sequence[LaneTemplate] = (),
    ) -> None:
        if not lanes and not templates:
            raise ValueError("a distributed manager needs at least one lane or lane template")
        lane_codec.check_lease(
            [*lanes, *((t.prefix, t.config, t.priority) for t in templates)],
            backend.lease,
            backend.grace,
        )
        self.backend = backend
        self._lanes: dict[str, tuple[LaneConfig, int]] = {
            lane_id: (config, priority) for lane_id, config, priority in lanes
        }
        self._remote_lanes: dict[str, LaneConfig] = {}
        self._templates = list(templates)
        self._templated: dict[str, LaneTemplate] = {}  # lanes this process made from one
        self._removing: set[str] = set()
        self._room: dict[str, deque[asyncio.Future[None]]] = {}  # put() waiters per lane
        self._global = global_concurrency
        self._dlq_size = dlq_size
        self._overwrite = overwrite_lanes
        self._registry = HandlerRegistry()
        self._hub = EventHub(event_buffer)
        self._events = EventReader(backend, self._hub)
        self._submitter = Submitter(backend, self._connected_void, self._lane_defs, self._stop)
        self._dlq = RedisDeadLetters(self)
        self._client: Redis | None = None
        self._connecting: asyncio.Task[Redis] | None = None
        self._worker: Worker | None = None
        self._next = 0
        self._shutdown = False
        self._closed = False
        self._cancels: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ registry
    def register(
        self,
        command_type: str,
        handler: Any,
        *,
        run_in_executor: bool = False,
        replace: bool = False,
    ) -> None:
        """Run ``async def handler(payload)`` for commands of ``command_type`` claimed by this
        process (every worker of a namespace should register the same types: a worker that
        claims a type it does not know fails that attempt with UnknownCommandType)."""
        self._registry.register(
            command_type, handler, run_in_executor=run_in_executor, replace=replace
        )

    @property
    def command_types(self) -> list[str]:
        return self._registry.command_types

    def _known_config(self, lane_id: str) -> LaneConfig | None:
        """The config of a lane this process already knows (no Redis read), else None."""
        known = self._lanes.get(lane_id)
        if known is not None:
            return known[0]
        return self._remote_lanes.get(lane_id)

    async def _lane_config(self, lane_id: str) -> LaneConfig:
        """This manager's config of a lane, or the stored one for lanes another app added."""
        config = self._known_config(lane_id)
        if config is None:
            client = await self._connected()
            text = await cast(
                "Awaitable[str | None]", client.hget(self.backend.keys.config, lane_id)
            )
            if text is None:
                raise LaneNotFound(lane_id, self.lane_ids)
            config = self._remote_lanes[lane_id] = lane_codec.decode(text)[0]
        return config

    # ------------------------------------------------------------------ connecting
    async def _connected(self) -> Redis:
        """The main client, after the lanes are stored/checked and results are subscribed."""
        if self._client is not None:
            return self._client
        if self._closed:
            raise ShutdownInProgress("the manager is closed")
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        except BaseException:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None
            raise

    async def _connected_void(self) -> None:
        await self._connected()

    async def _connect(self) -> Redis:
        backend = self.backend
        await backend.ping()
        client = backend.client()
        try:
            await self._store_lanes(client)
            await self._submitter.start()
        except BaseException:
            await backend.release(client)
            raise
        self._client = client
        return client

    async def _store_lanes(self, client: Redis) -> None:
        settings = json.dumps({"global_concurrency": self._global}, sort_keys=True)
        args: list[Any] = [
            "1" if self._overwrite else "0",
            settings,
            self._global,
            self._dlq_size,
            len(self._lanes),
        ]
        for lane_id, (config, priority) in self._lanes.items():
            args += lane_codec.runtime_args(lane_id, config, priority)
        reply = await self.backend.retrying(
            "storing the lane configs", lambda: self.backend.scripts.config(client, *args)
        )
        if reply[0] == "mismatch":
            lane_id, stored = reply[1], reply[2]
            mine = settings if lane_id == "" else lane_codec.encode(*self._lanes[lane_id])
            raise lane_codec.LaneConfigMismatch(
                lane_codec.describe_difference(lane_id, stored, mine)
                + f" (namespace {self.backend.namespace!r}; build with "
                "with_backend(backend, overwrite_lanes=True) to replace the stored config)"
            )

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, worker: bool | None = None) -> None:
        """Connect, store (or check) the lane configs and listen for results; with
        ``worker=True`` — the default when handlers are registered — also claim and run
        commands. Raises LaneConfigMismatch, or ConnectionError when Redis is unreachable."""
        await self._connected()
        run_worker = bool(self._registry.command_types) if worker is None else worker
        if run_worker and self._worker is None:
            if not self._registry.command_types:
                raise ValueError("start(worker=True) needs at least one registered handler")
            self._worker = Worker(
                self.backend,
                self._registry.handler,
                self._lane_config,
                known_config=self._known_config,
                worker_id=self._submitter.client_id,
                sweep_lanes=bool(self._templates),
            )
            self._worker.start()
            if self._shutdown:
                self._worker.stop_claiming()

    @property
    def worker(self) -> Worker | None:
        """This process's worker (None for a submit-only client)."""
        return self._worker

    def shutdown(self) -> None:
        """Stop accepting submits and emit queue.shutdown.started; the worker stops claiming
        once the commands this process submitted have finished (so a lone process still
        drains its own work), and finishes what it runs."""
        if self._shutdown:
            return
        self._shutdown = True
        self._hub.emit(SHUTDOWN_STARTED, {})
        self._stop_claiming_when_idle()

    def _stop_claiming_when_idle(self) -> None:
        worker = self._worker
        if worker is None:
            return
        outstanding = list(self._submitter.outstanding.values())
        if not outstanding:
            worker.stop_claiming()
            return
        waiter = asyncio.gather(*outstanding, return_exceptions=True)
        waiter.add_done_callback(lambda _: self._stop_claiming_when_idle())

    async def drain(self, timeout: Duration | None = None) -> None:
        """Wait until every command this process submitted has finished and (for a worker)
        every command it claimed is acked; TimeoutError after ``timeout`` seconds (nothing is
        dropped). Call after ``shutdown()`` for a worker to stop claiming."""
        seconds = None if timeout is None else to_seconds("timeout", timeout, allow_zero=True)
        try:
            async with asyncio.timeout(seconds):
                await self._submitter.wait_sent()
                while self._submitter.outstanding:
                    await asyncio.gather(
                        *list(self._submitter.outstanding.values()), return_exceptions=True
                    )
                worker = self._worker
                if worker is not None and not worker.claiming and worker.stopped is not None:
                    await asyncio.shield(worker.stopped)
        except TimeoutError:
            pending = len(self._submitter.outstanding)
            running = 0 if self._worker is None else len(self._worker.running)
            raise TimeoutError(
                f"drain timed out after {seconds:g}s: {pending} submitted command(s) "
                f"unfinished, {running} running here"
            ) from None

    async def close(self) -> None:
        """Stop everything: running commands are cancelled unacked (another worker runs them
        again after their lease), outstanding handles are cancelled, connections closed."""
        if self._closed:
            return
        self._closed = self._shutdown = True
        if self._worker is not None:
            await self._worker.aclose()
        if self._cancels:
            await asyncio.gather(*self._cancels, return_exceptions=True)
        await self._events.aclose()
        await self._submitter.aclose()
        self._hub.close_all()
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        await self.backend.aclose()
        self._client = None

    async def __aenter__(self) -> DistributedManager:
        await self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.shutdown()
                await self.drain()
        finally:
            await self.close()

    # ------------------------------------------------------------------ submitting
    def _submit_lane(self, lane_id: str) -> LaneConfig:
        """The config of the lane a submit goes to (made from a template if need be)."""
        if self._shutdown:
            raise ShutdownInProgress("the manager was shut down; submit is refused")
        known = self._lanes.get(lane_id)
        if known is not None and lane_id not in self._removing:
            return known[0]
        remote = self._remote_lanes.get(lane_id)
        if remote is not None:
            return remote
        if isinstance(lane_id, str) and lane_id not in self._removing:
            for template in self._templates:
                if lane_id.startswith(template.prefix):
                    self._lanes[lane_id] = (template.config, template.priority)
                    self._templated[lane_id] = template
                    return template.config
        raise LaneNotFound(lane_id, self.lane_ids)

    def _lane_defs(self, lane_ids: set[str]) -> list[Any]:
        """submit.lua's templated lane definitions for the lanes of one batch: the script
        makes a lane that is missing (never made, or swept while idle) before queueing."""
        fields: list[Any] = [0]
        for lane_id in lane_ids:
            template = self._templated.get(lane_id)
            if template is not None:
                fields += lane_codec.runtime_args(lane_id, template.config, template.priority)
                fields.append(int(template.idle_ttl * 1000))
                fields[0] += 1
        return fields

    def submit(
        self,
        lane_id: str,
        command_type: str,
        payload: Any = None,
        *,
        command_id: str | None = None,
        cost: int | None = None,
        delay: Duration | None = None,
        group: str | None = None,
    ) -> RemoteHandle:
        """Queue a named command (a plain call; the batch of this loop iteration goes to
        Redis as one script call). Returns a RemoteHandle whose ``persisted()`` is the
        acknowledgement. A ``command_id`` that already exists is never queued twice: the
        handle follows the existing command (or resolves with its stored outcome).
        ``cost``, ``delay`` and ``group`` as on the local manager. LaneNotFound,
        ShutdownInProgress, TypeError (payload not JSON) and bad options are raised here; a
        lane at its ``max_pending`` (checked atomically in Redis) fails ``persisted()`` and
        the handle with LaneFull, nothing queued."""
        config = self._submit_lane(lane_id)
        options = pack_options(lane_id, config, cost, delay, group)
        text = self._encode(command_type, payload)
        submitter = self._submitter
        if command_id is not None:
            if not isinstance(command_id, str) or not command_id:
                raise TypeError(f"command_id must be a non-empty str, got {command_id!r}")
            existing = submitter.outstanding.get(command_id)
            if existing is not None:
                return existing
        return self._queue(lane_id, command_type, text, options, command_id)

    @staticmethod
    def _encode(command_type: Any, payload: Any) -> str:
        """The payload's JSON text, after checking the command type (TypeError for either)."""
        if not isinstance(command_type, str) or not command_type:
            raise TypeError(f"command_type must be a non-empty str, got {command_type!r}")
        try:
            return encode_payload(command_type, payload)
        except TypeError as exc:
            raise TypeError(
                f"payload of a {command_type!r} command must be JSON-serialisable: "
                f"{exc.__cause__ or exc}"
            ) from None

    def _queue(
        self, lane_id: str, command_type: str, text: str, options: str, command_id: str | None
    ) -> RemoteHandle:
        """Make the handle of a checked submit and queue it for this iteration's batch."""
        submitter = self._submitter
        if command_id is None:
            self._next += 1
            command_id = f"{submitter.client_id}-{self._next}"
        loop = asyncio.get_running_loop()
        handle = RemoteHandle(loop=loop)
        handle.command_id = command_id
        handle.lane_id = lane_id
        handle.command_type = command_type
        handle._stored = loop.create_future()
        handle._manager = self
        submitter.add((handle, lane_id, command_type, text, options))
        return handle

    def submit_many(self, lane_id: str, commands: Iterable[tuple[str, Any]]) -> list[RemoteHandle]:
        """Submit ``(command_type, payload)`` pairs; all are checked (and each payload encoded,
        once) before any is queued."""
        batch = list(commands)
        self._submit_lane(lane_id)
        encode = self._encode
        texts = [encode(command_type, payload) for command_type, payload in batch]
        queue = self._queue
        return [
            queue(lane_id, command_type, text, "", None)
            for (command_type, _), text in zip(batch, texts, strict=True)
        ]

    async def put(
        self,
        lane_id: str,
        command_type: str,
        payload: Any = None,
        *,
        command_id: str | None = None,
        cost: int | None = None,
        delay: Duration | None = None,
        group: str | None = None,
    ) -> RemoteHandle:
        """``submit``, waiting for room in a lane bounded by ``with_max_pending``; returns
        the handle once Redis holds the command. This process's waiters on a lane go in
        arrival order (the head retries as the lane drains, every ``ROOM_POLL`` at most);
        cancelling a waiting ``put`` queues nothing."""
        pack_options(lane_id, self._submit_lane(lane_id), cost, delay, group)  # fail now
        waiters = self._room.setdefault(lane_id, deque())
        turn = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        if waiters[0] is turn:
            turn.set_result(None)
        try:
            await turn
            pause = ROOM_POLL[0]
            while True:
                handle = self.submit(
                    lane_id,
                    command_type,
                    payload,
                    command_id=command_id,
                    cost=cost,
                    delay=delay,
                    group=group,
                )
                try:
                    await handle.persisted()
                    return handle
                except LaneFull:
                    handle.exception()  # retrieved: this try is over
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, ROOM_POLL[1])
                except BaseException:
                    handle.cancel()  # a cancelled put leaves nothing queued
                    raise
        finally:
            waiters.remove(turn)
            if waiters and not waiters[0].done():
                waiters[0].set_result(None)
            if not waiters:
                del self._room[lane_id]

    async def _retry_dead_letter(self, command_id: str) -> RemoteHandle:
        client = await self._connected()
        submitter = self._submitter
        letter = await self._dlq.get(command_id)
        if letter is None:
            raise LookupError(f"no dead letter with command_id {command_id!r}")
        loop = asyncio.get_running_loop()
        handle = RemoteHandle(loop=loop)
        handle.command_id = command_id
        handle.lane_id = letter.lane_id
        handle.command_type = letter.command_type
        handle._stored = loop.create_future()
        handle._manager = self
        submitter.outstanding[command_id] = handle
        handle.add_done_callback(submitter._forget)
        done = await self.backend.scripts.dlq(client, "retry", command_id, submitter.channel)
        if not done:
            handle._stored.set_result(None)
            asyncio.Future.cancel(handle)
            raise LookupError(f"no dead letter with command_id {command_id!r}")
        handle._stored.set_result(None)
        return handle

    # ------------------------------------------------------------------ cancelling, pausing
    async def cancel(self, command_id: str) -> bool:
        """Cancel a command that is pending, scheduled, waiting to retry or running (anywhere
        in the cluster); False if it is finished or unknown. A running one's slot is freed at
        once and its worker (any process) cancels its task. Its handles are cancelled."""
        client = await self._connected()
        state = await self.backend.scripts.cancel(client, command_id, self.backend.result_ttl_ms)
        handle = self._submitter.outstanding.get(command_id)
        if state in ("p", "d", "a"):
            if handle is not None:
                asyncio.Future.cancel(handle)
            return True
        return False

    async def cancel_group(self, group: str) -> int:
        """Cancel every pending, scheduled, retrying and running command of ``group``
        cluster-wide; returns how many. A running one's slot is freed at once and the worker
        running it (any process) cancels its task; its handles are cancelled."""
        check_group(group)
        client = await self._connected()
        return int(
            await self.backend.scripts.group(client, "cancel", group, self.backend.result_ttl_ms)
        )

    async def group_size(self, group: str) -> int:
        """How many commands of ``group`` are unfinished (cluster-wide)."""
        check_group(group)
        client = await self._connected()
        return int(await self.backend.scripts.group(client, "size", group))

    def _stop(self, command_id: str, token: str) -> None:
        if self._worker is not None:
            self._worker.stop(command_id, token)

    def _cancel_later(self, command_id: str) -> None:
        """A handle was cancelled: cancel its command in Redis in the background."""
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self.cancel(command_id))
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    async def pause_lane(self, lane_id: str) -> None:
        """Stop dispatch from a lane cluster-wide (running commands carry on)."""
        await self._pause(lane_id, "1")

    async def resume_lane(self, lane_id: str) -> None:
        await self._pause(lane_id, "0")

    async def _pause(self, lane_id: str, flag: str) -> None:
        if lane_id not in self._lanes:
            await self._lane_config(lane_id)  # LaneNotFound unless another process added it
        client = await self._connected()
        await self.backend.scripts.pause(client, lane_id, flag)

    # ------------------------------------------------------------------ lanes at run time
    async def add_lane(self, lane_id: str, config: LaneConfig | None, priority: int) -> None:
        """Add a lane to the namespace while running: every process can submit to it once it
        knows it (this one at once), every worker claims from it. A lane of that id already
        in the namespace raises ValueError; bad values raise as for ``with_lane``."""
        lane_id, config, priority = check_lane_spec(
            lane_id, LaneConfig() if config is None else config, priority
        )
        lane_codec.check_lease(
            [(lane_id, config, priority)], self.backend.lease, self.backend.grace
        )
        if self._shutdown:
            raise ShutdownInProgress("the manager was shut down; no lanes can be added")
        if lane_id in self._lanes and lane_id not in self._removing:
            raise ValueError(f"duplicate lane id {lane_id!r}")
        client = await self._connected()
        args = lane_codec.runtime_args(lane_id, config, priority)
        reply = await self.backend.scripts.lanes(client, "add", *args)
        if reply[0] == "exists":
            raise ValueError(
                f"duplicate lane id {lane_id!r}: namespace {self.backend.namespace!r} already "
                f"has it (stored config {reply[1]})"
            )
        self._removing.discard(lane_id)
        self._lanes[lane_id] = (config, priority)
        self._remote_lanes.pop(lane_id, None)

    async def refresh_lanes(self) -> list[str]:
        """Learn the lanes other processes added at run time, so ``submit`` here accepts
        them (a lane removed since is refused by Redis: LaneNotFound from ``persisted()``);
        returns every lane id of the namespace."""
        client = await self._connected()
        keys = self.backend.keys
        pipe = client.pipeline(transaction=True)
        pipe.zrange(keys.lanes, 0, -1)
        pipe.hgetall(keys.config)
        lane_ids, stored = await pipe.execute()
        self._remote_lanes = {
            lane_id: lane_codec.decode(stored[lane_id])[0]
            for lane_id in lane_ids
            if lane_id not in self._lanes and lane_id in stored
        }
        return list(lane_ids)

    async def remove_lane(self, lane_id: str, *, cancel_pending: bool = False) -> None:
        """Remove a lane from the namespace: submits to it are refused at once (LaneNotFound,
        here at once and in every process by the submit script), what it holds runs to the
        end (``cancel_pending=True``: its pending, delayed and retrying commands are
        cancelled; running ones finish), then it is deleted from Redis."""
        if not isinstance(cancel_pending, bool):
            raise TypeError(f"cancel_pending must be a bool, got {cancel_pending!r}")
        if lane_id not in self._lanes or lane_id in self._removing:
            await self._lane_config(lane_id)  # LaneNotFound unless another process added it
        client = await self._connected()
        self._removing.add(lane_id)
        scripts, ttl = self.backend.scripts, self.backend.result_ttl_ms
        try:
            if (
                await scripts.lanes(client, "close", lane_id, "1" if cancel_pending else "0", ttl)
                < 0
            ):
                raise LaneNotFound(lane_id, self.lane_ids)
            while not await scripts.lanes(client, "drop", lane_id):
                await asyncio.sleep(DROP_POLL)
        except BaseException:
            self._removing.discard(lane_id)
            raise
        self._lanes.pop(lane_id, None)
        self._templated.pop(lane_id, None)
        self._remote_lanes.pop(lane_id, None)
        self._removing.discard(lane_id)

    # ------------------------------------------------------------------ observing
    def subscribe(self, *, buffer_size: int | None = None) -> EventStream:
        """Cluster-wide events (SPEC §6 keys) from now on; needs a running loop."""
        return self.subscribe_filtered(None, buffer_size=buffer_size)

    def subscribe_filtered(
        self, accept: EventFilter, *, buffer_size: int | None = None
    ) -> EventStream:
        stream = self._hub.subscribe(accept, buffer_size)
        if not stream.closed:
            self._events.ensure_running()
        return stream

    async def events_ready(self) -> None:
        """Wait until events are being read from Redis (after ``subscribe``)."""
        await self._connected()
        await self._events.ensure_running()

    @property
    def dlq(self) -> RedisDeadLetters:
        return self._dlq

    @property
    def lane_ids(self) -> list[str]:
        return list(self._lanes)

    @property
    def is_shutdown(self) -> bool:
        return self._shutdown

    def lane_config(self, lane_id: str) -> LaneConfig:
        try:
            return self._lanes[lane_id][0]
        except KeyError:
            raise LaneNotFound(lane_id, self.lane_ids) from None

    async def stats(self) -> QueueStats:
        """Cluster-wide: pending, active and granted reservation per lane (every lane stored
        in the namespace), commands waiting to retry and dead letters, in one transaction."""
        client = await self._connected()
        keys = self.backend.keys
        lane_ids = await cast("Awaitable[list[str]]", client.zrange(keys.lanes, 0, -1))
        pipe = client.pipeline(transaction=True)
        for lane_id in lane_ids:
            pipe.llen(keys.queue(lane_id))
            pipe.hmget(keys.lane(lane_id), ["pr", "min", "max", "act", "pause", "ord", "sch"])
        pipe.hget(keys.info, "gcap")
        pipe.zcard(keys.delayed)
        pipe.zcard(keys.dlq)
        rows = await pipe.execute()
        fields = [rows[2 * index + 1] for index in range(len(lane_ids))]
        granted = lane_codec.granted_reservations(
            [
                (int(f[0] or 0), int(f[5]) if f[5] else 10**15 + index, int(f[1] or 1))
                for index, f in enumerate(fields)
            ],
            int(rows[-3] or 0),
        )
        lanes: dict[str, LaneStatus] = {}
        for index, lane_id in enumerate(lane_ids):
            pending = int(rows[2 * index])
            priority, low, high, active, paused, _, scheduled = fields[index]
            lanes[lane_id] = LaneStatus(
                lane_id,
                int(priority or 0),
                int(priority or 0),
                pending,
                int(active or 0),
                int(low or 1),
                int(high or 1),
                paused == "1",
                False,
                granted[index],
                int(scheduled or 0),
            )
        scheduled_total = sum(s.scheduled for s in lanes.values())
        return QueueStats(
            sum(s.pending for s in lanes.values()),
            sum(s.active for s in lanes.values()),
            int(rows[-1]),
            max(0, int(rows[-2]) - scheduled_total),  # the delayed set holds both kinds
            lanes,
        )

    async def metrics(self) -> dict[str, dict[str, int]]:
        """The SPEC §9 counters per lane (cluster-wide), e.g.
        ``{"prompt": {"lane.commands.completed": 12, ...}}``."""
        client = await self._connected()
        raw = await cast("Awaitable[dict[str, str]]", client.hgetall(self.backend.keys.metrics))
        out: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            lane_id, _, name = field.rpartition("|")
            out.setdefault(lane_id, {})[name] = int(value)
        return out

    async def cluster_info(self) -> dict[str, int]:
        """Namespace counters: ``zombie_acks`` (acks refused for a stale fencing token),
        ``stalls`` (leases that expired), ``active`` (commands running cluster-wide)."""
        client = await self._connected()
        raw = await cast("Awaitable[dict[str, str]]", client.hgetall(self.backend.keys.info))
        return {
            "zombie_acks": int(raw.get("zombie_acks", 0)),
            "stalls": int(raw.get("stalls", 0)),
            "active": int(raw.get("act", 0)),
        }
