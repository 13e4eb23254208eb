"""Turn a pytest-benchmark JSON (and callgrind_core.py's JSON) into the README's markdown.

    python benchmarks/report.py benchmarks/results/latest.json \
        --callgrind benchmarks/results/callgrind.json --update benchmarks/README.md

Without --update the markdown goes to stdout. With it, the text between the README's
``<!-- report:start -->`` and ``<!-- report:end -->`` markers is replaced. Every ratio is
between two results of the same JSON, i.e. of the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START, END = "<!-- report:start -->", "<!-- report:end -->"
LOOPS = ("asyncio", "uvloop", None)
Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    fmt: Callable[[Any], str]


def _int(value: Any) -> str:
    return f"{value:,.0f}"


def _f1(value: Any) -> str:
    return f"{value:,.1f}"


def _f2(value: Any) -> str:
    return f"{value:+.2f}"


def _f2u(value: Any) -> str:
    return f"{value:,.2f}"


def _f3(value: Any) -> str:
    return f"{value:.3f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value >= 0.01 else f"{value:.2g}x"


OPS = [
    Column("commands", "commands", _int),
    Column("ops_per_s", "ops/s (median)", _int),
    Column("ops_per_s_best", "ops/s (best)", _int),
    Column("rounds", "rounds", _int),
]


@dataclass(frozen=True)
class Table:
    """One kind of result: its columns and the metric compared with the reference row, or a
    ``custom`` renderer of its own layout."""

    key: str
    title: str
    columns: list[Column]
    primary: str
    ratio_note: str
    custom: Callable[[Table, list[Row]], list[str]] | None = None


FORMS = ("fn", "partial", "object", "named")
FORM_TITLES = {
    "fn": "async function",
    "partial": "`functools.partial`",
    "object": "object command",
    "named": "named command",
}
CY = "lanecore-cython"
FORM_COLUMNS = [  # (system, header) of the forms table, left to right
    (f"{CY}-submit", f"`{CY}-submit` ops/s"),
    ("lanecore-python-submit", "`lanecore-python-submit` ops/s"),
    (CY, f"`{CY}` (`submit_many`) ops/s"),
    ("pool", "`pool` ops/s"),
]


def _loop_rows(benches: list[Row], table: str, loop: str | None) -> list[dict[str, Any]]:
    return [
        _info(b) for b in benches if _info(b).get("table") == table and _info(b).get("loop") == loop
    ]


def forms_section(table: Table, benches: list[Row]) -> list[str]:
    """One row per workload and form: each system's ops/s side by side, then lanecore's
    one-submit rate ÷ the pool's (paired when measured so) and submit_many's ÷ the pool's."""
    lines: list[str] = []
    for loop in LOOPS:
        rows = _loop_rows(benches, table.key, loop)
        if not rows:
            continue
        by = {(r["workload"], r["system"], r["form"]): r for r in rows}
        systems = [(s, h) for s, h in FORM_COLUMNS if any(k[1] == s for k in by)]
        workloads = list(dict.fromkeys(r["workload"] for r in rows))
        headers = [
            "workload",
            "form",
            *(h for _, h in systems),
            f"`{CY}-submit` ÷ `pool`",
            f"`{CY}` (`submit_many`) ÷ `pool`",
        ]
        lines += [f"#### {table.title} — {loop}", ""]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|---|---|" + "|".join(["---:"] * (len(headers) - 2)) + "|")
        for workload in workloads:
            for form in FORMS:
                present = [by.get((workload, s, form)) for s, _ in systems]
                if not any(present):
                    continue
                cells = [workload, FORM_TITLES[form]]
                cells += [_int(r["ops_per_s"]) if r else "—" for r in present]
                single = by.get((workload, f"{CY}-submit", form))
                many = by.get((workload, CY, form))
                pool = by.get((workload, "pool", form))
                if pool is not None and "paired_reference_ratio" in pool:
                    cells.append(f"{_ratio(pool['paired_reference_ratio'])} (paired)")
                elif pool is not None and single is not None:
                    cells.append(_ratio(single["ops_per_s"] / pool["ops_per_s"]))
                else:
                    cells.append("—")
                both = pool is not None and many is not None
                cells.append(_ratio(many["ops_per_s"] / pool["ops_per_s"]) if both else "—")
                lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"{table.ratio_note}.", ""]
    return lines


