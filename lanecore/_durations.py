"""Converts user-given durations (float seconds or timedelta) to float seconds, with checks."""

from __future__ import annotations

import math
from datetime import timedelta

Duration = int | float | timedelta


def to_seconds(name: str, value: Duration, *, allow_zero: bool = False) -> float:
    """Seconds in value; TypeError for a non-duration, ValueError for negative/zero/non-finite."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{name} must be seconds (int or float) or a timedelta, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        wanted = "a finite duration >= 0" if allow_zero else "a finite duration > 0"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return seconds


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """value as an int within [minimum, maximum]; TypeError/ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return value
