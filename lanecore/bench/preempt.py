"""PREEMPT: how long a control command waits to start while prompt work is queued.

Lanes ``control`` (priority 1, max 3) and ``prompt`` (priority 5, max 2). Two slow prompts
hold the prompt lane (each awaits an Event), then ``pending`` more prompts are queued, each a
50 ms LLM-like call (``await asyncio.sleep(prompt_seconds)``). Then ``tries`` control commands
are submitted one at a time, each awaited before the next; latency is ``perf_counter()``
inside the command minus ``perf_counter()`` just before the submit.

Ending quickly: once the tries are done, a shared flag *releases* the queued prompts, so every
prompt that has not started yet returns at once (the ones already sleeping finish their 50 ms)
and the finish phase does not take pending x 50 ms / slots. The same flag is the patience
guard: if one control command has not started within ``patience`` seconds (a FIFO scheduler
such as aiojobs makes it wait for every queued prompt), the prompts are released, that try
completes and the tries stop (``Preempt.gave_up``). The guard is a ``call_later`` timer armed
before each try's first timestamp and cancelled after its last.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lanecore.bench import peers
from lanecore.bench.lanes import build_manager, core_name, succeeded
from lanecore.bench.loops import run_on
from lanecore.bench.results import Preempt

PROMPT_SECONDS = 0.05
"""How long each queued prompt runs until released: a short LLM call."""

PATIENCE_SECONDS = 1.0
"""The longest one control command may wait before the queued prompts are released."""


def preempt(
    system: str,
    loop: str,
    pending: int,
    tries: int,
    *,
    prompt_seconds: float = PROMPT_SECONDS,
    patience: float = PATIENCE_SECONDS,
) -> Preempt:
    """Run PREEMPT once for ``system`` (lanecore-<core>, pool or aiojobs) on ``loop``."""
    side: _Side
    if system == "pool":
        side = _PoolSide()
    elif system == "aiojobs":
        side = _AiojobsSide()
    else:
        side = _LanecoreSide(core_name(system))
    return run_on(loop, lambda: _preempt(side, pending, tries, prompt_seconds, patience))


class _Side:
    """How one system queues prompts and runs a control command."""

    async def start(self) -> None:
        """Start the system (workers, runners)."""

    async def prompts(self, fns: list[peers.Job]) -> list[Any]:
        """Queue prompt commands; return one awaitable per command."""
        raise NotImplementedError

    async def run_control(self, fn: peers.Job) -> Any:
        """Submit one control command and return its result."""
        raise NotImplementedError

    async def finish(self, waitables: list[Any]) -> int:
        """Wait for every prompt, shut down; return how many completed normally."""
        raise NotImplementedError


class _LanecoreSide(_Side):
    def __init__(self, core: str) -> None:
        self.manager = build_manager(core, [("control", 1, 3), ("prompt", 5, 2)])

    async def start(self) -> None:
        await self.manager.start()

    async def prompts(self, fns: list[peers.Job]) -> list[Any]:
        return list(self.manager.submit_many("prompt", fns))

    async def run_control(self, fn: peers.Job) -> Any:
        return await self.manager.submit("control", fn)

    async def finish(self, waitables: list[Any]) -> int:
        for handle in waitables:
            await handle
        self.manager.shutdown()
        await self.manager.drain()
        await self.manager.close()
        return succeeded(waitables)


class _PoolSide(_Side):
    """One PriorityQueue, 2 + 3 = 5 workers: prompts at priority 5, control at priority 1."""

    def __init__(self) -> None:
        self.pool = peers.PriorityPool(5)

    async def start(self) -> None:
        await self.pool.start()

    async def prompts(self, fns: list[peers.Job]) -> list[Any]:
        return [self.pool.submit(5, fn) for fn in fns]

    async def run_control(self, fn: peers.Job) -> Any:
        return await self.pool.submit(1, fn)

    async def finish(self, waitables: list[Any]) -> int:
        for future in waitables:
            await future
        await self.pool.close()
        return succeeded(waitables)


class _AiojobsSide(_Side):
    """One Scheduler(limit=5); it starts jobs in spawn order (no priorities)."""

    def __init__(self) -> None:
        self.scheduler = peers.aiojobs_scheduler(5)

    async def prompts(self, fns: list[peers.Job]) -> list[Any]:
        spawn = self.scheduler.spawn
        return [await spawn(fn()) for fn in fns]

    async def run_control(self, fn: peers.Job) -> Any:
        job = await self.scheduler.spawn(fn())
        return await job.wait()

    async def finish(self, waitables: list[Any]) -> int:
        completed = 0
        for job in waitables:
            await job.wait()
            completed += 1
        await self.scheduler.close()
        return completed


async def _preempt(
    side: _Side, pending: int, tries: int, prompt_seconds: float, patience: float
) -> Preempt:
    hold = asyncio.Event()  # set at the end: the two slow prompts return
    released = False  # set after the tries (or when patience ran out): queued prompts return
    gave_up = False
    slow_running = 0
    queued_started = 0

    async def slow_prompt() -> None:
        nonlocal slow_running
        slow_running += 1
        await hold.wait()

    async def queued_prompt() -> None:
        nonlocal queued_started
        queued_started += 1
        if not released:
            await asyncio.sleep(prompt_seconds)

    async def control() -> tuple[float, int]:
        return time.perf_counter(), queued_started

    def give_up() -> None:
        nonlocal released, gave_up
        released = gave_up = True

    await side.start()
    waitables = await side.prompts([slow_prompt, slow_prompt])
    while slow_running < 2:
        await asyncio.sleep(0)
    waitables += await side.prompts([queued_prompt] * pending)
    latencies: list[float] = []
    first_seen = -1
    perf_counter = time.perf_counter
    call_later = asyncio.get_running_loop().call_later
    for _ in range(tries):
        guard = call_later(patience, give_up)
        submitted = perf_counter()
        started, seen = await side.run_control(control)
        latencies.append((started - submitted) * 1e6)
        guard.cancel()
        if first_seen < 0:
            first_seen = seen
        if gave_up:
            break
    during = queued_started
    released = True
    hold.set()
    completed = await side.finish(waitables) + len(latencies)
    return Preempt(latencies, first_seen, during, completed, 2 + pending + len(latencies), gave_up)
