"""Turns what users submit into a zero-argument callable returning an awaitable."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from types import FunctionType
from typing import Any, Protocol, runtime_checkable

CO_COROUTINE = inspect.CO_COROUTINE

Runner = Callable[[], Awaitable[Any]]


@runtime_checkable
class Command(Protocol):
    """An object command: ``command_type`` names it, ``execute()`` runs it."""

    command_type: str

    async def execute(self) -> Any: ...


# per class: is its execute() a coroutine function? (checked once per class, not per command)
_execute_is_async: dict[type, bool] = {}


def _is_async_callable(obj: Any) -> bool:
    if type(obj) is FunctionType:
        return bool(obj.__code__.co_flags & CO_COROUTINE)
    if inspect.iscoroutinefunction(obj):
        return True
    # an instance whose class defines "async def __call__"
    return callable(obj) and inspect.iscoroutinefunction(type(obj).__call__)


def to_runner(command: Any, run_in_executor: bool) -> Runner:
    """The callable the scheduler awaits; TypeError if ``command`` is not a command."""
    cls = type(command)
    if cls is FunctionType and command.__code__.co_flags & CO_COROUTINE:
        return command  # type: ignore[no-any-return]
    execute = getattr(cls, "execute", None)
    if execute is not None:
        is_async = _execute_is_async.get(cls)
        if is_async is None:
            is_async = _execute_is_async[cls] = inspect.iscoroutinefunction(execute)
        if is_async:
            return command.execute  # type: ignore[no-any-return]
        if run_in_executor and callable(execute):
            return _in_executor(command.execute)
        raise TypeError(
            f"{cls.__qualname__}.execute is not an async function; make it "
            "'async def execute(self)' or submit with run_in_executor=True"
        )
    if inspect.iscoroutine(command) or inspect.isawaitable(command):
        raise TypeError(
            f"got an awaitable {command!r}, which can run only once; submit the async "
            "function itself (or functools.partial(fn, *args)), not what calling it returned"
        )
    if callable(command):
        if _is_async_callable(command):
            return command  # type: ignore[no-any-return]
        if run_in_executor:
            return _in_executor(command)
        raise TypeError(
            f"{command!r} is not an async callable; pass an 'async def' function, an object "
            "with 'async def execute(self)', or a sync callable with run_in_executor=True"
        )
    raise TypeError(
        f"a command must be an async callable or an object with 'async def execute(self)', "
        f"got {command!r}"
    )


def _in_executor(fn: Callable[[], Any]) -> Runner:
    def run() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(None, fn)

    return run


def command_type_of(command: Any) -> str:
    """The command's type name: its ``command_type``, else the callable's qualified name."""
    name = getattr(command, "command_type", None)
    if isinstance(name, str):
        return name
    if isinstance(command, functools.partial):
        return command_type_of(command.func)
    name = getattr(command, "__qualname__", None)
    if isinstance(name, str):
        return name
    return type(command).__qualname__
