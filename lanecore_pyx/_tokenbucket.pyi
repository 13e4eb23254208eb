"""Type stubs of the compiled token bucket (twin: ``lanecore._tokenbucket_py``)."""

from collections.abc import Callable

TOKEN_EPSILON: float

def check_bucket_args(capacity: float, per_second: float) -> None:
    """Raise ValueError unless capacity >= 1 and per_second > 0, both finite."""

class TokenBucket:
    """Holds up to ``capacity`` tokens, refilled continuously at ``per_second``; starts full."""

    def __init__(
        self,
        capacity: float,
        per_second: float,
        clock: Callable[[], float] | None = None,
    ) -> None: ...
    @property
    def capacity(self) -> float:
        """The most tokens the bucket holds (the burst size)."""
    @property
    def per_second(self) -> float:
        """Tokens added per second."""
    @property
    def tokens(self) -> float:
        """Tokens available now."""
    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens (all or nothing) if that many are available now; never waits."""
    def time_until_token(self, n: int = 1) -> float:
        """Seconds until ``n`` tokens are available (0.0 if they are now)."""
