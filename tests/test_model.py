"""Model-based tests: the scheduler against a plain reference model of SPEC §1/§3/§4.

``SchedModel`` below is the reference: a deliberately naive restatement of the scheduling rule
(lists and linear scans, exact ``Fraction`` arithmetic for token buckets, no indexes), written
from the spec, not from the cores. Hypothesis generates random programs and runs them against
the real scheduler and the model side by side.

The scheduling rule the model states
------------------------------------
* A lane may dispatch ("is ready") when it has pending work, ``active < max``, is not paused
  and is not throttled (a rate-limited lane becomes throttled when it is chosen and one of its
  buckets cannot pay for its oldest command: the request bucket one token, the cost bucket
  the command's cost; ``wake_throttled`` clears that once both can, waking lanes in the order
  they were throttled; on a lane with a cost bucket, removing the oldest command clears it).
* Each lane is *granted* a reservation: walking the lanes by base priority (ties: order added),
  a lane gets its ``min`` while the running sum fits the global cap; the first that does not
  fit and every lane after it get 0 (no cap: every lane gets its ``min``). A removed lane no
  longer counts; its index is reused by the next lane added (the most recently removed first).
* The *reserve* is the sum, over lanes with pending work that are neither paused nor
  throttled, of ``max(0, granted - active)``. With a global cap, ``free = cap - total_active``:
  nothing runs when ``free <= 0``; when ``free <= reserve`` only ready lanes still under their
  grant may run; otherwise every ready lane may. Without a cap every ready lane may.
* Among the lanes that may run, the lowest effective priority wins (0 = highest); among equal
  priorities, round-robin: the lane that least recently joined the rotation or was last served
  goes first (joining = becoming eligible, or changing priority while eligible). The lanes
  still under their grant form a rotation of their own.
* The winner's oldest pending command is dispatched (strict FIFO within a lane, whatever the
  costs; a retried command re-enters at the back); tokens are spent only then.
* Manager level, on top of that: a slot freed by a completion, failure, timeout or cancel, new
  work, a resume or a retry re-entering dispatches until nothing can run; a failed attempt is
  retried while ``attempts <= max_retries`` (``RetryPolicy.fixed``), else the command is dead
  lettered and its handle raises the last error; a boosted lane's effective priority is
  ``max(0, base - levels)`` while it has pending work (``with_boost(deadline, levels)``).

Invariants checked after every step
-----------------------------------
Core level (both cores; ``LaneTable`` on a fake clock, ``pop_ready`` called explicitly):

1. every ``pop_ready()`` returns exactly the item the model predicts (or None when it does);
2. per lane ``active <= max_concurrency``; ``total_active <= global_limit`` when there is one;
3. ``pending``/``active``/``peek``/``priority``/``is_paused``/``is_throttled`` of every lane,
   ``total_pending``, ``total_active``, ``reserved_slots``, ``throttled_count`` and
   ``next_token_delay()`` equal the model's; ``wake_throttled()`` wakes as many lanes as the
   model; ``remove``/``take_all`` return what the model holds.

Manager level (public API, both cores, stock asyncio and uvloop; one ``run(...)`` per example;
every command blocks on an ``asyncio.Event`` until the program releases it with an outcome):

4. the sequence of command starts equals the model's dispatch sequence (after each step the
   loop is settled with ``sleep(0)`` turns; no wall-clock timing is involved);
5. counters kept inside the commands never exceed a lane's max or the global cap;
6. ``stats()`` — total_pending, total_active, retrying, dead_letter_count and, per lane,
   pending, active, paused, throttled, effective_priority — equals the model after every step;
7. each handle's done-callbacks fire at most once while running and exactly once at the end,
   with the model's outcome (result value, exception type, or cancelled);
8. at the end, after ``drain()``: nothing outstanding, ``len(dlq)`` equals the number of final
   failures, and submitted == completed + failed + cancelled.

Timeouts: a "time out" step makes the command raise ``CommandTimeout`` (real timers would make
the order depend on wall-clock time); real per-submit timeouts of 3600 s are attached at random
so the ``asyncio.timeout`` path is exercised. Rate limits at manager level use ``per_hour(n)``:
within an example a lane can spend exactly its n starting tokens and then stays throttled.

Found with it (at 8f37d89): pause_lane() and cancelling a pending command released the min
reservation of a throttled lane without dispatching, so a slot stayed idle until the rate-limit
timer fired (minimal reproduction: tests/test_hostile.py::
test_released_reservation_dispatches_at_once; fixed in ee69cb1). Since issue 12 a throttled
lane holds no reservation at all.

Examples: by default 200 core programs per core and 60 manager programs per core and loop (the
file runs in well under a minute); ``LANECORE_MODEL_EXAMPLES=N`` sets both to N. The dedicated
long run is ``LANECORE_MODEL_EXAMPLES=2000 python -m pytest tests/test_model.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from lanecore import (
    CommandTimeout,
    LaneConfig,
    PriorityBoostConfig,
    QueueManagerBuilder,
    RateLimitConfig,
    RetryPolicy,
)

_EXAMPLES = os.environ.get("LANECORE_MODEL_EXAMPLES")
CORE_EXAMPLES = int(_EXAMPLES or 200)  # core programs are cheap: more of them by default
MANAGER_EXAMPLES = int(_EXAMPLES or 60)


# ====================================================================== the reference model
class Bucket:
    """A token bucket in exact arithmetic: starts full, refills continuously, capped."""

    def __init__(self, capacity: float, per_second: float, now: Fraction) -> None:
        self.capacity = Fraction(capacity)
        self.rate = Fraction(per_second)
        self.tokens = self.capacity
        self.last = now

    def _refill(self, now: Fraction) -> None:
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def take(self, now: Fraction, n: int = 1) -> bool:
        self._refill(now)
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False

    def wait(self, now: Fraction, n: int = 1) -> Fraction:
        """Time until ``n`` tokens are there (a bucket that never refills: 0 or forever)."""
        self._refill(now)
        if self.tokens >= n:
            return Fraction(0)
        return (n - self.tokens) / self.rate if self.rate else Fraction(10**12)


@dataclass(eq=False)
class MLane:
    index: int
    base: int
    min: int
    max: int
    bucket: Bucket | None = None
    boost_levels: int = 0  # manager level: boosted while it has pending work
    prio: int = -1
    pending: list[tuple[Any, Any]] = field(default_factory=list)  # (ticket, item), oldest first
    active: int = 0
    paused: bool = False
    throttled: bool = False
    ready_turn: int | None = None  # position in the rotation of its level (None: not in it)
    min_turn: int | None = None  # same, for the rotation of lanes under their grant
    granted: int = 0  # the reservation the global cap grants (SchedModel.add_lane)
    cost_bucket: Bucket | None = None
    costs: dict[Any, int] = field(default_factory=dict)  # ticket -> cost (with a cost bucket)
    throttled_at: int = 0  # when it was last throttled (wake order)

    def __post_init__(self) -> None:
        self.prio = self.base

    def head_cost(self) -> int:
        return self.costs[self.pending[0][0]] if self.cost_bucket and self.pending else 0


class SchedModel:
    """The scheduling rule of SPEC §1/§3, stated as plainly as possible."""

    def __init__(self, global_limit: int) -> None:
        self.global_limit = global_limit
        self.lanes: list[MLane] = []
        self.now = Fraction(0)
        self._turns = itertools.count()

    # ---------------------------------------------------------------- derived state
    @staticmethod
    def ready(lane: MLane) -> bool:
        return (
            bool(lane.pending)
            and lane.active < lane.max
            and not lane.paused
            and (not lane.throttled)
        )

    def under_min(self, lane: MLane) -> bool:
        return self.ready(lane) and lane.active < lane.granted

    @property
    def reserve(self) -> int:
        return sum(
            lane.granted - lane.active
            for lane in self.lanes
            if lane.pending
            and not lane.paused
            and not lane.throttled
            and lane.active < lane.granted
        )

    @property
    def total_active(self) -> int:
        return sum(lane.active for lane in self.lanes)

    @property
    def total_pending(self) -> int:
        return sum(len(lane.pending) for lane in self.lanes)

    def _sync_turns(self) -> None:
        """A lane that has just become eligible joins the back of its rotation."""
        for lane in self.lanes:
            if not self.ready(lane):
                lane.ready_turn = None
            elif lane.ready_turn is None:
                lane.ready_turn = next(self._turns)
            if not self.under_min(lane):
                lane.min_turn = None
            elif lane.min_turn is None:
                lane.min_turn = next(self._turns)

    # ---------------------------------------------------------------- operations
    def add_lane(self, lane: MLane) -> None:
        self.lanes.append(lane)  # (self.lanes is in the order added)
        self._grant()

    def remove_lane(self, lane: MLane) -> None:
        assert not lane.pending and not lane.active
        self.lanes.remove(lane)
        self._grant()

    def free_index(self, removed: list[int]) -> int:
        """The index add_lane gives the next lane: the most recently removed one still
        unused, else the next never used."""
        used = {ln.index for ln in self.lanes}
        for index in reversed(removed):
            if index not in used:
                return index
        return max([*used, *removed], default=-1) + 1

    def _grant(self) -> None:
        used, fits = 0, True
        for ln in sorted(self.lanes, key=lambda ln: ln.base):  # (stable: order added)
            fits = fits and (not self.global_limit or used + ln.min <= self.global_limit)
            ln.granted = ln.min if fits else 0
            used += ln.granted
        self._sync_turns()

    def push(self, lane: MLane, ticket: Any, item: Any, cost: int = 1) -> None:
        lane.pending.append((ticket, item))
        if lane.cost_bucket is not None:
            lane.costs[ticket] = cost
        self._sync_turns()

    def _lost_head(self, lane: MLane) -> None:
        """The oldest command left: a throttled lane with a cost bucket is un-throttled."""
        if lane.throttled and lane.cost_bucket is not None:
            lane.throttled = False

    def remove(self, lane: MLane, ticket: Any) -> Any:
        for i, (t, item) in enumerate(lane.pending):
            if t == ticket:
                del lane.pending[i]
                lane.costs.pop(t, None)
                if i == 0:
                    self._lost_head(lane)
                self._sync_turns()
                return item
        return None

    def take_all(self, lane: MLane) -> list[Any]:
        items = [item for _, item in lane.pending]
        if items:
            self._lost_head(lane)
        lane.pending.clear()
        lane.costs.clear()
        self._sync_turns()
        return items

    def complete(self, lane: MLane) -> None:
        assert lane.active > 0
        lane.active -= 1
        self._sync_turns()

    def pause(self, lane: MLane, paused: bool) -> None:
        lane.paused = paused
        self._sync_turns()

    def set_priority(self, lane: MLane, priority: int) -> None:
        if priority != lane.prio:
            lane.prio = priority
            lane.ready_turn = lane.min_turn = None  # rejoins at the back of its new level
            self._sync_turns()

    def apply_boosts(self) -> None:
        for lane in self.lanes:
            if lane.boost_levels:
                boosted = max(0, lane.base - lane.boost_levels) if lane.pending else lane.base
                self.set_priority(lane, boosted)

    def pop(self) -> Any:
        """The next command to dispatch (counted active), or None."""
        while True:
            only_under_min = False
            if self.global_limit:
                free = self.global_limit - self.total_active
                if free <= 0:
                    return None
                only_under_min = free <= self.reserve
            if only_under_min:
                candidates = [(ln.prio, ln.min_turn, ln) for ln in self.lanes if self.under_min(ln)]
            else:
                candidates = [(ln.prio, ln.ready_turn, ln) for ln in self.lanes if self.ready(ln)]
            if not candidates:
                return None
            lane = min(candidates, key=lambda c: (c[0], c[1]))[2]
            if not self.can_pay(lane):
                lane.throttled = True
                lane.throttled_at = next(self._turns)
                self._sync_turns()
                continue
            if lane.bucket is not None:
                assert lane.bucket.take(self.now)
            if lane.cost_bucket is not None:
                assert lane.cost_bucket.take(self.now, lane.head_cost())
            ticket, item = lane.pending.pop(0)
            lane.costs.pop(ticket, None)
            lane.active += 1
            served = next(self._turns)  # the served lane goes to the back of its rotations
            lane.ready_turn = served if lane.ready_turn is not None else None
            lane.min_turn = served if lane.min_turn is not None else None
            self._sync_turns()
            return item

    def can_pay(self, lane: MLane) -> bool:
        """Whether both of the lane's buckets can pay for its oldest command now."""
        ok = lane.bucket is None or lane.bucket.wait(self.now) == 0
        return ok and (
            lane.cost_bucket is None or lane.cost_bucket.wait(self.now, lane.head_cost()) == 0
        )

    def wait(self, lane: MLane) -> Fraction:
        """Time until both of the lane's buckets can pay for its oldest command."""
        waits = [Fraction(0)]
        if lane.bucket is not None:
            waits.append(lane.bucket.wait(self.now))
        if lane.cost_bucket is not None and lane.pending:
            waits.append(lane.cost_bucket.wait(self.now, lane.head_cost()))
        return max(waits)

    def wake_throttled(self) -> int:
        woken = 0
        throttled = sorted(
            (ln for ln in self.lanes if ln.throttled), key=lambda ln: ln.throttled_at
        )
        for lane in throttled:  # in the order they were throttled, as a rotation is joined
            if self.can_pay(lane):
                lane.throttled = False
                woken += 1
                self._sync_turns()
        return woken

    def next_token_delay(self) -> float:
        waits = [self.wait(ln) for ln in self.lanes if ln.throttled]
        return float(min(waits)) if waits else -1.0


