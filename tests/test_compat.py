"""lanecore.compat (SPEC §11): a blocking, thread-safe drop-in for the a3s-lane 0.4 Python SDK.

Every test that takes ``core`` runs once per scheduling core (``Lane(implementation=...)``).
The SDK itself (``pip install a3s-lane==0.4.0``, module ``_a3s_lane``) is only needed for the
side-by-side run of the example; without it that half is skipped.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lanecore import LaneNotFound, ShutdownInProgress
from lanecore.compat import (
    EventStream,
    Lane,
    LaneConfig,
    LaneEvent,
    LaneNotFoundError,
    LaneStatus,
    LaneTimeout,
    PyLane,
    PyLaneConfig,
    QueueStats,
)

EXAMPLE = Path(__file__).with_name("compat_example.py")
SDK_IMPORT = "from _a3s_lane import PyLane as Lane, PyLaneConfig as LaneConfig"
COMPAT_IMPORT = "from lanecore.compat import Lane, LaneConfig"
HAVE_SDK = importlib.util.find_spec("_a3s_lane") is not None
LOOP_THREAD = "lanecore-compat"

SUBMITTED = "queue.command.submitted"
STARTED = "queue.command.started"
COMPLETED = "queue.command.completed"
SHUTDOWN = "queue.shutdown.started"


@pytest.fixture
def make_lane(core: SimpleNamespace) -> Iterator[Callable[..., Lane]]:
    """Build Lanes on the parametrised core (default lanes, or ``configs``); close them after."""
    lanes: list[Lane] = []

    def make(configs: list[LaneConfig] | None = None, **kw: Any) -> Lane:
        if configs is None:
            lane = Lane(implementation=core.name, **kw)
        else:
            lane = Lane.with_lanes(configs, implementation=core.name, **kw)
        lanes.append(lane)
        return lane

    yield make
    for lane in lanes:
        lane.close()


def two_lanes(**kw: Any) -> list[LaneConfig]:
    return [
        LaneConfig("high", priority=0, min_concurrency=1, max_concurrency=4),
        LaneConfig("low", priority=10, min_concurrency=1, max_concurrency=2, **kw),
    ]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


def gate_handler(gate: threading.Event) -> Callable[[Any], Any]:
    """An async handler that holds its slot until ``gate`` is set (no executor thread used)."""

    async def blocked(payload: Any) -> Any:
        while not gate.is_set():
            await asyncio.sleep(0.002)
        return payload

    return blocked


def drain_events(stream: EventStream) -> list[LaneEvent]:
    events = []
    while (event := stream.recv(timeout_ms=100)) is not None:
        events.append(event)
    return events


def compat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == LOOP_THREAD]


# ---------------------------------------------------------------------------- the SDK example


def run_example(source: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("core_name", ["cython", "python"])
def test_sdk_example_runs_unchanged(core_name: str) -> None:
    """Only the import line changes; the output is the SDK's, line for line. The example never
    calls close(), so this also shows that a program using compat exits by itself."""
    from lanecore import _impl

    if core_name not in _impl.CORES:
        pytest.skip("compiled core not built")
    source = EXAMPLE.read_text()
    assert source.count(SDK_IMPORT) == 1  # the one line that changes
    env = {"LANECORE_NO_EXTENSIONS": "1"} if core_name == "python" else {}
    ours = run_example(source.replace(SDK_IMPORT, COMPAT_IMPORT), env)
    assert "greet -> {'hello': 'world'}" in ours
    assert "after shutdown: Queue is shutting down, not accepting new commands" in ours
    assert ours.rstrip().endswith("done")
    assert "pending=0 active=0 lanes=2" in ours  # every submit returned: nothing is active
    if HAVE_SDK:
        # The SDK counts a command active until its worker thread has settled it, which can
        # be just after the blocking submit returned: its stats printed right after the last
        # submit sometimes still say active=1. Those counts are compared as settled (0).
        assert ours == _settled_active(run_example(source))


def _settled_active(output: str) -> str:
    return re.sub(r"\bactive=\d+", "active=0", output)


@pytest.mark.skipif(not HAVE_SDK, reason="a3s-lane SDK not installed")
def test_sdk_names_alias_ours() -> None:
    """The SDK's class names exist here too, with its constructor signature and defaults."""
    import _a3s_lane

    for name in _a3s_lane.__all__:
        assert hasattr(__import__("lanecore.compat", fromlist=[name]), name)
    theirs = _a3s_lane.PyLaneConfig("x", 3)
    ours = PyLaneConfig("x", 3)
    for field in ("lane_id", "priority", "min_concurrency", "max_concurrency", "timeout_secs"):
        assert getattr(ours, field) == getattr(theirs, field)
    assert repr(ours) == repr(theirs)


