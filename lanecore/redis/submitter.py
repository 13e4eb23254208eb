"""The submitting side of a distributed manager: submits made in one loop iteration go to
Redis as one script call, and results come back on this client's own pub/sub channel (the
worker publishes them; the submitter never polls). After a dropped connection the channel is
subscribed again and every outstanding command's stored outcome is read once, so a result
published while disconnected is not missed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from lanecore.errors import LaneFull, LaneNotFound
from lanecore.redis.base import TRANSIENT, BackendBase, BackendClosed
from lanecore.redis.handle import RemoteHandle, settle
from lanecore.redis.replication import CommandLost, NotReplicated, call_replicated
from lanecore.redis.stopping import cancel_and_wait

logger = logging.getLogger("lanecore.redis")

Entry = tuple[RemoteHandle, str, str, str, str]  # handle, lane, type, payload JSON, options
LaneDefs = Callable[[set[str]], list[Any]]  # templated lanes among these ids: n, then fields
CHUNK = 2000  # commands per submit script call (keeps one call's Redis time short)


class Submitter:
    """Sends submits in batches and resolves handles from published results."""

    def __init__(
        self,
        backend: BackendBase,
        ready: Callable[[], Awaitable[None]],
        lane_defs: LaneDefs,
        stop: Callable[[str, str], None],
    ) -> None:
        self._backend = backend
        self._ready = ready
        self._lane_defs = lane_defs
        self._stop = stop
        self.client_id = uuid.uuid4().hex[:16]
        self.channel = backend.keys.channel(self.client_id)
        self.outstanding: dict[str, RemoteHandle] = {}
        self._batch: list[Entry] = []
        self._client: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Future[None] | None = None
        self._senders: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ sending
    def add(self, entry: Entry) -> None:
        """Queue one submit; the batch is sent at the end of this loop iteration."""
        handle = entry[0]
        self.outstanding[handle.command_id] = handle
        handle.add_done_callback(self._forget)
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.append(entry)

    def _forget(self, handle: asyncio.Future[Any]) -> None:
        assert isinstance(handle, RemoteHandle)
        if self.outstanding.get(handle.command_id) is handle:
            del self.outstanding[handle.command_id]

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)

    async def _send(self, batch: list[Entry]) -> None:
        try:
            await self._ready()
            assert self._client is not None
            backend = self._backend
            client, script = self._client, backend.scripts.submit
            replicated = backend.acknowledge == "replicated"
            wait_ms = max(1, int(backend.replication_timeout * 1000))
            for start in range(0, len(batch), CHUNK):
                chunk = batch[start : start + CHUNK]
                args: list[Any] = [self.channel, *self._lane_defs({e[1] for e in chunk})]
                args.append(len(chunk))
                # runs of commands with the same lane, type and options share one header
                run_lane = run_type = run_options = None
                count_at = 0  # where the current run's count goes
                for handle, lane_id, command_type, payload, options in chunk:
                    if lane_id != run_lane or command_type != run_type or options != run_options:
                        run_lane, run_type, run_options = lane_id, command_type, options
                        count_at = len(args)
                        args += (0, lane_id, command_type, options)
                    args[count_at] += 1
                    args += (handle.command_id, payload)

                def call(args: list[Any] = args) -> Awaitable[Any]:
                    return script(client, *args)

                def call_and_wait(args: list[Any] = args) -> Awaitable[tuple[Any, int]]:
                    return call_replicated(script, client, wait_ms, *args)

                if replicated:
                    reply, copies = await backend.retrying("submitting", call_and_wait)
                    self._settle(chunk, reply, copies < 1)
                else:
                    self._settle(chunk, await backend.retrying("submitting", call))
        except BaseException as exc:
            for handle, *_ in batch:
                if not handle._stored.done():
                    handle._stored.set_exception(exc)
                    handle._stored.exception()  # retrieved: persisted() re-raises it
                if not handle.done():
                    handle.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    def _settle(self, chunk: list[Entry], reply: list[Any], unreplicated: bool = False) -> None:
        """Resolve each command's ``persisted()`` from the submit script's reply (raising
        NotReplicated when ``unreplicated``: WAIT found no replica), and its handle when the
        reply already carries the outcome (a re-submitted id)."""
        timeout = self._backend.replication_timeout
        for index, (handle, lane_id, *_) in enumerate(chunk):
            status, value = reply[2 * index], reply[2 * index + 1]
            if status in ("nolane", "full"):
                error = LaneNotFound(lane_id) if status == "nolane" else LaneFull(lane_id, value)
                handle._stored.set_exception(error)
                handle._stored.exception()
                if not handle.done():
                    handle.set_exception(error)
                    handle.exception()  # persisted() reports it; awaiting the handle too
                continue
            if handle._stored.done():
                pass
            elif unreplicated:
                handle._stored.set_exception(NotReplicated(handle.command_id, timeout))
                handle._stored.exception()  # retrieved: persisted() re-raises it
            else:
                handle._stored.set_result(None)
            if status in ("ok", "err", "x"):
                settle(handle, status, value)

    # ------------------------------------------------------------------ results
    async def start(self) -> None:
        """Subscribe to this client's result channel (waits for Redis to confirm)."""
        if self._listener is not None:
            return
        self._client = self._backend.client()
        loop = asyncio.get_running_loop()
        self._subscribed = loop.create_future()
        self._listener = loop.create_task(self._listen())
        await asyncio.shield(self._subscribed)

    async def _listen(self) -> None:
        backend = self._backend
        first = True
        delay = 0.02
        while not backend.closed:
            client = backend.client(blocking=True, retries=0)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:  # the subscribe confirmation
                    message = await pubsub.get_message(timeout=backend.idle_wait)
                    if message is not None and message["type"] == "subscribe":
                        break
                if first:
                    first = False
                    assert self._subscribed is not None
                    if not self._subscribed.done():
                        self._subscribed.set_result(None)
                else:
                    await self._resync()
                delay = 0.02
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=backend.idle_wait + 5.0
                    )
                    if message is not None and message["type"] == "message":
                        self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except TRANSIENT as exc:
                logger.warning("lanecore.redis: result channel lost (%s); resubscribing", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            except BackendClosed:
                break
            except Exception as exc:
                if first and self._subscribed is not None and not self._subscribed.done():
                    self._subscribed.set_exception(exc)
                    return
                logger.exception("lanecore.redis: result listener failed; restarting")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
                await backend.release(client)

    def _deliver(self, data: str) -> None:
        try:
            entries = json.loads(data)
        except ValueError:
            logger.error("lanecore.redis: unreadable result message %r", data[:200])
            return
        outstanding = self.outstanding
        for command_id, status, value in entries:
            if status == "stop":  # a cancel reached a command this process runs
                self._stop(command_id, str(value))
                continue
            handle = outstanding.get(command_id)
            if handle is not None:
                settle(handle, status, value)

    async def _resync(self) -> None:
        """Read the stored outcome of every outstanding command (results may have been
        published while this client was disconnected). A command whose submit had reached
        Redis before the read but is gone (a failover lost it) fails with CommandLost
        instead of waiting forever."""
        client = self._client
        if client is None or not self.outstanding:
            return
        keys = self._backend.keys
        handles = list(self.outstanding.values())
        for start in range(0, len(handles), 1000):
            part = handles[start : start + 1000]
            stored = {id(h) for h in part if h._stored.done()}  # before the read is sent
            pipe = client.pipeline(transaction=False)
            # A write that changes nothing: a replica refuses it (READONLY, which redis-py's
            # Sentinel pools turn into a reconnect), so a missing command is only declared
            # lost when the primary, not a stale or syncing replica, says it is missing.
            pipe.pexpire(keys.primary_check, 1)
            for handle in part:
                pipe.hmget(keys.command(handle.command_id), ["s", "res", "err"])
            rows = (await pipe.execute())[1:]
            for handle, (state, result, error) in zip(part, rows, strict=True):
                if state == "ok":
                    settle(handle, "ok", result)
                elif state == "dead":
                    settle(handle, "err", error)
                elif state == "x":
                    settle(handle, "x", "")
                elif state is None and id(handle) in stored and not handle.done():
                    handle.set_exception(CommandLost(handle.command_id))

    async def wait_sent(self) -> None:
        """Wait until every queued submit has reached Redis (or failed)."""
        self._flush()
        while self._senders:
            await asyncio.gather(*self._senders, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop listening; outstanding handles are cancelled."""
        listener, self._listener = self._listener, None
        await cancel_and_wait([listener])
        for handle in list(self.outstanding.values()):
            asyncio.Future.cancel(handle)
        self.outstanding.clear()
