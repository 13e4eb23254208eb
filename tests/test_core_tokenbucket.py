"""TokenBucket, on every core (the ``core`` fixture), driven by a fake clock."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from lanecore import _tokenbucket_py


class FakeClock:
    """A mutable reading returned by a callable, like ``lambda: now``."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.now


def make(
    core: SimpleNamespace, capacity: Any = 3, per_second: Any = 2.0, now: float = 100.0
) -> tuple[Any, FakeClock]:
    clock = FakeClock(now)
    return core.TokenBucket(capacity, per_second, clock), clock


def test_starts_full(core: SimpleNamespace) -> None:
    bucket, _ = make(core, 3, 2.0)
    assert bucket.tokens == 3.0
    assert bucket.capacity == 3.0 and isinstance(bucket.capacity, float)
    assert bucket.per_second == 2.0 and isinstance(bucket.per_second, float)
    assert bucket.time_until_token() == 0.0


def test_try_acquire_spends_exactly_one_token(core: SimpleNamespace) -> None:
    bucket, _ = make(core, 3, 2.0)
    assert bucket.try_acquire() is True
    assert bucket.tokens == 2.0
    assert bucket.try_acquire() is True
    assert bucket.try_acquire() is True
    assert bucket.tokens == 0.0
    assert bucket.try_acquire() is False
    assert bucket.tokens == 0.0  # a refusal spends nothing


def test_refill_rate(core: SimpleNamespace) -> None:
    bucket, clock = make(core, 4, 2.0)
    for _ in range(4):
        assert bucket.try_acquire()
    clock.now += 0.25
    assert bucket.tokens == 0.5
    assert bucket.try_acquire() is False
    clock.now += 0.25
    assert bucket.tokens == 1.0
    assert bucket.try_acquire() is True
    assert bucket.try_acquire() is False
    clock.now += 1.0
    assert bucket.tokens == 2.0


def test_refill_is_capped_at_capacity(core: SimpleNamespace) -> None:
    bucket, clock = make(core, 2, 5.0)
    assert bucket.try_acquire()
    clock.now += 1000.0
    assert bucket.tokens == 2.0
    assert bucket.try_acquire() and bucket.try_acquire()
    assert not bucket.try_acquire()


def test_time_until_token_is_exact(core: SimpleNamespace) -> None:
    bucket, clock = make(core, 1, 4.0, now=0.0)
    assert bucket.try_acquire()
    assert bucket.time_until_token() == 0.25
    clock.now += 0.1
    assert bucket.time_until_token() == (1.0 - 0.1 * 4.0) / 4.0
    clock.now += bucket.time_until_token()
    assert bucket.time_until_token() == 0.0
    assert bucket.try_acquire()  # the token is there when the computed instant comes


def test_fractional_rate_matches_twin_bit_for_bit(core: SimpleNamespace) -> None:
    clock_a, clock_b = FakeClock(7.0), FakeClock(7.0)
    ours = core.TokenBucket(2.5, 0.3, clock_a)
    twin = _tokenbucket_py.TokenBucket(2.5, 0.3, clock_b)
    steps = [0.0, 0.1, 1 / 3, 0.7, 2.9, 0.05, 10.0, 0.001, 3.3]
    for dt in steps * 3:
        clock_a.now += dt
        clock_b.now += dt
        assert ours.try_acquire() is twin.try_acquire()
        assert ours.time_until_token().hex() == twin.time_until_token().hex()
        assert ours.tokens.hex() == twin.tokens.hex()


def test_epsilon_counts_a_hair_short_token_as_whole(core: SimpleNamespace) -> None:
    assert _tokenbucket_py.TOKEN_EPSILON == 1e-9
    bucket, clock = make(core, 1, 1.0)
    assert bucket.try_acquire()
    clock.now += 1.0 - 1e-10  # tokens = 1 - 1e-10 >= 1 - TOKEN_EPSILON
    assert bucket.time_until_token() == 0.0
    assert bucket.try_acquire() is True
    assert bucket.tokens == 0.0  # never negative


