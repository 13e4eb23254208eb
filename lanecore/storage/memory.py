"""MemoryStorage: the Storage protocol over dicts, for tests and non-durable use.

Same semantics as SqliteStorage — the same checks, payloads round-tripped through JSON, the same
ordering — but each operation applies at call time and its awaitable is already complete.
It needs no event loop and no thread.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable
from dataclasses import replace
from typing import Any

from lanecore._coreapi import Ready
from lanecore.dlq import DeadLetter
from lanecore.storage.errors import StorageError
from lanecore.storage.records import (
    NO_PAYLOAD,
    DeadLetterId,
    StoredCommand,
    StoredDeadLetter,
    check_count,
    check_dead_letter_id,
    check_text,
    check_time,
    command_from_row,
    command_row,
    dead_letter_from_row,
    dead_letter_row,
)

Completed = Ready  # what every method returns: an awaitable that is already done


class MemoryStorage:
    """Keeps commands and dead letters in memory; lost when the process ends."""

    def __init__(self) -> None:
        # command_id -> (first-save sequence number, command); the number breaks created_at ties
        self._commands: dict[str, tuple[int, StoredCommand]] = {}
        self._letters: list[StoredDeadLetter] = []
        self._seq = 0
        self._closed = False
        self.transactions = 0
        """Write operations applied (each is one "transaction" here)."""

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        """Raise StorageError once the storage is closed."""
        self._check_open("save_command")

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise StorageError("memory", operation, "the storage is closed")

    def _put(self, commands: list[StoredCommand]) -> None:
        for command in commands:
            old = self._commands.get(command.command_id)
            if old is None:
                self._seq += 1
                self._commands[command.command_id] = (self._seq, command)
            else:
                self._commands[command.command_id] = (old[0], command)
        self.transactions += 1

    def save_command(self, command: StoredCommand) -> Awaitable[None]:
        self._check_open("save_command")
        self._put([command_from_row(command_row(command))])
        return Completed(None)

    def save_commands(self, commands: Iterable[StoredCommand]) -> Awaitable[None]:
        self._check_open("save_commands")
        # every command is checked before any is stored: a bad one leaves the store as it was
        copies = [command_from_row(command_row(c)) for c in commands]
        if copies:
            self._put(copies)
        return Completed(None)

    def load_commands(self) -> Awaitable[list[StoredCommand]]:
        self._check_open("load_commands")
        ordered = sorted(self._commands.values(), key=lambda e: (e[1].created_at, e[0]))
        return Completed([command for _, command in ordered])

    def remove_command(self, command_id: str) -> Awaitable[None]:
        return self.remove_commands([command_id])

    def remove_commands(self, command_ids: Iterable[str]) -> Awaitable[None]:
        self._check_open("remove_commands")
        ids = [check_text("command_id", i) for i in command_ids]
        for command_id in ids:
            self._commands.pop(command_id, None)
        self.transactions += 1
        return Completed(None)

    def mark_attempt(
        self, command_id: str, attempts: int, at: float | None = None
    ) -> Awaitable[None]:
        self._check_open("mark_attempt")
        check_text("command_id", command_id)
        check_count("attempts", attempts)
        when = time.time() if at is None else check_time("at", at)
        entry = self._commands.get(command_id)
        if entry is not None:
            seq, old = entry
            self._commands[command_id] = (
                seq,
                replace(old, retry_count=attempts, last_attempt_at=when),
            )
        self.transactions += 1
        return Completed(None)

    def save_dead_letter(self, letter: DeadLetter, payload: Any = NO_PAYLOAD) -> Awaitable[None]:
        self._check_open("save_dead_letter")
        self._letters.append(dead_letter_from_row(dead_letter_row(letter, payload)))
        self.transactions += 1
        return Completed(None)

    def load_dead_letters(self) -> Awaitable[list[StoredDeadLetter]]:
        self._check_open("load_dead_letters")
        return Completed(list(self._letters))

    def remove_dead_letter(self, command_id: DeadLetterId) -> Awaitable[int]:
        self._check_open("remove_dead_letter")
        key = check_dead_letter_id(command_id)
        kept = [s for s in self._letters if s.letter.command_id != key]
        removed = len(self._letters) - len(kept)
        self._letters = kept
        self.transactions += 1
        return Completed(removed)

    def clear_dead_letters(self) -> Awaitable[int]:
        self._check_open("clear_dead_letters")
        count = len(self._letters)
        self._letters.clear()
        self.transactions += 1
        return Completed(count)

    def clear_all(self) -> Awaitable[None]:
        self._check_open("clear_all")
        self._commands.clear()
        self._letters.clear()
        self.transactions += 1
        return Completed(None)

    def close(self) -> Awaitable[None]:
        self._closed = True
        return Completed(None)

    async def __aenter__(self) -> MemoryStorage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
