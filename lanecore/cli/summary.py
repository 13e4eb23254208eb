"""The demo's closing summary and its verdict: did control work ever wait behind prompt work?

Two checks, both required: control's p99 wait is below prompt's p99 wait, and control's
*longest* wait is below the shortest prompt that ran — no control command waited as long as a
whole prompt takes, so none sat in a queue behind prompt work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lanecore.cli.render import fmt_ms
from lanecore.cli.text import table_lines
from lanecore.cli.waits import LaneWaits


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the demo proved its point, and the lines that say why (or why not)."""

    ok: bool
    lines: tuple[str, ...]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def lane_lines(waits: Mapping[str, LaneWaits], priorities: Mapping[str, int]) -> list[str]:
    """Per-lane wait statistics as an aligned plain-text table."""
    header = ("lane", "priority", "done", "p50 wait ms", "p99 wait ms", "max wait ms")
    rows: list[tuple[str, ...]] = [header]
    for lane, w in waits.items():
        p50, p99 = w.p(0.5, 0.99)
        rows.append(
            (
                lane,
                str(priorities[lane]),
                str(w.done),
                fmt_ms(_ms(p50)),
                fmt_ms(_ms(p99)),
                fmt_ms(_ms(w.max_wait) if w.started else None),
            )
        )
    return table_lines(rows, right=range(1, len(header)))


def verdict(waits: Mapping[str, LaneWaits]) -> Verdict:
    """Compare the control lane's waits with the prompt lane's (see the module docstring)."""
    control, prompt = waits.get("control"), waits.get("prompt")
    if control is None or prompt is None or not control.started or not prompt.started:
        return Verdict(False, ("FAILED: the run had no control or no prompt commands to compare",))
    (c99,), (p99,) = control.p(0.99), prompt.p(0.99)
    assert c99 is not None and p99 is not None
    c_max, shortest = control.max_wait, prompt.shortest_run
    p99_ok, max_ok = c99 < p99, c_max < shortest
    lines = [
        f"control p99 wait {fmt_ms(c99 * 1e3)} ms {'<' if p99_ok else '>='} "
        f"prompt p99 wait {fmt_ms(p99 * 1e3)} ms",
        f"control max wait {fmt_ms(c_max * 1e3)} ms {'<' if max_ok else '>='} "
        f"shortest prompt {fmt_ms(shortest * 1e3)} ms: "
        + (
            "no control command waited for a prompt to finish"
            if max_ok
            else "a control command may have waited for a prompt to finish"
        ),
    ]
    if p99_ok and max_ok:
        lines.append("OK: control commands never waited behind prompt work")
    else:
        lines.append("FAILED: control commands waited behind prompt work")
    return Verdict(p99_ok and max_ok, tuple(lines))
