"""Named commands, persisted(), recovery on start, stored dead letters, and a SIGKILL crash."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from lanecore import (
    LaneConfig,
    LaneError,
    NotPersisted,
    QueueManagerBuilder,
    RetryPolicy,
    UnknownCommandType,
)
from lanecore.storage import MemoryStorage, SqliteStorage, StorageError


def build(core: Any, storage: Any = None, config: LaneConfig | None = None) -> Any:
    builder = QueueManagerBuilder().with_lane("work", config or LaneConfig(1, 2), 3)
    builder = builder.with_implementation(core.name)
    if storage is not None:
        builder = builder.with_storage(storage)
    return builder.build()


async def double(payload: Any) -> Any:
    return payload * 2


def test_named_commands_run_their_handler(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core)
        m.register("double", double)
        assert m.command_types == ["double"]
        async with m:
            h = m.submit("work", "double", 21)
            assert await h == 42
            assert h.command_type == "double"
            assert isinstance(h.command_id, str)

    run(main())


def test_named_submit_bad_input_leaves_no_trace(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core)
        m.register("double", double)
        async with m:
            with pytest.raises(UnknownCommandType, match="triple"):
                m.submit("work", "triple", 1)
            with pytest.raises(LookupError):
                m.submit("work", "triple", 1)
            with pytest.raises(TypeError, match="JSON"):
                m.submit("work", "double", {1, 2})
            with pytest.raises(TypeError, match="JSON"):
                m.submit("work", "double", float("nan"))
            with pytest.raises(TypeError, match="payload goes with a named command"):
                m.submit("work", double, 3)
            with pytest.raises(TypeError, match="command_id"):
                m.submit("work", "double", 1, command_id=7)
            assert m.stats().total_pending == 0 and m.stats().total_active == 0

    run(main())


def test_register_checks_its_arguments(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core)

        def sync_handler(payload: Any) -> Any:
            return payload

        with pytest.raises(TypeError, match="not async"):
            m.register("sync", sync_handler)
        with pytest.raises(TypeError, match="command_type"):
            m.register("", double)
        with pytest.raises(TypeError, match="callable"):
            m.register("x", 42)
        m.register("sync", sync_handler, run_in_executor=True)
        m.register("double", double)
        with pytest.raises(ValueError, match="already registered"):
            m.register("double", double)
        m.register("double", double, replace=True)
        async with m:
            assert await m.submit("work", "sync", "s") == "s"

    run(main())


def test_persisted_needs_storage_and_a_named_command(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core)
        m.register("double", double)

        async def plain() -> int:
            return 1

        async with m:
            h = m.submit("work", "double", 1)
            with pytest.raises(NotPersisted):
                await h.persisted()
            with pytest.raises(NotPersisted):
                await m.submit("work", plain).persisted()
            await h

        m2 = build(core, MemoryStorage())
        m2.register("double", double)
        async with m2:
            h = m2.submit("work", "double", 2)
            await h.persisted()
            assert await h == 4
            with pytest.raises(NotPersisted):
                await m2.submit("work", plain).persisted()

    run(main())


def test_sqlite_commands_are_stored_until_they_finish(core: Any, run: Any, tmp_path: Path) -> None:
    async def main() -> None:
        storage = SqliteStorage(tmp_path / "q.db")
        m = build(core, storage)
        gate = asyncio.Event()

        async def wait(payload: Any) -> Any:
            await gate.wait()
            return payload

        m.register("wait", wait)
        async with m:
            handles = [m.submit("work", "wait", n) for n in range(5)]
            await asyncio.gather(*(h.persisted() for h in handles))
            stored = await storage.load_commands()
            assert sorted(c.payload for c in stored) == [0, 1, 2, 3, 4]
            assert {c.command_id for c in stored} == {h.command_id for h in handles}
            assert all(c.lane_id == "work" and c.command_type == "wait" for c in stored)
            gate.set()
        check = SqliteStorage(tmp_path / "q.db")
        assert await check.load_commands() == []
        await check.close()

    run(main())


def test_restart_reruns_unfinished_commands(core: Any, run: Any, tmp_path: Path) -> None:
    async def main() -> None:
        first = build(core, SqliteStorage(tmp_path / "q.db"))

        async def never(payload: Any) -> Any:
            await asyncio.sleep(3600)

        first.register("job", never)
        await first.start()
        handles = [first.submit("work", "job", {"n": n}) for n in range(6)]
        await asyncio.gather(*(h.persisted() for h in handles))
        await first.close()  # cancels them, but they stay stored
        assert all(h.cancelled() for h in handles)

        done: list[Any] = []

        async def record(payload: Any) -> Any:
            done.append(payload["n"])
            return payload["n"]

        second = build(core, SqliteStorage(tmp_path / "q.db"))
        second.register("job", record)
        async with second:
            assert sorted(h.command_id for h in second.recovered) == sorted(
                h.command_id for h in handles
            )
            results = await asyncio.gather(*second.recovered)
        assert sorted(done) == list(range(6)) and sorted(results) == list(range(6))
        check = SqliteStorage(tmp_path / "q.db")
        assert await check.load_commands() == []
        await check.close()

    run(main())


def test_user_cancel_forgets_the_stored_command(core: Any, run: Any, tmp_path: Path) -> None:
    async def main() -> None:
        storage = SqliteStorage(tmp_path / "q.db")
        m = build(core, storage, LaneConfig(1, 1))

        async def slow(payload: Any) -> Any:
            await asyncio.sleep(3600)

        m.register("slow", slow)
        async with m:
            running = m.submit("work", "slow", 1)
            queued = m.submit("work", "slow", 2)
            await queued.persisted()
            queued.cancel()
            running.cancel()
        check = SqliteStorage(tmp_path / "q.db")
        assert await check.load_commands() == []
        await check.close()

    run(main())


def test_dead_letters_are_stored_reloaded_and_retried(core: Any, run: Any, tmp_path: Path) -> None:
    async def main() -> None:
        policy = RetryPolicy.fixed(1, 0.001)
        first = build(
            core, SqliteStorage(tmp_path / "q.db"), LaneConfig(1, 2).with_retry_policy(policy)
        )
        attempts: list[int] = []

        async def broken(payload: Any) -> Any:
            attempts.append(payload)
            raise RuntimeError(f"broken {payload}")

        async def plain() -> None:
            raise RuntimeError("plain")

        first.register("job", broken)
        async with first:
            h = first.submit("work", "job", 7)
            with pytest.raises(RuntimeError, match="broken 7"):
                await h
            with pytest.raises(RuntimeError):
                await first.submit("work", plain)
            assert len(first.dlq) == 2
            plain_id = first.dlq.list()[1].command_id
            assert first.dlq.can_retry(h.command_id) and not first.dlq.can_retry(plain_id)
            with pytest.raises(LaneError, match="cannot be retried"):
                first.dlq.retry(plain_id)
            with pytest.raises(LookupError):
                first.dlq.retry("nope")
        assert attempts == [7, 7]

        async def fixed(payload: Any) -> Any:
            return payload + 1

        second = build(core, SqliteStorage(tmp_path / "q.db"))
        second.register("job", fixed)
        async with second:
            letters = second.dlq.list()
            assert [d.command_id for d in letters] == [h.command_id]  # plain one: not stored
            assert letters[0].attempts == 2 and "broken 7" in letters[0].error
            again = second.dlq.retry(h.command_id)
            assert await again == 8
            assert len(second.dlq) == 0
        check = SqliteStorage(tmp_path / "q.db")
        assert await check.load_dead_letters() == []
        assert await check.load_commands() == []
        await check.close()

    run(main())


def test_retries_are_recorded_in_storage(core: Any, run: Any, tmp_path: Path) -> None:
    async def main() -> None:
        storage = SqliteStorage(tmp_path / "q.db")
        policy = RetryPolicy.fixed(3, 3600)
        m = build(core, storage, LaneConfig(1, 1).with_retry_policy(policy))

        async def flaky(payload: Any) -> Any:
            raise RuntimeError("again")

        m.register("flaky", flaky)
        await m.start()
        h = m.submit("work", "flaky", None)
        while m.stats().retrying == 0:
            await asyncio.sleep(0.005)
        stored = {c.command_id: c for c in await storage.load_commands()}
        assert stored[h.command_id].retry_count == 1
        assert stored[h.command_id].last_attempt_at is not None
        await m.close()

    run(main())


def test_storage_failure_at_submit_queues_nothing(core: Any, run: Any, tmp_path: Path) -> None:
    async def main() -> None:
        storage = SqliteStorage(tmp_path / "q.db")
        m = build(core, storage)
        m.register("double", double)
        await m.start()
        await storage.close()
        with pytest.raises(StorageError):
            m.submit("work", "double", 1)
        assert m.stats().total_pending == 0 and m.stats().total_active == 0
        await m.close()

    run(main())


def test_builder_rejects_a_non_storage(core: Any) -> None:
    with pytest.raises(TypeError, match="Storage"):
        QueueManagerBuilder().with_storage(object())  # type: ignore[arg-type]


CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from lanecore import LaneConfig, QueueManagerBuilder
    from lanecore.storage import SqliteStorage

    db, ran_path, persisted_path, core, count = sys.argv[1:6]

    async def main():
        m = (QueueManagerBuilder().with_lane("work", LaneConfig(1, 8), 0)
             .with_implementation(core).with_storage(SqliteStorage(db)).build())
        ran = open(ran_path, "a", buffering=1)
        persisted = open(persisted_path, "a", buffering=1)

        async def job(payload):
            await asyncio.sleep(0.001)
            ran.write(payload + "\\n")

        m.register("job", job)
        await m.start()

        async def report(handle):
            await handle.persisted()
            persisted.write(handle.command_id + "\\n")

        reports = []
        for n in range(int(count)):
            handle = m.submit("work", "job", None, command_id=f"c{n}")
            reports.append(asyncio.ensure_future(report(handle)))
            if n % 100 == 99:
                await asyncio.sleep(0)
        await asyncio.gather(*reports)
        print("all persisted", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def test_sigkill_loses_no_persisted_command(core: Any, run: Any, tmp_path: Path) -> None:
    """A child persists 5,000 named commands and is killed mid-run; a new manager on the same
    database runs the rest. Every persisted id ran at least once; the store ends empty; dead
    letters survive the restart."""
    db = tmp_path / "crash.db"
    ran = tmp_path / "ran.txt"
    persisted = tmp_path / "persisted.txt"

    async def seed_dead_letter() -> None:
        m = build(core, SqliteStorage(db))

        async def broken(payload: Any) -> Any:
            raise RuntimeError("kept")

        m.register("broken", broken)
        async with m:
            with pytest.raises(RuntimeError):
                await m.submit("work", "broken", 1, command_id="dead-1")

    run(seed_dead_letter())
    # the job handler of the child writes the payload; make the payload the id
    child_code = CHILD.replace(
        'm.submit("work", "job", None, command_id=f"c{n}")',
        'm.submit("work", "job", f"c{n}", command_id=f"c{n}")',
    )
    script = tmp_path / "child.py"
    script.write_text(child_code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, str(script), str(db), str(ran), str(persisted), core.name, "5000"],
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = ran.read_text().count("\n") if ran.exists() else 0
            if lines >= 300:
                break
            if child.poll() is not None:
                pytest.fail(f"child exited early with {child.returncode}")
            time.sleep(0.01)
        else:
            pytest.fail("the child never got going")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    persisted_ids = set(persisted.read_text().split())
    ran_before = ran.read_text().split()
    assert persisted_ids, "nothing was persisted before the kill"
    assert len(ran_before) < 5000, "the kill came too late to test recovery"

    async def finish() -> None:
        async def job(payload: Any) -> None:
            with open(ran, "a") as out:
                out.write(payload + "\n")

        m = build(core, SqliteStorage(db))
        m.register("job", job)
        async with m:
            assert [d.command_id for d in m.dlq.list()] == ["dead-1"]
        check = SqliteStorage(db)
        assert await check.load_commands() == []
        assert [d.letter.command_id for d in await check.load_dead_letters()] == ["dead-1"]
        await check.close()

    run(finish())
    ran_ids = set(ran.read_text().split())
    missing = persisted_ids - ran_ids
    assert not missing, f"{len(missing)} persisted commands never ran, e.g. {sorted(missing)[:5]}"


def test_named_submits_of_one_loop_iteration_share_a_transaction(
    core: Any, run: Any, tmp_path: Path
) -> None:
    """2,000 named submits in one go are written in a few transactions, not 2,000; each
    handle's persisted() still waits for its own commit, and finished commands are removed."""

    async def main() -> None:
        storage = SqliteStorage(tmp_path / "q.db")
        m = build(core, storage, LaneConfig(1, 8))
        m.register("double", double)
        async with m:
            before = storage.transactions
            handles = [m.submit("work", "double", n) for n in range(2000)]
            await asyncio.gather(*(h.persisted() for h in handles))
            assert storage.transactions - before <= 20
            assert [await h for h in handles] == [2 * n for n in range(2000)]
        check = SqliteStorage(tmp_path / "q.db")
        assert await check.load_commands() == []
        await check.close()

    run(main())


