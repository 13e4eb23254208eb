"""Type stubs of the compiled event buffer (twin: ``lanecore._eventring_py``)."""

from collections.abc import Awaitable, Callable, Generator
from typing import Any

class EventRing:
    """Holds the newest ``capacity`` events; ``waker`` (if set) is called once by the next push."""

    waker: Callable[[], object] | None
    @property
    def event_type(self) -> type[Any]: ...
    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def offered(self) -> int: ...
    @property
    def taken(self) -> int: ...
    def __init__(self, capacity: int, event_type: type[Any], keys: tuple[str, ...]) -> None: ...
    def push_command(
        self,
        kind: int,
        lane_id: Any,
        command_id: Any,
        source: Any = None,
        timestamp: float | None = None,
        group: Any = None,
    ) -> None:
        """Record event ``kind`` (an index into ``keys``) of command ``command_id`` of lane
        ``lane_id``; ``source`` (or None) is what its command_type comes from. Stamped
        ``timestamp`` (time.time() seconds; None: now). A ``group`` (not None) shows in the
        event's payload as "group"."""
    def push_run(
        self,
        kind: int,
        lane_id: Any,
        first_id: int,
        count: int,
        timestamp: float | None = None,
        group: Any = None,
    ) -> None:
        """Record event ``kind`` (an index into ``keys``) of ``count`` commands of lane
        ``lane_id`` whose ids are ``first_id``, ``first_id + 1``, ... (one submit_many batch),
        all stamped ``timestamp`` (None: now) and of ``group`` (None: none); held as one
        record."""
    def push(self, event: Any) -> None:
        """Record a ready event object."""
    def pop(self) -> Any:
        """The oldest event (made from its record now), or None when empty."""
    def next_ready(self) -> Ready | None:
        """An awaitable of the oldest event when one is buffered (for ``__anext__``), else
        None."""
    def iterator(self, more: Callable[[], Awaitable[Any]]) -> EventIterator:
        """An async iterator over this ring: each step hands over the oldest buffered event,
        or returns ``more()`` (an awaitable of the next event) when none is buffered."""
    def clear(self) -> None:
        """Drop every buffered event (they are not counted as dropped)."""
    def __len__(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def dropped(self) -> int:
        """Events lost because the ring was full."""

class EventIterator:
    """``EventRing.iterator(more)``: ``__anext__`` in C, so an ``async for`` over buffered
    events runs no Python frame per event."""

    def __aiter__(self) -> EventIterator: ...
    def __anext__(self) -> Awaitable[Any]: ...

class Ready:
    """An awaitable that is already done: awaiting it returns ``value`` at once."""

    def __await__(self) -> Generator[Any, None, Any]: ...
