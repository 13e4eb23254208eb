"""LaneTable, on every core (the ``core`` fixture); time comes from a fake clock."""

from __future__ import annotations

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
            for lane in table.lane_indices():
                table.push(lane, "late")
        return 0.0

    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, 5, 1.0)
    table.push(lane, "a")
    holder.append(table)
    table.pop_ready()  # the clock emptied the chosen lane: both cores choose again
    assert table.total_pending == sum(table.pending(i) for i in table.lane_indices())
    assert table.total_active == sum(table.active(i) for i in table.lane_indices())
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
    c = table.add_lane(3, 0, 4, 0, 0, 10, 1.0)  # a cost bucket only
    for i in range(4):
        table.push(a, f"a{i}")
        table.push(b, f"b{i}")
    table.push(c, "c0", 4)
    table.pop_ready()
    return table


BAD_CALLS = [
    ("push", (3, "x"), IndexError, "no lane with index 3"),
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
    ("peek", (4,), IndexError, "no lane with index 4"),
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
    (
        "add_lane",
        (0, 1, 1, 0, 0, 0.5, 1.0),
        ValueError,
        "cost_capacity must be a finite number >= 1, got 0.5",
    ),
    (
        "add_lane",
        (0, 1, 1, 2, 1, 5, 0),
        ValueError,
        "cost_per_second must be a finite number > 0, got 0",
    ),
    ("add_lane", (0, 1, 1, 0, 0, "5", 1), TypeError, "cost_capacity must be a number, got '5'"),
    ("push", (0, "x", 0), ValueError, "cost must be an int from 1 to 2**63 - 1, got 0"),
    ("push", (0, "x", -3), ValueError, "cost must be an int from 1 to 2**63 - 1, got -3"),
    (
        "push",
        (0, "x", 2**63),
        ValueError,
        f"cost must be an int from 1 to 2**63 - 1, got {2**63}",
    ),
    ("push", (0, "x", 1.0), TypeError, "cost must be an int, got 1.0"),
    ("push", (0, "x", True), TypeError, "cost must be an int, got True"),
    ("push", (9, "x", 0), IndexError, "no lane with index 9"),
    ("push", (0, None, 0), TypeError, "item must not be None"),
    (
        "push",
        (2, "x", 11),
        ValueError,
        "cost 11 is above the cost capacity of lane 2 (10.0): it could never run",
    ),
    (
        "remove_lane",
        (0,),
        ValueError,
        "lane 0 has 3 pending and 1 active commands: only an idle lane can be removed",
    ),
    (
        "remove_lane",
        (1,),
        ValueError,
        "lane 1 has 4 pending and 0 active commands: only an idle lane can be removed",
    ),
    ("remove_lane", (7,), IndexError, "no lane with index 7"),
    ("remove_lane", (None,), TypeError, "lane must be an int, got None"),
    ("head_cost", (7,), IndexError, "no lane with index 7"),
    ("cost_limited", (-1,), IndexError, "no lane with index -1"),
    ("cost_capacity", (1.0,), TypeError, "lane must be an int, got 1.0"),
    ("has_lane", ("0",), TypeError, "lane must be an int, got '0'"),
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


# ------------------------------------------------------------------ costs
def test_cost_bucket_defaults_and_accessors(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    plain = table.add_lane(0, 1, 5)
    rated = table.add_lane(0, 1, 5, 2, 1.0)
    costed = table.add_lane(0, 1, 5, 0.0, 0.0, 100, 10.0)
    both = table.add_lane(0, 1, 5, 2, 1.0, cost_capacity=50.5, cost_per_second=1)
    assert [table.cost_limited(lane) for lane in (plain, rated, costed, both)] == [
        False,
        False,
        True,
        True,
    ]
    assert [table.cost_capacity(lane) for lane in (plain, rated, costed, both)] == [
        0.0,
        0.0,
        100.0,
        50.5,
    ]
    assert type(table.cost_capacity(costed)) is float
    assert table.head_cost(costed) == 0  # nothing pending


def test_a_cost_on_a_lane_without_a_cost_bucket_is_ignored(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, 2, 1.0)
    table.push(lane, "a", 10**18)  # accepted (any valid cost), not kept, not charged
    assert table.head_cost(lane) == 0
    table.push(lane, "b", cost=5)
    assert drain(table) == ["a", "b"]  # the request bucket's 2 tokens, one each


def test_a_costly_head_is_never_overtaken_in_its_lane(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, cost_capacity=10, cost_per_second=1.0)
    other = table.add_lane(1, 1, 10)
    table.push(lane, "small", 4)
    table.push(lane, "big", 8)
    table.push(lane, "tiny", 1)
    table.push(other, "o1")
    table.push(other, "o2")
    assert table.head_cost(lane) == 4
    assert table.pop_ready() == "small"  # 10 - 4 = 6 left
    assert table.head_cost(lane) == 8
    # big needs 8, has 6: the lane waits (tiny behind it must not go first); others run on
    assert drain(table) == ["o1", "o2"]
    assert table.is_throttled(lane) and table.throttled_count == 1
    assert table.next_token_delay() == 2.0
    clock.now = 1.0
    assert table.wake_throttled() == 0
    assert table.next_token_delay() == 1.0
    clock.now = 2.0
    assert table.wake_throttled() == 1
    assert drain(table) == ["big"]  # 8 - 8 = 0: tiny waits its turn behind it
    assert table.next_token_delay() == 1.0
    clock.now = 3.0
    assert table.wake_throttled() == 1
    assert drain(table) == ["tiny"]


def test_both_buckets_must_pay_and_neither_is_charged_alone(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    # requests: 2 at once, then 1/s; cost: 10 at once, then 1/s
    lane = table.add_lane(0, 1, 10, 2, 1.0, 10, 1.0)
    for name, cost in (("a", 2), ("b", 7), ("c", 3), ("d", 1)):
        table.push(lane, name, cost)
    assert drain(table) == ["a", "b"]  # requests 2 -> 0, cost 10 -> 1
    assert table.is_throttled(lane)
    # c: the request bucket waits 1 s, the cost bucket 2 s: the later one counts
    assert table.next_token_delay() == 2.0
    clock.now = 1.0  # requests can pay, cost cannot: still nothing is spent
    assert table.wake_throttled() == 0
    assert table.next_token_delay() == 1.0
    clock.now = 2.0
    assert table.wake_throttled() == 1
    assert drain(table) == ["c"]  # requests 2 -> 1, cost 3 -> 0
    # d: the request bucket has a token, the cost bucket waits 1 s
    assert table.is_throttled(lane)
    assert table.next_token_delay() == 1.0
    clock.now = 3.0
    assert table.wake_throttled() == 1
    assert drain(table) == ["d"]


def test_costs_are_spent_only_at_dispatch(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, cost_capacity=5, cost_per_second=1.0)
    table.push(lane, "a", 5)
    table.pause(lane)
    for _ in range(5):
        assert table.pop_ready() is None
    table.resume(lane)
    t = table.push(lane, "b", 1)
    assert table.remove(lane, t) == "b"  # removed before dispatch: never charged
    assert drain(table) == ["a"]  # the full 5 were still there
    table.push(lane, "c", 1)
    assert table.pop_ready() is None and table.is_throttled(lane)
    assert table.next_token_delay() == 1.0


def test_a_cost_above_the_capacity_is_refused_and_nothing_is_pushed(
    core: SimpleNamespace,
) -> None:
    table = core.LaneTable(clock=FakeClock())
    lane = table.add_lane(0, 1, 10, cost_capacity=7.5, cost_per_second=1.0)
    table.push(lane, "ok", 7)
    before = snapshot(table)
    pushes = table.pushes(lane)
    with pytest.raises(ValueError) as info:
        table.push(lane, "too big", 8)
    assert str(info.value) == (
        "cost 8 is above the cost capacity of lane 0 (7.5): it could never run"
    )
    assert snapshot(table) == before
    assert table.pushes(lane) == pushes  # no ticket was used up
    assert table.push(lane, "next", 1) == pushes


def test_cancelling_a_throttled_costly_head_unthrottles_the_lane(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, cost_capacity=10, cost_per_second=1.0)
    table.push(lane, "first", 6)
    big = table.push(lane, "big", 9)
    table.push(lane, "cheap", 3)
    assert drain(table) == ["first"]  # 4 left: big waits
    assert table.is_throttled(lane) and table.throttled_count == 1
    assert table.next_token_delay() == 5.0
    assert table.remove(lane, big) == "big"
    assert not table.is_throttled(lane) and table.throttled_count == 0
    assert table.next_token_delay() == -1.0
    assert drain(table) == ["cheap"]  # 4 - 3 = 1 left
    table.push(lane, "costly", 5)
    table.push(lane, "more", 1)
    assert table.pop_ready() is None and table.is_throttled(lane)
    assert table.take_all(lane) == ["costly", "more"]
    assert not table.is_throttled(lane) and table.throttled_count == 0
    table.push(lane, "one", 1)
    assert drain(table) == ["one"]


def test_cancelling_behind_a_throttled_head_keeps_it_throttled(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, cost_capacity=10, cost_per_second=1.0)
    table.push(lane, "first", 10)
    table.push(lane, "big", 9)
    behind = table.push(lane, "behind", 1)
    assert drain(table) == ["first"]
    assert table.remove(lane, behind) == "behind"
    assert table.is_throttled(lane)
    assert table.next_token_delay() == 9.0


def test_a_request_only_lane_stays_throttled_when_its_head_goes(core: SimpleNamespace) -> None:
    """Without a cost bucket every command costs the same: removing the head changes nothing."""
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, 1, 1.0)
    table.push(lane, "a")
    b = table.push(lane, "b")
    table.push(lane, "c")
    assert drain(table) == ["a"]
    assert table.remove(lane, b) == "b"
    assert table.is_throttled(lane)


def test_throttled_lanes_wake_in_the_order_they_were_throttled(core: SimpleNamespace) -> None:
    """Woken lanes join their rotation in the order they were throttled (not by index)."""
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lanes = [table.add_lane(0, 1, 10, 1, 1.0) for _ in range(4)]
    for lane in reversed(lanes):  # lane 3 joins the rotation first, lane 0 last
        table.push(lane, f"x{lane}")
        table.push(lane, f"y{lane}")
    assert drain(table) == ["x3", "x2", "x1", "x0"]  # then throttled 3, 2, 1, 0
    clock.now = 1.0
    assert table.wake_throttled() == 4
    assert drain(table) == ["y3", "y2", "y1", "y0"]


def test_an_unthrottled_lane_is_throttled_again_at_the_back(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    a = table.add_lane(0, 1, 10, cost_capacity=4, cost_per_second=1.0)
    b = table.add_lane(0, 1, 10, cost_capacity=4, cost_per_second=1.0)
    table.push(a, "a0", 4)
    a1 = table.push(a, "a1", 4)
    table.push(b, "b0", 4)
    table.push(b, "b1", 4)
    assert drain(table) == ["a0", "b0"]  # throttled: a, then b
    table.remove(a, a1)  # a is un-throttled, then throttled again by its next command
    table.push(a, "a2", 4)
    assert table.pop_ready() is None and table.throttled_count == 2
    clock.now = 4.0
    assert table.wake_throttled() == 2
    assert drain(table) == ["b1", "a2"]  # b was throttled first now


def test_next_token_delay_is_the_soonest_over_costly_lanes(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    slow = table.add_lane(0, 1, 10, cost_capacity=8, cost_per_second=0.5)
    fast = table.add_lane(0, 1, 10, 4, 4.0, 8, 2.0)
    for lane in (slow, fast):
        table.push(lane, "x", 8)
        table.push(lane, "y", 2)
    assert drain(table) == ["x", "x"]
    assert table.next_token_delay() == 1.0  # fast: cost 2 at 2/s; slow: 4 s
    clock.now = 1.0
    assert table.wake_throttled() == 1
    assert table.is_throttled(slow) and not table.is_throttled(fast)
    assert table.next_token_delay() == 3.0


# ------------------------------------------------------------- removing lanes
def test_remove_lane_and_reuse_the_most_recently_removed_index(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lanes = [table.add_lane(0, 1, 1) for _ in range(5)]
    assert table.lane_indices() == lanes == [0, 1, 2, 3, 4]
    table.remove_lane(1)
    table.remove_lane(3)
    assert table.lane_count == 3
    assert table.lane_indices() == [0, 2, 4]
    assert [i for i in range(-2, 8) if table.has_lane(i)] == [0, 2, 4]
    assert table.has_lane(2**80) is False
    assert table.add_lane(7, 0, 2) == 3  # the most recently removed first
    assert table.add_lane(0, 1, 1) == 1
    assert table.add_lane(0, 1, 1) == 5  # none removed: the next unused index
    assert table.lane_count == 6
    # a reused index is a new lane: fresh counters, its own priority, no tickets kept
    assert (table.priority(3), table.pending(3), table.pushes(3), table.completions(3)) == (
        7,
        0,
        0,
        0,
    )


REMOVED_LANE_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("push", ("x",)),
    ("complete", ()),
    ("remove", (0,)),
    ("take_all", ()),
    ("peek", ()),
    ("head_cost", ()),
    ("pause", ()),
    ("resume", ()),
    ("is_paused", ()),
    ("set_priority", (1,)),
    ("priority", ()),
    ("base_priority", ()),
    ("pending", ()),
    ("active", ()),
    ("pushes", ()),
    ("completions", ()),
    ("is_throttled", ()),
    ("reservation", ()),
    ("cost_limited", ()),
    ("cost_capacity", ()),
    ("remove_lane", ()),
]


@pytest.mark.parametrize("method, args", REMOVED_LANE_CALLS)
def test_a_removed_index_is_invalid_until_reused(
    core: SimpleNamespace, method: str, args: tuple[Any, ...]
) -> None:
    table = core.LaneTable()
    keep, gone = table.add_lane(0, 1, 2), table.add_lane(0, 1, 2)
    table.push(keep, "k")
    table.remove_lane(gone)
    before = snapshot(table)
    with pytest.raises(IndexError) as info:
        getattr(table, method)(gone, *args)
    assert str(info.value) == f"no lane with index {gone}"
    assert snapshot(table) == before


def test_only_an_idle_lane_can_be_removed(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    lane = table.add_lane(0, 1, 2)
    table.push(lane, "a")
    table.push(lane, "b")
    assert table.pop_ready() == "a"
    with pytest.raises(ValueError, match=r"^lane 0 has 1 pending and 1 active commands"):
        table.remove_lane(lane)
    table.take_all(lane)
    with pytest.raises(ValueError, match=r"^lane 0 has 0 pending and 1 active commands"):
        table.remove_lane(lane)
    table.complete(lane)
    table.remove_lane(lane)
    assert table.lane_count == 0 and table.lane_indices() == []


def test_a_removed_lane_leaves_the_rotation(core: SimpleNamespace) -> None:
    table = core.LaneTable()
    a, b, c = (table.add_lane(0, 1, 10) for _ in range(3))
    for lane in (a, b, c):
        table.push(lane, f"{lane}-0")
    assert drain(table) == ["0-0", "1-0", "2-0"]
    table.complete(b)
    table.remove_lane(b)
    for lane in (a, c):
        table.push(lane, f"{lane}-1")
        table.push(lane, f"{lane}-2")
    new = table.add_lane(0, 1, 10)
    assert new == b
    table.push(new, "new")
    assert drain(table) == ["0-1", "2-1", "new", "0-2", "2-2"]  # new joined last


def test_removing_a_throttled_idle_lane(core: SimpleNamespace) -> None:
    clock = FakeClock()
    table = core.LaneTable(clock=clock)
    lane = table.add_lane(0, 1, 10, 1, 1.0)
    other = table.add_lane(0, 1, 10, 1, 1.0)
    for name in ("a", "b"):
        table.push(lane, name)
        table.push(other, name.upper())
    assert drain(table) == ["a", "A"]
    table.take_all(lane)  # still throttled (a request-only lane)
    table.complete(lane)
    assert table.throttled_count == 2
    table.remove_lane(lane)
    assert table.throttled_count == 1
    clock.now = 1.0
    assert table.next_token_delay() == 0.0
    assert table.wake_throttled() == 1
    assert table.add_lane(0, 1, 10) == lane and not table.is_throttled(lane)
    assert drain(table) == ["B"]


def test_remove_lane_gives_its_reservation_to_the_next_lanes(core: SimpleNamespace) -> None:
    table = core.LaneTable(3)
    a, b, c, d = (table.add_lane(p, m, 4) for p, m in ((0, 2), (1, 1), (1, 1), (2, 1)))
    assert [table.reservation(x) for x in (a, b, c, d)] == [2, 1, 0, 0]
    for x in (a, b, c, d):
        table.push(x, f"x{x}")
    assert table.reserved_slots == 3
    table.take_all(a)
    table.remove_lane(a)
    assert [table.reservation(x) for x in (b, c, d)] == [1, 1, 1]
    assert table.reserved_slots == 3
    # a new lane of priority 0 comes first again: the last lanes in grant order lose theirs
    e = table.add_lane(0, 2, 4)
    assert e == a
    assert [table.reservation(x) for x in (e, b, c, d)] == [2, 1, 0, 0]
    assert table.reserved_slots == 1  # (e has nothing pending)


def test_grant_ties_follow_the_order_added_not_the_index(core: SimpleNamespace) -> None:
    table = core.LaneTable(2)
    a, b, c = (table.add_lane(1, 1, 2) for _ in range(3))
    assert [table.reservation(x) for x in (a, b, c)] == [1, 1, 0]
    table.remove_lane(a)
    assert [table.reservation(x) for x in (b, c)] == [1, 1]
    again = table.add_lane(1, 1, 2)  # index 0, but added last: granted nothing
    assert again == a
    assert [table.reservation(x) for x in (again, b, c)] == [0, 1, 1]
    table.remove_lane(c)
    assert [table.reservation(x) for x in (again, b)] == [1, 1]


def test_many_lanes_added_and_removed(core: SimpleNamespace) -> None:
    for limit in (0, 50):
        table = core.LaneTable(limit)
        lanes = [table.add_lane(i % 7, i % 3, 3) for i in range(2000)]
        for lane in lanes[::2]:
            table.remove_lane(lane)
        assert table.lane_count == 1000
        assert table.lane_indices() == lanes[1::2]
        for lane in lanes[1::2]:
            table.push(lane, lane)
        out = drain(table)
        assert len(out) == (limit or 1000)
        assert set(out) <= set(lanes[1::2])
        for lane in lanes[1::2]:
            table.take_all(lane)
            while table.active(lane):
                table.complete(lane)
            table.remove_lane(lane)
        assert table.lane_count == 0 and table.total_pending == 0
        assert table.reserved_slots == 0
        assert table.add_lane(0, 1, 1) == lanes[-1]  # the most recently removed
