"""Commands run in a copy of the contextvars context current at submit, as asyncio.create_task
runs a coroutine: every attempt (first run, retries) in that copy, what a command sets stays in
it, recovered named commands run in a fresh context. Both cores, both loops."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from pathlib import Path
from typing import Any

from lanecore import LaneConfig, QueueManager, QueueManagerBuilder, RetryPolicy
from lanecore.storage import SqliteStorage

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def manager(core: Any, config: LaneConfig | None = None, storage: Any = None) -> QueueManager:
    builder = (
        QueueManagerBuilder()
        .with_implementation(core.name)
        .with_lane("work", config or LaneConfig(1, 1), 0)
    )
    if storage is not None:
        builder = builder.with_storage(storage)
    return builder.build()


def test_each_command_sees_its_submitters_value(core: Any, run: Any) -> None:
    """20 coroutines each set the var and submit a command that suspends before and after
    reading it; one runner (cap 1) runs them all, each seeing its own submitter's value."""

    async def main() -> None:
        m = manager(core)

        async def command() -> tuple[str | None, str | None]:
            await asyncio.sleep(0)
            before = request_id.get()
            await asyncio.sleep(0.001)
            return before, request_id.get()

        async def caller(i: int) -> tuple[str | None, str | None]:
            request_id.set(f"req-{i}")
            return await m.submit("work", command)

        async with m:
            seen = await asyncio.gather(*(caller(i) for i in range(20)))
        assert seen == [(f"req-{i}", f"req-{i}") for i in range(20)]
        assert request_id.get() is None

    run(main())


def test_what_a_command_sets_stays_in_its_own_context(core: Any, run: Any) -> None:
    """A command's ContextVar.set is seen neither by the next command on the same runner nor by
    the submitter; a command that finishes without suspending is no exception."""

    async def main() -> None:
        m = manager(core)

        async def setter(value: str, suspend: bool) -> str | None:
            seen = request_id.get()
            request_id.set(value)
            if suspend:
                await asyncio.sleep(0)
            return seen

        async with m:
            request_id.set("outer")
            handles = [
                m.submit("work", functools.partial(setter, f"leak-{i}", i % 2 == 0))
                for i in range(6)
            ]
            assert await asyncio.gather(*handles) == ["outer"] * 6
            assert request_id.get() == "outer"

    run(main())


class _ObjectCommand:
    command_type = "object"

    async def execute(self) -> str | None:
        await asyncio.sleep(0)
        return request_id.get()


async def _read(_payload: Any = None) -> str | None:
    await asyncio.sleep(0)
    return request_id.get()


def test_every_command_form_runs_in_the_submit_context(core: Any, run: Any) -> None:
    """Async function, partial, object command, named command, submit_many, a command with its
    own id or timeout (the shell's checked path): each sees the value current at its submit."""

    async def main() -> None:
        m = manager(core, LaneConfig(1, 4))
        m.register("read", _read)
        async with m:
            forms: list[tuple[str, Any]] = []
            for name, submit in [
                ("fn", lambda: m.submit("work", _read)),
                ("partial", lambda: m.submit("work", functools.partial(_read, None))),
                ("object", lambda: m.submit("work", _ObjectCommand())),
                ("named", lambda: m.submit("work", "read", {"x": 1})),
                ("with id", lambda: m.submit("work", _read, command_id="with-id")),
                ("timeout", lambda: m.submit("work", _read, timeout=5)),
                ("many", lambda: m.submit_many("work", [_read, _read])),
            ]:
                request_id.set(name)
                forms.append((name, submit()))
            request_id.set("later")  # set after every submit: no command may see it
            for name, submitted in forms:
                handles = submitted if isinstance(submitted, list) else [submitted]
                assert await asyncio.gather(*handles) == [name] * len(handles), name

    run(main())


def test_retries_run_in_the_same_context(core: Any, run: Any) -> None:
    """Each attempt runs in the submitter's copy: the submitter's value in every attempt."""

    async def main() -> None:
        policy = RetryPolicy.fixed(2, 0.001)
        m = manager(core, LaneConfig(1, 1).with_retry_policy(policy))
        seen: list[str | None] = []

        async def flaky() -> str:
            seen.append(request_id.get())
            await asyncio.sleep(0)
            if len(seen) < 3:
                raise RuntimeError("try again")
            return "done"

        async with m:
            request_id.set("retried")
            handle = m.submit("work", flaky)
            request_id.set("changed after submit")
            assert await handle == "done"
        assert seen == ["retried"] * 3

    run(main())


def test_a_timed_out_attempt_ran_in_the_submit_context(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)
        seen: list[str | None] = []

        async def slow() -> None:
            seen.append(request_id.get())
            await asyncio.sleep(10)

        async with m:
            request_id.set("timed")
            handle = m.submit("work", slow, timeout=0.01)
            try:
                await handle
            except Exception as exc:
                assert type(exc).__name__ == "CommandTimeout"
            else:  # pragma: no cover - the command cannot finish in time
                raise AssertionError("the command should have timed out")
        assert seen == ["timed"]

    run(main())


def test_recovered_named_commands_run_in_a_fresh_context(
    core: Any, run: Any, tmp_path: Path
) -> None:
    async def main() -> None:
        first = manager(core, storage=SqliteStorage(tmp_path / "q.db"))

        async def never(_payload: Any) -> None:
            await asyncio.sleep(3600)

        first.register("job", never)
        await first.start()
        request_id.set("first process")
        handle = first.submit("work", "job", 1)
        await handle.persisted()
        await first.close()

        second = manager(core, storage=SqliteStorage(tmp_path / "q.db"))
        second.register("job", _read)
        request_id.set("starter of the second manager")
        async with second:
            (recovered,) = second.recovered
            assert await recovered is None

    run(main())


def test_a_retry_sees_what_its_earlier_attempt_set(core: Any, run: Any) -> None:
    """Attempts of one command share its context copy, as the steps of one Task do; other
    commands from the same submitter context never see it."""

    async def main() -> None:
        policy = RetryPolicy.fixed(1, 0.001)
        m = manager(core, LaneConfig(1, 1).with_retry_policy(policy))
        seen: list[str | None] = []

        async def once_then_ok() -> str | None:
            seen.append(request_id.get())
            if request_id.get() == "shared":
                request_id.set("set by attempt 1")
                raise RuntimeError("again")
            return request_id.get()

        async def reader() -> str | None:
            return request_id.get()

        async with m:
            request_id.set("shared")
            first = m.submit("work", once_then_ok)
            second = m.submit("work", reader)
            assert await first == "set by attempt 1"
            assert await second == "shared"
        assert seen == ["shared", "set by attempt 1"]

    run(main())
