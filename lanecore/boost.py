"""PriorityBoostConfig: raise a lane's priority as its oldest pending command nears a deadline."""

from __future__ import annotations

from dataclasses import dataclass, replace

from lanecore._durations import Duration, check_int, to_seconds


@dataclass(frozen=True, slots=True)
class PriorityBoostConfig:
    """Boost by ``levels`` once at most ``before`` seconds remain until ``deadline`` (measured
    from the submit time of the lane's oldest pending command); past the deadline the lane runs
    at priority 0. ``deadline=None`` disables boosting."""

    deadline: float | None
    steps: tuple[tuple[float, int], ...] = ()

    def __post_init__(self) -> None:
        if self.deadline is None:
            if self.steps:
                raise ValueError("a disabled PriorityBoostConfig has no steps")
            return
        deadline = to_seconds("deadline", self.deadline)
        object.__setattr__(self, "deadline", deadline)
        steps = []
        for step in self.steps:
            before, levels = step
            before = to_seconds("before", before)
            if before > deadline:
                raise ValueError(f"before ({before!r}) must not exceed the deadline ({deadline!r})")
            steps.append((before, check_int("levels", levels, 1, 255)))
        object.__setattr__(self, "steps", tuple(sorted(steps, reverse=True)))

    @classmethod
    def new(cls, deadline: Duration) -> PriorityBoostConfig:
        """A deadline with no intermediate steps (add them with with_boost)."""
        return cls(to_seconds("deadline", deadline))

    @classmethod
    def standard(cls, deadline: Duration) -> PriorityBoostConfig:
        """+1/+2/+3/+4 levels when 75/50/25/10 % of the deadline remains."""
        d = to_seconds("deadline", deadline)
        return cls(d, ((0.75 * d, 1), (0.5 * d, 2), (0.25 * d, 3), (0.1 * d, 4)))

    @classmethod
    def aggressive(cls, deadline: Duration) -> PriorityBoostConfig:
        """+2/+4/+6/+8 levels when 80/60/40/20 % of the deadline remains."""
        d = to_seconds("deadline", deadline)
        return cls(d, ((0.8 * d, 2), (0.6 * d, 4), (0.4 * d, 6), (0.2 * d, 8)))

    @classmethod
    def disabled(cls) -> PriorityBoostConfig:
        return cls(None)

    def with_boost(self, before: Duration, levels: int) -> PriorityBoostConfig:
        """Add a step: boost by ``levels`` once at most ``before`` remains until the deadline."""
        if self.deadline is None:
            raise ValueError("with_boost needs a deadline; build with PriorityBoostConfig.new()")
        return replace(self, steps=(*self.steps, (to_seconds("before", before), levels)))

    @property
    def enabled(self) -> bool:
        return self.deadline is not None

    def effective_priority(self, base: int, age: float) -> int:
        """Priority of a lane with base priority ``base`` whose oldest command is ``age`` old."""
        deadline = self.deadline
        if deadline is None:
            return base
        remaining = deadline - age
        if remaining <= 0.0:
            return 0
        boost = 0
        for before, levels in self.steps:
            if remaining <= before and levels > boost:
                boost = levels
        return base - boost if base > boost else 0

    def next_change(self, age: float) -> float | None:
        """The smallest age above ``age`` at which the boost changes; None when none is left."""
        deadline = self.deadline
        if deadline is None or age >= deadline:
            return None
        best = deadline
        for before, _ in self.steps:
            at = deadline - before
            if age < at < best:
                best = at
        return best
