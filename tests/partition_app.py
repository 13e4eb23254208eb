"""Worker app of the partition test (``--app partition_app:app``): one lane with a cap of
three, and a handler that needs no network, so a worker whose link is cut still runs it.

Each attempt appends ``start``/``end`` lines (command index, a fresh attempt id, pid,
``time.monotonic()``, which is system-wide on Linux, so every namespace shares it) to a file
named after the namespace (``attempts_path``), and returns the attempt id with the result,
so the test can tell which attempt's result Redis accepted."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from typing import Any

from lanecore import LaneConfig, QueueManagerBuilder

CAP = 3


def attempts_path(namespace: str) -> str:
    """The log every worker of ``namespace`` appends its attempts to."""
    return os.path.join(tempfile.gettempdir(), f"lanecore-{namespace}.attempts")


def _log(kind: str, index: int, attempt: str) -> None:
    line = f"{kind} {index} {attempt} {os.getpid()} {time.monotonic():.6f}\n"
    fd = os.open(
        attempts_path(os.environ["LANECORE_TEST_NS"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT
    )
    try:
        os.write(fd, line.encode())  # one short O_APPEND write: lines never interleave
    finally:
        os.close(fd)


async def attempt(payload: Any) -> dict[str, Any]:
    index, attempt_id = int(payload["i"]), uuid.uuid4().hex
    _log("start", index, attempt_id)
    await asyncio.sleep(payload["sleep"])
    _log("end", index, attempt_id)
    return {"i": index, "square": index * index, "attempt": attempt_id, "pid": os.getpid()}


def app() -> tuple[QueueManagerBuilder, dict[str, Any]]:
    return QueueManagerBuilder().with_lane("capped", LaneConfig(1, CAP), 0), {"attempt": attempt}
