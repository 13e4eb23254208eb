"""CommandHandle: the awaitable a submit returns; it is also the record the scheduler queues."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable
from typing import TYPE_CHECKING, Any

from lanecore.commands import Runner, command_type_of

if TYPE_CHECKING:
    from lanecore.manager import QueueManager, _Lane


class CommandHandle(asyncio.Future[Any]):
    """Resolves to the command's return value or its final exception. Cancelling it drops a
    pending command unrun, or cancels a running one and frees its slot at once."""

    __slots__ = (
        "_command",
        "_failures",
        "_lane",
        "_manager",
        "_persisted",
        "_queued_at",
        "_run",
        "_runner",
        "_submitted_at",
        "_ticket",
        "_timeout",
        "_timer",
        "command_id",
    )

    command_id: Hashable
    _command: Any
    _run: Runner
    _lane: _Lane
    _manager: QueueManager
    _ticket: int
    _timeout: float | None
    _failures: int
    _runner: asyncio.Task[None] | None
    _timer: asyncio.TimerHandle | None
    _submitted_at: float
    _persisted: Awaitable[None]
    _queued_at: float | None

    @property
    def lane_id(self) -> str:
        return self._lane.lane_id

    @property
    def command_type(self) -> str:
        return command_type_of(self._command)

    async def persisted(self) -> None:
        """Wait until the command is durable: its storage batch has committed. Only named
        commands on a manager with storage are stored; for others this raises NotPersisted."""
        result = getattr(self, "_persisted", None)
        if result is None:
            from lanecore.durable import NotPersisted

            raise NotPersisted(
                f"command {self.command_id!r} is not stored: only named commands "
                "(submit(lane_id, 'command_type', payload)) on a manager with storage are"
            )
        await result

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        self._manager._discard(self)
        return super().cancel(msg)

    def __repr__(self) -> str:
        return f"<CommandHandle {self.command_id!r} lane={self._lane.lane_id!r} {self._state}>"
