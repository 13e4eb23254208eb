"""The storage layer (SPEC §8, issue 4): the Storage protocol, MemoryStorage and SqliteStorage.

Behavioural tests run on both backends and both event loops; SqliteStorage alone is tested for
durability across instances and a SIGKILL, batching, and failures (read-only, not a database,
missing or read-only directory, locked, corrupt, disk full, a connection that cannot roll back).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanecore import DeadLetter, LaneError
from lanecore.storage import (
    NO_PAYLOAD,
    MemoryStorage,
    SqliteStorage,
    Storage,
    StorageError,
    StoredCommand,
    StoredDeadLetter,
    _schema,
)
from lanecore.storage._writer import Op, Writer
from lanecore.storage.records import encode_payload

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]
REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(kind: str, directory: Path, **options: Any) -> MemoryStorage | SqliteStorage:
    if kind == "memory":
        return MemoryStorage()
    return SqliteStorage(directory / f"{uuid.uuid4().hex}.db", **options)


@contextlib.asynccontextmanager
async def opened(kind: str, directory: Path, **options: Any) -> AsyncIterator[Any]:
    storage = make(kind, directory, **options)
    try:
        yield storage
    finally:
        await storage.close()


def cmd(n: int | str, *, created: float | None = None, **fields: Any) -> StoredCommand:
    created_at = 1_700_000_000.0 + (n if isinstance(n, int) else 0) if created is None else created
    fields.setdefault("payload", {"n": n})
    return StoredCommand(f"c{n}", "job", "lane", created_at=created_at, **fields)


def ids(commands: list[StoredCommand]) -> list[str]:
    return [c.command_id for c in commands]


def rows_in(path: Path | str) -> list[str]:
    """The command ids in the database file, read with a plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT command_id FROM commands ORDER BY seq")]
    finally:
        conn.close()


