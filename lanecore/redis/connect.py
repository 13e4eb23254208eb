"""Where and how a backend's clients connect, worked out once from its URL when the backend is
constructed: so a bad URL, TLS file or combination fails there, naming the bad value.

``connection_kwargs`` gives the keywords of redis-py's ConnectionPool: the URL's host, port,
db, credentials and query settings (redis-py's ``parse_url``), the TLS settings of a
``rediss://`` URL (``TLSOptions``, from ``tls=`` or the URL's ``ssl_*`` query), and on a Redis
Cluster the connection class that follows the namespace's slot (``lanecore.redis.cluster``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from redis.asyncio.connection import parse_url

from lanecore.redis.cluster import SlotConnection, SlotRoute, SSLSlotConnection
from lanecore.redis.tls import QUERY_NAMES, TLSOptions

SCHEMES = ("redis", "rediss", "unix")


def connection_kwargs(
    url: str, namespace: str, *, tls: TLSOptions | None, cluster: bool
) -> dict[str, Any]:
    """ConnectionPool keywords for ``url`` (ValueError naming what is wrong with it)."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, got {url!r}")
    if tls is not None and not isinstance(tls, TLSOptions):
        raise ValueError(f"tls must be a TLSOptions, got {tls!r}")
    if not isinstance(cluster, bool):
        raise ValueError(f"cluster must be a bool, got {cluster!r}")
    parts = urlsplit(url)
    shown = redacted(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, got {shown!r}")
    try:
        kwargs: dict[str, Any] = dict(parse_url(url))
    except ValueError as exc:
        raise ValueError(f"bad Redis URL {shown!r}: {exc}") from None
    query = dict(parse_qsl(parts.query))
    tls = TLSOptions.merge_query(tls, query)
    for name in QUERY_NAMES:
        kwargs.pop(name, None)
    if parts.scheme == "rediss":
        kwargs.update((tls or TLSOptions()).connection_kwargs())
    elif tls is not None:
        raise ValueError(f"TLS settings need a rediss:// URL, got {shown!r}")
    if cluster:
        if parts.scheme == "unix":
            raise ValueError(f"cluster=True needs a redis:// or rediss:// URL, got {shown!r}")
        if kwargs.get("db", 0) != 0:
            raise ValueError(f"a Redis Cluster has only database 0, got {shown!r}")
        kwargs.pop("db", None)
        seed = (kwargs.get("host", "localhost"), int(kwargs.get("port", 6379)))
        kwargs["route"] = SlotRoute(namespace, [seed])
        tls_on = parts.scheme == "rediss"
        kwargs["connection_class"] = SSLSlotConnection if tls_on else SlotConnection
    return kwargs


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


__all__ = ["SCHEMES", "connection_kwargs", "redacted"]
