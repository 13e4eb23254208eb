"""Runs user callbacks so that they can never break the caller: errors are logged, coroutines
are scheduled on the running loop (and their errors logged too)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("lanecore")

T = TypeVar("T")

# Strong references to scheduled callback tasks, so they are not garbage-collected mid-run.
_tasks: set[asyncio.Task[Any]] = set()


def _task_done(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "lanecore: async metrics callback %r failed",
            task.get_name(),
            exc_info=task.exception(),
        )


def invoke(callback: Callable[[T], object], arg: T, what: str) -> None:
    """Call callback(arg); log (never raise) its error. A coroutine it returns is run as a task
    on the running loop, or closed with a warning when no loop is running."""
    try:
        result = callback(arg)
    except Exception:
        logger.exception("lanecore: %s callback %r raised", what, callback)
        return
    if inspect.iscoroutine(result):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            result.close()
            logger.warning(
                "lanecore: async %s callback %r called with no running event loop; skipped",
                what,
                callback,
            )
            return
        task = loop.create_task(result, name=f"lanecore {what} callback {callback!r}")
        _tasks.add(task)
        task.add_done_callback(_task_done)


def check_callback(callback: object) -> None:
    """TypeError unless callback is callable."""
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
