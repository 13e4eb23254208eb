"""``lanecore bench`` (issue 5): the peer comparison from the CLI at tiny sizes.

Runs go through ``main([...])`` in-process (stdout captured, so plain progress lines), plus
one ``python -m lanecore bench`` subprocess. Only results and output are checked, never
timings beyond "the pool's control waited for a 50 ms prompt, lanecore's did not".
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lanecore import _impl
from lanecore.cli import main
from lanecore.cli.bench_progress import PlainProgress, RichProgress, choose_progress

REPO = Path(__file__).resolve().parent.parent
CORES = [core for core in ("cython", "python") if core in _impl.CORES]
LANECORE = [f"lanecore-{core}{mode}" for core in CORES for mode in ("-submit", "")]
BATCH = f"lanecore-{CORES[0]}"  # the best core's submit_many row
REFERENCE = f"{BATCH}-submit"  # the best core, one submit per command
TINY = ["bench", "--size", "200", "--rounds", "1", "--tries", "3", "--loop", "asyncio"]
HEADER = re.compile(
    r"^system\s+loop\s+commands\s+ops/s\s+ratio\s+÷ pool\s+PREEMPT p50 µs\s+PREEMPT p99 µs$",
    re.M,
)
RATIO, VS_POOL, P50, P99 = 4, 5, 6, 7  # cell indexes


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> dict[str, list[str]]:
    """The result table's rows by system (cells split on runs of 2+ spaces)."""
    lines = out[HEADER.search(out).end() :].strip().splitlines()  # type: ignore[union-attr]
    rows = {}
    for line in lines:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return rows


def us(cell: str) -> float:
    return float(cell.rstrip("*").replace(",", ""))


def test_tiny_run_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    systems = ",".join([*LANECORE, "pool"])
    code, out, err = run_cli(capsys, *TINY, "--systems", systems)
    assert code == 0, err
    assert (
        "W10, fn form (async function), 200 commands a run, 1 round; "
        "PREEMPT: 200 queued 50 ms prompts"
    ) in out
    assert re.search(r"^\[1/\d+\] throughput · asyncio · ", out, re.M)  # plain progress
    rows = table_rows(out)
    assert list(rows) == [*LANECORE, "pool"]  # the reference row first
    for cells in rows.values():
        assert cells[1:3] == ["asyncio", "200"]
        assert float(cells[3].replace(",", "")) > 0
        assert cells[RATIO].endswith("x") and cells[VS_POOL].endswith("x")
    assert rows[REFERENCE][RATIO] == "1.00x"
    assert rows["pool"][VS_POOL] == "1.00x"
    # lanecore starts control at once; the pool's busy workers make it wait for a prompt
    assert us(rows[REFERENCE][P99]) < 25_000 < us(rows["pool"][P99])
    # PREEMPT runs once per core: on the -submit row, not again on submit_many's
    assert rows[BATCH][P50:] == ["-", "-"]
    assert f"ratio: ops/s ÷ {REFERENCE}'s on the same loop" in out
    ratio = r"\d+\.\d\dx on asyncio"
    assert re.search(rf"^{REFERENCE} \(one submit per command\) ÷ pool: {ratio}$", out, re.M)
    assert re.search(rf"^{BATCH} \(submit_many per lane\) ÷ pool: {ratio}$", out, re.M)


def test_w1_without_preempt(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, *TINY, "--tries", "0", "--workload", "W1", "--systems", REFERENCE
    )
    assert code == 0
    assert "W1, fn form (async function), 200 commands" in out
    assert "PREEMPT skipped (--tries 0)" in out
    assert table_rows(out)[REFERENCE][VS_POOL:] == ["-", "-", "-"]  # no pool, no PREEMPT
    assert "(one submit per command) ÷ pool" not in out  # no headline without the pool


@pytest.mark.parametrize("form", ["partial", "object", "named"])
def test_forms(capsys: pytest.CaptureFixture[str], form: str) -> None:
    systems = f"{REFERENCE},{BATCH},pool,aiojobs"
    code, out, err = run_cli(capsys, *TINY, "--tries", "0", "--form", form, "--systems", systems)
    assert code == 0, err
    assert f"W10, {form} form (" in out
    assert "note: aiojobs: no-op async function commands (--form is for lanecore)" in out
    rows = table_rows(out)
    assert list(rows) == [REFERENCE, BATCH, "pool", "aiojobs"]
    assert rows[REFERENCE][RATIO] == "1.00x" and rows["pool"][VS_POOL] == "1.00x"
    assert f"{REFERENCE} (one submit per command) ÷ pool: " in out


def test_reference_falls_back_to_submit_many(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, *TINY, "--systems", f"{BATCH},pool")
    assert code == 0
    assert f"note: ratios are to {BATCH}: {REFERENCE} is not among the systems run" in out
    rows = table_rows(out)
    assert rows[BATCH][RATIO] == "1.00x"
    assert us(rows[BATCH][P99]) < 25_000  # its PREEMPT runs: no -submit row to run it
    assert f"{BATCH} (submit_many per lane) ÷ pool: " in out


