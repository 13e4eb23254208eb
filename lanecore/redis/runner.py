"""Worker processes: load an app (``module:attr``), run one worker on its own event loop
until SIGTERM/SIGINT (then finish running commands and exit), or supervise N such processes,
forwarding signals to them and exiting once they all have."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lanecore.builder import QueueManagerBuilder
from lanecore.redis.tls import TLSOptions


class AppError(ValueError):
    """``--app`` does not name a usable app (bad syntax, module, attribute or value)."""


class RedisUnreachable(ConnectionError):
    """The worker could not connect to Redis."""


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    url: str
    namespace: str
    app: str
    concurrency: int
    lease: float
    drain_timeout: float
    loop: str = "asyncio"
    overwrite_lanes: bool = False
    tls: TLSOptions | None = None
    cluster: bool = False


def load_app(spec: str) -> tuple[QueueManagerBuilder, dict[str, Any]]:
    """The lanes (a configured builder) and handlers named by ``module:attr``. ``attr`` is a
    dict of command type -> handler (the default lanes are used), or a callable returning a
    QueueManagerBuilder (handlers then come from the module's ``HANDLERS`` dict) or a pair
    ``(builder, handlers)``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AppError(f"--app must be MODULE:ATTR (e.g. myapp.tasks:HANDLERS), got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppError(f"--app {spec!r}: cannot import module {module_name!r}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppError(f"--app {spec!r}: module {module_name!r} has no {attr!r}") from None
    if isinstance(obj, Mapping):
        return QueueManagerBuilder().with_default_lanes(), _handlers(spec, obj)
    if not callable(obj):
        raise AppError(
            f"--app {spec!r} is a {type(obj).__name__}; expected a dict of command type -> "
            "handler or a callable returning a QueueManagerBuilder"
        )
    made = obj()
    if isinstance(made, tuple) and len(made) == 2:
        builder, handlers = made
    else:
        builder, handlers = made, getattr(module, "HANDLERS", None)
    if not isinstance(builder, QueueManagerBuilder):
        raise AppError(f"--app {spec!r} returned {builder!r}, not a QueueManagerBuilder")
    if not isinstance(handlers, Mapping):
        raise AppError(
            f"--app {spec!r} returned only a builder and module {module_name!r} has no "
            "HANDLERS dict (return (builder, handlers) or define HANDLERS)"
        )
    return builder, _handlers(spec, handlers)


def _handlers(spec: str, handlers: Mapping[Any, Any]) -> dict[str, Any]:
    if not handlers:
        raise AppError(f"--app {spec!r} has no handlers")
    return dict(handlers)


async def serve(options: WorkerOptions, ready: Callable[[], None] | None = None) -> int:
    """Run one worker until SIGTERM/SIGINT, then stop claiming, finish (up to
    ``drain_timeout``) and exit; returns the exit status."""
    from lanecore.redis.backend import TRANSIENT, RedisBackend
    from lanecore.redis.connect import redacted

    builder, handlers = load_app(options.app)
    backend = RedisBackend(
        options.url,
        options.namespace,
        concurrency=options.concurrency,
        lease=options.lease,
        tls=options.tls,
        cluster=options.cluster,
    )
    manager = builder.with_backend(backend, overwrite_lanes=options.overwrite_lanes).build()
    for command_type, handler in handlers.items():
        manager.register(command_type, handler)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await manager.start(worker=True)
        except TRANSIENT as exc:
            where = redacted(options.url)
            raise RedisUnreachable(f"cannot reach Redis at {where}: {exc}") from None
        if ready is not None:
            ready()
        await stop.wait()
        manager.shutdown()
        try:
            await manager.drain(options.drain_timeout)
        except TimeoutError as exc:
            print(f"lanecore worker {os.getpid()}: {exc}; closing", file=sys.stderr)
            return 1
        return 0
    finally:
        await manager.close()


def run_one(options: WorkerOptions) -> int:
    """Run ``serve`` on a fresh event loop (uvloop when asked)."""

    def announce() -> None:
        print(f"ready {os.getpid()}", flush=True)

    if options.loop == "uvloop":
        import uvloop

        return uvloop.run(serve(options, announce))
    return asyncio.run(serve(options, announce))


def supervise(argv: Sequence[str], processes: int) -> int:
    """Start ``processes`` copies of ``argv``, forward SIGTERM/SIGINT to them, wait for all;
    the exit status is the worst of theirs (0 when every child exited cleanly)."""
    children: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(processes):
            children.append(subprocess.Popen(list(argv), stdin=subprocess.DEVNULL))
        statuses = [child.wait() for child in children]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    bad = [s for s in statuses if s != 0]
    return 0 if not bad else max(abs(s) for s in bad)


def process_count(text: str) -> int:
    """``auto`` (one per CPU core) or a positive integer."""
    if text == "auto":
        return os.cpu_count() or 1
    value = int(text)
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value
