"""Metric names (a3s-lane's, SPEC §9) and the help text exporters attach to them."""

from __future__ import annotations

from typing import Final

COMMANDS_SUBMITTED: Final = "lane.commands.submitted"
COMMANDS_COMPLETED: Final = "lane.commands.completed"
COMMANDS_FAILED: Final = "lane.commands.failed"
COMMANDS_TIMEOUT: Final = "lane.commands.timeout"
COMMANDS_RETRIED: Final = "lane.commands.retried"
COMMANDS_DEAD_LETTERED: Final = "lane.commands.dead_lettered"

QUEUE_DEPTH: Final = "lane.queue.depth"
QUEUE_ACTIVE: Final = "lane.queue.active"

COMMAND_LATENCY_MS: Final = "lane.command.latency_ms"
COMMAND_WAIT_TIME_MS: Final = "lane.command.wait_time_ms"

#: The label the scheduler puts on every series: ``{"lane": lane_id}``.
LANE_LABEL: Final = "lane"

COUNTERS: Final = (
    COMMANDS_SUBMITTED,
    COMMANDS_COMPLETED,
    COMMANDS_FAILED,
    COMMANDS_TIMEOUT,
    COMMANDS_RETRIED,
    COMMANDS_DEAD_LETTERED,
)
GAUGES: Final = (QUEUE_DEPTH, QUEUE_ACTIVE)
HISTOGRAMS: Final = (COMMAND_LATENCY_MS, COMMAND_WAIT_TIME_MS)

DESCRIPTIONS: Final[dict[str, str]] = {
    COMMANDS_SUBMITTED: "Commands submitted to the lane.",
    COMMANDS_COMPLETED: "Commands that completed successfully.",
    COMMANDS_FAILED: "Commands that failed.",
    COMMANDS_TIMEOUT: "Commands that timed out.",
    COMMANDS_RETRIED: "Command retries.",
    COMMANDS_DEAD_LETTERED: "Commands moved to the dead-letter queue.",
    QUEUE_DEPTH: "Commands waiting in the lane.",
    QUEUE_ACTIVE: "Commands of the lane running now.",
    COMMAND_LATENCY_MS: "Run time of a command attempt, in milliseconds.",
    COMMAND_WAIT_TIME_MS: "Time from submit to start of a command, in milliseconds.",
}


def describe(name: str) -> str:
    """Help text for a metric: the known description, else a generic one."""
    return DESCRIPTIONS.get(name, f"lanecore metric {name}")
