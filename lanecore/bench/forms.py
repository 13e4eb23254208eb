"""The four everyday command forms the one-submit-per-command workloads use, built before the
timer starts, and what the hand-written pool gets for each.

- ``fn``: one ``async def`` function, submitted for every command;
- ``partial``: ``functools.partial(noop_arg, i)``, one per command;
- ``object``: one ``NoopCommand`` instance per command (``command_type`` + ``async def
  execute``);
- ``named``: ``submit(lane, NAMED, i)`` with one handler registered under NAMED and no storage.

The pool gets the equivalent callable, made where its user would make it: the function and
the partial as they are, ``obj.execute`` and ``functools.partial(noop_handler, payload)`` in
the submitting loop (the lanecore side makes its bound ``execute`` and its named command
inside ``submit`` too), so both sides are timed from the same pre-built inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from lanecore import NamedCommand
from lanecore.bench.peers import noop

FORMS: tuple[str, ...] = ("fn", "partial", "object", "named")
"""Every form, in the order the tables list them."""

FORM_TITLES: dict[str, str] = {
    "fn": "async function",
    "partial": "functools.partial",
    "object": "object command",
    "named": "named command",
}

NAMED = "noop"
"""The command type the named form registers ``noop_handler`` under."""


async def noop_arg(_payload: int) -> None:
    """The no-op the ``partial`` form binds one int to."""


async def noop_handler(_payload: int) -> None:
    """The no-op handler registered for the ``named`` form."""


class NoopCommand:
    """The ``object`` form: a command object as users write one, holding its own data."""

    command_type = "noop-object"

    def __init__(self, n: int) -> None:
        self.n = n

    async def execute(self) -> None:
        """Does nothing."""


def check_form(form: str) -> str:
    """``form`` itself, or ValueError naming the forms."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    return form


def items(form: str, commands: int) -> list[Any]:
    """What is handed to each submit: the command (fn, partial, object) or the payload
    (named), one per command; the pool starts from the same items."""
    check_form(form)
    if form == "fn":
        return [noop] * commands
    if form == "partial":
        partial = functools.partial
        return [partial(noop_arg, i) for i in range(commands)]
    if form == "object":
        return [NoopCommand(i) for i in range(commands)]
    return list(range(commands))


def batch_commands(form: str, commands: int) -> list[Any]:
    """The same commands as ``items`` as ``submit_many`` takes them. A named command has no
    ``submit_many`` spelling, so it goes in as the ``NamedCommand`` its ``submit`` makes."""
    made = items(form, commands)
    if form == "named":
        return [NamedCommand(NAMED, payload, noop_handler) for payload in made]
    return made


def interleaved(lanes: Sequence[Any], commands: int) -> list[Any]:
    """``lanes[i % len(lanes)]`` for every command i: command i goes to lane i mod n."""
    n = len(lanes)
    return [lanes[i % n] for i in range(commands)]


def by_lane(made: list[Any], lanes: int) -> list[list[Any]]:
    """The commands ``interleaved`` sends to each lane, in order: lane j gets j, j+n, ..."""
    return [made[j::lanes] for j in range(lanes)]
