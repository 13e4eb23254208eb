"""A throwaway ``redis-server`` on 127.0.0.1 for tests, benchmarks and local experiments.

Starts the server binary found on PATH (or ``$LANECORE_REDIS_SERVER``) in a temporary
directory on a free loopback port, optionally with AOF, and can restart it on the same port and
data directory (to prove recovery). Nothing here imports the ``redis`` client package.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType


class RedisServerUnavailable(RuntimeError):
    """No ``redis-server`` binary could be found or started on this machine."""


def find_redis_server() -> str | None:
    """The path of the ``redis-server`` binary to use, or None when there is none."""
    explicit = os.environ.get("LANECORE_REDIS_SERVER")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process bound to 127.0.0.1; ``url`` is what clients connect to.
    ``extra_args`` go after the built-in ones (e.g. ``["--replicaof", "127.0.0.1", "6379"]``);
    the list may be changed between starts."""

    def __init__(
        self,
        *,
        appendonly: bool = True,
        binary: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        found = binary or find_redis_server()
        if found is None:
            raise RedisServerUnavailable(
                "no redis-server on PATH (install Debian's redis-server, or set "
                "LANECORE_REDIS_SERVER to the binary)"
            )
        self.binary = found
        self.appendonly = appendonly
        self.extra_args = list(extra_args)
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="lanecore-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (same port and data directory as before) and wait until it answers."""
        if self.running:
            return
        args = [
            self.binary,
            "--bind",
            "127.0.0.1",
            *self.listen_args(),
            "--dir",
            self._dir,
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            os.path.join(self._dir, "redis.log"),
            *self.extra_args,
        ]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisServerUnavailable(
                    f"redis-server exited with status {self._process.returncode}; "
                    f"log: {self.log_tail()}"
                )
            if self._answers():
                return
            time.sleep(0.02)
        self.stop()
        raise RedisServerUnavailable(f"redis-server did not answer on port {self.port}")

    @property
    def directory(self) -> str:
        """The server's working directory (data files, log)."""
        return self._dir

    def listen_args(self) -> list[str]:
        """The redis-server options saying where it listens (a plain TCP port here)."""
        return ["--port", str(self.port)]

    def _answers(self) -> bool:
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
            try:
                with self.wrap(raw) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            finally:
                raw.close()
        except OSError:
            return False

    def wrap(self, sock: socket.socket) -> socket.socket:
        """The socket the readiness PING goes over (TLS servers wrap it)."""
        return sock

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (a clean shutdown that flushes AOF) or SIGKILL."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, *, kill: bool = False) -> None:
        """Stop then start again on the same port and data directory."""
        self.stop(kill=kill)
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log (for error messages)."""
        try:
            log = os.path.join(self._dir, "redis.log")
            with open(log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
