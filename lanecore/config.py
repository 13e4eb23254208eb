"""LaneConfig (immutable, builder style) and the six default lanes of a3s-lane."""

from __future__ import annotations

from dataclasses import dataclass, replace

from lanecore._durations import Duration, check_int, to_seconds
from lanecore.boost import PriorityBoostConfig
from lanecore.ratelimit import RateLimitConfig
from lanecore.retry import RetryPolicy

_NO_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class LaneConfig:
    """Concurrency bounds and per-lane policies; every ``with_*`` returns a new, checked copy.

    ``min_concurrency`` is the lane's reservation under a global cap (0: none, see
    ``QueueManagerBuilder.with_global_concurrency``); ``max_concurrency`` its own cap (>= 1).
    """

    min_concurrency: int = 1
    max_concurrency: int = 4
    timeout: float | None = None
    retry_policy: RetryPolicy = _NO_RETRY
    rate_limit: RateLimitConfig | None = None
    priority_boost: PriorityBoostConfig | None = None
    pressure_threshold: int | None = None
    run_in_executor: bool = False

    def __post_init__(self) -> None:
        check_int("min_concurrency", self.min_concurrency, 0)
        check_int("max_concurrency", self.max_concurrency, 1)
        if self.max_concurrency < self.min_concurrency:
            raise ValueError(
                f"max_concurrency ({self.max_concurrency}) must be >= "
                f"min_concurrency ({self.min_concurrency})"
            )
        if self.timeout is not None:
            object.__setattr__(self, "timeout", to_seconds("timeout", self.timeout))
        _check_type("retry_policy", self.retry_policy, RetryPolicy)
        if self.rate_limit is not None:
            _check_type("rate_limit", self.rate_limit, RateLimitConfig)
        if self.priority_boost is not None:
            _check_type("priority_boost", self.priority_boost, PriorityBoostConfig)
        if self.pressure_threshold is not None:
            check_int("pressure_threshold", self.pressure_threshold, 1)
        if not isinstance(self.run_in_executor, bool):
            raise TypeError(f"run_in_executor must be a bool, got {self.run_in_executor!r}")

    def with_timeout(self, timeout: Duration | None) -> LaneConfig:
        """Default per-attempt timeout of the lane's commands (None: no timeout)."""
        return replace(self, timeout=None if timeout is None else to_seconds("timeout", timeout))

    def with_retry_policy(self, policy: RetryPolicy) -> LaneConfig:
        return replace(self, retry_policy=policy)

    def with_rate_limit(self, rate_limit: RateLimitConfig | None) -> LaneConfig:
        return replace(self, rate_limit=rate_limit)

    def with_priority_boost(self, boost: PriorityBoostConfig | None) -> LaneConfig:
        return replace(self, priority_boost=boost)

    def with_pressure_threshold(self, pending: int | None) -> LaneConfig:
        """Emit queue.lane.pressure when this many commands are pending (and idle at zero)."""
        return replace(self, pressure_threshold=pending)

    def with_run_in_executor(self, enabled: bool = True) -> LaneConfig:
        """Run the lane's synchronous commands in the loop's default executor."""
        return replace(self, run_in_executor=enabled)


def _check_type(name: str, value: object, expected: type) -> None:
    if not isinstance(value, expected):
        raise TypeError(f"{name} must be a {expected.__name__}, got {value!r}")


# (lane id, priority, min, max) of a3s-lane's default lanes.
DEFAULT_LANES: tuple[tuple[str, int, int, int], ...] = (
    ("system", 0, 1, 5),
    ("control", 1, 1, 3),
    ("query", 2, 1, 10),
    ("session", 3, 1, 5),
    ("skill", 4, 1, 3),
    ("prompt", 5, 1, 2),
)
