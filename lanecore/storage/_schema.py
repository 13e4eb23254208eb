"""SQLite schema (versioned with ``PRAGMA user_version``), the SQL statements, and opening a
connection with the pragmas SqliteStorage relies on."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from typing import Final, Literal

from lanecore.storage.errors import StorageError

SCHEMA_VERSION: Final = 2

Synchronous = Literal["NORMAL", "FULL"]

# commands.seq (the rowid) is the first-save order that breaks created_at ties; an upsert keeps
# it. Indexes: command_id (UNIQUE) for upserts, removals and mark_attempt, which run per command;
# none on created_at, which only load_commands (once, at start) orders by: sorting then costs
# less than keeping an index up to date on every save (about 15 % of a save).
# dead_letters.command_id has no declared type, so no affinity: an int id stays an int and a str
# id a str, and 5 and "5" stay distinct, as they are for the manager.
# commands.not_before (version 2) is a delayed command's due time (epoch seconds), else NULL.
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS commands (
    seq             INTEGER PRIMARY KEY,
    command_id      TEXT NOT NULL UNIQUE,
    command_type    TEXT NOT NULL,
    lane_id         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    retry_count     INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    last_attempt_at REAL,
    not_before      REAL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq          INTEGER PRIMARY KEY,
    command_id   NOT NULL,
    command_type TEXT NOT NULL,
    lane_id      TEXT NOT NULL,
    error        TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    failed_at    REAL NOT NULL,
    payload      TEXT
);
CREATE INDEX IF NOT EXISTS dead_letters_by_command ON dead_letters (command_id);
"""

# version -> the statements that bring a database of that version to the next one
_UPGRADES: Final = {
    1: ("ALTER TABLE commands ADD COLUMN not_before REAL",),
}

_SAVE_HEAD: Final = """
INSERT INTO commands
    (command_id, command_type, lane_id, payload, retry_count, created_at, last_attempt_at)
VALUES """
_SAVE_TAIL: Final = """
ON CONFLICT (command_id) DO UPDATE SET
    command_type = excluded.command_type, lane_id = excluded.lane_id,
    payload = excluded.payload, retry_count = excluded.retry_count,
    created_at = excluded.created_at, last_attempt_at = excluded.last_attempt_at,
    not_before = """
# SAVE_COMMAND takes a CommandRow (not_before NULL), SAVE_DUE_COMMAND a DueCommandRow: the
# eighth parameter would make every save cost more, and most commands have no due time
SAVE_COMMAND: Final = f"{_SAVE_HEAD}(?, ?, ?, ?, ?, ?, ?){_SAVE_TAIL}NULL"
_SAVE_DUE_HEAD: Final = _SAVE_HEAD.replace("last_attempt_at)", "last_attempt_at, not_before)")
SAVE_DUE_COMMAND: Final = f"{_SAVE_DUE_HEAD}(?, ?, ?, ?, ?, ?, ?, ?){_SAVE_TAIL}excluded.not_before"
REMOVE_COMMAND: Final = "DELETE FROM commands WHERE command_id = ?"


class MultiRow:
    """The many-rows-per-statement form of a one-row statement: ``sql(n)`` takes the
    parameters of ``n`` rows, at most ``chunk`` at a time. One statement for hundreds of rows
    costs SQLite less than as many executions, and the sqlite3 module lets go of the GIL once
    per statement instead of once per row (the event loop thread competes for it)."""

    __slots__ = ("_cache", "_make", "chunk")

    def __init__(self, make: Callable[[int], str], chunk: int) -> None:
        self._make = make
        self.chunk = chunk
        self._cache: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._cache.get(rows)
        if text is None:
            text = self._cache[rows] = self._make(rows)
        return text


