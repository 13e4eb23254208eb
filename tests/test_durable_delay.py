"""Named delayed commands keep their due time through storage and a restart (issue 13, part 4):
``StoredCommand.not_before``, the sqlite schema v2 (and the upgrade of a v1 database), and
recovery that schedules a stored command for its due time, or runs it at once once that passed.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from lanecore import LaneConfig, QueueManagerBuilder
from lanecore.storage import MemoryStorage, SqliteStorage, StorageError, StoredCommand

# uvloop keeps loop time in whole milliseconds, so its timers may fire up to 1 ms before the
# exact instant; the tolerance below covers that and nothing else
CLOCK_RESOLUTION = 0.002

# the commands table as lanecore made it before not_before existed (schema version 1)
SCHEMA_V1 = """
CREATE TABLE commands (
    seq             INTEGER PRIMARY KEY,
    command_id      TEXT NOT NULL UNIQUE,
    command_type    TEXT NOT NULL,
    lane_id         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    retry_count     INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    last_attempt_at REAL
);
CREATE TABLE dead_letters (
    seq          INTEGER PRIMARY KEY,
    command_id   NOT NULL,
    command_type TEXT NOT NULL,
    lane_id      TEXT NOT NULL,
    error        TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    failed_at    REAL NOT NULL,
    payload      TEXT
);
CREATE INDEX dead_letters_by_command ON dead_letters (command_id);
PRAGMA user_version = 1;
"""


def build(core: Any, storage: Any) -> Any:
    return (
        QueueManagerBuilder()
        .with_lane("work", LaneConfig(1, 2), 0)
        .with_implementation(core.name)
        .with_storage(storage)
        .build()
    )


def make_v1_database(path: Path) -> None:
    """A database as the previous lanecore left it: one stored command, one dead letter."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL").fetchone()  # as lanecore opens it
        conn.executescript(SCHEMA_V1)
        conn.execute(
            "INSERT INTO commands (command_id, command_type, lane_id, payload, retry_count,"
            " created_at, last_attempt_at) VALUES ('old-1', 'echo', 'work', '{\"n\":1}', 1,"
            " 1700000000.0, 1700000001.0)"
        )
        conn.execute(
            "INSERT INTO dead_letters (command_id, command_type, lane_id, error, attempts,"
            " failed_at, payload) VALUES ('old-2', 'echo', 'work', 'boom', 3, 1700000002.0,"
            " '[2]')"
        )
        conn.commit()
    finally:
        conn.close()


def columns(path: Path) -> tuple[int, list[str]]:
    """(user_version, the commands table's column names) read with a plain connection."""
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        names = [row[1] for row in conn.execute("PRAGMA table_info(commands)")]
        return int(version), names
    finally:
        conn.close()


