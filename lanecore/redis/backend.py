"""RedisBackend: where a distributed manager keeps its lanes and commands, and the settings
of its leases; it owns the Redis connections and retries calls across outages.

Its settings and connections are ``lanecore.redis.base.BackendBase``; this class adds
``bind_builder``, which is how ``QueueManagerBuilder.with_backend`` reaches the Redis builder
without ``lanecore.builder`` importing ``lanecore.redis``."""

from __future__ import annotations

from lanecore.builder import QueueManagerBuilder
from lanecore.redis.base import TRANSIENT, BackendBase, BackendClosed, jittered
from lanecore.redis.builder import DistributedBuilder


class RedisBackend(BackendBase):
    """A Redis server (``url``) and a ``namespace`` that every process of one queue shares.

    - ``url``: ``redis://host:port/db`` (one server), or a Sentinel set-up:
      ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]``
      (port default 26379; ``?sentinel_password=`` when the sentinels want one). The same
      set-up in keywords: ``sentinels=[(host, port), ...], service="mymaster"`` (no url).
      Clients ask the sentinels where the primary is and follow a failover by themselves.
    - ``acknowledge``: when ``persisted()`` resolves: ``"primary"`` (default) once the primary
      stored the command; ``"replicated"`` once ``WAIT`` reports that a replica has it too,
      raising ``NotReplicated`` when none confirms within ``replication_timeout`` seconds.

    - ``lease``: seconds a claimed command stays assigned to its worker without a heartbeat
      (heartbeats renew it every ``lease / 3``); must be >= every lane's timeout + ``grace``.
    - ``max_stalls``: how often a command may lose its lease (worker crashed or hung) before
      it is dead-lettered instead of being queued again.
    - ``concurrency``: commands one worker process runs at once (its local slots; it claims up
      to that many per round trip).
    - ``result_ttl``: seconds a finished command's result stays in Redis (for idempotent
      re-submits of the same id and for submitters that reconnect).
    - ``idle_wait``: the longest an idle worker blocks on the wake-up list before looking again.
    - ``tls``: ``TLSOptions`` (CA file, client certificate) for a ``rediss://`` URL; the URL's
      ``ssl_*`` query may say the same instead.
    - ``cluster``: ``url`` is a node of a Redis Cluster; every connection goes to the node
      serving the namespace's slot, and follows it when the slot moves.
    """

    def bind_builder(
        self, builder: QueueManagerBuilder, *, overwrite_lanes: bool
    ) -> DistributedBuilder:
        """``builder``'s settings bound to this backend: the builder of a DistributedManager
        (``lanecore.builder.ScaleOutBackend``, called by ``with_backend`` and ``build``)."""
        return DistributedBuilder.from_builder(builder, self, overwrite_lanes)


__all__ = ["TRANSIENT", "BackendClosed", "RedisBackend", "jittered"]