# ====================================================================== core level
class Item:
    """A queued thing; identity is what the tests compare."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Item({self.n})"


# Dyadic rates and clock steps keep the cores' float arithmetic exact, so they and the model's
# Fraction arithmetic agree to the bit (the cores' 1e-9 token tolerance never matters).
RATES = (0.5, 1.0, 2.0, 4.0)
CLOCK_STEPS = tuple(Fraction(n, 8) for n in (1, 2, 3, 4, 6, 8, 12, 16, 40))

lane_spec = st.tuples(
    st.integers(0, 2),  # priority: few levels, so round-robin ties are common
    st.integers(0, 2),  # min (0: no reservation)
    st.integers(0, 2),  # max - min (max at least 1)
    st.none() | st.tuples(st.sampled_from((1, 2, 3)), st.sampled_from(RATES)),
    st.none() | st.tuples(st.sampled_from((2, 3, 5)), st.sampled_from(RATES)),  # cost bucket
)


class CoreMachine(RuleBasedStateMachine):
    """One LaneTable of the given core against SchedModel."""

    def __init__(self, core: Any) -> None:
        super().__init__()
        self.core = core
        self.table: Any = None
        self.model = SchedModel(0)
        self.items = itertools.count()
        self.active_items: list[tuple[MLane, Item]] = []
        self.stale: list[tuple[MLane, int]] = []  # tickets no longer pending
        self.owner: dict[Item, MLane] = {}
        self.cost: dict[Item, int] = {}
        self.removed: list[int] = []  # indices of removed lanes, in the order removed

    @initialize(
        global_limit=st.sampled_from((0, 0, 1, 2, 3, 4, 6)),
        specs=st.lists(lane_spec, min_size=1, max_size=5),
    )
    def setup(self, global_limit: int, specs: list[Any]) -> None:
        self.model = SchedModel(global_limit)
        self.table = self.core.LaneTable(global_limit, clock=lambda: float(self.model.now))
        for spec in specs:
            self._add_lane(spec)

    def _add_lane(self, spec: Any) -> None:
        priority, low, extra, rate, cost = spec
        high = max(1, low + extra)
        args: tuple[Any, ...] = (priority, low, high)
        bucket = cost_bucket = None
        if rate is not None:
            bucket = Bucket(rate[0], rate[1], self.model.now)
            args += (float(rate[0]), rate[1])
        if cost is not None:
            cost_bucket = Bucket(cost[0], cost[1], self.model.now)
            args = args[:3] + (args[3:] or (0.0, 0.0)) + (cost[0], cost[1])
        expected = self.model.free_index(self.removed)
        index = self.table.add_lane(*args)
        assert index == expected
        lane = MLane(index, priority, low, high, bucket)
        lane.cost_bucket = cost_bucket
        self.model.add_lane(lane)

    def lane(self, data: Any) -> MLane:
        return data.draw(st.sampled_from(self.model.lanes), label="lane")

    # ---------------------------------------------------------------- rules
    @rule(data=st.data())
    def submit(self, data: Any) -> None:
        lane = self.lane(data)
        item = Item(next(self.items))
        capacity = 0 if lane.cost_bucket is None else int(lane.cost_bucket.capacity)
        cost = data.draw(st.integers(1, capacity + 1), label="cost") if capacity else 1
        if cost > capacity > 0:  # could never run: refused, nothing changes
            pending = self.table.pending(lane.index)
            with pytest.raises(ValueError, match="above the cost capacity"):
                self.table.push(lane.index, item, cost)
            assert self.table.pending(lane.index) == pending
            return
        self.owner[item] = lane
        self.cost[item] = cost
        ticket = self.table.push(lane.index, item, cost)
        self.model.push(lane, ticket, item, cost)

    @rule(spec=lane_spec)
    def add_lane(self, spec: Any) -> None:
        """A lane added at run time (reusing the most recently removed index)."""
        self._add_lane(spec)

    @precondition(lambda self: len(self.model.lanes) > 1)
    @rule(data=st.data())
    def retire_lane(self, data: Any) -> None:
        """Cancel a lane's pending commands, finish its running ones, remove it."""
        lane = self.lane(data)
        assert len(self.table.take_all(lane.index)) == len(self.model.take_all(lane))
        for entry in [e for e in self.active_items if e[0] is lane]:
            self.active_items.remove(entry)
            self.table.complete(lane.index)
            self.model.complete(lane)
        self.table.remove_lane(lane.index)
        self.model.remove_lane(lane)
        self.removed.append(lane.index)
        self.stale = [(ln, t) for ln, t in self.stale if ln is not lane]
        assert not self.table.has_lane(lane.index)

    @rule()
    def dispatch(self) -> None:
        got = self.table.pop_ready()
        want = self.model.pop()
        assert got is want, f"pop_ready() gave {got!r}, the model {want!r}"
        if got is not None:
            self.active_items.append((self.owner[got], got))

    @rule()
    def dispatch_all(self) -> None:
        for _ in range(100):
            got = self.table.pop_ready()
            want = self.model.pop()
            assert got is want, f"pop_ready() gave {got!r}, the model {want!r}"
            if got is None:
                return
            self.active_items.append((self.owner[got], got))

    @precondition(lambda self: self.active_items)
    @rule(data=st.data())
    def complete(self, data: Any) -> None:
        """An active command finished (completed, failed for good, timed out, cancelled)."""
        i = data.draw(st.integers(0, len(self.active_items) - 1), label="active")
        lane, _ = self.active_items.pop(i)
        self.table.complete(lane.index)
        self.model.complete(lane)

    @precondition(lambda self: self.active_items)
    @rule(data=st.data())
    def fail_and_retry(self, data: Any) -> None:
        """An attempt failed and is retried: the slot frees, the command re-enters at the back."""
        i = data.draw(st.integers(0, len(self.active_items) - 1), label="active")
        lane, item = self.active_items.pop(i)
        self.table.complete(lane.index)
        self.model.complete(lane)
        ticket = self.table.push(lane.index, item, self.cost[item])
        self.model.push(lane, ticket, item, self.cost[item])

    @precondition(lambda self: self.model.total_pending)
    @rule(data=st.data())
    def cancel_pending(self, data: Any) -> None:
        pending = [(ln, t) for ln in self.model.lanes for t, _ in ln.pending]
        lane, ticket = data.draw(st.sampled_from(pending), label="pending")
        got = self.table.remove(lane.index, ticket)
        want = self.model.remove(lane, ticket)
        assert got is want
        self.stale.append((lane, ticket))

    @precondition(lambda self: self.stale)
    @rule(data=st.data())
    def cancel_stale(self, data: Any) -> None:
        """Removing a ticket that is no longer pending returns None and changes nothing."""
        lane, ticket = data.draw(st.sampled_from(self.stale), label="stale")
        assert self.table.remove(lane.index, ticket) is None

    @rule(data=st.data())
    def take_all(self, data: Any) -> None:
        lane = self.lane(data)
        tickets = [t for t, _ in lane.pending]
        want = self.model.take_all(lane)
        got = self.table.take_all(lane.index)
        assert len(got) == len(want) and all(a is b for a, b in zip(got, want, strict=True))
        self.stale.extend((lane, t) for t in tickets)

    @rule(data=st.data(), paused=st.booleans())
    def pause_resume(self, data: Any, paused: bool) -> None:
        lane = self.lane(data)
        if paused:
            self.table.pause(lane.index)
        else:
            self.table.resume(lane.index)
        self.model.pause(lane, paused)

    @rule(data=st.data(), priority=st.integers(0, 3))
    def set_priority(self, data: Any, priority: int) -> None:
        """A priority boost (or its end): the lane moves to another level."""
        lane = self.lane(data)
        self.table.set_priority(lane.index, priority)
        self.model.set_priority(lane, priority)

    @rule(step=st.sampled_from(CLOCK_STEPS))
    def advance_clock_and_wake(self, step: Fraction) -> None:
        self.model.now += step
        assert self.table.wake_throttled() == self.model.wake_throttled()

    @rule()
    def wake_without_time_passing(self) -> None:
        assert self.table.wake_throttled() == self.model.wake_throttled()

    # ---------------------------------------------------------------- invariants
    @invariant()
    def matches_model(self) -> None:
        if self.table is None:
            return
        t, m = self.table, self.model
        for lane in m.lanes:
            i = lane.index
            assert t.active(i) <= lane.max
            assert (t.pending(i), t.active(i)) == (len(lane.pending), lane.active), lane
            head = lane.pending[0][1] if lane.pending else None
            assert t.peek(i) is head
            assert t.priority(i) == lane.prio
            assert t.base_priority(i) == lane.base
            assert t.is_paused(i) == lane.paused
            assert t.is_throttled(i) == lane.throttled
            assert t.reservation(i) == lane.granted
            assert t.head_cost(i) == lane.head_cost()
            assert t.cost_limited(i) == (lane.cost_bucket is not None)
        assert t.lane_indices() == sorted(ln.index for ln in m.lanes)
        assert t.lane_count == len(m.lanes)
        if m.global_limit:
            assert t.total_active <= m.global_limit
        assert t.total_active == m.total_active == len(self.active_items)
        assert t.total_pending == m.total_pending
        assert t.reserved_slots == m.reserve
        assert t.throttled_count == sum(ln.throttled for ln in m.lanes)
        assert t.next_token_delay() == m.next_token_delay()


