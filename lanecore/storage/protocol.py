"""The Storage protocol: where a manager persists unfinished commands and dead letters.

Every method is a plain call that checks its arguments at once (a bad payload raises
``TypeError`` before anything is queued) and returns an awaitable that completes when the
operation is durable — for SqliteStorage, when the transaction holding it has committed.
Operations apply in call order. Not awaiting is allowed: the operation is already queued.
An ``async def`` implementation satisfies the protocol too (it just checks lazily).

Beyond a3s-lane's seven methods, a manager needs batch forms (``save_commands``,
``remove_commands``) and ``mark_attempt``: a submit_many of N commands, or N commands finishing
together, then cost one transaction — one WAL append and, with ``synchronous="FULL"``, one
fsync — instead of N.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any, Protocol, runtime_checkable

from lanecore.dlq import DeadLetter
from lanecore.storage.records import NO_PAYLOAD, DeadLetterId, StoredCommand, StoredDeadLetter


@runtime_checkable
class Storage(Protocol):
    """Persistence for unfinished commands and dead letters (SPEC §8)."""

    def save_command(self, command: StoredCommand) -> Awaitable[None]:
        """Insert or replace (by command_id) one command."""
        ...

    def save_commands(self, commands: Iterable[StoredCommand]) -> Awaitable[None]:
        """Insert or replace many commands, atomically (all or none)."""
        ...

    def load_commands(self) -> Awaitable[list[StoredCommand]]:
        """Every stored command, oldest created_at first (ties in first-save order)."""
        ...

    def remove_command(self, command_id: str) -> Awaitable[None]:
        """Forget a command (finished, cancelled or dead-lettered); unknown ids are ignored."""
        ...

    def remove_commands(self, command_ids: Iterable[str]) -> Awaitable[None]:
        """Forget many commands, atomically."""
        ...

    def mark_attempt(
        self, command_id: str, attempts: int, at: float | None = None
    ) -> Awaitable[None]:
        """Record that ``attempts`` attempts have started, the latest at ``at`` (default now)."""
        ...

    def save_dead_letter(self, letter: DeadLetter, payload: Any = NO_PAYLOAD) -> Awaitable[None]:
        """Append a dead letter, with the command's payload if it can be rebuilt."""
        ...

    def load_dead_letters(self) -> Awaitable[list[StoredDeadLetter]]:
        """Every stored dead letter, oldest first."""
        ...

    def remove_dead_letter(self, command_id: DeadLetterId) -> Awaitable[int]:
        """Forget the dead letters of one command (e.g. once re-submitted); how many there were."""
        ...

    def clear_dead_letters(self) -> Awaitable[int]:
        """Forget every dead letter; how many there were."""
        ...

    def clear_all(self) -> Awaitable[None]:
        """Forget every command and dead letter."""
        ...

    def close(self) -> Awaitable[None]:
        """Finish every queued operation, then release the storage; later calls raise
        StorageError. Closing twice is harmless."""
        ...
