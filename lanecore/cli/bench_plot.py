"""The ``lanecore bench --plot`` chart: ops/s and PREEMPT p99 per system, a bar per loop.

matplotlib (the ``plot`` extra) is imported only here, and without pyplot: a bare Figure
draws to a file with no GUI backend or global state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanecore.cli.bench_run import BenchRow
from lanecore.cli.errors import CliError

Metric = Callable[[BenchRow], float | None]


def write_plot(rows: list[BenchRow], path: Path, workload: str) -> None:
    """Log-scale bar charts (throughput; PREEMPT p99 when measured) written to ``path``, in
    the format of its suffix."""
    from matplotlib.figure import Figure

    panels: list[tuple[str, Metric]] = [
        (f"{workload} throughput, ops/s (higher is better)", lambda row: row.ops_per_s)
    ]
    if any(row.preempt_p99_us is not None for row in rows):
        panels.append(
            ("PREEMPT p99 submit -> start, µs (lower is better)", lambda row: row.preempt_p99_us)
        )
    systems = list(dict.fromkeys(row.system for row in rows))
    figure = Figure(figsize=(max(6.0, 1.6 * len(systems)) * len(panels), 4.5), layout="constrained")
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, (title, metric) in zip(axes_list, panels, strict=True):
        _bars(axes, rows, systems, metric)
        axes.set_title(title)
    try:
        figure.savefig(path, dpi=100)
    except OSError as exc:
        raise CliError(f"--plot {path}: {exc.strerror or exc}") from None


def _bars(axes: Any, rows: list[BenchRow], systems: list[str], metric: Metric) -> None:
    """One group of bars per system, one bar per loop; "n/a" where nothing was measured."""
    loops = list(dict.fromkeys(row.loop for row in rows))
    by_key = {(row.system, row.loop): row for row in rows}
    width = 0.8 / len(loops)
    for i, loop in enumerate(loops):
        offset = (i - (len(loops) - 1) / 2) * width
        label: str | None = loop  # on this loop's first bar only: one legend entry a loop
        for s, system in enumerate(systems):
            row = by_key.get((system, loop))
            value = metric(row) if row is not None else None
            if value is not None and value > 0:
                axes.bar(s + offset, value, width, color=f"C{i}", label=label)
                label = None
    for s, system in enumerate(systems):
        if all(metric(row) is None for row in rows if row.system == system):
            axes.text(s, 0.02, "n/a", ha="center", transform=axes.get_xaxis_transform())
    axes.set_xlim(-0.5, len(systems) - 0.5)
    axes.set_yscale("log")
    axes.set_xticks(range(len(systems)), systems, rotation=20, ha="right")
    axes.legend()
