"""A throwaway Sentinel set-up on 127.0.0.1 for tests: one primary, its replicas and
sentinels (``redis-server --sentinel`` with a generated config), each on a free port in its
own temporary directory, all stopped and deleted by ``close()``. It can SIGKILL the primary,
wait for the sentinels to promote a replica, and bring the old primary back as a replica of
the new one. Like ``lanecore.redis.testing``, nothing here imports the ``redis`` package: the
few commands it sends are written in RESP over a socket."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Any, BinaryIO

from lanecore.redis.testing import (
    RedisServer,
    RedisServerUnavailable,
    _free_port,
    find_redis_server,
)

#: replicas sync at once (Redis 7 waits 5 s by default, for more replicas to join a sync)
SERVER_ARGS = ("--repl-diskless-sync-delay", "0")


def _read(reply: BinaryIO) -> Any:
    """One RESP value from ``reply`` (errors come back as RuntimeError instances)."""
    line = reply.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, body = line[:1], line[1:-2]
    if kind in (b"+", b"-"):
        text = body.decode()
        return RuntimeError(text) if kind == b"-" else text
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else reply.read(size + 2)[:-2].decode()
    if kind == b"*":
        size = int(body)
        return None if size < 0 else [_read(reply) for _ in range(size)]
    raise ConnectionError(f"unexpected RESP reply {line!r}")


def command(port: int, *args: str | int, timeout: float = 2.0) -> Any:
    """Send one command to 127.0.0.1:``port`` and return its reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        sock.sendall(b"".join(parts))
        with sock.makefile("rb") as reply:
            return _read(reply)


def info(port: int, section: str = "replication") -> dict[str, str]:
    """``INFO section`` of the server on ``port`` as a dict."""
    text = command(port, "INFO", section)
    pairs = (line.split(":", 1) for line in str(text).splitlines() if ":" in line)
    return {key: value for key, value in pairs}


