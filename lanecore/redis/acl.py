"""The least-privilege Redis ACL of one namespace: its keys (``{namespace}:*``), its result
channels (``{namespace}:r:*``) and only the commands lanecore sends, so a user made with it
can run workers and submitters of that namespace and touch nothing else.

The commands are those the Python side sends (``CLIENT_COMMANDS``) plus those the Lua scripts
call, read from the scripts themselves so the rule follows them when they change."""

from __future__ import annotations

import re

from lanecore.redis.keys import Keys
from lanecore.redis.scripts import NAMES, source

#: What the backend sends itself: the scripts (EVAL after NOSCRIPT), stats and DLQ reads,
#: the events stream, the idle workers' wake-up lists (their own: pushed and gated with
#: rpush, set and del) and the result channel.
CLIENT_COMMANDS = (
    "evalsha",
    "eval",
    "ping",
    "multi",
    "exec",
    "hget",
    "hmget",
    "hgetall",
    "pexpire",
    "zrange",
    "zcard",
    "llen",
    "set",
    "xrevrange",
    "xread",
    "blpop",
    "rpush",
    "del",
    "subscribe",
)

#: What a backend built with ``cluster=True`` adds: finding the node of the namespace's slot.
CLUSTER_COMMANDS = ("cluster|slots",)

#: What ``acknowledge="replicated"`` adds: a submit waits for a replica's copy.
REPLICATED_COMMANDS = ("wait",)

_CALL = re.compile(r"redis\.p?call\(\s*['\"]([A-Za-z]+)['\"]")
_GLOB = re.compile(r"([*?\[\]\\])")


class NamespaceForbidden(PermissionError):
    """The Redis user may not run what lanecore needs on the namespace (an ACL ``NOPERM``)."""


def script_commands() -> list[str]:
    """The commands the Lua scripts call, lower-case, sorted."""
    return sorted({m.lower() for name in NAMES for m in _CALL.findall(source(name))})


def acl_commands(*, cluster: bool = False, replicated: bool = False) -> list[str]:
    """Every command a namespace's user needs, lower-case, sorted."""
    extra = (*(CLUSTER_COMMANDS if cluster else ()), *(REPLICATED_COMMANDS if replicated else ()))
    return sorted({*CLIENT_COMMANDS, *script_commands(), *extra})


def acl_rules(namespace: str, *, cluster: bool = False, replicated: bool = False) -> str:
    """The ACL rules (after ``ACL SETUSER <user> on ><password>``) that let a user run
    ``namespace``'s workers and submitters and nothing else; ``cluster=True`` adds what a
    backend on a Redis Cluster needs, ``replicated=True`` what ``acknowledge="replicated"``
    does."""
    keys = Keys(namespace)  # validates the name
    prefix = _GLOB.sub(r"\\\1", keys.prefix)
    channels = _GLOB.sub(r"\\\1", keys.channel(""))
    needed = acl_commands(cluster=cluster, replicated=replicated)
    allowed = " ".join(f"+{command}" for command in needed)
    return f"resetkeys ~{prefix}* resetchannels &{channels}* -@all {allowed}"


__all__ = [
    "CLIENT_COMMANDS",
    "CLUSTER_COMMANDS",
    "REPLICATED_COMMANDS",
    "NamespaceForbidden",
    "acl_commands",
    "acl_rules",
    "script_commands",
]
