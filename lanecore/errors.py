"""Exceptions raised by lanecore; all derive from LaneError."""

from __future__ import annotations


class LaneError(Exception):
    """Base class of every lanecore error."""


class LaneNotFound(LaneError, LookupError):
    """The lane id names no lane of this manager."""

    def __init__(self, lane_id: object, known: list[str] | None = None) -> None:
        self.lane_id = lane_id
        hint = f"; lanes are {', '.join(map(repr, known))}" if known else ""
        super().__init__(f"no lane {lane_id!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class LaneFull(LaneError):
    """``submit`` on a lane holding its ``max_pending`` commands; nothing was queued."""

    def __init__(self, lane_id: str, max_pending: int) -> None:
        self.lane_id = lane_id
        self.max_pending = max_pending
        super().__init__(
            f"lane {lane_id!r} is full: it holds max_pending={max_pending} commands "
            "(pending, delayed and retrying); use `await manager.put(...)` to wait for room"
        )


class ShutdownInProgress(LaneError, RuntimeError):
    """The manager was shut down and accepts no new work."""


class CommandTimeout(LaneError, TimeoutError):
    """A command's attempt ran past its timeout and was cancelled."""

    def __init__(self, command_id: object, timeout: float) -> None:
        self.command_id = command_id
        self.timeout = timeout
        super().__init__(f"command {command_id!r} timed out after {timeout:g}s")


class NotPersisted(LaneError):
    """persisted() was awaited on a command that is not stored."""
