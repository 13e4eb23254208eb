"""Differential test: the compiled lane table must behave exactly like its pure-Python twin.

A hypothesis state machine drives one table of each core with the same random operations
(each table on its own fake clock showing identical readings) and compares every return value,
every exception (type and message) and every observable after each step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from lanecore import _impl

if "cython" not in _impl.CORES:
    pytest.skip(
        "the compiled core is not loaded: "
        + (
            "LANECORE_NO_EXTENSIONS is set"
            if _impl.COMPILED_IMPORT_ERROR is None
            else str(_impl.COMPILED_IMPORT_ERROR)
        ),
        allow_module_level=True,
    )

PY = _impl.get_core("python")
CY = _impl.get_core("cython")

MAX_EXAMPLES = int(os.environ.get("LANECORE_HYPOTHESIS_EXAMPLES", "300"))

Outcome = tuple[str, Any]


def _outcome(fn: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("raise", (type(exc), str(exc)))


def _same(a: Outcome, b: Outcome) -> bool:
    if a[0] != b[0]:
        return False
    va, vb = a[1], b[1]
    if isinstance(va, float) and isinstance(vb, float):
        # bit-identical, not merely close (nan == nan here)
        return (math.isnan(va) and math.isnan(vb)) or va.hex() == vb.hex()
    return type(va) is type(vb) and bool(va == vb)


def snapshot(table: Any) -> list[Any]:
    """Everything a table shows without changing: totals, then one tuple per lane."""
    state: list[Any] = [
        table.lane_count,
        table.total_pending,
        table.total_active,
        table.global_limit,
        table.reserved_slots,
        table.throttled_count,
    ]
    for lane in table.lane_indices():
        state.append(
            (
                lane,
                table.pending(lane),
                table.active(lane),
                table.priority(lane),
                table.base_priority(lane),
                table.is_paused(lane),
                table.is_throttled(lane),
                table.reservation(lane),
                table.peek(lane),
                table.head_cost(lane),
                table.cost_limited(lane),
                table.cost_capacity(lane),
            )
        )
    return state


def expected_reservations(limit: int, lanes: list[tuple[int, int, int]]) -> dict[int, int]:
    """The reservation rule, written out plainly: lanes (index, base priority, min), listed in
    the order added, in base-priority order (ties: order added) get their min while the
    running sum fits the limit; the first that does not fit and all after it get 0. No
    limit: every lane gets its min."""
    granted = {index: 0 for index, _, _ in lanes}
    used = 0
    for index, _, want in sorted(lanes, key=lambda lane: lane[1]):  # (stable: order added)
        if limit and used + want > limit:
            break
        used += want
        granted[index] = want
    return granted


def expected_reserve(table: Any) -> int:
    """Slots still owed to lanes with pending work that are neither paused nor throttled."""
    return sum(
        max(0, table.reservation(lane) - table.active(lane))
        for lane in table.lane_indices()
        if table.pending(lane) and not table.is_paused(lane) and not table.is_throttled(lane)
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


BAD_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("add_lane", (256, 1, 1)),
    ("add_lane", (-1, 1, 1)),
    ("add_lane", (True, 1, 1)),
    ("add_lane", (1.0, 1, 1)),
    ("add_lane", (0, -1, 1)),
    ("add_lane", (0, 0, 0)),
    ("add_lane", (0, 2, 1)),
    ("add_lane", (0, 1.0, 2)),
    ("add_lane", (0, 1, False)),
    ("add_lane", (0, 1, 1, 0.5, 1.0)),
    ("add_lane", (0, 1, 1, 0, 1.0)),
    ("add_lane", (0, 1, 1, 2, 0)),
    ("add_lane", (0, 1, 1, 2, -1.0)),
    ("add_lane", (0, 1, 1, 2, math.nan)),
    ("add_lane", (0, 1, 1, math.inf, 1.0)),
    ("add_lane", (0, 1, 1, True, 1.0)),
    ("add_lane", (0, 1, 1, "2", 1.0)),
    ("add_lane", (0, 1, 1, 0, 0, 0.5, 1.0)),
    ("add_lane", (0, 1, 1, 2, 1, 3, 0)),
    ("add_lane", (0, 1, 1, 0, 0, None, 1.0)),
    ("add_lane", (0, 1, 1, 0, 0, 2, math.inf)),
    ("push", (0, 1, 0)),
    ("push", (0, 1, -1)),
    ("push", (0, 1, 2**63)),
    ("push", (0, 1, 1.0)),
    ("push", (0, 1, False)),
    ("push", (0, None, 0)),
    ("remove_lane", (-1,)),
    ("remove_lane", (2**70,)),
    ("remove_lane", ("0",)),
    ("head_cost", (10**6,)),
    ("cost_capacity", (True,)),
    ("has_lane", (None,)),
    ("push", (-1, 1)),
    ("push", (True, 1)),
    ("push", ("0", 1)),
    ("push", (2**70, 1)),
    ("push", (0, None)),
    ("remove", (0, 1.0)),
    ("remove", (0, True)),
    ("remove", (0, "0")),
    ("remove", (0, None)),
    ("take_all", (-2,)),
    ("peek", (1.0,)),
    ("pause", (None,)),
    ("set_priority", (0, 256)),
    ("set_priority", (0, -1)),
    ("set_priority", (0, False)),
    ("set_priority", (0, 2.0)),
    ("pending", (10**6,)),
    ("active", (-(2**70),)),
    ("is_throttled", (False,)),
    ("base_priority", (-1,)),
]


class DifferentialMachine(RuleBasedStateMachine):
    """Holds one table per core; every rule applies the same call to both."""

    def __init__(self) -> None:
        super().__init__()
        self.clocks = (FakeClock(), FakeClock())
        self.tables: tuple[Any, Any] = (None, None)
        self.tickets: dict[int, list[int]] = {}  # every ticket handed out, per live lane
        self.limit = 0
        self.lanes: list[tuple[int, int, int]] = []  # (index, base priority, min), order added

    # ----------------------------------------------------------------- helpers
    def call(self, method: str, *args: Any) -> Any:
        py, cy = self.tables
        a = _outcome(lambda: getattr(py, method)(*args))
        b = _outcome(lambda: getattr(cy, method)(*args))
        assert _same(a, b), f"{method}{args!r}: python {a!r} != cython {b!r}"
        return a[1] if a[0] == "ok" else None

    @property
    def lane_count(self) -> int:
        return int(self.tables[0].lane_count)

    def lane(self, n: int) -> int:
        """A live lane's index."""
        indices = self.tables[0].lane_indices()
        return int(indices[n % len(indices)])

    # ------------------------------------------------------------------- rules
    @initialize(global_limit=st.integers(0, 8))
    def create(self, global_limit: int) -> None:
        self.limit = global_limit
        self.tables = (
            PY.LaneTable(global_limit, clock=self.clocks[0]),
            CY.LaneTable(global_limit, clock=self.clocks[1]),
        )

    @rule(
        priority=st.integers(0, 5),
        min_concurrency=st.integers(0, 3),
        extra=st.integers(0, 3),
        rate=st.none()
        | st.tuples(
            st.sampled_from([1, 2, 3, 1.5, 2.75]),
            st.sampled_from([0.3, 0.5, 1, 2.5, 10.0]),
        ),
        cost=st.none()
        | st.tuples(
            st.sampled_from([1, 3, 5, 6.5, 12]),
            st.sampled_from([0.7, 1, 2.5, 4.0, 10.0]),
        ),
    )
    def add_lane(
        self,
        priority: int,
        min_concurrency: int,
        extra: int,
        rate: tuple[float, float] | None,
        cost: tuple[float, float] | None,
    ) -> None:
        args: tuple[Any, ...] = (priority, min_concurrency, min_concurrency + extra)
        if rate is not None or cost is not None:
            args += rate or (0.0, 0.0)
        if cost is not None:
            args += cost
        lane = self.call("add_lane", *args)
        if lane is not None:
            self.tickets[lane] = []
            self.lanes.append((lane, priority, min_concurrency))

    @precondition(lambda self: self.lane_count > 0)
    @rule(
        n=st.integers(0, 63),
        item=st.integers(0, 1000),
        times=st.integers(1, 4),
        cost=st.none() | st.integers(1, 7) | st.sampled_from([12, 13, 2**62]),
    )
    def push(self, n: int, item: int, times: int, cost: int | None) -> None:
        lane = self.lane(n)
        for k in range(times):
            if cost is None:
                ticket = self.call("push", lane, item + k)
            else:
                ticket = self.call("push", lane, item + k, cost)
            if ticket is not None:
                self.tickets[lane].append(ticket)

    @precondition(lambda self: self.lane_count > 0)
    @rule(n=st.integers(0, 63))
    def remove_lane(self, n: int) -> None:
        """Most often refused (the lane is busy); the same error from both."""
        lane = self.lane(n)
        if self.call("remove_lane", lane) is None and not self.tables[0].has_lane(lane):
            self.forget(lane)

    @precondition(lambda self: self.lane_count > 0)
    @rule(n=st.integers(0, 63))
    def retire_lane(self, n: int) -> None:
        """Cancel a lane's pending commands, finish its active ones, remove it."""
        lane = self.lane(n)
        if not self.tables[0].has_lane(lane):
            return
        self.call("take_all", lane)
        while self.tables[0].active(lane):
            self.call("complete", lane)
        self.call("remove_lane", lane)
        self.forget(lane)

    def forget(self, lane: int) -> None:
        if lane in self.tickets:
            del self.tickets[lane]
            self.lanes = [entry for entry in self.lanes if entry[0] != lane]

    @rule(times=st.integers(1, 4))
    def pop_ready(self, times: int) -> None:
        for _ in range(times):
            self.call("pop_ready")

    @precondition(lambda self: self.lane_count > 0)
    @rule(n=st.integers(0, 63))
    def complete(self, n: int) -> None:
        busy = [lane for lane in self.tables[0].lane_indices() if self.tables[0].active(lane) > 0]
        if busy:
            self.call("complete", busy[n % len(busy)])

    @precondition(lambda self: self.lane_count > 0)
    @rule(n=st.integers(0, 63), pick=st.integers(0, 1000), stale=st.integers(-3, 10**20))
    def remove(self, n: int, pick: int, stale: int) -> None:
        lane = self.lane(n)
        tickets = self.tickets.get(lane, [])
        ticket = tickets[pick % len(tickets)] if tickets and pick % 5 else stale
        self.call("remove", lane, ticket)

    @precondition(lambda self: self.lane_count > 0)
    @rule(n=st.integers(0, 63))
    def take_all(self, n: int) -> None:
        self.call("take_all", self.lane(n))

    @precondition(lambda self: self.lane_count > 0)
    @rule(n=st.integers(0, 63), paused=st.booleans())
    def pause_or_resume(self, n: int, paused: bool) -> None:
        self.call("pause" if paused else "resume", self.lane(n))

    @precondition(lambda self: self.lane_count > 0)
    @rule(n=st.integers(0, 63), priority=st.integers(0, 5) | st.just(255))
    def set_priority(self, n: int, priority: int) -> None:
        self.call("set_priority", self.lane(n), priority)

    @rule(dt=st.sampled_from([0.0, 0.1, 0.25, 1 / 3, 0.5, 1.0, 2.0, 7.0, -0.5]))
    def advance_clock(self, dt: float) -> None:
        for clock in self.clocks:
            clock.now += dt  # identical readings; -0.5 makes the clock go backwards

    @rule()
    def wake_throttled(self) -> None:
        self.call("wake_throttled")

    @rule()
    def next_token_delay(self) -> None:
        self.call("next_token_delay")

    @rule(which=st.integers(0, len(BAD_CALLS) - 1))
    def bad_call(self, which: int) -> None:
        method, args = BAD_CALLS[which]
        before = [snapshot(t) for t in self.tables]
        self.call(method, *args)
        after = [snapshot(t) for t in self.tables]
        assert before == after  # a rejected call changes nothing

    @rule(
        n=st.integers(0, 3),
        method=st.sampled_from(
            ["push", "pop_lane", "peek", "pending", "remove_lane", "has_lane", "head_cost"]
        ),
    )
    def missing_lane(self, n: int, method: str) -> None:
        """Calls on a removed (or never added) index: the same IndexError (has_lane: False)."""
        indices = set(self.tables[0].lane_indices())
        missing = [i for i in range(max(indices, default=-1) + 3) if i not in indices]
        lane = missing[n % len(missing)]
        before = [snapshot(t) for t in self.tables]
        if method == "push":
            self.call("push", lane, "x")
        elif method == "pop_lane":
            self.call("take_all", lane)
        else:
            self.call(method, lane)
        assert [snapshot(t) for t in self.tables] == before

    @precondition(lambda self: self.lane_count > 0)
    @rule(n=st.integers(0, 63))
    def complete_idle(self, n: int) -> None:
        idle = [lane for lane in self.tables[0].lane_indices() if self.tables[0].active(lane) == 0]
        if idle:
            self.call("complete", idle[n % len(idle)])  # both raise ValueError

    # -------------------------------------------------------------- invariants
    @invariant()
    def same_observables(self) -> None:
        if self.tables[0] is None:
            return
        py, cy = (snapshot(t) for t in self.tables)
        assert py == cy
        totals = py[:6]
        lanes = py[6:]
        assert totals[0] == len(lanes)
        assert totals[1] == sum(lane[1] for lane in lanes)
        assert totals[2] == sum(lane[2] for lane in lanes)
        assert totals[5] == sum(1 for lane in lanes if lane[6])
        # the reservation rule (also with a global limit below the lanes' total minimum)
        assert {lane[0]: lane[7] for lane in lanes} == expected_reservations(self.limit, self.lanes)
        assert sorted(self.tickets) == [lane[0] for lane in lanes]
        assert totals[4] == expected_reserve(self.tables[0])
        if self.limit:
            assert totals[2] <= self.limit


