"""Type stub of the compiled dispatcher (same API as lanecore._dispatch_py.Dispatcher)."""

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

YIELD_EVERY: int

def event_clock() -> float:
    """Now, on the clock that stamps command events (time.time()'s clock; see _eventclock)."""

def event_clock_source() -> str:
    """What the event clock reads: "tsc" once it measured the counter's rate, else "system"."""

class Dispatcher:
    manager: Any
    table: Any
    handle_type: type[Any]
    inflight: dict[Any, Any]
    idle: list[asyncio.Future[Any]]
    listeners: list[Any]
    drain_waiters: list[asyncio.Future[None]]
    rings: list[Any]
    filtered: list[Any]
    emit_filtered: Callable[[int, Any], None]
    loop: asyncio.AbstractEventLoop | None
    started: bool
    closed: bool
    rate_limited: bool
    recorder: Any
    sample_every: int
    def __init__(self, manager: Any, table: Any, handle_type: type[Any]) -> None: ...
    @property
    def next_id(self) -> int: ...
    def submit(
        self, ls: Any, command: Any, run: Callable[[], Any], timeout: float | None, command_id: Any
    ) -> Any: ...
    def submit_many(
        self, ls: Any, commands: Iterable[Any], timeout: float | None, run_in_executor: bool
    ) -> list[Any]: ...
    def kick(self) -> None: ...
    async def run(self, handle: Any | None) -> None: ...
