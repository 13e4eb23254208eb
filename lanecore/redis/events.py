"""Cluster-wide events: scripts append them to a Redis stream while some process subscribes
(it keeps the ``evon`` key alive); this reader feeds them into the manager's local event
streams, so ``subscribe()`` works as on a local manager."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from redis.asyncio import Redis

from lanecore.events import EventHub, LaneEvent
from lanecore.redis.base import TRANSIENT, BackendBase, jittered
from lanecore.redis.stopping import cancel_and_wait

logger = logging.getLogger("lanecore.redis")

EVON_TTL_MS = 30_000  # the flag outlives a crashed subscriber by at most this long


class EventReader:
    """Reads the namespace's event stream into ``hub`` while it has subscribers."""

    def __init__(self, backend: BackendBase, hub: EventHub) -> None:
        self._backend = backend
        self._hub = hub
        self._task: asyncio.Task[None] | None = None
        self._client: Redis | None = None
        self._ready: asyncio.Future[None] | None = None

    def ensure_running(self) -> asyncio.Future[None]:
        """Start reading (if not already); the future resolves once events are flowing."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._ready is None:
            self._ready = loop.create_future()
            self._task = loop.create_task(self._run(self._ready))
        return self._ready

    async def _start(self, client: Redis) -> str:
        """Raise the events flag, then read from now on (events from before are not shown):
        from the stream's last entry, as XREAD reads what comes after the id it is given.
        (A start id made of the server's clock, "<ms>-0", would skip an event appended in
        that same millisecond: its id is exactly "<ms>-0".)"""
        keys = self._backend.keys
        await client.set(keys.evon, "1", px=EVON_TTL_MS)
        newest: Any = await client.xrevrange(keys.events, count=1)
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def _run(self, ready: asyncio.Future[None]) -> None:
        backend = self._backend
        keys = backend.keys
        client = self._client = backend.client(blocking=True)
        last = ""
        refresh_at = 0.0
        loop = asyncio.get_running_loop()
        try:
            while self._hub.streams and not backend.closed:
                try:
                    if not last:
                        last = await self._start(client)
                        refresh_at = loop.time() + EVON_TTL_MS / 3000.0
                        if not ready.done():
                            ready.set_result(None)
                    if loop.time() >= refresh_at:
                        await client.set(keys.evon, "1", px=EVON_TTL_MS)
                        refresh_at = loop.time() + EVON_TTL_MS / 3000.0
                    block = int(backend.idle_wait * 1000)
                    reply: Any = await client.xread({keys.events: last}, count=1000, block=block)
                except TRANSIENT as exc:
                    logger.warning("lanecore.redis: event stream lost (%s); reconnecting", exc)
                    await asyncio.sleep(jittered(0.2))
                    continue
                for _stream, entries in reply or ():
                    for entry_id, fields in entries:
                        last = entry_id
                        self._offer(fields)
        finally:
            if not ready.done():
                ready.set_result(None)
            self._client = None
            await backend.release(client)

    def _offer(self, fields: dict[str, str]) -> None:
        try:
            payload = json.loads(fields["p"])
            event = LaneEvent(
                fields["k"], payload if isinstance(payload, dict) else {}, float(fields["t"])
            )
        except (KeyError, ValueError):
            logger.error("lanecore.redis: unreadable event %r", fields)
            return
        for stream in list(self._hub.streams):
            stream._offer(event)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait([task])
