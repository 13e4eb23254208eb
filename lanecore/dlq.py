"""The dead-letter queue: a bounded record of commands whose final attempt failed."""

from __future__ import annotations

import builtins
import time
from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field

from lanecore._durations import check_int

DEFAULT_DLQ_SIZE = 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A failed command: who it was, where it ran, why it failed, how often it ran, and when."""

    command_id: Hashable
    command_type: str
    lane_id: str
    error: str
    attempts: int
    failed_at: float = field(default_factory=time.time)


class DeadLetterQueue:
    """Keeps the newest ``max_size`` dead letters; adding to a full queue evicts the oldest."""

    def __init__(self, max_size: int = DEFAULT_DLQ_SIZE) -> None:
        check_int("max_size", max_size, 1)
        self._letters: deque[DeadLetter] = deque(maxlen=max_size)
        self.evicted = 0

    @property
    def max_size(self) -> int:
        maxlen = self._letters.maxlen
        assert maxlen is not None
        return maxlen

    def add(self, letter: DeadLetter) -> None:
        if len(self._letters) == self._letters.maxlen:
            self.evicted += 1
        self._letters.append(letter)

    def list(self) -> builtins.list[DeadLetter]:
        """All dead letters, oldest first."""
        return list(self._letters)

    def pop(self) -> DeadLetter | None:
        """Remove and return the oldest dead letter (None if empty)."""
        return self._letters.popleft() if self._letters else None

    def clear(self) -> int:
        """Remove every dead letter; return how many there were."""
        count = len(self._letters)
        self._letters.clear()
        return count

    def len(self) -> int:
        return len(self._letters)

    def __len__(self) -> int:
        return len(self._letters)

    def __iter__(self) -> Iterator[DeadLetter]:
        return iter(list(self._letters))
