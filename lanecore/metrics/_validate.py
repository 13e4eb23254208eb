"""Checks and canonical keys for metric names, labels and values (the slow, validated path)."""

from __future__ import annotations

import math
from collections.abc import Mapping

Labels = Mapping[str, str]
#: Labels in canonical form: (key, value) pairs sorted by key, hashable.
LabelsKey = tuple[tuple[str, str], ...]
#: One series: its metric name and its canonical labels.
SeriesKey = tuple[str, LabelsKey]


def check_name(name: object) -> str:
    """name as a non-empty str; TypeError/ValueError naming it otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str, got {name!r}")
    if not name:
        raise ValueError("metric name must not be empty")
    return name


def labels_key(labels: Labels | None) -> LabelsKey:
    """Canonical, validated form of labels: str keys (non-empty) and str values, sorted."""
    if labels is None:
        return ()
    if not isinstance(labels, Mapping):
        raise TypeError(f"labels must be a mapping of str to str, got {labels!r}")
    for key, value in labels.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"label names must be non-empty str, got {key!r}")
        if not isinstance(value, str):
            raise TypeError(f"label {key!r} must have a str value, got {value!r}")
    return tuple(sorted(labels.items()))


def check_count(name: str, value: object) -> int:
    """A counter increment: an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"increment of counter {name!r} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"increment of counter {name!r} must be >= 0, got {value!r}")
    return value


def check_number(what: str, value: object, *, non_negative: bool = False) -> float:
    """A finite real number (optionally >= 0) as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be an int or float, got {value!r}")
    result = float(value)
    if not math.isfinite(result) or (non_negative and result < 0):
        wanted = "a finite number >= 0" if non_negative else "a finite number"
        raise ValueError(f"{what} must be {wanted}, got {value!r}")
    return result
