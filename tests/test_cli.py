"""The ``lanecore`` command line (issue 5): demo, stats, dlq list|retry|clear, info.

Commands run in-process through ``main([...])`` (stdout is captured, so not a terminal: the demo
prints plain-text snapshots), plus one real ``python -m lanecore`` subprocess. The stores are
prepared with SqliteStorage's thread-safe ``enqueue_*`` forms.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lanecore import DeadLetter, QueueManagerBuilder, _impl
from lanecore.cli import main
from lanecore.cli import summary as summary_module
from lanecore.cli.render import (
    COLUMNS,
    LaneRow,
    LiveRenderer,
    PlainRenderer,
    Snapshot,
    choose_renderer,
    plain_table,
    rich_table,
)
from lanecore.cli.summary import Verdict, verdict
from lanecore.cli.waits import LaneWaits, percentile
from lanecore.cli.workload import OPENING_PROMPTS, generate
from lanecore.storage import SqliteStorage, StoredCommand

REPO = Path(__file__).resolve().parent.parent
CORE_NAMES = sorted(_impl.CORES)
HEADER = re.compile(
    r"^lane\s+priority\s+pending\s+active\s+done\s+p50 wait ms\s+p99 wait ms$", re.M
)
COMPARISON = re.compile(r"^control p99 wait ([\d.]+) ms < prompt p99 wait ([\d.]+) ms$", re.M)
OK_LINE = "OK: control commands never waited behind prompt work"

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_demo_output(out: str) -> None:
    """Plain snapshots with the table columns, then a summary proving control's lead."""
    assert HEADER.search(out), out
    assert "summary:" in out
    match = COMPARISON.search(out)
    assert match, out
    assert float(match.group(1)) < float(match.group(2))
    assert "no control command waited for a prompt to finish" in out
    assert OK_LINE in out
    assert "Traceback" not in out


# ------------------------------------------------------------------------------- demo


@pytest.mark.parametrize("core_name", CORE_NAMES)
def test_demo_plain_on_each_core(capsys: pytest.CaptureFixture[str], core_name: str) -> None:
    code, out, _ = run_cli(
        capsys, "demo", "--duration", "0.6", "--no-live", "--seed", "1", "--core", core_name
    )
    assert code == 0, out
    check_demo_output(out)
    assert f"core {core_name}, loop asyncio, seed 1" in out
    for lane in ("system", "control", "query", "session", "skill", "prompt"):
        assert re.search(rf"^{lane}\s+\d", out, re.M)


@pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed")
def test_demo_on_uvloop(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "demo", "--duration", "0.5", "--uvloop", "--seed", "2")
    assert code == 0, out
    check_demo_output(out)
    assert "loop uvloop" in out


def test_demo_is_plain_when_stdout_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --no-live, a captured (non-TTY) stdout still gets plain text, no escapes."""
    code, out, _ = run_cli(capsys, "demo", "--duration", "0.5", "--seed", "3")
    assert code == 0, out
    check_demo_output(out)
    assert "\x1b[" not in out


def test_demo_without_seed_prints_the_seed_it_used(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "demo", "--duration", "0.3", "--no-live")
    assert code == 0, out
    assert re.search(r"seed \d+\)", out)


def test_demo_exits_1_and_says_failed_when_the_verdict_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(waits: Any) -> Verdict:
        return Verdict(False, ("FAILED: control commands waited behind prompt work",))

    monkeypatch.setattr(summary_module, "verdict", failing)
    code, out, _ = run_cli(capsys, "demo", "--duration", "0.3", "--no-live", "--seed", "4")
    assert code == 1
    assert "FAILED" in out
    assert "--seed 4" in out


def test_demo_core_unavailable_is_a_runtime_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(_impl.CORES, "cython", raising=False)
    code, _, err = run_cli(capsys, "demo", "--duration", "0.3", "--core", "cython")
    assert code == 1
    assert "--core cython" in err and "unavailable" in err
    assert "Traceback" not in err


def test_demo_uvloop_missing_is_a_runtime_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    code, _, err = run_cli(capsys, "demo", "--duration", "0.3", "--uvloop")
    assert code == 1
    assert "uvloop" in err and "not installed" in err


def test_python_m_lanecore_demo_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "lanecore", "demo", "--duration", "1", "--no-live", "--seed", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    check_demo_output(done.stdout)
    assert re.search(r"^summary: \d+ commands in [\d.]+ s", done.stdout, re.M)
    assert re.search(r"^control max wait [\d.]+ ms < shortest prompt [\d.]+ ms", done.stdout, re.M)


def test_a_closed_pipe_ends_the_demo_quietly() -> None:
    """`lanecore demo | head -1`: the reader goes away; no traceback, no stray warnings."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    argv = [sys.executable, "-m", "lanecore", "demo", "--duration", "3", "--no-live"]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline().startswith(b"lanecore ")
        child.stdout.close()
        err = child.stderr.read().decode()
        assert child.wait(timeout=60) == 1
    assert err == ""


