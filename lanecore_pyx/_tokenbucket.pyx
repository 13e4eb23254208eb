# cython: language_level=3, boundscheck=False, wraparound=False, freethreading_compatible=True, cdivision=True, auto_pickle=False
"""A token bucket on a monotonic clock (compiled twin of ``lanecore._tokenbucket_py``)."""

cimport cython

import math

from lanecore_pyx._tokenbucket cimport (
    bucket_init,
    bucket_refill,
    bucket_t,
    bucket_time_until_n,
    bucket_try_acquire_n,
    clock_now,
)

# Tolerance for float drift: a bucket holding 1 - TOKEN_EPSILON tokens counts as holding one,
# so a timer that fires at the computed instant never finds the token a hair short.
TOKEN_EPSILON = 1e-9

_isfinite = math.isfinite


cpdef check_bucket_args(object capacity, object per_second):
    """Raise ValueError unless capacity >= 1 and per_second > 0, both finite."""
    if isinstance(capacity, bool) or not isinstance(capacity, (int, float)):
        raise TypeError(f"capacity must be a number, got {capacity!r}")
    if isinstance(per_second, bool) or not isinstance(per_second, (int, float)):
        raise TypeError(f"per_second must be a number, got {per_second!r}")
    if not (_isfinite(capacity) and capacity >= 1):
        raise ValueError(f"capacity must be a finite number >= 1, got {capacity!r}")
    if not (_isfinite(per_second) and per_second > 0):
        raise ValueError(f"per_second must be a finite number > 0, got {per_second!r}")


cdef double check_token_count(object n, double capacity) except -1.0:
    """``n`` as a float, or TypeError/ValueError unless it is an int from 1 to the capacity."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if n > capacity:
        raise ValueError(f"n ({n!r}) is above the capacity ({capacity!r}): it is never available")
    return float(n)


cdef class TokenBucket:
    """Holds up to ``capacity`` tokens, refilled continuously at ``per_second``; starts full."""

    @cython.critical_section
    def __init__(self, capacity, per_second, clock=None):
        check_bucket_args(capacity, per_second)
        cdef double cap = float(capacity)
        cdef double rate = float(per_second)
        self._clock = clock
        bucket_init(&self._b, cap, rate, clock_now(clock))

    @property
    def capacity(self):
        """The most tokens the bucket holds (the burst size)."""
        return self._b.capacity

    @property
    def per_second(self):
        """Tokens added per second."""
        return self._b.rate

    @property
    @cython.critical_section
    def tokens(self):
        """Tokens available now."""
        cdef double now = clock_now(self._clock)
        bucket_refill(&self._b, now)
        return self._b.tokens

    @cython.critical_section
    def try_acquire(self, n=1):
        """Take ``n`` tokens (all or nothing) if that many are available now; never waits."""
        cdef double count = check_token_count(n, self._b.capacity)
        cdef double now = clock_now(self._clock)
        return bucket_try_acquire_n(&self._b, now, count)

    @cython.critical_section
    def time_until_token(self, n=1):
        """Seconds until ``n`` tokens are available (0.0 if they are now)."""
        cdef double count = check_token_count(n, self._b.capacity)
        cdef double now = clock_now(self._clock)
        return bucket_time_until_n(&self._b, now, count)

    def __repr__(self):
        cdef object capacity = self._b.capacity
        cdef object per_second = self._b.rate
        return f"TokenBucket(capacity={capacity!r}, per_second={per_second!r})"