def test_json_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    code, out, _ = run_cli(capsys, *TINY, "--systems", f"{REFERENCE},pool", "--json", str(path))
    assert code == 0
    assert f"wrote {path}" in out
    data = json.loads(path.read_text())
    assert data["size"] == 200 and data["loops"] == ["asyncio"] and data["form"] == "fn"
    assert data["reference"] == REFERENCE
    assert data["preempt"] == {"pending": 200, "tries": 3, "prompt_ms": 50.0, "patience_s": 1.0}
    assert [row["system"] for row in data["rows"]] == [REFERENCE, "pool"]
    assert data["rows"][0]["ratio"] == 1.0 and data["rows"][1]["vs_pool"] == 1.0
    assert data["rows"][0]["vs_pool"] > 0
    assert data["rows"][1]["preempt_samples"] == 3


@pytest.mark.filterwarnings("error")  # e.g. matplotlib's "cannot be log-scaled"
@pytest.mark.parametrize("tries", ["1", "0"])  # with and without the PREEMPT panel
def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path, tries: str) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    code, out, err = run_cli(
        capsys, *TINY, "--tries", tries, "--systems", f"{REFERENCE},pool", "--plot", str(path)
    )
    assert code == 0, err
    assert f"wrote {path}" in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000


def test_plot_without_matplotlib_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    code, out, err = run_cli(capsys, *TINY, "--plot", str(tmp_path / "x.png"))
    assert code == 2
    assert "--plot" in err and "matplotlib" in err and "pip install 'lanecore[plot]'" in err
    assert out == ""  # refused before anything ran


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "0"], "argument --size: must be >= 1"),
        (["--size", "many"], "argument --size: not an integer"),
        (["--rounds", "0"], "argument --rounds: must be >= 1"),
        (["--tries", "-1"], "argument --tries: must be >= 0"),
        (["--systems", "pool,redis"], "unknown system 'redis'"),
        (["--systems", ","], "expected a comma-separated list"),
        (["--loop", "trio"], "argument --loop: invalid choice"),
        (["--workload", "W5"], "argument --workload: invalid choice"),
        (["--form", "lambda"], "argument --form: invalid choice"),
        (["--plot", "chart.gif"], "written as .png, .svg, .pdf"),
        (["--json", "/no/such/dir/out.json"], "directory does not exist"),
    ],
)
def test_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, "bench", *argv)
    assert code == 2
    assert message in err
    assert "usage:" in err and "Traceback" not in err
    assert out == ""


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "bench", "--help")
    assert code == 0
    for option in ("--size", "--loop", "--systems", "--form", "--rounds", "--tries", "--plot"):
        assert option in out
    _, top, _ = run_cli(capsys, "--help")
    assert "bench" in top


def test_missing_peers_are_skipped_with_a_note(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "aiojobs", None)
    monkeypatch.setitem(sys.modules, "_a3s_lane", None)
    code, out, _ = run_cli(capsys, *TINY, "--tries", "0", "--systems", "pool,aiojobs,a3s-lane")
    assert code == 0
    assert "note: aiojobs skipped: aiojobs is not installed (pip install 'aiojobs')" in out
    assert (
        "note: a3s-lane skipped: a3s-lane is not installed (pip install 'a3s-lane==0.4.0')" in out
    )
    assert f"note: no ratios: {REFERENCE} is not among the systems run" in out
    rows = table_rows(out)
    assert list(rows) == ["pool"] and rows["pool"][RATIO] == "-"
    assert rows["pool"][VS_POOL] == "1.00x"


def test_uvloop_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    code, _, err = run_cli(capsys, "bench", "--size", "100", "--loop", "uvloop")
    assert code == 1
    assert "--loop uvloop: not installed" in err
    argv = ["bench", "--size", "100", "--rounds", "1", "--tries", "0", "--systems", REFERENCE]
    code, out, _ = run_cli(capsys, *argv)  # --loop both (the default)
    assert code == 0
    assert "note: uvloop skipped: not installed" in out
    assert [row[1] for row in table_rows(out).values()] == ["asyncio"]


def test_nothing_installed_to_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "aiojobs", None)
    code, _, err = run_cli(capsys, "bench", "--systems", "aiojobs")
    assert code == 1
    assert "nothing to run: aiojobs skipped" in err


def test_form_choices_are_the_workloads_forms() -> None:
    from lanecore.bench.forms import FORMS
    from lanecore.cli.bench_args import FORMS as CHOICES

    assert CHOICES == FORMS


def test_progress_choice_and_rich_bar() -> None:
    assert isinstance(choose_progress(False, io.StringIO()), PlainProgress)  # not a terminal
    out = io.StringIO()
    plain = PlainProgress(out)
    plain.start(2)
    plain.begin("step")
    plain.end("step", "1 ops/s")
    assert out.getvalue() == "[1/2] step: 1 ops/s\n"
    pytest.importorskip("rich")
    bar = RichProgress(io.StringIO())
    bar.start(2)
    bar.begin("throughput · asyncio · pool · round 1/1")
    bar.end("throughput · asyncio · pool · round 1/1", "1 ops/s")
    bar.stop()


def test_python_m_lanecore_bench_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "lanecore", *TINY, "--tries", "0", "--systems", REFERENCE],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert HEADER.search(done.stdout)


def test_import_lanecore_loads_no_bench_code() -> None:
    code = (
        "import sys, lanecore, lanecore.cli; from lanecore.cli.app import build_parser; "
        "build_parser(); "
        "print(sorted(m for m in ('lanecore.bench', 'matplotlib', 'rich', 'aiojobs', "
        "'lanecore.cli.bench') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
