"""CommandHandle: the awaitable a submit returns; it is also the record the scheduler queues."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from lanecore._coreapi import CoreHandle
from lanecore.commands import command_type_of
from lanecore.errors import NotPersisted


class CommandHandle(CoreHandle):
    """Resolves to the command's return value or its final exception. Cancelling it drops a
    pending command unrun, or cancels a running one and frees its slot at once."""

    __slots__ = ("_persisted",)

    _persisted: Awaitable[None]

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
            raise NotPersisted(
                f"command {self.command_id!r} is not stored: only named commands "
                "(submit(lane_id, 'command_type', payload)) on a manager with storage are"
            )
        await result

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        self._owner.discard(self)
        return super().cancel(msg)

    def __repr__(self) -> str:
        return f"<CommandHandle {self.command_id!r} lane={self._lane.lane_id!r} {self._state}>"
