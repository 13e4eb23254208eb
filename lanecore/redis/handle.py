"""RemoteHandle: what a distributed submit returns, resolved by whichever worker ran the
command; and how a worker's outcome travels back (JSON) and becomes a value or exception."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

from lanecore.errors import CommandTimeout, LaneError


class Canceller(Protocol):
    """What a RemoteHandle needs of its DistributedManager: cancelling the command in Redis
    when the handle is cancelled (named here so this module need not import the manager)."""

    def _cancel_later(self, command_id: str) -> None: ...


class RemoteCommandError(LaneError):
    """A named command failed on a worker; ``error_type`` is the name of the exception class
    it raised there and ``message`` its text (exceptions themselves do not cross processes)."""

    def __init__(self, command_id: str, error_type: str, message: str) -> None:
        self.command_id = command_id
        self.error_type = error_type
        self.message = message
        super().__init__(f"{error_type}: {message}" if message else error_type)


class RemoteHandle(asyncio.Future[Any]):
    """Resolves to the command's result, or raises ``RemoteCommandError`` (``CommandTimeout``
    for a timeout); ``persisted()`` waits until the command is stored in Redis, which is the
    acknowledgement point: from then on it survives this process and (with AOF) Redis
    restarts; under ``acknowledge="replicated"`` a replica has it too, so it survives a
    failover. Cancelling the handle cancels the command if it has not started."""

    command_id: str
    lane_id: str
    command_type: str
    _stored: asyncio.Future[None]
    _manager: Canceller

    async def persisted(self) -> None:
        """Wait until Redis holds the command (raises what storing it raised)."""
        stored = self._stored
        if stored.done():  # no shield (a Future and two callbacks) once it is settled
            return stored.result()
        await asyncio.shield(stored)

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        self._manager._cancel_later(self.command_id)
        return super().cancel(msg)

    def __repr__(self) -> str:
        state = "pending" if not self.done() else "cancelled" if self.cancelled() else "finished"
        return f"<RemoteHandle {self.command_id!r} lane={self.lane_id!r} {state}>"


def encode_error(error: BaseException, timeout: float | None) -> str:
    """A worker's exception as JSON: its class name and text (and the timeout that hit)."""
    data: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, CommandTimeout):
        data["timeout"] = timeout
    return json.dumps(data)


def describe(error: BaseException) -> str:
    """The text a dead letter records: ``Type: message``."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def decode_error(command_id: str, text: str) -> BaseException:
    """The exception a submitter's handle raises for a worker's error JSON."""
    try:
        data = json.loads(text)
        kind, message = str(data["type"]), str(data.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return RemoteCommandError(command_id, "Error", text)
    if kind == "CommandTimeout" and isinstance(data.get("timeout"), (int, float)):
        return CommandTimeout(command_id, float(data["timeout"]))
    return RemoteCommandError(command_id, kind, message)


def settle(handle: RemoteHandle, status: str, value: str) -> None:
    """Resolve a handle from a worker's outcome: 'ok' (result JSON), 'err' (error JSON) or
    'x' (cancelled)."""
    if handle.done():
        return
    if status == "ok":
        try:
            handle.set_result(json.loads(value))
        except ValueError as exc:
            handle.set_exception(RemoteCommandError(handle.command_id, "ValueError", str(exc)))
    elif status == "err":
        handle.set_exception(decode_error(handle.command_id, value))
    else:
        asyncio.Future.cancel(handle)
