"""Named commands and their durability: the handler registry and the glue to a Storage.

A named command is ``submit(lane_id, "command_type", payload)``: a registered handler run with
a JSON payload. Only named commands can be rebuilt after a restart, so only they are stored:
saved at submit (the handle's ``persisted()`` waits for that commit), marked on each retry,
moved to the stored dead letters on final failure and removed when they finish. On start
every stored command is submitted again (at-least-once) and stored dead letters are reloaded.
A delayed command is stored with its due time (wall clock), so after a restart it still runs
no earlier than that.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from lanecore._coreapi import NamedCommand, Ready
from lanecore.dlq import NO_PAYLOAD, DeadLetter, DeadLetterQueue
from lanecore.errors import LaneError
from lanecore.storage.records import (
    PLAIN_ROW_WIDTH,
    CommandRow,
    StoredCommand,
    command_row,
    encode_payload,
    plainly_valid,
)
from lanecore.write_batch import WriteBatch, watch

if TYPE_CHECKING:
    from lanecore.handle import CommandHandle
    from lanecore.storage import Storage

logger = logging.getLogger("lanecore")

Handler = Callable[[Any], Awaitable[Any]]


class DurableHost(Protocol):
    """What Durability uses of its QueueManager: the DLQ and lanes that stored work is reloaded
    into, and the named submit (named here so this module need not import the manager)."""

    @property
    def dlq(self) -> DeadLetterQueue: ...

    @property
    def lane_ids(self) -> list[str]: ...

    def _submit_named(
        self,
        lane_id: str,
        command_type: str,
        payload: Any,
        command_id: Any,
        *,
        persisted: Awaitable[None] | None = ...,
        failures: int = ...,
        context: contextvars.Context | None = ...,
        delay: Any = ...,
    ) -> CommandHandle: ...


class UnknownCommandType(LaneError, LookupError):
    """No handler is registered for this command type."""


def _check_async_handler(command_type: str, handler: Any, run_in_executor: bool) -> Handler:
    if not callable(handler):
        raise TypeError(f"handler for {command_type!r} must be callable, got {handler!r}")
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        type(handler).__call__
    )
    if is_async:
        return handler  # type: ignore[no-any-return]
    if not run_in_executor:
        raise TypeError(
            f"handler for {command_type!r} is not async; use 'async def handler(payload)' "
            "or register it with run_in_executor=True"
        )

    async def in_executor(payload: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, handler, payload)

    return in_executor


class HandlerRegistry:
    """Command type -> ``async def handler(payload)``: what runs a named command, locally or
    in a Redis worker."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(
        self,
        command_type: str,
        handler: Any,
        *,
        run_in_executor: bool = False,
        replace: bool = False,
    ) -> None:
        """Add ``handler`` for ``command_type`` (ValueError if one is there, unless
        ``replace``; a sync handler only with ``run_in_executor``)."""
        if not isinstance(command_type, str) or not command_type:
            raise TypeError(f"command_type must be a non-empty str, got {command_type!r}")
        if command_type in self._handlers and not replace:
            raise ValueError(
                f"a handler for {command_type!r} is already registered (pass replace=True)"
            )
        self._handlers[command_type] = _check_async_handler(command_type, handler, run_in_executor)

    def handler(self, command_type: str) -> Handler:
        """The handler of ``command_type``; UnknownCommandType naming the registered ones."""
        try:
            return self._handlers[command_type]
        except KeyError:
            known = ", ".join(map(repr, sorted(self._handlers))) or "none"
            raise UnknownCommandType(
                f"no handler registered for command type {command_type!r} (registered: {known})"
            ) from None

    @property
    def handlers(self) -> dict[str, Handler]:
        """Command type -> handler: the live mapping itself (the core reads it)."""
        return self._handlers

    @property
    def command_types(self) -> list[str]:
        return sorted(self._handlers)


