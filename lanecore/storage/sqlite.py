"""SqliteStorage: the embedded default Storage — SQLite in WAL mode, written by one thread.

Durability: an operation's awaitable completes when the transaction holding it has committed.
With ``synchronous="NORMAL"`` (default) a committed transaction survives the process being
killed (SIGKILL, crash, OOM), but the last ones may be lost on power loss or an OS crash (the
database stays consistent); ``synchronous="FULL"`` fsyncs the WAL on every commit, so they
survive that too, at the price of one fsync per batch.

The event loop never blocks on the database: every call checks and encodes its arguments on
the caller's thread (so a bad payload raises TypeError there, before anything is queued) and
queues the operation for the writer thread, which batches writes into one transaction each
(see ``lanecore.storage._writer``). Each method comes in two forms:

- ``save_command(...)`` etc. return an ``asyncio.Future`` of the running loop (call from the
  loop's thread); await it for durability, or don't — the operation is queued either way.
- ``enqueue_save_command(...)`` etc. return a ``concurrent.futures.Future``: callable from any
  thread, no loop needed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import os
import sqlite3
import time
import weakref
from collections.abc import Iterable
from typing import Any, TypeVar

from lanecore._durations import check_int, to_seconds
from lanecore.dlq import DeadLetter
from lanecore.storage import _schema
from lanecore.storage._writer import Op, Writer, execute_chunked
from lanecore.storage.records import (
    NO_PAYLOAD,
    PLAIN_ROW_WIDTH,
    DeadLetterId,
    SavedRow,
    StoredCommand,
    StoredDeadLetter,
    check_count,
    check_dead_letter_id,
    check_text,
    check_time,
    command_from_row,
    command_row,
    command_rows,
    dead_letter_from_row,
    dead_letter_row,
    has_due_times,
    id_rows,
)

T = TypeVar("T")

DEFAULT_BATCH_MAX = 4096
DEFAULT_BUSY_TIMEOUT = 5.0


def _read_commands(conn: sqlite3.Connection) -> list[StoredCommand]:
    return [command_from_row(row) for row in conn.execute(_schema.LOAD_COMMANDS)]


def _read_dead_letters(conn: sqlite3.Connection) -> list[StoredDeadLetter]:
    return [dead_letter_from_row(row) for row in conn.execute(_schema.LOAD_DEAD_LETTERS)]


def _save_mixed(rows: list[SavedRow], conn: sqlite3.Connection) -> None:
    """Rows with and without due times, in order: each stretch through its own statement."""
    for width, stretch in itertools.groupby(rows, len):
        sql = _schema.SAVE_COMMAND if width == PLAIN_ROW_WIDTH else _schema.SAVE_DUE_COMMAND
        execute_chunked(conn, _schema.MULTI_ROW[sql], stretch)


def _save_op(name: str, rows: list[SavedRow], due_times: bool) -> Op:
    """The one operation saving ``rows`` (atomic); without due times it batches with the
    neighbouring saves into one statement."""
    if not due_times:
        return Op(name, sql=_schema.SAVE_COMMAND, rows=rows)
    if min(map(len, rows)) > PLAIN_ROW_WIDTH:
        return Op(name, sql=_schema.SAVE_DUE_COMMAND, rows=rows)
    return Op(name, rows=rows, work=functools.partial(_save_mixed, rows))


def _delete(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> int:
    return conn.execute(sql, params).rowcount


def _delete_all(conn: sqlite3.Connection) -> None:
    conn.execute(_schema.CLEAR_COMMANDS)
    conn.execute(_schema.CLEAR_DEAD_LETTERS)


class SqliteStorage:
    """Persists commands and dead letters in an SQLite file (see the module docstring).

    ``path`` is a file path, or a ``file:`` URI (e.g. ``file:x.db?mode=ro``). The database and
    its schema are created on first open. ``batch_max`` caps the rows per transaction (a
    batch call is never split, so it is always atomic). ``flush_interval`` (seconds, default 0)
    lets the writer wait that long for more work before committing a batch: fewer, larger
    transactions for a little latency; at 0 batches form from whatever queued up meanwhile.
    ``busy_timeout`` is how long a write waits for another connection's lock before failing.

    Opening blocks until the database is ready (use ``await SqliteStorage.open(...)`` on a
    running loop); a failure raises StorageError naming the path and the cause.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_max: int = DEFAULT_BATCH_MAX,
        flush_interval: float = 0.0,
        synchronous: _schema.Synchronous = "NORMAL",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        target = os.fspath(path)
        if not isinstance(target, str):
            raise TypeError(f"path must be a str or a str path, got {path!r}")
        check_int("batch_max", batch_max, 1)
        flush = to_seconds("flush_interval", flush_interval, allow_zero=True)
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f'synchronous must be "NORMAL" or "FULL", got {synchronous!r}')
        busy = to_seconds("busy_timeout", busy_timeout, allow_zero=True)
        self._path, _ = _schema.describe_target(target)
        self.synchronous = synchronous
        connect = functools.partial(
            _schema.connect, target, synchronous=synchronous, busy_timeout=busy
        )
        self._writer = Writer(
            self._path,
            connect,
            batch_max=batch_max,
            flush_interval=flush,
            multi_row=_schema.MULTI_ROW,
        )
        # dropped without close(): still commit what was queued and release the connection
        weakref.finalize(self, self._writer.close)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        batch_max: int = DEFAULT_BATCH_MAX,
        flush_interval: float = 0.0,
        synchronous: _schema.Synchronous = "NORMAL",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> SqliteStorage:
        """Open without blocking the running loop (the open runs in a worker thread)."""
        return await asyncio.to_thread(
            cls,
            path,
            batch_max=batch_max,
            flush_interval=flush_interval,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
        )

    @property
    def path(self) -> str:
        """The database's absolute path (or the URI given)."""
        return self._path

    @property
    def transactions(self) -> int:
        """Write transactions committed so far (compare with the operations queued)."""
        return self._writer.transactions

    @property
    def failed_batches(self) -> int:
        """Write transactions rolled back after an error."""
        return self._writer.failed_batches

    @property
    def closed(self) -> bool:
        """True once the writer has stopped (after close(), or after a failure it cannot
        recover from); calls raise StorageError from the moment close() is called."""
        return self._writer.closed.done()

    def check_open(self) -> None:
        """Raise StorageError if the storage takes no more operations (closed or failed)."""
        self._writer.check_open("save_command")

    def __repr__(self) -> str:
        return f"<SqliteStorage {self._path!r} transactions={self.transactions}>"

    # ---------------------------------------------------------------- dispatch

    def _on_loop(self, op: Op) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        op.loop, op.future = loop, future
        self._writer.submit(op)
        return future

    def _on_thread(self, op: Op) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        op.cfuture = future
        self._writer.submit(op)
        return future

    @staticmethod
    def _done_on_loop(value: T) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        future.set_result(value)
        return future

    @staticmethod
    def _done_on_thread(value: T) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        future.set_result(value)
        return future

    # ---------------------------------------------------------------- operations (unqueued)

    @staticmethod
    def _save(commands: Iterable[StoredCommand], name: str) -> Op | None:
        rows, due_times = command_rows(commands)  # every one checked before any is queued
        return _save_op(name, rows, due_times) if rows else None

    @staticmethod
    def _remove(command_ids: Iterable[str], name: str) -> Op | None:
        rows = id_rows(command_ids)
        return Op(name, sql=_schema.REMOVE_COMMAND, rows=rows) if rows else None

    @staticmethod
    def _mark(command_id: str, attempts: int, at: float | None) -> Op:
        when = time.time() if at is None else check_time("at", at)
        row = (check_count("attempts", attempts), when, check_text("command_id", command_id))
        return Op("mark_attempt", sql=_schema.MARK_ATTEMPT, rows=[row])

    @staticmethod
    def _save_dead_letter(letter: DeadLetter, payload: Any) -> Op:
        row = dead_letter_row(letter, payload)
        return Op("save_dead_letter", sql=_schema.SAVE_DEAD_LETTER, rows=[row])

    @staticmethod
    def _remove_dead_letter(command_id: DeadLetterId) -> Op:
        params = (check_dead_letter_id(command_id),)
        work = functools.partial(_delete, _schema.REMOVE_DEAD_LETTER, params)
        return Op("remove_dead_letter", work=work)

    @staticmethod
    def _load_commands() -> Op:
        return Op("load_commands", work=_read_commands, read=True)

    @staticmethod
    def _load_dead_letters() -> Op:
        return Op("load_dead_letters", work=_read_dead_letters, read=True)

    @staticmethod
    def _clear_dead_letters() -> Op:
        work = functools.partial(_delete, _schema.CLEAR_DEAD_LETTERS, ())
        return Op("clear_dead_letters", work=work)

    @staticmethod
    def _clear_all() -> Op:
        return Op("clear_all", work=_delete_all)

    # ---------------------------------------------------------------- awaitable forms

    def save_command(self, command: StoredCommand) -> asyncio.Future[None]:
        """Insert or replace one command; done when its batch has committed."""
        rows = [command_row(command)]
        return self._on_loop(_save_op("save_command", rows, has_due_times(rows)))

    def save_commands(self, commands: Iterable[StoredCommand]) -> asyncio.Future[None]:
        """Insert or replace many commands in one transaction (all or none)."""
        op = self._save(commands, "save_commands")
        return self._done_on_loop(None) if op is None else self._on_loop(op)

    def save_checked_rows(
        self, rows: list[SavedRow], *, due_times: bool = False
    ) -> asyncio.Future[None]:
        """save_commands for rows already made by ``command_row`` (the manager's batched
        submit path): the same transaction, without re-reading each command's fields.
        ``due_times``: whether any row is a DueCommandRow (the caller knows; not re-checked)."""
        if not rows:
            return self._done_on_loop(None)
        return self._on_loop(_save_op("save_commands", rows, due_times))

    def load_commands(self) -> asyncio.Future[list[StoredCommand]]:
        """Every command, oldest created_at first; sees every write queued before it."""
        return self._on_loop(self._load_commands())

    def remove_command(self, command_id: str) -> asyncio.Future[None]:
        rows = [(check_text("command_id", command_id),)]
        return self._on_loop(Op("remove_command", sql=_schema.REMOVE_COMMAND, rows=rows))

    def remove_commands(self, command_ids: Iterable[str]) -> asyncio.Future[None]:
        op = self._remove(command_ids, "remove_commands")
        return self._done_on_loop(None) if op is None else self._on_loop(op)

    def mark_attempt(
        self, command_id: str, attempts: int, at: float | None = None
    ) -> asyncio.Future[None]:
        """Set retry_count to ``attempts`` and last_attempt_at to ``at`` (default now)."""
        return self._on_loop(self._mark(command_id, attempts, at))

    def save_dead_letter(
        self, letter: DeadLetter, payload: Any = NO_PAYLOAD
    ) -> asyncio.Future[None]:
        return self._on_loop(self._save_dead_letter(letter, payload))

    def load_dead_letters(self) -> asyncio.Future[list[StoredDeadLetter]]:
        return self._on_loop(self._load_dead_letters())

    def remove_dead_letter(self, command_id: DeadLetterId) -> asyncio.Future[int]:
        return self._on_loop(self._remove_dead_letter(command_id))

    def clear_dead_letters(self) -> asyncio.Future[int]:
        return self._on_loop(self._clear_dead_letters())

    def clear_all(self) -> asyncio.Future[None]:
        return self._on_loop(self._clear_all())

    def close(self) -> asyncio.Future[None]:
        """Commit everything queued, then close the connection and stop the writer thread."""
        return asyncio.wrap_future(self._writer.close())

    async def __aenter__(self) -> SqliteStorage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- any-thread forms

    def enqueue_save_command(self, command: StoredCommand) -> concurrent.futures.Future[None]:
        op = self._save((command,), "save_command")
        assert op is not None
        return self._on_thread(op)

    def enqueue_save_commands(
        self, commands: Iterable[StoredCommand]
    ) -> concurrent.futures.Future[None]:
        op = self._save(commands, "save_commands")
        return self._done_on_thread(None) if op is None else self._on_thread(op)

    def enqueue_load_commands(self) -> concurrent.futures.Future[list[StoredCommand]]:
        return self._on_thread(self._load_commands())

    def enqueue_remove_command(self, command_id: str) -> concurrent.futures.Future[None]:
        op = self._remove((command_id,), "remove_command")
        assert op is not None
        return self._on_thread(op)

    def enqueue_remove_commands(
        self, command_ids: Iterable[str]
    ) -> concurrent.futures.Future[None]:
        op = self._remove(command_ids, "remove_commands")
        return self._done_on_thread(None) if op is None else self._on_thread(op)

    def enqueue_mark_attempt(
        self, command_id: str, attempts: int, at: float | None = None
    ) -> concurrent.futures.Future[None]:
        return self._on_thread(self._mark(command_id, attempts, at))

    def enqueue_save_dead_letter(
        self, letter: DeadLetter, payload: Any = NO_PAYLOAD
    ) -> concurrent.futures.Future[None]:
        return self._on_thread(self._save_dead_letter(letter, payload))

    def enqueue_load_dead_letters(self) -> concurrent.futures.Future[list[StoredDeadLetter]]:
        return self._on_thread(self._load_dead_letters())

    def enqueue_remove_dead_letter(
        self, command_id: DeadLetterId
    ) -> concurrent.futures.Future[int]:
        return self._on_thread(self._remove_dead_letter(command_id))

    def enqueue_clear_dead_letters(self) -> concurrent.futures.Future[int]:
        return self._on_thread(self._clear_dead_letters())

    def enqueue_clear_all(self) -> concurrent.futures.Future[None]:
        return self._on_thread(self._clear_all())

    def enqueue_close(self) -> concurrent.futures.Future[None]:
        """Like close(), from any thread; ``.result()`` waits for the writer to finish."""
        return self._writer.close()
