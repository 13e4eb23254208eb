"""RetryPolicy: how many times a failed command is re-run, and how long to wait before each."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from lanecore._durations import Duration, check_int, to_seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A command runs at most ``1 + max_retries`` times; retry k waits
    ``min(initial_delay * multiplier**(k-1), max_delay)`` seconds, less up to ``jitter`` of it."""

    max_retries: int = 0
    initial_delay: float = 0.1
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        check_int("max_retries", self.max_retries, 0)
        object.__setattr__(
            self, "initial_delay", to_seconds("initial_delay", self.initial_delay, allow_zero=True)
        )
        object.__setattr__(
            self, "max_delay", to_seconds("max_delay", self.max_delay, allow_zero=True)
        )
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"max_delay ({self.max_delay!r}) must be >= initial_delay ({self.initial_delay!r})"
            )
        multiplier = self.multiplier
        if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)):
            raise TypeError(f"multiplier must be a number, got {multiplier!r}")
        if not (math.isfinite(multiplier) and multiplier >= 1.0):
            raise ValueError(f"multiplier must be a finite number >= 1, got {multiplier!r}")
        object.__setattr__(self, "multiplier", float(multiplier))
        jitter = self.jitter
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)):
            raise TypeError(f"jitter must be a number, got {jitter!r}")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be in 0..1, got {jitter!r}")
        object.__setattr__(self, "jitter", float(jitter))

    @classmethod
    def exponential(cls, max_retries: int) -> RetryPolicy:
        """100 ms before the first retry, doubling each time, capped at 30 s (a3s-lane's)."""
        return cls(max_retries, 0.1, 30.0, 2.0)

    @classmethod
    def fixed(cls, max_retries: int, delay: Duration) -> RetryPolicy:
        """The same delay before every retry."""
        seconds = to_seconds("delay", delay, allow_zero=True)
        return cls(max_retries, seconds, seconds, 1.0)

    @classmethod
    def none(cls) -> RetryPolicy:
        """No retries: the first failure is final (the default)."""
        return cls(0)

    def with_jitter(self, fraction: float) -> RetryPolicy:
        """Each wait is shortened by a random part of up to ``fraction`` of it (0..1)."""
        return replace(self, jitter=fraction)

    def should_retry(self, attempts_so_far: int) -> bool:
        """Whether another run is due after ``attempts_so_far`` runs have failed."""
        check_int("attempts_so_far", attempts_so_far, 0)
        return attempts_so_far <= self.max_retries

    def delay_for_attempt(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = the first retry), no jitter."""
        check_int("attempt", attempt, 1)
        try:
            delay = self.initial_delay * self.multiplier ** (attempt - 1)
        except OverflowError:
            return self.max_delay
        return delay if delay < self.max_delay else self.max_delay

    def backoff(self, attempt: int) -> float:
        """delay_for_attempt(attempt) with this policy's jitter applied."""
        delay = self.delay_for_attempt(attempt)
        if self.jitter:
            delay -= delay * self.jitter * random.random()
        return delay
