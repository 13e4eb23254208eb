"""The results of ``lanecore bench`` as an aligned plain-text table and as JSON data."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lanecore import IMPLEMENTATION, __version__
from lanecore.bench.forms import FORM_TITLES
from lanecore.bench.preempt import PATIENCE_SECONDS, PROMPT_SECONDS
from lanecore.cli.bench_plan import Plan
from lanecore.cli.bench_run import BenchRow
from lanecore.cli.text import table_lines

COLUMNS: tuple[str, ...] = (
    "system",
    "loop",
    "commands",
    "ops/s",
    "ratio",
    "÷ pool",
    "PREEMPT p50 µs",
    "PREEMPT p99 µs",
)
GAVE_UP_MARK = "*"


def fmt_ratio(value: float | None) -> str:
    """A ratio for a cell: 2 decimals, or 2 significant digits below 0.01; "-" if none."""
    if value is None:
        return "-"
    return f"{value:.2f}x" if value >= 0.01 else f"{value:.2g}x"


def fmt_us(value: float | None, gave_up: bool = False) -> str:
    """Microseconds for a cell: 1 decimal below 1,000, else whole with separators."""
    if value is None:
        return "-"
    text = f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    return text + (GAVE_UP_MARK if gave_up else "")


def _cells(row: BenchRow) -> tuple[str, ...]:
    return (
        row.system,
        row.loop,
        f"{row.commands:,}",
        f"{row.ops_per_s:,.0f}",
        fmt_ratio(row.ratio),
        fmt_ratio(row.vs_pool),
        fmt_us(row.preempt_p50_us, row.preempt_gave_up),
        fmt_us(row.preempt_p99_us, row.preempt_gave_up),
    )


def _count(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def heading(plan: Plan) -> str:
    """What is about to run, in one line."""
    options = plan.options
    preempt = (
        f"PREEMPT: {plan.preempt_pending:,} queued {PROMPT_SECONDS * 1e3:g} ms prompts, "
        f"{_count(options.tries, 'try', 'tries')} a round"
        if options.tries
        else "PREEMPT skipped (--tries 0)"
    )
    return (
        f"lanecore {__version__} bench ({IMPLEMENTATION} core): {options.workload}, "
        f"{options.form} form ({FORM_TITLES[options.form]}), "
        f"{_count(options.size, 'command', 'commands')} a run, "
        f"{_count(options.rounds, 'round', 'rounds')}; "
        f"{preempt}; "
        f"loops {', '.join(plan.loops)}"
    )


def headline(plan: Plan, rows: list[BenchRow]) -> list[str]:
    """The reference ÷ the pool on each loop, then the same core's submit_many ÷ the pool."""
    reference = plan.reference
    if reference is None:
        return []
    systems = [reference]
    batch = reference.removesuffix("-submit")
    if batch != reference and batch in plan.systems:
        systems.append(batch)
    lines = []
    for system in systems:
        how = "one submit per command" if system.endswith("-submit") else "submit_many per lane"
        shown = [
            f"{fmt_ratio(row.vs_pool)} on {row.loop}"
            for row in rows
            if row.system == system and row.vs_pool is not None
        ]
        if shown:
            lines.append(f"{system} ({how}) ÷ pool: {', '.join(shown)}")
    return lines


def table(plan: Plan, rows: list[BenchRow]) -> list[str]:
    """The results table, the headline ratios to the pool, then what the columns mean."""
    lines = table_lines([COLUMNS, *(_cells(row) for row in rows)], right=range(2, len(COLUMNS)))
    top = headline(plan, rows)
    if top:
        lines += ["", *top]
    form = plan.options.form
    lines += [
        "",
        f"ops/s: {plan.options.workload} no-op commands, median over the rounds. "
        f"-submit rows and pool: one submit per command, command i to lane i mod n; "
        f"lanecore-<core> rows: submit_many per lane; {form} form ({FORM_TITLES[form]}).",
        f"ratio: ops/s ÷ {plan.reference}'s on the same loop (higher is faster); "
        "÷ pool: ops/s ÷ the pool's on the same loop."
        if plan.reference is not None
        else "÷ pool: ops/s ÷ the pool's on the same loop.",
        "PREEMPT: control command submit -> start while the prompt lane is full and prompts "
        "are queued (- = not measured; once per core, on its -submit row when both run).",
    ]
    if any(row.preempt_gave_up for row in rows):
        lines.append(
            f"{GAVE_UP_MARK} a control command waited over {PATIENCE_SECONDS:g} s behind "
            "queued prompts (FIFO), so the prompts were released and the tries stopped."
        )
    return lines


def as_json(plan: Plan, rows: list[BenchRow]) -> dict[str, Any]:
    """Everything the table shows plus the settings, for --json."""
    options = plan.options
    return {
        "lanecore": __version__,
        "implementation": IMPLEMENTATION,
        "workload": options.workload,
        "form": options.form,
        "size": options.size,
        "rounds": options.rounds,
        "loops": list(plan.loops),
        "reference": plan.reference,
        "preempt": {
            "pending": plan.preempt_pending if options.tries else 0,
            "tries": options.tries,
            "prompt_ms": PROMPT_SECONDS * 1e3,
            "patience_s": PATIENCE_SECONDS,
        },
        "rows": [asdict(row) for row in rows],
        "notes": list(plan.notes),
    }