def cost_section(table: Table, benches: list[Row]) -> list[str]:
    """Per form: ns per command of the submitting alone, one submit each vs submit_many."""
    lines: list[str] = []
    for loop in LOOPS:
        rows = {r["form"]: r for r in _loop_rows(benches, table.key, loop)}
        if not rows:
            continue
        lines += [
            f"#### {table.title} — {loop}",
            "",
            "| form | `submit` ns/command | inside `submit_many` ns/command "
            "| `submit` ÷ `submit_many` |",
            "|---|---:|---:|---:|",
        ]
        for form in FORMS:
            if form in rows:
                r = rows[form]
                lines.append(
                    f"| {FORM_TITLES[form]} | {_int(r['submit_ns'])} | {_int(r['submit_many_ns'])}"
                    f" | {_ratio(r['paired_ratio'])} (paired) |"
                )
        lines += ["", f"{table.ratio_note}.", ""]
    return lines


TABLES = [
    Table(
        "submit-forms",
        "W10/W1: one submit per command, by form",
        OPS,
        "ops_per_s",
        "100,000 no-op commands a run, command i to lane i mod n, one `submit` (or `pool.submit`) "
        "each; `submit_many` gets the same commands grouped by lane. ops/s: median of 5 rounds; "
        "`÷ pool`: rate ÷ the pool's rate, lanecore-cython-submit's measured in back-to-back "
        "pairs. Every run in a fresh process that imports lanecore and not pytest "
        "(`benchmarks/lean.py`), a `gc.collect()` before it, no `gc.freeze`",
        custom=forms_section,
    ),
    Table(
        "submit-cost",
        "Submitting alone, W10, lanecore-cython: ns per command, one `submit` each vs "
        "inside `submit_many`",
        [],
        "paired_ratio",
        "time from the first submit to the last one returning ÷ commands, median of the runs; "
        "the ratio is measured in back-to-back pairs (each `submit` run between two "
        "`submit_many` runs of the same commands); the issue's bound is ≤ 1.3x. "
        "Run as the table above (`benchmarks/lean.py`, no `gc.freeze`)",
        custom=cost_section,
    ),
    Table(
        "W10",
        "W10: `submit_many` per lane vs the peers, no-op commands over 10 lanes "
        "(priorities 0-9, max 10 each)",
        OPS,
        "ops_per_s",
        "ops/s ÷ lanecore-cython's (higher is faster); `gc.freeze()` before each round",
    ),
    Table(
        "W1",
        "W1: `submit_many` vs the peers, no-op commands into one lane (max 10)",
        OPS,
        "ops_per_s",
        "ops/s ÷ lanecore-cython's (higher is faster); `gc.freeze()` before each round",
    ),
    Table(
        "PREEMPT",
        "PREEMPT: control command submit → start, prompt lane full and prompts queued",
        [
            Column("p50_us", "p50 µs", _f1),
            Column("p99_us", "p99 µs", _f1),
            Column("max_us", "max µs", _f1),
            Column("first_us", "1st try µs", _f1),
            Column("queued_before_first_control", "queued prompts run before 1st control", _int),
            Column("queued_during_tries", "queued prompts run during the tries", _int),
            Column("pending", "queued prompts", _int),
            Column("prompt_ms", "ms per prompt", _int),
            Column("samples", "samples", _int),
            Column("gave_up", "rounds given up (a try > 1 s)", _int),
        ],
        "p99_us",
        "p99 ÷ lanecore-cython's (higher is slower)",
    ),
    Table(
        "core",
        "Core: push + pop over 64 lanes of a LaneTable (no event loop)",
        OPS,
        "ops_per_s",
        "push+pop pairs/s ÷ the compiled core's",
    ),
    Table(
        "bucket",
        "Token bucket: non-blocking acquisitions while tokens are available",
        OPS,
        "ops_per_s",
        "acquisitions/s ÷ lanecore-cython's",
    ),
    Table(
        "rate",
        "Rate limit: one lane at 1000/s kept busy",
        [
            Column("seconds", "window s", _f1),
            Column("started", "started in window", _int),
            Column("burst", "initial burst", _int),
            Column("expected", "expected after burst", _int),
            Column("error_pct", "error %", _f2),
            Column("cpu_pct", "CPU % of a core", _f1),
        ],
        "cpu_pct",
        "CPU ÷ lanecore-cython's",
    ),
    Table(
        "lanes",
        "Scaling: the same commands over 1 … 1,000 lanes",
        OPS,
        "ops_per_s",
        "ops/s ÷ the same core with 10 lanes",
    ),
    Table(
        "pending",
        "Scaling: drain rate with N commands queued first",
        OPS,
        "ops_per_s",
        "ops/s ÷ the same core with the fewest pending",
    ),
    Table(
        "memory",
        "Memory per pending command (tracemalloc)",
        [
            Column("items", "items", _int),
            Column("bytes_per_item", "bytes/item", _f1),
            Column("peak_bytes_per_item", "peak bytes/item", _f1),
        ],
        "bytes_per_item",
        "bytes/item ÷ the compiled core's",
    ),
    Table(
        "overheads",
        "Overheads on W10",
        OPS,
        "ops_per_s",
        "ops/s ÷ plain W10 on the same core (1.00 = no cost)",
    ),
    Table(
        "REDIS",
        "Redis: no-op named jobs, 2 worker processes, 50 at a time each, all enqueued at once",
        [
            *OPS,
            Column("p50_ms", "p50 ms", _f1),
            Column("p99_ms", "p99 ms", _f1),
            Column("cpu_workers_ms_per_job", "workers CPU ms/job", _f3),
            Column("cpu_redis_ms_per_job", "redis CPU ms/job", _f3),
            Column("cpu_producer_ms_per_job", "producer CPU ms/job", _f3),
            Column("per_process", "jobs per process", str),
        ],
        "ops_per_s",
        "ops/s ÷ lanecore-redis's (higher is faster); latency = enqueue → completion, "
        "mostly the wait behind the burst",
    ),
    Table(
        "REDIS-paced",
        "Redis: the same, one job at a time at a fixed rate (latency without a backlog)",
        [
            Column("rate", "jobs/s offered", _int),
            Column("commands", "jobs", _int),
            Column("p50_ms", "p50 ms", _f2u),
            Column("p99_ms", "p99 ms", _f2u),
            Column("max_ms", "max ms", _f1),
            Column("cpu_workers_ms_per_job", "workers CPU ms/job", _f3),
            Column("cpu_redis_ms_per_job", "redis CPU ms/job", _f3),
        ],
        "p99_ms",
        "p99 ÷ lanecore-redis's (higher is slower)",
    ),
]


