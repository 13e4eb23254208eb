"""The dead-letter queue: a bounded record of commands whose final attempt failed."""

from __future__ import annotations

import builtins
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lanecore._durations import check_int
from lanecore.errors import LaneError

DEFAULT_DLQ_SIZE = 1000

NO_PAYLOAD: Any = object()  # a dead letter of a command that was not named


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A failed command: who it was, where it ran, why it failed, how often it ran, and when."""

    command_id: Hashable
    command_type: str
    lane_id: str
    error: str
    attempts: int
    failed_at: float = field(default_factory=time.time)
    group: str | None = None
    """The group it was submitted with (``submit(..., group=)``), or None."""


class DeadLetterQueue:
    """Keeps the newest ``max_size`` dead letters; adding to a full queue evicts the oldest.

    A dead letter of a named command keeps its payload, so ``retry`` can submit it again.
    With storage, every change here is mirrored to the stored dead letters.
    """

    def __init__(self, max_size: int = DEFAULT_DLQ_SIZE) -> None:
        check_int("max_size", max_size, 1)
        self._letters: deque[DeadLetter] = deque(maxlen=max_size)
        self._payloads: dict[Hashable, Any] = {}
        self.evicted = 0
        # set by the manager: resubmit(letter, payload) -> handle, forget(command_id), clear()
        self._resubmit: Callable[[DeadLetter, Any], Any] | None = None
        self._on_remove: Callable[[Hashable], None] | None = None
        self._on_clear: Callable[[], None] | None = None

    @property
    def max_size(self) -> int:
        maxlen = self._letters.maxlen
        assert maxlen is not None
        return maxlen

    def add(self, letter: DeadLetter, payload: Any = NO_PAYLOAD) -> None:
        if len(self._letters) == self._letters.maxlen:
            self.evicted += 1
            self._forget(self._letters[0].command_id)
        self._letters.append(letter)
        if payload is not NO_PAYLOAD:
            self._payloads[letter.command_id] = payload

    def _forget(self, command_id: Hashable) -> None:
        self._payloads.pop(command_id, None)
        if self._on_remove is not None:
            self._on_remove(command_id)

    def list(self) -> builtins.list[DeadLetter]:
        """All dead letters, oldest first."""
        return list(self._letters)

    def get(self, command_id: Hashable) -> DeadLetter | None:
        """The newest dead letter of that command, or None."""
        for letter in reversed(self._letters):
            if letter.command_id == command_id:
                return letter
        return None

    def pop(self) -> DeadLetter | None:
        """Remove and return the oldest dead letter (None if empty)."""
        if not self._letters:
            return None
        letter = self._letters.popleft()
        self._forget(letter.command_id)
        return letter

    def clear(self) -> int:
        """Remove every dead letter; return how many there were."""
        count = len(self._letters)
        self._letters.clear()
        self._payloads.clear()
        if self._on_clear is not None:
            self._on_clear()
        return count

    def can_retry(self, command_id: Hashable) -> bool:
        """Whether the dead letter can be rebuilt: a named command, with its payload."""
        return command_id in self._payloads

    def retry(self, command_id: Hashable) -> Any:
        """Submit a dead named command again (same lane, type and payload); return its handle.
        LookupError if there is no such dead letter, LaneError if it cannot be rebuilt."""
        letter = self.get(command_id)
        if letter is None:
            raise LookupError(f"no dead letter with command_id {command_id!r}")
        if command_id not in self._payloads:
            raise LaneError(
                f"dead letter {command_id!r} ({letter.command_type}) cannot be retried: only "
                "named commands (a registered handler and a payload) can be rebuilt"
            )
        if self._resubmit is None:
            raise LaneError("this dead-letter queue belongs to no manager")
        handle = self._resubmit(letter, self._payloads[command_id])
        self._letters.remove(letter)
        self._forget(command_id)
        return handle

    def len(self) -> int:
        return len(self._letters)

    def __len__(self) -> int:
        return len(self._letters)

    def __iter__(self) -> Iterator[DeadLetter]:
        return iter(list(self._letters))
