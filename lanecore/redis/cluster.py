"""A namespace on a Redis Cluster: all of its keys share the hash tag ``{namespace}``, so they
live in one slot and one node (that slot's master) serves the whole namespace. The backend's
clients are then plain clients whose connections go to that node.

``SlotRoute`` knows (and caches, for every client of one backend) which node that is: it asks
``CLUSTER SLOTS`` of a known node, and learns the new owner from a ``MOVED`` reply. A
``SlotConnection`` connects to the current owner; a reply saying the slot is elsewhere or
unavailable (``MOVED``, ``ASK``, ``TRYAGAIN``, ``CLUSTERDOWN``) closes the connection and raises
``SlotMoved``, a ConnectionError, so the retries that already cover a dropped connection send
the call again, to the new owner. Nothing ran on the node that refused: Redis checks the slot
before running a command or a script.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

Address = tuple[str, int]

#: Reply prefixes meaning "the slot is not (or not yet) served here".
_ELSEWHERE = ("MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN")


class SlotMoved(ConnectionError):
    """The node refused the call because the namespace's slot is (being) served elsewhere;
    the call is retried on the slot's current owner."""


class NotACluster(ValueError):
    """``cluster=True`` but the server is not a Redis Cluster node."""


class SlotRoute:
    """Which cluster node serves one namespace's slot; shared by every connection of a backend.

    ``seeds`` are the nodes to ask first (the URL's host); every node a ``CLUSTER SLOTS``
    reply names is asked too, if they fail."""

    def __init__(self, namespace: str, seeds: list[Address]) -> None:
        self.slot = key_slot(namespace.encode("utf-8"))
        self.seeds = list(seeds)
        self.known: list[Address] = []
        self.owner: Address | None = None

    def __repr__(self) -> str:
        return f"SlotRoute(slot={self.slot}, owner={self.owner})"

    def candidates(self) -> list[Address]:
        """The nodes to ask for the owner, seeds first."""
        return self.seeds + [node for node in self.known if node not in self.seeds]

    def learn(self, reply: Any, asked: Address) -> Address:
        """Remember the nodes and this slot's master from a ``CLUSTER SLOTS`` reply."""
        owner: Address | None = None
        known: list[Address] = []
        for entry in reply:
            start, end, master = int(entry[0]), int(entry[1]), entry[2]
            host = _text(master[0]) or asked[0]  # '' : the node we asked
            address = (host, int(master[1]))
            if address not in known:
                known.append(address)
            if start <= self.slot <= end:
                owner = address
        self.known = known
        if owner is None:
            raise SlotMoved(f"no cluster node serves slot {self.slot} (asked {_show(asked)})")
        self.owner = owner
        return owner

    def moved(self, message: str) -> None:
        """Follow a ``MOVED <slot> <host>:<port>`` reply (other replies: ask again)."""
        parts = message.split()
        if parts[0] == "MOVED" and len(parts) == 3 and int(parts[1]) == self.slot:
            host, _, port = parts[2].rpartition(":")
            self.owner = (host, int(port))
        else:
            self.owner = None

    def forget(self, address: Address) -> None:
        """``address`` did not answer: find the owner again on the next connect."""
        if self.owner == address:
            self.owner = None


class _SlotMixin:
    """Connects to ``route``'s owner (finding it first when unknown) and turns "the slot is
    elsewhere" replies into SlotMoved. Mixed into redis-py's Connection / SSLConnection."""

    host: str
    port: int
    #: the redis-py class a probe connection is made of (same credentials and TLS)
    plain: type[Connection] = Connection

    def __init__(self, *, route: SlotRoute, **kwargs: Any) -> None:
        self.route = route
        self._probe_kwargs = {k: v for k, v in kwargs.items() if k not in ("host", "port")}
        super().__init__(**kwargs)

    async def _locate(self) -> None:
        """Point this connection at the slot's owner (asking the cluster when unknown)."""
        if not self.is_connected:  # type: ignore[attr-defined]
            self.host, self.port = self.route.owner or await self._find_owner()

    async def connect(self, *args: Any, **kwargs: Any) -> None:
        await self._locate()
        await super().connect(*args, **kwargs)  # type: ignore[misc]

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        # redis-py >= 6 (re)connects through this, not connect()
        await self._locate()
        await super().connect_check_health(*args, **kwargs)  # type: ignore[misc,unused-ignore]

    async def _connect(self) -> None:
        try:
            await super()._connect()  # type: ignore[misc]
        except (ConnectionError, TimeoutError, OSError):
            self.route.forget((self.host, self.port))
            raise

    async def _find_owner(self) -> Address:
        route = self.route
        errors: list[str] = []
        for address in route.candidates():
            probe = self._probe(address)
            try:
                await probe.connect()  # type: ignore[no-untyped-call]
                await probe.send_command("CLUSTER", "SLOTS")
                reply = await probe.read_response()
            except (ConnectionError, TimeoutError, OSError) as exc:
                errors.append(f"{_show(address)}: {exc}")
                continue
            except ResponseError as exc:
                if "cluster support disabled" in str(exc):
                    raise NotACluster(
                        f"{_show(address)} is not a Redis Cluster node ({exc}); a single "
                        "server needs no cluster=True"
                    ) from None
                raise
            finally:
                await probe.disconnect()
            return route.learn(reply, address)
        raise ConnectionError(
            f"no cluster node answered CLUSTER SLOTS (slot {route.slot}): {'; '.join(errors)}"
        )

    def _probe(self, address: Address) -> Connection:
        """A one-off connection like this one (same credentials and TLS) to ``address``."""
        kwargs = dict(self._probe_kwargs)
        kwargs["retry"] = Retry(NoBackoff(), 0)
        return self.plain(host=address[0], port=address[1], **kwargs)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except ResponseError as exc:
            message = _elsewhere(exc)
            if message is None:
                raise
            self.route.moved(message)
            await self.disconnect(nowait=True)  # type: ignore[attr-defined]
            raise SlotMoved(
                f"slot {self.route.slot} of the namespace: {message} (retrying)"
            ) from exc


class SlotConnection(_SlotMixin, Connection):
    """A TCP connection to the node serving the namespace's slot."""


class SSLSlotConnection(_SlotMixin, SSLConnection):
    """A TLS connection to the node serving the namespace's slot."""

    plain = SSLConnection


def _elsewhere(error: ResponseError) -> str | None:
    """The reply as Redis sent it (``MOVED <slot> <host>:<port>``...) if it says the slot is
    served elsewhere, else None. Newer redis-py parsers raise MovedError/AskError with the
    ``MOVED ``/``ASK `` word stripped from the text, older ones a plain ResponseError."""
    message = str(error)
    if message.startswith(_ELSEWHERE):
        return message
    if isinstance(error, MovedError):  # before AskError: it subclasses it
        return f"MOVED {message}"
    if isinstance(error, AskError):
        return f"ASK {message}"
    if isinstance(error, TryAgainError):
        return f"TRYAGAIN {message}"
    if isinstance(error, ClusterDownError):
        return f"CLUSTERDOWN {message}"
    return None


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _show(address: Address) -> str:
    return f"{address[0]}:{address[1]}"


__all__ = ["NotACluster", "SSLSlotConnection", "SlotConnection", "SlotMoved", "SlotRoute"]
