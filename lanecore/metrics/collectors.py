"""Collectors: functions a backend calls before it is read, so series derived from state kept
elsewhere (e.g. the scheduler core's counts) are computed at read time, not pushed on a timer.

``Collectors`` is the list a collecting backend keeps (see ``CollectingBackend``);
``LoopCollector`` runs a function on the thread of an event loop, so that a read from another
thread (a Prometheus scrape thread, an OpenTelemetry export thread) never touches state that
only the loop's thread may use.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Final

logger = logging.getLogger("lanecore")

Collector = Callable[[], object]
"""A collector: called with no arguments before a backend is read; its result is ignored."""

#: Seconds a read from another thread waits for the loop's thread before it serves the values
#: the backend already holds.
READ_TIMEOUT: Final = 1.0


class Collectors:
    """The collectors of one backend. ``run()`` calls each; one that raises is logged and the
    read goes on with the values the backend holds. Adding and removing swap a tuple, so a
    read on another thread always iterates a complete one."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: tuple[Collector, ...] = ()

    def add(self, collector: Collector) -> None:
        """Call collector before every read (TypeError unless it is callable)."""
        if not callable(collector):
            raise TypeError(f"collector must be callable, got {collector!r}")
        self._items = (*self._items, collector)

    def remove(self, collector: Collector) -> None:
        """Stop calling collector (ValueError if it was not added)."""
        items = list(self._items)
        items.remove(collector)
        self._items = tuple(items)

    def __len__(self) -> int:
        return len(self._items)

    def run(self) -> None:
        """Call every collector, logging (never raising) their errors."""
        for collector in self._items:
            try:
                collector()
            except Exception:
                logger.exception("lanecore: metrics collector %r raised", collector)


class LoopCollector:
    """A collector that runs ``fn`` on the thread of ``loop``: directly when called there,
    else through ``loop.call_soon_threadsafe``, waiting at most ``timeout`` seconds. When the
    loop is not running or does not answer in time, fn is skipped (returns False) and the
    backend serves the values it already holds; until the loop has run that late call, further
    reads from other threads skip fn at once instead of waiting again. Make it on the loop's
    thread."""

    __slots__ = ("_fn", "_loop", "_thread", "_unanswered", "timeout")

    def __init__(
        self,
        fn: Callable[[], object],
        loop: asyncio.AbstractEventLoop,
        *,
        timeout: float = READ_TIMEOUT,
    ) -> None:
        self._fn = fn
        self._loop = loop
        self._thread = threading.get_ident()
        self.timeout = timeout
        self._unanswered: threading.Event | None = None  # a hop that timed out, until it ran

    def __call__(self) -> bool:
        """Run fn on the loop's thread; True if it ran (its error, if any, is raised here)."""
        if threading.get_ident() == self._thread:
            self._fn()
            return True
        loop = self._loop
        unanswered = self._unanswered
        if not loop.is_running() or (unanswered is not None and not unanswered.is_set()):
            return False
        done = threading.Event()
        failure: list[Exception] = []

        def run() -> None:
            try:
                self._fn()
            except Exception as exc:  # handed to the reading thread
                failure.append(exc)
            finally:
                done.set()

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop was closed meanwhile
            return False
        if not done.wait(self.timeout):
            self._unanswered = done
            return False
        if failure:
            raise failure[0]
        return True

    def __repr__(self) -> str:
        return f"<LoopCollector {self._fn!r}>"
