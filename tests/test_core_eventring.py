"""EventRing, the per-subscriber event buffer: the compiled core and its twin, same tests."""

from __future__ import annotations

import gc
import time
import weakref
from types import SimpleNamespace
from typing import Any

import pytest

from lanecore.events import COMMAND_EVENT_KEYS, LaneEvent


class Handle:
    """Stands in for a CommandHandle: what a command event's payload is made from."""

    def __init__(self, command_id: Any, lane_id: str = "a", command_type: str = "t") -> None:
        self.command_id = command_id
        self.lane_id = lane_id
        self.command_type = command_type


def ring(core: SimpleNamespace, capacity: int) -> Any:
    return core.EventRing(capacity, LaneEvent, COMMAND_EVENT_KEYS)


def push(r: Any, kind: int, handle: Handle, timestamp: float | None = None) -> None:
    """Record event ``kind`` of ``handle``, the handle being the source of its command_type."""
    r.push_command(kind, handle.lane_id, handle.command_id, handle, timestamp)


def test_records_come_out_as_events_oldest_first(core: SimpleNamespace) -> None:
    r = ring(core, 8)
    before = time.time()
    push(r, 0, Handle(1))
    push(r, 1, Handle(1))
    ready = LaneEvent("queue.lane.idle", {"lane_id": "a"}, 5.0)
    r.push(ready)
    after = time.time()
    assert len(r) == 3 and r.offered == 3 and r.taken == 0
    submitted, started, idle = r.pop(), r.pop(), r.pop()
    assert r.pop() is None and len(r) == 0 and r.taken == 3
    assert submitted.key == "queue.command.submitted"
    assert submitted.payload == {"lane_id": "a", "command_id": 1}
    assert started.payload == {"lane_id": "a", "command_id": 1, "command_type": "t"}
    assert before - 0.001 <= submitted.timestamp <= started.timestamp <= after + 0.001
    assert idle is ready


def test_a_full_ring_drops_the_oldest_and_counts_it(core: SimpleNamespace) -> None:
    r = ring(core, 3)
    for n in range(10):
        push(r, 2, Handle(n))
    assert len(r) == 3 and r.dropped == 7 and r.capacity == 3
    assert [r.pop().payload["command_id"] for _ in range(3)] == [7, 8, 9]
    assert r.dropped == 7


def test_dropped_records_release_their_handles(core: SimpleNamespace) -> None:
    r = ring(core, 2)
    first = Handle(0)
    gone = weakref.ref(first)
    push(r, 0, first)
    del first
    assert gone() is not None  # the ring holds it
    push(r, 0, Handle(1))
    push(r, 0, Handle(2))  # pushes the first out
    assert gone() is None


def test_waker_runs_once_on_the_next_push(core: SimpleNamespace) -> None:
    r = ring(core, 4)
    calls: list[int] = []
    r.waker = lambda: calls.append(len(r))
    push(r, 0, Handle(1))
    push(r, 0, Handle(2))
    assert calls == [1] and r.waker is None  # it saw the event already buffered


def test_clear_empties_without_counting_drops(core: SimpleNamespace) -> None:
    r = ring(core, 4)
    for n in range(3):
        push(r, 0, Handle(n))
    r.clear()
    assert len(r) == 0 and r.dropped == 0 and r.pop() is None


def test_next_ready_is_an_awaitable_of_the_oldest_event(core: SimpleNamespace) -> None:
    r = ring(core, 4)
    assert r.next_ready() is None
    push(r, 0, Handle(9))
    ready = r.next_ready()
    assert ready is not None and len(r) == 0
    it = ready.__await__()
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert stop.value.value.payload["command_id"] == 9


def test_awaiting_next_ready_in_a_coroutine_gives_each_event(core: SimpleNamespace) -> None:
    """The await path a reader's ``async for`` takes (am_send on the compiled Ready)."""
    r = ring(core, 8)
    for i in range(5):
        push(r, 2, Handle(i))

    async def read() -> list[Any]:
        seen = []
        while (ready := r.next_ready()) is not None:
            seen.append((await ready).payload["command_id"])
        return seen

    coro = read()
    with pytest.raises(StopIteration) as stop:
        coro.send(None)
    assert stop.value.value == [0, 1, 2, 3, 4]


def test_iterator_hands_over_buffered_events_then_asks_for_more(core: SimpleNamespace) -> None:
    r = ring(core, 8)
    for i in range(3):
        push(r, 0, Handle(i))
    asked = 0

    async def more() -> Any:
        nonlocal asked
        asked += 1
        if asked == 1:  # one more event arrives while "waiting"
            push(r, 1, Handle(99))
            return r.pop()
        raise StopAsyncIteration

    async def read() -> list[tuple[str, Any]]:
        iterator = r.iterator(more)
        assert iterator.__aiter__() is iterator
        return [(event.key, event.payload["command_id"]) async for event in iterator]

    coro = read()
    with pytest.raises(StopIteration) as stop:
        coro.send(None)
    assert stop.value.value == [
        ("queue.command.submitted", 0),
        ("queue.command.submitted", 1),
        ("queue.command.submitted", 2),
        ("queue.command.started", 99),
    ]
    assert asked == 2 and len(r) == 0