# ----------------------------------------------------------------------------- storage level


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_not_before_round_trips_through_storage(kind: str, tmp_path: Path, run: Any) -> None:
    async def main() -> None:
        storage: Any = MemoryStorage() if kind == "memory" else SqliteStorage(tmp_path / "s.db")
        delayed = StoredCommand(
            "d", "job", "lane", {"n": 1}, created_at=1_700_000_000.0, not_before=1_700_000_060.5
        )
        plain = StoredCommand("p", "job", "lane", 2, created_at=1_700_000_001.0)
        await storage.save_commands([delayed, plain])
        loaded = await storage.load_commands()
        assert loaded == [delayed, plain]
        assert loaded[0].not_before == 1_700_000_060.5 and loaded[1].not_before is None
        await storage.mark_attempt("d", 1, 1_700_000_061.0)  # keeps the due time
        marked = (await storage.load_commands())[0]
        assert (marked.retry_count, marked.not_before) == (1, 1_700_000_060.5)
        moved = StoredCommand("p", "job", "lane", 2, created_at=1_700_000_001.0, not_before=9.0)
        await storage.save_command(moved)  # a replace by id sets it, and can clear it again
        assert (await storage.load_commands())[1].not_before == 9.0
        await storage.save_command(plain)
        assert (await storage.load_commands())[1].not_before is None
        await storage.close()
        if kind == "sqlite":
            async with SqliteStorage(tmp_path / "s.db") as again:
                assert [c.not_before for c in await again.load_commands()] == [
                    1_700_000_060.5,
                    None,
                ]

    run(main())


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_mixed_batch_keeps_its_order_and_due_times(kind: str, tmp_path: Path, run: Any) -> None:
    """Stretches with and without due times (longer than one multi-row statement) in one
    save_commands call: every field kept, ties in created_at in save order."""

    async def main() -> None:
        storage: Any = MemoryStorage() if kind == "memory" else SqliteStorage(tmp_path / "m.db")
        commands = [
            StoredCommand(
                f"c{n}",
                "job",
                "lane",
                n,
                created_at=1_700_000_000.0,
                not_before=None if (n // 150) % 2 else 1_700_000_000.0 + n,
            )
            for n in range(600)
        ]
        await storage.save_commands(commands)
        await storage.save_commands(commands[:1])  # only due times
        assert await storage.load_commands() == commands
        await storage.close()

    run(main())


@pytest.mark.parametrize(
    ("value", "error"),
    [(math.nan, ValueError), (math.inf, ValueError), ("soon", TypeError), (True, TypeError)],
)
def test_not_before_is_checked_like_the_other_times(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="not_before"):
        StoredCommand("c", "t", "l", not_before=value)


def test_not_before_is_normalised_to_float() -> None:
    command = StoredCommand("c", "t", "l", not_before=5)
    assert type(command.not_before) is float and command.not_before == 5.0


def test_a_v1_database_is_upgraded_and_still_loads(tmp_path: Path, run: Any) -> None:
    path = tmp_path / "v1.db"
    make_v1_database(path)

    async def main() -> None:
        async with SqliteStorage(path) as storage:
            [old] = await storage.load_commands()
            assert old == StoredCommand(
                "old-1", "echo", "work", {"n": 1}, 1, 1_700_000_000.0, 1_700_000_001.0
            )
            assert old.not_before is None
            [letter] = await storage.load_dead_letters()
            assert letter.letter.command_id == "old-2" and letter.payload == [2]
            new = StoredCommand("new", "echo", "work", created_at=1_700_000_003.0, not_before=7.0)
            await storage.save_command(new)
        async with SqliteStorage(path) as reopened:  # the upgraded file opens as it is
            assert [c.not_before for c in await reopened.load_commands()] == [None, 7.0]

    run(main())
    version, names = columns(path)
    assert version == 2 and names[-1] == "not_before"


def test_a_read_only_v1_database_names_the_upgrade_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    make_v1_database(path)
    with pytest.raises(StorageError, match="upgrading schema version 1 to 2") as caught:
        SqliteStorage(f"file:{path}?mode=ro")
    assert str(path) in str(caught.value) and caught.value.cause is not None
    version, names = columns(path)
    assert version == 1 and "not_before" not in names  # left as it was


# ----------------------------------------------------------------------------- through a manager


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_delayed_named_command_is_stored_with_its_due_time(
    core: Any, run: Any, kind: str, tmp_path: Path
) -> None:
    async def main() -> None:
        storage: Any = MemoryStorage() if kind == "memory" else SqliteStorage(tmp_path / "q.db")
        m = build(core, storage)

        gate = asyncio.Event()

        async def echo(payload: Any) -> Any:
            await gate.wait()
            return payload

        m.register("echo", echo)
        await m.start()
        before = time.time()
        later = m.submit("work", "echo", "later", delay=3600)
        now = m.submit("work", "echo", "now")
        after = time.time()
        await later.persisted()
        await now.persisted()
        stored = {c.command_id: c for c in await storage.load_commands()}
        due = stored[later.command_id].not_before
        assert due is not None and before + 3600 <= due <= after + 3600
        assert stored[now.command_id].not_before is None
        gate.set()
        assert await now == "now"
        await m.close()  # cancels the scheduled one, which stays stored with its due time
        assert later.cancelled()
        if kind == "sqlite":
            async with SqliteStorage(tmp_path / "q.db") as check:
                [kept] = await check.load_commands()
            assert (kept.command_id, kept.not_before) == (later.command_id, due)

    run(main())


def test_after_a_restart_it_is_scheduled_and_runs_no_earlier_than_due(
    core: Any, run: Any, tmp_path: Path
) -> None:
    path = tmp_path / "q.db"

    async def main() -> None:
        first = build(core, SqliteStorage(path))

        async def never(payload: Any) -> Any:
            raise AssertionError("ran before the restart")

        first.register("echo", never)
        await first.start()
        handle = first.submit("work", "echo", {"x": 1}, delay=1.0)
        await handle.persisted()
        await first.close()  # long before it is due: it stays stored
        assert handle.cancelled()
        check = SqliteStorage(path)
        [stored] = await check.load_commands()
        await check.close()
        assert stored.not_before is not None

        ran_at: list[float] = []

        async def echo(payload: Any) -> Any:
            ran_at.append(time.time())
            return payload

        second = build(core, SqliteStorage(path))
        second.register("echo", echo)
        async with second:
            [again] = second.recovered
            assert again.command_id == handle.command_id
            status = second.stats().lanes["work"]
            assert (status.scheduled, status.pending, status.active) == (1, 0, 0)
            assert await again == {"x": 1}
        assert ran_at[0] >= stored.not_before - CLOCK_RESOLUTION
        check = SqliteStorage(path)
        assert await check.load_commands() == []  # finished: forgotten
        await check.close()

    run(main())


def test_one_whose_due_time_passed_while_closed_runs_at_once(
    core: Any, run: Any, tmp_path: Path
) -> None:
    path = tmp_path / "q.db"

    async def main() -> None:
        first = build(core, SqliteStorage(path))

        async def never(payload: Any) -> Any:
            raise AssertionError("ran before the restart")

        first.register("echo", never)
        await first.start()
        handle = first.submit("work", "echo", "late", delay=0.5)
        await handle.persisted()
        await first.close()
        check = SqliteStorage(path)
        [stored] = await check.load_commands()
        await check.close()
        assert stored.not_before is not None
        while time.time() <= stored.not_before:  # "the process is down" until it is overdue
            await asyncio.sleep(0.05)

        async def echo(payload: Any) -> Any:
            return payload

        second = build(core, SqliteStorage(path))
        second.register("echo", echo)
        async with second:
            [again] = second.recovered
            status = second.stats().lanes["work"]
            assert status.scheduled == 0 and status.pending + status.active == 1
            assert await again == "late"

    run(main())


def test_a_v1_database_recovers_its_commands_at_once(core: Any, run: Any, tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    make_v1_database(path)

    async def main() -> None:
        m = build(core, SqliteStorage(path))

        async def echo(payload: Any) -> Any:
            return payload

        m.register("echo", echo)
        async with m:
            [old] = m.recovered
            assert old.command_id == "old-1"
            assert m.stats().lanes["work"].scheduled == 0
            assert await old == {"n": 1}
            assert m.dlq.can_retry("old-2")
            assert await m.dlq.retry("old-2") == [2]

    run(main())