@contextlib.contextmanager
def tmpfs(directory: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs on ``directory`` (root only); skip the test if that is not possible."""
    directory.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


# ----------------------------------------------------------------------------- both backends


def test_both_backends_satisfy_the_protocol(tmp_path: Path) -> None:
    memory, sqlite = MemoryStorage(), SqliteStorage(tmp_path / "p.db")
    assert isinstance(memory, Storage)
    assert isinstance(sqlite, Storage)
    sqlite.enqueue_close().result()
    assert issubclass(StorageError, LaneError)


def test_round_trip_of_every_field(kind: str, tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            full = StoredCommand(
                "id-1",
                "summarise",
                "prompt",
                {"text": "héllo ✓", "n": [1, 2.5, None, True], "nested": {"k": "v"}},
                retry_count=3,
                created_at=1_700_000_000.25,
                last_attempt_at=1_700_000_123.5,
            )
            minimal = StoredCommand("id-2", "ping", "control", created_at=1_700_000_001.0)
            assert await s.save_command(full) is None
            await s.save_command(minimal)
            loaded = await s.load_commands()
            assert loaded == [full, minimal]
            assert loaded[0].attempts == 3 and loaded[1].payload is None
            await s.remove_command("id-1")
            await s.remove_command("never-saved")  # unknown ids are ignored
            assert await s.load_commands() == [minimal]

    run(main())


def test_save_replaces_by_id_and_keeps_first_save_order(
    kind: str, tmp_path: Path, run: Run[None]
) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            same = 1_700_000_000.0
            for n in (1, 2, 3):
                await s.save_command(cmd(n, created=same))
            await s.save_command(cmd(1, created=same, payload="new", retry_count=2))
            loaded = await s.load_commands()
            assert ids(loaded) == ["c1", "c2", "c3"]
            assert loaded[0].payload == "new" and loaded[0].retry_count == 2

    run(main())


def test_load_commands_is_in_created_order(kind: str, tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            await s.save_commands([cmd(n) for n in (5, 1, 4)])
            await s.save_command(cmd(3))
            await s.save_command(cmd(2))
            assert ids(await s.load_commands()) == ["c1", "c2", "c3", "c4", "c5"]

    run(main())


def test_batches(kind: str, tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            await s.save_commands(cmd(n) for n in range(100))  # any iterable
            await s.save_commands([])
            await s.remove_commands([])
            await s.remove_commands([f"c{n}" for n in range(0, 100, 2)] + ["unknown"])
            assert ids(await s.load_commands()) == [f"c{n}" for n in range(1, 100, 2)]

    run(main())


def test_mark_attempt(kind: str, tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            await s.save_commands([cmd(1), cmd(2)])
            await s.mark_attempt("c1", 1, 1_700_000_500.0)
            before = time.time()
            await s.mark_attempt("c2", 4)  # at defaults to now
            await s.mark_attempt("unknown", 1, 1.0)  # ignored
            one, two = await s.load_commands()
            assert (one.retry_count, one.last_attempt_at) == (1, 1_700_000_500.0)
            assert one.payload == {"n": 1} and one.created_at == cmd(1).created_at
            assert two.retry_count == 4
            assert two.last_attempt_at is not None and before <= two.last_attempt_at <= time.time()
            with pytest.raises(ValueError, match="attempts"):
                s.mark_attempt("c1", -1)

    run(main())


def test_dead_letters(kind: str, tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            rebuildable = DeadLetter("job-1", "summarise", "prompt", "boom", 3, 1_700_000_000.0)
            null_payload = DeadLetter(7, "ping", "control", "bad ✗", 1, 1_700_000_001.0)
            opaque = DeadLetter("7", "closure", "query", "TimeoutError()", 2, 1_700_000_002.0)
            await s.save_dead_letter(rebuildable, {"text": "hi"})
            await s.save_dead_letter(null_payload, None)
            await s.save_dead_letter(opaque)
            await s.save_dead_letter(rebuildable, {"text": "again"})
            letters = await s.load_dead_letters()
            assert letters == [
                StoredDeadLetter(rebuildable, {"text": "hi"}),
                StoredDeadLetter(null_payload, None),
                StoredDeadLetter(opaque),
                StoredDeadLetter(rebuildable, {"text": "again"}),
            ]
            assert [x.has_payload for x in letters] == [True, True, False, True]
            assert letters[2].payload is NO_PAYLOAD
            # int 7 and str "7" stay distinct ids
            assert type(letters[1].letter.command_id) is int
            assert await s.remove_dead_letter(7) == 1
            assert await s.remove_dead_letter("job-1") == 2
            assert [x.letter for x in await s.load_dead_letters()] == [opaque]
            assert await s.clear_dead_letters() == 1
            assert await s.load_dead_letters() == []
            assert await s.clear_dead_letters() == 0
            with pytest.raises(TypeError, match="command_id"):
                s.save_dead_letter(DeadLetter(("tuple",), "t", "l", "e", 1))

    run(main())


def test_clear_all(kind: str, tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            await s.save_commands([cmd(n) for n in range(10)])
            await s.save_dead_letter(DeadLetter("x", "t", "l", "e", 1))
            await s.clear_all()
            assert await s.load_commands() == []
            assert await s.load_dead_letters() == []
            await s.save_command(cmd(1))  # still usable
            assert ids(await s.load_commands()) == ["c1"]

    run(main())


class NotJson:
    pass


@pytest.mark.parametrize(
    "payload", [NotJson(), {1, 2}, float("nan"), {"deep": [math.inf]}, b"bytes"], ids=repr
)
def test_non_json_payload_raises_type_error_before_queueing(
    kind: str, tmp_path: Path, run: Run[None], payload: Any
) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            with pytest.raises(TypeError, match=r"'bad-1'.*not JSON-serialisable"):
                s.save_command(StoredCommand("bad-1", "t", "l", payload))
            batch = [cmd(1), StoredCommand("bad-1", "t", "l", payload), cmd(2)]
            with pytest.raises(TypeError, match="'bad-1'"):
                s.save_commands(batch)  # the good ones are not saved either
            with pytest.raises(TypeError, match="'dl'"):
                s.save_dead_letter(DeadLetter("dl", "t", "l", "e", 1), payload)
            assert await s.load_commands() == []
            assert await s.load_dead_letters() == []
            assert s.transactions == 0

    run(main())


def test_circular_payload_is_refused(kind: str, tmp_path: Path, run: Run[None]) -> None:
    loop: list[Any] = []
    loop.append(loop)

    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            with pytest.raises(TypeError, match="'c'"):
                s.save_command(StoredCommand("c", "t", "l", loop))

    run(main())


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"command_id": ""}, ValueError),
        ({"command_id": 5}, TypeError),
        ({"lane_id": None}, TypeError),
        ({"command_type": "\udc80"}, ValueError),
        ({"retry_count": -1}, ValueError),
        ({"retry_count": True}, TypeError),
        ({"created_at": math.nan}, ValueError),
        ({"last_attempt_at": "now"}, TypeError),
    ],
)
def test_stored_command_checks_its_fields(fields: dict[str, Any], error: type[Exception]) -> None:
    base: dict[str, Any] = {"command_id": "c", "command_type": "t", "lane_id": "l"}
    with pytest.raises(error):
        StoredCommand(**(base | fields))


def test_stored_command_is_frozen_and_normalises_times() -> None:
    c = StoredCommand("c", "t", "l", created_at=5, last_attempt_at=6)
    assert type(c.created_at) is float and type(c.last_attempt_at) is float
    with pytest.raises(AttributeError):
        c.lane_id = "other"  # type: ignore[misc]
    assert not hasattr(c, "__dict__")


def test_closed_storage_refuses_work(kind: str, tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        s = make(kind, tmp_path)
        await s.save_command(cmd(1))
        await s.close()
        await s.close()  # harmless
        assert s.closed
        with pytest.raises(StorageError, match="closed"):
            s.save_command(cmd(2))
        with pytest.raises(StorageError, match="closed"):
            s.load_commands()

    run(main())


def test_concurrent_saves_from_many_tasks(kind: str, tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:

            async def worker(w: int) -> None:
                for k in range(20):
                    n = w * 100 + k
                    await s.save_command(cmd(n))
                    if k % 5 == 4:
                        await s.mark_attempt(f"c{n}", 1, 1.0)
                    if k % 7 == 6:
                        await s.remove_command(f"c{n - 1}")

            await asyncio.gather(*(worker(w) for w in range(100)))
            loaded = {c.command_id: c for c in await s.load_commands()}
            expected = {
                f"c{w * 100 + k}" for w in range(100) for k in range(20) if k not in (5, 12)
            }
            assert set(loaded) == expected
            assert all(loaded[f"c{w * 100 + 4}"].retry_count == 1 for w in range(100))
            if kind == "sqlite":
                assert s.transactions < 2600 / 4  # 2,600 writes, grouped

    run(main())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads=st.lists(json_values, min_size=1, max_size=8))
def test_json_payloads_round_trip(
    kind: str, tmp_path: Path, run: Run[None], payloads: list[Any]
) -> None:
    async def main() -> None:
        async with opened(kind, tmp_path) as s:
            commands = [cmd(n, payload=p) for n, p in enumerate(payloads)]
            await s.save_commands(commands[: len(commands) // 2])
            for c in commands[len(commands) // 2 :]:
                s.save_command(c)  # not awaited: load_commands still sees it
            assert [c.payload for c in await s.load_commands()] == payloads
            await s.save_dead_letter(DeadLetter("d", "t", "l", "e", 1), payloads[0])
            assert (await s.load_dead_letters())[0].payload == payloads[0]

    run(main())


@given(payload=json_values)
def test_payload_encoding_is_compact_standard_json(payload: Any) -> None:
    expected = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    assert encode_payload("c", payload) == expected


# ----------------------------------------------------------------------------- SqliteStorage


def test_reopening_sees_everything_committed(tmp_path: Path, run: Run[None]) -> None:
    path = tmp_path / "state.db"

    async def write() -> None:
        s = await SqliteStorage.open(path)
        await s.save_commands([cmd(n) for n in range(50)])
        await s.remove_commands([f"c{n}" for n in range(10)])
        await s.mark_attempt("c10", 2, 1_700_000_900.0)
        await s.save_dead_letter(DeadLetter(3, "t", "l", "e", 2, 1.0), {"x": 1})
        for n in range(50, 60):  # queued, not awaited: close() commits them first
            s.save_command(cmd(n))
        await s.close()

    async def read() -> None:
        async with SqliteStorage(str(path)) as s:
            loaded = await s.load_commands()
            assert ids(loaded) == [f"c{n}" for n in range(10, 60)]
            assert (loaded[0].retry_count, loaded[0].last_attempt_at) == (2, 1_700_000_900.0)
            assert await s.load_dead_letters() == [
                StoredDeadLetter(DeadLetter(3, "t", "l", "e", 2, 1.0), {"x": 1})
            ]

    run(write())
    run(read())
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (_schema.SCHEMA_VERSION,)
    finally:
        conn.close()


def test_ten_thousand_saves_are_batched(tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with SqliteStorage(tmp_path / "many.db") as s:
            started = time.perf_counter()
            futures = [s.save_command(cmd(n)) for n in range(10_000)]
            await asyncio.gather(*futures)
            elapsed = time.perf_counter() - started
            assert elapsed < 9.0, elapsed
            assert s.transactions <= 10_000 / 20, s.transactions
            assert len(await s.load_commands()) == 10_000

    run(main())


def test_batch_max_and_flush_interval(tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with SqliteStorage(tmp_path / "small.db", batch_max=10) as s:
            await asyncio.gather(*(s.save_command(cmd(n)) for n in range(200)))
            assert s.transactions >= 20
            before = s.transactions
            await s.save_commands([cmd(n) for n in range(200, 300)])  # never split: atomic
            assert s.transactions == before + 1
        async with SqliteStorage(tmp_path / "slow.db", flush_interval=0.05) as s:

            async def trickle(n: int) -> None:
                await asyncio.sleep(n * 0.001)
                await s.save_command(cmd(n))

            await asyncio.gather(*(trickle(n) for n in range(30)))
            assert s.transactions < 15  # 30 saves over ~30 ms share few 50 ms windows (else 30)

    run(main())


def test_reads_and_writes_apply_in_call_order(tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with SqliteStorage(tmp_path / "order.db") as s:
            s.save_command(cmd(1))
            first = s.load_commands()
            s.remove_command("c1")
            s.save_command(cmd(2))
            second = s.load_commands()
            assert ids(await first) == ["c1"]
            assert ids(await second) == ["c2"]

    run(main())


def test_enqueue_forms_work_from_other_threads(tmp_path: Path) -> None:
    s = SqliteStorage(tmp_path / "threads.db")
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            futures = [s.enqueue_save_command(cmd(t * 1000 + k)) for k in range(200)]
            s.enqueue_save_commands([cmd(t * 1000 + 500)]).result(timeout=10)
            for f in futures:
                assert f.result(timeout=10) is None
            s.enqueue_mark_attempt(f"c{t * 1000}", 1).result(timeout=10)
            s.enqueue_remove_command(f"c{t * 1000 + 1}").result(timeout=10)
            s.enqueue_remove_commands([f"c{t * 1000 + 2}"]).result(timeout=10)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(s.enqueue_load_commands().result(timeout=10)) == 4 * 199
    s.enqueue_save_dead_letter(DeadLetter("d", "t", "l", "e", 1)).result(timeout=10)
    assert len(s.enqueue_load_dead_letters().result(timeout=10)) == 1
    assert s.enqueue_remove_dead_letter("d").result(timeout=10) == 1
    assert s.enqueue_clear_dead_letters().result(timeout=10) == 0
    s.enqueue_clear_all().result(timeout=10)
    s.enqueue_close().result(timeout=10)
    assert s.closed


def test_cancelling_an_awaitable_does_not_cancel_the_write(tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with SqliteStorage(tmp_path / "cancel.db") as s:
            future = s.save_command(cmd(1))
            future.cancel()
            assert ids(await s.load_commands()) == ["c1"]

    run(main())


def test_results_from_a_closed_loop_are_dropped_quietly(tmp_path: Path) -> None:
    s = SqliteStorage(tmp_path / "gone.db")

    async def leave_unawaited() -> None:
        for n in range(1000):
            s.save_command(cmd(n))

    asyncio.run(leave_unawaited())  # the loop closes before the writer answers
    assert len(s.enqueue_load_commands().result(timeout=10)) == 1000
    s.enqueue_close().result(timeout=10)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="batch_max"):
        SqliteStorage(":memory:", batch_max=0)
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStorage(":memory:", synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flush_interval"):
        SqliteStorage(":memory:", flush_interval=-1)


def test_synchronous_full(tmp_path: Path, run: Run[None]) -> None:
    async def main() -> None:
        async with SqliteStorage(tmp_path / "full.db", synchronous="FULL") as s:
            assert s.synchronous == "FULL"
            await asyncio.gather(*(s.save_command(cmd(n)) for n in range(100)))
        assert len(rows_in(tmp_path / "full.db")) == 100

    run(main())


# ----------------------------------------------------------------------------- failures


def test_read_only_database(tmp_path: Path, run: Run[None]) -> None:
    path = tmp_path / "ro.db"

    async def main() -> None:
        async with SqliteStorage(path) as s:
            await s.save_commands([cmd(1), cmd(2)])
        async with SqliteStorage(f"file:{path}?mode=ro") as ro:
            with pytest.raises(StorageError, match="readonly") as caught:
                await asyncio.gather(ro.save_command(cmd(3)), ro.save_command(cmd(4)))
            assert str(path) in str(caught.value) and caught.value.cause is not None
            assert ro.failed_batches == 1 and not ro.closed
            assert ids(await ro.load_commands()) == ["c1", "c2"]  # still usable for reads

    run(main())
    assert rows_in(path) == ["c1", "c2"]


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    junk = os.urandom(8192)
    path.write_bytes(junk)
    with pytest.raises(StorageError, match="not a database") as caught:
        SqliteStorage(path)
    assert caught.value.operation == "open" and caught.value.path == str(path)
    assert path.read_bytes() == junk  # untouched


def test_missing_directory_or_directory_path(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        SqliteStorage(tmp_path / "missing" / "x.db")
    with pytest.raises(StorageError, match="is a directory"):
        SqliteStorage(tmp_path)


def test_read_only_directory(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=64k") as directory, pytest.raises(StorageError) as caught:
        SqliteStorage(directory / "x.db")
    assert str(tmp_path / "ro" / "x.db") in str(caught.value)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SqliteStorage(path).enqueue_close().result()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StorageError, match="schema version 99"):
        SqliteStorage(path)


def test_locked_database(tmp_path: Path, run: Run[None]) -> None:
    path = tmp_path / "locked.db"

    async def main() -> None:
        async with SqliteStorage(path, busy_timeout=0.05) as s:
            await s.save_command(cmd(1))
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")
            other.execute("DELETE FROM commands")
            try:
                batch = [s.save_command(cmd(2)), s.save_commands([cmd(3), cmd(4)])]
                results = await asyncio.gather(*batch, return_exceptions=True)
                for result in results:
                    assert isinstance(result, StorageError), result
                    assert "locked" in str(result) and str(path) in str(result)
                assert s.failed_batches >= 1
            finally:
                other.execute("ROLLBACK")
                other.close()
            await s.save_command(cmd(5))  # usable again once the lock is gone
            assert ids(await s.load_commands()) == ["c1", "c5"]

    run(main())
    assert rows_in(path) == ["c1", "c5"]


def test_locked_database_at_open(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("CREATE TABLE x (y)")
    try:
        with pytest.raises(StorageError, match="locked"):
            SqliteStorage(path, busy_timeout=0.05)
    finally:
        other.execute("ROLLBACK")
        other.close()
    SqliteStorage(path).enqueue_close().result()  # and fine afterwards


def test_corrupt_database(tmp_path: Path, run: Run[None]) -> None:
    path = tmp_path / "corrupt.db"

    async def fill() -> None:
        async with SqliteStorage(path) as s:
            await s.save_commands([cmd(n, payload="x" * 200) for n in range(2000)])

    async def check() -> None:
        try:
            s = SqliteStorage(path)
        except StorageError:
            return  # refused at open: fine
        try:
            with pytest.raises(StorageError, match=r"malformed|corrupt|not a database"):
                await s.load_commands()
            assert not s.closed
        finally:
            await s.close()

    run(fill())
    size = path.stat().st_size
    assert size > 64 * 1024 and not Path(f"{path}-wal").exists()
    with path.open("r+b") as f:  # keep page 1 (header + schema), overwrite the rest
        f.seek(4096)
        f.write(os.urandom(size - 4096))
    run(check())


def test_disk_full(tmp_path: Path, run: Run[None]) -> None:
    with tmpfs(tmp_path / "full", "size=200k") as directory:
        path = directory / "full.db"
        saved: list[str] = []

        async def main() -> None:
            async with SqliteStorage(path) as s:
                error: StorageError | None = None
                for batch in range(200):
                    commands = [cmd(batch * 10 + k, payload="y" * 1500) for k in range(10)]
                    try:
                        await s.save_commands(commands)
                    except StorageError as exc:
                        error = exc
                        break
                    saved.extend(ids(commands))
                assert error is not None, "the 200k tmpfs never filled up"
                assert "full" in str(error) and str(path) in str(error)
                assert saved and ids(await s.load_commands()) == saved
            async with SqliteStorage(path) as again:
                assert ids(await again.load_commands()) == saved

        run(main())


class _CannotRollBack(sqlite3.Connection):
    """A connection whose COMMIT and ROLLBACK fail, once told to."""

    broken = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.broken and sql in ("COMMIT", "ROLLBACK"):
            raise sqlite3.OperationalError(f"injected failure of {sql}")
        return super().execute(sql, *args)


def test_storage_closes_itself_when_it_cannot_roll_back(tmp_path: Path) -> None:
    conns: list[_CannotRollBack] = []

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None, factory=_CannotRollBack)
        conn.execute("CREATE TABLE t (x)")
        conns.append(conn)
        return conn

    writer = Writer("x.db", connect, batch_max=100, flush_interval=0)
    conns[0].broken = True
    op = Op("insert", sql="INSERT INTO t VALUES (?)", rows=[(1,)])
    op.cfuture = concurrent.futures.Future()
    writer.submit(op)
    with pytest.raises(StorageError, match="injected failure of COMMIT"):
        op.cfuture.result(timeout=10)
    writer.closed.result(timeout=10)
    with pytest.raises(StorageError, match="failed rollback"):
        writer.submit(Op("insert", sql="INSERT INTO t VALUES (?)", rows=[(2,)]))


CHILD = """
import asyncio, sys
from lanecore.storage import SqliteStorage, StoredCommand

async def main():
    storage = SqliteStorage(sys.argv[1])

    async def one(n):
        await storage.save_command(StoredCommand(f"c{n}", "job", "lane", {"n": n}))
        sys.stdout.write(f"c{n}\\n")
        sys.stdout.flush()

    for start in range(0, 2000, 10):
        await asyncio.gather(*(one(n) for n in range(start, start + 10)))
        await asyncio.sleep(0.002)

if sys.argv[2] == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


def test_every_acknowledged_save_survives_sigkill(tmp_path: Path, loop_name: str) -> None:
    path = tmp_path / "crash.db"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    printed: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), loop_name],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        assert child.stdout is not None
        try:
            for line in child.stdout:
                printed.append(line.strip())
                if len(printed) == 300:
                    child.send_signal(signal.SIGKILL)
                    break
            printed.extend(line.strip() for line in child.stdout)  # written before it died
        finally:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert 300 <= len(printed) < 2000, len(printed)
    reopened = SqliteStorage(path)
    stored = set(ids(reopened.enqueue_load_commands().result(timeout=10)))
    reopened.enqueue_close().result(timeout=10)
    assert set(printed) <= stored
    assert len(stored) < 2000


def test_a_dropped_storage_still_commits_and_closes(tmp_path: Path) -> None:
    path = tmp_path / "dropped.db"
    s = SqliteStorage(path)
    s.enqueue_save_commands([cmd(n) for n in range(100)])
    closed = s._writer.closed
    del s
    closed.result(timeout=10)
    assert len(rows_in(path)) == 100
