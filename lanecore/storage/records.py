"""What a Storage keeps — StoredCommand and StoredDeadLetter — and their checked encoding.

Both backends encode through the helpers here, so a payload that is not JSON-serialisable is
refused the same way (``TypeError`` naming the command, before anything is queued) and a
loaded payload is whatever JSON gives back (tuples come back as lists, dict keys as str).
"""

from __future__ import annotations

import enum
import json
import math
import operator
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Final

from lanecore.dlq import DeadLetter

MAX_INT64: Final = 2**63 - 1
DeadLetterId = str | int
"""A dead letter's command id: a str, or an int (the manager's counter ids) kept as an int."""


def _not_json(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Compact, and strict: NaN and infinities are not JSON, so they are refused rather than written
# as tokens that other JSON readers reject. JSONEncoder.encode builds a fresh C encoder on every
# call; building it once halves the cost of encoding a small payload. Without a markers dict
# (which an exception mid-encode would leave dirty) a cycle ends in RecursionError instead.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_C_ENCODER: Final = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, _not_json, encode_basestring_ascii, None, ":", ",", False, False, False
    )
)


class _NoPayload(enum.Enum):
    NO_PAYLOAD = "NO_PAYLOAD"

    def __repr__(self) -> str:
        return "NO_PAYLOAD"


NO_PAYLOAD: Final = _NoPayload.NO_PAYLOAD
"""Marks a dead letter saved without a payload (its command cannot be rebuilt). ``None`` is a
real JSON payload (``null``), so it cannot mean "absent"."""


def plainly_valid(command_id: object, command_type: object, lane_id: object, at: object) -> bool:
    """The common, obviously valid fields (non-empty ASCII id, ASCII type and lane, a finite
    float time): a handful of type checks instead of the full ones."""
    return (
        type(command_id) is str
        and bool(command_id)
        and command_id.isascii()
        and type(command_type) is str
        and command_type.isascii()
        and type(lane_id) is str
        and lane_id.isascii()
        and type(at) is float
        and math.isfinite(at)
    )


def plain_time(at: object) -> bool:
    """``at`` is a finite float: an epoch time that needs no conversion."""
    return type(at) is float and math.isfinite(at)


@dataclass(frozen=True, slots=True)
class StoredCommand:
    """An unfinished command as persisted: enough to re-submit it through a registered handler.

    ``retry_count`` is the number of attempts already started (0 before the first run);
    ``attempts`` is an alias. ``payload`` is any JSON-serialisable value. ``not_before`` is the
    wall-clock time (epoch seconds) a delayed command may first run, None if it has no delay:
    recovery schedules it for then, or runs it at once if that time has passed.
    """

    command_id: str
    command_type: str
    lane_id: str
    payload: Any = None
    retry_count: int = 0
    created_at: float = field(default_factory=time.time)
    last_attempt_at: float | None = None
    not_before: float | None = None
    # the payload's JSON text when encoded at creation (see ``pre_encoded``): encoded once
    payload_json: str | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def pre_encoded(
        cls,
        command_id: str,
        command_type: str,
        lane_id: str,
        payload: Any,
        payload_json: str,
        created_at: float,
        not_before: float | None = None,
    ) -> StoredCommand:
        """A new command (retry_count 0) whose payload was already encoded: ``payload_json``
        must be ``encode_payload(command_id, payload)``; it is stored as is. The submit path
        makes one per named command, so ASCII text skips ``__post_init__``'s checks."""
        if not (
            plainly_valid(command_id, command_type, lane_id, created_at)
            and (not_before is None or plain_time(not_before))
        ):
            command = cls(
                command_id, command_type, lane_id, payload, 0, created_at, None, not_before
            )
            object.__setattr__(command, "payload_json", payload_json)
            return command
        command = object.__new__(cls)
        _SET_ID(command, command_id)
        _SET_TYPE(command, command_type)
        _SET_LANE(command, lane_id)
        _SET_PAYLOAD(command, payload)
        _SET_RETRY_COUNT(command, 0)
        _SET_CREATED_AT(command, created_at)
        _SET_LAST_ATTEMPT_AT(command, None)
        _SET_NOT_BEFORE(command, not_before)
        _SET_PAYLOAD_JSON(command, payload_json)
        return command

    def __post_init__(self) -> None:
        # fast path: the common, obviously valid record costs a handful of type checks
        if (
            plainly_valid(self.command_id, self.command_type, self.lane_id, self.created_at)
            and type(self.retry_count) is int
            and 0 <= self.retry_count <= MAX_INT64
            and self.last_attempt_at is None
            and self.not_before is None
        ):
            return
        check_text("command_id", self.command_id, non_empty=True)
        check_text("command_type", self.command_type)
        check_text("lane_id", self.lane_id)
        check_count("retry_count", self.retry_count)
        object.__setattr__(self, "created_at", check_time("created_at", self.created_at))
        if self.last_attempt_at is not None:
            at = check_time("last_attempt_at", self.last_attempt_at)
            object.__setattr__(self, "last_attempt_at", at)
        if self.not_before is not None:
            object.__setattr__(self, "not_before", check_time("not_before", self.not_before))

    @property
    def attempts(self) -> int:
        """Alias of ``retry_count``: attempts already started."""
        return self.retry_count


