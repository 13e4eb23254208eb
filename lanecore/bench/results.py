"""What a workload run returns (counts and timings) and the statistics taken over them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median, as a float."""
    return float(statistics.median(values))


@dataclass(frozen=True, slots=True)
class Throughput:
    """``commands`` were submitted, ``completed`` finished normally, in ``seconds``; the
    submits alone (first submit to the last one returning) took ``submit_seconds``, where
    the workload measures it."""

    commands: int
    completed: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    submit_seconds: float | None = None

    @property
    def ops_per_s(self) -> float:
        return self.commands / self.seconds if self.seconds > 0 else float("inf")

    @property
    def submit_ns(self) -> float | None:
        """Nanoseconds of submitting per command, where measured."""
        if self.submit_seconds is None:
            return None
        return self.submit_seconds / self.commands * 1e9


@dataclass(frozen=True, slots=True)
class Preempt:
    """Submit-to-start latencies of control commands while prompts are queued.

    ``gave_up`` is True when a control command waited longer than the workload's patience:
    the queued prompts were then released and the tries stopped after that one."""

    latencies_us: list[float]
    queued_before_first_control: int  # queued prompts started before the 1st control started
    queued_during_tries: int  # queued prompts started before the last control returned
    completed: int
    expected: int
    gave_up: bool = False

    @property
    def p50_us(self) -> float:
        return percentile(self.latencies_us, 50)

    @property
    def p99_us(self) -> float:
        return percentile(self.latencies_us, 99)
