"""The one-submit-per-command rows' process: a fresh interpreter that imports lanecore and
nothing of pytest, as the user's side-by-side script is. It reads a spec (JSON) on stdin, runs
the rounds and back-to-back pairs it asks for, with a ``gc.collect()`` before each run (not
timed) and no ``gc.freeze`` or ``gc.disable``, and writes every run's result as JSON.

In the pytest process a run's garbage collections also walk pytest's heap, and that costs
the pool, whose queued items stay tracked by the GC, far more than lanecore, which keeps its
queued handles from the young generations: the pool measured ~1/3 slower there than in a
script, lanecore about the same. Here both see the heap a script has.

    python -m benchmarks.lean < spec.json   # what harness.in_lean_process runs

spec: ``{"run": RUN, "rounds": N, "top": RUN | null, "pairs": P}`` where RUN is
``{"system": ..., "loop": ..., "workload": "W10" | "W1", "commands": ..., "form": ...}``;
with ``top``, P pairs follow the rounds: top, run, top, run, ..., top.
"""

from __future__ import annotations

import gc
import json
import sys
from dataclasses import asdict
from typing import Any

from lanecore.bench.results import Throughput
from lanecore.bench.throughput import LAYOUTS, throughput


def one(run: dict[str, Any]) -> dict[str, Any]:
    """One run after a ``gc.collect()`` (not timed), as a JSON-able dict."""
    gc.collect()
    result: Throughput = throughput(
        run["system"], run["loop"], LAYOUTS[run["workload"]], run["commands"], form=run["form"]
    )
    return asdict(result)


def main() -> int:
    spec = json.load(sys.stdin)
    rounds = [one(spec["run"]) for _ in range(spec["rounds"])]
    tops: list[dict[str, Any]] = []
    bottoms: list[dict[str, Any]] = []
    if spec.get("top") is not None:
        tops.append(one(spec["top"]))
        for _ in range(spec["pairs"]):
            bottoms.append(one(spec["run"]))
            tops.append(one(spec["top"]))
    json.dump({"rounds": rounds, "tops": tops, "bottoms": bottoms}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
