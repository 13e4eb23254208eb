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
    def try_acquire(self) -> bool:
        """Take one token if one is available now; never waits."""
    def time_until_token(self) -> float:
        """Seconds until one token is available (0.0 if one is available now)."""
