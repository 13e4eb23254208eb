# cython: language_level=3
"""C-level token bucket shared by ``TokenBucket`` and the lane table.

The arithmetic repeats ``lanecore._tokenbucket_py`` operation by operation in IEEE doubles, so
both cores compute bit-identical token counts and delays from the same clock readings.
"""

from lanecore_pyx._clock cimport lanecore_monotonic

cdef extern from *:
    """
    #define LANECORE_TOKEN_EPSILON 1e-9
    /* a bucket holding 1 - TOKEN_EPSILON tokens counts as holding one (Python: 1.0 - 1e-9) */
    #define LANECORE_ONE_TOKEN (1.0 - LANECORE_TOKEN_EPSILON)
    /* base + a * b with the product rounded on its own, as Python does: the volatile keeps
       the compiler from contracting it into a fused multiply-add (one rounding, other bits). */
    static inline double lanecore_add_product(double base, double a, double b) {
        volatile double product = a * b;
        return base + product;
    }
    """
    const double LANECORE_TOKEN_EPSILON
    const double LANECORE_ONE_TOKEN
    double lanecore_add_product(double base, double a, double b) noexcept nogil


ctypedef struct bucket_t:
    double capacity   # the most tokens held (burst size)
    double rate       # tokens added per second
    double tokens     # tokens held at time `last`
    double last       # clock reading of the last refill


cdef inline void bucket_init(bucket_t* b, double capacity, double rate, double now) noexcept nogil:
    """A full bucket (arguments already checked by check_bucket_args)."""
    b.capacity = capacity
    b.rate = rate
    b.tokens = capacity
    b.last = now


cdef inline void bucket_refill(bucket_t* b, double now) noexcept nogil:
    cdef double elapsed = now - b.last
    cdef double tokens
    if elapsed > 0.0:
        tokens = lanecore_add_product(b.tokens, elapsed, b.rate)
        if tokens > b.capacity:
            tokens = b.capacity
        b.tokens = tokens
        b.last = now


cdef inline void bucket_take(bucket_t* b, double n) noexcept nogil:
    """Spend ``n`` tokens that were found available (a hair short counts: never below 0)."""
    cdef double tokens = b.tokens - n
    b.tokens = tokens if tokens > 0.0 else 0.0


cdef inline bint bucket_try_acquire_n(bucket_t* b, double now, double n) noexcept nogil:
    """Take ``n`` tokens if that many are available at `now` (all or nothing)."""
    bucket_refill(b, now)
    if b.tokens >= n - LANECORE_TOKEN_EPSILON:
        bucket_take(b, n)
        return True
    return False


cdef inline double bucket_time_until_n(bucket_t* b, double now, double n) noexcept nogil:
    """Seconds from `now` until ``n`` tokens are available (0.0 if they are now)."""
    bucket_refill(b, now)
    if b.tokens >= n - LANECORE_TOKEN_EPSILON:
        return 0.0
    return (n - b.tokens) / b.rate


cdef inline bint bucket_try_acquire(bucket_t* b, double now) noexcept nogil:
    """Take one token if one is available at `now`."""
    return bucket_try_acquire_n(b, now, 1.0)


cdef inline double bucket_time_until(bucket_t* b, double now) noexcept nogil:
    """Seconds from `now` until one token is available (0.0 if one is available now)."""
    return bucket_time_until_n(b, now, 1.0)


cdef inline double clock_now(object clock) except? -1.0:
    """The C monotonic clock, or ``float(clock())`` when a Python clock was given."""
    if clock is None:
        return lanecore_monotonic()
    return float(clock())


cpdef check_bucket_args(object capacity, object per_second)
cdef double check_token_count(object n, double capacity) except -1.0


cdef class TokenBucket:
    cdef bucket_t _b
    cdef object _clock