def load(path: Path) -> tuple[dict[str, Any], list[Row]]:
    data = json.loads(path.read_text())
    return data, data["benchmarks"]


def _info(bench: Row) -> dict[str, Any]:
    info: dict[str, Any] = bench.get("extra_info") or {}
    return info


def find(benches: Iterable[Row], table: str, row: str, loop: str | None) -> dict[str, Any] | None:
    """The extra_info of one result, or None if that benchmark did not run."""
    for bench in benches:
        info = _info(bench)
        if info.get("table") == table and info.get("row") == row and info.get("loop") == loop:
            return info
    return None


def machine_section(data: dict[str, Any]) -> list[str]:
    machine = data["machine_info"]
    ours = machine.get("lanecore", {})
    versions = ours.get("versions", {})
    commit = data.get("commit_info") or {}
    dirty = " + uncommitted changes" if commit.get("dirty") else ""
    peers = ", ".join(
        f"{name} {versions[name]}"
        for name in ("aiojobs", "aiolimiter", "a3s-lane", "bullmq", "arq", "redis")
        if versions.get(name)
    )
    return [
        "| | |",
        "|---|---|",
        f"| run | {data.get('datetime', '?')} (LANECORE_BENCH_SCALE={ours.get('scale', '?')}) |",
        f"| commit | {commit.get('id', '?')[:12]}{dirty} |",
        f"| CPUs (nproc) | {ours.get('nproc', machine.get('cpu', {}).get('count', '?'))} |",
        f"| load average at the end (1, 5, 15 min) | {ours.get('loadavg', '?')} |",
        f"| CPU model (/proc/cpuinfo) | {ours.get('cpu_model', '?')} |",
        f"| Python | {machine.get('python_implementation')} {machine.get('python_version')} |",
        f"| uvloop | {versions.get('uvloop') or 'not installed'} |",
        f"| lanecore | {versions.get('lanecore', '?')}, default core "
        f"{ours.get('implementation', '?')} (Cython {versions.get('Cython') or '?'}) |",
        f"| pytest-benchmark | {versions.get('pytest-benchmark', '?')} |",
        f"| peers | {peers or 'none installed'} |",
    ]


