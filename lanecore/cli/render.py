"""Showing the demo's per-lane table: a rich live table on a terminal, plain text otherwise.

rich is optional (the ``cli`` extra) and imported only when a live table is drawn, so neither
``import lanecore`` nor the plain-text output needs it.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from lanecore.cli.text import table_lines

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

COLUMNS: tuple[str, ...] = (
    "lane",
    "priority",
    "pending",
    "active",
    "done",
    "p50 wait ms",
    "p99 wait ms",
)
LIVE_INTERVAL = 0.25
PLAIN_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class LaneRow:
    """One lane in a snapshot; waits in milliseconds (None before any command started)."""

    lane: str
    priority: int
    pending: int
    active: int
    done: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The demo at one instant: progress, slots in use under the global cap, and each lane."""

    elapsed: float
    duration: float
    phase: str  # "running" (work arriving), "draining", "done" or "stopped" (interrupted)
    active: int
    cap: int
    setup: str  # e.g. "core cython, loop asyncio, seed 1"
    rows: tuple[LaneRow, ...]

    @property
    def heading(self) -> str:
        return (
            f"{self.elapsed:5.1f} s / {self.duration:.1f} s  {self.phase:<8}  "
            f"slots {self.active}/{self.cap}  ({self.setup})"
        )


def fmt_ms(value: float | None) -> str:
    """A wait in ms for a table cell: 2 decimals below 10 ms, 1 below 1000, else whole."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:.0f}"


def _cells(row: LaneRow) -> tuple[str, ...]:
    return (
        row.lane,
        str(row.priority),
        str(row.pending),
        str(row.active),
        str(row.done),
        fmt_ms(row.p50_ms),
        fmt_ms(row.p99_ms),
    )


def plain_table(snapshot: Snapshot) -> str:
    """The snapshot as aligned plain text: a heading line, the column names, one line a lane."""
    rows = [COLUMNS, *(_cells(row) for row in snapshot.rows)]
    return "\n".join([snapshot.heading, *table_lines(rows, right=range(1, len(COLUMNS)))])


def rich_table(snapshot: Snapshot) -> Table:
    """The snapshot as a rich Table (the live view); control and prompt rows stand out."""
    from rich.table import Table

    table = Table(
        title=(
            f"lanecore demo  {snapshot.elapsed:.1f} s / {snapshot.duration:.1f} s  "
            f"{snapshot.phase}  slots {snapshot.active}/{snapshot.cap}"
        ),
        title_justify="left",
        caption=f"{snapshot.setup}\nwait = submit -> start; prompt queues, control passes",
        caption_justify="left",
    )
    table.add_column(COLUMNS[0], style="bold")
    for name in COLUMNS[1:]:
        table.add_column(name, justify="right")
    styles = {"control": "green", "prompt": "yellow"}
    for row in snapshot.rows:
        table.add_row(*_cells(row), style=styles.get(row.lane))
    return table


class Renderer(Protocol):
    """Shows snapshots: ``update`` every ``interval`` seconds, between ``start`` and ``stop``."""

    interval: float

    def start(self) -> None: ...

    def update(self, snapshot: Snapshot) -> None: ...

    def stop(self) -> None: ...


class PlainRenderer:
    """Prints a plain-text snapshot each time (once per second): for pipes, logs and tests."""

    interval = PLAIN_INTERVAL

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    def start(self) -> None:
        pass

    def update(self, snapshot: Snapshot) -> None:
        out = self._out if self._out is not None else sys.stdout
        print("\n" + plain_table(snapshot), file=out, flush=True)

    def stop(self) -> None:
        pass


class LiveRenderer:
    """Redraws a rich table in place ~4 times a second. Refreshes are driven by the demo's
    own loop task (no rich refresh thread), so drawing never races the measured commands."""

    interval = LIVE_INTERVAL

    def __init__(self, console: Any = None, out: TextIO | None = None) -> None:
        self._console = console  # a rich Console, e.g. for tests; else one on ``out``/stdout
        self._out = out
        self._live: Live | None = None

    def start(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = self._console if self._console is not None else Console(file=self._out)
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._live.start()

    def update(self, snapshot: Snapshot) -> None:
        if self._live is not None:
            self._live.update(rich_table(snapshot), refresh=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def rich_available() -> bool:
    """Whether rich can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("rich") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["rich"] is None
        return False


def choose_renderer(no_live: bool, out: TextIO | None = None) -> Renderer:
    """The live table when asked for, stdout is a terminal and rich is installed; else plain."""
    stream = out if out is not None else sys.stdout
    if no_live or not rich_available() or not stream.isatty():
        return PlainRenderer(out)
    return LiveRenderer(out=out)
