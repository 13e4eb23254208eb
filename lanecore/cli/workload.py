"""The demo's simulated agent workload: a deterministic (seeded) schedule of arrivals per lane.

The schedule is generated up front, so the same ``--seed`` always submits the same commands at
the same offsets with the same durations; only the measured waits depend on the machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LaneLoad:
    """Work arriving on one lane: bursts at exponential inter-arrival times (``rate`` bursts per
    second), each of ``burst`` commands (inclusive range) lasting ``duration_ms`` (uniform)."""

    lane: str
    rate: float
    burst: tuple[int, int]
    duration_ms: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One command to submit: when (seconds after the start), on which lane, for how long."""

    at: float
    lane: str
    duration: float


# Prompt work (LLM calls) is slow and capped at 2 running, so it queues. Everything else is
# shorter than the shortest prompt: a control command that finds every slot taken waits for
# the first slot to free, which is never a prompt's (strict priority, min reservations).
AGENT_WORKLOAD: tuple[LaneLoad, ...] = (
    LaneLoad("system", 2.0, (1, 1), (5.0, 20.0)),
    LaneLoad("control", 6.0, (1, 1), (1.0, 5.0)),
    LaneLoad("query", 20.0, (1, 8), (5.0, 30.0)),
    LaneLoad("session", 10.0, (1, 2), (10.0, 40.0)),
    LaneLoad("skill", 12.0, (1, 3), (20.0, 45.0)),
    LaneLoad("prompt", 8.0, (1, 3), (50.0, 200.0)),
)

OPENING_PROMPTS = 6
"""Prompts submitted at t=0 (an agent fanning out LLM calls), then one control command: the
README's story of a control command overtaking queued prompts, in every run however short."""


def _duration(rng: random.Random, load: LaneLoad) -> float:
    low, high = load.duration_ms
    return rng.uniform(low, high) / 1000.0


def generate(
    duration: float,
    seed: int,
    loads: tuple[LaneLoad, ...] = AGENT_WORKLOAD,
    opening_prompts: int = OPENING_PROMPTS,
) -> list[Arrival]:
    """Every arrival in ``[0, duration)`` seconds, in submit order (by time, stable)."""
    if not duration > 0:
        raise ValueError(f"duration must be > 0, got {duration!r}")
    rng = random.Random(seed)
    by_lane = {load.lane: load for load in loads}
    arrivals: list[Arrival] = []
    if "prompt" in by_lane and "control" in by_lane:
        for _ in range(opening_prompts):
            arrivals.append(Arrival(0.0, "prompt", _duration(rng, by_lane["prompt"])))
        arrivals.append(Arrival(0.0, "control", _duration(rng, by_lane["control"])))
    for load in loads:
        at = rng.expovariate(load.rate)
        while at < duration:
            for _ in range(rng.randint(*load.burst)):
                arrivals.append(Arrival(at, load.lane, _duration(rng, load)))
            at += rng.expovariate(load.rate)
    arrivals.sort(key=lambda arrival: arrival.at)
    return arrivals
