"""``lanecore stats`` and ``lanecore dlq``: inspect and fix a SQLite store (SqliteStorage).

An existing store is required: the path is checked to be a file holding a lanecore database
before SqliteStorage opens it, because SqliteStorage creates a missing database (and its schema
in any SQLite file), which an inspection must never do.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lanecore.cli.errors import CliError
from lanecore.cli.text import table_lines
from lanecore.storage import SqliteStorage, StorageError, StoredCommand, StoredDeadLetter

SQLITE_MAGIC = b"SQLite format 3\x00"
STORE_TABLES = frozenset({"commands", "dead_letters"})


def _probe(path: Path, shown: str) -> None:
    """Raise CliError unless ``path`` is an existing file holding a lanecore store."""
    if not path.exists():
        raise CliError(f"no database at {shown}: the file does not exist")
    if not path.is_file():
        raise CliError(f"{shown} is not a file")
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise CliError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if header != SQLITE_MAGIC:
        what = "an empty file" if not header else "not an SQLite database"
        raise CliError(f"{shown} is not a lanecore store: it is {what}")
    try:
        # mode=rw: never create; the connection is closed before SqliteStorage opens the file
        with contextlib.closing(
            sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True)
        ) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error as exc:
        raise CliError(f"{shown} is not a readable SQLite database: {exc}") from None
    if not names >= STORE_TABLES:
        raise CliError(
            f"{shown} is an SQLite database but not a lanecore store (no commands and "
            "dead_letters tables)"
        )


@contextlib.contextmanager
def open_store(db: str) -> Iterator[SqliteStorage]:
    """The existing lanecore store at ``db``, closed on exit; CliError if there is none."""
    path = Path(db)
    _probe(path, db)
    try:
        storage = SqliteStorage(path)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    try:
        yield storage
    except StorageError as exc:
        raise CliError(str(exc)) from None
    finally:
        with contextlib.suppress(StorageError):
            storage.enqueue_close().result()


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _age(epoch: float, now: float) -> str:
    seconds = max(0.0, now - epoch)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit} ago" if value < 10 else f"{value:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


# ---------------------------------------------------------------------------------- stats


def stats_data(
    commands: list[StoredCommand], letters: list[StoredDeadLetter], db: str
) -> dict[str, Any]:
    """The ``stats --json`` document."""
    counts = Counter((c.lane_id, c.command_type) for c in commands)
    oldest = min((c.created_at for c in commands), default=None)
    return {
        "db": str(Path(db).absolute()),
        "commands": len(commands),
        "oldest_created_at": oldest,
        "by_lane": [
            {"lane_id": lane, "command_type": kind, "count": n}
            for (lane, kind), n in sorted(counts.items())
        ],
        "dead_letters": len(letters),
        "dead_letters_retryable": sum(1 for letter in letters if letter.has_payload),
    }


def stats(db: str, as_json: bool) -> int:
    """Print the stored (unfinished) commands per lane and type, and the dead-letter count."""
    with open_store(db) as storage:
        commands = storage.enqueue_load_commands().result()
        letters = storage.enqueue_load_dead_letters().result()
    data = stats_data(commands, letters, db)
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"store {data['db']}")
    oldest = data["oldest_created_at"]
    print(f"stored commands: {data['commands']} (not yet finished; re-run on the next start)")
    if oldest is not None:
        print(f"oldest created:  {_when(oldest)} ({_age(oldest, time.time())})")
        rows = [("lane", "command type", "count")] + [
            (e["lane_id"], e["command_type"], str(e["count"])) for e in data["by_lane"]
        ]
        for text in table_lines(rows, right={2}):
            print(f"  {text}")
    print(
        f"dead letters:    {data['dead_letters']} "
        f"({data['dead_letters_retryable']} with a payload, retryable)"
    )
    return 0


# ---------------------------------------------------------------------------------- dlq


def letter_data(stored: StoredDeadLetter) -> dict[str, Any]:
    """One dead letter for ``dlq list --json`` (payload null and has_payload false if none)."""
    letter = stored.letter
    return {
        "command_id": letter.command_id,
        "command_type": letter.command_type,
        "lane_id": letter.lane_id,
        "error": letter.error,
        "attempts": letter.attempts,
        "failed_at": letter.failed_at,
        "has_payload": stored.has_payload,
        "payload": stored.payload if stored.has_payload else None,
    }


def _one_line(text: str, limit: int = 60) -> str:
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def dlq_list(db: str, as_json: bool) -> int:
    """Print every dead letter, oldest first."""
    with open_store(db) as storage:
        letters = storage.enqueue_load_dead_letters().result()
    if as_json:
        print(json.dumps([letter_data(s) for s in letters], indent=2))
        return 0
    if not letters:
        print(f"no dead letters in {db}")
        return 0
    print(f"{_plural(len(letters), 'dead letter')} in {db}, oldest first:")
    rows: list[tuple[str, ...]] = [
        ("command_id", "type", "lane", "attempts", "failed at", "payload", "error")
    ]
    for s in letters:
        letter = s.letter
        rows.append(
            (
                str(letter.command_id),
                letter.command_type,
                letter.lane_id,
                str(letter.attempts),
                _when(letter.failed_at),
                "yes" if s.has_payload else "no",
                _one_line(letter.error),
            )
        )
    for text in table_lines(rows, right={3}):
        print(f"  {text}")
    return 0


def dlq_retry(db: str, command_id: str) -> int:
    """Move a dead letter back into the stored commands, for the next manager start to re-run.

    The CLI has no handler registry, so it cannot run the command itself; a manager on this
    store re-submits every stored command when it starts (given a handler for its type).
    """
    with open_store(db) as storage:
        letters = storage.enqueue_load_dead_letters().result()
        matches = [s for s in letters if str(s.letter.command_id) == command_id]
        if not matches:
            raise CliError(
                f"no dead letter with command_id {command_id!r} in {db} "
                "(`lanecore dlq list --db PATH` shows them)"
            )
        stored = matches[-1]  # the newest, if the command was dead-lettered more than once
        letter = stored.letter
        if not stored.has_payload:
            raise CliError(
                f"dead letter {command_id!r} ({letter.command_type} on lane {letter.lane_id!r}) "
                "has no payload: it was not a named command, so it cannot be rebuilt"
            )
        if any(c.command_id == command_id for c in storage.enqueue_load_commands().result()):
            raise CliError(
                f"a command with id {command_id!r} is already stored; not overwriting it"
            )
        storage.enqueue_save_command(
            StoredCommand(command_id, letter.command_type, letter.lane_id, stored.payload)
        ).result()
        stored_id = letter.command_id
        assert isinstance(stored_id, (str, int))  # what SqliteStorage stores
        storage.enqueue_remove_dead_letter(stored_id).result()
    print(
        f"moved dead letter {command_id!r} ({letter.command_type} on lane {letter.lane_id!r}) "
        f"back to the stored commands of {db}.\n"
        "The CLI cannot run handlers: the next QueueManager.start() on this store re-runs it, "
        f"given a handler registered for {letter.command_type!r}."
    )
    return 0


def dlq_clear(db: str, yes: bool) -> int:
    """Delete every dead letter (asks first on a terminal unless ``yes``)."""
    with open_store(db) as storage:
        count = len(storage.enqueue_load_dead_letters().result())
        if count == 0:
            print(f"no dead letters in {db}")
            return 0
        if not yes:
            question = f"delete {_plural(count, 'dead letter')} from {db}? [y/N] "
            if not sys.stdin or not sys.stdin.isatty():
                raise CliError(f"refusing to delete {_plural(count, 'dead letter')} without --yes")
            if input(question).strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 1
        deleted = storage.enqueue_clear_dead_letters().result()
    print(f"deleted {_plural(deleted, 'dead letter')} from {db}")
    return 0
