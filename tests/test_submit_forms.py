"""The core's own submit path: the common command forms it takes itself (async function,
partial of one, object with async execute, registered name without storage) behave exactly as
the shell's checked path, on both cores; whatever it does not take still gets the shell's
checks and errors."""

from __future__ import annotations

import asyncio
import functools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanecore import LaneConfig, LaneNotFound, QueueManager, QueueManagerBuilder, _coreapi, _impl


def manager(core: Any) -> QueueManager:
    return (
        QueueManagerBuilder()
        .with_implementation(core.name)
        .with_lane("work", LaneConfig(1, 4), 0)
        .with_lane("other", LaneConfig(1, 4), 1)
        .build()
    )


async def add(a: int, b: int = 0) -> int:
    await asyncio.sleep(0)
    return a + b


class Execute:
    command_type = "execute-object"

    def __init__(self, value: int) -> None:
        self.value = value

    async def execute(self) -> int:
        return self.value


class AsyncCall:
    """Not a common form (an instance with async __call__): the shell takes it."""

    async def __call__(self) -> str:
        return "called"


def test_common_forms_and_their_command_types(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)

        async def double(payload: int) -> int:
            return await add(payload, payload)

        m.register("double", double)
        async with m:
            h_fn = m.submit("work", functools.partial(add, 1, 2))
            h_nested = m.submit("other", functools.partial(functools.partial(add, 1), 5))
            h_obj = m.submit("work", Execute(7))
            h_named = m.submit("other", "double", 21)
            h_call = m.submit("work", AsyncCall())
            assert await asyncio.gather(h_fn, h_nested, h_obj, h_named, h_call) == [
                3,
                6,
                7,
                42,
                "called",
            ]
            assert h_fn.command_type == "add"
            assert h_obj.command_type == "execute-object"
            assert h_named.command_type == "double"
            assert h_named.lane_id == "other"
            assert isinstance(h_fn.command_id, int) and isinstance(h_named.command_id, str)

    run(main())


def test_many_command_classes_keep_working(core: Any, run: Any) -> None:
    """The core remembers per class whether execute is async; past its bound it starts over."""

    async def main() -> None:
        m = manager(core)
        classes = [type(f"C{i}", (Execute,), {}) for i in range(1100)]
        async with m:
            handles = [m.submit("work", cls(i)) for i, cls in enumerate(classes)]
            assert await asyncio.gather(*handles) == list(range(1100))

    run(main())


def test_forms_the_core_refuses_get_the_shells_errors(core: Any, run: Any) -> None:
    async def main() -> None:
        m = manager(core)

        async def echo(payload: Any) -> Any:
            return payload

        m.register("echo", echo)

        def sync() -> int:
            return 1

        class SyncExecute:
            def execute(self) -> int:
                return 1

        async with m:
            with pytest.raises(TypeError, match="not an async callable"):
                m.submit("work", functools.partial(sync))
            with pytest.raises(TypeError, match="not an async function"):
                m.submit("work", SyncExecute())
            coro = add(1)
            with pytest.raises(TypeError, match="can run only once"):
                m.submit("work", coro)
            coro.close()
            with pytest.raises(LaneNotFound):
                m.submit("nowhere", add)
            with pytest.raises(LaneNotFound):
                m.submit(b"work", add)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="JSON-serialisable"):
                m.submit("work", "echo", {1, 2})
            with pytest.raises(TypeError, match="JSON-serialisable"):
                m.submit("work", "echo", [math.inf])
            with pytest.raises(TypeError, match="a payload goes with a named command"):
                m.submit("work", add, 1)
            assert m.stats().total_pending == 0
            assert await m.submit("work", functools.partial(sync), run_in_executor=True) == 1

    run(main())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=3) | st.integers(), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.skipif("cython" not in _impl.CORES, reason="the compiled core is not built")
@settings(max_examples=300, deadline=None)
@given(json_values)
def test_compiled_plain_json_decides_as_the_twin(value: Any) -> None:
    from lanecore_pyx import _dispatch

    assert _dispatch.plain_json(value) == _coreapi.plain_json(value)