def test_core_matches_model(core: Any) -> None:
    run_state_machine_as_test(
        lambda: CoreMachine(core),
        settings=settings(
            max_examples=CORE_EXAMPLES,
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# ====================================================================== manager level
SETTLE_TURNS = 12  # loop turns that let every consequence of one step happen (see settle())

RETRIES = (
    ("none", RetryPolicy.none()),
    ("fixed1", RetryPolicy.fixed(1, 0)),
    ("fixed2", RetryPolicy.fixed(2, 0)),
    ("parked", RetryPolicy.fixed(1, 3600)),  # waits "forever": a command to cancel while retrying
)

manager_lane_spec = st.fixed_dictionaries(
    {
        "priority": st.integers(0, 2),
        "min": st.integers(0, 2),
        "extra": st.integers(0, 2),
        "retry": st.sampled_from(RETRIES),
        "rate": st.none() | st.integers(1, 4),  # per_hour(n): n tokens within an example
        "boost": st.sampled_from((0, 0, 1, 2)),
        "pressure": st.none() | st.integers(1, 3),
    }
)


@dataclass(eq=False)
class MCmd:
    key: int
    lane: MLane
    lane_id: str
    event: asyncio.Event
    handle: Any = None
    state: str = "pending"  # pending, running, retrying, completed, failed, cancelled
    attempts: int = 0
    action: str = ""
    outcome: Any = None  # the model's expected final outcome
    resolutions: int = 0  # done-callback calls


class ManagerProgram:
    """One hypothesis example: a random program run against a real manager and the model."""

    def __init__(self, implementation: str, data: Any) -> None:
        self.implementation = implementation
        self.data = data
        self.cmds: list[MCmd] = []
        self.started_log: list[int] = []  # keys, in the order commands started
        self.expected_log: list[int] = []  # keys, in the order the model dispatched them
        self.running_in_lane: dict[str, int] = {}
        self.running_total = 0
        self.violations: list[str] = []
        self.dead_letters = 0
        self.retrying = 0
        self.started = False

    def draw(self, strategy: Any, label: str) -> Any:
        return self.data.draw(strategy, label=label)

    # ---------------------------------------------------------------- setup
    def build(self) -> Any:
        specs = self.draw(st.lists(manager_lane_spec, min_size=1, max_size=4), "lanes")
        min_total = sum(s["min"] for s in specs)
        # caps below the lanes' total minimum too: then only some reservations are granted
        global_limit = self.draw(
            st.sampled_from((0, 1, max(1, min_total - 1), min_total, min_total + 1, min_total + 3)),
            "global",
        )
        self.model = SchedModel(global_limit)
        builder = QueueManagerBuilder().with_implementation(self.implementation)
        if global_limit:
            builder = builder.with_global_concurrency(global_limit)
        self.lane_ids: list[str] = []
        self.policy: dict[str, RetryPolicy] = {}
        self.lane_of: dict[str, MLane] = {}
        for i, s in enumerate(specs):
            lane_id = f"lane{i}"
            high = max(1, s["min"] + s["extra"])
            config = LaneConfig(s["min"], high).with_retry_policy(s["retry"][1])
            bucket = None
            if s["rate"] is not None:
                config = config.with_rate_limit(RateLimitConfig.per_hour(s["rate"]))
                bucket = Bucket(s["rate"], 0, Fraction(0))  # no refill within an example
            if s["boost"]:
                config = config.with_priority_boost(
                    PriorityBoostConfig.new(3600).with_boost(3600, s["boost"])
                )
            if s["pressure"] is not None:
                config = config.with_pressure_threshold(s["pressure"])
            builder = builder.with_lane(lane_id, config, s["priority"])
            lane = MLane(i, s["priority"], s["min"], high, bucket, s["boost"])
            self.model.add_lane(lane)
            self.lane_ids.append(lane_id)
            self.lane_of[lane_id] = lane
            self.policy[lane_id] = s["retry"][1]
        return builder.build()

    # ---------------------------------------------------------------- the commands
    def make_command(self, cmd: MCmd) -> Any:
        async def command() -> Any:
            self.started_log.append(cmd.key)
            n = self.running_in_lane.get(cmd.lane_id, 0) + 1
            self.running_in_lane[cmd.lane_id] = n
            self.running_total += 1
            if n > cmd.lane.max:
                self.violations.append(f"{cmd.lane_id} ran {n} > max {cmd.lane.max}")
            if self.model.global_limit and self.running_total > self.model.global_limit:
                self.violations.append(f"{self.running_total} running > global cap")
            try:
                await cmd.event.wait()
                cmd.event.clear()
                if cmd.action == "fail":
                    raise ValueError(f"command {cmd.key} failed")
                if cmd.action == "timeout":
                    raise CommandTimeout(cmd.handle.command_id, 0.5)
                return ("done", cmd.key)
            finally:
                self.running_in_lane[cmd.lane_id] -= 1
                self.running_total -= 1

        return command

    def _resolved(self, cmd: MCmd) -> Any:
        def callback(handle: Any) -> None:
            cmd.resolutions += 1

        return callback

    # ---------------------------------------------------------------- model bookkeeping
    def fill(self) -> None:
        """Dispatch in the model until nothing may run (a no-op before start)."""
        if not self.started:
            return
        while True:
            cmd = self.model.pop()
            if cmd is None:
                return
            cmd.state = "running"
            self.expected_log.append(cmd.key)
            self.model.apply_boosts()

    def model_push(self, cmd: MCmd) -> None:
        self.model.push(cmd.lane, cmd.key, cmd)
        self.model.apply_boosts()

    def model_remove(self, cmd: MCmd) -> None:
        assert self.model.remove(cmd.lane, cmd.key) is cmd
        self.model.apply_boosts()

    def with_state(self, *states: str) -> list[MCmd]:
        return [c for c in self.cmds if c.state in states]

    # ---------------------------------------------------------------- steps
    def step_submit(self, m: Any) -> None:
        lane_id = self.draw(st.sampled_from(self.lane_ids), "lane")
        lane = self.lane_of[lane_id]
        count = self.draw(st.sampled_from((1, 1, 1, 2, 3)), "count")
        timeout = self.draw(st.sampled_from((None, None, 3600)), "timeout")
        batch = []
        for _ in range(count):
            cmd = MCmd(len(self.cmds), lane, lane_id, asyncio.Event())
            self.cmds.append(cmd)
            batch.append(cmd)
        commands = [self.make_command(c) for c in batch]
        if count == 1 and self.draw(st.booleans(), "single submit"):
            named_id = self.draw(st.booleans(), "own id")
            command_id = f"cmd-{batch[0].key}" if named_id else None
            handles = [m.submit(lane_id, commands[0], timeout=timeout, command_id=command_id)]
        else:
            handles = m.submit_many(lane_id, commands, timeout=timeout)
        for cmd, handle in zip(batch, handles, strict=True):
            cmd.handle = handle
            handle.add_done_callback(self._resolved(cmd))
            self.model_push(cmd)
        self.fill()

    async def step_release(self, m: Any) -> None:
        cmd = self.draw(st.sampled_from(self.with_state("running")), "running")
        action = self.draw(st.sampled_from(("complete", "complete", "fail", "timeout")), "action")
        cmd.action = action
        cmd.event.set()
        self.model.complete(cmd.lane)
        if action == "complete":
            cmd.state = "completed"
            cmd.outcome = ("result", ("done", cmd.key))
            self.fill()
        else:
            cmd.attempts += 1
            error = ValueError if action == "fail" else CommandTimeout
            policy = self.policy[cmd.lane_id]
            if policy.should_retry(cmd.attempts):
                if policy.initial_delay == 0:
                    self.fill()  # the freed slot is filled first, by the runner, inline
                    cmd.state = "pending"  # then the retry timer fires: back of its lane
                    self.model_push(cmd)
                else:
                    cmd.state = "retrying"
                    self.retrying += 1
            else:
                cmd.state = "failed"
                cmd.outcome = ("error", error)
                self.dead_letters += 1
            self.fill()
        await self.settle()

    async def step_cancel(self, m: Any) -> None:
        cmd = self.draw(
            st.sampled_from(self.with_state("pending", "running", "retrying")), "to cancel"
        )
        via_manager = self.draw(st.booleans(), "via manager")
        was = cmd.state
        if via_manager:
            assert m.cancel(cmd.handle.command_id)
        else:
            assert cmd.handle.cancel()
        cmd.state = "cancelled"
        cmd.outcome = ("cancelled", None)
        if was == "pending":
            self.model_remove(cmd)
        elif was == "running":
            self.model.complete(cmd.lane)
        else:
            self.retrying -= 1
        self.fill()
        await self.settle()

    async def step_pause(self, m: Any) -> None:
        lane_id = self.draw(st.sampled_from(self.lane_ids), "lane")
        lane = self.lane_of[lane_id]
        if self.draw(st.booleans(), "pause"):
            m.pause_lane(lane_id)
            self.model.pause(lane, True)
        else:
            m.resume_lane(lane_id)
            self.model.pause(lane, False)
        self.fill()  # pausing may release a min reservation: others may run now
        await self.settle()

    async def settle(self) -> None:
        """Let every consequence of a step happen: runners take what was handed to them,
        released commands return, zero-delay retry timers fire. Only loop turns, no clock."""
        for _ in range(SETTLE_TURNS):
            await asyncio.sleep(0)

    # ---------------------------------------------------------------- checks
    def check(self, m: Any) -> None:
        assert not self.violations, self.violations
        assert self.started_log == self.expected_log, (
            f"start order {self.started_log} != model {self.expected_log}"
        )
        stats = m.stats()
        model = self.model
        assert stats.total_pending == model.total_pending
        assert stats.total_active == model.total_active
        assert stats.retrying == self.retrying
        assert stats.dead_letter_count == self.dead_letters == len(m.dlq)
        for lane_id in self.lane_ids:
            lane, status = self.lane_of[lane_id], stats.lanes[lane_id]
            assert (status.pending, status.active) == (len(lane.pending), lane.active), lane_id
            assert status.paused == lane.paused
            assert status.throttled == lane.throttled
            assert status.effective_priority == lane.prio
        for cmd in self.cmds:
            final = cmd.state in ("completed", "failed", "cancelled")
            assert cmd.handle.done() == final, (cmd.key, cmd.state)
            assert cmd.resolutions == (1 if final else 0), (cmd.key, cmd.resolutions)
            if final:
                self.check_outcome(cmd)

    @staticmethod
    def check_outcome(cmd: MCmd) -> None:
        kind, value = cmd.outcome
        handle = cmd.handle
        if kind == "cancelled":
            assert handle.cancelled()
        elif kind == "result":
            assert not handle.cancelled() and handle.exception() is None
            assert handle.result() == value
        else:
            assert not handle.cancelled() and type(handle.exception()) is value

    # ---------------------------------------------------------------- the program
    async def execute(self) -> None:
        m = self.build()
        try:
            for _ in range(self.draw(st.integers(0, 3), "submits before start")):
                self.step_submit(m)
            self.check(m)
            await m.start()
            self.started = True
            self.fill()
            await self.settle()
            self.check(m)
            steps = self.draw(st.integers(10, 40), "steps")
            for _ in range(steps):
                kinds = ["submit", "pause"]
                if self.with_state("running"):
                    kinds += ["release", "release"]
                if self.with_state("pending", "running", "retrying"):
                    kinds.append("cancel")
                kind = self.draw(st.sampled_from(kinds), "step")
                if kind == "submit":
                    self.step_submit(m)
                    await self.settle()
                elif kind == "release":
                    await self.step_release(m)
                elif kind == "cancel":
                    await self.step_cancel(m)
                else:
                    await self.step_pause(m)
                self.check(m)
            await self.finish(m)
            # what the examples covered (pytest --hypothesis-show-statistics)
            event(f"commands: {min(len(self.cmds) // 10 * 10, 40)}+")
            event(f"dead letters: {self.dead_letters > 0}")
            event(f"lane throttled at the end: {any(ln.throttled for ln in self.model.lanes)}")
            event(f"global cap: {bool(self.model.global_limit)}")
        finally:
            await m.close()

    async def finish(self, m: Any) -> None:
        """Resume every lane, cancel what can never run (parked retries, throttled lanes'
        work), complete the rest; then drain and check the books."""
        for lane_id, lane in self.lane_of.items():
            if lane.paused:
                m.resume_lane(lane_id)
                self.model.pause(lane, False)
                self.fill()
                await self.settle()
                self.check(m)
        for cmd in self.with_state("retrying"):
            assert cmd.handle.cancel()
            cmd.state, cmd.outcome = "cancelled", ("cancelled", None)
            self.retrying -= 1
        await self.settle()
        self.check(m)
        for _ in range(10_000):
            running = self.with_state("running")
            if running:
                cmd = running[0]
                cmd.action = "complete"
                cmd.event.set()
                self.model.complete(cmd.lane)
                cmd.state, cmd.outcome = "completed", ("result", ("done", cmd.key))
                self.fill()
                await self.settle()
            else:
                stuck = self.with_state("pending")
                if not stuck:
                    break
                cmd = stuck[0]  # only throttled lanes' work is left: it can never run here
                assert cmd.lane.throttled, cmd
                assert cmd.handle.cancel()
                cmd.state, cmd.outcome = "cancelled", ("cancelled", None)
                self.model_remove(cmd)
                self.fill()
                await self.settle()
            self.check(m)
        m.shutdown()
        async with asyncio.timeout(30):
            await m.drain()
        self.check(m)
        stats = m.stats()
        assert stats.total_pending == stats.total_active == stats.retrying == 0
        counts = {s: len(self.with_state(s)) for s in ("completed", "failed", "cancelled")}
        assert len(self.cmds) == sum(counts.values()), counts
        assert len(m.dlq) == counts["failed"] == self.dead_letters


@settings(
    max_examples=MANAGER_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_manager_matches_model(core: Any, run: Any, data: Any) -> None:
    run(ManagerProgram(core.name, data).execute())


def test_reference_model_sanity() -> None:
    """The reference model itself: equal lanes alternate, a better lane goes first, a lane
    under its min takes a reserved slot from a better lane that already has its min, and a
    tight cap grants reservations by priority."""
    model = SchedModel(0)
    a, b, c = (MLane(i, prio, 1, 9) for i, prio in enumerate((1, 1, 0)))
    for lane in (a, b, c):
        model.add_lane(lane)
    for n in range(3):
        model.push(a, n, f"a{n}")
        model.push(b, n, f"b{n}")
    assert [model.pop() for _ in range(3)] == ["a0", "b0", "a1"]
    model.push(c, 0, "c0")
    assert [model.pop() for _ in range(4)] == ["c0", "b1", "a2", "b2"]
    assert model.pop() is None

    capped = SchedModel(3)
    hi, lo = MLane(0, 0, 1, 3), MLane(1, 5, 1, 3)
    capped.add_lane(hi)
    capped.add_lane(lo)
    for n in range(3):
        capped.push(hi, n, f"hi{n}")
    capped.push(lo, 0, "lo0")
    assert [capped.pop() for _ in range(4)] == ["hi0", "hi1", "lo0", None]

    # a cap below the total minimum grants reservations in base-priority order, no partial ones
    tight = SchedModel(3)
    lanes = [MLane(0, 4, 1, 3), MLane(1, 0, 1, 3), MLane(2, 2, 3, 3), MLane(3, 9, 0, 3)]
    for lane in lanes:
        tight.add_lane(lane)
    assert [lane.granted for lane in lanes] == [0, 1, 0, 0]
