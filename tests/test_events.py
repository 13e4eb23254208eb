"""Events (SPEC §6): the ten keys and their payloads, ordering, filtering, bounded streams,
stream lifetime, and that nothing is built when nobody listens."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from lanecore import (
    EVENT_KEYS,
    CommandTimeout,
    EventStream,
    LaneConfig,
    LaneEvent,
    QueueManager,
    QueueManagerBuilder,
    RetryPolicy,
)
from lanecore import events as events_module

SUBMITTED = "queue.command.submitted"
STARTED = "queue.command.started"
COMPLETED = "queue.command.completed"
RETRY = "queue.command.retry"
DEAD = "queue.command.dead_lettered"
FAILED = "queue.command.failed"
TIMEOUT = "queue.command.timeout"
SHUTDOWN = "queue.shutdown.started"
PRESSURE = "queue.lane.pressure"
IDLE = "queue.lane.idle"

# SPEC §6: the payload keys of each event
PAYLOAD_KEYS: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({"lane_id", "command_id"}),
    STARTED: frozenset({"lane_id", "command_id", "command_type"}),
    COMPLETED: frozenset({"lane_id", "command_id"}),
    RETRY: frozenset({"lane_id", "command_id", "attempt"}),
    DEAD: frozenset({"lane_id", "command_id", "command_type"}),
    FAILED: frozenset({"lane_id", "command_id", "error"}),
    TIMEOUT: frozenset({"lane_id", "command_id", "error"}),
    SHUTDOWN: frozenset(),
    PRESSURE: frozenset({"lane_id"}),
    IDLE: frozenset({"lane_id"}),
}


def build(core: Any, *lanes: Any, **kw: Any) -> QueueManager:
    b = QueueManagerBuilder()
    for lane_id, config, priority in lanes:
        b = b.with_lane(lane_id, config, priority)
    if "event_buffer" in kw:
        b = b.with_event_buffer(kw["event_buffer"])
    return b.with_implementation(core.name).build()


async def take_all(stream: EventStream) -> list[LaneEvent]:
    out: list[LaneEvent] = []
    while len(stream):
        ev = await stream.recv(timeout=0)
        assert ev is not None
        out.append(ev)
    return out


async def ok() -> str:
    return "ok"


async def boom() -> None:
    raise ValueError("boom!")


def test_event_keys_constant_matches_spec() -> None:
    assert set(EVENT_KEYS) == set(PAYLOAD_KEYS)
    assert len(EVENT_KEYS) == 10


def test_every_key_is_emitted_with_the_spec_payload(core: Any, run: Any) -> None:
    async def main() -> None:
        flaky_runs = 0

        async def flaky() -> str:
            nonlocal flaky_runs
            flaky_runs += 1
            if flaky_runs == 1:
                raise ValueError("first try fails")
            return "second try works"

        async def sleeper() -> None:
            await asyncio.sleep(10)

        m = build(
            core,
            (
                "w",
                LaneConfig(1, 1)
                .with_retry_policy(RetryPolicy.fixed(1, 0.001))
                .with_pressure_threshold(3),
                0,
            ),
            ("t", LaneConfig(1, 1).with_timeout(0.02), 1),
        )
        before = time.time()
        stream = m.subscribe()
        async with m:
            gate = asyncio.Event()

            async def blocker() -> str:
                await gate.wait()
                return "released"

            hb = m.submit("w", blocker)
            await asyncio.sleep(0)
            h_ok = m.submit("w", ok)
            h_flaky = m.submit("w", flaky)
            h_boom = m.submit("w", boom)  # pending 3 -> pressure
            h_to = m.submit("t", sleeper)
            gate.set()
            assert await hb == "released"
            assert await h_ok == "ok"
            assert await h_flaky == "second try works"
            with pytest.raises(ValueError, match="boom!"):
                await h_boom
            with pytest.raises(CommandTimeout):
                await h_to
        after = time.time()
        events = await take_all(stream)
        assert stream.closed

        seen = {ev.key for ev in events}
        assert seen == set(EVENT_KEYS), f"missing: {set(EVENT_KEYS) - seen}"
        for ev in events:
            assert isinstance(ev, LaneEvent)
            assert isinstance(ev.payload, dict)
            assert isinstance(ev.timestamp, float)
            assert before - 1 <= ev.timestamp <= after + 1
            assert set(ev.payload) == PAYLOAD_KEYS[ev.key], (ev.key, ev.payload)

        def of(key: str, handle: Any = None) -> list[dict[str, Any]]:
            return [
                ev.payload
                for ev in events
                if ev.key == key
                and (handle is None or ev.payload.get("command_id") == handle.command_id)
            ]

        # values, not just keys
        assert of(SUBMITTED, h_ok) == [{"lane_id": "w", "command_id": h_ok.command_id}]
        assert of(STARTED, h_ok) == [
            {"lane_id": "w", "command_id": h_ok.command_id, "command_type": h_ok.command_type}
        ]
        assert h_ok.command_type.endswith("ok")
        assert of(COMPLETED, h_ok) == [{"lane_id": "w", "command_id": h_ok.command_id}]
        assert of(RETRY, h_flaky) == [
            {"lane_id": "w", "command_id": h_flaky.command_id, "attempt": 1}
        ]
        assert len(of(STARTED, h_flaky)) == 2
        assert of(COMPLETED, h_flaky) == [{"lane_id": "w", "command_id": h_flaky.command_id}]
        assert of(RETRY, h_boom) == [
            {"lane_id": "w", "command_id": h_boom.command_id, "attempt": 1}
        ]
        assert of(DEAD, h_boom) == [
            {"lane_id": "w", "command_id": h_boom.command_id, "command_type": h_boom.command_type}
        ]
        [failed] = of(FAILED, h_boom)
        assert failed["lane_id"] == "w" and "boom!" in failed["error"]
        [timed_out] = of(TIMEOUT, h_to)
        assert timed_out["lane_id"] == "t" and timed_out["command_id"] == h_to.command_id
        assert isinstance(timed_out["error"], str) and timed_out["error"]
        assert of(COMPLETED, h_boom) == [] and of(COMPLETED, h_to) == []
        assert of(SHUTDOWN) == [{}]
        assert of(PRESSURE) == [{"lane_id": "w"}]
        assert of(IDLE) == [{"lane_id": "w"}]

    run(main())


def test_lane_pressure_payload_has_only_lane_id(core: Any, run: Any) -> None:
    """SPEC §6: queue.lane.pressure carries exactly {lane_id}, the a3s-lane payload (an extra
    "pending" key was emitted at first)."""

    async def main() -> None:
        m = build(core, ("p", LaneConfig(1, 1).with_pressure_threshold(2), 0))
        stream = m.subscribe_filtered([PRESSURE])
        m.pause_lane("p")
        async with m:
            m.submit("p", ok)
            m.submit("p", ok)
            [ev] = await take_all(stream)
            m.resume_lane("p")
        assert ev.payload == {"lane_id": "p"}

    run(main())


def test_events_of_one_command_are_ordered(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 2), 0))
        stream = m.subscribe()
        async with m:
            handles = [m.submit("a", ok) for _ in range(5)]
            await asyncio.gather(*handles)
        events = await take_all(stream)
        for h in handles:
            keys = [ev.key for ev in events if ev.payload.get("command_id") == h.command_id]
            assert keys == [SUBMITTED, STARTED, COMPLETED]
            times = [ev.timestamp for ev in events if ev.payload.get("command_id") == h.command_id]
            assert times == sorted(times)
        # submits come in submit order
        sub_ids = [ev.payload["command_id"] for ev in events if ev.key == SUBMITTED]
        assert sub_ids == [h.command_id for h in handles]
        assert events[-1].key == SHUTDOWN

    run(main())


def test_a_submit_many_batch_is_stamped_once(core: Any, run: Any) -> None:
    """Every command of one submit_many call was submitted at the same moment: their
    submitted events carry one timestamp, on unfiltered and filtered streams alike."""

    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 2), 0))
        plain = m.subscribe()
        keyed = m.subscribe_filtered({SUBMITTED})
        predicate = m.subscribe_filtered(lambda event: event.key == SUBMITTED)
        before = time.time()
        async with m:
            await asyncio.sleep(0.002)
            handles = m.submit_many("a", [ok] * 20)
            await asyncio.gather(*handles)
        for stream in (plain, keyed, predicate):
            stamps = {ev.timestamp for ev in await take_all(stream) if ev.key == SUBMITTED}
            assert len(stamps) == 1 and before < stamps.pop() <= time.time()

    run(main())


def test_buffered_events_outlive_their_handles(core: Any, run: Any) -> None:
    """Events read after the commands' handles are gone still carry their lane, id and
    command type (the ring keeps those, not the handle)."""

    async def named_later() -> str:
        return "ok"

    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 2), 0))
        stream = m.subscribe()
        ids: list[Any] = []
        async with m:
            for command_id in ("str-id", None, "z"):  # None: an automatic (int) id
                handle = m.submit("a", named_later, command_id=command_id)
                ids.append(handle.command_id)
                await handle
            del handle
        events = [ev for ev in await take_all(stream) if ev.key != SHUTDOWN]
        assert [(ev.key, ev.payload.get("command_id")) for ev in events] == [
            (key, command_id) for command_id in ids for key in (SUBMITTED, STARTED, COMPLETED)
        ]
        assert {ev.payload["lane_id"] for ev in events} == {"a"}
        started = [ev.payload["command_type"] for ev in events if ev.key == STARTED]
        assert len(started) == 3 and all(t.endswith("named_later") for t in started)

    run(main())


def test_retry_and_failure_event_sequence(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(2, 0.001)), 0))
        stream = m.subscribe()
        async with m:
            h = m.submit("a", boom)
            with pytest.raises(ValueError):
                await h
        keys = [ev.key for ev in await take_all(stream) if ev.key != SHUTDOWN]
        assert keys == [SUBMITTED, STARTED, RETRY, STARTED, RETRY, STARTED, DEAD, FAILED]

    run(main())


def test_timeout_event_precedes_retry(core: Any, run: Any) -> None:
    async def main() -> None:
        async def hang() -> None:
            await asyncio.sleep(10)

        m = build(
            core,
            (
                "a",
                LaneConfig(1, 1).with_timeout(0.01).with_retry_policy(RetryPolicy.fixed(1, 0.001)),
                0,
            ),
        )
        stream = m.subscribe()
        async with m:
            with pytest.raises(CommandTimeout):
                await m.submit("a", hang)
        evs = [ev for ev in await take_all(stream) if ev.key != SHUTDOWN]
        keys = [ev.key for ev in evs]
        assert keys == [SUBMITTED, STARTED, TIMEOUT, RETRY, STARTED, TIMEOUT, DEAD, FAILED]
        assert [ev.payload["attempt"] for ev in evs if ev.key == RETRY] == [1]

    run(main())


def test_pressure_only_on_first_crossing_and_idle_after(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(
            core, ("p", LaneConfig(1, 1).with_pressure_threshold(3), 0), ("q", LaneConfig(1, 1), 1)
        )
        stream = m.subscribe_filtered([PRESSURE, IDLE])
        async with m:
            for _round in range(2):
                gate = asyncio.Event()

                async def blocker(g: asyncio.Event = gate) -> None:
                    await g.wait()

                hb = m.submit("p", blocker)
                await asyncio.sleep(0.01)  # running: pending back to 0, no pressure yet
                hs = [m.submit("p", ok) for _ in range(2)]
                await asyncio.sleep(0.01)
                assert len(stream) == 0  # pending 2 < 3
                hs += [m.submit("p", ok) for _ in range(4)]  # pending 3, 4, 5, 6
                await asyncio.sleep(0.01)
                got = await take_all(stream)
                assert [(e.key, e.payload["lane_id"]) for e in got] == [(PRESSURE, "p")]
                await asyncio.gather(*[m.submit("q", ok) for _ in range(5)])  # other lane: no-op
                gate.set()
                await asyncio.gather(hb, *hs)
                got = await take_all(stream)
                assert [(e.key, e.payload) for e in got] == [(IDLE, {"lane_id": "p"})]
        assert len(stream) == 0

    run(main())


def test_no_pressure_events_without_threshold(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        stream = m.subscribe_filtered([PRESSURE, IDLE])
        m.pause_lane("a")
        async with m:
            hs = [m.submit("a", ok) for _ in range(50)]
            m.resume_lane("a")
            await asyncio.gather(*hs)
        assert await take_all(stream) == []

    run(main())


def test_subscribe_filtered_with_key_list(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 2), 0))
        done = m.subscribe_filtered([COMPLETED])
        two = m.subscribe_filtered((SUBMITTED, FAILED))
        everything = m.subscribe()
        async with m:
            hs = [m.submit("a", ok) for _ in range(3)]
            hf = m.submit("a", boom)
            await asyncio.gather(*hs, return_exceptions=True)
            with pytest.raises(ValueError):
                await hf
        d = await take_all(done)
        assert [e.key for e in d] == [COMPLETED] * 3
        assert sorted(e.payload["command_id"] for e in d) == sorted(h.command_id for h in hs)
        t = await take_all(two)
        assert [e.key for e in t] == [SUBMITTED] * 4 + [FAILED]
        assert len(await take_all(everything)) > len(d) + len(t)

    run(main())


def test_subscribe_filtered_with_predicate(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 2), 0), ("b", LaneConfig(1, 2), 1))
        only_b = m.subscribe_filtered(lambda ev: ev.payload.get("lane_id") == "b")
        async with m:
            await asyncio.gather(m.submit("a", ok), m.submit("b", ok), m.submit("a", ok))
        got = await take_all(only_b)
        assert [e.key for e in got] == [SUBMITTED, STARTED, COMPLETED]
        assert all(e.payload["lane_id"] == "b" for e in got)

    run(main())


def test_subscribe_filtered_bad_arguments(core: Any) -> None:
    m = build(core, ("a", LaneConfig(), 0))
    with pytest.raises(ValueError, match=re.escape("queue.command.finished")):
        m.subscribe_filtered([COMPLETED, "queue.command.finished"])
    with pytest.raises(TypeError, match=re.escape(COMPLETED)):
        m.subscribe_filtered(COMPLETED)
    with pytest.raises(TypeError):
        m.subscribe_filtered(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="buffer_size"):
        m.subscribe(buffer_size=0)


def test_raising_predicate_does_not_break_dispatch(core: Any, run: Any) -> None:
    async def main() -> None:
        calls = 0

        def bad(ev: LaneEvent) -> bool:
            nonlocal calls
            calls += 1
            raise RuntimeError("filter exploded")

        m = build(core, ("a", LaneConfig(1, 2), 0))
        broken = m.subscribe_filtered(bad)
        good = m.subscribe_filtered([COMPLETED])
        async with m:
            results = await asyncio.gather(*[m.submit("a", ok) for _ in range(4)])
        assert results == ["ok"] * 4
        assert calls >= 12  # called for every event, raised every time
        assert len(broken) == 0
        assert [e.key for e in await take_all(good)] == [COMPLETED] * 4

    run(main())


def test_bounded_buffer_drops_oldest(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        done = m.subscribe_filtered([COMPLETED], buffer_size=5)
        everything = m.subscribe(buffer_size=5)
        async with m:
            hs = [m.submit("a", ok) for _ in range(20)]
            await asyncio.gather(*hs)
            # nobody read: each stream holds only its newest 5 events
            assert len(done) == 5
            assert done.dropped == 15
            assert len(everything) == 5
            assert everything.dropped == 20 * 3 - 5
            got = await take_all(done)
            assert [e.payload["command_id"] for e in got] == [h.command_id for h in hs[-5:]]
            last = await take_all(everything)
            assert [(e.key, e.payload["command_id"]) for e in last] == [
                (STARTED, hs[-3].command_id),
                (COMPLETED, hs[-3].command_id),
                (STARTED, hs[-2].command_id),
                (COMPLETED, hs[-2].command_id),
                (STARTED, hs[-1].command_id),
                (COMPLETED, hs[-1].command_id),
            ][-5:]
        assert done.dropped == 15  # reading does not reset the count

    run(main())


def test_batches_and_quick_commands_keep_every_event_in_order(core: Any, run: Any) -> None:
    """A submit_many batch, commands that finish without suspending and commands that do
    suspend: a big buffer sees every event in order, a small one exactly the newest events,
    whatever the ring holds them as; two plain streams and a filtered one at once."""

    async def suspends() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        big = m.subscribe(buffer_size=1000)
        small = m.subscribe(buffer_size=7)
        quick = [ok] * 12
        async with m:
            first = m.submit_many("a", quick)
            handles = first + m.submit_many("a", [suspends, ok, suspends])
            await asyncio.gather(*handles)
            expected = [(SUBMITTED, h.command_id) for h in handles]
            for h in handles:
                expected += [(STARTED, h.command_id), (COMPLETED, h.command_id)]
            seen = [(e.key, e.payload["command_id"]) for e in await take_all(big)]
            assert sorted(seen) == sorted(expected) and big.dropped == 0
            # per command: submitted, then started, then completed; each kind in submit order
            for kind in (SUBMITTED, STARTED, COMPLETED):
                assert [cid for key, cid in seen if key == kind] == [h.command_id for h in handles]
            for h in handles:
                mine = [key for key, cid in seen if cid == h.command_id]
                assert mine == [SUBMITTED, STARTED, COMPLETED]
            newest = [(e.key, e.payload["command_id"]) for e in await take_all(small)]
            assert newest == seen[-7:] and small.dropped == len(seen) - 7
            assert small.dropped + 7 == len(handles) * 3

    run(main())


def test_a_filtered_stream_beside_a_plain_one_sees_its_events(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 2), 0))
        plain = m.subscribe()
        done = m.subscribe_filtered([SUBMITTED, COMPLETED], buffer_size=4)
        async with m:
            handles = m.submit_many("a", [ok] * 5)
            await asyncio.gather(*handles)
            ids = [h.command_id for h in handles]
            assert [e.payload["command_id"] for e in await take_all(done)] == ids[1:]
            assert done.dropped == 6
            got = [(e.key, e.payload["command_id"]) for e in await take_all(plain)]
            assert len(got) == 15 and [cid for key, cid in got if key == COMPLETED] == ids

    run(main())


def test_default_buffer_size_comes_from_builder(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0), event_buffer=3)
        s = m.subscribe_filtered([SUBMITTED])
        async with m:
            await asyncio.gather(*[m.submit("a", ok) for _ in range(10)])
        assert len(s) == 3 and s.dropped == 7

    run(main())


def test_recv_timeout_returns_none_when_idle(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        async with m:
            s = m.subscribe()
            assert await s.recv(timeout=0.01) is None
            assert await s.recv(timeout=0) is None
            h = m.submit("a", ok)
            ev = await s.recv(timeout=1)
            assert ev is not None and ev.key == SUBMITTED
            await h
            keys = []
            while (ev := await s.recv(timeout=0.01)) is not None:
                keys.append(ev.key)
            assert keys == [STARTED, COMPLETED]

    run(main())


def test_recv_waits_for_the_next_event(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        async with m:
            s = m.subscribe_filtered([COMPLETED])
            waiter = asyncio.ensure_future(s.recv())
            await asyncio.sleep(0.01)
            assert not waiter.done()
            h = m.submit("a", ok)
            ev = await asyncio.wait_for(waiter, 1)
            assert ev is not None and ev.payload["command_id"] == h.command_id

    run(main())


def test_async_iteration_ends_after_close(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        async with m:
            s = m.subscribe_filtered([COMPLETED])
            await asyncio.gather(*[m.submit("a", ok) for _ in range(3)])
            s.close()
            assert s.closed
            await asyncio.gather(*[m.submit("a", ok) for _ in range(3)])  # not delivered
            seen = [ev.key async for ev in s]  # buffered events first, then the end
            assert seen == [COMPLETED] * 3
            assert await s.recv() is None

    run(main())


def test_close_wakes_a_blocked_reader(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        async with m:
            s = m.subscribe()

            async def consume() -> list[str]:
                return [ev.key async for ev in s]

            reader = asyncio.ensure_future(consume())
            await asyncio.sleep(0.01)
            assert not reader.done()
            s.close()
            assert await asyncio.wait_for(reader, 1) == []

    run(main())


def test_streams_end_when_manager_closes(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        s = m.subscribe()
        f = m.subscribe_filtered([COMPLETED])
        collected: list[str] = []

        async def consume() -> None:
            async for ev in s:
                collected.append(ev.key)

        reader = asyncio.ensure_future(consume())
        async with m:
            await m.submit("a", ok)
        # the async with exit ended every stream: the reader finishes by itself
        await asyncio.wait_for(reader, 1)
        assert collected == [SUBMITTED, STARTED, COMPLETED, SHUTDOWN]
        assert s.closed and f.closed
        assert [ev.key async for ev in f] == [COMPLETED]
        assert await f.recv(timeout=None) is None

    run(main())


def test_shutdown_event_once(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        s = m.subscribe_filtered([SHUTDOWN])
        await m.start()
        m.shutdown()
        m.shutdown()
        await m.drain()
        await m.close()
        got = await take_all(s)
        assert [(e.key, e.payload) for e in got] == [(SHUTDOWN, {})]

    run(main())


def test_subscriber_sees_only_events_after_subscribing(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        async with m:
            await asyncio.gather(*[m.submit("a", ok) for _ in range(5)])
            late = m.subscribe()
            assert len(late) == 0
            assert await late.recv(timeout=0.01) is None
            h = m.submit("a", ok)
            await h
            got = await take_all(late)
            assert {e.payload["command_id"] for e in got} == {h.command_id}

    run(main())


def test_no_subscribers_no_events_built(core: Any, run: Any, monkeypatch: Any) -> None:
    made: list[str] = []
    real = events_module.LaneEvent

    def counting(key: str, payload: Any = None, timestamp: Any = None) -> Any:
        made.append(key)
        return real(key, payload or {}, time.time() if timestamp is None else timestamp)

    monkeypatch.setattr(events_module, "LaneEvent", counting)

    async def main() -> None:
        async def flaky_fail() -> None:
            raise ValueError("x")

        m = build(
            core,
            (
                "a",
                LaneConfig(1, 1)
                .with_pressure_threshold(1)
                .with_retry_policy(RetryPolicy.fixed(1, 0.001)),
                0,
            ),
        )
        async with m:
            await asyncio.gather(*[m.submit("a", ok) for _ in range(10)])
            with pytest.raises(ValueError):
                await m.submit("a", flaky_fail)
            assert made == []  # nobody listens: no event objects at all
            s = m.subscribe()
            s.close()  # a closed stream is no listener either
            await asyncio.gather(*[m.submit("a", ok) for _ in range(10)])
            assert made == []
            assert len(s) == 0
            # ...while a live subscriber does get them (so this test can fail)
            live = m.subscribe()
            await m.submit("a", ok)
            assert made and len(live) >= 3

    run(main())


def test_subscribe_after_close_gives_an_ended_stream(core: Any, run: Any) -> None:
    """SPEC §6/§7: streams end when the manager closes, including ones made afterwards."""

    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        async with m:
            await m.submit("a", ok)
        late = m.subscribe()
        assert late.closed
        assert await asyncio.wait_for(late.recv(), 0.5) is None
        assert [e async for e in late] == []

    run(main())


def test_one_reader_at_a_time(core: Any, run: Any) -> None:
    async def main() -> None:
        m = build(core, ("a", LaneConfig(1, 1), 0))
        async with m:
            stream = m.subscribe()
            first = asyncio.ensure_future(stream.recv())
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="already waiting"):
                await stream.recv()
            await m.submit("a", ok)
            event = await asyncio.wait_for(first, 1)
            assert event is not None and event.key == "queue.command.submitted"

    run(main())