def test_clock_going_backwards_adds_no_tokens(core: SimpleNamespace) -> None:
    bucket, clock = make(core, 2, 1.0)
    assert bucket.try_acquire() and bucket.try_acquire()
    clock.now -= 50.0
    assert bucket.tokens == 0.0
    assert bucket.try_acquire() is False
    clock.now += 50.5  # back to 0.5 s after the last refill
    assert bucket.tokens == 0.5
    clock.now -= 0.25
    assert bucket.tokens == 0.5


def test_each_query_reads_the_clock_once(core: SimpleNamespace) -> None:
    bucket, clock = make(core)
    assert clock.calls == 1  # the starting reading
    bucket.try_acquire()
    bucket.time_until_token()
    _ = bucket.tokens
    assert clock.calls == 4
    _ = bucket.capacity, bucket.per_second
    assert clock.calls == 4


def test_default_clock_is_monotonic(core: SimpleNamespace) -> None:
    bucket = core.TokenBucket(2, 1000.0)
    assert bucket.try_acquire() and bucket.try_acquire()
    assert 0.0 <= bucket.tokens <= 2.0
    assert 0.0 <= bucket.time_until_token() <= 0.001


def test_clock_result_goes_through_float(core: SimpleNamespace) -> None:
    clock_value: list[Any] = [5]
    bucket = core.TokenBucket(1, 1, lambda: clock_value[0])
    assert bucket.try_acquire()
    clock_value[0] = "5.5"  # float("5.5"), as in the twin
    assert bucket.tokens == 0.5


def test_clock_errors_propagate(core: SimpleNamespace) -> None:
    def broken() -> float:
        raise RuntimeError("clock broke")

    with pytest.raises(RuntimeError, match="clock broke"):
        core.TokenBucket(1, 1, broken)
    readings: list[Any] = [1.0]
    bucket = core.TokenBucket(1, 1, lambda: readings[0])
    readings[0] = object()
    with pytest.raises(TypeError):
        bucket.try_acquire()


@pytest.mark.parametrize(
    "capacity, per_second, error, message",
    [
        (True, 1.0, TypeError, "capacity must be a number, got True"),
        ("3", 1.0, TypeError, "capacity must be a number, got '3'"),
        (None, 1.0, TypeError, "capacity must be a number, got None"),
        (3, False, TypeError, "per_second must be a number, got False"),
        (3, [1], TypeError, "per_second must be a number, got [1]"),
        (0, 1.0, ValueError, "capacity must be a finite number >= 1, got 0"),
        (0.5, 1.0, ValueError, "capacity must be a finite number >= 1, got 0.5"),
        (-1, 1.0, ValueError, "capacity must be a finite number >= 1, got -1"),
        (math.nan, 1.0, ValueError, "capacity must be a finite number >= 1, got nan"),
        (math.inf, 1.0, ValueError, "capacity must be a finite number >= 1, got inf"),
        (3, 0, ValueError, "per_second must be a finite number > 0, got 0"),
        (3, -2.5, ValueError, "per_second must be a finite number > 0, got -2.5"),
        (3, math.nan, ValueError, "per_second must be a finite number > 0, got nan"),
        (3, math.inf, ValueError, "per_second must be a finite number > 0, got inf"),
    ],
)
def test_bad_arguments(
    core: SimpleNamespace, capacity: Any, per_second: Any, error: type, message: str
) -> None:
    with pytest.raises(error) as info:
        core.TokenBucket(capacity, per_second)
    assert str(info.value) == message


def test_int_arguments_become_floats(core: SimpleNamespace) -> None:
    bucket = core.TokenBucket(5, 3)
    assert bucket.capacity == 5.0 and type(bucket.capacity) is float
    assert bucket.per_second == 3.0 and type(bucket.per_second) is float