def test_payload_is_stored_as_it_was_at_submit(core: Any, run: Any, tmp_path: Path) -> None:
    async def main() -> None:
        storage = SqliteStorage(tmp_path / "q.db")
        m = build(core, storage)
        gate = asyncio.Event()

        async def hold(payload: Any) -> Any:
            await gate.wait()
            return payload

        m.register("hold", hold)
        async with m:
            payload = {"items": [1, 2]}
            h = m.submit("work", "hold", payload)
            payload["items"].append(3)  # after submit, before the batch is written
            await h.persisted()
            (stored,) = await storage.load_commands()
            assert stored.payload == {"items": [1, 2]}
            gate.set()

    run(main())


def test_a_command_id_sqlite_cannot_store_is_refused_at_submit(
    core: Any, run: Any, tmp_path: Path
) -> None:
    async def main() -> None:
        storage = SqliteStorage(tmp_path / "q.db")
        m = build(core, storage)
        m.register("double", double)
        async with m:
            ok = m.submit("work", "double", 1, command_id="fine-\u00e9")
            with pytest.raises(ValueError, match="UTF-8"):
                m.submit("work", "double", 1, command_id="bad-\udc80")
            assert await ok == 2
            assert m.stats().total_pending == 0
            await ok.persisted()

    run(main())


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_write_batch_keeps_call_order_of_removals_and_saves(
    run: Any, kind: str, tmp_path: Path
) -> None:
    """A removal queued before a save of the same id (a dead letter retried under its old id)
    must not delete the new save: runs are handed to the storage in call order. SqliteStorage
    takes the batch's rows as they are, other storages get StoredCommands made from them."""
    from lanecore.storage import SqliteStorage, StoredCommand
    from lanecore.storage.records import command_row
    from lanecore.write_batch import WriteBatch

    async def main() -> None:
        storage: Any = MemoryStorage() if kind == "memory" else SqliteStorage(tmp_path / "q.db")
        await storage.save_command(StoredCommand("a", "t", "work", 1))
        batch = WriteBatch(storage)
        batch.remove("a")
        new = StoredCommand("a", "t", "work", {"n": 2}, created_at=5.0)
        saved = batch.save(command_row(new), new.payload)
        batch.remove("b")
        await saved
        assert await storage.load_commands() == [new]
        if kind == "sqlite":
            await storage.close()

    run(main())


def test_a_failed_storage_write_surfaces_in_persisted(core: Any, run: Any) -> None:
    """The write of a batch fails (disk full, say): every persisted() of that batch raises
    the StorageError, the commands still run, and the manager keeps working."""

    class FailingWrites(MemoryStorage):
        fail = True

        def save_commands(self, commands: Any) -> Any:
            if not self.fail:
                return super().save_commands(commands)
            future = asyncio.get_running_loop().create_future()
            future.set_exception(StorageError("test", "save_commands", "disk full"))
            return future

    async def main() -> None:
        storage = FailingWrites()
        m = build(core, storage)
        m.register("double", double)
        async with m:
            handles = [m.submit("work", "double", n) for n in range(3)]
            for h in handles:
                with pytest.raises(StorageError, match="disk full"):
                    await h.persisted()
            assert [await h for h in handles] == [0, 2, 4]
            storage.fail = False
            ok = m.submit("work", "double", 5)
            await ok.persisted()
            assert await ok == 10

    run(main())
