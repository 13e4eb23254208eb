"""Type stub of the compiled dispatcher (same API as lanecore._dispatch_py)."""

import asyncio
import contextvars
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lanecore._coreapi import CoreHandle, DispatchHooks, Runner

YIELD_EVERY: int

def event_clock() -> float:
    """Now, on the clock that stamps command events (time.time()'s clock; see _eventclock)."""

def event_clock_source() -> str:
    """What the event clock reads: "tsc" once it measured the counter's rate, else "system"."""

def plain_json(value: Any) -> bool:
    """lanecore._coreapi.plain_json as the compiled core decides it."""

def _record_sample(record: Callable[[float], None], ms: float) -> None: ...

class LaneRecord:
    @property
    def lane_id(self) -> str: ...
    @property
    def index(self) -> int: ...
    timeout: float | None
    run_in_executor: bool
    hooks: bool
    stamps: bool
    max_pending: int
    held: int
    @property
    def policy(self) -> Any: ...
    def __init__(
        self,
        lane_id: str,
        index: int,
        timeout: float | None,
        run_in_executor: bool,
        hooks: bool,
        stamps: bool,
        policy: Any,
    ) -> None: ...

class Inflight:
    @property
    def named(self) -> dict[Any, CoreHandle]: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def get(self, command_id: Any, default: Any = None) -> Any: ...
    def __contains__(self, command_id: object) -> bool: ...
    def __getitem__(self, command_id: Any) -> CoreHandle: ...
    def keys(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def values(self) -> list[CoreHandle]: ...
    def items(self) -> list[tuple[Any, CoreHandle]]: ...

class Dispatcher:
    hooks: DispatchHooks
    table: Any
    handle_type: type[CoreHandle]
    lanes: dict[str, LaneRecord]
    inflight: Inflight
    idle: list[asyncio.Future[None]]
    runners: set[asyncio.Task[None]]
    rings: list[Any]
    filtered: list[Any]
    emit_filtered: Callable[[int, Any, float | None], None]
    loop: asyncio.AbstractEventLoop | None
    accepting: bool
    started: bool
    closed: bool
    rate_limited: bool
    token_armed_for: int
    drain_wanted: bool
    starting: int
    waking: bool
    recorder: Any
    sample_every: int
    sample_count: int
    named: dict[str, Callable[[Any], Any]] | None
    named_prefix: str
    named_next: int
    def __init__(
        self,
        hooks: DispatchHooks,
        table: Any,
        handle_type: type[CoreHandle],
        *,
        rings: list[Any],
        filtered: list[Any],
        emit_filtered: Callable[[int, Any, float | None], None],
    ) -> None: ...
    @property
    def next_id(self) -> int: ...
    def add_lane(
        self,
        lane_id: str,
        index: int,
        timeout: float | None,
        run_in_executor: bool,
        hooks: bool,
        stamps: bool,
        policy: Any,
    ) -> LaneRecord: ...
    def named_id(self) -> str: ...
    def runner_of(self, command: Any) -> Runner | None: ...
    def submit(
        self,
        lane_id: Any,
        command: Any,
        payload: Any = ...,
        *,
        timeout: Any = None,
        command_id: Any = None,
        run_in_executor: Any = None,
        cost: Any = None,
        delay: Any = None,
        group: Any = None,
    ) -> CoreHandle: ...
    def queue(
        self,
        ls: LaneRecord,
        command: Any,
        run: Runner,
        timeout: float | None,
        command_id: Any,
        context: contextvars.Context | None = None,
        cost: int = 1,
        group: str | None = None,
        hold: bool = False,
    ) -> CoreHandle: ...
    def release(self, handle: CoreHandle) -> None: ...
    def queue_many(
        self, ls: LaneRecord, commands: Iterable[Any], timeout: float | None
    ) -> list[CoreHandle]: ...
    def forget(self, handle: CoreHandle) -> None: ...
    def kick(self) -> None: ...
    async def run(self) -> None: ...
    def close(self) -> list[asyncio.Task[None]]: ...
