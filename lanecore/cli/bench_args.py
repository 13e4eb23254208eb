"""The ``lanecore bench`` subparser: its options and their checks (bad values exit 2).

Only the standard library is imported here, so building the parser for any other command
never loads the benchmark workloads, rich or matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lanecore.cli.argtypes import count

SYSTEMS: tuple[str, ...] = (
    "lanecore-cython-submit",
    "lanecore-cython",
    "lanecore-python-submit",
    "lanecore-python",
    "pool",
    "aiojobs",
    "a3s-lane",
)
"""Every system ``--systems`` accepts, in table order: lanecore-<core>-submit is one
``submit`` per command (lanes interleaved), lanecore-<core> is ``submit_many`` per lane."""

FORMS: tuple[str, ...] = ("fn", "partial", "object", "named")
"""``--form`` choices: ``lanecore.bench.forms.FORMS`` (not imported, to keep this stdlib-only)."""

LOOP_CHOICES: tuple[str, ...] = ("asyncio", "uvloop", "both")
WORKLOADS: tuple[str, ...] = ("W10", "W1")
PLOT_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")
DEFAULT_SIZE = 100_000
DEFAULT_ROUNDS = 3
DEFAULT_TRIES = 50


def systems_list(text: str) -> tuple[str, ...]:
    """argparse type for --systems: known names, comma separated, duplicates dropped."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of systems")
    unknown = [name for name in names if name not in SYSTEMS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown system {', '.join(map(repr, unknown))} (choose from {', '.join(SYSTEMS)})"
        )
    return tuple(dict.fromkeys(names))


def _output_path(text: str) -> Path:
    """An output file whose directory exists."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"not a file path: {text!r}")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory does not exist: {str(path.parent)!r}")
    return path


def json_path(text: str) -> Path:
    """argparse type for --json: where to write the results."""
    return _output_path(text)


def plot_path(text: str) -> Path:
    """argparse type for --plot: a .png/.svg/.pdf path, and matplotlib must be installed."""
    path = _output_path(text)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the chart is written as {', '.join(PLOT_SUFFIXES)} (by the suffix)"
        )
    from lanecore.bench.installed import installed

    if not installed("matplotlib"):
        raise argparse.ArgumentTypeError(
            "needs matplotlib, which is not installed: pip install 'lanecore[plot]'"
        )
    return path


def add_bench_parser(sub: Any) -> None:
    """Add ``bench`` to the subparsers action ``sub`` of the ``lanecore`` parser."""
    bench = sub.add_parser(
        "bench",
        help="lanecore vs a hand-written pool, aiojobs and the a3s-lane SDK",
        description=(
            "Run the peer comparison of benchmarks/ at a chosen size: W10 (or W1) throughput "
            "of no-op commands, and PREEMPT (submit -> start of control commands while the "
            "prompt lane is full and 50 ms prompts are queued), for each system on each loop. "
            "The reference is lanecore's compiled core with one submit per command (lanes "
            "interleaved), beside submit_many and the hand-written pool. Prints a table with "
            "ops/s, the ratio to the reference, the ratio to the pool and PREEMPT p50/p99. "
            "Systems or loops that are not installed are skipped with a note."
        ),
    )
    bench.add_argument(
        "--size",
        type=count(1),
        default=DEFAULT_SIZE,
        metavar="N",
        help=f"commands per throughput run (default {DEFAULT_SIZE:,}; also the queued "
        "prompts in PREEMPT, at most 10,000; the a3s-lane SDK gets at most 200)",
    )
    bench.add_argument(
        "--loop",
        choices=LOOP_CHOICES,
        default="both",
        help="event loop(s) to run on (default both; uvloop is skipped when not installed)",
    )
    bench.add_argument(
        "--systems",
        type=systems_list,
        default=SYSTEMS,
        metavar="LIST",
        help=f"comma-separated systems (default all: {','.join(SYSTEMS)})",
    )
    bench.add_argument(
        "--workload",
        choices=WORKLOADS,
        default="W10",
        help="W10: 10 lanes, priorities 0-9, max 10 each (default); W1: one lane, max 10",
    )
    bench.add_argument(
        "--form",
        choices=FORMS,
        default="fn",
        help="how each command is written (lanecore and the pool): fn, an async function "
        "(default); partial, functools.partial(fn, i); object, an instance with async "
        "execute(); named, a registered handler and an int payload",
    )
    bench.add_argument(
        "--rounds",
        type=count(1),
        default=DEFAULT_ROUNDS,
        metavar="N",
        help=f"rounds per system and loop (default {DEFAULT_ROUNDS}; aiojobs and a3s-lane "
        "run once)",
    )
    bench.add_argument(
        "--tries",
        type=count(0),
        default=DEFAULT_TRIES,
        metavar="N",
        help=f"control commands per PREEMPT round (default {DEFAULT_TRIES}; 0 skips PREEMPT)",
    )
    bench.add_argument(
        "--plot",
        type=plot_path,
        metavar="PATH",
        help="also write a bar chart (.png, .svg or .pdf); needs matplotlib "
        "(pip install 'lanecore[plot]')",
    )
    bench.add_argument("--json", type=json_path, metavar="PATH", help="also write the results")
    bench.add_argument(
        "--no-live",
        action="store_true",
        help="print a plain line per step instead of a progress bar "
        "(automatic when stdout is not a terminal or rich is missing)",
    )
