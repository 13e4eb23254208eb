"""Bounded-memory latency histogram: fixed logarithmic buckets, O(1) record, percentiles.

Bucket scheme (values in milliseconds):

* 32 buckets per power of two, equal in log2 space: bucket ``i`` (1..1024) holds
  ``[2**((i-321)/32), 2**((i-320)/32))``, covering ``2**-10`` ms (~0.98 µs) .. ``2**22`` ms
  (~70 min), so every latency from 1 µs to 1 hour is tracked with a relative precision.
* bucket 0 holds ``[0, 2**-10)`` (sub-microsecond values), bucket 1025 everything from
  ``2**22`` ms up (with the exact max kept alongside).

A percentile is reported as the geometric centre of the bucket holding the wanted rank,
clamped to the exact [min, max]. For a value inside the tracked range the relative error is at
most ``2**(1/64) - 1`` (about 1.09 %, up to float rounding); below it the absolute error is
under 0.5 µs. Memory is fixed (1026 counters) whatever the number of records.

Not thread-safe: record from one thread (the event loop's), like the rest of lanecore.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from math import exp2, log2
from typing import Final

from lanecore import _coreapi
from lanecore._coreapi import SampleBuckets
from lanecore.metrics._validate import check_number

# the bucket scheme is the core's (it records sampled timings into these buckets)
SUB_BUCKETS: Final = _coreapi.SUB_BUCKETS  # buckets per power of two
LOWEST_MS: Final = _coreapi.LOWEST_MS  # lower edge of the first tracked bucket (~0.98 µs)
HIGHEST_MS: Final = _coreapi.HIGHEST_MS  # upper edge of the last tracked bucket (~69.9 min)
_OFFSET: Final = _coreapi.BUCKET_OFFSET  # maps log2(LOWEST_MS) * SUB_BUCKETS to bucket 1
BUCKET_COUNT: Final = _coreapi.BUCKET_COUNT  # underflow + 1024 tracked + overflow
#: Worst-case relative error of a percentile of values within [LOWEST_MS, HIGHEST_MS).
RELATIVE_ERROR: Final = exp2(1 / (2 * SUB_BUCKETS)) - 1.0

#: The percentiles every summary carries.
SUMMARY_PERCENTILES: Final = (50, 90, 95, 99)


def bucket_index(value: float) -> int:
    """The bucket a finite value >= 0 falls into (0 = underflow, BUCKET_COUNT-1 = overflow)."""
    if value < LOWEST_MS:
        return 0
    if value >= HIGHEST_MS:
        return BUCKET_COUNT - 1
    return int(log2(value) * SUB_BUCKETS + _OFFSET)


def bucket_bounds(index: int) -> tuple[float, float]:
    """[lower, upper) edges of a bucket, in ms (the overflow bucket's upper edge is inf)."""
    if not 0 <= index < BUCKET_COUNT:
        raise ValueError(f"bucket index must be in 0..{BUCKET_COUNT - 1}, got {index!r}")
    if index == 0:
        return 0.0, LOWEST_MS
    if index == BUCKET_COUNT - 1:
        return HIGHEST_MS, math.inf
    return exp2((index - _OFFSET) / SUB_BUCKETS), exp2((index - _OFFSET + 1) / SUB_BUCKETS)


def _centre(index: int) -> float:
    """The value reported for a rank in this bucket (before clamping to [min, max])."""
    if index == 0:
        return LOWEST_MS / 2
    if index == BUCKET_COUNT - 1:
        return math.inf  # clamped to the exact max
    return exp2((index - _OFFSET + 0.5) / SUB_BUCKETS)


_CENTRES: Final = tuple(_centre(i) for i in range(BUCKET_COUNT))


def rank_of(percent: float, count: int) -> int:
    """1-based rank of the ``percent`` percentile among ``count`` values: ceil(p/100 * n),
    computed exactly (numpy's ``method="inverted_cdf"``), at least 1."""
    return max(1, math.ceil(Fraction(percent) * count / 100))


@dataclass(frozen=True, slots=True)
class HistogramSummary:
    """Count, sum, min, max, mean and p50/p90/p95/p99 of one histogram (all 0.0 when empty)."""

    count: int
    sum: float
    min: float
    max: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float


EMPTY_SUMMARY: Final = HistogramSummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


class Histogram(SampleBuckets):
    """One histogram series. ``record(ms)`` is the hot path: one range check, one log2, one
    list increment and the sum/min/max updates; count and percentiles are derived on read."""

    __slots__ = ()

    @property
    def count(self) -> int:
        """Number of values recorded (the sum of the bucket counts)."""
        return sum(self._buckets)

    @property
    def bucket_count(self) -> int:
        """Number of buckets: fixed, whatever has been recorded."""
        return len(self._buckets)

    def bucket_counts(self) -> tuple[int, ...]:
        """A copy of the per-bucket counts (see bucket_bounds for their edges)."""
        return tuple(self._buckets)

    def percentile(self, percent: float) -> float:
        """Estimated ``percent`` percentile (0..100) of the values; 0.0 when empty."""
        p = check_number("percent", percent)
        if not 0.0 <= p <= 100.0:
            raise ValueError(f"percent must be in 0..100, got {percent!r}")
        return self._percentiles((p,), self.count)[0]

    def _percentiles(self, percents: tuple[float, ...], count: int) -> list[float]:
        """Estimates for percents given in ascending order, in one walk over the buckets."""
        if count == 0:
            return [0.0] * len(percents)
        lo, hi = self.min, self.max
        results: list[float] = []
        ranks = [rank_of(p, count) for p in percents]
        seen = 0
        index = 0
        buckets = self._buckets
        for p, rank in zip(percents, ranks, strict=True):
            if p <= 0:
                results.append(lo)
                continue
            if p >= 100:
                results.append(hi)
                continue
            while seen + buckets[index] < rank:
                seen += buckets[index]
                index += 1
            results.append(min(max(_CENTRES[index], lo), hi))
        return results

    def summary(self) -> HistogramSummary:
        """A frozen summary of what has been recorded so far."""
        count = self.count
        if count == 0:
            return EMPTY_SUMMARY
        p50, p90, p95, p99 = self._percentiles(SUMMARY_PERCENTILES, count)
        return HistogramSummary(
            count, self.sum, self.min, self.max, self.sum / count, p50, p90, p95, p99
        )

    def reset(self) -> None:
        """Forget every value; the object (and any reference to it) stays valid."""
        self._buckets[:] = [0] * BUCKET_COUNT  # in place: the list keeps its size
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