DifferentialMachine.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDifferential = DifferentialMachine.TestCase


@pytest.mark.parametrize("seed", range(5))
def test_long_random_run_agrees(seed: int) -> None:
    """A few long deterministic runs (thousands of steps) beyond hypothesis' step budget."""
    import random

    rng = random.Random(seed)
    clocks = (FakeClock(), FakeClock())
    limit = rng.randint(0, 8)
    tables = (PY.LaneTable(limit, clocks[0]), CY.LaneTable(limit, clocks[1]))
    tickets: dict[int, list[int]] = {}
    added: list[tuple[int, int, int]] = []

    def both(method: str, *args: Any) -> Any:
        a = _outcome(lambda: getattr(tables[0], method)(*args))
        b = _outcome(lambda: getattr(tables[1], method)(*args))
        assert _same(a, b), f"{method}{args!r}: python {a!r} != cython {b!r}"
        return a[1] if a[0] == "ok" else None

    def add_lane() -> None:
        buckets: tuple[Any, ...] = ()
        if rng.random() < 0.4:
            buckets = (rng.choice([1, 2, 3.5]), rng.choice([0.5, 1.0, 4.0]))
        if rng.random() < 0.4:
            buckets = (buckets or (0, 0)) + (rng.choice([2, 5, 8]), rng.choice([0.5, 2.0, 3.0]))
        lo, priority = rng.randint(0, 3), rng.randint(0, 5)
        lane = both("add_lane", priority, lo, max(1, lo + rng.randint(0, 3)), *buckets)
        tickets[lane] = []
        added.append((lane, priority, lo))

    def retire(lane: int) -> None:
        both("take_all", lane)
        while tables[0].active(lane):
            both("complete", lane)
        both("remove_lane", lane)
        del tickets[lane]
        added[:] = [entry for entry in added if entry[0] != lane]

    for _lane in range(rng.randint(1, 12)):
        add_lane()
    for step in range(4000):
        op = rng.random()
        lane = rng.choice(sorted(tickets))
        if op < 0.35:
            cost = rng.choice([1, 1, 2, 3, 5, 9])
            ticket = both("push", lane, step, cost)
            if ticket is not None:
                tickets[lane].append(ticket)
        elif op < 0.6:
            both("pop_ready")
        elif op < 0.75:
            if tables[0].active(lane):
                both("complete", lane)
        elif op < 0.83:
            if tickets[lane]:
                both("remove", lane, rng.choice(tickets[lane]))
        elif op < 0.85:
            both("take_all", lane)
        elif op < 0.87:
            both(rng.choice(["pause", "resume", "resume"]), lane)
        elif op < 0.89:
            both("set_priority", lane, rng.randint(0, 5))
        elif op < 0.9:
            if len(tickets) > 1:
                retire(lane)
        elif op < 0.91:
            add_lane()
        elif op < 0.96:
            dt = rng.choice([0.05, 0.2, 0.5, 1.0])
            for clock in clocks:
                clock.now += dt
        elif op < 0.98:
            both("wake_throttled")
        else:
            both("next_token_delay")
        if step % 50 == 0:
            assert snapshot(tables[0]) == snapshot(tables[1])
            assert tables[0].reserved_slots == expected_reserve(tables[0])
            assert {lane: tables[0].reservation(lane) for lane in tickets} == (
                expected_reservations(limit, added)
            )
    # drain: everything pushed and not removed is dispatched, in the same order by both
    for lane in tickets:
        both("resume", lane)
    for _ in range(100_000):
        if both("pop_ready") is None:
            if tables[0].total_pending == 0:
                break
            for clock in clocks:
                clock.now += 1.0
            both("wake_throttled")
            for lane in tickets:
                while tables[0].active(lane):
                    both("complete", lane)
    assert tables[0].total_pending == tables[1].total_pending == 0
    assert snapshot(tables[0]) == snapshot(tables[1])
    for lane in sorted(tickets):
        retire(lane)
    assert tables[0].lane_count == tables[1].lane_count == 0
    assert snapshot(tables[0]) == snapshot(tables[1])
