"""How a submit is acknowledged: ``"primary"`` (the primary ran the submit script) or
``"replicated"`` (then ``WAIT 1 timeout`` on the same connection reported that a replica
has it too, so the command survives a failover to that replica)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from lanecore.errors import LaneError
from lanecore.redis.scripts import Script

ACKNOWLEDGE = ("primary", "replicated")


class NotReplicated(LaneError):
    """Under ``acknowledge="replicated"``: no replica confirmed a submit within the
    backend's ``replication_timeout``. The command is stored on the primary and normally runs
    (its handle still resolves), but a failover before it reaches a replica would lose it;
    re-submitting it under the same id is safe (ids are idempotent)."""

    def __init__(self, command_id: str, timeout: float) -> None:
        self.command_id = command_id
        self.timeout = timeout
        super().__init__(
            f"command {command_id!r} is stored on the Redis primary, but no replica confirmed "
            f"it within {timeout:g}s (WAIT 1 returned 0: is a replica connected?)"
        )


class CommandLost(LaneError):
    """An acknowledged command is no longer in Redis: the primary that stored it failed
    before a replica had it (``acknowledge="primary"``), Redis restarted without AOF, or its
    record expired (``result_ttl``) before this client heard the result. Raised by its handle
    when the submitter re-reads its outstanding commands after reconnecting."""

    def __init__(self, command_id: str) -> None:
        self.command_id = command_id
        super().__init__(
            f"command {command_id!r} was acknowledged but is no longer in Redis (lost at a "
            "failover or a restart without AOF, or its result expired)"
        )


def check_acknowledge(value: object) -> str:
    """``value`` if it is one of ACKNOWLEDGE; ValueError naming it otherwise."""
    if value not in ACKNOWLEDGE:
        raise ValueError(f"acknowledge must be 'primary' or 'replicated', got {value!r}")
    return str(value)


async def call_replicated(
    script: Script, client: Redis, timeout_ms: int, *args: Any
) -> tuple[Any, int]:
    """Run ``script`` then ``WAIT 1 timeout_ms`` in one pipeline (one connection, so WAIT
    counts the replicas that have this script's writes); the script's reply and that count.
    A script missing from the server's cache (NOSCRIPT) is sent whole and the pair rerun."""
    for send_source in (False, True):
        pipe = client.pipeline(transaction=False)
        script.queue(pipe, *args, source=send_source)
        pipe.execute_command("WAIT", 1, timeout_ms)
        reply, copies = await pipe.execute(raise_on_error=False)
        if isinstance(reply, NoScriptError) and not send_source:
            continue
        for part in (reply, copies):
            if isinstance(part, Exception):
                raise part
        return reply, int(copies)
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["ACKNOWLEDGE", "CommandLost", "NotReplicated", "call_replicated", "check_acknowledge"]
