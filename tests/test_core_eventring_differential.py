"""Differential test: the compiled EventRing must show exactly what its pure-Python twin shows.

The compiled ring holds a submit_many batch as one record (a run) and folds a command's
completed event into its started record (a pair) when nothing came in between; the twin holds
one entry per event. A hypothesis state machine drives one ring of each core with the same
random pushes, pops and clears, on small capacities so that runs and pairs are dropped whole
and in part, and compares every event read and every count after each step.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from lanecore import _impl
from lanecore.events import COMMAND_EVENT_KEYS, LaneEvent

if "cython" not in _impl.CORES:
    pytest.skip("the compiled core is not loaded", allow_module_level=True)

PY = _impl.get_core("python")
CY = _impl.get_core("cython")

MAX_EXAMPLES = int(os.environ.get("LANECORE_HYPOTHESIS_EXAMPLES", "300"))


class Command:
    """What a started event's command_type comes from."""

    def __init__(self, name: str) -> None:
        self.command_type = name


LANES = ("a", "b")
# one object per id, as the scheduler's handles hold them (the pair check compares identity)
IDS: tuple[Any, ...] = (1, 2, 3, 10**20, "x", ("t", 1))
COMMANDS = (Command("c0"), Command("c1"))
GROUPS = (None, None, "g", ("t", 2))  # None: an ungrouped command


def seen(event: Any) -> Any:
    """What a reader can see of an event."""
    if event is None or not isinstance(event, LaneEvent) or event.key not in COMMAND_EVENT_KEYS:
        return event
    return (event.key, event.payload, event.timestamp)


def counts(ring: Any) -> tuple[int, ...]:
    return (len(ring), ring.dropped, ring.offered, ring.taken, ring.capacity)


class RingPair(RuleBasedStateMachine):
    """One twin ring and one compiled ring, fed the same calls."""

    def __init__(self) -> None:
        super().__init__()
        self.rings: list[Any] = []
        self.clock = 1000.0
        self.wakes = [0, 0]

    @initialize(capacity=st.integers(1, 6))
    def make(self, capacity: int) -> None:
        self.rings = [core.EventRing(capacity, LaneEvent, COMMAND_EVENT_KEYS) for core in (PY, CY)]

    def _stamp(self) -> float:
        self.clock += 0.25
        return self.clock

    def both(self, name: str, *args: Any) -> list[Any]:
        out = []
        for ring in self.rings:
            try:
                out.append(("ok", seen(getattr(ring, name)(*args))))
            except Exception as exc:  # the same exception from both is the point
                out.append(("raise", type(exc), str(exc).split(" got ")[0]))
        assert out[0] == out[1], (name, args, out)
        return out

    @rule(
        kind=st.integers(0, 2),
        lane=st.sampled_from(LANES),
        command_id=st.sampled_from(IDS),
        command=st.sampled_from((None, *COMMANDS)),
        group=st.sampled_from(GROUPS),
    )
    def push_command(self, kind: int, lane: str, command_id: Any, command: Any, group: Any) -> None:
        self.both("push_command", kind, lane, command_id, command, self._stamp(), group)

    @rule(
        lane=st.sampled_from(LANES),
        command_id=st.sampled_from(IDS),
        command=st.sampled_from(COMMANDS),
        groups=st.tuples(st.sampled_from(GROUPS), st.sampled_from(GROUPS)),
    )
    def start_then_complete(
        self, lane: str, command_id: Any, command: Any, groups: tuple[Any, Any]
    ) -> None:
        """What the runner records for a command that finishes without suspending (mostly of
        one group; different groups must not fold into one record)."""
        self.both("push_command", 1, lane, command_id, command, self._stamp(), groups[0])
        second = groups[0] if groups[1] is None else groups[1]
        self.both("push_command", 2, lane, command_id, None, self._stamp(), second)

    @rule(
        kind=st.integers(0, 2),
        lane=st.sampled_from(LANES),
        first=st.integers(0, 50),
        count=st.integers(0, 9),
        group=st.sampled_from(GROUPS),
    )
    def push_run(self, kind: int, lane: str, first: int, count: int, group: Any) -> None:
        self.both("push_run", kind, lane, first, count, self._stamp(), group)

    @rule(key=st.sampled_from(("queue.lane.idle", "queue.lane.pressure")))
    def push_ready(self, key: str) -> None:
        event = LaneEvent(key, {"lane_id": "a"}, self._stamp())
        for ring in self.rings:
            ring.push(event)

    @rule(n=st.integers(1, 4))
    def pop(self, n: int) -> None:
        for _ in range(n):
            self.both("pop")

    @rule()
    def clear(self) -> None:
        self.both("clear")

    @rule()
    def arm_waker(self) -> None:
        for i, ring in enumerate(self.rings):
            ring.waker = lambda i=i: self.wakes.__setitem__(i, self.wakes[i] + 1)

    @rule(
        bad=st.sampled_from(
            [
                ("push_command", (3, "a", 1)),
                ("push_command", (-1, "a", 1)),
                ("push_run", (0, "a", 1, -1)),
                ("push_run", (3, "a", 1, 1)),
                ("push_run", (0, "a", 2**63 - 1, 2)),
            ]
        )
    )
    def refused(self, bad: tuple[str, tuple[Any, ...]]) -> None:
        before = [counts(ring) for ring in self.rings]
        out = self.both(bad[0], *bad[1])
        assert out[0][0] == "raise"
        assert [counts(ring) for ring in self.rings] == before  # nothing half-recorded

    @invariant()
    def same_counts(self) -> None:
        if self.rings:
            assert counts(self.rings[0]) == counts(self.rings[1])
            assert self.wakes[0] == self.wakes[1]
            assert [r.waker is None for r in self.rings] in ([True, True], [False, False])


RingPair.TestCase.settings = settings(
    max_examples=MAX_EXAMPLES,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_compiled_ring_shows_what_the_twin_shows = RingPair.TestCase
