"""Instructions per push+pop of each LaneTable core, counted by valgrind's callgrind.

    python benchmarks/callgrind_core.py [--n 100000] [--json benchmarks/results/callgrind.json]

For each core, a child Python process pushes N placeholders round-robin over 64 lanes and pops
them all (the loops run in C: ``map`` and ``iter(pop_ready, None)``), under
``valgrind --tool=callgrind``. The same child with N=0 is the baseline, so interpreter start-up,
imports and table set-up cancel out: instructions per push+pop = (I(N) - I(0)) / N.

That figure still includes CPython's cost of calling the method from ``map``/``iter``. A third
child ("harness") runs the same loops with trivial C callables in place of push and pop;
subtracting it gives the core's own instructions ("net"). Counts are exact and repeatable
(unlike timings on a shared machine), which is why the compiled-vs-twin figure is taken here.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from itertools import repeat
from pathlib import Path

LANES = 64
MODES = ("cython", "python", "harness")


def child(mode: str, n: int, lanes: int) -> None:
    """The measured process: build a table, push n items, pop them all."""
    from lanecore import _impl

    table = _impl.get_core("python" if mode == "harness" else mode).LaneTable(0)
    for i in range(lanes):
        table.add_lane(i % 16, 1, max(n, 1))
    lane_of = [i % lanes for i in range(n)]
    item = object()
    if mode == "harness":  # the same C-level loops around calls that do (almost) nothing
        push = operator.is_  # a C function of two arguments, with no side effect
        pop = repeat(item, n).__next__  # StopIteration after n ends iter() like None would
    else:
        push = table.push
        pop = table.pop_ready
    deque(map(push, lane_of, repeat(item, n)), maxlen=0)
    deque(iter(pop, None), maxlen=0)
    if mode != "harness" and (table.total_pending != 0 or table.total_active != n):
        raise SystemExit(f"{mode}: expected {n} active, 0 pending")


def instructions(mode: str, n: int, lanes: int, valgrind: str) -> int:
    """Total instructions callgrind counted for one child run."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        command = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            mode,
            "--n",
            str(n),
            "--lanes",
            str(lanes),
        ]
        env = dict(os.environ, PYTHONHASHSEED="0")
        subprocess.run(command, check=True, env=env, capture_output=True, text=True)
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no instruction total in callgrind output for {mode} n={n}")


def measure(n: int, lanes: int, valgrind: str) -> dict[str, object]:
    """Per-pair instruction counts of every mode, the net figures and the twin/compiled ratio."""
    from lanecore import _impl

    modes = [m for m in MODES if m != "cython" or "cython" in _impl.CORES]
    gross: dict[str, float] = {}
    for mode in modes:
        total = instructions(mode, n, lanes, valgrind)
        base = instructions(mode, 0, lanes, valgrind)
        gross[mode] = (total - base) / n
        print(f"{mode:8} I(N)={total:>13,}  I(0)={base:>13,}  per push+pop: {gross[mode]:,.0f}")
    harness = gross.pop("harness")
    net = {core: value - harness for core, value in gross.items()}
    result: dict[str, object] = {
        "commit": _commit(),
        "n": n,
        "lanes": lanes,
        "per_push_pop": gross,
        "harness_per_push_pop": harness,
        "net_per_push_pop": net,
    }
    if "cython" in gross:
        result["ratio"] = gross["python"] / gross["cython"]
        result["net_ratio"] = net["python"] / net["cython"]
        print(
            f"twin / compiled: {result['ratio']:.1f}x per push+pop "
            f"({result['net_ratio']:.1f}x net of the {harness:,.0f}-instruction call harness)"
        )
    return result


def _commit() -> str:
    """The checked-out commit (+ "dirty" when the work tree differs), for the record."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' dirty' if dirty else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="push+pop pairs (default 100k)")
    parser.add_argument("--lanes", type=int, default=LANES)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.n, args.lanes)
        return 0
    if args.n < 1:
        parser.error("--n must be >= 1")
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind not found: apt-get install -y valgrind", file=sys.stderr)
        return 2
    result = measure(args.n, args.lanes, valgrind)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