class Durability(HandlerRegistry):
    """The registry of one manager and, when it has one, its storage."""

    def __init__(
        self, manager: DurableHost, storage: Storage | None, new_id: Callable[[], str]
    ) -> None:
        super().__init__()
        self._manager = manager
        self._new_id = new_id
        self.storage = storage
        self._batch = None if storage is None else WriteBatch(storage)
        # SqliteStorage/MemoryStorage: raise StorageError at submit once the storage is closed
        self._check_open: Callable[[], None] | None = getattr(storage, "check_open", None)
        self._on_finished = self._finished  # one bound method for every handle, not one each
        self._finish_context = contextvars.Context()  # no copy_context() per handle
        self.id_prefix = uuid.uuid4().hex[:12]  # named command ids are id_prefix-n
        self.kept: set[Any] = set()  # ids of commands cancelled by close(): they stay stored
        self.recovered: list[CommandHandle] = []

    # ------------------------------------------------------------------ submitting
    def named(self, command_type: str, payload: Any, command_id: Any) -> tuple[NamedCommand, str]:
        """The command to queue for a named submit and its id; checks happen here, first."""
        handler = self.handler(command_type)
        try:
            text = encode_payload(command_type, payload)
        except TypeError as exc:
            raise TypeError(
                f"payload of a {command_type!r} command must be JSON-serialisable: "
                f"{exc.__cause__ or exc}"
            ) from None
        if command_id is None:
            command_id = self._new_id()
        return NamedCommand(command_type, payload, handler, text), command_id

    def save(
        self,
        lane_id: str,
        command: NamedCommand,
        command_id: str,
        not_before: float | None = None,
    ) -> Awaitable[None]:
        """Queue a just-submitted named command for storing (raises before anything is
        queued); the batch of this loop iteration is written as one transaction.
        ``not_before``: the wall-clock time a delayed command may first run, or None."""
        assert self._batch is not None
        if self._check_open is not None:
            self._check_open()
        command_type, at = command.command_type, time.time()
        if not_before is None and plainly_valid(command_id, command_type, lane_id, at):
            row: CommandRow = (command_id, command_type, lane_id, command.payload_json, 0, at, None)
            return self._batch.save(row, command.payload)
        # a due time, or the full checks (and their errors), before anything is queued
        stored = StoredCommand.pre_encoded(
            command_id,
            command_type,
            lane_id,
            command.payload,
            command.payload_json,
            at,
            not_before,
        )
        saved = command_row(stored)
        if len(saved) > PLAIN_ROW_WIDTH:
            return self._batch.save_due(saved, command.payload)
        return self._batch.save(saved, command.payload)

    def track(self, handle: CommandHandle, persisted: Awaitable[None]) -> None:
        handle._persisted = persisted
        handle.add_done_callback(self._on_finished, context=self._finish_context)

    def _finished(self, handle: CommandHandle) -> None:
        """A stored command resolved: forget it, unless the manager is closing (it runs again
        at the next start) or it failed (then it was moved to the stored dead letters)."""
        if self._batch is None or (handle.cancelled() and handle.command_id in self.kept):
            return
        self._batch.remove(str(handle.command_id))

    def _flush(self) -> None:
        """Write what the batch holds before a direct storage call (call order is kept)."""
        if self._batch is not None:
            self._batch.flush()

    # ------------------------------------------------------------------ failures
    def attempted(self, handle: CommandHandle, attempts: int) -> None:
        """Record an attempt's start. A retry's backoff is not stored (the stored due time
        stays the first one): a command retrying when the process stops runs at once on the
        next start, its failures so far counted."""
        if self.storage is not None and _is_stored(handle):
            self._flush()
            watch(
                self.storage.mark_attempt(str(handle.command_id), attempts, time.time()),
                "recording an attempt",
            )

    def dead_lettered(self, handle: CommandHandle, letter: DeadLetter) -> Any:
        """Store the dead letter (with its payload, so it can be retried); return the payload."""
        command = handle._command
        payload = command.payload if isinstance(command, NamedCommand) else NO_PAYLOAD
        if self.storage is not None and _is_stored(handle):
            from lanecore.storage import NO_PAYLOAD as STORED_NO_PAYLOAD

            self._flush()
            watch(
                self.storage.save_dead_letter(
                    letter, STORED_NO_PAYLOAD if payload is NO_PAYLOAD else payload
                ),
                "saving a dead letter",
            )
        return payload

    def forget_dead_letter(self, command_id: Any) -> None:
        if self.storage is not None:
            self._flush()
            watch(self.storage.remove_dead_letter(command_id), "removing a dead letter")

    def clear_dead_letters(self) -> None:
        if self.storage is not None:
            self._flush()
            watch(self.storage.clear_dead_letters(), "clearing the dead letters")

    # ------------------------------------------------------------------ start and stop
    async def recover(self) -> None:
        """Resubmit every stored command and reload the stored dead letters into the DLQ.
        A command stored with a due time waits until then (at once if it has passed)."""
        if self.storage is None:
            return
        manager = self._manager
        for letter in await self.storage.load_dead_letters():
            manager.dlq.add(letter.letter, letter.payload if letter.has_payload else NO_PAYLOAD)
        for stored in await self.storage.load_commands():
            runnable = stored.command_type in self._handlers and stored.lane_id in manager.lane_ids
            if not runnable:
                logger.error(
                    "lanecore: stored command %r (%s on lane %r) cannot run here: no such lane "
                    "or no handler; it stays stored",
                    stored.command_id,
                    stored.command_type,
                    stored.lane_id,
                )
                continue
            not_before = stored.not_before
            delay = None if not_before is None else max(0.0, not_before - time.time())
            handle = manager._submit_named(
                stored.lane_id,
                stored.command_type,
                stored.payload,
                stored.command_id,
                persisted=_done(),
                failures=stored.retry_count,
                context=contextvars.Context(),  # not the context of whoever called start()
                delay=delay,
            )
            self.recovered.append(handle)

    async def close(self) -> None:
        if self.storage is not None:
            self._flush()
            await self.storage.close()


def _is_stored(handle: CommandHandle) -> bool:
    return getattr(handle, "_persisted", None) is not None


def _done() -> Awaitable[None]:
    return Ready(None)
