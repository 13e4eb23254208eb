"""Storage for unfinished commands and dead letters (SPEC §8), so work survives a restart.

- ``Storage``: the protocol a manager persists through (a3s-lane's seven methods plus batch
  forms, ``mark_attempt``, ``remove_dead_letter`` and ``close``).
- ``MemoryStorage``: dicts; for tests and non-durable use.
- ``SqliteStorage``: the embedded default; SQLite in WAL mode, one writer thread, one
  transaction per batch.

Durability: an operation's awaitable completes once the transaction holding it has committed.
With SqliteStorage's default ``synchronous="NORMAL"`` that survives the process being killed but
not necessarily power loss; ``synchronous="FULL"`` survives power loss too (one fsync a batch).
Failures raise ``StorageError`` and leave nothing half-written.
"""

from typing import TYPE_CHECKING, Any

from lanecore.storage.errors import StorageError
from lanecore.storage.memory import MemoryStorage
from lanecore.storage.protocol import Storage
from lanecore.storage.records import NO_PAYLOAD, DeadLetterId, StoredCommand, StoredDeadLetter

if TYPE_CHECKING:
    from lanecore.storage.sqlite import SqliteStorage


def __getattr__(name: str) -> Any:
    """SqliteStorage on first use, so ``import lanecore`` does not load sqlite3."""
    if name == "SqliteStorage":
        from lanecore.storage.sqlite import SqliteStorage

        return SqliteStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NO_PAYLOAD",
    "DeadLetterId",
    "MemoryStorage",
    "SqliteStorage",
    "Storage",
    "StorageError",
    "StoredCommand",
    "StoredDeadLetter",
]
