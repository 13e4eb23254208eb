"""Configuration values (SPEC §2, §3): defaults, immutability, durations, the retry / rate-limit /
boost arithmetic, and validation of every bad input with the right exception type."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from lanecore import (
    DEFAULT_LANES,
    LaneConfig,
    PriorityBoostConfig,
    QueueManagerBuilder,
    RateLimitConfig,
    RetryPolicy,
)

# ---------------------------------------------------------------------------- LaneConfig


def test_lane_config_defaults() -> None:
    c = LaneConfig()
    assert c.min_concurrency == 1
    assert c.max_concurrency == 4
    assert c.timeout is None
    assert c.retry_policy == RetryPolicy.none()
    assert c.retry_policy.max_retries == 0
    assert c.rate_limit is None
    assert c.priority_boost is None
    assert c.pressure_threshold is None
    assert c.run_in_executor is False


def test_lane_config_positional_min_max() -> None:
    c = LaneConfig(2, 7)
    assert (c.min_concurrency, c.max_concurrency) == (2, 7)
    assert LaneConfig(3, 3).max_concurrency == 3  # min == max is allowed
    # the rest keeps its defaults
    assert c.timeout is None and c.rate_limit is None and c.priority_boost is None
    assert c.retry_policy.max_retries == 0 and c.pressure_threshold is None


WITHS: list[tuple[str, Callable[[LaneConfig], LaneConfig], str, Any]] = [
    ("timeout", lambda c: c.with_timeout(2.5), "timeout", 2.5),
    (
        "retry",
        lambda c: c.with_retry_policy(RetryPolicy.fixed(2, 0.5)),
        "retry_policy",
        RetryPolicy.fixed(2, 0.5),
    ),
    (
        "rate",
        lambda c: c.with_rate_limit(RateLimitConfig.per_second(5)),
        "rate_limit",
        RateLimitConfig.per_second(5),
    ),
    (
        "boost",
        lambda c: c.with_priority_boost(PriorityBoostConfig.standard(10)),
        "priority_boost",
        PriorityBoostConfig.standard(10),
    ),
    ("pressure", lambda c: c.with_pressure_threshold(7), "pressure_threshold", 7),
    ("executor", lambda c: c.with_run_in_executor(), "run_in_executor", True),
]


@pytest.mark.parametrize(("name", "apply", "field", "value"), WITHS, ids=[w[0] for w in WITHS])
def test_lane_config_with_returns_new_object(
    name: str, apply: Callable[[LaneConfig], LaneConfig], field: str, value: Any
) -> None:
    old = LaneConfig(1, 2)
    before = dataclasses.astuple(old)
    new = apply(old)
    assert new is not old
    assert getattr(new, field) == value
    assert dataclasses.astuple(old) == before  # the old one is unchanged
    assert getattr(old, field) != value
    # the other fields are carried over
    assert (new.min_concurrency, new.max_concurrency) == (1, 2)


def test_lane_config_chaining_keeps_every_setting() -> None:
    c = (
        LaneConfig(1, 3)
        .with_timeout(1.0)
        .with_retry_policy(RetryPolicy.exponential(2))
        .with_rate_limit(RateLimitConfig.per_minute(60))
        .with_priority_boost(PriorityBoostConfig.aggressive(30))
        .with_pressure_threshold(10)
    )
    assert c.timeout == 1.0
    assert c.retry_policy.max_retries == 2
    assert c.rate_limit == RateLimitConfig.per_minute(60)
    assert c.priority_boost == PriorityBoostConfig.aggressive(30)
    assert c.pressure_threshold == 10
    # None switches an option off again
    assert c.with_timeout(None).timeout is None
    assert c.with_rate_limit(None).rate_limit is None


def test_config_objects_are_frozen() -> None:
    values: list[Any] = [
        LaneConfig(),
        RetryPolicy.exponential(3),
        RateLimitConfig.per_second(3),
        PriorityBoostConfig.standard(5),
    ]
    for v in values:
        field = dataclasses.fields(v)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(v, field, 99)


def test_timedelta_accepted_for_every_duration() -> None:
    assert LaneConfig().with_timeout(timedelta(milliseconds=1500)).timeout == 1.5
    assert isinstance(LaneConfig().with_timeout(timedelta(seconds=2)).timeout, float)
    p = RetryPolicy.fixed(2, timedelta(milliseconds=250))
    assert p.delay_for_attempt(1) == 0.25 and p.delay_for_attempt(2) == 0.25
    b = PriorityBoostConfig.standard(timedelta(minutes=5))
    assert b.deadline == 300.0
    assert b.effective_priority(5, 150.0) == 3
    n = PriorityBoostConfig.new(timedelta(seconds=10)).with_boost(timedelta(seconds=4), 2)
    assert n.deadline == 10.0 and n.steps == ((4.0, 2),)
    a = PriorityBoostConfig.aggressive(timedelta(seconds=100))
    assert a.deadline == 100.0
    # int seconds are accepted as well, stored as float
    assert LaneConfig().with_timeout(3).timeout == 3.0


# ---------------------------------------------------------------------------- RetryPolicy


def test_retry_exponential_delays() -> None:
    p = RetryPolicy.exponential(3)
    assert p.max_retries == 3
    expected = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    got = [p.delay_for_attempt(k) for k in range(1, 12)]
    assert got == pytest.approx(expected)
    assert p.delay_for_attempt(20) == 30.0
    assert all(isinstance(d, float) for d in got)


def test_retry_overflow_at_huge_attempt_is_max_delay() -> None:
    p = RetryPolicy.exponential(3)
    assert p.delay_for_attempt(10_000) == 30.0
    assert p.delay_for_attempt(10**9) == 30.0
    assert p.backoff(10**9) == 30.0


def test_retry_should_retry_counts_runs() -> None:
    p = RetryPolicy.exponential(3)
    assert [p.should_retry(n) for n in range(0, 6)] == [True, True, True, True, False, False]
    # simulate: the command runs, fails, asks whether to run again
    runs = 0
    while True:
        runs += 1
        if not p.should_retry(runs):
            break
    assert runs == 1 + 3


def test_retry_fixed_and_none() -> None:
    f = RetryPolicy.fixed(2, 0.5)
    assert f.max_retries == 2
    assert [f.delay_for_attempt(k) for k in (1, 2, 3, 50)] == [0.5] * 4
    assert f.should_retry(2) and not f.should_retry(3)
    z = RetryPolicy.fixed(1, 0)
    assert z.delay_for_attempt(1) == 0.0
    n = RetryPolicy.none()
    assert n.max_retries == 0
    assert not n.should_retry(1)
    assert RetryPolicy() == n  # none() is the default


def test_retry_jitter_range() -> None:
    random.seed(1234)
    p = RetryPolicy.exponential(5).with_jitter(0.5)
    assert p.jitter == 0.5
    for attempt in (1, 2, 3, 4, 10):
        d = p.delay_for_attempt(attempt)
        samples = [p.backoff(attempt) for _ in range(300)]
        assert all(d * 0.5 - 1e-12 <= s <= d + 1e-12 for s in samples)
        # it really is random within the range, not a constant
        assert min(samples) < d * 0.6 and max(samples) > d * 0.9
    # without jitter backoff == delay_for_attempt
    q = RetryPolicy.exponential(5)
    assert [q.backoff(k) for k in range(1, 6)] == [q.delay_for_attempt(k) for k in range(1, 6)]
    # with_jitter leaves the original alone
    assert RetryPolicy.exponential(5).jitter == 0.0


# ---------------------------------------------------------------------------- RateLimitConfig


def test_rate_limit_constructors() -> None:
    s = RateLimitConfig.per_second(20)
    m = RateLimitConfig.per_minute(120)
    h = RateLimitConfig.per_hour(36)
    u = RateLimitConfig.unlimited()
    assert (s.max_requests, s.window) == (20, 1.0)
    assert (m.max_requests, m.window) == (120, 60.0)
    assert (h.max_requests, h.window) == (36, 3600.0)
    assert u.max_requests is None and u.is_unlimited
    assert not s.is_unlimited
    assert s.tokens_per_second == pytest.approx(20.0)
    assert m.tokens_per_second == pytest.approx(2.0)
    assert h.tokens_per_second == pytest.approx(0.01)
    assert u.tokens_per_second == 0.0


# ---------------------------------------------------------------------------- PriorityBoostConfig


def test_boost_standard_steps() -> None:
    b = PriorityBoostConfig.standard(100)
    assert b.enabled and b.deadline == 100.0
    assert dict(b.steps) == pytest.approx({75.0: 1, 50.0: 2, 25.0: 3, 10.0: 4})
    table = {
        0: 5,
        10: 5,
        24.9: 5,
        25: 4,
        40: 4,
        50: 3,
        74.9: 3,
        75: 2,
        89.9: 2,
        90: 1,
        99.9: 1,
        100: 0,
        250: 0,
    }
    assert {age: b.effective_priority(5, age) for age in table} == table


def test_boost_aggressive_steps() -> None:
    b = PriorityBoostConfig.aggressive(100)
    assert dict(b.steps) == pytest.approx({80.0: 2, 60.0: 4, 40.0: 6, 20.0: 8})
    table = {0: 10, 19.9: 10, 20: 8, 40: 6, 60: 4, 80: 2, 99.9: 2, 100: 0, 1000: 0}
    assert {age: b.effective_priority(10, age) for age in table} == table
    # never below 0
    assert [b.effective_priority(5, a) for a in (0, 20, 40, 60)] == [5, 3, 1, 0]


def test_boost_high_base_priority_and_zero_base() -> None:
    b = PriorityBoostConfig.standard(100)
    assert b.effective_priority(200, 95) == 196
    assert b.effective_priority(200, 100) == 0  # past the deadline: 0 whatever the base
    assert b.effective_priority(0, 50) == 0


def test_boost_next_change() -> None:
    b = PriorityBoostConfig.standard(100)
    assert [b.next_change(a) for a in (0, 10, 25, 60, 75, 90, 99)] == pytest.approx(
        [25.0, 25.0, 50.0, 75.0, 90.0, 100.0, 100.0]
    )
    assert b.next_change(100) is None
    assert b.next_change(500) is None
    n = PriorityBoostConfig.new(2)
    assert n.next_change(0) == 2.0 and n.next_change(2) is None


def test_boost_new_with_boost_and_disabled() -> None:
    n = PriorityBoostConfig.new(10)
    assert n.steps == () and n.deadline == 10.0
    assert n.effective_priority(5, 9.99) == 5
    assert n.effective_priority(5, 10) == 0
    c = n.with_boost(5, 2).with_boost(8, 1)
    assert n.steps == ()  # the original is unchanged
    assert dict(c.steps) == {5.0: 2, 8.0: 1}
    assert [c.effective_priority(6, a) for a in (0, 1.9, 2, 4.9, 5, 9.9, 10)] == [
        6,
        6,
        5,
        5,
        4,
        4,
        0,
    ]
    d = PriorityBoostConfig.disabled()
    assert not d.enabled and d.deadline is None
    assert d.effective_priority(7, 1e9) == 7
    assert d.next_change(0) is None


# ---------------------------------------------------------------------------- defaults / builder


def test_default_lanes_table_matches_spec() -> None:
    assert tuple(DEFAULT_LANES) == (
        ("system", 0, 1, 5),
        ("control", 1, 1, 3),
        ("query", 2, 1, 10),
        ("session", 3, 1, 5),
        ("skill", 4, 1, 3),
        ("prompt", 5, 1, 2),
    )


def test_builder_default_lanes(core: Any) -> None:
    m = QueueManagerBuilder().with_default_lanes().with_implementation(core.name).build()
    assert m.implementation == core.name
    st = m.stats()
    got = {
        lane_id: (s.priority, s.min_concurrency, s.max_concurrency)
        for lane_id, s in st.lanes.items()
    }
    assert got == {lane: (p, lo, hi) for lane, p, lo, hi in DEFAULT_LANES}
    assert st.total_pending == 0 and st.total_active == 0 and st.dead_letter_count == 0


def test_builder_custom_lane_replaces_and_extends_defaults(core: Any) -> None:
    m = (
        QueueManagerBuilder()
        .with_default_lanes()
        .with_lane("query", LaneConfig(2, 20), 7)
        .with_lane("extra", None, 9)
        .with_implementation(core.name)
        .build()
    )
    lanes = m.stats().lanes
    assert len(lanes) == 7
    assert (
        lanes["query"].priority,
        lanes["query"].min_concurrency,
        lanes["query"].max_concurrency,
    ) == (7, 2, 20)
    assert (lanes["extra"].priority, lanes["extra"].max_concurrency) == (9, 4)  # LaneConfig()


def test_builder_global_concurrency_below_sum_of_min_is_fine(core: Any) -> None:
    b = (
        QueueManagerBuilder()
        .with_lane("a", LaneConfig(2, 4), 0)
        .with_lane("b", LaneConfig(3, 4), 1)
        .with_implementation(core.name)
    )

    def reserved(cap: int) -> list[int]:
        return [s.reserved for s in b.with_global_concurrency(cap).build().stats().lanes.values()]

    assert reserved(5) == [2, 3]
    assert reserved(4) == [2, 0]  # b's 3 no longer fits beside a's 2
    assert reserved(1) == [0, 0]


def test_min_concurrency_zero_means_no_reservation(core: Any) -> None:
    assert LaneConfig(0, 4).min_concurrency == 0
    m = (
        QueueManagerBuilder()
        .with_lane("a", LaneConfig(0, 4), 0)
        .with_lane("b", LaneConfig(1, 4), 1)
        .with_global_concurrency(1)
        .with_implementation(core.name)
        .build()
    )
    assert [s.reserved for s in m.stats().lanes.values()] == [0, 1]


# ---------------------------------------------------------------------------- bad inputs

nan = float("nan")
inf = float("inf")


def _builder() -> QueueManagerBuilder:
    return QueueManagerBuilder()


BAD: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # LaneConfig bounds
    ("lane-min-neg", lambda: LaneConfig(-1, 1), ValueError, r"min_concurrency.*-1"),
    ("lane-max-lt-min", lambda: LaneConfig(3, 2), ValueError, r"max_concurrency.*2"),
    ("lane-max-0", lambda: LaneConfig(1, 0), ValueError, r"max_concurrency.*0"),
    ("lane-min-0-max-0", lambda: LaneConfig(0, 0), ValueError, r"max_concurrency.*>= 1.*0"),
    ("lane-min-float", lambda: LaneConfig(1.0, 2), TypeError, r"min_concurrency.*1\.0"),
    ("lane-max-str", lambda: LaneConfig(1, "2"), TypeError, r"max_concurrency.*'2'"),
    ("lane-min-bool", lambda: LaneConfig(True, 2), TypeError, r"min_concurrency.*True"),
    ("lane-max-bool", lambda: LaneConfig(1, True), TypeError, r"max_concurrency.*True"),
    # timeouts
    ("timeout-neg", lambda: LaneConfig(1, 2).with_timeout(-1), ValueError, r"timeout.*-1"),
    ("timeout-zero", lambda: LaneConfig(1, 2).with_timeout(0), ValueError, r"timeout.*0"),
    ("timeout-nan", lambda: LaneConfig(1, 2).with_timeout(nan), ValueError, r"timeout.*nan"),
    ("timeout-inf", lambda: LaneConfig(1, 2).with_timeout(inf), ValueError, r"timeout.*inf"),
    ("timeout-str", lambda: LaneConfig(1, 2).with_timeout("5"), TypeError, r"timeout.*'5'"),
    ("timeout-bool", lambda: LaneConfig(1, 2).with_timeout(True), TypeError, r"timeout.*True"),
    (
        "timeout-neg-td",
        lambda: LaneConfig(1, 2).with_timeout(timedelta(seconds=-1)),
        ValueError,
        r"timeout",
    ),
    (
        "timeout-zero-td",
        lambda: LaneConfig(1, 2).with_timeout(timedelta(0)),
        ValueError,
        r"timeout",
    ),
    # other LaneConfig fields
    (
        "pressure-0",
        lambda: LaneConfig(1, 2).with_pressure_threshold(0),
        ValueError,
        r"pressure_threshold.*0",
    ),
    (
        "pressure-float",
        lambda: LaneConfig(1, 2).with_pressure_threshold(2.5),
        TypeError,
        r"pressure_threshold.*2\.5",
    ),
    (
        "pressure-bool",
        lambda: LaneConfig(1, 2).with_pressure_threshold(True),
        TypeError,
        r"pressure_threshold.*True",
    ),
    (
        "retry-policy-type",
        lambda: LaneConfig(1, 2).with_retry_policy(3),
        TypeError,
        r"retry_policy.*3",
    ),
    ("rate-limit-type", lambda: LaneConfig(1, 2).with_rate_limit(10), TypeError, r"rate_limit.*10"),
    (
        "boost-type",
        lambda: LaneConfig(1, 2).with_priority_boost(5.0),
        TypeError,
        r"priority_boost.*5\.0",
    ),
    (
        "executor-type",
        lambda: LaneConfig(1, 2).with_run_in_executor(1),
        TypeError,
        r"run_in_executor.*1",
    ),
    # RetryPolicy
    ("retry-fixed-neg", lambda: RetryPolicy.fixed(-1, 1), ValueError, r"max_retries.*-1"),
    ("retry-fixed-delay-neg", lambda: RetryPolicy.fixed(1, -0.5), ValueError, r"delay.*-0\.5"),
    ("retry-fixed-delay-nan", lambda: RetryPolicy.fixed(1, nan), ValueError, r"delay.*nan"),
    ("retry-fixed-delay-str", lambda: RetryPolicy.fixed(1, "1s"), TypeError, r"delay.*'1s'"),
    ("retry-exp-float", lambda: RetryPolicy.exponential(1.5), TypeError, r"max_retries.*1\.5"),
    ("retry-exp-neg", lambda: RetryPolicy.exponential(-2), ValueError, r"max_retries.*-2"),
    ("retry-exp-bool", lambda: RetryPolicy.exponential(True), TypeError, r"max_retries.*True"),
    (
        "retry-jitter-high",
        lambda: RetryPolicy.exponential(1).with_jitter(1.5),
        ValueError,
        r"jitter.*1\.5",
    ),
    (
        "retry-jitter-neg",
        lambda: RetryPolicy.exponential(1).with_jitter(-0.1),
        ValueError,
        r"jitter.*-0\.1",
    ),
    (
        "retry-jitter-str",
        lambda: RetryPolicy.exponential(1).with_jitter("0.1"),
        TypeError,
        r"jitter.*'0\.1'",
    ),
    (
        "retry-should-neg",
        lambda: RetryPolicy.exponential(1).should_retry(-1),
        ValueError,
        r"attempts_so_far.*-1",
    ),
    (
        "retry-delay-attempt-0",
        lambda: RetryPolicy.exponential(1).delay_for_attempt(0),
        ValueError,
        r"attempt.*0",
    ),
    (
        "retry-delay-attempt-float",
        lambda: RetryPolicy.exponential(1).delay_for_attempt(1.0),
        TypeError,
        r"attempt.*1\.0",
    ),
    (
        "retry-multiplier-lt-1",
        lambda: RetryPolicy(1, 0.1, 1.0, 0.5),
        ValueError,
        r"multiplier.*0\.5",
    ),
    ("retry-max-lt-initial", lambda: RetryPolicy(1, 2.0, 1.0), ValueError, r"max_delay.*1\.0"),
    # RateLimitConfig
    ("rate-per-second-0", lambda: RateLimitConfig.per_second(0), ValueError, r"\b0\b"),
    ("rate-per-minute-neg", lambda: RateLimitConfig.per_minute(-3), ValueError, r"-3"),
    ("rate-per-hour-0", lambda: RateLimitConfig.per_hour(0), ValueError, r"\b0\b"),
    ("rate-per-second-float", lambda: RateLimitConfig.per_second(2.5), TypeError, r"2\.5"),
    ("rate-per-second-bool", lambda: RateLimitConfig.per_second(True), TypeError, r"True"),
    ("rate-max-requests-0", lambda: RateLimitConfig(0), ValueError, r"max_requests.*0"),
    ("rate-window-0", lambda: RateLimitConfig(5, 0.0), ValueError, r"window.*0\.0"),
    ("rate-window-inf", lambda: RateLimitConfig(5, inf), ValueError, r"window.*inf"),
    # PriorityBoostConfig
    ("boost-standard-0", lambda: PriorityBoostConfig.standard(0), ValueError, r"deadline.*0"),
    (
        "boost-aggressive-neg",
        lambda: PriorityBoostConfig.aggressive(-5),
        ValueError,
        r"deadline.*-5",
    ),
    ("boost-new-nan", lambda: PriorityBoostConfig.new(nan), ValueError, r"deadline.*nan"),
    ("boost-new-str", lambda: PriorityBoostConfig.new("10"), TypeError, r"deadline.*'10'"),
    (
        "boost-before-gt-deadline",
        lambda: PriorityBoostConfig.new(10).with_boost(11, 1),
        ValueError,
        r"before.*11",
    ),
    (
        "boost-before-0",
        lambda: PriorityBoostConfig.new(10).with_boost(0, 1),
        ValueError,
        r"before.*0",
    ),
    (
        "boost-levels-0",
        lambda: PriorityBoostConfig.new(10).with_boost(1, 0),
        ValueError,
        r"levels.*0",
    ),
    (
        "boost-levels-256",
        lambda: PriorityBoostConfig.new(10).with_boost(1, 256),
        ValueError,
        r"levels.*256",
    ),
    (
        "boost-levels-float",
        lambda: PriorityBoostConfig.new(10).with_boost(1, 1.5),
        TypeError,
        r"levels.*1\.5",
    ),
    (
        "boost-disabled-with-boost",
        lambda: PriorityBoostConfig.disabled().with_boost(1, 1),
        ValueError,
        r"deadline",
    ),
    # builder
    (
        "builder-prio-256",
        lambda: _builder().with_lane("a", LaneConfig(), 256),
        ValueError,
        r"priority.*256",
    ),
    (
        "builder-prio-neg",
        lambda: _builder().with_lane("a", LaneConfig(), -1),
        ValueError,
        r"priority.*-1",
    ),
    (
        "builder-prio-str",
        lambda: _builder().with_lane("a", LaneConfig(), "high"),
        TypeError,
        r"priority.*'high'",
    ),
    (
        "builder-prio-bool",
        lambda: _builder().with_lane("a", LaneConfig(), True),
        TypeError,
        r"priority.*True",
    ),
    ("builder-config-type", lambda: _builder().with_lane("a", {"max": 2}, 0), TypeError, r"config"),
    (
        "builder-lane-id-empty",
        lambda: _builder().with_lane("", LaneConfig(), 0),
        ValueError,
        r"lane_id",
    ),
    (
        "builder-global-0",
        lambda: _builder().with_global_concurrency(0),
        ValueError,
        r"global_concurrency.*0",
    ),
    (
        "builder-global-float",
        lambda: _builder().with_global_concurrency(2.0),
        TypeError,
        r"global_concurrency.*2\.0",
    ),
    ("builder-dlq-0", lambda: _builder().with_dlq(0), ValueError, r"dlq.*0"),
    ("builder-dlq-str", lambda: _builder().with_dlq("10"), TypeError, r"dlq.*'10'"),
    (
        "builder-event-buffer-0",
        lambda: _builder().with_event_buffer(0),
        ValueError,
        r"event_buffer.*0",
    ),
    ("builder-impl-rust", lambda: _builder().with_implementation("rust"), ValueError, r"'rust'"),
    ("builder-no-lanes", lambda: _builder().build(), ValueError, r"lane"),
]


@pytest.mark.parametrize(("name", "make", "exc", "pattern"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_exact_type_naming_field(
    name: str, make: Callable[[], Any], exc: type[Exception], pattern: str
) -> None:
    with pytest.raises(Exception) as info:
        make()
    # exactly the expected family: a ValueError must not be a TypeError and vice versa
    assert isinstance(info.value, exc), f"{name}: got {type(info.value).__name__}: {info.value}"
    other = TypeError if exc is ValueError else ValueError
    assert not isinstance(info.value, other), f"{name}: {type(info.value).__name__}"
    assert info.match(pattern)


def test_bad_builder_call_leaves_builder_usable() -> None:
    b = QueueManagerBuilder().with_lane("a", LaneConfig(1, 2), 0)
    with pytest.raises(ValueError):
        b.with_lane("b", LaneConfig(), 300)
    m = b.build()
    assert m.lane_ids == ["a"]


def test_nan_is_never_a_valid_duration() -> None:
    for make in (
        lambda: LaneConfig().with_timeout(nan),
        lambda: RetryPolicy.fixed(1, nan),
        lambda: PriorityBoostConfig.standard(nan),
        lambda: PriorityBoostConfig.new(5).with_boost(nan, 1),
    ):
        with pytest.raises(ValueError, match="nan"):
            make()
    assert math.isnan(nan)
