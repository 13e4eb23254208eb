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
        cost_capacity: float = 0.0,
        cost_per_second: float = 0.0,
    ) -> int:
        """Add a lane and return its index: the most recently removed lane's index if there
        is one, else the next unused one. A rate (or cost) per second and capacity of 0 mean
        no request (or cost) bucket; a cost bucket pays each command's push() cost."""
    def remove_lane(self, lane: int) -> None:
        """Remove an idle lane (nothing pending, nothing active); its index is invalid until
        add_lane reuses it. Reservations are granted again as if it had never been added."""
    def has_lane(self, lane: int) -> bool:
        """Whether ``lane`` is the index of a lane (added and not removed)."""
    def lane_indices(self) -> list[int]:
        """The indices of the lanes, ascending."""
    # commands
    def push(self, lane: int, item: object, cost: int = 1) -> int:
        """Append item to the lane's FIFO and return its ticket (for ``remove``). On a lane
        with a cost bucket the command costs ``cost`` (at most the bucket's capacity) when it
        is dispatched; elsewhere the cost is ignored."""
    def pop_ready(self) -> object | None:
        """Take the next command to run (counting it active), or None if nothing may run now."""
    def can_pop(self) -> bool: ...
    def complete(self, lane: int) -> None:
        """Free one active slot of the lane."""
    def remove(self, lane: int, ticket: int) -> object | None:
        """Drop the pending command with this ticket; return it, or None if it is not pending.
        Removing the oldest command of a throttled lane with a cost bucket un-throttles it
        (the next one may cost less)."""
    def take_all(self, lane: int) -> list[object]:
        """Remove and return every pending command of the lane, oldest first (a throttled
        lane with a cost bucket is un-throttled, as by removing its oldest command)."""
    def peek(self, lane: int) -> object | None:
        """The lane's oldest pending command, or None."""
    def head_cost(self, lane: int) -> int:
        """The cost of the lane's oldest pending command; 0 if none is pending or the lane has
        no cost bucket (costs are kept only there)."""
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
        is below the total minimum of it and the lanes before it: by base priority, then in
        the order added); held only while the lane has pending work and is neither paused
        nor throttled."""
    def cost_limited(self, lane: int) -> bool:
        """Whether the lane has a cost bucket."""
    def cost_capacity(self, lane: int) -> float:
        """The capacity of the lane's cost bucket (the highest cost it takes); 0.0: none."""
    def pushes(self, lane: int) -> int: ...
    def completions(self, lane: int) -> int: ...
    # rate limits
    def next_token_delay(self) -> float:
        """Seconds until the first throttled lane can pay for its oldest command (both its
        buckets); -1.0 if no lane is throttled."""
    def wake_throttled(self) -> int:
        """Make every throttled lane that can now pay for its oldest command dispatchable
        again, in the order they were throttled; return how many."""
    # totals
    @property
    def lane_count(self) -> int:
        """Lanes added and not removed."""
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