def _slot_setter(name: str) -> Callable[[StoredCommand, Any], None]:
    setter: Callable[[StoredCommand, Any], None] = vars(StoredCommand)[name].__set__
    return setter


# the slot setters, for pre_encoded (frozen only blocks __setattr__, not the slots themselves)
_SET_ID: Final = _slot_setter("command_id")
_SET_TYPE: Final = _slot_setter("command_type")
_SET_LANE: Final = _slot_setter("lane_id")
_SET_PAYLOAD: Final = _slot_setter("payload")
_SET_RETRY_COUNT: Final = _slot_setter("retry_count")
_SET_CREATED_AT: Final = _slot_setter("created_at")
_SET_LAST_ATTEMPT_AT: Final = _slot_setter("last_attempt_at")
_SET_NOT_BEFORE: Final = _slot_setter("not_before")
_SET_PAYLOAD_JSON: Final = _slot_setter("payload_json")


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A persisted dead letter: the DLQ's own record plus, when the command can be rebuilt
    (registered handler + payload), its payload — so ``retry(command_id)`` can re-submit it."""

    letter: DeadLetter
    payload: Any = NO_PAYLOAD

    @property
    def has_payload(self) -> bool:
        return self.payload is not NO_PAYLOAD


def check_text(name: str, value: object, *, non_empty: bool = False) -> str:
    """value as a str SQLite can store (valid UTF-8); TypeError/ValueError naming it."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {value!r}")
    if non_empty and not value:
        raise ValueError(f"{name} must not be empty")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name} is not valid UTF-8 text: {value!r}") from exc
    return value


def check_count(name: str, value: object) -> int:
    """value as an int in 0..2**63-1 (an SQLite INTEGER)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not 0 <= value <= MAX_INT64:
        raise ValueError(f"{name} must be in 0..2**63-1, got {value!r}")
    return value


def check_time(name: str, value: object) -> float:
    """value as a finite float epoch time."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be an epoch time in seconds (float), got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_dead_letter_id(value: object) -> DeadLetterId:
    """A dead letter's command id: a str, or an int within SQLite's INTEGER range."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_INT64 - 1 <= value <= MAX_INT64:
            raise ValueError(f"command_id {value!r} does not fit a 64-bit integer")
        return value
    if isinstance(value, str):
        return check_text("command_id", value)
    raise TypeError(f"a stored dead letter's command_id must be a str or an int, got {value!r}")


def encode_payload(command_id: object, payload: Any) -> str:
    """payload as compact JSON text; TypeError naming the command if it is not JSON."""
    try:
        if _C_ENCODER is None:
            return _ENCODER.encode(payload)
        return "".join(_C_ENCODER(payload, 0))
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(
            f"payload of command {command_id!r} is not JSON-serialisable: {exc}"
        ) from exc


def decode_payload(text: str | None) -> Any:
    """The payload stored as ``text`` (None / SQL NULL means NO_PAYLOAD)."""
    return NO_PAYLOAD if text is None else json.loads(text)


CommandRow = tuple[str, str, str, str, int, float, float | None]
"""A command without a due time: command_id, command_type, lane_id, payload JSON, retry_count,
created_at, last_attempt_at (its not_before is NULL). Binding an eighth, NULL, parameter would
cost SQLite about a fifth more per row, so the common case does not."""
DueCommandRow = tuple[str, str, str, str, int, float, float | None, float]
"""A command with a due time: CommandRow's columns, then not_before."""
SavedRow = CommandRow | DueCommandRow
PLAIN_ROW_WIDTH: Final = 7
DeadLetterRow = tuple[DeadLetterId, str, str, str, int, float, str | None]


