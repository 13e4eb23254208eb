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
    form: str = "fn"
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
    reference: str | None  # the row ratios divide by (see make_plan); None: no ratios
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
        """PREEMPT runs once per core: its control commands are one submit each, so
        lanecore-<core> leaves it to lanecore-<core>-submit when both run."""
        if self.options.tries <= 0 or system in NO_PREEMPT:
            return False
        return not (is_lanecore(system) and f"{system}-submit" in self.systems)

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


def is_lanecore(system: str) -> bool:
    """lanecore-<core> (submit_many), not lanecore-<core>-submit or a peer."""
    return system.startswith("lanecore-") and not system.endswith("-submit")


def _reference(systems: tuple[str, ...], notes: list[str]) -> str | None:
    """The row ratios divide by: the best core's one-submit-per-command row, else the first
    lanecore row that runs (with a note), else None."""
    core = "cython" if "cython" in _impl.CORES else "python"
    wanted = f"lanecore-{core}-submit"
    if wanted in systems:
        if core != "cython":
            notes.append(f"ratios are to {wanted}: the compiled core is not available")
        return wanted
    ours = [s for s in systems if s.startswith("lanecore-")]
    if not ours:
        notes.append(f"no ratios: {wanted} is not among the systems run")
        return None
    notes.append(f"ratios are to {ours[0]}: {wanted} is not among the systems run")
    return ours[0]


def _missing(system: str) -> str | None:
    """Why ``system`` cannot run here, or None."""
    if system.startswith("lanecore-"):
        core = system.removeprefix("lanecore-").removesuffix("-submit")
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
    reference = _reference(ordered, notes)
    if options.form != "fn":
        for system in ("aiojobs", "a3s-lane"):
            if system in ordered:
                notes.append(f"{system}: no-op async function commands (--form is for lanecore)")
    for system in ordered:
        if system in NO_PREEMPT and options.tries > 0:
            notes.append(f"{system}: no PREEMPT ({NO_PREEMPT[system]})")
        if system == "a3s-lane" and options.size > A3S_MAX_COMMANDS:
            notes.append(
                f"a3s-lane: {A3S_MAX_COMMANDS} commands from {A3S_THREADS} threads "
                "(its SDK polls every 10 ms, ~90 commands/s)"
            )
    return Plan(options, loops, ordered, reference, tuple(notes))