def _pairs(flat: list[Any]) -> dict[str, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisSentinel:
    """One sentinel process watching ``service`` at 127.0.0.1:``primary_port``."""

    def __init__(
        self,
        binary: str,
        service: str,
        primary_port: int,
        *,
        quorum: int,
        down_after_ms: int,
        failover_timeout_ms: int,
    ) -> None:
        self.binary = binary
        self.port = _free_port()
        self._dir = tempfile.mkdtemp(prefix="lanecore-sentinel-")
        self.config = os.path.join(self._dir, "sentinel.conf")
        with open(self.config, "w", encoding="utf-8") as f:  # the sentinel rewrites it
            f.write(
                f"port {self.port}\nbind 127.0.0.1\ndaemonize no\ndir {self._dir}\n"
                f"logfile {os.path.join(self._dir, 'sentinel.log')}\n"
                f"sentinel monitor {service} 127.0.0.1 {primary_port} {quorum}\n"
                f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
                f"sentinel failover-timeout {service} {failover_timeout_ms}\n"
                f"sentinel parallel-syncs {service} 1\n"
            )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the sentinel and wait until it answers."""
        self._process = subprocess.Popen(
            [self.binary, self.config, "--sentinel"], stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisServerUnavailable(
                    f"redis-server --sentinel exited with status {self._process.returncode}; "
                    f"log: {self.log_tail()}"
                )
            try:
                if command(self.port, "PING", timeout=0.5) == "PONG":
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RedisServerUnavailable(f"the sentinel did not answer on port {self.port}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(os.path.join(self._dir, "sentinel.log"), encoding="utf-8") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """Stop the sentinel and delete its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


class SentinelSet:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels (quorum: a majority);
    ``url`` is the ``redis+sentinel://`` URL of the set."""

    def __init__(
        self,
        *,
        service: str = "mymaster",
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        appendonly: bool = True,
    ) -> None:
        binary = find_redis_server()
        if binary is None:
            raise RedisServerUnavailable(
                "no redis-server on PATH (install Debian's redis-server, or set "
                "LANECORE_REDIS_SERVER to the binary)"
            )
        self.service = service
        self.binary = binary
        self._appendonly = appendonly
        self._replica_count = replicas
        self._sentinel_count = sentinels
        self._down_after_ms = down_after_ms
        self._failover_timeout_ms = failover_timeout_ms
        self.servers: dict[int, RedisServer] = {}  # port -> server
        self.sentinels: list[RedisSentinel] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def _server(self, extra: list[str]) -> RedisServer:
        server = RedisServer(
            appendonly=self._appendonly, binary=self.binary, extra_args=[*SERVER_ARGS, *extra]
        )
        self.servers[server.port] = server
        server.start()
        return server

    def start(self, timeout: float = 30.0) -> None:
        """Start everything; return once every replica is in sync and every sentinel knows
        the primary, its replicas and the other sentinels (so a failover can be agreed)."""
        deadline = time.monotonic() + timeout
        try:
            primary = self._server([])
            for _ in range(self._replica_count):
                self._server(["--replicaof", "127.0.0.1", str(primary.port)])
            for port in self.servers:
                if port != primary.port:
                    self.wait_in_sync(port, deadline - time.monotonic())
            quorum = self._sentinel_count // 2 + 1
            for _ in range(self._sentinel_count):
                sentinel = RedisSentinel(
                    self.binary,
                    self.service,
                    primary.port,
                    quorum=quorum,
                    down_after_ms=self._down_after_ms,
                    failover_timeout_ms=self._failover_timeout_ms,
                )
                self.sentinels.append(sentinel)
                sentinel.start()
            self._wait(
                lambda: all(self._knows_everything(s) for s in self.sentinels),
                deadline,
                "the sentinels to find the replicas and each other",
            )
        except BaseException:
            self.close()
            raise

    def _knows_everything(self, sentinel: RedisSentinel) -> bool:
        state = _pairs(command(sentinel.port, "SENTINEL", "MASTER", self.service))
        return (
            int(state["num-slaves"]) >= self._replica_count
            and int(state["num-other-sentinels"]) >= self._sentinel_count - 1
        )

    @staticmethod
    def _wait(ready: Any, deadline: float, what: str) -> None:
        while True:
            try:
                if ready():
                    return
            except (OSError, KeyError, ValueError, TypeError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def wait_in_sync(self, port: int, timeout: float = 20.0) -> None:
        """Wait until the replica on ``port`` has finished its sync with its primary."""
        self._wait(
            lambda: (
                info(port).get("master_link_status") == "up"
                and info(port).get("master_sync_in_progress") == "0"
            ),
            time.monotonic() + timeout,
            f"the replica on port {port} to sync",
        )

    def primary_port(self) -> int:
        """The port of the primary, as the first sentinel that answers names it."""
        for sentinel in self.sentinels:
            try:
                host_port = command(
                    sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
                )
            except OSError:
                continue
            if isinstance(host_port, list):
                return int(host_port[1])
        raise ConnectionError("no sentinel answered")

    def kill_primary(self) -> int:
        """SIGKILL the primary (no shutdown, no last writes); returns its port."""
        port = self.primary_port()
        self.servers[port].stop(kill=True)
        return port

    def wait_promoted(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until every sentinel names a new primary that says it is one; its port."""

        def promoted() -> bool:
            ports = {
                int(command(s.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)[1])
                for s in self.sentinels
            }
            if len(ports) != 1 or old_port in ports:
                return False
            return info(ports.pop()).get("role") == "master"

        self._wait(promoted, time.monotonic() + timeout, "a replica to be promoted")
        return self.primary_port()

    def switch_over(self, timeout: float = 30.0) -> tuple[int, int]:
        """``SENTINEL FAILOVER``: promote a replica while the primary is alive (it is demoted
        to a replica of the new one); wait until that is done and the old primary is in sync.
        Returns (old port, new port)."""
        old = self.primary_port()
        deadline = time.monotonic() + timeout
        while True:  # refused while a sentinel is still settling ("INPROG", "NOGOODSLAVE")
            reply = command(self.sentinels[0].port, "SENTINEL", "FAILOVER", self.service)
            if not isinstance(reply, RuntimeError):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"SENTINEL FAILOVER kept failing: {reply}")
            time.sleep(0.1)
        new = self.wait_promoted(old, deadline - time.monotonic())
        self._wait(
            lambda: info(old).get("role") == "slave" and info(old).get("master_port") == str(new),
            deadline,
            f"the old primary on port {old} to follow the new one",
        )
        self.wait_in_sync(old, deadline - time.monotonic())
        return old, new

    def rejoin(self, port: int, timeout: float = 20.0) -> None:
        """Start the stopped server on ``port`` again as a replica of the current primary (as
        an operator would bring a failed primary back) and wait until it is in sync."""
        server = self.servers[port]
        primary = self.primary_port()
        server.extra_args = [*SERVER_ARGS, "--replicaof", "127.0.0.1", str(primary)]
        server.start()
        self.wait_in_sync(port, timeout)

    def close(self) -> None:
        """Stop every sentinel and server and delete their directories."""
        for sentinel in self.sentinels:
            sentinel.close()
        for server in self.servers.values():
            server.close()

    def __enter__(self) -> SentinelSet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
