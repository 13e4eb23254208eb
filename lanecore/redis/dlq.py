"""Dead letters kept in Redis for a whole namespace: list, get, pop, retry, clear."""

from __future__ import annotations

import builtins
import json
from collections.abc import Awaitable
from typing import Any, Protocol, cast

from redis.asyncio import Redis

from lanecore.dlq import DeadLetter
from lanecore.redis.base import BackendBase
from lanecore.redis.handle import RemoteHandle


class DeadLetterHost(Protocol):
    """What RedisDeadLetters needs of its DistributedManager: the backend, a connected client
    and re-queueing a dead command (named here so this module need not import the manager)."""

    @property
    def backend(self) -> BackendBase: ...

    async def _connected(self) -> Redis: ...

    async def _retry_dead_letter(self, command_id: str) -> RemoteHandle: ...


def _letter(text: str) -> DeadLetter:
    data = json.loads(text)
    return DeadLetter(
        data["command_id"],
        data["command_type"],
        data["lane_id"],
        data["error"],
        int(data["attempts"]),
        float(data["failed_at"]),
        data.get("group"),
    )


class RedisDeadLetters:
    """The namespace's dead-letter queue (newest ``with_dlq(n)`` kept, oldest evicted). Every
    method talks to Redis, so each is a coroutine; ``retry`` re-queues the command (same id,
    type, lane and payload, fresh attempt count) and returns a handle to its new outcome."""

    def __init__(self, manager: DeadLetterHost) -> None:
        self._manager = manager

    async def list(self) -> builtins.list[DeadLetter]:
        """Every dead letter, oldest first."""
        client = await self._manager._connected()
        keys = self._manager.backend.keys
        ids = await cast("Awaitable[list[str]]", client.zrange(keys.dlq, 0, -1))
        if not ids:
            return []
        texts = await cast("Awaitable[list[str | None]]", client.hmget(keys.dead, ids))
        return [_letter(text) for text in texts if text is not None]

    async def get(self, command_id: str) -> DeadLetter | None:
        client = await self._manager._connected()
        text = await cast(
            "Awaitable[str | None]", client.hget(self._manager.backend.keys.dead, command_id)
        )
        return None if text is None else _letter(text)

    async def len(self) -> int:
        client = await self._manager._connected()
        return int(await client.zcard(self._manager.backend.keys.dlq))

    async def pop(self) -> DeadLetter | None:
        """Remove and return the oldest dead letter (None if there is none)."""
        while True:
            letters = await self.list()
            if not letters:
                return None
            if await self._call("remove", letters[0].command_id):
                return letters[0]

    async def retry(self, command_id: str) -> RemoteHandle:
        """Queue a dead command again; LookupError if there is no such dead letter."""
        return await self._manager._retry_dead_letter(command_id)

    async def clear(self) -> int:
        """Forget every dead letter; how many there were."""
        return int(await self._call("clear"))

    async def _call(self, *args: Any) -> Any:
        manager = self._manager
        client = await manager._connected()
        return await manager.backend.scripts.dlq(client, *args)
