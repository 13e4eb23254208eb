"""Helpers of the Redis tests: a throwaway redis-server (the tests skip with the reason when
none can be started), unique namespaces, and worker processes of ``python -m lanecore worker``
running the apps in ``redis_apps.py``."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from lanecore.redis.testing import RedisServer, RedisServerUnavailable

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def server(*, appendonly: bool = True) -> Iterator[RedisServer]:
    """A started RedisServer, closed afterwards; pytest.skip when none can be started."""
    pytest.importorskip("redis", reason="the redis client package is not installed")
    try:
        instance = RedisServer(appendonly=appendonly)
        instance.start()
    except RedisServerUnavailable as exc:
        pytest.skip(f"no redis-server could be started: {exc}")
    try:
        yield instance
    finally:
        instance.close()


def namespace() -> str:
    return "t" + uuid.uuid4().hex[:10]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process that imports lanecore and the test apps."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(TESTS), str(ROOT), env.get("PYTHONPATH")])
    )
    return env


class Workers:
    """``count`` worker processes on ``url``/``ns`` running ``app`` (``extra``: more CLI
    options, e.g. TLS files or ``--cluster``); stopped by close(). ``prefixes[i]``, when
    given, is prepended to process i's command (``ip netns exec NS``)."""

    def __init__(
        self,
        url: str,
        ns: str,
        count: int,
        *,
        app: str = "redis_apps:app",
        concurrency: int = 4,
        lease: float = 1.0,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        prefixes: Sequence[Sequence[str]] = (),
    ) -> None:
        env = child_env(env)
        env["LANECORE_TEST_REDIS"] = url
        env["LANECORE_TEST_NS"] = ns
        argv = [
            sys.executable,
            "-m",
            "lanecore",
            "worker",
            "--redis",
            url,
            "--namespace",
            ns,
            "--app",
            app,
            "--concurrency",
            str(concurrency),
            "--lease",
            str(lease),
            "--drain-timeout",
            "10",
            *extra,
        ]
        self.procs = [
            subprocess.Popen(
                [*(prefixes[i] if prefixes else ()), *argv],
                env=env,
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            for i in range(count)
        ]

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Block until every process printed its ``ready`` line."""
        import time

        deadline = time.monotonic() + timeout
        for proc in self.procs:
            assert proc.stdout is not None
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or proc.poll() is not None:
                    raise AssertionError(f"worker {proc.pid} did not start (exit {proc.poll()})")
                ready, _, _ = select.select([proc.stdout], [], [], left)
                if ready and proc.stdout.readline().startswith(b"ready"):
                    break

    def close(self) -> list[int]:
        """SIGTERM every live worker and return the exit statuses."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        statuses = []
        for proc in self.procs:
            try:
                statuses.append(proc.wait(timeout=15))
            except subprocess.TimeoutExpired:
                proc.kill()
                statuses.append(proc.wait())
            if proc.stdout is not None:
                proc.stdout.close()
        return statuses


def job_spans(
    log_dir: Path, killed: Mapping[int, float] | None = None
) -> list[tuple[int, float, float]]:
    """(job, start, end) of every run logged by the ``redis_apps.logged`` handler in
    ``log_dir`` (one ``<pid>.log`` per process). A run without an end belongs to a process
    that was killed: it ends at that process's kill time, ``killed[pid]`` (monotonic)."""
    spans: list[tuple[int, float, float]] = []
    for path in sorted(log_dir.glob("*.log")):
        pid = int(path.stem)
        open_runs: dict[int, list[float]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            kind, job, at = line.split()
            if kind == "start":
                open_runs.setdefault(int(job), []).append(float(at))
            else:
                spans.append((int(job), open_runs[int(job)].pop(0), float(at)))
        left = [(job, start) for job, starts in open_runs.items() for start in starts]
        if left and (killed is None or pid not in killed):
            raise AssertionError(f"process {pid} was not killed but left runs open: {left}")
        spans += [(job, start, killed[pid]) for job, start in left] if killed else []
    return spans


def max_overlap(spans: list[tuple[int, float, float]]) -> int:
    """The most runs in ``spans`` that were running at one moment (an end at the same
    instant as a start counts first: the slot was free again)."""
    events = sorted([(start, 1) for _, start, _ in spans] + [(end, -1) for _, _, end in spans])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most
