"""RoomWaiters: the ``put`` calls waiting for room in one bounded lane, served first come,
first served, and safe to cancel at every await (as ``asyncio.Queue.put`` is).

A waiter keeps its place at the front until it has submitted: when room appears, the first
waiters (as many as there is room for) are woken; one that finds the room taken meanwhile
waits again in the same place, and one that is cancelled after being woken passes its turn on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable


class _Waiter:
    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future


class RoomWaiters:
    """FIFO waiters for room; ``room()`` says how many commands the lane can take now."""

    __slots__ = ("_room", "_waiters")

    def __init__(self, room: Callable[[], int]) -> None:
        self._room = room
        self._waiters: deque[_Waiter] = deque()

    def __len__(self) -> int:
        return len(self._waiters)

    async def wait(self, loop: asyncio.AbstractEventLoop) -> _Waiter | None:
        """Return once it is this caller's turn and there is room; the caller submits, then
        calls ``done(token)`` (the returned token; None when it never had to wait)."""
        if not self._waiters and self._room() > 0:
            return None
        waiter = _Waiter(loop.create_future())
        self._waiters.append(waiter)
        try:
            while True:
                await waiter.future
                if self._room() > 0:
                    return waiter
                waiter.future = loop.create_future()  # the room was taken: wait in place
        except BaseException:
            self._leave(waiter)
            raise

    def done(self, token: _Waiter | None) -> None:
        """The caller of ``wait`` has submitted (or given up): let the next ones go."""
        if token is not None:
            self._leave(token)

    def _leave(self, waiter: _Waiter) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        self.wake()

    def wake(self) -> None:
        """Room may have appeared: wake the first waiters, as many as there is room for."""
        if not self._waiters:
            return
        room = self._room()
        for waiter in self._waiters:
            if room <= 0:
                break
            if not waiter.future.done():
                waiter.future.set_result(None)
            room -= 1

    def fail_all(self, error: Callable[[], BaseException]) -> None:
        """The lane is gone: every waiter raises ``error()``."""
        waiters = list(self._waiters)
        self._waiters.clear()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(error())
