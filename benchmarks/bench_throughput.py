"""W10 and W1: 100,000 no-op commands submitted at once over 10 lanes (priorities 0-9, max 10
each) or into one lane (max 10), every result awaited; lanecore vs its peers.

``test_throughput``: lanecore's ``submit_many`` per lane and the peers; the pool's test also
measures lanecore ÷ pool in back-to-back pairs (``extra_info["paired_reference_ratio"]``).

``test_submit_form`` (the headline): one ``submit`` per command, command i to lane i mod n, in
each command form (``lanecore.bench.forms``), for lanecore and the pool, plus the same
commands through ``submit_many``; ``test_submit_cost``: the submitting alone, ns per command,
``submit`` vs inside ``submit_many``. These run as the user's side-by-side script does: in a
fresh interpreter that imports lanecore and not pytest (benchmarks/lean.py), a
``gc.collect()`` before each run (not timed) and no ``gc.freeze``."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import config, workloads
from benchmarks.harness import (
    Paired,
    label,
    lean_measure,
    measure,
    paired_ratio,
    record_throughput,
    skip_if_missing,
)

SYSTEMS = [*config.LANECORE_SYSTEMS, "pool", "aiojobs", "a3s-lane"]
LAYOUTS = workloads.LAYOUTS  # W10: 10 lanes (priorities 0-9, max 10 each); W1: one lane
SUBMIT_REFERENCE = f"{config.REFERENCE_SYSTEM}-submit"
FORM_SYSTEMS = [
    *(f"{system}-submit" for system in config.LANECORE_SYSTEMS),
    config.REFERENCE_SYSTEM,  # the same commands through submit_many (grouped by lane)
    "pool",
]


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
@pytest.mark.parametrize("workload", list(LAYOUTS))
def test_throughput(benchmark: Any, workload: str, loop: str, system: str) -> None:
    """Commands per second from the first submit to the last result."""
    skip_if_missing(system)
    lanes = LAYOUTS[workload]
    commands = config.A3S_COMMANDS if system == "a3s-lane" else config.W_COMMANDS
    results = measure(
        benchmark,
        lambda: workloads.throughput(system, loop, lanes, commands, a3s_threads=config.A3S_THREADS),
        rounds=config.throughput_rounds(system),
        group=f"{workload} · {loop}",
    )
    label(benchmark, table=workload, loop=loop, row=system, ref=config.REFERENCE_SYSTEM)
    record_throughput(benchmark, results)
    if system == "pool":  # the report's "lanecore ÷ pool" figure: back-to-back pairs
        reference = config.REFERENCE_SYSTEM
        benchmark.extra_info["paired_reference_ratio"] = paired_ratio(
            lambda: workloads.throughput(reference, loop, lanes, commands),
            lambda: workloads.throughput(system, loop, lanes, commands),
            config.PAIRS,
        )


def form_row(workload: str, system: str, form: str) -> str:
    """The report's row name of one result of ``test_submit_form``."""
    return f"{workload} {system} {form}"


def lean_run(system: str, loop: str, workload: str, form: str) -> dict[str, Any]:
    """One run of the one-submit-per-command workload, as benchmarks/lean.py takes it."""
    return {
        "system": system,
        "loop": loop,
        "workload": workload,
        "commands": config.W_COMMANDS,
        "form": form,
    }


@pytest.mark.parametrize("system", FORM_SYSTEMS)
@pytest.mark.parametrize("form", workloads.FORMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
@pytest.mark.parametrize("workload", list(LAYOUTS))
def test_submit_form(benchmark: Any, workload: str, loop: str, form: str, system: str) -> None:
    """Commands per second, one submit per command (lanes interleaved) in one command form,
    in a fresh process as the user's script (benchmarks/lean.py: no gc.freeze). The pool's
    test also measures lanecore-<core>-submit ÷ pool there in back-to-back pairs."""
    top = lean_run(SUBMIT_REFERENCE, loop, workload, form) if system == "pool" else None
    lean = lean_measure(
        benchmark,
        lean_run(system, loop, workload, form),
        rounds=config.ROUNDS,
        group=f"{workload} one submit each · {form} · {loop}",
        top=top,
        pairs=config.PAIRS,
    )
    label(
        benchmark,
        table="submit-forms",
        loop=loop,
        row=form_row(workload, system, form),
        ref=form_row(workload, SUBMIT_REFERENCE, form),
    )
    benchmark.extra_info.update(workload=workload, system=system, form=form)
    record_throughput(benchmark, lean.rounds)
    if lean.pairs is not None:
        benchmark.extra_info["paired_reference_ratio"] = lean.pairs.ratio


def _submit_phase(results: list[workloads.Throughput]) -> list[workloads.Throughput]:
    """The runs with their submitting alone as their time (their rate: submits per second)."""
    phases = []
    for result in results:
        assert result.submit_seconds is not None
        phases.append(
            workloads.Throughput(result.commands, result.completed, result.submit_seconds)
        )
    return phases


@pytest.mark.parametrize("form", workloads.FORMS)
@pytest.mark.parametrize("loop", config.LOOP_NAMES)
def test_submit_cost(benchmark: Any, loop: str, form: str) -> None:
    """W10 on the reference core: ns per command from the first submit to the last one
    returning, one ``submit`` each (lanes interleaved) vs the same commands through
    ``submit_many`` per lane, in back-to-back pairs (each submit run between two submit_many
    runs); every run awaits all its results; in a fresh process, as test_submit_form."""
    lean = lean_measure(
        benchmark,
        lean_run(SUBMIT_REFERENCE, loop, "W10", form),
        rounds=0,
        group=f"W10 submit phase · {loop}",
        top=lean_run(config.REFERENCE_SYSTEM, loop, "W10", form),
        pairs=config.PAIRS,
    )
    assert lean.pairs is not None
    pairs = Paired(_submit_phase(lean.pairs.tops), _submit_phase(lean.pairs.bottoms))
    label(benchmark, table="submit-cost", loop=loop, row=form, ref=None)
    benchmark.extra_info.update(
        workload="W10",
        form=form,
        system=SUBMIT_REFERENCE,
        commands=config.W_COMMANDS,
        pairs=config.PAIRS,
        submit_ns=workloads.median([r.seconds / r.commands * 1e9 for r in pairs.bottoms]),
        submit_many_ns=workloads.median([r.seconds / r.commands * 1e9 for r in pairs.tops]),
        paired_ratio=pairs.ratio,  # submit ns ÷ submit_many ns per command
    )
