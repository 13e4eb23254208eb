"""Redis Sentinel set-ups: the ``redis+sentinel://`` URL form (the one a worker's ``--redis``
takes too), the keyword form it is equivalent to, and clients of the primary that Sentinel
names. Those follow a failover by themselves: redis-py's SentinelConnectionPool asks the
sentinels for the primary's address on every (re)connect, and turns a READONLY reply from a
demoted primary into a ConnectionError (retried like any dropped connection)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from redis.asyncio import Redis

SCHEME = "redis+sentinel"
DEFAULT_PORT = 26379
QUERY = ("sentinel_username", "sentinel_password")
FORM = (
    "redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]"
    "[?sentinel_password=...]"
)

_SERVICE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """Where the primary is found: the sentinels' addresses and the service (master) name
    they monitor, the database, credentials of the Redis servers and of the sentinels."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None

    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL of this target (it parses back to an equal one)."""
        auth = ""
        if self.username is not None or self.password is not None:
            user = quote(self.username or "", safe="")
            auth = f"{user}:{quote(self.password or '', safe='')}@"
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.sentinels)
        query = "&".join(
            f"{name}={quote(value, safe='')}"
            for name, value in (
                ("sentinel_username", self.sentinel_username),
                ("sentinel_password", self.sentinel_password),
            )
            if value is not None
        )
        return f"{SCHEME}://{auth}{hosts}/{self.service}/{self.db}" + (f"?{query}" if query else "")


def is_sentinel_url(url: str) -> bool:
    """True when ``url`` is of the ``redis+sentinel://`` form."""
    return url[: len(SCHEME) + 3].lower() == SCHEME + "://"


def _masked(url: str) -> str:
    """``url`` with any password replaced by ``***`` (it goes into error messages)."""
    url = re.sub(r"(//[^/@]*?:)[^/@]*@", r"\1***@", url, count=1)
    return re.sub(r"(sentinel_password=)[^&]*", r"\1***", url)


def _address(text: str, url: str) -> tuple[str, int]:
    """``host[:port]`` or ``[ipv6][:port]`` of one sentinel."""
    port_text: str | None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            host = ""
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text = text.partition(":")
        port_text = port_text if colon else None
    if not host:
        raise ValueError(f"bad sentinel address {text!r} in {_masked(url)!r} (form: {FORM})")
    if port_text is None:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"bad sentinel port {port_text!r} in {_masked(url)!r} (1..65535)")
    return host, int(port_text)


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The target a ``redis+sentinel://`` URL names; ValueError naming the bad part."""
    if not is_sentinel_url(url):
        raise ValueError(f"not a {SCHEME}:// URL: {_masked(url)!r} (form: {FORM})")
    rest = url[len(SCHEME) + 3 :]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    if not hosts:
        raise ValueError(f"no sentinel address in {_masked(url)!r} (form: {FORM})")
    sentinels = tuple(_address(part, url) for part in hosts.split(","))
    parts = path.split("/") if path else []
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash
    if not parts or len(parts) > 2:
        raise ValueError(
            f"{_masked(url)!r} must name the service after the addresses (form: {FORM})"
        )
    service = check_service(unquote(parts[0]))
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError(f"bad database {parts[1]!r} in {_masked(url)!r} (an int >= 0)")
        db = int(parts[1])
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if name not in QUERY:
            raise ValueError(
                f"unknown option {name!r} in {_masked(url)!r} (known: {', '.join(QUERY)})"
            )
        options[name] = value
    return SentinelTarget(
        sentinels,
        service,
        db,
        username,
        password,
        options.get("sentinel_username"),
        options.get("sentinel_password"),
    )


def check_service(service: object) -> str:
    """The service (master) name Sentinel monitors; ValueError naming a bad one."""
    if not isinstance(service, str) or not _SERVICE.match(service):
        raise ValueError(
            f"service must be the name Sentinel monitors (letters, digits, '.', '_', '-'), "
            f"got {service!r}"
        )
    return service


def sentinel_target(sentinels: object, service: object) -> SentinelTarget:
    """The keyword form: ``sentinels`` a non-empty list of ``(host, port)`` pairs and the
    ``service`` name; ValueError naming the bad value."""
    if isinstance(sentinels, (str, bytes)) or not isinstance(sentinels, Sequence):
        raise ValueError(f"sentinels must be a list of (host, port) pairs, got {sentinels!r}")
    if not sentinels:
        raise ValueError("sentinels must name at least one (host, port) pair, got []")
    pairs: list[tuple[str, int]] = []
    for item in sentinels:
        ok = isinstance(item, (tuple, list)) and len(item) == 2
        host, port = item if ok else ("", 0)
        if (
            not isinstance(host, str)
            or not host
            or isinstance(port, bool)
            or not isinstance(port, int)
            or not 1 <= port <= 65535
        ):
            raise ValueError(
                f"each sentinel must be a (host, port) pair with port 1..65535, got {item!r}"
            )
        pairs.append((host, port))
    return SentinelTarget(tuple(pairs), check_service(service))


def open_client(target: SentinelTarget, **connection: Any) -> tuple[Redis, Any]:
    """A client of ``target``'s current primary (``connection``: redis-py connection
    settings) and the ``Sentinel`` it asks; close both (see ``close_sentinel``)."""
    from redis.asyncio.sentinel import Sentinel

    asking: dict[str, Any] = {
        "socket_timeout": connection.get("socket_connect_timeout", 5.0),
        "socket_connect_timeout": connection.get("socket_connect_timeout", 5.0),
    }
    if target.sentinel_username is not None:
        asking["username"] = target.sentinel_username
    if target.sentinel_password is not None:
        asking["password"] = target.sentinel_password
    sentinel = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
        list(target.sentinels), sentinel_kwargs=asking
    )
    if target.username is not None:
        connection["username"] = target.username
    if target.password is not None:
        connection["password"] = target.password
    client: Redis = sentinel.master_for(target.service, db=target.db, **connection)
    return client, sentinel


async def close_sentinel(sentinel: Any) -> None:
    """Close the connections ``sentinel`` keeps to the sentinels themselves."""
    for node in sentinel.sentinels:
        await node.aclose()
