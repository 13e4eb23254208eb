"""Worker processes for the Redis benchmark (bench_redis.py): one no-op worker per system.

    python -m benchmarks.redis_workers {bullmq,arq} --url redis://127.0.0.1:PORT/0 \
        --queue NAME --concurrency 50 [--loop uvloop] [--poll-delay 0.005]

Each process runs its library's own worker with a no-op job and reports, on stdout, when each
job *finished in that library's own terms* (bullmq: the worker's ``completed`` event, emitted
after ``moveToCompleted`` has been acknowledged by Redis; arq: the ``after_job_end`` hook, run
after the result has been written). The line format is ``<seq> <time.monotonic()>``, with
``seq`` the producer's job number; on Linux ``time.monotonic()`` reads the system-wide
``CLOCK_MONOTONIC``, so the producer (another process on the same host) can subtract its own
``time.monotonic()`` taken just before the enqueue. Lines are buffered and flushed every few
milliseconds, so reporting costs about the same, and little, for every system.

``ready`` is printed once the worker is connected and running; SIGTERM (or SIGINT) closes it
cleanly and flushes what is left. The lanecore worker is not here: it is lanecore's own CLI
(``python -m lanecore worker``), pointed at the app in ``benchmarks.redis_app``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from importlib import import_module
from typing import Any

FLUSH_SECONDS = 0.005


class Stamps:
    """Completion stamps waiting to be written to stdout, flushed every FLUSH_SECONDS."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def done(self, seq: int | str) -> None:
        """Record that job ``seq`` has just finished (called from the library's hook)."""
        self._lines.append(f"{seq} {time.monotonic():.7f}\n")

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            sys.stdout.write("".join(lines))
            sys.stdout.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()


def ready() -> None:
    """Tell the parent this worker is connected and taking jobs."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def _stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


# --------------------------------------------------------------------------------- bullmq
async def bullmq_main(args: argparse.Namespace) -> None:
    """bullmq's ``Worker`` with ``concurrency`` jobs at a time and a no-op processor."""
    bullmq = import_module("bullmq")
    stamps = Stamps()

    async def noop(job: Any, token: str) -> None:
        return None

    def completed(job: Any, result: Any) -> None:
        stamps.done(job.data["seq"])

    stop = _stop_event()
    stamps.start()
    opts: dict[str, Any] = {"connection": args.url, "concurrency": args.concurrency}
    worker = bullmq.Worker(args.queue, noop, opts)
    worker.on("completed", completed)
    try:
        await worker.client.ping()
        ready()
        await stop.wait()
    finally:
        await worker.close()
        await stamps.stop()


# ------------------------------------------------------------------------------------ arq
async def arq_main(args: argparse.Namespace) -> None:
    """arq's ``Worker`` with ``max_jobs=concurrency`` and a no-op function named ``noop``."""
    arq_worker = import_module("arq.worker")
    arq_connections = import_module("arq.connections")
    stamps = Stamps()

    async def noop(ctx: dict[str, Any]) -> None:
        return None

    async def on_startup(ctx: dict[str, Any]) -> None:
        ready()

    async def after_job_end(ctx: dict[str, Any]) -> None:
        stamps.done(ctx["job_id"])

    stop = _stop_event()
    stamps.start()
    worker = arq_worker.Worker(
        functions=[arq_worker.func(noop, name="noop")],
        queue_name=args.queue,
        redis_settings=arq_connections.RedisSettings.from_dsn(args.url),
        max_jobs=args.concurrency,
        poll_delay=args.poll_delay,
        on_startup=on_startup,
        after_job_end=after_job_end,
        handle_signals=False,  # our own handler: stop, then close and flush
    )
    main = asyncio.get_running_loop().create_task(worker.async_run())
    stopping = asyncio.get_running_loop().create_task(stop.wait())
    try:
        await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            main.result()  # the worker died: say why
    finally:
        stopping.cancel()
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await main
        await worker.close()
        await stamps.stop()


MAINS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "bullmq": bullmq_main,
    "arq": arq_main,
}


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        factory: Callable[[], asyncio.AbstractEventLoop] = import_module("uvloop").new_event_loop
        return factory
    return asyncio.new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=sorted(MAINS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--poll-delay", type=float, default=0.5, help="arq only (its default)")
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(MAINS[args.system](args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