def test_aliases_and_lane_config() -> None:
    assert PyLane is Lane and PyLaneConfig is LaneConfig
    config = LaneConfig("high", priority=0, min_concurrency=1, max_concurrency=4)
    assert repr(config) == "LaneConfig(lane_id='high', priority=0, min=1, max=4)"
    default = LaneConfig("x", 5)
    assert (default.min_concurrency, default.max_concurrency) == (1, 10)
    assert default.timeout_secs is None and default.pressure_threshold is None
    assert LaneConfig("x", 0, min_concurrency=0).min_concurrency == 0  # no reservation
    with pytest.raises(ValueError, match="min_concurrency"):
        LaneConfig("x", 0, min_concurrency=-1)
    with pytest.raises(ValueError, match="max_concurrency"):
        LaneConfig("x", 0, min_concurrency=3, max_concurrency=2)
    with pytest.raises(ValueError, match="priority"):
        LaneConfig("x", 256)
    with pytest.raises(TypeError):
        LaneConfig("", 0)
    with pytest.raises(TypeError):
        Lane.with_lanes([("x", 0)])  # type: ignore[list-item]


# ---------------------------------------------------------------------------- submit


def test_payload_echo(make_lane: Callable[..., Lane]) -> None:
    """Without a handler a command returns its payload after a JSON round trip, as the SDK."""
    lane = make_lane()
    lane.start()
    assert lane.submit("query", "echo") is None
    for payload in (0, "s", 1.5, True, [1, "a", None], {"a": {"b": [1, 2]}}):
        assert lane.submit("query", "echo", payload) == payload
    assert lane.submit("query", "echo", (1, 2)) == [1, 2]
    assert lane.submit("query", "echo", {1: "a"}) == {"1": "a"}
    assert list(lane.submit("query", "echo", {"b": 1, "a": 2})) == ["a", "b"]
    mine = {"k": [1]}
    assert lane.submit("query", "echo", mine) is not mine
    with pytest.raises(TypeError, match="not JSON serializable"):
        lane.submit("query", "echo", object())
    with pytest.raises(ValueError):
        lane.submit("query", "echo", math.nan)
    with pytest.raises(TypeError):
        lane.submit("query", 1)  # type: ignore[arg-type]