def table_section(table: Table, benches: list[Row]) -> list[str]:
    if table.custom is not None:
        return table.custom(table, benches)
    lines: list[str] = []
    for loop in LOOPS:
        rows = [
            _info(b)
            for b in benches
            if _info(b).get("table") == table.key and _info(b).get("loop") == loop
        ]
        if not rows:
            continue
        where = f" — {loop}" if loop else ""
        lines += [f"#### {table.title}{where}", ""]
        headers = ["system", *(c.header for c in table.columns), "ratio"]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
        for info in rows:
            ref = find(benches, table.key, info.get("ref", ""), loop)
            ratio = "—"
            if ref is not None and ref.get(table.primary):
                ratio = _ratio(info[table.primary] / ref[table.primary])
            cells = [f"`{info['row']}`"]
            cells += [c.fmt(info[c.key]) if c.key in info else "—" for c in table.columns]
            lines.append("| " + " | ".join([*cells, ratio]) + " |")
        lines += ["", f"ratio: {table.ratio_note}.", ""]
    return lines


def other_section(benches: list[Row]) -> list[str]:
    """Benchmarks in the run that are not this suite's (e.g. bench_compat.py): name + median."""
    others = [b for b in benches if "table" not in _info(b)]
    if not others:
        return []
    lines = [
        "#### Other benchmarks in the same run",
        "",
        "| benchmark | median s | extra_info |",
        "|---|---:|---|",
    ]
    for bench in others:
        extra = ", ".join(
            f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in _info(bench).items()
        )
        lines.append(f"| `{bench['name']}` | {bench['stats']['median']:.3f} | {extra} |")
    return [*lines, ""]


# ------------------------------------------------------------------------------ figures
@dataclass(frozen=True)
class Figure:
    """One line of the Figures table: what is measured per loop and when it meets its target
    (``ok``, or ``ok_on[loop]`` where a loop has a target of its own)."""

    name: str
    target: str
    measure: Callable[[list[Row], str | None], tuple[float, str] | None]  # (value, shown) per loop
    ok: Callable[[float], bool]
    loops: tuple[str | None, ...] = ("uvloop", "asyncio")
    ok_on: dict[str | None, Callable[[float], bool]] = field(default_factory=dict)

    def met(self, value: float, loop: str | None) -> bool:
        return self.ok_on.get(loop, self.ok)(value)


def _metric(
    table: str, row: str, key: str, *, ratio: bool = False
) -> Callable[[list[Row], str | None], tuple[float, str] | None]:
    def get(benches: list[Row], loop: str | None) -> tuple[float, str] | None:
        info = find(benches, table, row, loop)
        if info is None or key not in info:
            return None
        value = float(info[key])
        if ratio:
            return value, f"{value:.2f}x (paired)"
        return value, f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"

    return get


def _quotient(
    table: str, top: str, bottom: str, key: str, invert: bool = False
) -> Callable[[list[Row], str | None], tuple[float, str] | None]:
    def get(benches: list[Row], loop: str | None) -> tuple[float, str] | None:
        a, b = find(benches, table, top, loop), find(benches, table, bottom, loop)
        if a is None or b is None or not a.get(key) or not b.get(key):
            return None
        value = b[key] / a[key] if invert else a[key] / b[key]
        return value, f"{value:,.2f}x" if value < 100 else f"{value:,.0f}x"

    return get


def _slowdown(variant: str) -> Callable[[list[Row], str | None], tuple[float, str] | None]:
    """How much slower W10 runs with one overhead variant on than plain, in %."""

    def get(benches: list[Row], loop: str | None) -> tuple[float, str] | None:
        plain = find(benches, "overheads", "lanecore-cython plain", loop)
        other = find(benches, "overheads", f"lanecore-cython {variant}", loop)
        if plain is None or other is None:
            return None
        if "paired_slowdown_pct" in other:
            value = float(other["paired_slowdown_pct"])
            return value, f"{value:+.0f} % (paired)"
        value = (plain["ops_per_s"] / other["ops_per_s"] - 1.0) * 100.0
        return value, f"{value:+.0f} %"

    return get


def _largest_pending(benches: list[Row], loop: str | None) -> tuple[float, str] | None:
    rows = [
        _info(b)
        for b in benches
        if _info(b).get("table") == "pending"
        and _info(b).get("loop") == loop
        and _info(b)["row"].startswith("lanecore-cython ")
    ]
    if len(rows) < 2:
        return None
    rows.sort(key=lambda info: info["pending"])
    value = rows[-1]["ops_per_s"] / rows[0]["ops_per_s"]
    return value, f"{value:.2f}x ({rows[-1]['pending']:,} vs {rows[0]['pending']:,})"


