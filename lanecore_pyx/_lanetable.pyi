"""Type stubs of the compiled lane table (twin: ``lanecore._lanetable_py``)."""

from collections.abc import Callable

PRIORITY_LEVELS: int
UNTRACKS_PENDING: bool

class LaneTable:
    """Lanes, their pending commands and the dispatch index; no asyncio, no clock of its own."""

    def __init__(
        self,
        global_limit: int = 0,
        clock: Callable[[], float] | None = None,
        untracked_type: type | None = None,
        untracked_slots: tuple[str, ...] = (),
    ) -> None:
        """Pending items of exactly ``untracked_type`` are kept out of the young GC generations
        (tracked again when they leave the table, and before every full collection), with the
        per-command objects (a context, bound method, partial or NamedCommand) held in their
        ``untracked_slots``."""
    # lanes
    def add_lane(
        self,
        priority: int,
        min_concurrency: int,
        max_concurrency: int,
        rate_capacity: float = 0.0,
        rate_per_second: float = 0.0,
    ) -> int:
        """Add a lane and return its index; a rate_per_second of 0 means no rate limit."""
    # commands
    def push(self, lane: int, item: object) -> int:
        """Append item to the lane's FIFO and return its ticket (for ``remove``)."""
    def pop_ready(self) -> object | None:
        """Take the next command to run (counting it active), or None if nothing may run now."""
    def can_pop(self) -> bool: ...
    def complete(self, lane: int) -> None:
        """Free one active slot of the lane."""
    def remove(self, lane: int, ticket: int) -> object | None:
        """Drop the pending command with this ticket; return it, or None if it is not pending."""
    def take_all(self, lane: int) -> list[object]:
        """Remove and return every pending command of the lane, oldest first."""
    def peek(self, lane: int) -> object | None:
        """The lane's oldest pending command, or None."""
    # lane state
    def pause(self, lane: int) -> None:
        """Stop dispatching from the lane (running commands are unaffected)."""
    def resume(self, lane: int) -> None:
        """Dispatch from the lane again."""
    def is_paused(self, lane: int) -> bool: ...
    def set_priority(self, lane: int, priority: int) -> None:
        """Set the lane's effective priority; it joins the back of its new level's rotation."""
    def priority(self, lane: int) -> int:
        """Effective priority (base priority unless boosted)."""
    def base_priority(self, lane: int) -> int: ...
    def pending(self, lane: int) -> int: ...
    def active(self, lane: int) -> int: ...
    def is_throttled(self, lane: int) -> bool: ...
    def reservation(self, lane: int) -> int:
        """Slots the global limit grants this lane (its min_concurrency, or 0 where the limit
        is below the total minimum of it and the lanes before it); held only while the lane
        has pending work and is neither paused nor throttled."""
    def pushes(self, lane: int) -> int: ...
    def completions(self, lane: int) -> int: ...
    # rate limits
    def next_token_delay(self) -> float:
        """Seconds until the first throttled lane has a token; -1.0 if no lane is throttled."""
    def wake_throttled(self) -> int:
        """Make every throttled lane that now has a token dispatchable again; return how many."""
    # totals
    @property
    def lane_count(self) -> int: ...
    @property
    def total_pending(self) -> int: ...
    @property
    def total_active(self) -> int: ...
    @property
    def global_limit(self) -> int: ...
    @property
    def untracked_type(self) -> type | None:
        """Pending items of exactly this type are kept out of the young GC generations."""
    @property
    def reserved_slots(self) -> int:
        """Slots held back for lanes with dispatchable pending work that run fewer than their
        granted reservation."""
    @property
    def throttled_count(self) -> int: ...