def test_workload_is_deterministic_and_opens_with_queued_prompts() -> None:
    first, again, other = generate(2.0, 7), generate(2.0, 7), generate(2.0, 8)
    assert first == again
    assert first != other
    opening = first[: OPENING_PROMPTS + 1]
    assert [a.lane for a in opening] == ["prompt"] * OPENING_PROMPTS + ["control"]
    assert all(a.at == 0.0 for a in opening)
    assert [a.at for a in first] == sorted(a.at for a in first)
    assert all(0 <= a.at < 2.0 for a in first)
    prompts = [a.duration for a in first if a.lane == "prompt"]
    others = [a.duration for a in first if a.lane != "prompt"]
    assert min(prompts) >= 0.05 and max(prompts) <= 0.2
    assert max(others) < min(prompts)  # nothing but a prompt lasts as long as a prompt
    with pytest.raises(ValueError, match="duration"):
        generate(0, 1)


def test_percentile_and_verdict() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0
    control, prompt = LaneWaits(10), LaneWaits(10)
    control.recent.extend([0.001, 0.002])
    control.started, control.max_wait = 2, 0.002
    prompt.recent.extend([0.1, 0.5])
    prompt.started, prompt.max_wait, prompt.shortest_run = 2, 0.5, 0.06
    good = verdict({"control": control, "prompt": prompt})
    assert good.ok and good.lines[-1] == OK_LINE
    control.recent.append(0.08)
    control.max_wait = 0.08  # waited longer than the shortest prompt: may have waited for one
    bad = verdict({"control": control, "prompt": prompt})
    assert not bad.ok and bad.lines[-1].startswith("FAILED")
    assert not verdict({"control": LaneWaits(1), "prompt": prompt}).ok


# ------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["demo", "--duration", "0"], "'0'"),
        (["demo", "--duration", "-1"], "'-1'"),
        (["demo", "--duration", "soon"], "'soon'"),
        (["demo", "--duration", "nan"], "'nan'"),
        (["demo", "--seed", "x"], "'x'"),
        (["demo", "--seed", "-3"], "'-3'"),
        (["demo", "--core", "rust"], "'rust'"),
        (["demo", "--bogus"], "--bogus"),
        (["launch"], "'launch'"),
        ([], "COMMAND"),
        (["stats"], "--db"),
        (["dlq"], "ACTION"),
        (["dlq", "purge", "--db", "x.db"], "'purge'"),
        (["dlq", "retry", "--db", "x.db"], "ID"),
    ],
)
def test_bad_arguments_exit_2_naming_the_value(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert "usage:" in err
    assert named in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["demo"],
        ["stats"],
        ["dlq"],
        ["dlq", "list"],
        ["dlq", "retry"],
        ["dlq", "clear"],
        ["info"],
    ],
)
def test_help_for_every_command(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, _ = run_cli(capsys, *argv, "--help")
    assert code == 0
    assert out.startswith("usage:")


def test_retry_help_says_the_cli_cannot_run_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "dlq", "retry", "--help")
    text = " ".join(out.split())
    assert "cannot run the command" in text
    assert "QueueManager.start()" in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import lanecore

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"lanecore {lanecore.__version__}"


def test_info(capsys: pytest.CaptureFixture[str]) -> None:
    import platform

    import lanecore

    code, out, _ = run_cli(capsys, "info")
    assert code == 0
    assert f"lanecore {lanecore.__version__}" in out
    assert re.search(rf"^core:\s+{lanecore.IMPLEMENTATION}\b", out, re.M)
    assert platform.python_version() in out
    assert re.search(r"^uvloop:\s+\S", out, re.M)
    assert re.search(r"^rich:\s+\S", out, re.M)