@pytest.mark.parametrize("command_id", [0, 7, -5, 2**63 - 1, -(2**63), 2**70, "c-1", (1, "a")])
def test_a_record_keeps_any_command_id(core: SimpleNamespace, command_id: Any) -> None:
    """Ids that fit an int64 are stored unboxed by the compiled ring; others as objects."""
    r = ring(core, 2)
    push(r, 1, Handle(command_id, lane_id="lane-x", command_type="kind-y"))
    event = r.pop()
    assert event.payload == {
        "lane_id": "lane-x",
        "command_id": command_id,
        "command_type": "kind-y",
    }
    assert type(event.payload["command_id"]) is type(command_id)


def test_push_command_takes_a_timestamp(core: SimpleNamespace) -> None:
    r = ring(core, 4)
    push(r, 0, Handle(1), 123.5)
    before = time.time()
    push(r, 0, Handle(2), None)
    event_at, event_now = r.pop(), r.pop()
    assert event_at.timestamp == 123.5
    assert before <= event_now.timestamp <= time.time()


def test_a_run_is_one_event_per_command_of_the_batch(core: SimpleNamespace) -> None:
    r = ring(core, 10)
    r.push_run(0, "a", 41, 3, 7.5)
    assert len(r) == 3 and r.offered == 3
    events = [r.pop() for _ in range(3)]
    assert [(e.key, e.payload, e.timestamp) for e in events] == [
        ("queue.command.submitted", {"lane_id": "a", "command_id": n}, 7.5) for n in (41, 42, 43)
    ]
    r.push_run(0, "a", 1, 0)  # an empty batch records nothing
    assert len(r) == 0 and r.offered == 3 and r.pop() is None


def test_a_run_bigger_than_the_ring_keeps_its_newest_commands(core: SimpleNamespace) -> None:
    r = ring(core, 4)
    push(r, 2, Handle("old"))
    r.push_run(0, "a", 100, 10, 1.0)
    assert len(r) == 4 and r.dropped == 7
    push(r, 1, Handle("new"))  # drops one more, from the run's front
    assert [r.pop().payload["command_id"] for _ in range(4)] == [107, 108, 109, "new"]
    assert r.dropped == 8


def test_completed_right_after_started_reads_back_as_two_events(core: SimpleNamespace) -> None:
    """The runner's pattern for a command that finishes without suspending (the compiled
    ring holds both in one record); on a ring of one, the started event is dropped."""
    for capacity, expected in ((4, ["started", "completed"]), (1, ["completed"])):
        r = ring(core, capacity)
        command = Handle(5, command_type="kind-z")
        r.push_command(1, "a", 5, command, 1.0)
        r.push_command(2, "a", 5, None, 2.0)
        assert len(r) == len(expected) and r.dropped == 2 - len(expected)
        events = [r.pop() for _ in expected]
        assert [e.key.rsplit(".", 1)[1] for e in events] == expected
        assert [e.timestamp for e in events] == [1.0, 2.0][-len(expected) :]
        assert events[-1].payload == {"lane_id": "a", "command_id": 5}
        if capacity > 1:
            assert events[0].payload["command_type"] == "kind-z"


def test_an_event_a_reader_still_holds_never_changes(core: SimpleNamespace) -> None:
    """The compiled ring refills an event object only when nobody else holds it."""
    r = ring(core, 64)
    r.push_run(0, "a", 0, 40, 3.0)
    kept = [r.pop() for _ in range(5)]
    for _ in range(30):
        r.pop()  # read and dropped at once: their objects may be refilled
    seen = []
    while (event := r.pop()) is not None:
        seen.append(event.payload["command_id"])
    assert seen == [35, 36, 37, 38, 39]
    assert [(e.key, e.payload["command_id"], e.timestamp) for e in kept] == [
        ("queue.command.submitted", n, 3.0) for n in range(5)
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((3, "a", 1, 1), ValueError),
        ((-1, "a", 1, 1), ValueError),
        ((0, "a", 1, -1), ValueError),
        ((0, "a", 2**63 - 1, 2), OverflowError),
    ],
)
def test_a_bad_run_is_refused_and_records_nothing(
    core: SimpleNamespace, args: tuple[Any, ...], error: type[Exception]
) -> None:
    r = ring(core, 4)
    with pytest.raises(error, match=r"kind|count|int64"):
        r.push_run(*args)
    assert len(r) == 0 and r.offered == 0


@pytest.mark.parametrize("capacity", [0, -1, True, 1.5])
def test_bad_capacity_is_refused(core: SimpleNamespace, capacity: Any) -> None:
    with pytest.raises(ValueError, match="capacity"):
        ring(core, capacity)


