"""Pure-Python twin of ``lanecore_pyx._lanetable``: which pending command runs next.

The table holds each lane's pending commands (FIFO), its active count and caps, and an index
of the lanes that could dispatch now, bucketed by effective priority (0..255). ``pop_ready``
takes the oldest command of the best dispatchable lane, serving lanes of one priority level
round-robin. The compiled module implements exactly the same behaviour with C arrays, ring
buffers and a four-word bitmap; the hypothesis differential test holds the two together.

A lane may have a request bucket (one token per command) and a cost bucket (each command's
``push`` cost); its oldest command is dispatched only when both can pay, so a costly command
is never overtaken within its lane. Removed lanes' indices are reused by ``add_lane``, most
recently removed first. Adding and removing a lane touches only that lane (with a global
limit also the lanes whose reservation changes), and the throttled lanes are kept in a list of
their own, so nothing walks every lane as their number grows.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from lanecore._tokenbucket_py import TokenBucket, check_bucket_args, new_bucket

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


_INT64_MAX = 2**63 - 1


def _check_cost(cost: int) -> None:
    if isinstance(cost, bool) or not isinstance(cost, int):
        raise TypeError(f"cost must be an int, got {cost!r}")
    if not 1 <= cost <= _INT64_MAX:
        raise ValueError(f"cost must be an int from 1 to 2**63 - 1, got {cost!r}")


def _check_cost_bucket_args(capacity: float, per_second: float) -> None:
    """check_bucket_args, its messages naming cost_capacity and cost_per_second."""
    try:
        check_bucket_args(capacity, per_second)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"cost_{exc}") from None


class _Lane:
    """One lane's record (the compiled table's ``lane_t``)."""

    __slots__ = (
        "active",
        "base",
        "before_cut",
        "bucket",
        "completions",
        "cost_bucket",
        "costs",
        "granted",
        "in_ready",
        "in_reserved",
        "knext",
        "kprev",
        "max",
        "min",
        "paused",
        "prio",
        "queue",
        "tail",
        "throttled",
        "unmet",
    )

    def __init__(
        self,
        priority: int,
        min_concurrency: int,
        max_concurrency: int,
        bucket: TokenBucket | None,
        cost_bucket: TokenBucket | None,
    ) -> None:
        self.base = priority
        self.prio = priority  # effective priority = the level of the lane's ring membership
        self.min = min_concurrency
        self.granted = 0  # the reservation the global limit grants (see _grant_added)
        self.before_cut = False  # with a global limit: granted its min_concurrency
        self.max = max_concurrency
        self.active = 0
        self.completions = 0
        self.paused = False
        self.throttled = False
        self.queue: OrderedDict[int, object] = OrderedDict()  # ticket -> item, oldest first
        self.tail = 0  # the next ticket
        self.in_ready = False
        self.in_reserved = False
        self.unmet = 0  # this lane's share of the table's reserve
        self.bucket = bucket  # requests: one token per command
        self.cost_bucket = cost_bucket  # each command's cost
        # ticket -> cost of each pending command, only with a cost bucket
        self.costs: dict[int, int] | None = None if cost_bucket is None else {}
        # with a global limit: the lanes of one base priority in the order added
        self.knext = -1
        self.kprev = -1


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
        self._lanes: list[_Lane | None] = []  # by index; None: removed
        self._count = 0  # live lanes
        self._free: list[int] = []  # removed lanes' indices, the most recent last
        # the throttled lanes, in the order they were throttled
        self._throttled: OrderedDict[int, None] = OrderedDict()
        # dispatch index: per level, an ordered set of lanes (head = next to serve)
        self._ready_bits = 0
        self._reserved_bits = 0
        self._ready_rings: list[OrderedDict[int, None]] = [
            OrderedDict() for _ in range(PRIORITY_LEVELS)
        ]
        self._reserved_rings: list[OrderedDict[int, None]] = [
            OrderedDict() for _ in range(PRIORITY_LEVELS)
        ]
        # grant order (only with a global limit): per base priority, its lanes in the order
        # added (linked through _Lane.knext/kprev); lanes before the cut are granted their
        # min_concurrency, the cut and all after it none
        self._khead = [-1] * PRIORITY_LEVELS
        self._ktail = [-1] * PRIORITY_LEVELS
        self._cut = -1  # the first lane granted nothing (-1: every lane fits)
        self._granted_sum = 0  # min_concurrency of the lanes before the cut

    # ----------------------------------------------------------------- lanes
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
        has_bucket = rate_per_second != 0.0 or rate_capacity != 0.0
        if has_bucket:
            check_bucket_args(rate_capacity, rate_per_second)
        has_cost = cost_per_second != 0.0 or cost_capacity != 0.0
        if has_cost:
            _check_cost_bucket_args(cost_capacity, cost_per_second)
        bucket = cost_bucket = None
        if has_bucket or has_cost:
            now = self._now()  # (one reading for both buckets, as in the compiled table)
            if has_bucket:
                bucket = new_bucket(rate_capacity, rate_per_second, now)
            if has_cost:
                cost_bucket = new_bucket(cost_capacity, cost_per_second, now)
        record = _Lane(priority, min_concurrency, max_concurrency, bucket, cost_bucket)
        if self._free:
            lane = self._free.pop()
            self._lanes[lane] = record
        else:
            lane = len(self._lanes)
            self._lanes.append(record)
        self._count += 1
        if self._global_limit:
            self._grant_added(lane)
        else:  # without a global limit every lane is granted its minimum
            record.granted = min_concurrency
        self._refresh(lane)
        return lane

    def remove_lane(self, lane: int) -> None:
        """Remove an idle lane (nothing pending, nothing active); its index is invalid until
        add_lane reuses it. Reservations are granted again as if it had never been added."""
        ln = self._lane(lane)
        if ln.queue or ln.active:
            raise ValueError(
                f"lane {lane} has {len(ln.queue)} pending and {ln.active} active commands: "
                "only an idle lane can be removed"
            )
        if ln.throttled:
            self._unthrottle(lane)
        self._unlink(lane)
        if self._global_limit:
            self._grant_removed(lane)
        self._lanes[lane] = None
        self._free.append(lane)
        self._count -= 1

    def has_lane(self, lane: int) -> bool:
        """Whether ``lane`` is the index of a lane (added and not removed)."""
        if isinstance(lane, bool) or not isinstance(lane, int):
            raise TypeError(f"lane must be an int, got {lane!r}")
        return 0 <= lane < len(self._lanes) and self._lanes[lane] is not None

    def lane_indices(self) -> list[int]:
        """The indices of the lanes, ascending."""
        return [i for i, ln in enumerate(self._lanes) if ln is not None]

    # ------------------------------------------------------------ grants
    # With a global limit, lanes are granted their min_concurrency in grant order (base
    # priority, then the order added) while the running sum fits the limit: every lane before
    # the cut is granted, the cut and every lane after it are not. _granted_sum <= limit, and
    # the cut is -1 or _granted_sum + its min_concurrency > limit. Adding or removing a lane
    # moves the cut step by step, each step one lane whose grant changes, so only those lanes
    # are refreshed.
    def _grant_next(self, lane: int) -> int:
        """The lane after ``lane`` in grant order, or -1."""
        ln = self._record(lane)
        if ln.knext >= 0:
            return ln.knext
        for level in range(ln.base + 1, PRIORITY_LEVELS):
            if self._khead[level] >= 0:
                return self._khead[level]
        return -1

    def _grant_prev(self, lane: int) -> int:
        """The lane before ``lane`` in grant order (lane -1: the last lane), or -1."""
        level = PRIORITY_LEVELS
        if lane >= 0:
            ln = self._record(lane)
            if ln.kprev >= 0:
                return ln.kprev
            level = ln.base
        while level > 0:
            level -= 1
            if self._ktail[level] >= 0:
                return self._ktail[level]
        return -1

    def _set_grant(self, lane: int, granted: bool) -> None:
        ln = self._record(lane)
        ln.before_cut = granted
        ln.granted = ln.min if granted else 0
        self._refresh(lane)

    def _grant_added(self, lane: int) -> None:
        """Link a new lane at the end of its base priority's grant order; move the cut back
        over the lanes that no longer fit."""
        ln = self._record(lane)
        level = ln.base
        tail = self._ktail[level]
        ln.kprev = tail
        ln.knext = -1
        if tail >= 0:
            self._record(tail).knext = lane
        else:
            self._khead[level] = lane
        self._ktail[level] = lane
        cut = self._cut
        # the lane is last of its level: before the cut only if the cut is at a later level
        if cut >= 0 and self._record(cut).base <= level:
            ln.before_cut = False
            ln.granted = 0
            return
        ln.before_cut = True
        ln.granted = ln.min
        self._granted_sum += ln.min
        while self._granted_sum > self._global_limit:
            cut = self._grant_prev(cut)
            self._granted_sum -= self._record(cut).min
            self._set_grant(cut, False)
        self._cut = cut

    def _grant_removed(self, lane: int) -> None:
        """Unlink a lane from the grant order; move the cut on over the lanes that now fit."""
        ln = self._record(lane)
        cut = self._cut
        nxt = self._grant_next(lane)
        moves = True
        if cut == lane:
            cut = nxt
        elif ln.before_cut:
            self._granted_sum -= ln.min
        else:
            moves = False  # after the cut: no lane's grant changes
        if ln.kprev >= 0:
            self._record(ln.kprev).knext = ln.knext
        else:
            self._khead[ln.base] = ln.knext
        if ln.knext >= 0:
            self._record(ln.knext).kprev = ln.kprev
        else:
            self._ktail[ln.base] = ln.kprev
        if not moves:
            return
        while cut >= 0 and self._granted_sum + self._record(cut).min <= self._global_limit:
            self._granted_sum += self._record(cut).min
            self._set_grant(cut, True)
            cut = self._grant_next(cut)
        self._cut = cut

    def _record(self, lane: int) -> _Lane:
        """The record of a lane known to be live."""
        ln = self._lanes[lane]
        assert ln is not None
        return ln

    def _lane(self, lane: int) -> _Lane:
        """The record of lane ``lane``, checked (TypeError, IndexError)."""
        if isinstance(lane, bool) or not isinstance(lane, int):
            raise TypeError(f"lane must be an int, got {lane!r}")
        ln = self._lanes[lane] if 0 <= lane < len(self._lanes) else None
        if ln is None:
            raise IndexError(f"no lane with index {lane}")
        return ln

    def _now(self) -> float:
        clock = self._clock
        return time.monotonic() if clock is None else float(clock())

    # ------------------------------------------------------------ the index
    def _refresh(self, lane: int) -> None:
        """Bring the lane's index membership and reservation in line with its state."""
        ln = self._record(lane)
        pending = len(ln.queue)
        active = ln.active
        ready = pending > 0 and active < ln.max and not ln.paused and not ln.throttled
        granted = ln.granted
        reserved = ready and active < granted
        level = ln.prio
        if ready != ln.in_ready:
            ring = self._ready_rings[level]
            if ready:
                ring[lane] = None
                self._ready_bits |= 1 << level
            else:
                del ring[lane]
                if not ring:
                    self._ready_bits &= ~(1 << level)
            ln.in_ready = ready
        if reserved != ln.in_reserved:
            ring = self._reserved_rings[level]
            if reserved:
                ring[lane] = None
                self._reserved_bits |= 1 << level
            else:
                del ring[lane]
                if not ring:
                    self._reserved_bits &= ~(1 << level)
            ln.in_reserved = reserved
        unmet = 0
        # paused and throttled lanes hold no reservation: others may use those slots meanwhile
        held = pending > 0 and not ln.paused and not ln.throttled
        if held and active < granted:
            unmet = granted - active
        self._reserve += unmet - ln.unmet
        ln.unmet = unmet

    def _unlink(self, lane: int) -> None:
        ln = self._record(lane)
        level = ln.prio
        if ln.in_ready:
            ring = self._ready_rings[level]
            del ring[lane]
            if not ring:
                self._ready_bits &= ~(1 << level)
            ln.in_ready = False
        if ln.in_reserved:
            ring = self._reserved_rings[level]
            del ring[lane]
            if not ring:
                self._reserved_bits &= ~(1 << level)
            ln.in_reserved = False

    def _rotate(self, lane: int) -> None:
        ln = self._record(lane)
        if ln.in_ready:
            self._ready_rings[ln.prio].move_to_end(lane)
        if ln.in_reserved:
            self._reserved_rings[ln.prio].move_to_end(lane)

    def _throttle(self, lane: int) -> None:
        """Its buckets cannot pay for the lane's oldest command: it waits at the end of the
        throttled lanes, out of the dispatch index, until wake_throttled finds them able."""
        self._record(lane).throttled = True
        self._throttled[lane] = None
        self._refresh(lane)

    def _unthrottle(self, lane: int) -> None:
        del self._throttled[lane]
        self._record(lane).throttled = False
        self._refresh(lane)

    @staticmethod
    def _wait(ln: _Lane, now: float) -> float:
        """Seconds from ``now`` until every bucket of the lane can pay for its oldest command
        (the request bucket one token, the cost bucket the command's cost); 0.0: they can
        now. Both buckets are refilled, in that order, as the compiled table does."""
        wait = 0.0
        if ln.bucket is not None:
            wait = ln.bucket._time_until_at(now, 1.0)
        if ln.cost_bucket is not None and ln.queue:
            assert ln.costs is not None
            cost = ln.costs[next(iter(ln.queue))]
            cost_wait = ln.cost_bucket._time_until_at(now, float(cost))
            if cost_wait > wait:
                wait = cost_wait
        return wait

    # ------------------------------------------------------------- commands
    def push(self, lane: int, item: object, cost: int = 1) -> int:
        """Append item to the lane's FIFO and return its ticket (for ``remove``). On a lane
        with a cost bucket the command costs ``cost`` (at most the bucket's capacity) when it
        is dispatched; elsewhere the cost is ignored."""
        ln = self._lane(lane)
        if item is None:
            raise TypeError("item must not be None")
        _check_cost(cost)
        if ln.cost_bucket is not None:
            capacity = ln.cost_bucket.capacity
            if cost > capacity:
                raise ValueError(
                    f"cost {cost} is above the cost capacity of lane {lane} "
                    f"({capacity!r}): it could never run"
                )
        ticket = ln.tail
        ln.tail = ticket + 1
        ln.queue[ticket] = item
        if ln.costs is not None:
            ln.costs[ticket] = cost
        self._total_pending += 1
        self._refresh(lane)
        return ticket

    def _pick(self) -> int:
        """The lane pop_ready serves next, before its buckets are asked; -1: none may run."""
        if self._global_limit:
            free = self._global_limit - self._total_active
            if free <= 0:
                return -1
            if free <= self._reserve:
                bits, rings = self._reserved_bits, self._reserved_rings
            else:
                bits, rings = self._ready_bits, self._ready_rings
        else:
            bits, rings = self._ready_bits, self._ready_rings
        if not bits:
            return -1
        return next(iter(rings[_lowest_bit(bits)]))

    def pop_ready(self) -> object | None:
        """Take the next command to run (counting it active), or None if nothing may run now."""
        while True:
            lane = self._pick()
            if lane < 0:
                return None
            ln = self._record(lane)
            if ln.bucket is not None or ln.cost_bucket is not None:
                now = self._now()
                # the Python clock may have used this table: choose again if it changed
                if self._clock is not None:
                    if self._pick() != lane:
                        continue
                    ln = self._record(lane)
                if self._wait(ln, now) != 0.0:
                    self._throttle(lane)
                    continue
                if ln.bucket is not None:
                    ln.bucket._take(1.0)
                if ln.cost_bucket is not None:
                    assert ln.costs is not None
                    ln.cost_bucket._take(float(ln.costs[next(iter(ln.queue))]))
            ticket, item = ln.queue.popitem(last=False)
            if ln.costs is not None:
                del ln.costs[ticket]
            self._total_pending -= 1
            ln.active += 1
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
        ln = self._lane(lane)
        if ln.active == 0:
            raise ValueError(f"lane {lane} has no active command to complete")
        ln.active -= 1
        ln.completions += 1
        self._total_active -= 1
        self._refresh(lane)

    def remove(self, lane: int, ticket: int) -> object | None:
        """Drop the pending command with this ticket; return it, or None if it is not pending.
        Removing the oldest command of a throttled lane with a cost bucket un-throttles it
        (the next one may cost less)."""
        ln = self._lane(lane)
        # A dict lookup would also match True, 1.0 or Fraction(1) to ticket 1: tickets are ints.
        if isinstance(ticket, bool) or not isinstance(ticket, int):
            raise TypeError(f"ticket must be an int, got {ticket!r}")
        queue = ln.queue
        item = queue.pop(ticket, None)
        if item is None:
            return None
        was_head = not queue or ticket < next(iter(queue))
        if ln.costs is not None:
            del ln.costs[ticket]
        self._total_pending -= 1
        if was_head and ln.throttled and ln.cost_bucket is not None:
            self._unthrottle(lane)
        else:
            self._refresh(lane)
        return item

    def take_all(self, lane: int) -> list[object]:
        """Remove and return every pending command of the lane, oldest first (a throttled
        lane with a cost bucket is un-throttled, as by removing its oldest command)."""
        ln = self._lane(lane)
        queue = ln.queue
        items = list(queue.values())
        queue.clear()
        if ln.costs is not None:
            ln.costs.clear()
        self._total_pending -= len(items)
        if items and ln.throttled and ln.cost_bucket is not None:
            self._unthrottle(lane)
        self._refresh(lane)
        return items

    def peek(self, lane: int) -> object | None:
        """The lane's oldest pending command, or None."""
        queue = self._lane(lane).queue
        return next(iter(queue.values())) if queue else None

    def head_cost(self, lane: int) -> int:
        """The cost of the lane's oldest pending command; 0 if none is pending or the lane has
        no cost bucket (costs are kept only there)."""
        ln = self._lane(lane)
        if ln.queue and ln.costs is not None:
            return ln.costs[next(iter(ln.queue))]
        return 0

    # ---------------------------------------------------------- lane state
    def pause(self, lane: int) -> None:
        """Stop dispatching from the lane (running commands are unaffected)."""
        self._lane(lane).paused = True
        self._refresh(lane)

    def resume(self, lane: int) -> None:
        """Dispatch from the lane again."""
        self._lane(lane).paused = False
        self._refresh(lane)

    def is_paused(self, lane: int) -> bool:
        return self._lane(lane).paused

    def set_priority(self, lane: int, priority: int) -> None:
        """Set the lane's effective priority; it joins the back of its new level's rotation."""
        ln = self._lane(lane)
        _check_priority(priority)
        if priority == ln.prio:
            return
        self._unlink(lane)
        ln.prio = priority
        self._refresh(lane)

    def priority(self, lane: int) -> int:
        """Effective priority (base priority unless boosted)."""
        return self._lane(lane).prio

    def base_priority(self, lane: int) -> int:
        return self._lane(lane).base

    def pending(self, lane: int) -> int:
        return len(self._lane(lane).queue)

    def active(self, lane: int) -> int:
        return self._lane(lane).active

    def pushes(self, lane: int) -> int:
        """Commands pushed onto the lane so far (its next ticket)."""
        return self._lane(lane).tail

    def completions(self, lane: int) -> int:
        """complete() calls on the lane so far."""
        return self._lane(lane).completions

    def is_throttled(self, lane: int) -> bool:
        return self._lane(lane).throttled

    def reservation(self, lane: int) -> int:
        """Slots the global limit grants this lane (its min_concurrency, or 0 where the limit
        is below the total minimum of it and the lanes before it: by base priority, then in
        the order added); held only while the lane has pending work and is neither paused
        nor throttled."""
        return self._lane(lane).granted

    def cost_limited(self, lane: int) -> bool:
        """Whether the lane has a cost bucket."""
        return self._lane(lane).cost_bucket is not None

    def cost_capacity(self, lane: int) -> float:
        """The capacity of the lane's cost bucket (the highest cost it takes); 0.0: none."""
        cost_bucket = self._lane(lane).cost_bucket
        return 0.0 if cost_bucket is None else cost_bucket.capacity

    # ---------------------------------------------------------- rate limits
    def next_token_delay(self) -> float:
        """Seconds until the first throttled lane can pay for its oldest command (both its
        buckets); -1.0 if no lane is throttled."""
        best = -1.0
        if self._throttled:
            now = self._now()  # first: a Python clock may change the table
            for lane in self._throttled:
                delay = self._wait(self._record(lane), now)
                if best < 0.0 or delay < best:
                    best = delay
        return best

    def wake_throttled(self) -> int:
        """Make every throttled lane that can now pay for its oldest command dispatchable
        again, in the order they were throttled; return how many."""
        woken = 0
        if self._throttled:
            now = self._now()  # first: a Python clock may change the table
            for lane in list(self._throttled):
                if self._wait(self._record(lane), now) == 0.0:
                    self._unthrottle(lane)
                    woken += 1
        return woken

    # ---------------------------------------------------------------- totals
    @property
    def lane_count(self) -> int:
        """Lanes added and not removed."""
        return self._count

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
        return len(self._throttled)


def _check_priority(priority: int) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int, got {priority!r}")
    if not 0 <= priority < PRIORITY_LEVELS:
        raise ValueError(f"priority must be in 0..255, got {priority}")