def test_import_lanecore_and_its_cli_do_not_import_rich() -> None:
    code = "import sys, lanecore, lanecore.cli, lanecore.cli.render; print('rich' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ------------------------------------------------------------------------------- store


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store with three unfinished commands and three dead letters (two retryable)."""
    path = tmp_path / "store.db"
    storage = SqliteStorage(path)
    storage.enqueue_save_commands(
        [
            StoredCommand("c-1", "summarize", "prompt", {"doc": 1}, 0, 1_700_000_000.0),
            StoredCommand("c-2", "summarize", "prompt", {"doc": 2}, 1, 1_700_000_100.0),
            StoredCommand("c-3", "lookup", "query", ["a", "b"], 0, 1_700_000_050.0),
        ]
    ).result()
    storage.enqueue_save_dead_letter(
        DeadLetter("dl-1", "summarize", "prompt", "RuntimeError: model down", 3, 1_700_000_200.0),
        {"doc": 9},
    ).result()
    storage.enqueue_save_dead_letter(
        DeadLetter(
            "dl-2", "adhoc_work", "skill", "ValueError: bad\nsecond line", 1, 1_700_000_300.0
        )
    ).result()
    storage.enqueue_save_dead_letter(
        DeadLetter(7, "lookup", "query", "TimeoutError", 2, 1_700_000_400.0), None
    ).result()
    storage.enqueue_close().result()
    return path


def load(path: Path) -> tuple[list[Any], list[Any]]:
    storage = SqliteStorage(path)
    try:
        return (
            storage.enqueue_load_commands().result(),
            storage.enqueue_load_dead_letters().result(),
        )
    finally:
        storage.enqueue_close().result()


def test_stats_plain(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, out, _ = run_cli(capsys, "stats", "--db", str(store))
    assert code == 0
    assert str(store) in out
    assert "stored commands: 3" in out
    assert "oldest created:  2023-11-14 22:13:20 UTC" in out
    assert re.search(r"prompt\s+summarize\s+2$", out, re.M)
    assert re.search(r"query\s+lookup\s+1$", out, re.M)
    assert "dead letters:    3 (2 with a payload, retryable)" in out


def test_stats_json(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, out, _ = run_cli(capsys, "stats", "--db", str(store), "--json")
    assert code == 0
    data = json.loads(out)
    assert data == {
        "db": str(store),
        "commands": 3,
        "oldest_created_at": 1_700_000_000.0,
        "by_lane": [
            {"lane_id": "prompt", "command_type": "summarize", "count": 2},
            {"lane_id": "query", "command_type": "lookup", "count": 1},
        ],
        "dead_letters": 3,
        "dead_letters_retryable": 2,
    }


def test_stats_of_an_empty_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    SqliteStorage(path).enqueue_close().result()
    code, out, _ = run_cli(capsys, "stats", "--db", str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["commands"], data["oldest_created_at"], data["dead_letters"]) == (0, None, 0)
    code, out, _ = run_cli(capsys, "stats", "--db", str(path))
    assert code == 0 and "stored commands: 0" in out


def test_dlq_list_plain(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, out, _ = run_cli(capsys, "dlq", "list", "--db", str(store))
    assert code == 0
    assert "3 dead letters" in out
    lines = out.splitlines()
    assert re.search(r"command_id\s+type\s+lane\s+attempts\s+failed at\s+payload\s+error", out)
    first = next(line for line in lines if "dl-1" in line)
    assert re.search(
        r"dl-1\s+summarize\s+prompt\s+3\s+2023-11-14 22:16:40 UTC\s+yes\s+Runtime", first
    )
    second = next(line for line in lines if "dl-2" in line)
    assert "  no  " in second and "ValueError: bad" in second and "second line" not in out


def test_dlq_list_json(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, out, _ = run_cli(capsys, "dlq", "list", "--db", str(store), "--json")
    assert code == 0
    letters = json.loads(out)
    assert [letter["command_id"] for letter in letters] == ["dl-1", "dl-2", 7]
    assert letters[0] == {
        "command_id": "dl-1",
        "command_type": "summarize",
        "lane_id": "prompt",
        "error": "RuntimeError: model down",
        "attempts": 3,
        "failed_at": 1_700_000_200.0,
        "has_payload": True,
        "payload": {"doc": 9},
    }
    assert (letters[1]["has_payload"], letters[1]["payload"]) == (False, None)
    assert letters[1]["error"] == "ValueError: bad\nsecond line"
    assert (letters[2]["has_payload"], letters[2]["payload"]) == (True, None)  # a JSON null


def test_dlq_retry_moves_the_letter_back_to_the_commands(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    code, out, _ = run_cli(capsys, "dlq", "retry", "dl-1", "--db", str(store))
    assert code == 0
    assert "moved dead letter 'dl-1'" in out
    assert "cannot run handlers" in out and "QueueManager.start()" in out
    commands, letters = load(store)
    retried = next(c for c in commands if c.command_id == "dl-1")
    assert (retried.command_type, retried.lane_id, retried.payload) == (
        "summarize",
        "prompt",
        {"doc": 9},
    )
    assert retried.retry_count == 0
    assert [s.letter.command_id for s in letters] == ["dl-2", 7]


def test_a_retried_letter_runs_on_the_next_manager_start(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    assert main(["dlq", "retry", "7", "--db", str(store)]) == 0  # an int id, a null payload
    capsys.readouterr()
    ran: list[Any] = []

    async def handler(payload: Any) -> str:
        ran.append(payload)
        return "ok"

    async def restart() -> None:
        storage = SqliteStorage(store)
        manager = QueueManagerBuilder().with_default_lanes().with_storage(storage).build()
        for command_type in ("summarize", "lookup"):
            manager.register(command_type, handler)
        async with manager:
            assert "7" in [handle.command_id for handle in manager.recovered]
            await asyncio.gather(*manager.recovered)
            assert [letter.command_id for letter in manager.dlq.list()] == ["dl-1", "dl-2"]

    asyncio.run(restart())
    assert None in ran  # the retried lookup, with its null payload
    commands, letters = load(store)
    assert commands == []
    assert [s.letter.command_id for s in letters] == ["dl-1", "dl-2"]


def test_dlq_retry_of_an_unknown_id(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, _, err = run_cli(capsys, "dlq", "retry", "nope-42", "--db", str(store))
    assert code == 1
    assert "'nope-42'" in err and "no dead letter" in err
    assert "Traceback" not in err


def test_dlq_retry_of_a_letter_without_payload(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    code, _, err = run_cli(capsys, "dlq", "retry", "dl-2", "--db", str(store))
    assert code == 1
    assert "'dl-2'" in err and "no payload" in err
    commands, letters = load(store)
    assert len(commands) == 3 and len(letters) == 3  # nothing changed


def test_dlq_retry_refuses_to_overwrite_a_stored_command(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    storage = SqliteStorage(store)
    storage.enqueue_save_command(StoredCommand("dl-1", "summarize", "prompt", {"doc": 0})).result()
    storage.enqueue_close().result()
    code, _, err = run_cli(capsys, "dlq", "retry", "dl-1", "--db", str(store))
    assert code == 1
    assert "'dl-1' is already stored" in err


def test_dlq_clear(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, _, err = run_cli(capsys, "dlq", "clear", "--db", str(store))
    assert code == 1  # stdin is not a terminal: no question can be asked
    assert "without --yes" in err
    assert len(load(store)[1]) == 3
    code, out, _ = run_cli(capsys, "dlq", "clear", "--db", str(store), "--yes")
    assert code == 0
    assert "deleted 3 dead letters" in out
    commands, letters = load(store)
    assert letters == [] and len(commands) == 3
    code, out, _ = run_cli(capsys, "dlq", "clear", "--db", str(store), "-y")
    assert code == 0 and "no dead letters" in out
    code, out, _ = run_cli(capsys, "dlq", "list", "--db", str(store))
    assert code == 0 and "no dead letters" in out


class FakeTerminalInput(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "left"), [("y\n", 0, 0), ("\n", 1, 3), ("no\n", 1, 3)])
def test_dlq_clear_asks_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    store: Path,
    answer: str,
    code: int,
    left: int,
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeTerminalInput(answer))
    result, out, _ = run_cli(capsys, "dlq", "clear", "--db", str(store))
    assert result == code
    assert f"delete 3 dead letters from {store}? [y/N]" in out
    assert len(load(store)[1]) == left


STORE_COMMANDS = [
    ["stats"],
    ["stats", "--json"],
    ["dlq", "list"],
    ["dlq", "retry", "x"],
    ["dlq", "clear", "--yes"],
]


@pytest.mark.parametrize("argv", STORE_COMMANDS)
def test_missing_database_is_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    path = tmp_path / "missing.db"
    code, out, err = run_cli(capsys, *argv, "--db", str(path))
    assert code == 1
    assert str(path) in err and "does not exist" in err
    assert "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", STORE_COMMANDS)
def test_a_file_that_is_not_a_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 10)
    code, _, err = run_cli(capsys, *argv, "--db", str(path))
    assert code == 1
    assert str(path) in err and "not an SQLite database" in err
    assert "Traceback" not in err
    assert path.read_text().startswith("these are not")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.mkdir(), "not a file"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), "not a readable SQLite"),
    ],
    ids=["empty", "directory", "corrupt"],
)
def test_other_files_that_are_not_stores(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make: Any, message: str
) -> None:
    path = tmp_path / "odd.db"
    make(path)
    code, _, err = run_cli(capsys, "stats", "--db", str(path))
    assert code == 1
    assert message in err and str(path) in err


def test_another_applications_sqlite_database_is_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.close()
    code, _, err = run_cli(capsys, "dlq", "list", "--db", str(path))
    assert code == 1
    assert "not a lanecore store" in err
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert tables == {"users"}  # no schema was added


# ------------------------------------------------------------------------------- rendering


def snapshot(phase: str = "running") -> Snapshot:
    rows = (
        LaneRow("control", 1, 0, 1, 12, 0.05, 2.5),
        LaneRow("prompt", 5, 7, 2, 30, 151.6, 1234.0),
        LaneRow("skill", 4, 0, 0, 0, None, None),
    )
    return Snapshot(2.5, 8.0, phase, 3, 8, "core python, loop asyncio, seed 1", rows)


def test_rich_table_has_the_columns_and_renders_without_a_tty() -> None:
    pytest.importorskip("rich")
    from rich.console import Console
    from rich.table import Table

    table = rich_table(snapshot())
    assert isinstance(table, Table)
    assert tuple(str(column.header) for column in table.columns) == COLUMNS
    assert table.row_count == 3
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=120).print(table)
    text = out.getvalue()
    assert "\x1b[" in text  # styled, as on a terminal
    for cell in (*COLUMNS, "control", "prompt", "151.6", "1234", "2.50", "slots 3/8", "seed 1"):
        assert cell in text


def test_live_renderer_draws_in_place_on_a_console() -> None:
    pytest.importorskip("rich")
    from rich.console import Console

    out = io.StringIO()
    renderer = LiveRenderer(Console(file=out, force_terminal=True, width=120))
    renderer.start()
    renderer.update(snapshot())
    renderer.update(snapshot("done"))
    renderer.stop()
    text = out.getvalue()
    assert "p99 wait ms" in text and "done" in text


def test_plain_table() -> None:
    text = plain_table(snapshot())
    lines = text.splitlines()
    assert lines[0].startswith("  2.5 s / 8.0 s  running   slots 3/8")
    assert HEADER.match(lines[1])
    assert re.match(r"prompt\s+5\s+7\s+2\s+30\s+151\.6\s+1234$", lines[3])
    assert re.match(r"skill\s+4\s+0\s+0\s+0\s+-\s+-$", lines[4])


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_choose_renderer() -> None:
    assert isinstance(choose_renderer(no_live=False, out=io.StringIO()), PlainRenderer)
    assert isinstance(choose_renderer(no_live=True, out=FakeTerminal()), PlainRenderer)
    if pytest.importorskip("rich"):
        assert isinstance(choose_renderer(no_live=False, out=FakeTerminal()), LiveRenderer)


def test_no_rich_means_plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    import lanecore.cli.render as render

    monkeypatch.setattr(render, "rich_available", lambda: False)
    assert isinstance(choose_renderer(no_live=False, out=FakeTerminal()), PlainRenderer)
