"""Default explicit histogram bucket bounds (ms) for exporters with fixed buckets."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Final

from lanecore.metrics._validate import check_number

#: 0.1 ms .. 1 hour, roughly 1-2.5-5 per decade: sub-ms dispatch through multi-minute LLM calls.
DEFAULT_MS_BUCKETS: Final = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0,
    1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0, 60_000.0, 120_000.0, 300_000.0,
    600_000.0, 1_800_000.0, 3_600_000.0,
)  # fmt: skip


def check_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    """buckets as a non-empty, strictly increasing tuple of finite numbers."""
    if isinstance(buckets, (str, bytes)) or not isinstance(buckets, Sequence):
        raise TypeError(f"buckets must be a sequence of numbers, got {buckets!r}")
    bounds = tuple(check_number("bucket bound", b) for b in buckets)
    if not bounds:
        raise ValueError("buckets must not be empty")
    if any(a >= b for a, b in pairwise(bounds)):
        raise ValueError(f"buckets must be strictly increasing, got {buckets!r}")
    return bounds
