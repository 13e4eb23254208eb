"""Storage writes of one event-loop iteration, sent together.

Named commands submitted in one go (or finishing together) would otherwise cost one storage
operation, one future and one callback each. Here consecutive saves become one
``save_commands`` call and consecutive removals one ``remove_commands`` call, issued at the end
of the loop iteration in call order, so a save never overtakes an earlier removal of the same
id (a retried dead letter reuses its id). Every save of a run shares one waiter, which
``CommandHandle.persisted()`` awaits: done when the run's transaction has committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanecore.storage import Storage
    from lanecore.storage.records import CommandRow, DueCommandRow, SavedRow

logger = logging.getLogger("lanecore")

FLUSH_AT = 512
"""Saves handed over at once when a loop iteration submits this many: the writer thread starts
committing while the submitting code goes on, instead of after it."""


class _Run:
    """Consecutive writes of one kind; ``waiter`` (saves only) settles with their commit.
    A save is a checked row (``command_row`` form) plus its payload object in ``payloads``;
    ``due_times`` once one of the rows is a DueCommandRow."""

    __slots__ = ("due_times", "items", "payloads", "saves", "waiter")

    def __init__(self, saves: bool, waiter: asyncio.Future[None] | None) -> None:
        self.saves = saves
        self.due_times = False
        self.items: list[Any] = []
        self.payloads: list[Any] = []
        self.waiter = waiter


class WriteBatch:
    """Collects saves and removals until the loop runs its next callback, then flushes them."""

    __slots__ = ("_runs", "_storage")

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._runs: list[_Run] = []

    def save(self, row: CommandRow, payload: Any) -> asyncio.Future[None]:
        """Queue a new command for saving, as its checked row (``command_row`` of a valid
        StoredCommand) and payload; the returned future is done once it is committed."""
        runs = self._runs
        run = runs[-1] if runs and runs[-1].saves else self._save_run()
        items = run.items
        items.append(row)
        run.payloads.append(payload)
        if len(items) >= FLUSH_AT:
            self.flush()
        return run.waiter  # type: ignore[return-value]

    def save_due(self, row: DueCommandRow, payload: Any) -> asyncio.Future[None]:
        """``save`` for a command with a due time (its row carries not_before)."""
        runs = self._runs
        run = runs[-1] if runs and runs[-1].saves else self._save_run()
        run.due_times = True
        return self.save(row, payload)  # type: ignore[arg-type]

    def _save_run(self) -> _Run:
        """A new run of saves, with its waiter, at the end of the queue."""
        loop = asyncio.get_running_loop()
        run = _Run(True, loop.create_future())
        run.waiter.add_done_callback(_log_failure("saving commands"))  # type: ignore[union-attr]
        self._append(run, loop)
        return run

    def remove(self, command_id: str) -> None:
        """Queue the removal of a finished command (failures are logged)."""
        runs = self._runs
        if runs and not runs[-1].saves:
            runs[-1].items.append(command_id)
            return
        run = _Run(False, None)
        run.items.append(command_id)
        self._append(run, asyncio.get_running_loop())

    def _append(self, run: _Run, loop: asyncio.AbstractEventLoop) -> None:
        if not self._runs:
            loop.call_soon(self.flush)
        self._runs.append(run)

    def flush(self) -> None:
        """Hand every queued write to the storage now, in order (before any direct write)."""
        runs, self._runs = self._runs, []
        storage = self._storage
        for run in runs:
            try:
                if run.saves:
                    result: Awaitable[Any] = _save(storage, run)
                else:
                    result = storage.remove_commands(run.items)
            except Exception as exc:
                _settle(run, exc)
                continue
            _forward(result, run)


def _save(storage: Storage, run: _Run) -> Awaitable[Any]:
    """SqliteStorage takes the checked rows as they are; other storages get StoredCommands."""
    save_rows = getattr(storage, "save_checked_rows", None)
    if save_rows is not None:
        result: Awaitable[Any] = (
            save_rows(run.items, due_times=True) if run.due_times else save_rows(run.items)
        )
        return result
    from lanecore.storage.records import StoredCommand

    rows: list[SavedRow] = run.items
    commands = [
        StoredCommand.pre_encoded(
            row[0], row[1], row[2], payload, row[3], row[5], row[7] if len(row) > 7 else None
        )
        for row, payload in zip(rows, run.payloads, strict=True)
    ]
    return storage.save_commands(commands)


def _settle(run: _Run, error: BaseException | None) -> None:
    waiter = run.waiter
    if waiter is None:
        if error is not None:
            logger.error("lanecore storage: removing finished commands failed", exc_info=error)
    elif not waiter.done():
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


def _forward(result: Awaitable[Any], run: _Run) -> None:
    """Settle ``run`` when the storage's awaitable completes (a Future: no Task needed)."""
    future = result if isinstance(result, asyncio.Future) else asyncio.ensure_future(result)

    def done(f: asyncio.Future[Any]) -> None:
        _settle(run, None if not f.cancelled() and f.exception() is None else _error(f))

    future.add_done_callback(done)


def _error(future: asyncio.Future[Any]) -> BaseException:
    if future.cancelled():
        return asyncio.CancelledError("the storage cancelled the write")
    error = future.exception()
    assert error is not None
    return error


def _log_failure(what: str) -> Callable[[asyncio.Future[Any]], None]:
    def done(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.error("lanecore storage: %s failed", what, exc_info=future.exception())

    return done


def watch(result: Awaitable[Any], what: str) -> None:
    """Log the failure of a storage write nobody awaits (instead of 'never retrieved')."""
    if isinstance(result, asyncio.Future):
        result.add_done_callback(_log_failure(what))
