"""Pure-Python twin of ``lanecore_pyx._lanetable``: which pending command runs next.

The table holds each lane's pending commands (FIFO), its active count and caps, and an index
of the lanes that could dispatch now, bucketed by effective priority (0..255). ``pop_ready``
takes the oldest command of the best dispatchable lane, serving lanes of one priority level
round-robin. The compiled module implements exactly the same behaviour with C arrays, ring
buffers and a four-word bitmap; the hypothesis differential test holds the two together.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from lanecore._tokenbucket_py import TokenBucket

PRIORITY_LEVELS = 256
UNTRACKS_PENDING = False
"""Python code cannot untrack objects: the twin keeps every pending item tracked."""
_TPFLAGS_HAVE_GC = 1 << 14


def _lowest_bit(bits: int) -> int:
    return (bits & -bits).bit_length() - 1


def _check_untracked_type(untracked_type: object) -> None:
    if untracked_type is None:
        return
    if not isinstance(untracked_type, type):
        raise TypeError(f"untracked_type must be a type or None, got {untracked_type!r}")
    if not untracked_type.__flags__ & _TPFLAGS_HAVE_GC:
        raise TypeError(
            f"untracked_type must be a type the cyclic GC tracks, got {untracked_type!r}"
        )


def _check_untracked_slots(untracked_type: type | None, untracked_slots: object) -> None:
    """As the compiled table checks them (this twin hides nothing from the GC)."""
    if isinstance(untracked_slots, str) or not isinstance(untracked_slots, (tuple, list)):
        raise TypeError(f"untracked_slots must be a tuple of slot names, got {untracked_slots!r}")
    if untracked_slots and untracked_type is None:
        raise ValueError("untracked_slots needs an untracked_type")
    if len(untracked_slots) > 4:
        raise ValueError(f"at most 4 untracked_slots, got {len(untracked_slots)}")
    assert untracked_type is not None or not untracked_slots
    for name in untracked_slots:
        descriptor = None
        for klass in untracked_type.__mro__:  # type: ignore[union-attr]
            descriptor = klass.__dict__.get(name)
            if descriptor is not None:
                break
        if type(descriptor).__name__ != "member_descriptor":
            raise TypeError(f"{untracked_type.__qualname__}.{name} is not a __slots__ member")  # type: ignore[union-attr]


class LaneTable:
    """Lanes, their pending commands and the dispatch index; no asyncio, no clock of its own."""

    def __init__(
        self,
        global_limit: int = 0,
        clock: Callable[[], float] | None = None,
        untracked_type: type | None = None,
        untracked_slots: tuple[str, ...] = (),
    ) -> None:
        if isinstance(global_limit, bool) or not isinstance(global_limit, int):
            raise TypeError(f"global_limit must be an int, got {global_limit!r}")
        if global_limit < 0:
            raise ValueError(f"global_limit must be >= 0 (0 = no limit), got {global_limit}")
        _check_untracked_type(untracked_type)
        _check_untracked_slots(untracked_type, untracked_slots)
        self._global_limit = global_limit
        self._clock = clock
        self._untracked_type = untracked_type
        self._total_active = 0
        self._total_pending = 0
        self._reserve = 0  # slots held for lanes still under their granted reservation
        self._throttled_count = 0
        # per-lane records
        self._base: list[int] = []
        self._prio: list[int] = []
        self._min: list[int] = []
        self._granted: list[int] = []  # the reservation the global limit grants (see _grant)
        self._max: list[int] = []
        self._active: list[int] = []
        self._completions: list[int] = []
        self._paused: list[bool] = []
        self._throttled: list[bool] = []
        self._queue: list[OrderedDict[int, object]] = []
        self._tail: list[int] = []
        self._in_ready: list[bool] = []
        self._in_reserved: list[bool] = []
        self._unmet: list[int] = []
        self._bucket: list[TokenBucket | None] = []
        # dispatch index: per level, an ordered set of lanes (head = next to serve)
        self._ready_bits = 0
        self._reserved_bits = 0
        self._ready_rings: list[OrderedDict[int, None]] = [
            OrderedDict() for _ in range(PRIORITY_LEVELS)
        ]
        self._reserved_rings: list[OrderedDict[int, None]] = [
            OrderedDict() for _ in range(PRIORITY_LEVELS)
        ]

    # ----------------------------------------------------------------- lanes
    def add_lane(
        self,
        priority: int,
        min_concurrency: int,
        max_concurrency: int,
        rate_capacity: float = 0.0,
        rate_per_second: float = 0.0,
    ) -> int:
        """Add a lane and return its index; a rate_per_second of 0 means no rate limit."""
        _check_priority(priority)
        for name, value in (
            ("min_concurrency", min_concurrency),
            ("max_concurrency", max_concurrency),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if min_concurrency < 0:
            raise ValueError(f"min_concurrency must be >= 0, got {min_concurrency}")
        if max_concurrency < min_concurrency:
            raise ValueError(
                f"max_concurrency ({max_concurrency}) must be >= "
                f"min_concurrency ({min_concurrency})"
            )
        if max_concurrency < 1:  # (with min 0: a lane that could never run)
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        bucket = None
        if rate_per_second != 0.0 or rate_capacity != 0.0:
            bucket = TokenBucket(rate_capacity, rate_per_second, self._clock)
        self._base.append(priority)
        self._prio.append(priority)
        self._min.append(min_concurrency)
        self._granted.append(0)
        self._max.append(max_concurrency)
        self._active.append(0)
        self._completions.append(0)
        self._paused.append(False)
        self._throttled.append(False)
        self._queue.append(OrderedDict())
        self._tail.append(0)
        self._in_ready.append(False)
        self._in_reserved.append(False)
        self._unmet.append(0)
        self._bucket.append(bucket)
        self._grant()
        return len(self._base) - 1

    def _grant(self) -> None:
        """Grant reservations by base priority (ties: order added) while they fit the limit.

        Walking the lanes in that order, each gets its full min_concurrency while the running
        sum stays within the global limit; the first lane that does not fit and every lane
        after it get none, so a limit below the lanes' total minimum reserves for the most
        important lanes only. No limit: every lane gets its minimum.
        """
        limit = self._global_limit
        used = 0
        fits = True
        for lane in sorted(range(len(self._base)), key=lambda i: (self._base[i], i)):
            want = self._min[lane]
            if limit and (not fits or used + want > limit):
                fits = False
                want = 0
            used += want
            self._granted[lane] = want
        for lane in range(len(self._base)):
            self._refresh(lane)

    def _check_lane(self, lane: int) -> None:
        if isinstance(lane, bool) or not isinstance(lane, int):
            raise TypeError(f"lane must be an int, got {lane!r}")
        if not 0 <= lane < len(self._base):
            raise IndexError(f"no lane with index {lane}")

    # ------------------------------------------------------------ the index
    def _refresh(self, lane: int) -> None:
        """Bring the lane's index membership and reservation in line with its state."""
        pending = len(self._queue[lane])
        active = self._active[lane]
        ready = (
            pending > 0
            and active < self._max[lane]
            and not self._paused[lane]
            and not self._throttled[lane]
        )
        granted = self._granted[lane]
        reserved = ready and active < granted
        level = self._prio[lane]
        if ready != self._in_ready[lane]:
            ring = self._ready_rings[level]
            if ready:
                ring[lane] = None
                self._ready_bits |= 1 << level
            else:
                del ring[lane]
                if not ring:
                    self._ready_bits &= ~(1 << level)
            self._in_ready[lane] = ready
        if reserved != self._in_reserved[lane]:
            ring = self._reserved_rings[level]
            if reserved:
                ring[lane] = None
                self._reserved_bits |= 1 << level
            else:
                del ring[lane]
                if not ring:
                    self._reserved_bits &= ~(1 << level)
            self._in_reserved[lane] = reserved
        unmet = 0
        # paused and throttled lanes hold no reservation: others may use those slots meanwhile
        held = pending > 0 and not self._paused[lane] and not self._throttled[lane]
        if held and active < granted:
            unmet = granted - active
        self._reserve += unmet - self._unmet[lane]
        self._unmet[lane] = unmet

    def _unlink(self, lane: int) -> None:
        level = self._prio[lane]
        if self._in_ready[lane]:
            ring = self._ready_rings[level]
            del ring[lane]
            if not ring:
                self._ready_bits &= ~(1 << level)
            self._in_ready[lane] = False
        if self._in_reserved[lane]:
            ring = self._reserved_rings[level]
            del ring[lane]
            if not ring:
                self._reserved_bits &= ~(1 << level)
            self._in_reserved[lane] = False

    def _rotate(self, lane: int) -> None:
        level = self._prio[lane]
        if self._in_ready[lane]:
            self._ready_rings[level].move_to_end(lane)
        if self._in_reserved[lane]:
            self._reserved_rings[level].move_to_end(lane)

    # ------------------------------------------------------------- commands
    def push(self, lane: int, item: object) -> int:
        """Append item to the lane's FIFO and return its ticket (for ``remove``)."""
        self._check_lane(lane)
        if item is None:
            raise TypeError("item must not be None")
        ticket = self._tail[lane]
        self._tail[lane] = ticket + 1
        self._queue[lane][ticket] = item
        self._total_pending += 1
        self._refresh(lane)
        return ticket

    def pop_ready(self) -> object | None:
        """Take the next command to run (counting it active), or None if nothing may run now."""
        while True:
            if self._global_limit:
                free = self._global_limit - self._total_active
                if free <= 0:
                    return None
                bits = self._reserved_bits if free <= self._reserve else self._ready_bits
                rings = self._reserved_rings if free <= self._reserve else self._ready_rings
            else:
                bits = self._ready_bits
                rings = self._ready_rings
            if not bits:
                return None
            lane = next(iter(rings[_lowest_bit(bits)]))
            bucket = self._bucket[lane]
            if bucket is not None and not bucket.try_acquire():
                self._throttled[lane] = True
                self._throttled_count += 1
                self._refresh(lane)
                continue
            _, item = self._queue[lane].popitem(last=False)
            self._total_pending -= 1
            self._active[lane] += 1
            self._total_active += 1
            self._rotate(lane)
            self._refresh(lane)
            return item

    def can_pop(self) -> bool:
        """Whether some lane may dispatch now (before rate limits, which pop_ready checks)."""
        if self._global_limit:
            free = self._global_limit - self._total_active
            if free <= 0:
                return False
            return bool(self._reserved_bits if free <= self._reserve else self._ready_bits)
        return bool(self._ready_bits)

    def complete(self, lane: int) -> None:
        """Free one active slot of the lane."""
        self._check_lane(lane)
        if self._active[lane] == 0:
            raise ValueError(f"lane {lane} has no active command to complete")
        self._active[lane] -= 1
        self._completions[lane] += 1
        self._total_active -= 1
        self._refresh(lane)

    def remove(self, lane: int, ticket: int) -> object | None:
        """Drop the pending command with this ticket; return it, or None if it is not pending."""
        self._check_lane(lane)
        # A dict lookup would also match True, 1.0 or Fraction(1) to ticket 1: tickets are ints.
        if isinstance(ticket, bool) or not isinstance(ticket, int):
            raise TypeError(f"ticket must be an int, got {ticket!r}")
        item = self._queue[lane].pop(ticket, None)
        if item is None:
            return None
        self._total_pending -= 1
        self._refresh(lane)
        return item

    def take_all(self, lane: int) -> list[object]:
        """Remove and return every pending command of the lane, oldest first."""
        self._check_lane(lane)
        queue = self._queue[lane]
        items = list(queue.values())
        queue.clear()
        self._total_pending -= len(items)
        self._refresh(lane)
        return items

    def peek(self, lane: int) -> object | None:
        """The lane's oldest pending command, or None."""
        self._check_lane(lane)
        queue = self._queue[lane]
        return next(iter(queue.values())) if queue else None

    # ---------------------------------------------------------- lane state
    def pause(self, lane: int) -> None:
        """Stop dispatching from the lane (running commands are unaffected)."""
        self._check_lane(lane)
        self._paused[lane] = True
        self._refresh(lane)

    def resume(self, lane: int) -> None:
        """Dispatch from the lane again."""
        self._check_lane(lane)
        self._paused[lane] = False
        self._refresh(lane)

    def is_paused(self, lane: int) -> bool:
        self._check_lane(lane)
        return self._paused[lane]

    def set_priority(self, lane: int, priority: int) -> None:
        """Set the lane's effective priority; it joins the back of its new level's rotation."""
        self._check_lane(lane)
        _check_priority(priority)
        if priority == self._prio[lane]:
            return
        self._unlink(lane)
        self._prio[lane] = priority
        self._refresh(lane)

    def priority(self, lane: int) -> int:
        """Effective priority (base priority unless boosted)."""
        self._check_lane(lane)
        return self._prio[lane]

    def base_priority(self, lane: int) -> int:
        self._check_lane(lane)
        return self._base[lane]

    def pending(self, lane: int) -> int:
        self._check_lane(lane)
        return len(self._queue[lane])

    def active(self, lane: int) -> int:
        self._check_lane(lane)
        return self._active[lane]

    def pushes(self, lane: int) -> int:
        """Commands pushed onto the lane so far (its next ticket)."""
        self._check_lane(lane)
        return self._tail[lane]

    def completions(self, lane: int) -> int:
        """complete() calls on the lane so far."""
        self._check_lane(lane)
        return self._completions[lane]

    def is_throttled(self, lane: int) -> bool:
        self._check_lane(lane)
        return self._throttled[lane]

    def reservation(self, lane: int) -> int:
        """Slots the global limit grants this lane (its min_concurrency, or 0 where the limit
        is below the total minimum of it and the lanes before it); held only while the lane
        has pending work and is neither paused nor throttled."""
        self._check_lane(lane)
        return self._granted[lane]

    # ---------------------------------------------------------- rate limits
    def next_token_delay(self) -> float:
        """Seconds until the first throttled lane has a token; -1.0 if no lane is throttled."""
        best = -1.0
        if self._throttled_count:
            for lane, throttled in enumerate(self._throttled):
                if throttled:
                    bucket = self._bucket[lane]
                    assert bucket is not None
                    delay = bucket.time_until_token()
                    if best < 0.0 or delay < best:
                        best = delay
        return best

    def wake_throttled(self) -> int:
        """Make every throttled lane that now has a token dispatchable again; return how many."""
        woken = 0
        if self._throttled_count:
            for lane, throttled in enumerate(self._throttled):
                if throttled:
                    bucket = self._bucket[lane]
                    assert bucket is not None
                    if bucket.time_until_token() == 0.0:
                        self._throttled[lane] = False
                        self._throttled_count -= 1
                        self._refresh(lane)
                        woken += 1
        return woken

    # ---------------------------------------------------------------- totals
    @property
    def lane_count(self) -> int:
        return len(self._base)

    @property
    def total_pending(self) -> int:
        return self._total_pending

    @property
    def total_active(self) -> int:
        return self._total_active

    @property
    def global_limit(self) -> int:
        return self._global_limit

    @property
    def untracked_type(self) -> type | None:
        """As given; only the compiled table acts on it (Python code cannot untrack objects)."""
        return self._untracked_type

    @property
    def reserved_slots(self) -> int:
        """Slots held back for lanes with dispatchable pending work that run fewer than their
        granted reservation."""
        return self._reserve

    @property
    def throttled_count(self) -> int:
        return self._throttled_count


def _check_priority(priority: int) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int, got {priority!r}")
    if not 0 <= priority < PRIORITY_LEVELS:
        raise ValueError(f"priority must be in 0..255, got {priority}")
