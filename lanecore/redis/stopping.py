"""Stopping background tasks for good: cancel, and cancel again any task that carried on.

On Python 3.11, ``asyncio.wait_for`` returns its result and drops a cancellation that
arrives just as the awaited call completes; redis-py sends every command through
``wait_for`` when a socket timeout is set (ours always is), so a loop cancelled during a send
can go on running and a plain ``task.cancel(); await task`` waits forever."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

RECANCEL_AFTER = 0.2  # seconds a cancelled task gets to finish (its cleanup) before another cancel


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any] | None]) -> None:
    """Cancel every task (None entries are skipped) and return once all have finished,
    cancelling again each ``RECANCEL_AFTER`` seconds those still running."""
    pending = {task for task in tasks if task is not None and not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_AFTER)
