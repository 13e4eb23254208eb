"""LaneTable, on every core (the ``core`` fixture); time comes from a fake clock."""

from __future__ import annotations

import contextlib
import gc
import sys
import weakref
from types import SimpleNamespace
from typing import Any

import pytest


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.now


class Item:
    """A weak-referenceable command."""

    def __init__(self, name: str = "", table: Any = None) -> None:
        self.name = name
        self.table = table


def snapshot(table: Any) -> list[Any]:
    state: list[Any] = [
        table.lane_count,
        table.total_pending,
        table.total_active,
        table.global_limit,
        table.reserved_slots,
        table.throttled_count,
    ]
    for lane in range(table.lane_count):
        state.append(
            (
                table.pending(lane),
                table.active(lane),
                table.priority(lane),
                table.base_priority(lane),
                table.is_paused(lane),
                table.is_throttled(lane),
                table.reservation(lane),
                table.peek(lane),
            )
        )
    return state


def drain(table: Any, limit: int = 100_000) -> list[Any]:
    """pop_ready until it returns None."""
    out = []
    for _ in range(limit):
        item = table.pop_ready()
        if item is None:
            break
        out.append(item)
    return out


# ------------------------------------------------------------------ basics
def test_empty_table(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    assert table.lane_count == 0
    assert table.total_pending == 0
    assert table.total_active == 0
    assert table.global_limit == 0
    assert table.reserved_slots == 0
    assert table.throttled_count == 0
    assert table.pop_ready() is None
    assert table.next_token_delay() == -1.0
    assert table.wake_throttled() == 0


def test_lane_indices_and_defaults(core: SimpleNamespace) -> None:
    table = core.LaneTable(4)
    assert [table.add_lane(p, 1, 2) for p in (7, 0, 255)] == [0, 1, 2]
    assert table.lane_count == 3
    assert table.global_limit == 4
    assert [table.priority(i) for i in range(3)] == [7, 0, 255]
    assert [table.base_priority(i) for i in range(3)] == [7, 0, 255]
    for lane in range(3):
        assert table.pending(lane) == 0
        assert table.active(lane) == 0
        assert table.is_paused(lane) is False
        assert table.is_throttled(lane) is False
        assert table.peek(lane) is None


def test_many_lanes(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lanes = [table.add_lane(i % 256, 1, 1) for i in range(1000)]
    assert lanes == list(range(1000))
    for lane in reversed(lanes):
        table.push(lane, lane)
    # priority = index % 256: levels 0..255, each served round-robin in order of joining
    expected = sorted(lanes, key=lambda lane: (lane % 256, -lane))
    assert drain(table) == expected


def test_tickets_count_up_per_lane(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(0, 1, 1), table.add_lane(0, 1, 1)
    assert [table.push(a, "x") for _ in range(3)] == [0, 1, 2]
    assert table.push(b, "y") == 0
    table.take_all(a)
    assert table.push(a, "z") == 3  # tickets are never reused


def test_fifo_within_a_lane(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(3, 1, 100)
    for i in range(20):
        table.push(lane, i)
    assert table.peek(lane) == 0
    assert drain(table) == list(range(20))
    assert table.active(lane) == 20 and table.total_active == 20
    assert table.pending(lane) == 0 and table.total_pending == 0


def test_strict_priority_lower_number_first(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    low = table.add_lane(200, 1, 10)
    high = table.add_lane(0, 1, 10)
    mid = table.add_lane(17, 1, 10)
    for i in range(3):
        table.push(low, f"low{i}")
        table.push(mid, f"mid{i}")
        table.push(high, f"high{i}")
    assert drain(table) == [
        "high0",
        "high1",
        "high2",
        "mid0",
        "mid1",
        "mid2",
        "low0",
        "low1",
        "low2",
    ]


def test_new_higher_priority_work_goes_first(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    low, high = table.add_lane(9, 1, 10), table.add_lane(1, 1, 10)
    table.push(low, "l0")
    table.push(low, "l1")
    assert table.pop_ready() == "l0"
    table.push(high, "h0")
    assert table.pop_ready() == "h0"
    assert table.pop_ready() == "l1"


def test_round_robin_among_equal_priority(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b, c = (table.add_lane(4, 1, 10) for _ in range(3))
    for i in range(3):
        for lane, name in ((a, "a"), (b, "b"), (c, "c")):
            table.push(lane, f"{name}{i}")
    assert drain(table) == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_round_robin_late_joiner_goes_to_the_back(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b, c = (table.add_lane(4, 1, 10) for _ in range(3))
    for i in range(3):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    assert table.pop_ready() == "a0"  # a moves behind b
    table.push(c, "c0")  # c joins behind a
    assert drain(table) == ["b0", "a1", "c0", "b1", "a2", "b2"]


def test_round_robin_lane_that_empties_and_returns(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(0, 1, 10), table.add_lane(0, 1, 10)
    table.push(a, "a0")
    table.push(b, "b0")
    table.push(b, "b1")
    assert table.pop_ready() == "a0"  # a leaves the ring (nothing pending)
    table.push(a, "a1")  # and joins again behind b
    assert drain(table) == ["b0", "a1", "b1"]


# ----------------------------------------------------------- concurrency
def test_max_concurrency_and_complete(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 2)
    for i in range(5):
        table.push(lane, i)
    assert drain(table) == [0, 1]
    assert table.active(lane) == 2
    assert table.pending(lane) == 3
    assert table.pop_ready() is None
    table.complete(lane)
    assert table.active(lane) == 1 and table.total_active == 1
    assert drain(table) == [2]
    table.complete(lane)
    table.complete(lane)
    assert drain(table) == [3, 4]
    table.complete(lane)
    table.complete(lane)
    assert table.active(lane) == 0 and table.total_active == 0
    with pytest.raises(ValueError, match=r"^lane 0 has no active command to complete$"):
        table.complete(lane)


def test_a_full_lane_lets_lower_priority_lanes_run(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    high, low = table.add_lane(0, 1, 1), table.add_lane(1, 1, 5)
    for i in range(3):
        table.push(high, f"h{i}")
        table.push(low, f"l{i}")
    assert drain(table) == ["h0", "l0", "l1", "l2"]
    table.complete(high)
    assert drain(table) == ["h1"]


def test_pause_and_resume(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(0, 1, 10), table.add_lane(1, 1, 10)
    table.push(a, "a0")
    table.push(a, "a1")
    table.push(b, "b0")
    table.pause(a)
    assert table.is_paused(a) is True
    assert drain(table) == ["b0"]
    assert table.pending(a) == 2
    table.push(a, "a2")
    assert table.pop_ready() is None
    table.resume(a)
    assert table.is_paused(a) is False
    assert drain(table) == ["a0", "a1", "a2"]
    table.resume(a)  # resuming a running lane is harmless
    table.pause(a)
    table.pause(a)
    assert table.is_paused(a) is True


def test_pause_does_not_touch_running_commands(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 3)
    table.push(lane, 1)
    assert table.pop_ready() == 1
    table.pause(lane)
    assert table.active(lane) == 1
    table.complete(lane)
    assert table.active(lane) == 0


# ----------------------------------------------------------------- remove
def test_remove_by_ticket(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10)
    tickets = [table.push(lane, f"c{i}") for i in range(5)]
    assert table.remove(lane, tickets[2]) == "c2"
    assert table.pending(lane) == 4 and table.total_pending == 4
    assert table.remove(lane, tickets[2]) is None  # twice
    assert table.pop_ready() == "c0"
    assert table.remove(lane, tickets[0]) is None  # after pop
    assert table.remove(lane, 99) is None  # never handed out
    assert table.remove(lane, -1) is None
    assert table.remove(lane, 2**64) is None
    assert table.remove(lane, 2**200) is None
    assert drain(table) == ["c1", "c3", "c4"]  # the tombstone is skipped


def test_remove_the_head_then_peek(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10)
    tickets = [table.push(lane, i) for i in range(6)]
    table.remove(lane, tickets[1])
    table.remove(lane, tickets[2])
    assert table.peek(lane) == 0
    assert table.remove(lane, tickets[0]) == 0  # the head: the next live one becomes the head
    assert table.peek(lane) == 3
    table.remove(lane, tickets[5])
    assert table.peek(lane) == 3
    assert table.remove(lane, tickets[3]) == 3
    assert table.peek(lane) == 4
    assert table.remove(lane, tickets[4]) == 4
    assert table.peek(lane) is None
    assert table.pending(lane) == 0 and table.total_pending == 0
    assert table.pop_ready() is None
    assert table.push(lane, "next") == 6
    assert table.peek(lane) == "next"
    assert drain(table) == ["next"]


def test_remove_takes_a_lane_out_of_the_rotation(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(0, 1, 10), table.add_lane(0, 1, 10)
    ta = table.push(a, "a0")
    table.push(b, "b0")
    table.push(b, "b1")
    assert table.remove(a, ta) == "a0"
    assert drain(table) == ["b0", "b1"]


def test_remove_wrong_lane_or_paused_lane(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(0, 1, 10), table.add_lane(0, 1, 10)
    ticket = table.push(a, "a0")
    table.push(b, "b0")
    assert table.remove(b, ticket) == "b0"  # tickets are per lane: ticket 0 of lane b
    table.pause(a)
    assert table.remove(a, ticket) == "a0"
    assert table.total_pending == 0


def test_remove_rejects_non_int_tickets(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10)
    table.push(lane, "a")
    table.push(lane, "b")
    before = snapshot(table)
    for ticket in (True, 1.0, "1", None):
        with pytest.raises(TypeError, match=r"^ticket must be an int, got "):
            table.remove(lane, ticket)
    assert snapshot(table) == before


def test_take_all(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(0, 1, 10), table.add_lane(1, 1, 10)
    tickets = [table.push(a, i) for i in range(6)]
    table.push(b, "b0")
    table.remove(a, tickets[0])
    table.remove(a, tickets[3])
    assert table.pop_ready() == 1
    assert table.take_all(a) == [2, 4, 5]
    assert table.take_all(a) == []
    assert table.pending(a) == 0
    assert table.active(a) == 1  # running commands stay
    assert table.total_pending == 1
    assert drain(table) == ["b0"]
    assert table.push(a, "again") == 6
    assert drain(table) == ["again"]


# --------------------------------------------------------------- priority
def test_set_priority_boosted_lane_overtakes(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(2, 1, 10), table.add_lane(5, 1, 10)
    for i in range(3):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    assert table.pop_ready() == "a0"
    table.set_priority(b, 0)
    assert table.priority(b) == 0
    assert table.base_priority(b) == 5
    assert drain(table) == ["b0", "b1", "b2", "a1", "a2"]
    table.set_priority(b, table.base_priority(b))
    assert table.priority(b) == 5


def test_set_priority_joins_the_back_of_the_new_level(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b, c = table.add_lane(1, 1, 10), table.add_lane(1, 1, 10), table.add_lane(3, 1, 10)
    for i in range(2):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
        table.push(c, f"c{i}")
    table.set_priority(c, 1)  # behind a and b
    assert drain(table) == ["a0", "b0", "c0", "a1", "b1", "c1"]


def test_set_priority_same_value_keeps_the_place(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(1, 1, 10), table.add_lane(1, 1, 10)
    table.push(a, "a0")
    table.push(b, "b0")
    table.set_priority(a, 1)
    assert drain(table) == ["a0", "b0"]


def test_set_priority_of_an_idle_or_paused_lane(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b = table.add_lane(5, 1, 10), table.add_lane(3, 1, 10)
    table.set_priority(a, 0)  # idle: nothing to move
    table.pause(b)
    table.push(b, "b0")
    table.set_priority(b, 200)
    table.push(a, "a0")
    table.resume(b)
    assert drain(table) == ["a0", "b0"]
    assert table.priority(b) == 200


# ----------------------------------------------------- global limit, reserve
def test_global_limit_caps_all_lanes(core: SimpleNamespace) -> None:
    table = core.LaneTable(3)
    a, b = table.add_lane(0, 1, 10), table.add_lane(1, 1, 10)
    for i in range(4):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    # every lane has min_concurrency 1: the last free slot is held for b
    assert drain(table) == ["a0", "a1", "b0"]
    assert table.total_active == 3
    assert table.pop_ready() is None
    table.complete(a)
    assert drain(table) == ["a2"]
    table.complete(b)
    assert drain(table) == ["b1"]
    assert table.total_active == 3


def test_min_concurrency_reservation(core: SimpleNamespace) -> None:
    table = core.LaneTable(3)
    a = table.add_lane(0, 1, 3)
    b = table.add_lane(5, 1, 2)
    assert table.reserved_slots == 0
    for i in range(5):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    assert table.reserved_slots == 2  # both lanes are under their minimum
    assert table.pop_ready() == "a0"
    assert table.reserved_slots == 1  # only b is still owed a slot
    assert table.pop_ready() == "a1"
    assert table.reserved_slots == 1
    # one free slot, held for b although a has higher priority and room
    assert table.pop_ready() == "b0"
    assert table.reserved_slots == 0
    assert table.pop_ready() is None
    assert (table.active(a), table.active(b)) == (2, 1)
    table.complete(b)  # b under its minimum again: the freed slot goes to b
    assert table.reserved_slots == 1
    assert table.pop_ready() == "b1"
    table.complete(a)
    assert table.pop_ready() == "a2"


def test_reservation_only_for_lanes_with_dispatchable_work(core: SimpleNamespace) -> None:
    table = core.LaneTable(3)
    a, b = table.add_lane(0, 1, 5), table.add_lane(9, 2, 5)
    for i in range(4):
        table.push(a, f"a{i}")
    table.push(b, "b0")
    assert table.reserved_slots == 2 + 1
    table.pause(b)  # a paused lane is owed nothing
    assert table.reserved_slots == 1
    assert table.reservation(b) == 2  # (still granted, only not held)
    assert drain(table) == ["a0", "a1", "a2"]
    assert table.reserved_slots == 0
    for _ in range(3):
        table.complete(a)
    table.resume(b)
    assert table.reserved_slots == 2 + 1
    assert table.take_all(b) == ["b0"]  # nothing pending: owed nothing
    assert table.reserved_slots == 1


def test_larger_minimum_takes_several_slots(core: SimpleNamespace) -> None:
    table = core.LaneTable(4)
    a, b = table.add_lane(0, 1, 4), table.add_lane(1, 3, 4)
    for i in range(4):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    assert table.reserved_slots == 1 + 3
    assert drain(table) == ["a0", "b0", "b1", "b2"]
    assert table.reserved_slots == 0


def test_reserved_slots_go_round_robin(core: SimpleNamespace) -> None:
    table = core.LaneTable(4)
    a, b = table.add_lane(3, 2, 4), table.add_lane(3, 2, 4)
    for i in range(4):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    assert table.reserved_slots == 4
    assert drain(table) == ["a0", "b0", "a1", "b1"]  # not a0, a1, b0, b1


def test_global_limit_zero_means_unlimited(core: SimpleNamespace) -> None:
    table = core.LaneTable(0)
    lane = table.add_lane(0, 5, 10_000)
    for i in range(1000):
        table.push(lane, i)
    assert table.reserved_slots == 5
    assert drain(table) == list(range(1000))


# ------------------------------------------- global limit below the total minimum
def _default_like_lanes(table: Any) -> list[int]:
    """Six lanes of priority 0..5 with min 1 each (the shape of the default lanes)."""
    return [table.add_lane(priority, 1, 3) for priority in range(6)]


def test_reservations_are_granted_in_priority_order(core: SimpleNamespace) -> None:
    table = core.LaneTable(4)
    lanes = _default_like_lanes(table)
    assert [table.reservation(lane) for lane in lanes] == [1, 1, 1, 1, 0, 0]
    for lane in lanes:
        table.push(lane, f"x{lane}")
    assert table.reserved_slots == 4  # only granted reservations are held


def test_no_limit_grants_every_minimum(core: SimpleNamespace) -> None:
    table = core.LaneTable(0)
    lanes = [table.add_lane(priority, 3, 5) for priority in (4, 1, 1)]
    assert [table.reservation(lane) for lane in lanes] == [3, 3, 3]


def test_reservations_follow_base_priority_then_the_order_added(core: SimpleNamespace) -> None:
    table = core.LaneTable(2)
    late = table.add_lane(5, 1, 3)
    assert table.reservation(late) == 1
    first, second = table.add_lane(3, 1, 3), table.add_lane(3, 1, 3)
    assert [table.reservation(lane) for lane in (late, first, second)] == [0, 1, 1]
    top = table.add_lane(0, 1, 3)  # a more important lane takes the last reservation over
    assert [table.reservation(lane) for lane in (late, first, second, top)] == [0, 1, 0, 1]
    table.set_priority(late, 0)  # a boost changes the effective priority, not the grant
    assert table.reservation(late) == 0


def test_no_partial_grants_and_nothing_after_the_first_misfit(core: SimpleNamespace) -> None:
    table = core.LaneTable(3)
    a, b, c = table.add_lane(0, 1, 2), table.add_lane(1, 3, 3), table.add_lane(2, 1, 2)
    # b's 3 does not fit beside a's 1: b gets none (not 2), and c after it none either
    assert [table.reservation(lane) for lane in (a, b, c)] == [1, 0, 0]


def test_min_concurrency_zero_reserves_nothing(core: SimpleNamespace) -> None:
    table = core.LaneTable(2)
    free, held = table.add_lane(0, 0, 4), table.add_lane(1, 2, 4)
    assert (table.reservation(free), table.reservation(held)) == (0, 2)
    for i in range(3):
        table.push(free, f"f{i}")
    assert table.reserved_slots == 0
    assert drain(table) == ["f0", "f1"]  # held has no pending work: free takes the cap
    table.push(held, "h0")
    table.complete(free)
    assert drain(table) == ["h0"]  # the freed slot is held for the lane under its minimum


def test_global_limit_one_is_strict_priority_one_at_a_time(core: SimpleNamespace) -> None:
    table = core.LaneTable(1)
    lanes = _default_like_lanes(table)
    prompt, control = lanes[5], lanes[1]
    for i in range(3):
        table.push(prompt, f"p{i}")
    assert drain(table) == ["p0"]
    table.push(control, "c0")
    assert table.pop_ready() is None  # never two at once
    table.complete(prompt)
    assert drain(table) == ["c0"]  # the control command overtakes the queued prompt work
    table.complete(control)
    assert drain(table) == ["p1"]
    assert table.total_active == 1


def test_a_lane_without_a_reservation_runs_when_slots_are_free(core: SimpleNamespace) -> None:
    table = core.LaneTable(2)
    a, b = table.add_lane(0, 2, 4), table.add_lane(1, 1, 4)
    assert table.reservation(b) == 0
    for i in range(3):
        table.push(b, f"b{i}")
    assert drain(table) == ["b0", "b1"]
    table.push(a, "a0")
    table.push(a, "a1")
    table.complete(b)
    assert drain(table) == ["a0"]  # a's reservation: the freed slot is not b's
    table.complete(b)
    assert drain(table) == ["a1"]


def test_a_paused_lane_holds_no_slot_below_the_total_minimum(core: SimpleNamespace) -> None:
    table = core.LaneTable(2)
    a, b = table.add_lane(0, 2, 2), table.add_lane(1, 0, 5)
    for i in range(3):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    table.pause(a)
    assert table.reserved_slots == 0
    assert drain(table) == ["b0", "b1"]
    table.resume(a)
    assert table.reserved_slots == 2
    table.complete(b)
    assert drain(table) == ["a0"]


# ------------------------------------------------------------- rate limits
def test_rate_limited_lane_throttles_and_wakes(core: SimpleNamespace) -> None:
    clock = FakeClock(10.0)
    table = core.LaneTable(clock=clock)
    a = table.add_lane(0, 1, 10, 2, 1.0)  # burst 2, then one per second
    b = table.add_lane(5, 1, 10)
    for i in range(5):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    assert table.pop_ready() == "a0"
    assert table.pop_ready() == "a1"
    assert table.throttled_count == 0
    assert table.pop_ready() == "b0"  # a is out of tokens: throttled, b runs meanwhile
    assert table.is_throttled(a) is True
    assert table.is_throttled(b) is False
    assert table.throttled_count == 1
    assert table.next_token_delay() == 1.0
    calls = clock.calls
    assert table.pop_ready() == "b1"  # a throttled lane is not asked again
    assert clock.calls == calls
    clock.now += 0.5
    assert table.next_token_delay() == 0.5
    assert table.wake_throttled() == 0
    assert table.is_throttled(a) is True
    clock.now += 0.5
    assert table.next_token_delay() == 0.0
    assert table.wake_throttled() == 1
    assert table.is_throttled(a) is False
    assert table.throttled_count == 0
    assert table.next_token_delay() == -1.0
    assert table.pop_ready() == "a2"
    assert table.pop_ready() == "b2"  # a throttled again
    assert table.throttled_count == 1
    clock.now += 5.0  # refills to the burst size, not beyond
    assert table.wake_throttled() == 1
    assert drain(table) == ["a3", "a4", "b3", "b4"]


def test_next_token_delay_is_the_soonest(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    slow = table.add_lane(0, 1, 10, 1, 0.5)
    fast = table.add_lane(0, 1, 10, 1, 4.0)
    for lane in (slow, fast):
        table.push(lane, "x")
        table.push(lane, "y")
    assert drain(table) == ["x", "x"]
    assert table.throttled_count == 2
    assert table.next_token_delay() == 0.25
    clock.now += 0.25
    assert table.wake_throttled() == 1
    assert table.is_throttled(fast) is False and table.is_throttled(slow) is True
    assert table.next_token_delay() == 1.75


def test_tokens_are_spent_only_on_dispatch(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, 2, 1.0)
    for _ in range(10):
        assert table.pop_ready() is None  # nothing pending: no token taken
    table.push(lane, "p")
    table.pause(lane)
    for _ in range(10):
        assert table.pop_ready() is None  # paused: no token taken
    table.resume(lane)
    table.push(lane, "q")
    assert drain(table) == ["p", "q"]  # both tokens still there
    table.push(lane, "r")
    assert table.pop_ready() is None
    assert table.is_throttled(lane)
    assert table.take_all(lane) == ["r"]
    # a throttled lane with nothing pending spends nothing either
    for _ in range(5):
        assert table.pop_ready() is None
    clock.now += 2.0
    assert table.wake_throttled() == 1
    table.push(lane, "s")
    table.push(lane, "t")
    table.push(lane, "u")
    assert drain(table) == ["s", "t"]
    assert table.is_throttled(lane)


def test_rate_limit_with_zero_capacity_and_rate_is_none(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 100, 0.0, 0.0)
    for i in range(50):
        table.push(lane, i)
    assert drain(table) == list(range(50))
    assert clock.calls == 0  # no bucket, no clock


def test_default_clock(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10, 1, 0.001)
    table.push(lane, 1)
    table.push(lane, 2)
    assert drain(table) == [1]
    assert table.is_throttled(lane)
    assert 999.0 < table.next_token_delay() <= 1000.0


def test_rate_limited_lane_respects_reservation(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(2, clock=clock)
    a = table.add_lane(0, 1, 5, 1, 1.0)
    b = table.add_lane(1, 1, 5)
    for i in range(3):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    assert drain(table) == ["a0", "b0"]
    assert table.is_throttled(a) is False  # a was never asked: the limit was reached first


def test_a_throttled_lane_holds_no_slot(core: SimpleNamespace) -> None:
    """A lane out of tokens holds no reservation: lower lanes use its slots meanwhile."""
    clock = FakeClock()
    table = core.LaneTable(2, clock=clock)
    a = table.add_lane(0, 2, 2, 1, 1.0)  # reserves both slots, one token per second
    b = table.add_lane(1, 0, 5)
    for i in range(3):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    assert table.reserved_slots == 2
    assert drain(table) == ["a0", "b0"]  # a is out of tokens: b takes the second slot
    assert table.is_throttled(a) and table.reserved_slots == 0
    assert table.reservation(a) == 2
    clock.now = 1.0
    assert table.wake_throttled() == 1
    assert table.reserved_slots == 1  # a is owed its second slot again
    table.complete(b)
    assert drain(table) == ["a1"]


def test_clock_errors_propagate_and_change_nothing(core: SimpleNamespace) -> None:
    readings: list[Any] = [0.0]

    def clock() -> float:
        value = readings[0]
        if isinstance(value, Exception):
            raise value
        return float(value)

    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, 1, 1.0)
    table.push(lane, "a")
    table.push(lane, "b")
    readings[0] = RuntimeError("clock broke")
    before = snapshot(table)
    with pytest.raises(RuntimeError, match="clock broke"):
        table.pop_ready()
    assert snapshot(table) == before
    with pytest.raises(RuntimeError, match="clock broke"):
        table.add_lane(0, 1, 1, 1, 1.0)
    assert snapshot(table) == before
    readings[0] = 0.0
    assert drain(table) == ["a"]


def test_reentrant_clock_does_not_corrupt_the_table(core: SimpleNamespace) -> None:
    """A clock that uses the table (never sensible) must not crash it."""
    holder: list[Any] = []

    def clock() -> float:
        if holder:
            table = holder.pop()
            table.take_all(0)
            table.add_lane(1, 1, 1)
            for lane in range(table.lane_count):
                table.push(lane, "late")
        return 0.0

    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, 5, 1.0)
    table.push(lane, "a")
    holder.append(table)
    with contextlib.suppress(KeyError):  # the pure-Python core may trip over the emptied queue
        table.pop_ready()
    assert table.total_pending == sum(table.pending(i) for i in range(table.lane_count))
    assert table.total_active == sum(table.active(i) for i in range(table.lane_count))
    drained = drain(table)
    assert set(drained) <= {"late"}
    assert table.total_pending == 0


# ----------------------------------------------------------- ring buffer
def test_ring_grows_and_shrinks_keeping_order(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 1_000_000)
    tickets = [table.push(lane, i) for i in range(10_000)]
    assert tickets == list(range(10_000))
    assert table.pending(lane) == 10_000
    assert drain(table) == list(range(10_000))
    assert table.pending(lane) == 0
    assert [table.push(lane, i) for i in range(3)] == [10_000, 10_001, 10_002]
    assert drain(table) == [0, 1, 2]
    for i in range(5000):
        table.push(lane, i)
    assert drain(table) == list(range(5000))


def test_ring_growth_with_tombstones(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 1_000_000)
    kept = []
    for i in range(3000):
        ticket = table.push(lane, i)
        if i % 3:
            assert table.remove(lane, ticket) == i
        else:
            kept.append(i)
    assert table.pending(lane) == len(kept)
    assert table.peek(lane) == 0
    assert drain(table) == kept


def test_interleaved_push_pop_keeps_order(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 1_000_000)
    expected, out, n = [], [], 0
    for round_ in range(200):
        for _ in range(round_ % 7 + 1):
            table.push(lane, n)
            expected.append(n)
            n += 1
        for _ in range(round_ % 5):
            item = table.pop_ready()
            if item is not None:
                out.append(item)
    out.extend(drain(table))
    assert out == expected


# --------------------------------------------------------------- bad input
def _table_with_state(core: SimpleNamespace) -> Any:
    clock = FakeClock()
    table = core.LaneTable(5, clock=clock)
    a = table.add_lane(1, 1, 3)
    b = table.add_lane(2, 2, 4, 2, 1.0)
    for i in range(4):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    table.pop_ready()
    return table


BAD_CALLS = [
    ("push", (2, "x"), IndexError, "no lane with index 2"),
    ("push", (-1, "x"), IndexError, "no lane with index -1"),
    ("push", (2**80, "x"), IndexError, f"no lane with index {2**80}"),
    ("push", (True, "x"), TypeError, "lane must be an int, got True"),
    ("push", ("0", "x"), TypeError, "lane must be an int, got '0'"),
    ("push", (0.0, "x"), TypeError, "lane must be an int, got 0.0"),
    ("push", (0, None), TypeError, "item must not be None"),
    ("complete", (1,), ValueError, "lane 1 has no active command to complete"),
    ("complete", (7,), IndexError, "no lane with index 7"),
    ("remove", (False, 0), TypeError, "lane must be an int, got False"),
    ("remove", (0, 0.0), TypeError, "ticket must be an int, got 0.0"),
    ("take_all", (None,), TypeError, "lane must be an int, got None"),
    ("peek", (3,), IndexError, "no lane with index 3"),
    ("pause", (-3,), IndexError, "no lane with index -3"),
    ("resume", (9,), IndexError, "no lane with index 9"),
    ("is_paused", (9,), IndexError, "no lane with index 9"),
    ("pending", (9,), IndexError, "no lane with index 9"),
    ("active", (9,), IndexError, "no lane with index 9"),
    ("priority", (9,), IndexError, "no lane with index 9"),
    ("base_priority", (9,), IndexError, "no lane with index 9"),
    ("is_throttled", (9,), IndexError, "no lane with index 9"),
    ("reservation", (9,), IndexError, "no lane with index 9"),
    ("reservation", (True,), TypeError, "lane must be an int, got True"),
    ("set_priority", (9, 1), IndexError, "no lane with index 9"),
    ("set_priority", (0, 256), ValueError, "priority must be in 0..255, got 256"),
    ("set_priority", (0, -1), ValueError, "priority must be in 0..255, got -1"),
    ("set_priority", (0, True), TypeError, "priority must be an int, got True"),
    ("set_priority", (0, 1.0), TypeError, "priority must be an int, got 1.0"),
    ("add_lane", (256, 1, 1), ValueError, "priority must be in 0..255, got 256"),
    ("add_lane", (-1, 1, 1), ValueError, "priority must be in 0..255, got -1"),
    ("add_lane", (None, 1, 1), TypeError, "priority must be an int, got None"),
    ("add_lane", (0, -1, 1), ValueError, "min_concurrency must be >= 0, got -1"),
    ("add_lane", (0, -5, 1), ValueError, "min_concurrency must be >= 0, got -5"),
    ("add_lane", (0, 3, 2), ValueError, "max_concurrency (2) must be >= min_concurrency (3)"),
    ("add_lane", (0, 0, 0), ValueError, "max_concurrency must be >= 1, got 0"),
    ("add_lane", (0, True, 2), TypeError, "min_concurrency must be an int, got True"),
    ("add_lane", (0, 1, 2.0), TypeError, "max_concurrency must be an int, got 2.0"),
    ("add_lane", (0, 1.0, 2.0), TypeError, "min_concurrency must be an int, got 1.0"),
    ("add_lane", (0, 1, 1, 0.5, 1.0), ValueError, "capacity must be a finite number >= 1, got 0.5"),
    ("add_lane", (0, 1, 1, 1, 0), ValueError, "per_second must be a finite number > 0, got 0"),
    ("add_lane", (0, 1, 1, 0, 2.0), ValueError, "capacity must be a finite number >= 1, got 0"),
    (
        "add_lane",
        (0, 1, 1, 1, float("nan")),
        ValueError,
        "per_second must be a finite number > 0, got nan",
    ),
    (
        "add_lane",
        (0, 1, 1, float("inf"), 1),
        ValueError,
        "capacity must be a finite number >= 1, got inf",
    ),
    ("add_lane", (0, 1, 1, 1, True), TypeError, "per_second must be a number, got True"),
    ("add_lane", (0, 1, 1, None, 1), TypeError, "capacity must be a number, got None"),
]


@pytest.mark.parametrize("method, args, error, message", BAD_CALLS)
def test_bad_input_raises_and_changes_nothing(
    core: SimpleNamespace, method: str, args: Any, error: type, message: str
) -> None:
    table = _table_with_state(core)
    before = snapshot(table)
    with pytest.raises(error) as info:
        getattr(table, method)(*args)
    assert type(info.value) is error
    assert str(info.value) == message
    assert snapshot(table) == before


@pytest.mark.parametrize(
    "global_limit, error, message",
    [
        (-1, ValueError, "global_limit must be >= 0 (0 = no limit), got -1"),
        (True, TypeError, "global_limit must be an int, got True"),
        (1.5, TypeError, "global_limit must be an int, got 1.5"),
        ("2", TypeError, "global_limit must be an int, got '2'"),
        (None, TypeError, "global_limit must be an int, got None"),
    ],
)
def test_bad_global_limit(
    core: SimpleNamespace, global_limit: Any, error: type, message: str
) -> None:
    with pytest.raises(error) as info:
        core.LaneTable(global_limit)
    assert str(info.value) == message


def test_huge_global_limit_and_max_concurrency(core: SimpleNamespace) -> None:
    table = core.LaneTable(2**100)
    assert table.global_limit == 2**100
    lane = table.add_lane(0, 1, 2**100)
    for i in range(10):
        table.push(lane, i)
    assert drain(table) == list(range(10))


def test_keyword_arguments(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(global_limit=2, clock=clock)
    lane = table.add_lane(
        priority=1, min_concurrency=1, max_concurrency=2, rate_capacity=2, rate_per_second=1
    )
    ticket = table.push(lane=lane, item="x")
    assert table.remove(lane=lane, ticket=ticket) == "x"
    table.set_priority(lane=lane, priority=3)
    assert table.priority(lane=lane) == 3


# ------------------------------------------------------------ references
def test_refcounts_push_pop(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10)
    item = Item("x")
    base = sys.getrefcount(item)
    table.push(lane, item)
    assert sys.getrefcount(item) == base + 1
    assert table.peek(lane) is item
    assert sys.getrefcount(item) == base + 1
    popped = table.pop_ready()
    assert popped is item
    assert sys.getrefcount(item) == base + 1  # the table's reference went to `popped`
    del popped
    assert sys.getrefcount(item) == base
    ticket = table.push(lane, item)
    removed = table.remove(lane, ticket)
    assert removed is item
    del removed
    assert sys.getrefcount(item) == base
    table.push(lane, item)
    table.push(lane, item)
    taken = table.take_all(lane)
    assert taken == [item, item]
    del taken
    assert sys.getrefcount(item) == base


def test_items_are_released(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10)
    items = [Item(str(i)) for i in range(6)]
    refs = [weakref.ref(item) for item in items]
    tickets = [table.push(lane, item) for item in items]
    del items
    assert all(ref() is not None for ref in refs)
    table.pop_ready()  # popped and dropped
    table.remove(lane, tickets[3])  # removed and dropped
    gc.collect()
    assert refs[0]() is None and refs[3]() is None
    assert all(refs[i]() is not None for i in (1, 2, 4, 5))
    del table  # the rest go with the table
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_items_in_a_cycle_with_the_table_are_collected(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10)
    item = Item("cyclic", table)  # item -> table -> item
    ref = weakref.ref(item)
    table_ref = weakref.ref(table)
    table.push(lane, item)
    del item, table
    gc.collect()
    assert ref() is None
    assert table_ref() is None


def test_gc_sees_pending_items(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10)
    item = Item("seen")
    table.push(lane, item)
    assert gc.is_tracked(table)
    assert _reachable(table, item)


def _reachable(root: Any, target: Any, depth: int = 4) -> bool:
    """Whether the GC sees target within `depth` hops from root."""
    frontier, seen = [root], {id(root)}
    for _ in range(depth):
        nxt = []
        for obj in frontier:
            for referent in gc.get_referents(obj):
                if referent is target:
                    return True
                if id(referent) not in seen:
                    seen.add(id(referent))
                    nxt.append(referent)
        frontier = nxt
    return False


def test_item_finaliser_using_the_table(core: SimpleNamespace) -> None:
    """Dropping items may run code that uses the table; it must find it consistent."""
    seen: list[int | None] = []

    class Noisy:
        def __init__(self, table: Any) -> None:
            self.table = weakref.ref(table)

        def __del__(self) -> None:
            table = self.table()
            if table is not None:
                seen.append(table.total_pending)

    table = core.LaneTable()
    lane = table.add_lane(0, 1, 10)
    table.push(lane, Noisy(table))
    table.push(lane, Noisy(table))
    table.__init__()  # starts over with an empty table, dropping the pending commands
    assert table.lane_count == 0 and table.total_pending == 0
    assert seen == [0, 0]
