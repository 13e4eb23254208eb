"""The compiled dispatcher records a sampled command's wait and run times into a LocalMetrics
Histogram in C: the result must be exactly what Histogram.record gives."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from lanecore import _impl
from lanecore.metrics.histogram import HIGHEST_MS, LOWEST_MS, Histogram

if "cython" not in _impl.CORES:
    pytest.skip("the compiled core is not loaded", allow_module_level=True)

from lanecore_pyx import _dispatch  # (only when the compiled core is there)


def state(h: Histogram) -> tuple[Any, ...]:
    return (h.bucket_counts(), h.sum.hex(), h.min, h.max)


def test_a_sample_lands_exactly_where_record_puts_it() -> None:
    rng = random.Random(7)
    values = [0.0, LOWEST_MS / 2, LOWEST_MS, math.nextafter(LOWEST_MS, 0.0), 1.0, 0.5]
    values += [HIGHEST_MS, math.nextafter(HIGHEST_MS, 0.0), HIGHEST_MS * 3]
    values += [math.exp(rng.uniform(-8.0, 16.0)) for _ in range(5_000)]
    in_c, in_python = Histogram(), Histogram()
    for value in values:
        _dispatch._record_sample(in_c.record, value)
        in_python.record(value)
        assert state(in_c) == state(in_python), value
    assert in_c.count == len(values)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_bad_sample_raises_as_record_does(bad: float) -> None:
    h = Histogram()
    with pytest.raises(ValueError, match="finite number >= 0"):
        _dispatch._record_sample(h.record, bad)
    assert h.count == 0


def test_other_recorders_are_called() -> None:
    seen: list[float] = []

    class Doubling(Histogram):
        __slots__ = ()

        def record(self, value: float) -> None:
            super().record(value * 2)

    h = Doubling()
    _dispatch._record_sample(h.record, 3.0)
    _dispatch._record_sample(seen.append, 4.0)
    assert h.sum == 6.0 and h.count == 1 and seen == [4.0]