def test_repr(core: SimpleNamespace) -> None:
    assert repr(core.TokenBucket(3, 0.5)) == "TokenBucket(capacity=3.0, per_second=0.5)"
    assert repr(core.TokenBucket(1.25, 10)) == "TokenBucket(capacity=1.25, per_second=10.0)"


def test_keyword_arguments(core: SimpleNamespace) -> None:
    clock = FakeClock()
    bucket = core.TokenBucket(capacity=2, per_second=1, clock=clock)
    assert bucket.tokens == 2.0


# ------------------------------------------------------------------ n tokens at once
def test_try_acquire_n_is_all_or_nothing(core: SimpleNamespace) -> None:
    bucket, clock = make(core, 5, 1.0)
    assert bucket.try_acquire(3) is True
    assert bucket.tokens == 2.0
    assert bucket.try_acquire(3) is False
    assert bucket.tokens == 2.0  # a refusal spends nothing, not even the two it has
    assert bucket.time_until_token(3) == 1.0
    assert bucket.time_until_token() == 0.0
    clock.now += 1.0
    assert bucket.try_acquire(n=3) is True
    assert bucket.tokens == 0.0


def test_n_up_to_the_capacity(core: SimpleNamespace) -> None:
    bucket, clock = make(core, 4, 2.0)
    assert bucket.try_acquire(4) is True
    assert bucket.time_until_token(4) == 2.0
    clock.now += 1.5
    assert bucket.time_until_token(4) == 0.5
    assert bucket.try_acquire(4) is False
    clock.now += 0.5
    assert bucket.try_acquire(4) is True


def test_n_tokens_match_the_twin_bit_for_bit(core: SimpleNamespace) -> None:
    clock_a, clock_b = FakeClock(3.0), FakeClock(3.0)
    ours = core.TokenBucket(7.5, 0.7, clock_a)
    twin = _tokenbucket_py.TokenBucket(7.5, 0.7, clock_b)
    for i, dt in enumerate([0.0, 0.1, 1 / 3, 0.7, 2.9, 0.05, 10.0, 0.001, 3.3] * 4):
        n = i % 7 + 1
        clock_a.now += dt
        clock_b.now += dt
        assert ours.try_acquire(n) is twin.try_acquire(n)
        assert ours.time_until_token(n).hex() == twin.time_until_token(n).hex()
        assert ours.tokens.hex() == twin.tokens.hex()


def test_n_one_is_the_one_token_call(core: SimpleNamespace) -> None:
    a, clock_a = make(core, 2.5, 0.3)
    b, clock_b = make(core, 2.5, 0.3)
    for dt in [0.0, 0.4, 1 / 3, 2.0, 0.01] * 3:
        clock_a.now += dt
        clock_b.now += dt
        assert a.try_acquire() is b.try_acquire(1)
        assert a.time_until_token().hex() == b.time_until_token(1).hex()


@pytest.mark.parametrize(
    "n, error, message",
    [
        (0, ValueError, "n must be >= 1, got 0"),
        (-2, ValueError, "n must be >= 1, got -2"),
        (4, ValueError, "n (4) is above the capacity (3.0): it is never available"),
        (2**70, ValueError, f"n ({2**70}) is above the capacity (3.0): it is never available"),
        (1.0, TypeError, "n must be an int, got 1.0"),
        (True, TypeError, "n must be an int, got True"),
        ("1", TypeError, "n must be an int, got '1'"),
        (None, TypeError, "n must be an int, got None"),
    ],
)
def test_bad_n_is_refused_before_the_clock_is_read(
    core: SimpleNamespace, n: Any, error: type, message: str
) -> None:
    bucket, clock = make(core, 3, 1.0)
    calls = clock.calls
    for method in (bucket.try_acquire, bucket.time_until_token):
        with pytest.raises(error) as info:
            method(n)
        assert str(info.value) == message
    assert clock.calls == calls
    assert bucket.tokens == 3.0
