"""The argparse wiring of the ``lanecore`` command: subcommands, options and their checks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lanecore import __version__
from lanecore.cli.argtypes import count, seconds
from lanecore.cli.errors import CliError


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", required=True, metavar="PATH", help="an existing SQLite store (SqliteStorage)"
    )


def build_parser(prog: str = "lanecore") -> argparse.ArgumentParser:
    """The parser for every subcommand (demo, stats, dlq list|retry|clear, info)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="lanecore: prioritised lanes for asyncio work."
    )
    parser.add_argument("--version", action="version", version=f"lanecore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo",
        help="the six default lanes under a simulated agent workload, live",
        description=(
            "Run the six default lanes under a simulated agent workload (prompt commands of "
            "50-200 ms, shorter skill, query, session and system work, control commands "
            "arriving at random) with a global concurrency cap of 8, shown as a live table. "
            "Ends with per-lane waits (submit -> start) and exits 1 if control work ever "
            "waited behind prompt work."
        ),
    )
    demo.add_argument(
        "--duration",
        type=seconds,
        default=8.0,
        metavar="SECONDS",
        help="how long work keeps arriving (default 8)",
    )
    demo.add_argument(
        "--no-live",
        action="store_true",
        help="print a plain-text snapshot each second instead of the live table "
        "(automatic when stdout is not a terminal or rich is missing)",
    )
    demo.add_argument("--uvloop", action="store_true", help="run on uvloop")
    demo.add_argument(
        "--seed", type=count(0), metavar="N", help="seed of the workload (default: random, printed)"
    )
    demo.add_argument(
        "--core",
        choices=("cython", "python"),
        help="scheduling core (default: the compiled one when it loaded)",
    )

    stats = sub.add_parser(
        "stats",
        help="stored commands and dead letters of a SQLite store",
        description=(
            "Inspect a SQLite store: stored (unfinished) commands per lane and command type, "
            "the oldest one's creation time, and the number of dead letters. Never creates "
            "or modifies the database."
        ),
    )
    _add_db(stats)
    stats.add_argument("--json", action="store_true", help="machine-readable output")

    dlq = sub.add_parser(
        "dlq",
        help="list, retry or clear the dead letters of a SQLite store",
        description="The dead letters of a SQLite store.",
    )
    dlq_sub = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    dlq_list = dlq_sub.add_parser(
        "list", help="every dead letter, oldest first", description="List every dead letter."
    )
    _add_db(dlq_list)
    dlq_list.add_argument("--json", action="store_true", help="machine-readable output")
    retry = dlq_sub.add_parser(
        "retry",
        help="move a dead letter back to the stored commands (re-run on the next start)",
        description=(
            "Move a dead letter back into the store's commands (same id, type, lane and "
            "payload) and delete it from the dead letters. The CLI has no handler registry, "
            "so it cannot run the command: the next QueueManager.start() on this store "
            "re-runs it, given a handler registered for its command type. Only named "
            "commands (stored with a payload) can be retried. Best done while no manager "
            "has the store open."
        ),
    )
    retry.add_argument("id", metavar="ID", help="the dead letter's command_id")
    _add_db(retry)
    clear = dlq_sub.add_parser(
        "clear",
        help="delete every dead letter",
        description="Delete every dead letter (asks first on a terminal unless --yes).",
    )
    _add_db(clear)
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    sub.add_parser(
        "info",
        help="version, scheduling core, Python, uvloop and rich",
        description="Print the version, which core loaded, Python, and uvloop/rich availability.",
    )
    from lanecore.cli.bench_args import add_bench_parser  # stdlib only, like this module

    add_bench_parser(sub)
    from lanecore.cli.worker import add_worker_parser  # stdlib only; redis loads on use

    add_worker_parser(sub)
    return parser


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; CliError for runtime failures."""
    if args.command == "worker":
        from lanecore.cli.worker import run_worker

        return run_worker(args)
    if args.command == "bench":
        from lanecore.cli.bench import run_bench

        return run_bench(args)
    if args.command == "demo":
        from lanecore.cli.demo import DemoOptions, run

        return run(
            DemoOptions(
                duration=args.duration,
                no_live=args.no_live,
                uvloop=args.uvloop,
                seed=args.seed,
                core=args.core,
            )
        )
    if args.command == "info":
        from lanecore.cli import info

        return info.run()
    from lanecore.cli import store

    if args.command == "stats":
        return store.stats(args.db, args.json)
    if args.dlq_command == "list":
        return store.dlq_list(args.db, args.json)
    if args.dlq_command == "retry":
        return store.dlq_retry(args.db, args.id)
    return store.dlq_clear(args.db, args.yes)


def default_prog() -> str:
    """The program name for usage lines: ``python -m lanecore`` or ``lanecore`` (the script)."""
    if sys.argv and os.path.basename(sys.argv[0]) == "__main__.py":
        return "python -m lanecore"
    return "lanecore"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]) and run it. Returns the exit code: 0 success,
    1 runtime failure (one line on stderr, no traceback), 2 bad arguments, 130 interrupted."""
    parser = build_parser(default_prog())
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and bad arguments (2)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return dispatch(args)
    except CliError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    """After the reader of stdout went away (``| head``): point stdout at /dev/null so the
    interpreter's final flush does not fail again with a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (e.g. captured output)
        pass
