"""Key layout of one namespace: every key starts with the hash tag ``{namespace}``, so all of
them live in one Redis Cluster slot and every Lua script touches a single slot.

Fixed keys (passed to each script as KEYS, in this order):

- ``lanes``    ZSET lane id -> base priority (the lanes the claim script considers)
- ``leases``   ZSET command id -> lease expiry (ms) of running commands
- ``delayed``  ZSET command id -> due time (ms) of commands waiting to retry
- ``wake``     LIST of wake-up tokens idle workers block on (BLPOP)
- ``fence``    STRING counter of fencing tokens
- ``evon``     STRING that exists while some process subscribes to events (TTL)
- ``events``   STREAM of lane events (capped)
- ``metrics``  HASH ``lane|counter`` -> count (SPEC §9 counter names)
- ``dlq``      ZSET command id -> sequence number of its dead letter (oldest first)
- ``dead``     HASH command id -> dead letter JSON
- ``info``     HASH global cap, total active, DLQ size, zombie acks, stalls, the claim
  sequence number ``rr`` (round-robin within a priority level), the count ``lord`` of lanes
  ever added (their ``ord``)
- ``config``   HASH lane id -> canonical lane config JSON ('' -> global settings)

Per lane: ``q:<lane>`` LIST of pending command ids (FIFO; reaped commands re-enter at the
front) and ``l:<lane>`` HASH of its runtime state (priority, min, max, active, token bucket,
paused, boost, pressure threshold and flag, sequence number of its last claim, ``ord``: its
place in the order lanes were added, which breaks priority ties of min reservations). Per
command: ``c:<id>`` HASH (type, lane, payload, state, attempts, fencing token, reply
channels, submit time, stalls, result or error). Submitters listen on the pub/sub channel
``r:<client id>``. An idle worker also blocks on its own wake-up list ``wk:<worker id>``
(pushed to unblock it) and queues its next claim behind that BLPOP, which claims nothing
while the gate ``wg:<worker id>`` exists.
"""

from __future__ import annotations

import re

FIXED = (
    "lanes",
    "leases",
    "delayed",
    "wake",
    "fence",
    "evon",
    "events",
    "metrics",
    "dlq",
    "dead",
    "info",
    "config",
)

_BAD = re.compile(r"[{}\s,]")


class Keys:
    """The key names of one namespace."""

    def __init__(self, namespace: str) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"namespace must be a non-empty str, got {namespace!r}")
        if _BAD.search(namespace):
            raise ValueError(
                f"namespace must not contain braces, commas or whitespace, got {namespace!r}"
            )
        self.namespace = namespace
        self.prefix = "{" + namespace + "}:"
        self.fixed = [self.prefix + name for name in FIXED]
        (
            self.lanes,
            self.leases,
            self.delayed,
            self.wake,
            self.fence,
            self.evon,
            self.events,
            self.metrics,
            self.dlq,
            self.dead,
            self.info,
            self.config,
        ) = self.fixed
        #: Never exists: PEXPIRE of it is a write that changes nothing (see Submitter._resync).
        self.primary_check = self.prefix + "primary-check"

    def command(self, command_id: str) -> str:
        return f"{self.prefix}c:{command_id}"

    def queue(self, lane_id: str) -> str:
        return f"{self.prefix}q:{lane_id}"

    def lane(self, lane_id: str) -> str:
        return f"{self.prefix}l:{lane_id}"

    def channel(self, client_id: str) -> str:
        return f"{self.prefix}r:{client_id}"

    def worker_wake(self, worker_id: str) -> str:
        return f"{self.prefix}wk:{worker_id}"

    def worker_gate(self, worker_id: str) -> str:
        return f"{self.prefix}wg:{worker_id}"