def _paired_quotient(
    table: str, top: str, bottom: str
) -> Callable[[list[Row], str | None], tuple[float, str] | None]:
    """top ÷ bottom throughput measured in back-to-back pairs (recorded on bottom's row),
    else the quotient of the two rows' medians."""
    plain = _quotient(table, top, bottom, "ops_per_s")

    def get(benches: list[Row], loop: str | None) -> tuple[float, str] | None:
        info = find(benches, table, bottom, loop)
        if info is None or "paired_reference_ratio" not in info:
            return plain(benches, loop)
        value = float(info["paired_reference_ratio"])
        return value, f"{value:,.2f}x (paired)"

    return get


def _single_submit(workload: str, form: str) -> Figure:
    """lanecore-cython, one submit per command in ``form``, ÷ the pool (paired)."""
    return Figure(
        f"{workload}, one `submit` per command, {FORM_TITLES[form]}: lanecore ÷ hand-written pool",
        "≥ 4x on uvloop, ≥ 3x on asyncio",
        _paired_quotient(
            "submit-forms", f"{workload} {CY}-submit {form}", f"{workload} pool {form}"
        ),
        lambda v: v >= 4,
        ok_on={"asyncio": lambda v: v >= 3},
    )


def _submit_cost(form: str) -> Figure:
    """ns per command of one submit ÷ of the same command inside submit_many (paired)."""
    return Figure(
        f"`submit` ÷ inside `submit_many`, ns per command (W10), {FORM_TITLES[form]}",
        "≤ 1.3x",
        _metric("submit-cost", form, "paired_ratio", ratio=True),
        lambda v: v <= 1.3,
    )


def figures(callgrind: dict[str, Any] | None) -> list[Figure]:
    cy = CY
    result = [
        *(_single_submit("W10", form) for form in FORMS),
        Figure(
            "W10, `submit_many` per lane (gc.freeze before each round): lanecore ÷ pool",
            "≥ 6x on uvloop",
            _paired_quotient("W10", cy, "pool"),
            lambda v: v >= 6,
            ("uvloop",),
        ),
        *(_single_submit("W1", form) for form in FORMS),
        *(_submit_cost(form) for form in FORMS),
        Figure(
            "W10 throughput, lanecore (compiled), `submit_many`",
            "≥ 1,000,000 ops/s on uvloop",
            _metric("W10", cy, "ops_per_s"),
            lambda v: v >= 1_000_000,
            ("uvloop",),
        ),
        Figure(
            "W10: lanecore ÷ a3s-lane SDK",
            "≥ 10,000x on uvloop",
            _quotient("W10", cy, "a3s-lane", "ops_per_s"),
            lambda v: v >= 10_000,
            ("uvloop",),
        ),
        Figure(
            "PREEMPT p99, lanecore (compiled)",
            "≤ 50 µs",
            _metric("PREEMPT", cy, "p99_us"),
            lambda v: v <= 50,
        ),
        Figure(
            "PREEMPT p99: pool ÷ lanecore",
            "≥ 40x (lanecore ≤ 1/40 of the pool)",
            _quotient("PREEMPT", "pool", cy, "p99_us"),
            lambda v: v >= 40,
        ),
        Figure(
            "1,000 lanes ÷ 10 lanes throughput",
            "≥ 0.8x",
            _quotient("lanes", f"{cy} 1000 lanes", f"{cy} 10 lanes", "ops_per_s"),
            lambda v: v >= 0.8,
        ),
        Figure(
            "same, total slots fixed at 1,000 (max 1000/lanes each)",
            "(context)",
            _quotient(
                "lanes",
                f"{cy} 1000 lanes (max 1 each, 1000 slots)",
                f"{cy} 10 lanes (max 100 each, 1000 slots)",
                "ops_per_s",
            ),
            lambda v: v >= 0.8,
        ),
        Figure(
            "1M pending ÷ 1k pending drain rate", "≥ 0.8x", _largest_pending, lambda v: v >= 0.8
        ),
        Figure(
            "core memory per pending command (compiled)",
            "≤ 250 bytes",
            _metric("memory", f"{cy} core", "bytes_per_item"),
            lambda v: v <= 250,
            (None,),
        ),
        Figure(
            "rate limit 1000/s over 5 s, error",
            "within ±1 %",
            _metric("rate", cy, "error_pct"),
            lambda v: abs(v) <= 1.0,
        ),
        Figure(
            "CPU while a lane waits for tokens",
            "< 5 % of a core",
            _metric("rate", cy, "cpu_pct"),
            lambda v: v < 5.0,
        ),
        Figure(
            "CPU while only waiting (next token a minute away)",
            "(context)",
            _metric("rate", f"{cy} idle", "cpu_pct"),
            lambda v: v < 5.0,
        ),
        Figure(
            "one subscriber: slowdown vs none",
            "≤ 15 % slower",
            _slowdown("subscriber"),
            lambda v: v <= 15.0,
        ),
        Figure(
            "LocalMetrics on: slowdown vs off",
            "≤ 10 % slower",
            _slowdown("metrics"),
            lambda v: v <= 10.0,
        ),
        Figure(
            "Redis, 2 worker processes: lanecore ÷ bullmq throughput",
            "≥ 2x",
            _quotient("REDIS", "lanecore-redis", "bullmq", "ops_per_s"),
            lambda v: v >= 2,
        ),
    ]
    if callgrind is not None and "ratio" in callgrind:
        ratio, net = float(callgrind["ratio"]), float(callgrind["net_ratio"])

        def instr(_benches: list[Row], _loop: str | None) -> tuple[float, str]:
            per = callgrind["per_push_pop"]
            return ratio, (
                f"{ratio:.1f}x ({per['python']:,.0f} vs {per['cython']:,.0f} instr; "
                f"{net:.1f}x net of call overhead)"
            )

        result.insert(
            next(i for i, f in enumerate(result) if f.name.startswith("PREEMPT p99:")) + 1,
            Figure(
                "instructions per push+pop: twin ÷ compiled",
                "≥ 5x",
                instr,
                lambda v: v >= 5,
                (None,),
            ),
        )
    return result


