"""Aligned plain-text tables, shared by the demo's snapshots and summary and by the store
commands."""

from __future__ import annotations

from collections.abc import Container, Sequence


def table_lines(rows: Sequence[Sequence[str]], right: Container[int] = ()) -> list[str]:
    """``rows`` (the first is the header) as lines of columns two spaces apart; columns whose
    index is in ``right`` are right-aligned (numbers), the others left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
