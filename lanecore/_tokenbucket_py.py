"""Pure-Python twin of ``lanecore_pyx._tokenbucket``: a token bucket on a monotonic clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

# Tolerance for float drift: a bucket holding 1 - TOKEN_EPSILON tokens counts as holding one,
# so a timer that fires at the computed instant never finds the token a hair short.
TOKEN_EPSILON = 1e-9


def check_bucket_args(capacity: float, per_second: float) -> None:
    """Raise ValueError unless capacity >= 1 and per_second > 0, both finite."""
    if isinstance(capacity, bool) or not isinstance(capacity, (int, float)):
        raise TypeError(f"capacity must be a number, got {capacity!r}")
    if isinstance(per_second, bool) or not isinstance(per_second, (int, float)):
        raise TypeError(f"per_second must be a number, got {per_second!r}")
    if not (math.isfinite(capacity) and capacity >= 1):
        raise ValueError(f"capacity must be a finite number >= 1, got {capacity!r}")
    if not (math.isfinite(per_second) and per_second > 0):
        raise ValueError(f"per_second must be a finite number > 0, got {per_second!r}")


def check_token_count(n: int, capacity: float) -> float:
    """``n`` as a float, or TypeError/ValueError unless it is an int from 1 to the capacity."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if n > capacity:
        raise ValueError(f"n ({n!r}) is above the capacity ({capacity!r}): it is never available")
    return float(n)


class TokenBucket:
    """Holds up to ``capacity`` tokens, refilled continuously at ``per_second``; starts full."""

    __slots__ = ("_capacity", "_clock", "_last", "_rate", "_tokens")

    def __init__(
        self,
        capacity: float,
        per_second: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        check_bucket_args(capacity, per_second)
        self._capacity = float(capacity)
        self._rate = float(per_second)
        self._clock = clock
        self._tokens = self._capacity
        self._last = self._now()

    def _now(self) -> float:
        clock = self._clock
        return time.monotonic() if clock is None else float(clock())

    # The steps below mirror the compiled core's bucket_* functions operation by operation.
    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0.0:
            tokens = self._tokens + elapsed * self._rate
            if tokens > self._capacity:
                tokens = self._capacity
            self._tokens = tokens
            self._last = now

    def _take(self, n: float) -> None:
        """Spend ``n`` tokens that were found available (a hair short counts: never below 0)."""
        tokens = self._tokens - n
        self._tokens = tokens if tokens > 0.0 else 0.0

    def _try_acquire_at(self, now: float, n: float) -> bool:
        """Take ``n`` tokens if that many are available at ``now`` (all or nothing)."""
        self._refill(now)
        if self._tokens >= n - TOKEN_EPSILON:
            self._take(n)
            return True
        return False

    def _time_until_at(self, now: float, n: float) -> float:
        """Seconds from ``now`` until ``n`` tokens are available (0.0 if they are now)."""
        self._refill(now)
        if self._tokens >= n - TOKEN_EPSILON:
            return 0.0
        return (n - self._tokens) / self._rate

    @property
    def capacity(self) -> float:
        """The most tokens the bucket holds (the burst size)."""
        return self._capacity

    @property
    def per_second(self) -> float:
        """Tokens added per second."""
        return self._rate

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill(self._now())
        return self._tokens

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens (all or nothing) if that many are available now; never waits."""
        count = check_token_count(n, self._capacity)
        return self._try_acquire_at(self._now(), count)

    def time_until_token(self, n: int = 1) -> float:
        """Seconds until ``n`` tokens are available (0.0 if they are now)."""
        count = check_token_count(n, self._capacity)
        return self._time_until_at(self._now(), count)

    def __repr__(self) -> str:
        return f"TokenBucket(capacity={self._capacity!r}, per_second={self._rate!r})"


def new_bucket(capacity: float, per_second: float, now: float) -> TokenBucket:
    """A full bucket last refilled at ``now`` (arguments already checked), for the lane
    table, which reads its clock once for a lane's buckets (the compiled bucket_init)."""
    bucket: TokenBucket = object.__new__(TokenBucket)
    bucket._capacity = float(capacity)
    bucket._rate = float(per_second)
    bucket._clock = None
    bucket._tokens = bucket._capacity
    bucket._last = now
    return bucket
