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
from collections.abc import Iterator, Sequence
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


class Workers:
    """``count`` worker processes on ``url``/``ns`` running ``app`` (``extra``: more CLI
    options, e.g. TLS files or ``--cluster``); stopped by close()."""

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
    ) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(TESTS), str(ROOT), env.get("PYTHONPATH")])
        )
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
            subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            for _ in range(count)
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