@pytest.mark.skipif("cython" not in _impl.CORES, reason="the compiled core is not built")
def test_plain_json_gives_up_past_its_depth() -> None:
    from lanecore_pyx import _dispatch

    deep: Any = 1
    for _ in range(_coreapi.JSON_DEPTH + 1):
        deep = [deep]
    assert _dispatch.plain_json(deep) is False and _coreapi.plain_json(deep) is False
    assert _dispatch.plain_json(deep[0]) is True and _coreapi.plain_json(deep[0]) is True


def test_cancel_by_id_finds_old_and_new_commands(core: Any, run: Any) -> None:
    """Ids stay found however many commands completed after them (the compiled core keeps
    auto-numbered ids in a window that spills its oldest entries when it grows sparse)."""

    async def main() -> None:
        m = manager(core)
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def wait() -> None:
            await gate

        async def quick() -> int:
            return 1

        async with m:
            stuck = m.submit("work", wait)
            named = m.submit("work", wait, command_id="kept")
            for _ in range(3):
                done = [m.submit("other", quick) for _ in range(6000)]
                assert sum(await asyncio.gather(*done)) == 6000
            assert m.stats().total_active == 2
            for absent in (10**30, -1, 0, "nope", [1], None, True):
                assert m.cancel(absent) is False  # type: ignore[arg-type]
            assert m.cancel(stuck.command_id) is True and stuck.cancelled()
            assert m.cancel("kept") is True and named.cancelled()
            assert m.cancel(stuck.command_id) is False
            assert m.stats().total_active == 0
            later = m.submit("work", wait)
            assert m.cancel(later.command_id) is True and later.cancelled()

    run(main())


def test_named_ids_stay_found(core: Any, run: Any) -> None:
    """Named commands' ids (the core's own prefix-n ones, some taken by the shell's path for
    payloads it must encode first) are found for cancel however many completed after them."""

    async def main() -> None:
        m = manager(core)
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def wait(_payload: Any) -> None:
            await gate

        async def echo(payload: Any) -> Any:
            return payload

        m.register("wait", wait)
        m.register("echo", echo)
        async with m:
            stuck = m.submit("work", "wait", 1)
            slow_path = m.submit("work", "wait", {1: "int key: encoded by the shell"})
            for _ in range(3):
                done = [m.submit("other", "echo", i) for i in range(6000)]
                assert await asyncio.gather(*done) == list(range(6000))
            assert m.stats().total_active == 2
            prefix = stuck.command_id.rsplit("-", 1)[0]
            for absent in (f"{prefix}-0", f"{prefix}-01", f"{prefix}-999999", f"{prefix}-x"):
                assert m.cancel(absent) is False
            assert m.cancel(stuck.command_id) is True and stuck.cancelled()
            assert m.cancel(slow_path.command_id) is True and slow_path.cancelled()
            assert m.cancel(stuck.command_id) is False
            assert m.stats().total_active == 0

    run(main())


def test_the_core_takes_the_common_forms_itself(core: Any, run: Any) -> None:
    """The common forms never reach the shell's checked submit (DispatchHooks.submit): a
    command of each form, with no options, is queued by the core alone."""
    from lanecore.handle import CommandHandle

    class Hooks:
        def __init__(self) -> None:
            self.shell_submits: list[Any] = []

        def submit(self, *args: Any) -> Any:
            self.shell_submits.append(args[1])
            raise AssertionError("the shell's submit was reached")

        def __getattr__(self, name: str) -> Any:
            return lambda *args: None

    async def main() -> None:
        hooks = Hooks()
        table = core.LaneTable(0)
        dispatch = core.Dispatcher(
            hooks, table, CommandHandle, rings=[], filtered=[], emit_filtered=lambda *a: None
        )
        dispatch.add_lane("work", table.add_lane(0, 1, 4), None, False, False, False, None)
        dispatch.loop = asyncio.get_running_loop()

        async def handler(_payload: Any) -> None:
            return None

        dispatch.named = {"named": handler}
        forms = [add, functools.partial(add, 1), Execute(1), Execute(2)]
        handles = [dispatch.submit("work", command) for command in forms]
        handles.append(dispatch.submit("work", "named", {"n": [1, 2.5, None]}))
        assert hooks.shell_submits == []
        assert table.pending(0) == len(handles) == len(dispatch.inflight)

    run(main())
