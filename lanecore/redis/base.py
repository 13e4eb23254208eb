"""BackendBase: what the parts of a distributed manager use of its RedisBackend (the Redis
server and namespace, the lease settings, the connections and retrying across outages).

It is RedisBackend minus ``bind_builder``, which needs the DistributedBuilder; the manager,
submitter, worker and event reader import this module so none of them imports the builder."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, NoPermissionError, TimeoutError

from lanecore._durations import Duration, check_int, to_seconds
from lanecore.redis.acl import NamespaceForbidden
from lanecore.redis.connect import connection_kwargs, redacted
from lanecore.redis.keys import Keys
from lanecore.redis.replication import check_acknowledge
from lanecore.redis.scripts import Scripts
from lanecore.redis.sentinel import (
    SentinelTarget,
    close_sentinel,
    is_sentinel_url,
    open_client,
    parse_sentinel_url,
    sentinel_target,
)
from lanecore.redis.tls import TLSOptions

logger = logging.getLogger("lanecore.redis")

T = TypeVar("T")

#: What a lost or restarting Redis raises; calls are retried on these.
TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    BusyLoadingError,
    OSError,
)


class BackendClosed(RuntimeError):
    """The backend was closed while a call was waiting for Redis to come back."""


class BackendBase:
    """A Redis server and namespace, with the clients made for them and the retry loop; see
    RedisBackend (the class to construct) for the parameters."""

    def __init__(
        self,
        url: str | None = None,
        namespace: str = "lanecore",
        *,
        lease: Duration = 30.0,
        grace: Duration = 5.0,
        max_stalls: int = 3,
        concurrency: int = 32,
        result_ttl: Duration = 3600.0,
        idle_wait: Duration = 1.0,
        connect_timeout: Duration = 5.0,
        tls: TLSOptions | None = None,
        cluster: bool = False,
        sentinels: Sequence[tuple[str, int]] | None = None,
        service: str | None = None,
        acknowledge: str = "primary",
        replication_timeout: Duration = 5.0,
    ) -> None:
        self.sentinel: SentinelTarget | None = None
        if sentinels is not None or service is not None:
            if url is not None:
                raise ValueError(
                    f"pass either url or sentinels= and service=, not both (url={url!r})"
                )
            self.sentinel = sentinel_target(sentinels, service)
            url = self.sentinel.url
        elif not isinstance(url, str) or not url:
            raise ValueError(f"url must be a redis:// or redis+sentinel:// URL, got {url!r}")
        elif is_sentinel_url(url):
            self.sentinel = parse_sentinel_url(url)
        if self.sentinel is not None and (tls is not None or cluster):
            raise ValueError("tls= and cluster= do not go with Sentinel (not supported yet)")
        self.acknowledge = check_acknowledge(acknowledge)
        self.replication_timeout = to_seconds("replication_timeout", replication_timeout)
        self.keys = Keys(namespace)
        self._connection: dict[str, Any] | None = None  # None: Sentinel finds the server
        if self.sentinel is None:
            self._connection = connection_kwargs(url, namespace, tls=tls, cluster=cluster)
        self.url = url
        self.cluster = cluster
        self.namespace = namespace
        self.lease = to_seconds("lease", lease)
        self.grace = to_seconds("grace", grace, allow_zero=True)
        self.max_stalls = check_int("max_stalls", max_stalls, 0)
        self.concurrency = check_int("concurrency", concurrency, 1)
        self.result_ttl = to_seconds("result_ttl", result_ttl)
        self.idle_wait = to_seconds("idle_wait", idle_wait)
        self.connect_timeout = to_seconds("connect_timeout", connect_timeout)
        self.scripts = Scripts(self.keys.fixed, self.keys.prefix)
        self._clients: list[Redis] = []
        self._sentinels: dict[int, object] = {}  # id(client) -> the Sentinel it asks
        self.closed = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({redacted(self.url)!r}, namespace={self.namespace!r}, "
            f"lease={self.lease:g})"
        )

    @property
    def lease_ms(self) -> int:
        return int(self.lease * 1000)

    @property
    def result_ttl_ms(self) -> int:
        return int(self.result_ttl * 1000)

    def client(self, *, blocking: bool = False, retries: int = 2) -> Redis:
        """A new client (its own connection pool); ``blocking`` ones may wait in BLPOP/XREAD
        for up to ``idle_wait`` seconds, so their socket timeout is longer. ``retries=0``
        makes every dropped connection visible to the caller (pub/sub must notice, to
        re-read what it missed meanwhile)."""
        socket_timeout = self.idle_wait + 10.0 if blocking else max(10.0, self.connect_timeout)
        if self.acknowledge == "replicated":  # a submit's WAIT blocks up to this long
            socket_timeout += self.replication_timeout
        settings: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.02), retries),
            "retry_on_error": [ConnectionError, TimeoutError, BusyLoadingError],
        }
        client: Redis
        if self._connection is not None:
            settings.update(self._connection)  # the URL's own settings win, as in from_url
            client = Redis.from_pool(ConnectionPool(**settings))
        else:
            assert self.sentinel is not None
            client, sentinel = open_client(self.sentinel, **settings)
            self._sentinels[id(client)] = sentinel
        self._clients.append(client)
        return client

    async def retrying(
        self, what: str, call: Callable[[], Awaitable[T]], *, give_up_after: float | None = None
    ) -> T:
        """``await call()``, retried with capped exponential backoff while Redis is unreachable
        or loading (a restart); gives up after ``give_up_after`` seconds (None: never, until
        the backend is closed)."""
        delay = 0.02
        loop = asyncio.get_running_loop()
        deadline = None if give_up_after is None else loop.time() + give_up_after
        warned = False
        while True:
            try:
                result = await call()
            except NoPermissionError as exc:
                raise NamespaceForbidden(
                    f"{what}: the Redis user may not use namespace {self.namespace!r} ({exc}); "
                    f"grant it lanecore.redis.acl_rules({self.namespace!r}"
                    f"{', cluster=True' if self.cluster else ''})"
                ) from exc
            except TRANSIENT as exc:
                if self.closed:
                    raise BackendClosed(f"redis backend closed while {what}") from exc
                if deadline is not None and loop.time() + delay > deadline:
                    raise
                if not warned:
                    logger.warning("lanecore.redis: %s failed (%s); retrying", what, exc)
                    warned = True
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)
                continue
            if warned:
                logger.warning("lanecore.redis: %s succeeded again", what)
            return result

    async def ping(self, timeout: float | None = None) -> None:
        """Check that Redis answers (ConnectionError after ``timeout``, default
        ``connect_timeout`` seconds)."""
        client = self.client()
        try:
            await self.retrying(
                "connecting", client.ping, give_up_after=timeout or self.connect_timeout
            )
        finally:
            await self.release(client)

    async def release(self, client: Redis) -> None:
        """Close one client made by ``client()``."""
        if client in self._clients:
            self._clients.remove(client)
        sentinel = self._sentinels.pop(id(client), None)
        with contextlib.suppress(Exception):  # a broken connection: nothing left to do
            await client.aclose()
        if sentinel is not None:
            with contextlib.suppress(Exception):
                await close_sentinel(sentinel)

    async def aclose(self) -> None:
        """Close every client; calls still retrying give up with BackendClosed."""
        self.closed = True
        for client in list(self._clients):
            await self.release(client)


def jittered(seconds: float) -> float:
    """A wait of about ``seconds`` (+-10 %), so processes do not beat in lockstep."""
    return seconds * (0.9 + 0.2 * random.random())


__all__ = ["TRANSIENT", "BackendBase", "BackendClosed", "jittered"]
