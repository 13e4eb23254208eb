"""Run the plan of ``lanecore bench``: every round of every step, with a gc.collect() before
each (not timed), reporting progress; one result row per system and loop."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from lanecore.bench.preempt import preempt
from lanecore.bench.results import Preempt, Throughput, median, percentile
from lanecore.bench.throughput import LAYOUTS, throughput
from lanecore.cli.bench_plan import A3S_THREADS, Plan, Step
from lanecore.cli.bench_progress import BenchProgress
from lanecore.cli.errors import CliError


@dataclass(frozen=True, slots=True)
class BenchRow:
    """One system on one loop: throughput over the rounds and PREEMPT over every try."""

    system: str
    loop: str
    commands: int
    rounds: int
    ops_per_s: float  # median over the rounds
    ops_per_s_best: float
    ratio: float | None  # ops/s ÷ the reference row's on the same loop
    vs_pool: float | None  # ops/s ÷ the pool's on the same loop
    preempt_p50_us: float | None = None
    preempt_p99_us: float | None = None
    preempt_samples: int = 0
    preempt_gave_up: bool = False  # a control waited longer than the patience


def _throughput(plan: Plan, step: Step) -> Throughput:
    lanes = LAYOUTS[plan.options.workload]
    commands = plan.commands(step.system)
    result = throughput(
        step.system,
        step.loop,
        lanes,
        commands,
        a3s_threads=A3S_THREADS,
        form=plan.options.form,
    )
    if result.completed != result.commands:
        raise CliError(
            f"{step.label}: only {result.completed} of {result.commands} commands completed"
        )
    return result


def _preempt(plan: Plan, step: Step) -> Preempt:
    result = preempt(step.system, step.loop, plan.preempt_pending, plan.options.tries)
    if result.completed != result.expected:
        raise CliError(f"{step.label}: {result.completed} of {result.expected} commands completed")
    return result


def run_plan(plan: Plan, progress: BenchProgress) -> list[BenchRow]:
    """Measure every step of ``plan`` in order; rows in plan order (loop, then system)."""
    rates: dict[tuple[str, str], list[Throughput]] = {}
    latencies: dict[tuple[str, str], list[Preempt]] = {}
    steps = plan.steps()
    progress.start(len(steps))
    try:
        for step in steps:
            progress.begin(step.label)
            gc.collect()
            key = (step.loop, step.system)
            if step.kind == "throughput":
                result = _throughput(plan, step)
                rates.setdefault(key, []).append(result)
                shown = f"{result.ops_per_s:,.0f} ops/s"
            else:
                run = _preempt(plan, step)
                latencies.setdefault(key, []).append(run)
                shown = f"p50 {run.p50_us:,.1f} µs, p99 {run.p99_us:,.1f} µs"
                if run.gave_up:
                    shown += " (gave up waiting)"
            progress.end(step.label, shown)
    finally:
        progress.stop()
    return _rows(plan, rates, latencies)


def _rows(
    plan: Plan,
    rates: dict[tuple[str, str], list[Throughput]],
    latencies: dict[tuple[str, str], list[Preempt]],
) -> list[BenchRow]:
    rows: list[BenchRow] = []

    def rate_of(loop: str, system: str | None) -> float | None:
        runs = rates.get((loop, system)) if system is not None else None
        return median([r.ops_per_s for r in runs]) if runs else None

    for loop in plan.loops:
        ref_rate = rate_of(loop, plan.reference)
        pool_rate = rate_of(loop, "pool")
        for system in plan.systems:
            runs = rates[(loop, system)]
            rate = median([r.ops_per_s for r in runs])
            tries = latencies.get((loop, system), [])
            samples = [us for run in tries for us in run.latencies_us]
            rows.append(
                BenchRow(
                    system=system,
                    loop=loop,
                    commands=runs[0].commands,
                    rounds=len(runs),
                    ops_per_s=rate,
                    ops_per_s_best=max(r.ops_per_s for r in runs),
                    ratio=rate / ref_rate if ref_rate else None,
                    vs_pool=rate / pool_rate if pool_rate else None,
                    preempt_p50_us=percentile(samples, 50) if samples else None,
                    preempt_p99_us=percentile(samples, 99) if samples else None,
                    preempt_samples=len(samples),
                    preempt_gave_up=any(run.gave_up for run in tries),
                )
            )
    return rows
