"""RateLimitConfig: a lane's token bucket, n commands per window, enforced at dispatch."""

from __future__ import annotations

from dataclasses import dataclass

from lanecore._durations import Duration, check_int, to_seconds


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """At most ``max_requests`` dispatches per ``window`` seconds, with a burst of
    ``max_requests``; ``max_requests=None`` means unlimited."""

    max_requests: int | None
    window: Duration = 1.0

    def __post_init__(self) -> None:
        if self.max_requests is not None:
            check_int("max_requests", self.max_requests, 1)
        object.__setattr__(self, "window", to_seconds("window", self.window))

    @classmethod
    def per_second(cls, n: int) -> RateLimitConfig:
        return cls(check_int("n", n, 1), 1.0)

    @classmethod
    def per_minute(cls, n: int) -> RateLimitConfig:
        return cls(check_int("n", n, 1), 60.0)

    @classmethod
    def per_hour(cls, n: int) -> RateLimitConfig:
        return cls(check_int("n", n, 1), 3600.0)

    @classmethod
    def unlimited(cls) -> RateLimitConfig:
        return cls(None)

    @property
    def is_unlimited(self) -> bool:
        return self.max_requests is None

    @property
    def tokens_per_second(self) -> float:
        """Refill rate of the bucket (0.0 when unlimited)."""
        if self.max_requests is None:
            return 0.0
        window = self.window
        assert isinstance(window, float)  # normalised in __post_init__
        return self.max_requests / window
