"""``lanecore bench``: the peer comparison of benchmarks/ at a chosen size, from the CLI.

Plans what is installed, runs every round with a progress bar, prints the table, and writes
--json / --plot when asked. The workloads live in ``lanecore.bench`` (imported only here).
"""

from __future__ import annotations

import argparse
import json
import sys

from lanecore.cli.bench_plan import BenchOptions, make_plan
from lanecore.cli.bench_progress import choose_progress
from lanecore.cli.bench_run import run_plan
from lanecore.cli.bench_table import as_json, heading, table
from lanecore.cli.errors import CliError
from lanecore.cli.render import rich_available


def options_from(args: argparse.Namespace) -> BenchOptions:
    """The parsed ``bench`` arguments as BenchOptions."""
    return BenchOptions(
        size=args.size,
        loop=args.loop,
        systems=tuple(args.systems),
        workload=args.workload,
        form=args.form,
        rounds=args.rounds,
        tries=args.tries,
        plot=args.plot,
        json=args.json,
        no_live=args.no_live,
    )


def run(options: BenchOptions) -> int:
    """Run the comparison and print it; 0 on success (CliError for runtime failures)."""
    plan = make_plan(options)
    print(heading(plan), flush=True)
    for note in plan.notes:
        print(f"note: {note}", flush=True)
    progress = choose_progress(options.no_live)
    if not options.no_live and sys.stdout.isatty() and not rich_available():
        print("(rich is not installed: plain progress lines; pip install 'lanecore[cli]')")
    rows = run_plan(plan, progress)
    print()
    print("\n".join(table(plan, rows)), flush=True)
    if options.json is not None:
        try:
            options.json.write_text(json.dumps(as_json(plan, rows), indent=2) + "\n")
        except OSError as exc:
            raise CliError(f"--json {options.json}: {exc.strerror or exc}") from None
        print(f"wrote {options.json}")
    if options.plot is not None:
        from lanecore.cli.bench_plot import write_plot

        write_plot(rows, options.plot, options.workload)
        print(f"wrote {options.plot}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """Entry point from the argparse dispatcher."""
    return run(options_from(args))