def command_row(command: StoredCommand) -> SavedRow:
    """The checked row for ``command``: its fields with the payload as JSON text (a
    DueCommandRow if it has a due time, else a CommandRow)."""
    if not isinstance(command, StoredCommand):
        raise TypeError(f"expected a StoredCommand, got {command!r}")
    row: CommandRow = (
        command.command_id,
        command.command_type,
        command.lane_id,
        command.payload_json
        if command.payload_json is not None
        else encode_payload(command.command_id, command.payload),
        command.retry_count,
        command.created_at,
        command.last_attempt_at,
    )
    not_before = command.not_before
    return row if not_before is None else (*row, not_before)


_ROW_FIELDS: Final = operator.attrgetter(
    "command_id",
    "command_type",
    "lane_id",
    "payload_json",
    "retry_count",
    "created_at",
    "last_attempt_at",
)
_PAYLOAD_JSON: Final = operator.attrgetter("payload_json")
_NOT_BEFORE: Final = operator.attrgetter("not_before")


def command_rows(commands: Iterable[StoredCommand]) -> tuple[list[SavedRow], bool]:
    """``command_row`` of each command, and whether any has a due time. Commands made by
    ``pre_encoded`` (the submit path's) already hold their JSON, so when every one is such a
    record without a due time the rows are read off in C."""
    commands = list(commands)
    if (
        set(map(type, commands)) <= {StoredCommand}
        and None not in map(_PAYLOAD_JSON, commands)
        and set(map(_NOT_BEFORE, commands)) <= {None}
    ):
        return list(map(_ROW_FIELDS, commands)), False
    rows = [command_row(c) for c in commands]
    return rows, has_due_times(rows)


def has_due_times(rows: list[SavedRow]) -> bool:
    """Whether any of ``rows`` is a DueCommandRow (saved by the eight-column statement)."""
    return bool(rows) and max(map(len, rows)) > PLAIN_ROW_WIDTH


def id_rows(command_ids: Iterable[str]) -> list[tuple[str]]:
    """``(check_text("command_id", i),)`` for each id; all-ASCII str ids (ours) are checked
    in one pass over their concatenation."""
    ids = list(command_ids)
    try:
        plain = "".join(ids).isascii()
    except TypeError:  # not all str: let check_text name the bad one
        plain = False
    if plain:
        return list(zip(ids))
    return [(check_text("command_id", i),) for i in ids]


def dead_letter_row(letter: DeadLetter, payload: Any) -> DeadLetterRow:
    """The checked row for a dead letter (payload JSON text, or None for NO_PAYLOAD).

    The error text is diagnostic, so text that is not valid UTF-8 is escaped, not refused.
    """
    if not isinstance(letter, DeadLetter):
        raise TypeError(f"expected a DeadLetter, got {letter!r}")
    command_id = check_dead_letter_id(letter.command_id)
    error = letter.error
    if not isinstance(error, str):
        raise TypeError(f"DeadLetter.error must be a str, got {error!r}")
    if not error.isascii():
        error = error.encode("utf-8", "backslashreplace").decode("utf-8")
    return (
        command_id,
        check_text("command_type", letter.command_type),
        check_text("lane_id", letter.lane_id),
        error,
        check_count("attempts", letter.attempts),
        check_time("failed_at", letter.failed_at),
        None if payload is NO_PAYLOAD else encode_payload(command_id, payload),
    )


def command_from_row(row: SavedRow) -> StoredCommand:
    """The StoredCommand of a row (loaded rows always have the not_before column)."""
    not_before = row[7] if len(row) > PLAIN_ROW_WIDTH else None
    return StoredCommand(
        row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], not_before
    )


def dead_letter_from_row(row: DeadLetterRow) -> StoredDeadLetter:
    letter = DeadLetter(row[0], row[1], row[2], row[3], row[4], row[5])
    return StoredDeadLetter(letter, decode_payload(row[6]))
