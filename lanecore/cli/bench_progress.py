"""Progress of ``lanecore bench``: a rich progress bar on a terminal, plain lines otherwise.

The bar is redrawn only between rounds (no refresh thread), so drawing never competes with
a measurement for the CPU.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol, TextIO

from lanecore.cli.render import rich_available

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class BenchProgress(Protocol):
    """Told the number of steps, then when each step begins and ends."""

    def start(self, total: int) -> None: ...

    def begin(self, label: str) -> None: ...

    def end(self, label: str, result: str) -> None: ...

    def stop(self) -> None: ...


class PlainProgress:
    """One line per finished step: ``[3/12] throughput · asyncio · pool · round 1/3: …``."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._total = 0
        self._done = 0

    def start(self, total: int) -> None:
        self._total = total

    def begin(self, label: str) -> None:
        pass

    def end(self, label: str, result: str) -> None:
        self._done += 1
        out = self._out if self._out is not None else sys.stdout
        print(f"[{self._done}/{self._total}] {label}: {result}", file=out, flush=True)

    def stop(self) -> None:
        pass


class RichProgress:
    """A rich progress bar naming the step that is running; removed when done."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def start(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(file=self._out),
            auto_refresh=False,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("starting", total=total)

    def begin(self, label: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=label)
            self._progress.refresh()

    def end(self, label: str, result: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, description=f"{label}: {result}")
            self._progress.refresh()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def choose_progress(no_live: bool, out: TextIO | None = None) -> BenchProgress:
    """The bar when stdout is a terminal, rich is installed and --no-live is not given."""
    stream = out if out is not None else sys.stdout
    if no_live or not rich_available() or not stream.isatty():
        return PlainProgress(out)
    return RichProgress(out)