def test_register_sync_and_async_handlers(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane(two_lanes())
    seen: dict[str, str] = {}

    def double(payload: Any) -> Any:
        seen["sync"] = threading.current_thread().name
        return payload["n"] * 2

    async def triple(payload: Any) -> Any:
        seen["async"] = threading.current_thread().name
        await asyncio.sleep(0)
        return payload * 3

    class Square:
        async def __call__(self, payload: Any) -> Any:
            return payload * payload

    def boom(payload: Any) -> Any:
        raise KeyError(payload)

    lane.register("double", double)
    lane.register("triple", triple)
    lane.register("square", Square())
    lane.register("boom", boom)
    lane.start()
    assert lane.submit("high", "double", {"n": 21}) == 42
    assert lane.submit("low", "triple", 2) == 6
    assert lane.submit("low", "square", 9) == 81
    assert seen["async"] == LOOP_THREAD  # async handlers run on the loop
    assert seen["sync"] not in (LOOP_THREAD, threading.current_thread().name)  # sync: executor
    with pytest.raises(KeyError):
        lane.submit("high", "boom", "x")
    assert lane.submit("high", "unregistered", 5) == 5  # still an echo
    with pytest.raises(TypeError):
        lane.register("x", "not callable")  # type: ignore[arg-type]


def test_sixteen_threads_get_their_own_results(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane(two_lanes())
    lane.register("add", lambda p: p["a"] + p["b"])
    lane.start()

    def worker(n: int) -> list[tuple[Any, Any]]:
        out = []
        for i in range(50):
            lane_id = ("high", "low")[(n + i) % 2]
            if i % 5 == 0:
                out.append((lane.submit(lane_id, "add", {"a": n, "b": i}), n + i))
            else:
                payload = {"thread": n, "i": i}
                out.append((lane.submit(lane_id, "echo", payload), payload))
        return out

    with ThreadPoolExecutor(16) as pool:
        results = [pair for chunk in pool.map(worker, range(16)) for pair in chunk]
    assert len(results) == 800
    assert all(got == want for got, want in results)
    stats = lane.stats()
    assert (stats.total_pending, stats.total_active) == (0, 0)


def test_priority_order_before_start(make_lane: Callable[..., Lane]) -> None:
    """Commands queued before start(): a high one submitted after the low ones starts first."""
    lane = make_lane(two_lanes())
    started = lane.subscribe_filtered([STARTED])
    with ThreadPoolExecutor(4) as pool:
        low = [pool.submit(lane.submit, "low", "work", i) for i in range(3)]
        wait_until(lambda: lane.stats().total_pending == 3)
        high = pool.submit(lane.submit, "high", "work", "urgent")
        wait_until(lambda: lane.stats().total_pending == 4)
        lane.start()
        assert high.result(5) == "urgent"
        assert [f.result(5) for f in low] == [0, 1, 2]
    order = [event.payload["lane_id"] for event in drain_events(started) if event.payload]
    assert order == ["high", "low", "low", "low"]


def test_priority_order_when_slots_are_full(make_lane: Callable[..., Lane]) -> None:
    """All slots busy (global cap 2) with low work queued: the high command queued last
    gets the first free slot."""
    lane = make_lane(two_lanes(), global_concurrency=2)
    gate = threading.Event()
    lane.register("block", gate_handler(gate))
    lane.start()
    started = lane.subscribe_filtered([STARTED])
    with ThreadPoolExecutor(8) as pool:
        blockers = [pool.submit(lane.submit, "low", "block", i) for i in range(2)]
        wait_until(lambda: lane.stats().total_active == 2)
        queued = [pool.submit(lane.submit, "low", "work", i) for i in range(3)]
        wait_until(lambda: lane.stats().total_pending == 3)
        urgent = pool.submit(lane.submit, "high", "control", "pause")
        wait_until(lambda: lane.stats().total_pending == 4)
        gate.set()
        assert urgent.result(5) == "pause"
        assert [f.result(5) for f in blockers + queued] == [0, 1, 0, 1, 2]
    after_blockers = [
        e.payload["lane_id"]
        for e in drain_events(started)
        if e.payload and e.payload["command_type"] != "block"
    ]
    assert after_blockers == ["high", "low", "low", "low"]


def test_command_timeout_raises_lane_timeout(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane([LaneConfig("slow", 0, timeout_secs=0.05)])
    lane.register("sleep", lambda p: time.sleep(p))
    lane.start()
    with pytest.raises(LaneTimeout, match="timed out") as info:
        lane.submit("slow", "sleep", 1)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, TimeoutError)


# ---------------------------------------------------------------------------- errors


def test_unknown_lane_and_shutdown_errors(make_lane: Callable[..., Lane]) -> None:
    """The SDK raises RuntimeError for both; ours are also lanecore's own exceptions."""
    lane = make_lane(two_lanes())
    lane.start()
    with pytest.raises(LaneNotFoundError) as unknown:
        lane.submit("nowhere", "work")
    assert isinstance(unknown.value, RuntimeError) and isinstance(unknown.value, LaneNotFound)
    assert str(unknown.value) == "Lane not found: nowhere"
    lane.shutdown()
    lane.shutdown()  # idempotent
    for lane_id in ("high", "nowhere"):  # the SDK checks shutdown first
        with pytest.raises(ShutdownInProgress) as late:
            lane.submit(lane_id, "work", 1)
        assert isinstance(late.value, RuntimeError)
        assert str(late.value) == "Queue is shutting down, not accepting new commands"
    lane.drain(timeout_secs=1.0)
    lane.start()  # as in the SDK, start after shutdown is allowed and changes nothing
    with pytest.raises(ShutdownInProgress):
        lane.submit("high", "work")


def test_drain_timeout_raises_and_drops_nothing(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane(two_lanes())
    gate = threading.Event()
    lane.register("block", gate_handler(gate))
    lane.start()
    with ThreadPoolExecutor(2) as pool:
        pending = pool.submit(lane.submit, "low", "block", "kept")
        wait_until(lambda: lane.stats().total_active == 1)
        lane.shutdown()
        began = time.monotonic()
        with pytest.raises(LaneTimeout, match="timed out after 50ms") as info:
            lane.drain(timeout_secs=0.05)
        assert time.monotonic() - began < 2
        assert isinstance(info.value, RuntimeError) and isinstance(info.value, TimeoutError)
        gate.set()
        lane.drain(timeout_secs=5.0)
        assert pending.result(5) == "kept"


# ---------------------------------------------------------------------------- events


def test_event_shape(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane(two_lanes())
    stream = lane.subscribe()
    lane.start()
    lane.submit("high", "greet", {"hi": 1})
    lane.shutdown()
    events = drain_events(stream)
    assert [e.key for e in events] == [SUBMITTED, STARTED, COMPLETED, SHUTDOWN]
    _, started, completed, shutdown = events
    assert isinstance(started, LaneEvent) and repr(started) == f"LaneEvent(key='{STARTED}')"
    assert started.payload is not None
    assert started.payload["lane_id"] == "high" and started.payload["command_type"] == "greet"
    assert isinstance(started.payload["command_id"], str)
    assert completed.payload is not None
    assert completed.payload["command_id"] == started.payload["command_id"]
    assert shutdown.payload is None  # the SDK's empty payload
    for event in events:
        stamp = datetime.fromisoformat(event.timestamp)
        assert stamp.utcoffset() is not None and abs(stamp.timestamp() - time.time()) < 60
    with pytest.raises(AttributeError):
        started.key = "x"  # type: ignore[misc]


def test_recv_timeout_returns_none(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane()
    stream = lane.subscribe()
    began = time.monotonic()
    assert stream.recv(timeout_ms=100) is None
    assert 0.08 <= time.monotonic() - began < 2
    assert stream.recv(timeout_ms=0) is None
    with pytest.raises(ValueError):
        stream.recv(timeout_ms=-1)


def test_recv_waits_for_an_event_from_another_thread(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane()
    lane.start()
    stream = lane.subscribe_filtered([COMPLETED])
    timer = threading.Timer(0.05, lane.submit, args=("query", "later"))
    timer.start()
    event = stream.recv()  # no timeout: blocks until the command completes
    timer.join()
    assert event is not None and event.key == COMPLETED


def test_filtered_subscription(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane(two_lanes())
    completed = lane.subscribe_filtered([COMPLETED, SHUTDOWN])
    nothing = lane.subscribe_filtered(["no.such.key"])  # accepted, as in the SDK
    everything = lane.subscribe()
    lane.start()
    for i in range(3):
        lane.submit("low", "work", i)
    lane.shutdown()
    assert [e.key for e in drain_events(completed)] == [COMPLETED] * 3 + [SHUTDOWN]
    assert nothing.recv(timeout_ms=0) is None
    assert len(drain_events(everything)) == 3 * 3 + 1
    with pytest.raises(TypeError):
        lane.subscribe_filtered(COMPLETED)


def test_two_threads_reading_one_stream(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane()
    lane.start()
    stream = lane.subscribe_filtered([COMPLETED])
    got: list[LaneEvent | None] = []
    readers = [threading.Thread(target=lambda: got.append(stream.recv(2000))) for _ in range(2)]
    for reader in readers:
        reader.start()
    lane.submit("query", "a")
    lane.submit("query", "b")
    for reader in readers:
        reader.join()
    assert sorted(e.key for e in got if e is not None) == [COMPLETED, COMPLETED]


# ---------------------------------------------------------------------------- stats


def test_stats_shape(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane(two_lanes())
    stats = lane.stats()  # before start, as in the SDK
    assert isinstance(stats, QueueStats) and isinstance(stats.lanes, list)
    assert repr(stats) == "QueueStats(pending=0, active=0, lanes=2)"
    assert [(s.lane_id, s.pending, s.active, s.min_concurrency, s.max_concurrency)
            for s in stats.lanes] == [("high", 0, 0, 1, 4), ("low", 0, 0, 1, 2)]  # fmt: skip
    assert isinstance(stats.lanes[0], LaneStatus)
    assert repr(stats.lanes[1]) == "LaneStatus(lane_id='low', pending=0, active=0, min=1, max=2)"
    gate = threading.Event()
    lane.register("block", gate_handler(gate))
    lane.start()
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(lane.submit, "low", "block", i) for i in range(3)]
        wait_until(lambda: lane.stats().total_pending == 1)
        stats = lane.stats()
        assert (stats.total_pending, stats.total_active) == (1, 2)
        low = stats.lanes[1]
        assert (low.lane_id, low.pending, low.active) == ("low", 1, 2)
        gate.set()
        assert [f.result(5) for f in futures] == [0, 1, 2]
    with pytest.raises(AttributeError):
        stats.total_pending = 3  # type: ignore[misc]


def test_default_lanes(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane()
    got = [(s.lane_id, s.min_concurrency, s.max_concurrency) for s in lane.stats().lanes]
    assert got == [
        ("system", 1, 5),
        ("control", 1, 3),
        ("query", 1, 10),
        ("session", 1, 5),
        ("skill", 1, 3),
        ("prompt", 1, 2),
    ]


# ---------------------------------------------------------------------------- threads


def test_every_method_from_a_non_main_thread(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane(two_lanes())
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            lane.register("inc", lambda p: p + 1)
            stream = lane.subscribe()
            filtered = lane.subscribe_filtered([COMPLETED])
            lane.start()
            outcome["inc"] = lane.submit("high", "inc", 1)
            outcome["echo"] = lane.submit("low", "echo", [1])
            outcome["stats"] = lane.stats().total_pending
            outcome["event"] = stream.recv(timeout_ms=1000)
            outcome["filtered"] = filtered.recv(timeout_ms=1000)
            lane.shutdown()
            lane.drain(timeout_secs=1.0)
            lane.close()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    assert "error" not in outcome, outcome["error"]
    assert (outcome["inc"], outcome["echo"], outcome["stats"]) == (2, [1], 0)
    assert outcome["event"].key == SUBMITTED and outcome["filtered"].key == COMPLETED
    assert not compat_threads()


def test_blocking_calls_from_inside_another_event_loop(make_lane: Callable[..., Lane]) -> None:
    """Called from a coroutine on another running loop, the blocking methods just block."""
    lane = make_lane(two_lanes())

    async def main() -> list[Any]:
        lane.start()
        stream = lane.subscribe_filtered([COMPLETED])
        result = lane.submit("high", "echo", {"from": "a loop"})
        event = stream.recv(timeout_ms=1000)
        lane.shutdown()
        lane.drain(timeout_secs=1.0)
        return [result, event and event.key, lane.stats().total_active]

    assert asyncio.run(main()) == [{"from": "a loop"}, COMPLETED, 0]


def test_blocking_from_the_lanes_own_loop_raises_not_deadlocks(
    make_lane: Callable[..., Lane],
) -> None:
    lane = make_lane(two_lanes())

    async def nested(payload: Any) -> Any:
        lane.stats()  # non-blocking methods are fine on the loop
        lane.submit("low", "echo", payload)  # would wait for itself

    def nested_sync(payload: Any) -> Any:
        return lane.submit("low", "echo", payload)  # from an executor thread: fine

    lane.register("nested", nested)
    lane.register("nested_sync", nested_sync)
    lane.start()
    with pytest.raises(RuntimeError, match="own event loop"):
        lane.submit("high", "nested", 1)
    assert lane.submit("high", "nested_sync", 2) == 2


# ---------------------------------------------------------------------------- closing


def test_close_stops_every_thread(make_lane: Callable[..., Lane]) -> None:
    before = set(threading.enumerate())
    lane = make_lane(two_lanes())
    lane.register("sync", lambda p: p)  # starts a default-executor thread too
    lane.start()
    assert lane.submit("high", "sync", 1) == 1
    assert len(set(threading.enumerate()) - before) >= 2
    lane.close()
    lane.close()  # idempotent
    assert set(threading.enumerate()) <= before
    assert lane.stats().total_pending == 0  # still answers after close
    assert lane.subscribe().recv() is None  # ended at once
    lane.drain(timeout_secs=0.1)
    with pytest.raises(ShutdownInProgress):
        lane.submit("high", "x")
    with pytest.raises(ShutdownInProgress):
        lane.start()


def test_close_releases_blocked_submitters_and_readers(make_lane: Callable[..., Lane]) -> None:
    lane = make_lane(two_lanes())
    lane.register("block", gate_handler(threading.Event()))  # never released
    lane.start()
    stream = lane.subscribe_filtered([SHUTDOWN])
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(lane.submit, "low", "block", 1)
        wait_until(lambda: lane.stats().total_active == 1)
        reader = pool.submit(stream.recv)
        lane.close()
        with pytest.raises(ShutdownInProgress):
            running.result(5)
        event = reader.result(5)
        assert event is None or event.key == SHUTDOWN
    assert not compat_threads()


def test_context_manager(make_lane: Callable[..., Lane]) -> None:
    with make_lane(two_lanes()) as lane:  # starts; on exit shuts down, drains and closes
        assert lane.submit("high", "echo", 7) == 7
    assert not compat_threads()
    with pytest.raises(ShutdownInProgress):
        lane.submit("high", "echo", 7)


def test_an_unreferenced_lane_stops_its_thread(core: SimpleNamespace) -> None:
    lane = Lane(implementation=core.name)
    lane.start()
    assert lane.submit("query", "x", 1) == 1
    thread = compat_threads()[-1]
    del lane
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()


def run_script(source: str) -> str:
    """Run ``source`` in a fresh interpreter; it must exit 0 within 60 s."""
    done = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


HANGING_LANE = """
import asyncio, os, signal, threading, time
from lanecore.compat import Lane
lane = Lane()
async def hang(payload):
    await asyncio.sleep(1000)
lane.register("hang", hang)
lane.start()
"""


def test_a_program_exits_without_close() -> None:
    """A command that never ends and a reader that waits forever don't keep a program alive."""
    out = run_script(
        HANGING_LANE
        + """
threading.Thread(target=lane.submit, args=("query", "hang"), daemon=True).start()
threading.Thread(target=lane.subscribe().recv, daemon=True).start()
time.sleep(0.2)
print("active", lane.stats().total_active)
"""
    )
    assert out.split() == ["active", "1"]


@pytest.mark.skipif(sys.platform == "win32", reason="sends itself SIGINT")
def test_an_interrupted_submit_cancels_its_command() -> None:
    """Ctrl-C while blocked in submit() raises KeyboardInterrupt and frees the slot."""
    out = run_script(
        HANGING_LANE
        + """
threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGINT)).start()
try:
    lane.submit("query", "hang")
except KeyboardInterrupt:
    print("interrupted")
time.sleep(0.1)
stats = lane.stats()
print(stats.total_active, stats.total_pending)
lane.close()
"""
    )
    assert out.split() == ["interrupted", "0", "0"]