def figures_section(benches: list[Row], callgrind: dict[str, Any] | None) -> list[str]:
    lines = ["| figure | target | measured | met? |", "|---|---|---|---|"]
    for figure in figures(callgrind):
        shown, verdicts = [], []
        for loop in figure.loops:
            got = figure.measure(benches, loop)
            if got is None:
                continue
            value, text = got
            met = figure.met(value, loop)
            verdicts.append((loop, met))
            shown.append(f"{loop}: {text}" if loop else text)
        if not verdicts:
            lines.append(f"| {figure.name} | {figure.target} | not measured | — |")
            continue
        if all(met for _, met in verdicts):
            met_text = "yes"
        elif not any(met for _, met in verdicts):
            met_text = "**no**"
        else:
            met_text = "only " + ", ".join(str(loop) for loop, met in verdicts if met)
        lines.append(f"| {figure.name} | {figure.target} | {'; '.join(shown)} | {met_text} |")
    return [*lines, ""]


def render(data: dict[str, Any], benches: list[Row], callgrind: dict[str, Any] | None) -> str:
    lines = ["### Machine", "", *machine_section(data), "", "### Figures", ""]
    lines += figures_section(benches, callgrind)
    lines += ["### Results", ""]
    for table in TABLES:
        lines += table_section(table, benches)
    if callgrind is not None:
        per, net = callgrind["per_push_pop"], callgrind["net_per_push_pop"]
        lines += [
            f"#### Core: instructions per push+pop (callgrind, N={callgrind['n']:,}, "
            f"{callgrind['lanes']} lanes, commit {callgrind.get('commit', '?')})",
            "",
            "| core | instructions per push+pop | net of call overhead | ratio |",
            "|---|---:|---:|---:|",
        ]
        for core in per:
            ratio = per[core] / per.get("cython", per[core])
            lines.append(f"| `{core}` | {per[core]:,.0f} | {net[core]:,.0f} | {ratio:.1f}x |")
        lines += [
            "",
            f"call overhead (the same loops around trivial C calls): "
            f"{callgrind['harness_per_push_pop']:,.0f} instructions per pair; "
            "ratio: instructions ÷ the compiled core's.",
            "",
        ]
    lines += other_section(benches)
    return "\n".join(lines).rstrip() + "\n"


def update(readme: Path, text: str) -> None:
    """Replace what lies between the report markers in ``readme``."""
    body = readme.read_text()
    try:
        head, rest = body.split(START, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"{readme} has no {START} … {END} markers") from None
    readme.write_text(f"{head}{START}\n{text}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--callgrind", type=Path, help="callgrind_core.py --json output")
    parser.add_argument("--update", type=Path, help="rewrite this README between the markers")
    args = parser.parse_args(argv)
    data, benches = load(args.json)
    callgrind = None
    if args.callgrind is not None and args.callgrind.exists():
        callgrind = json.loads(args.callgrind.read_text())
    text = render(data, benches, callgrind)
    if args.update:
        update(args.update, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
