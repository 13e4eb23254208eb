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
    ``rate_limit`` counts commands, ``cost_limit`` the ``cost`` each one is submitted with;
    ``max_pending`` bounds what the lane holds (pending, delayed and retrying commands).
    """

    min_concurrency: int = 1
    max_concurrency: int = 4
    timeout: float | None = None
    retry_policy: RetryPolicy = _NO_RETRY
    rate_limit: RateLimitConfig | None = None
    priority_boost: PriorityBoostConfig | None = None
    pressure_threshold: int | None = None
    run_in_executor: bool = False
    cost_limit: RateLimitConfig | None = None
    max_pending: int | None = None

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
        if self.cost_limit is not None:
            _check_type("cost_limit", self.cost_limit, RateLimitConfig)
        if self.max_pending is not None:
            check_int("max_pending", self.max_pending, 1)

    def with_timeout(self, timeout: Duration | None) -> LaneConfig:
        """Default per-attempt timeout of the lane's commands (None: no timeout)."""
        return replace(self, timeout=None if timeout is None else to_seconds("timeout", timeout))

    def with_retry_policy(self, policy: RetryPolicy) -> LaneConfig:
        return replace(self, retry_policy=policy)

    def with_rate_limit(self, rate_limit: RateLimitConfig | None) -> LaneConfig:
        return replace(self, rate_limit=rate_limit)

    def with_cost_limit(self, cost_limit: RateLimitConfig | None) -> LaneConfig:
        """A second bucket beside ``with_rate_limit``: each command draws its ``cost``
        (``submit(..., cost=n)``, default 1) from it, e.g. LLM tokens per minute. A command
        dispatches only when every bucket of its lane can pay; tokens are spent at dispatch."""
        return replace(self, cost_limit=cost_limit)

    def with_max_pending(self, n: int | None) -> LaneConfig:
        """Hold at most ``n`` commands (pending, delayed and retrying; running ones do not
        count): ``submit`` on a full lane raises LaneFull, ``await manager.put`` waits."""
        return replace(self, max_pending=n)

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
