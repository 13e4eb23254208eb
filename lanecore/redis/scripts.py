"""The Lua scripts (``lua/*.lua``, each prefixed with ``common.lua``) and how they are called:
EVALSHA, falling back to EVAL (which also reloads the script) after ``NOSCRIPT``, e.g. when
Redis restarted without its script cache."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

NAMES = ("submit", "step", "renew", "reap", "config", "cancel", "dlq", "pause", "group", "lanes")


@cache
def source(name: str) -> str:
    """The full text of script ``name``: the shared helpers, then its own body."""
    lua = files("lanecore.redis").joinpath("lua")
    return (
        lua.joinpath("common.lua").read_text("utf-8")
        + "\n"
        + lua.joinpath(f"{name}.lua").read_text("utf-8")
    )


class Script:
    """One script of a namespace: ``await script(client, *args)`` runs it with the namespace's
    fixed keys and its prefix as ARGV[1]."""

    def __init__(self, name: str, keys: list[str], prefix: str) -> None:
        self.name = name
        self.source = source(name)
        self.sha = hashlib.sha1(self.source.encode("utf-8")).hexdigest()
        self._keys = keys
        self._prefix = prefix

    async def __call__(self, client: Redis, *args: Any) -> Any:
        keys = self._keys
        try:
            return await cast(Any, client.evalsha(self.sha, len(keys), *keys, self._prefix, *args))
        except NoScriptError:
            return await cast(Any, client.eval(self.source, len(keys), *keys, self._prefix, *args))

    def queue(self, pipe: Pipeline, *args: Any, source: bool = False) -> None:
        """Add a call of this script to ``pipe`` (by its SHA, or its whole text with
        ``source``: the retry after NOSCRIPT)."""
        keys = self._keys
        if source:
            pipe.eval(self.source, len(keys), *keys, self._prefix, *args)
        else:
            pipe.evalsha(self.sha, len(keys), *keys, self._prefix, *args)


class Scripts:
    """Every script of one namespace, as attributes."""

    def __init__(self, keys: list[str], prefix: str) -> None:
        self.submit = Script("submit", keys, prefix)
        self.step = Script("step", keys, prefix)
        self.renew = Script("renew", keys, prefix)
        self.reap = Script("reap", keys, prefix)
        self.config = Script("config", keys, prefix)
        self.cancel = Script("cancel", keys, prefix)
        self.dlq = Script("dlq", keys, prefix)
        self.pause = Script("pause", keys, prefix)
        self.group = Script("group", keys, prefix)
        self.lanes = Script("lanes", keys, prefix)
