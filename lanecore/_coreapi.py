"""The scheduling core's own interface: what it needs from the shell, and the types both cores
share.

The core (``lanecore_pyx`` and its pure-Python twins ``lanecore/_*_py.py``) imports nothing
from the shell. It calls back into the shell only through an object implementing
``DispatchHooks``, and queues handles of a class derived from ``CoreHandle``, whose slots are
the core's.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

Runner = Callable[[], Awaitable[Any]]
"""What the core awaits for one attempt of a command: a zero-argument callable."""

# The command events the core records per command, by kind (an index into the event keys).
SUBMITTED_KIND, STARTED_KIND, COMPLETED_KIND = 0, 1, 2

# How an attempt failed, as the core reports it to DispatchHooks.attempt_failed.
RAISED = 0  # the command raised (the exception is passed)
TIMED_OUT = 1  # its timeout expired (the TimeoutError raised inside is passed)
CANCELLED_ITSELF = 2  # it raised CancelledError without being cancelled from outside

NO_ARGUMENT: Any = type("NoArgument", (), {"__repr__": lambda self: "<no argument>"})()
"""The default of ``submit``'s payload: tells "no payload" apart from ``None``."""


class Ready(Generic[T]):
    """An awaitable that is already done: awaiting it returns ``value`` on any loop."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, T]:
        yield from ()
        return self.value


# Sample buckets: 32 per power of two of milliseconds, from 2**-10 ms (~1 µs) to 2**22 ms
# (~70 min); bucket 0 holds what is below, the last one what is above.
SUB_BUCKETS = 32
LOWEST_MS = 2.0**-10
HIGHEST_MS = 2.0**22
BUCKET_OFFSET = 321.0  # maps log2(LOWEST_MS) * SUB_BUCKETS (= -320) to bucket 1
BUCKET_COUNT = 1026


class SampleBuckets:
    """Counts of timing samples in fixed logarithmic buckets, with their sum, min and max:
    where the core records a sampled command's wait and run times (the compiled core does
    ``record`` in C when it is this one). ``metrics.histogram.Histogram`` derives from it."""

    __slots__ = ("_buckets", "max", "min", "sum")

    def __init__(self) -> None:
        self._buckets: list[int] = [0] * BUCKET_COUNT
        self.sum: float = 0.0
        self.min: float = math.inf
        self.max: float = -math.inf

    def record(self, value: float) -> None:
        """Add one value (ms, finite, >= 0); ValueError for a negative, NaN or infinite one."""
        if LOWEST_MS <= value < HIGHEST_MS:
            # literals for speed: SUB_BUCKETS and BUCKET_OFFSET
            self._buckets[int(math.log2(value) * 32.0 + 321.0)] += 1
        elif 0.0 <= value < LOWEST_MS:
            self._buckets[0] += 1
        elif HIGHEST_MS <= value < math.inf:
            self._buckets[BUCKET_COUNT - 1] += 1
        else:
            raise ValueError(f"histogram value must be a finite number >= 0, got {value!r}")
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value


class NamedCommand:
    """A registered handler bound to one payload: what the core runs for a named command
    (``submit(lane_id, "command_type", payload)``). The compiled core makes these itself."""

    __slots__ = ("_handler", "command_type", "payload", "payload_json")

    def __init__(
        self, command_type: str, payload: Any, handler: Callable[[Any], Any], payload_json: str = ""
    ) -> None:
        self.command_type = command_type
        self.payload = payload
        self.payload_json = payload_json  # the payload as JSON at submit, when it is stored
        self._handler = handler

    async def execute(self) -> Any:
        return await self()

    def __call__(self) -> Awaitable[Any]:
        """One attempt: the handler called with the payload."""
        return self._handler(self.payload)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"NamedCommand({self.command_type!r}, {self.payload!r})"


JSON_DEPTH = 32
"""How deep ``plain_json`` looks into nested lists and dicts before it gives up (False)."""


def plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is JSON as it stands: None, bool, int, str, a finite float, or lists,
    tuples and str-keyed dicts of them, at most JSON_DEPTH deep. False means "encode it to
    know" (the shell then does, raising on what JSON cannot hold)."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return True
    if kind is float:
        return math.isfinite(value)
    if depth >= JSON_DEPTH:
        return False
    if kind is list or kind is tuple:
        return all(plain_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(key) is str and plain_json(item, depth + 1) for key, item in value.items())
    return False


class LaneRecord(Protocol):
    """The core's record of one lane (``Dispatcher.add_lane`` makes it)."""

    lane_id: str
    index: int
    timeout: float | None  # the lane's default timeout per attempt
    run_in_executor: bool  # the lane's default for sync callables
    hooks: bool  # call DispatchHooks.lane_changed after each push and pop
    stamps: bool  # handles need _submitted_at (the lane has a deadline boost)
    policy: Any  # the shell's own object for this lane
    max_pending: int  # the fast path leaves a submit to the shell at this many (0: no bound)
    held: int  # the lane's commands the shell holds outside the table (delayed, retrying)


