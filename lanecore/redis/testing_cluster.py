"""A throwaway Redis Cluster for tests and benchmarks: ``count`` ``redis-server
--cluster-enabled yes`` masters on 127.0.0.1 (free ports, each with its own directory),
joined by ``redis-cli --cluster create`` with no replicas. It can say which node serves a
slot and move a slot to another node (as a resharding would). Uses the ``redis-cli``
command, not the ``redis`` client package."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from types import TracebackType

from lanecore.redis.testing import RedisServer, RedisServerUnavailable, _free_port


@dataclass(frozen=True, slots=True)
class Node:
    """One master as ``CLUSTER NODES`` shows it: id, port and slot ranges (inclusive)."""

    id: str
    port: int
    slots: tuple[tuple[int, int], ...]

    def serves(self, slot: int) -> bool:
        return any(low <= slot <= high for low, high in self.slots)


def find_redis_cli() -> str | None:
    """The ``redis-cli`` next to the redis-server in use, else the one on PATH, or None."""
    server = os.environ.get("LANECORE_REDIS_SERVER")
    if server:
        beside = os.path.join(os.path.dirname(server), "redis-cli")
        if os.access(beside, os.X_OK):
            return beside
    return shutil.which("redis-cli")


class RedisClusterServers:
    """``count`` cluster masters on loopback; ``url`` names the first (any node will do for a
    cluster client), ``urls`` all of them."""

    def __init__(self, count: int = 3, *, appendonly: bool = False) -> None:
        if count < 3:
            raise ValueError(f"a Redis Cluster needs at least 3 masters, got {count}")
        cli = find_redis_cli()
        if cli is None:
            raise RedisServerUnavailable("no redis-cli on PATH (Debian's redis-tools)")
        self.cli = cli
        self.servers = [
            RedisServer(appendonly=appendonly, extra_args=self._node_args()) for _ in range(count)
        ]
        self.url = self.servers[0].url
        self.urls = [server.url for server in self.servers]

    @staticmethod
    def _node_args() -> list[str]:
        """One node's cluster options; the bus port is a free one of its own (not port+10000,
        which may be out of range for a high ephemeral port)."""
        return [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(_free_port()),
            "--cluster-node-timeout", "5000",
        ]  # fmt: skip

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    def start(self, timeout: float = 30.0) -> None:
        """Start the servers, join them into one cluster, wait until every node says ok."""
        for server in self.servers:
            server.start()
        self._cli(
            "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
            "--cluster-replicas", "0", "--cluster-yes",
        )  # fmt: skip
        self.wait_ok(timeout)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Block until every node reports ``cluster_state:ok`` and agrees on the slots."""
        deadline = time.monotonic() + timeout
        while True:
            states = [self._cli("-p", str(port), "cluster", "info") for port in self.ports]
            views = {frozenset(self._nodes(port)) for port in self.ports}
            if all("cluster_state:ok" in state for state in states) and len(views) == 1:
                return
            if time.monotonic() > deadline:
                raise RedisServerUnavailable(f"the cluster did not become ok: {states}")
            time.sleep(0.1)

    def nodes(self) -> list[Node]:
        """The masters as the first node sees them, in port order."""
        return sorted(self._nodes(self.ports[0]), key=lambda node: node.port)

    def owner(self, slot: int) -> Node:
        """The master serving ``slot``."""
        for node in self.nodes():
            if node.serves(slot):
                return node
        raise LookupError(f"no node serves slot {slot}")

    def move_slot(self, slot: int, port: int) -> None:
        """Migrate ``slot`` and its keys to the master on ``port``: ``CLUSTER SETSLOT``
        IMPORTING/MIGRATING, one ``MIGRATE`` of every key, then ``SETSLOT NODE`` on every node.
        Only for a quiet namespace: a lanecore script also touches keys it does not declare,
        and one that finds its slot mid-migration could stop half-way."""
        source = self.owner(slot)
        target = next(node for node in self.nodes() if node.port == port)
        if source.id == target.id:
            return
        src, dst = str(source.port), str(target.port)
        self._cli("-p", dst, "cluster", "setslot", str(slot), "importing", source.id)
        self._cli("-p", src, "cluster", "setslot", str(slot), "migrating", target.id)
        count = self._cli("-p", src, "cluster", "countkeysinslot", str(slot))
        keys = self._cli("-p", src, "cluster", "getkeysinslot", str(slot), count).split()
        if keys:
            self._cli(
                "-p", src, "migrate", "127.0.0.1", dst, "", "0", "10000", "replace",
                "keys", *keys,
            )  # fmt: skip
        for port_text in (dst, src, *(str(p) for p in self.ports if str(p) not in (src, dst))):
            self._cli("-p", port_text, "cluster", "setslot", str(slot), "node", target.id)
        self.wait_ok()

    def _nodes(self, port: int) -> list[Node]:
        found = []
        for line in self._cli("-p", str(port), "cluster", "nodes").splitlines():
            fields = line.split()
            if len(fields) < 8 or "master" not in fields[2].split(","):
                continue
            slots = []
            for text in fields[8:]:
                if text.startswith("["):  # a slot being imported/migrated
                    continue
                low, _, high = text.partition("-")
                slots.append((int(low), int(high or low)))
            address = fields[1].split("@")[0]
            found.append(Node(fields[0], int(address.rpartition(":")[2]), tuple(slots)))
        return found

    def _cli(self, *args: str) -> str:
        done = subprocess.run(
            [self.cli, "-h", "127.0.0.1", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=60,
        )
        output = done.stdout.strip()
        if done.returncode != 0 or output.startswith(("ERR", "(error)")):
            raise RedisServerUnavailable(
                f"redis-cli {' '.join(args)} failed: {output} {done.stderr.strip()}"
            )
        return output

    def close(self) -> None:
        """Stop every server and delete their directories."""
        for server in self.servers:
            server.close()

    def __enter__(self) -> RedisClusterServers:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["Node", "RedisClusterServers", "find_redis_cli"]
