"""Shared fixtures: every test that takes ``core`` runs once per available scheduling core,
and every test that takes ``run`` runs once on the stock asyncio loop and once on uvloop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from lanecore import _impl

T = TypeVar("T")

CORE_NAMES = sorted(_impl.CORES)  # "cython" (when built) and "python"

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the test extra
    uvloop = None

LOOP_NAMES = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


@pytest.fixture(params=CORE_NAMES)
def core(request: pytest.FixtureRequest) -> SimpleNamespace:
    """A namespace with LaneTable, TokenBucket and name, for each core."""
    return _impl.get_core(request.param)


@pytest.fixture(params=LOOP_NAMES)
def loop_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(loop_name: str) -> Iterator[Callable[[Coroutine[Any, Any, T]], T]]:
    """Run a coroutine to completion on a fresh loop of the parametrised kind."""
    factory = uvloop.new_event_loop if loop_name == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        yield runner.run


def pytest_report_header() -> str:
    return (
        f"lanecore cores: {', '.join(CORE_NAMES)}; loops: {', '.join(LOOP_NAMES)}; "
        f"LANECORE_NO_EXTENSIONS={os.environ.get('LANECORE_NO_EXTENSIONS', '')!r}"
    )
