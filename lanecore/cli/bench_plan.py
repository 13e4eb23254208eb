"""What ``lanecore bench`` will run: the options, the systems and loops installed here (the
rest skipped with a note), and the steps (one per round) the progress bar counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lanecore import _impl
from lanecore.bench import peers
from lanecore.bench.loops import available_loops, loop_available
from lanecore.cli.bench_args import SYSTEMS
from lanecore.cli.errors import CliError

PREEMPT_MAX_PENDING = 10_000
"""PREEMPT queues min(--size, this) prompts: the issue's 10,000."""

A3S_MAX_COMMANDS = 200
"""The a3s-lane SDK manages ~90 commands/s (it polls every 10 ms): at most 200 a run."""

A3S_THREADS = 16
SINGLE_ROUND = ("aiojobs", "a3s-lane")
"""Peers slow enough (~10k and ~90 commands/s) that one round is all a run can afford."""

NO_PREEMPT = {"a3s-lane": "its SDK runs no user code, so nothing holds the prompt lane"}


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """The ``lanecore bench`` command-line options."""

    size: int = 100_000
    loop: str = "both"
    systems: tuple[str, ...] = SYSTEMS
    workload: str = "W10"
    rounds: int = 3
    tries: int = 50
    plot: Path | None = None
    json: Path | None = None
    no_live: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """One round of one measurement: ``kind`` is "throughput" or "preempt"."""

    loop: str
    system: str
    kind: str
    round: int
    rounds: int

    @property
    def label(self) -> str:
        return f"{self.kind} · {self.loop} · {self.system} · round {self.round}/{self.rounds}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The loops and systems to run (in table order), the sizes, and why anything is skipped."""

    options: BenchOptions
    loops: tuple[str, ...]
    systems: tuple[str, ...]
    reference: str  # the row ratios divide by: the compiled core, else the twin
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def preempt_pending(self) -> int:
        return min(self.options.size, PREEMPT_MAX_PENDING)

    def commands(self, system: str) -> int:
        """Commands per throughput run for ``system``."""
        if system == "a3s-lane":
            return min(self.options.size, A3S_MAX_COMMANDS)
        return self.options.size

    def rounds(self, system: str) -> int:
        return 1 if system in SINGLE_ROUND else self.options.rounds

    def runs_preempt(self, system: str) -> bool:
        return self.options.tries > 0 and system not in NO_PREEMPT

    def steps(self) -> list[Step]:
        """Every round in the order they run: per loop, per system, throughput then PREEMPT."""
        steps: list[Step] = []
        for loop in self.loops:
            for system in self.systems:
                kinds = ["throughput", *(["preempt"] if self.runs_preempt(system) else [])]
                rounds = self.rounds(system)
                for kind in kinds:
                    steps += [Step(loop, system, kind, i + 1, rounds) for i in range(rounds)]
        return steps


def _loops(choice: str, notes: list[str]) -> tuple[str, ...]:
    if choice == "both":
        loops = available_loops()
        if "uvloop" not in loops:
            notes.append("uvloop skipped: not installed (pip install 'lanecore[uvloop]')")
        return loops
    if not loop_available(choice):
        raise CliError(f"--loop {choice}: not installed (pip install 'lanecore[uvloop]')")
    return (choice,)


def _missing(system: str) -> str | None:
    """Why ``system`` cannot run here, or None."""
    if system.startswith("lanecore-"):
        core = system.removeprefix("lanecore-")
        if core in _impl.CORES:
            return None
        return f"the {core} core is not available ({_impl.COMPILED_IMPORT_ERROR or 'not built'})"
    return peers.missing_peer(system)


def make_plan(options: BenchOptions) -> Plan:
    """Resolve the options against what is installed; CliError when nothing can run."""
    notes: list[str] = []
    loops = _loops(options.loop, notes)
    systems: list[str] = []
    for system in options.systems:
        reason = _missing(system)
        if reason is None:
            systems.append(system)
        else:
            notes.append(f"{system} skipped: {reason}")
    if not systems:
        raise CliError("nothing to run: " + "; ".join(notes))
    ordered = tuple(s for s in SYSTEMS if s in systems)
    reference = "lanecore-cython" if "cython" in _impl.CORES else "lanecore-python"
    if reference not in ordered:
        notes.append(f"no ratios: {reference} is not among the systems run")
    elif reference != "lanecore-cython":
        notes.append("ratios are to lanecore-python: the compiled core is not available")
    for system in ordered:
        if system in NO_PREEMPT and options.tries > 0:
            notes.append(f"{system}: no PREEMPT ({NO_PREEMPT[system]})")
        if system == "a3s-lane" and options.size > A3S_MAX_COMMANDS:
            notes.append(
                f"a3s-lane: {A3S_MAX_COMMANDS} commands from {A3S_THREADS} threads "
                "(its SDK polls every 10 ms, ~90 commands/s)"
            )
    return Plan(options, loops, ordered, reference, tuple(notes))
