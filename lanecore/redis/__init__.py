"""lanecore.redis: the Redis scale-out backend (extra ``lanecore[redis]``).

``QueueManagerBuilder()...with_backend(RedisBackend(url, namespace)).build()`` gives a
``DistributedManager``: many processes on many hosts share the same lanes, with priorities,
per-lane concurrency, the global cap with min reservations and rate limits enforced
cluster-wide by one atomic claim script, leases with fencing tokens, retries, dead letters,
events and metrics kept in Redis. ``python -m lanecore worker`` runs worker processes.

Importing this package needs the ``redis`` client package; ``import lanecore`` never does.
"""

from __future__ import annotations

try:
    import redis.asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "lanecore.redis needs the redis client package: pip install 'lanecore[redis]'"
    ) from exc

from lanecore.redis.acl import NamespaceForbidden, acl_rules
from lanecore.redis.backend import BackendClosed, RedisBackend
from lanecore.redis.builder import DistributedBuilder
from lanecore.redis.dlq import RedisDeadLetters
from lanecore.redis.handle import RemoteCommandError, RemoteHandle
from lanecore.redis.lanes import LaneConfigMismatch
from lanecore.redis.manager import DistributedManager
from lanecore.redis.replication import CommandLost, NotReplicated
from lanecore.redis.tls import TLSOptions

__all__ = [
    "BackendClosed",
    "CommandLost",
    "DistributedBuilder",
    "DistributedManager",
    "LaneConfigMismatch",
    "NamespaceForbidden",
    "NotReplicated",
    "RedisBackend",
    "RedisDeadLetters",
    "RemoteCommandError",
    "RemoteHandle",
    "TLSOptions",
    "acl_rules",
]
