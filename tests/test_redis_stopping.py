"""cancel_and_wait stops a task that swallowed its first cancellation (as redis-py's sends
through ``asyncio.wait_for`` can on Python 3.11), where ``cancel(); await`` would hang."""

from __future__ import annotations

import asyncio
from typing import Any

from lanecore.redis.stopping import cancel_and_wait


def test_a_task_that_swallows_a_cancel_is_cancelled_again(run: Any) -> None:
    swallowed: list[int] = []
    cleaned: list[int] = []

    async def stubborn() -> None:
        try:
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    if swallowed:
                        raise
                    swallowed.append(1)  # the first cancel is lost; the loop goes on
        finally:
            cleaned.append(1)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(stubborn())
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait([task, None, done]), 30)
        assert task.cancelled()

    run(main())
    assert swallowed == [1] and cleaned == [1]


def test_nothing_to_cancel(run: Any) -> None:
    run(cancel_and_wait([]))