class CoreHandle(asyncio.Future[Any]):
    """The fields the core keeps on a queued command; the shell's handle class derives from
    it. Only the core sets them, except ``_failures`` and ``_timer`` (retries, delays)."""

    __slots__ = (
        "_command",  # what was submitted (its command_type names it)
        "_context",  # the contextvars.Context every attempt runs in
        "_cost",  # what it draws from its lane's cost bucket (an int >= 1)
        "_failures",  # failed attempts so far
        "_group",  # the group it belongs to (a str), or None
        "_lane",  # the core's record of its lane (a LaneRecord)
        "_owner",  # the DispatchHooks object of its manager (cancel() goes through it)
        "_queued_at",  # monotonic time it was queued, when sampled for metrics (else None)
        "_run",  # the Runner the core awaits
        "_runner",  # the runner Task running it, while it runs
        "_submitted_at",  # loop time of the submit, on lanes whose boost needs it
        "_ticket",  # its place in the lane table
        "_timeout",  # seconds per attempt, or None
        "_timer",  # the shell's timer entry while it waits outside the table (delay, retry)
        "command_id",
    )

    command_id: Any
    _command: Any
    _context: contextvars.Context
    _cost: int
    _failures: int
    _group: str | None
    _lane: LaneRecord
    _owner: DispatchHooks
    _queued_at: float | None
    _run: Runner
    _runner: asyncio.Task[None] | None
    _submitted_at: float
    _ticket: int
    _timeout: float | None
    _timer: Any


class InflightMap(Protocol):
    """The core's ``Dispatcher.inflight``: every outstanding command's handle by id."""

    def __len__(self) -> int: ...
    def __contains__(self, command_id: object) -> bool: ...
    def __iter__(self) -> Iterator[Any]: ...
    def get(self, command_id: Any, default: Any = None) -> Any: ...
    def keys(self) -> list[Any]: ...
    def values(self) -> list[Any]: ...
    def items(self) -> list[tuple[Any, Any]]: ...


class DispatchHooks(Protocol):
    """What the core calls on the shell: everything but the common path of a command."""

    def submit(
        self,
        lane_id: Any,
        command: Any,
        payload: Any,
        timeout: Any,
        command_id: Any,
        run_in_executor: Any,
        cost: Any,
        delay: Any,
        group: Any,
    ) -> CoreHandle:
        """A submit the core's fast path does not take (named commands, options, full
        lanes, errors): check it all and queue it with ``Dispatcher.queue``, or raise."""
        ...

    def runner_for(self, command: Any, run_in_executor: bool) -> Runner:
        """The Runner of a command of an uncommon form; TypeError if it is no command."""
        ...

    def lane_changed(self, lane: Any) -> None:
        """A lane with ``hooks`` set was pushed to or popped from."""
        ...

    def attempt_failed(self, handle: Any, error: BaseException, how: int) -> None:
        """An attempt failed (``how``: RAISED, TIMED_OUT or CANCELLED_ITSELF); the hooks
        free its slot (``LaneTable.complete``) and retry or resolve it."""
        ...

    def abandoned(self, handle: Any) -> None:
        """The runner of a running command is being cancelled (loop teardown)."""
        ...

    def arm_token_timer(self) -> None:
        """A rate-limited lane is throttled: wake the core when its next token is due (called
        only while at least one lane is throttled)."""
        ...

    def drained(self) -> None:
        """Nothing is queued, running or waiting to retry any more (called only while the
        dispatcher's ``drain_wanted`` is set)."""
        ...

    def discard(self, handle: Any) -> None:
        """The handle is being cancelled (called by the shell's handle class, not the core):
        take it out of wherever it is."""
        ...