def test_an_event_type_without_the_slots_is_refused(core: SimpleNamespace) -> None:
    class Plain:
        pass

    with pytest.raises(TypeError, match="slots"):
        core.EventRing(4, Plain, COMMAND_EVENT_KEYS)


def test_the_gc_collects_a_cycle_through_a_ring(core: SimpleNamespace) -> None:
    """handle -> ring -> handle: the ring reports what it holds, so the cycle is garbage."""
    r = ring(core, 4)
    h = Handle(1)
    h.ring = r  # type: ignore[attr-defined]
    push(r, 0, h)
    gone = weakref.ref(h)
    del h, r
    gc.collect()
    assert gone() is None


# ------------------------------------------------------------------ groups
class Group:
    """A group object the tests can watch (groups are usually strings)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and other.name == self.name

    __hash__ = object.__hash__


def test_an_event_of_a_grouped_command_carries_its_group(core: SimpleNamespace) -> None:
    r = ring(core, 8)
    h = Handle(1)
    r.push_command(0, "a", 1, None, 1.0, "g1")
    r.push_command(1, "a", 1, h, 2.0, group="g1")
    r.push_command(2, "a", 1, None, 3.0, "g1")  # (a pair with the started event)
    r.push_command(0, "a", 2, None, 4.0)  # ungrouped: no "group" key at all
    payloads = [r.pop().payload for _ in range(4)]
    assert payloads == [
        {"lane_id": "a", "command_id": 1, "group": "g1"},
        {"lane_id": "a", "command_id": 1, "command_type": "t", "group": "g1"},
        {"lane_id": "a", "command_id": 1, "group": "g1"},
        {"lane_id": "a", "command_id": 2},
    ]


def test_started_and_completed_of_different_groups_stay_apart(core: SimpleNamespace) -> None:
    r = ring(core, 4)
    r.push_command(1, "a", 7, Handle(7), 1.0, "x")
    r.push_command(2, "a", 7, None, 2.0, "y")
    r.push_command(2, "a", 7, None, 3.0)
    assert [r.pop().payload.get("group") for _ in range(3)] == ["x", "y", None]


def test_a_run_carries_its_group(core: SimpleNamespace) -> None:
    r = ring(core, 3)
    r.push_run(0, "a", 10, 5, 1.0, "batch")  # the two oldest are dropped
    r.push_run(0, "a", 20, 1, 2.0)
    events = [r.pop() for _ in range(3)]
    assert [e.payload for e in events] == [
        {"lane_id": "a", "command_id": 13, "group": "batch"},
        {"lane_id": "a", "command_id": 14, "group": "batch"},
        {"lane_id": "a", "command_id": 20},
    ]


def test_a_refilled_event_object_loses_the_old_group(core: SimpleNamespace) -> None:
    """The compiled ring reuses event objects nobody holds: the group must not linger."""
    r = ring(core, 64)
    for n in range(20):
        r.push_command(0, "a", n, None, 1.0, "g" if n % 2 == 0 else None)
    groups = [r.pop().payload.get("group") for _ in range(20)]
    assert groups == ["g" if n % 2 == 0 else None for n in range(20)]


def test_groups_are_released_with_their_events(core: SimpleNamespace) -> None:
    r = ring(core, 2)
    groups = [Group(str(n)) for n in range(4)]
    refs = [weakref.ref(g) for g in groups]
    r.push_command(0, "a", 0, None, 1.0, groups[0])
    r.push_command(1, "a", 1, Handle(1), 1.0, groups[1])
    r.push_command(2, "a", 1, None, 1.0, groups[1])  # a pair holding one reference
    r.push_run(0, "a", 5, 1, 1.0, groups[2])
    r.push_command(0, "a", 9, None, 1.0, groups[3])
    del groups
    gc.collect()
    # the ring keeps the newest two events: the run's and the last command's
    assert [ref() is None for ref in refs] == [True, True, False, False]
    r.clear()
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_the_gc_collects_a_cycle_through_a_group(core: SimpleNamespace) -> None:
    """group -> ring -> group: the ring reports the groups it holds."""
    r = ring(core, 4)
    g = Group("cyclic")
    g.ring = r  # type: ignore[attr-defined]
    r.push_command(0, "a", 1, None, 1.0, g)
    gone = weakref.ref(g)
    del g, r
    gc.collect()
    assert gone() is None


def test_a_group_read_from_the_payload_is_cleared_from_the_event(core: SimpleNamespace) -> None:
    r = ring(core, 2)
    g = Group("held")
    r.push_command(0, "a", 1, None, 1.0, g)
    event = r.pop()
    assert event.payload == {"lane_id": "a", "command_id": 1, "group": g}
    assert event._group is None  # only the payload dict holds it now
    assert LaneEvent("k", {"x": 1}, 1.0)._group is None
