"""Event loops for the workloads: the stock asyncio loop or uvloop, fresh for every run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from importlib import import_module
from typing import Any, TypeVar

from lanecore.bench.installed import installed

T = TypeVar("T")

KNOWN_LOOPS: tuple[str, ...] = ("asyncio", "uvloop")


def loop_available(name: str) -> bool:
    """Whether the named loop can run here (uvloop is an optional extra)."""
    if name not in KNOWN_LOOPS:
        raise ValueError(f"unknown loop {name!r}")
    return name == "asyncio" or installed("uvloop")


def available_loops() -> tuple[str, ...]:
    """The loops installed here, asyncio first."""
    return tuple(name for name in KNOWN_LOOPS if loop_available(name))


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory for a fresh loop: the stock asyncio loop or uvloop's."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name == "uvloop":
        factory: Callable[[], asyncio.AbstractEventLoop] = import_module("uvloop").new_event_loop
        return factory
    raise ValueError(f"unknown loop {name!r}")


def run_on(loop: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` to completion on a fresh loop of the named kind."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main())
