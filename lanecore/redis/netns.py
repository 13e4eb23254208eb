"""Hosts on one machine for partition tests and benchmarks: Linux network namespaces
(``ip netns``) joined by veth pairs to a bridge in a hub namespace that runs ``redis-server``.

Only the namespaces made here get addresses (a random private /24 per run); the caller's own
namespace is never touched, so a process there reaches Redis through its unix socket (the
"same host" as Redis) while each worker namespace reaches it over its own link, which can be
cut (``cut``/``restore``) or delayed (``delay``, tc netem). Namespaces are named
``lcr-<pid>-<hex>`` and are removed by ``close()`` (also at exit); ``Topology.start`` first
removes those of earlier runs whose creating process is gone. Needs root and iproute2.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from lanecore.redis.testing import RedisServerUnavailable, find_redis_server

PREFIX = "lcr-"
REDIS_PORT = 6379


class NetnsUnavailable(RuntimeError):
    """This machine does not let us make network namespaces (not root, no iproute2, ...)."""


class NetemUnavailable(RuntimeError):
    """``tc qdisc ... netem`` is refused (the kernel lacks sch_netem)."""


def _ip(*args: str) -> None:
    """Run ``ip ARGS``; NetnsUnavailable with ip's message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetnsUnavailable(f"'ip {' '.join(args)}' failed: {done.stderr.strip()}")


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None when they can): tries to add and delete one."""
    if not os.path.isdir("/proc/self/ns"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return f"ip netns needs root (running as uid {os.geteuid()})"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"{PREFIX}{os.getpid()}-probe{secrets.token_hex(2)}"
    try:
        _ip("netns", "add", probe)
        _ip("-n", probe, "link", "set", "lo", "up")
    except NetnsUnavailable as exc:
        return str(exc)
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _namespaces() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(name: str) -> None:
    """SIGKILL every process still running in namespace ``name`` (ours: made by this run)."""
    done = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    for text in done.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(text), signal.SIGKILL)


def remove_stale() -> list[str]:
    """Remove the namespaces (and what still runs in them) of earlier runs whose creating
    process has exited; returns their names. Live runs' namespaces are left alone."""
    removed = []
    for name in _namespaces():
        if not name.startswith(PREFIX):
            continue
        pid_text = name[len(PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        _kill_inside(name)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        removed.append(name)
    return removed


class Topology:
    """A hub namespace (bridge ``br0`` at ``10.A.B.1``, where Redis listens) and ``workers``
    namespaces, worker ``i`` at ``10.A.B.(i+2)`` on its own veth ``eth0`` whose hub end is
    ``w<i>``; nothing is made until ``start()``."""

    def __init__(self, workers: int) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 200:
            raise ValueError(f"workers must be an int in 1..200, got {workers!r}")
        self.workers = workers
        run = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.hub = run
        self.worker_ns = [f"{run}-w{i}" for i in range(workers)]
        net = f"10.{random.randrange(1, 255)}.{random.randrange(0, 256)}"
        self.hub_address = f"{net}.1"
        self.worker_addresses = [f"{net}.{i + 2}" for i in range(workers)]
        self._made: list[str] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"Topology({self.hub!r}, workers={self.workers}, hub={self.hub_address})"

    def start(self) -> None:
        """Make the namespaces and links (removing stale ones of earlier runs first)."""
        remove_stale()
        atexit.register(self.close)
        try:
            self._add(self.hub)
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "addr", "add", f"{self.hub_address}/24", "dev", "br0")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            for i, (name, address) in enumerate(
                zip(self.worker_ns, self.worker_addresses, strict=True)
            ):
                self._add(name)
                _ip(
                    "-n",
                    self.hub,
                    "link",
                    "add",
                    f"w{i}",
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    name,
                )
                _ip("-n", self.hub, "link", "set", f"w{i}", "master", "br0", "up")
                _ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
                _ip("-n", name, "link", "set", "eth0", "up")
        except BaseException:
            self.close()
            raise

    def _add(self, name: str) -> None:
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def exec_prefix(self, worker: int | None) -> list[str]:
        """``ip netns exec NS``: prepend to a command to run it in worker ``worker``'s
        namespace (None: the hub's)."""
        return ["ip", "netns", "exec", self.hub if worker is None else self.worker_ns[worker]]

    def popen(
        self, worker: int | None, argv: Sequence[str], **kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` in worker ``worker``'s namespace (None: the hub's)."""
        return subprocess.Popen([*self.exec_prefix(worker), *argv], **kwargs)

    def cut(self, worker: int) -> None:
        """Cut worker ``worker``'s link: its hub end goes down, so packets both ways are
        dropped silently (no reset, no error: the worker's connections just stall)."""
        _ip("-n", self.hub, "link", "set", f"w{worker}", "down")

    def restore(self, worker: int) -> None:
        """Bring worker ``worker``'s link back up (stalled connections resume)."""
        _ip("-n", self.hub, "link", "set", f"w{worker}", "up")

    def delay(self, worker: int, ms: float) -> None:
        """Delay every packet worker ``worker`` sends by ``ms`` (tc netem on its ``eth0``);
        NetemUnavailable with tc's message when the kernel has no netem."""
        if not ms > 0:
            raise ValueError(f"ms must be > 0, got {ms!r}")
        done = subprocess.run(
            [
                "tc",
                "-n",
                self.worker_ns[worker],
                "qdisc",
                "replace",
                "dev",
                "eth0",
                "root",
                "netem",
                "delay",
                f"{ms:g}ms",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise NetemUnavailable(
                f"'tc qdisc replace dev eth0 root netem delay {ms:g}ms' failed: "
                f"{done.stderr.strip()}"
            )

    def close(self) -> None:
        """Kill what still runs in the namespaces and remove them (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        for name in reversed(self._made):
            _kill_inside(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self._made.clear()

    def __enter__(self) -> Topology:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def netem_unavailable() -> str | None:
    """Why ``tc ... netem`` cannot be used here (None when it can): tries it in a namespace."""
    reason = unavailable()
    if reason is not None:
        return reason
    if shutil.which("tc") is None:
        return "the tc command (iproute2) is not installed"
    with Topology(1) as probe:
        try:
            probe.delay(0, 1)
        except NetemUnavailable as exc:
            return f"{exc} (the kernel has no sch_netem)"
    return None


class HubRedis:
    """``redis-server`` in a topology's hub namespace, listening on the hub address (for the
    workers: ``url``) and on a unix socket (for processes of the caller's namespace:
    ``unix_url``); no persistence, deleted by ``close()``."""

    def __init__(self, topology: Topology) -> None:
        binary = find_redis_server()
        if binary is None:
            raise RedisServerUnavailable("no redis-server on PATH (install Debian's redis-server)")
        self.binary = binary
        self.topology = topology
        self._dir = tempfile.mkdtemp(prefix="lanecore-netns-")
        self.socket_path = os.path.join(self._dir, "redis.sock")
        self.url = f"redis://{topology.hub_address}:{REDIS_PORT}/0"
        self.unix_url = f"unix://{self.socket_path}?db=0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers on the unix socket."""
        args = [
            self.binary,
            "--bind", self.topology.hub_address,
            "--port", str(REDIS_PORT),
            "--unixsocket", self.socket_path,
            "--unixsocketperm", "700",
            "--dir", self._dir,
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--daemonize", "no",
            "--logfile", os.path.join(self._dir, "redis.log"),
        ]  # fmt: skip
        self._process = self.topology.popen(None, args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisServerUnavailable(
                    f"redis-server exited with status {self._process.returncode}"
                )
            if self._answers():
                return
            time.sleep(0.02)
        self.close()
        raise RedisServerUnavailable("redis-server did not answer on its unix socket")

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                sock.connect(self.socket_path)
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def close(self) -> None:
        """Stop the server and delete its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> HubRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