# Chunks stay below SQLITE_MAX_VARIABLE_NUMBER (999 before SQLite 3.32, 32766 since).
MULTI_ROW: Final = {
    SAVE_COMMAND: MultiRow(
        lambda n: _SAVE_HEAD + ",".join(["(?,?,?,?,?,?,?)"] * n) + _SAVE_TAIL + "NULL", 128
    ),
    SAVE_DUE_COMMAND: MultiRow(
        lambda n: (
            _SAVE_DUE_HEAD
            + ",".join(["(?,?,?,?,?,?,?,?)"] * n)
            + _SAVE_TAIL
            + "excluded.not_before"
        ),
        120,
    ),
    REMOVE_COMMAND: MultiRow(
        lambda n: "DELETE FROM commands WHERE command_id IN (" + ",".join("?" * n) + ")", 512
    ),
}
# a retry's backoff is not stored: not_before keeps the first due time (past by then)
MARK_ATTEMPT: Final = (
    "UPDATE commands SET retry_count = ?, last_attempt_at = ? WHERE command_id = ?"
)
LOAD_COMMANDS: Final = """
SELECT command_id, command_type, lane_id, payload, retry_count, created_at, last_attempt_at,
    not_before
FROM commands ORDER BY created_at, seq
"""
SAVE_DEAD_LETTER: Final = """
INSERT INTO dead_letters
    (command_id, command_type, lane_id, error, attempts, failed_at, payload)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
LOAD_DEAD_LETTERS: Final = """
SELECT command_id, command_type, lane_id, error, attempts, failed_at, payload
FROM dead_letters ORDER BY seq
"""
REMOVE_DEAD_LETTER: Final = "DELETE FROM dead_letters WHERE command_id = ?"
CLEAR_DEAD_LETTERS: Final = "DELETE FROM dead_letters"
CLEAR_COMMANDS: Final = "DELETE FROM commands"


def describe_target(path: str) -> tuple[str, bool]:
    """(the name errors use, whether ``path`` is a ``file:`` URI) for a database path."""
    if path.startswith("file:"):
        return path, True
    if path == ":memory:" or path == "":
        return path, False
    return os.path.abspath(path), False


def _open_hint(path: str, uri: bool, exc: sqlite3.Error) -> BaseException | str:
    """A clearer cause than SQLite's "unable to open database file" when we can tell why."""
    if uri or getattr(exc, "sqlite_errorname", "") != "SQLITE_CANTOPEN":
        return exc
    directory = os.path.dirname(path) or "."
    if os.path.isdir(path):
        return f"{path} is a directory ({exc})"
    if not os.path.isdir(directory):
        return f"directory {directory} does not exist ({exc})"
    if not os.access(directory, os.W_OK):
        return f"directory {directory} is not writable ({exc})"
    return exc


def connect(path: str, *, synchronous: Synchronous, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with the schema in place; StorageError naming why not.

    Must run on the thread that will use the connection (sqlite3 checks it).
    """
    name, uri = describe_target(path)
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, uri=uri, cached_statements=32
        )
    except sqlite3.Error as exc:
        raise StorageError(name, "open", _open_hint(name, uri, exc)) from exc
    try:
        # journal_mode reads the header first, so a file that is not a database fails here
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        _ensure_schema(conn, name)
    except StorageError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise StorageError(name, "open", _open_hint(name, uri, exc)) from exc
    return conn


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _too_new(name: str, version: int) -> StorageError:
    return StorageError(
        name,
        "open",
        f"schema version {version} is newer than this lanecore supports ({SCHEMA_VERSION})",
    )


def _ensure_schema(conn: sqlite3.Connection, name: str) -> None:
    """Create the schema on first open, or upgrade one made by an older lanecore (in one
    transaction: every step or none); refuse a database from a newer lanecore."""
    version = _user_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise _too_new(name, version)
    try:
        conn.execute("BEGIN IMMEDIATE")  # another process may be creating or upgrading it now
        version = _user_version(conn)
        if version > SCHEMA_VERSION:
            raise _too_new(name, version)
        if version == 0:
            statements: list[str] = [s for s in _SCHEMA.split(";") if s.strip()]
        else:
            statements = [s for step in range(version, SCHEMA_VERSION) for s in _UPGRADES[step]]
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        if 0 < version < SCHEMA_VERSION and isinstance(exc, sqlite3.Error):
            what = f"open (upgrading schema version {version} to {SCHEMA_VERSION})"
            raise StorageError(name, what, exc) from exc
        raise
