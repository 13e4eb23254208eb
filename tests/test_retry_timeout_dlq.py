"""Timeouts, retries and the dead-letter queue (SPEC §1 retry re-entry, §3 RetryPolicy, §4
timeouts and cancellation, §5 DLQ)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from lanecore import (
    CommandTimeout,
    DeadLetter,
    DeadLetterQueue,
    LaneConfig,
    LaneError,
    QueueManager,
    QueueManagerBuilder,
    RetryPolicy,
)


def build(
    core: Any, config: LaneConfig, *, dlq: int | None = None, extra: bool = False
) -> QueueManager:
    b = QueueManagerBuilder().with_lane("a", config, 0)
    if extra:
        b = b.with_lane("b", LaneConfig(1, 4), 1)
    if dlq is not None:
        b = b.with_dlq(dlq)
    return b.with_implementation(core.name).build()


async def guard(aw: Any, seconds: float = 2.0) -> Any:
    """Await with a safety net so a broken implementation fails instead of hanging."""
    return await asyncio.wait_for(aw, seconds)


# ---------------------------------------------------------------------------- timeouts


def test_lane_timeout_cancels_command_and_raises_command_timeout(core: Any, run: Any) -> None:
    async def main() -> None:
        log: list[str] = []

        async def slow() -> str:
            log.append("start")
            try:
                await asyncio.sleep(5)
                log.append("not reached")
                return "late"
            except asyncio.CancelledError:
                log.append("cancelled")
                raise
            finally:
                log.append("finally")

        m = build(core, LaneConfig(1, 1).with_timeout(0.02))
        async with m:
            h = m.submit("a", slow)
            with pytest.raises(CommandTimeout) as info:
                await guard(h)
            assert isinstance(info.value, TimeoutError)
            assert isinstance(info.value, LaneError)
            assert info.value.command_id == h.command_id
            assert info.value.timeout == pytest.approx(0.02)
            assert log == ["start", "cancelled", "finally"]

            # the slot was freed: the lane runs the next command
            async def quick() -> int:
                return 7

            assert await guard(m.submit("a", quick)) == 7
            st = m.stats()
            assert st.total_active == 0 and st.total_pending == 0
            assert m.dlq.len() == 1 and m.dlq.list()[0].attempts == 1

    run(main())


def test_submit_timeout_overrides_lane_default(core: Any, run: Any) -> None:
    async def main() -> None:
        async def takes_50ms() -> str:
            await asyncio.sleep(0.05)
            return "done"

        async def forever() -> None:
            await asyncio.sleep(60)

        short_lane = build(core, LaneConfig(1, 2).with_timeout(0.01))
        async with short_lane:
            # longer per-submit timeout: completes although the lane default would expire
            assert await guard(short_lane.submit("a", takes_50ms, timeout=1.0)) == "done"
            with pytest.raises(CommandTimeout):
                await guard(short_lane.submit("a", takes_50ms))  # lane default applies

        long_lane = build(core, LaneConfig(1, 2).with_timeout(30))
        async with long_lane:
            t0 = time.monotonic()
            with pytest.raises(CommandTimeout) as info:
                await guard(long_lane.submit("a", forever, timeout=0.02))
            assert info.value.timeout == pytest.approx(0.02)
            assert time.monotonic() - t0 < 2

        no_timeout_lane = build(core, LaneConfig(1, 2))
        async with no_timeout_lane:
            with pytest.raises(CommandTimeout):
                await guard(no_timeout_lane.submit("a", forever, timeout=0.02))
            with pytest.raises(ValueError, match="timeout"):
                no_timeout_lane.submit("a", forever, timeout=0)
            with pytest.raises(TypeError, match="timeout"):
                no_timeout_lane.submit("a", forever, timeout="1")

    run(main())


def test_command_raising_timeout_error_itself_is_not_a_command_timeout(core: Any, run: Any) -> None:
    async def main() -> None:
        async def raises_timeout() -> None:
            raise TimeoutError("my own")

        m = build(core, LaneConfig(1, 1).with_timeout(5))
        async with m:
            with pytest.raises(TimeoutError, match="my own") as info:
                await guard(m.submit("a", raises_timeout))
            assert not isinstance(info.value, CommandTimeout)

    run(main())


def test_timeouts_count_as_failed_attempts_and_are_retried(core: Any, run: Any) -> None:
    async def main() -> None:
        runs = 0

        async def slow_first() -> str:
            nonlocal runs
            runs += 1
            if runs == 1:
                await asyncio.sleep(5)
            return f"run {runs}"

        m = build(
            core, LaneConfig(1, 1).with_timeout(0.02).with_retry_policy(RetryPolicy.fixed(1, 0.001))
        )
        async with m:
            assert await guard(m.submit("a", slow_first)) == "run 2"
            assert runs == 2
            assert len(m.dlq) == 0

        always = 0

        async def hang() -> None:
            nonlocal always
            always += 1
            await asyncio.sleep(5)

        m2 = build(
            core, LaneConfig(1, 1).with_timeout(0.01).with_retry_policy(RetryPolicy.fixed(2, 0.001))
        )
        async with m2:
            h = m2.submit("a", hang)
            with pytest.raises(CommandTimeout):
                await guard(h)
            assert always == 3
            [letter] = m2.dlq.list()
            assert letter.attempts == 3 and letter.command_id == h.command_id
            assert "CommandTimeout" in letter.error or "timed out" in letter.error

    run(main())


# ---------------------------------------------------------------------------- retries


def test_fails_twice_then_succeeds(core: Any, run: Any) -> None:
    async def main() -> None:
        runs = 0

        async def flaky() -> str:
            nonlocal runs
            runs += 1
            if runs < 3:
                raise ConnectionError(f"try {runs}")
            return "finally"

        m = build(core, LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(3, 0.001)))
        async with m:
            h = m.submit("a", flaky)
            assert await guard(h) == "finally"
            assert runs == 3
            assert len(m.dlq) == 0
            assert m.stats().dead_letter_count == 0

    run(main())


def test_no_retry_by_default(core: Any, run: Any) -> None:
    async def main() -> None:
        runs = 0

        async def fail() -> None:
            nonlocal runs
            runs += 1
            raise KeyError("k")

        m = build(core, LaneConfig(1, 1))
        async with m:
            with pytest.raises(KeyError):
                await guard(m.submit("a", fail))
        assert runs == 1
        assert m.dlq.list()[0].attempts == 1

    run(main())


def test_always_failing_runs_one_plus_max_retries_then_dead_letters(core: Any, run: Any) -> None:
    async def main() -> None:
        runs = 0
        raised: list[BaseException] = []

        async def always_fails() -> None:
            nonlocal runs
            runs += 1
            exc = ValueError(f"boom number {runs}")
            raised.append(exc)
            raise exc

        m = build(core, LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(2, 0.001)))
        async with m:
            t0 = time.time()
            h = m.submit("a", always_fails, command_id="job-1")
            assert h.command_id == "job-1"
            with pytest.raises(ValueError, match="boom number 3") as info:
                await guard(h)
            t1 = time.time()
            assert info.value is raised[-1]  # the original exception object, not a wrapper
            assert runs == 3
            assert len(m.dlq) == 1 and m.dlq.len() == 1
            assert m.stats().dead_letter_count == 1
            [letter] = m.dlq.list()
            assert isinstance(letter, DeadLetter)
            assert letter.command_id == "job-1"
            assert letter.command_type == h.command_type
            assert letter.command_type.endswith("always_fails")
            assert letter.lane_id == "a"
            assert "boom number 3" in letter.error
            assert letter.attempts == 3
            assert t0 - 1 <= letter.failed_at <= t1 + 1
        assert runs == 3  # nothing ran after the handle resolved

    run(main())


def test_object_command_type_in_dead_letter(core: Any, run: Any) -> None:
    async def main() -> None:
        class Charge:
            command_type = "billing.charge"

            async def execute(self) -> None:
                raise RuntimeError("card declined")

        m = build(core, LaneConfig(1, 1))
        async with m:
            with pytest.raises(RuntimeError):
                await guard(m.submit("a", Charge()))
        [letter] = m.dlq.list()
        assert letter.command_type == "billing.charge"
        assert "card declined" in letter.error

    run(main())


def test_retried_command_reenters_at_back_of_lane(core: Any, run: Any) -> None:
    async def main() -> None:
        order: list[str] = []
        b_gate = asyncio.Event()
        a_runs = 0

        async def a() -> str:
            nonlocal a_runs
            a_runs += 1
            order.append(f"A{a_runs}")
            if a_runs == 1:
                raise ValueError("A fails once")
            return "A ok"

        async def b() -> None:
            order.append("B")
            await b_gate.wait()

        def named(name: str) -> Any:
            async def cmd() -> None:
                order.append(name)

            return cmd

        # one slot; A's backoff is 30 ms
        m = build(core, LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(1, 0.03)))
        async with m:
            ha = m.submit("a", a)
            hb = m.submit("a", b)
            await asyncio.sleep(0.005)
            assert order == ["A1", "B"]  # A failed, is backing off; B holds the slot
            assert m.stats().retrying == 1
            hc = m.submit("a", named("C"))  # submitted while A waits to retry
            hd = m.submit("a", named("D"))
            await asyncio.sleep(0.08)  # A's backoff is over: it is queued again...
            assert m.stats().retrying == 0
            assert m.stats().lanes["a"].pending == 3
            b_gate.set()  # ...behind C and D
            assert await guard(ha) == "A ok"
            await guard(asyncio.gather(hb, hc, hd))
        assert order == ["A1", "B", "C", "D", "A2"]

    run(main())


def test_exponential_backoff_waits_between_attempts(core: Any, run: Any) -> None:
    async def main() -> None:
        stamps: list[float] = []
        loop = asyncio.get_running_loop()

        async def fail() -> None:
            stamps.append(loop.time())
            raise ValueError("x")

        m = build(core, LaneConfig(1, 1).with_retry_policy(RetryPolicy(2, 0.02, 1.0, 2.0)))
        async with m:
            with pytest.raises(ValueError):
                await guard(m.submit("a", fail))
        assert len(stamps) == 3
        # generous lower bounds only: 20 ms then 40 ms (minus timer slack)
        assert stamps[1] - stamps[0] >= 0.015
        assert stamps[2] - stamps[1] >= 0.035

    run(main())


def test_other_commands_run_during_backoff(core: Any, run: Any) -> None:
    async def main() -> None:
        order: list[str] = []
        runs = 0

        async def flaky() -> str:
            nonlocal runs
            runs += 1
            order.append(f"F{runs}")
            if runs == 1:
                raise ValueError("again")
            return "F ok"

        async def other() -> None:
            order.append("O")

        m = build(core, LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(1, 0.05)))
        async with m:
            hf = m.submit("a", flaky)
            await asyncio.sleep(0.005)
            await guard(asyncio.gather(*[m.submit("a", other) for _ in range(3)]))
            assert order == ["F1", "O", "O", "O"]  # the backoff holds no slot
            assert await guard(hf) == "F ok"

    run(main())


# ---------------------------------------------------------------------------- cancellation


@pytest.mark.parametrize("how", ["handle", "manager"])
def test_cancel_during_retry_backoff_stops_attempts(core: Any, run: Any, how: str) -> None:
    async def main() -> None:
        runs = 0

        async def fail() -> None:
            nonlocal runs
            runs += 1
            raise ValueError("nope")

        m = build(core, LaneConfig(1, 1).with_retry_policy(RetryPolicy.fixed(5, 0.05)))
        async with m:
            h = m.submit("a", fail)
            await asyncio.sleep(0.01)
            assert runs == 1
            assert m.stats().retrying == 1
            if how == "handle":
                assert h.cancel() is True
            else:
                assert m.cancel(h.command_id) is True
            assert h.cancelled()
            with pytest.raises(asyncio.CancelledError):
                await h
            assert m.stats().retrying == 0
            await asyncio.sleep(0.15)  # well past the backoff: no further attempt
            assert runs == 1
            assert m.cancel(h.command_id) is False  # no longer outstanding
            assert len(m.dlq) == 0  # cancelled is not dead-lettered
            await guard(m.drain(1))  # nothing left in flight

    run(main())


def test_cancel_between_attempts_of_a_timed_out_command(core: Any, run: Any) -> None:
    async def main() -> None:
        runs = 0

        async def hang() -> None:
            nonlocal runs
            runs += 1
            await asyncio.sleep(5)

        m = build(
            core, LaneConfig(1, 1).with_timeout(0.01).with_retry_policy(RetryPolicy.fixed(3, 0.1))
        )
        async with m:
            h = m.submit("a", hang)
            await asyncio.sleep(0.05)  # timed out once, backing off
            assert runs == 1 and m.stats().retrying == 1
            assert m.cancel(h.command_id)
            await asyncio.sleep(0.15)
            assert runs == 1 and h.cancelled()

    run(main())


# ---------------------------------------------------------------------------- BaseException


class CustomBase(BaseException):
    """A BaseException that is neither CancelledError, KeyboardInterrupt nor SystemExit."""


@pytest.mark.parametrize("exc_type", [CustomBase, GeneratorExit])
def test_base_exception_resolves_handle_and_dispatch_continues(
    core: Any, run: Any, exc_type: type[BaseException]
) -> None:
    async def main() -> None:
        async def weird() -> None:
            raise exc_type("odd")

        async def fine() -> str:
            return "fine"

        m = build(core, LaneConfig(1, 1))
        async with m:
            h = m.submit("a", weird)
            after = [m.submit("a", fine) for _ in range(3)]
            with pytest.raises(exc_type):
                await guard(h)
            assert await guard(asyncio.gather(*after)) == ["fine"] * 3
            assert m.stats().total_active == 0
            [letter] = m.dlq.list()
            assert exc_type.__name__ in letter.error

    run(main())


# ---------------------------------------------------------------------------- the DLQ


def test_dlq_is_bounded_and_keeps_newest(core: Any, run: Any) -> None:
    async def main() -> None:
        async def fail() -> None:
            raise ValueError("bad")

        m = build(core, LaneConfig(1, 1), dlq=3)
        async with m:
            ids = []
            for i in range(5):
                h = m.submit("a", fail, command_id=f"c{i}")
                ids.append(h.command_id)
                with pytest.raises(ValueError):
                    await guard(h)
            assert [d.command_id for d in m.dlq.list()] == ["c2", "c3", "c4"]
            assert len(m.dlq) == 3 and m.dlq.len() == 3
            assert m.stats().dead_letter_count == 3
            assert m.dlq.max_size == 3
            # pop takes the oldest
            first = m.dlq.pop()
            assert first is not None and first.command_id == "c2"
            assert m.dlq.len() == 2 and m.stats().dead_letter_count == 2
            assert [d.command_id for d in m.dlq] == ["c3", "c4"]
            # clear returns how many it removed
            assert m.dlq.clear() == 2
            assert len(m.dlq) == 0 and m.dlq.list() == []
            assert m.dlq.pop() is None
            assert m.dlq.clear() == 0
            assert m.stats().dead_letter_count == 0

    run(main())


def test_dead_letter_queue_standalone() -> None:
    q = DeadLetterQueue(2)
    assert len(q) == 0 and q.len() == 0 and q.pop() is None
    for i in range(4):
        q.add(DeadLetter(i, "t", "lane", f"err {i}", 1))
    assert [d.command_id for d in q.list()] == [2, 3]
    listed = q.list()
    listed.clear()  # list() is a copy
    assert q.len() == 2
    assert q.pop().command_id == 2  # type: ignore[union-attr]
    assert q.clear() == 1
    with pytest.raises(ValueError, match="max_size"):
        DeadLetterQueue(0)


def test_dead_letters_in_failure_order(core: Any, run: Any) -> None:
    async def main() -> None:
        # each command fails only after the one submitted after it has failed
        turns = [asyncio.Event() for _ in range(4)]
        turns[3].set()

        def failing(n: int) -> Any:
            async def cmd() -> None:
                await turns[n + 1].wait()
                turns[n].set()
                raise ValueError(f"f{n}")

            return cmd

        m = build(core, LaneConfig(1, 3))
        async with m:
            hs = [m.submit("a", failing(n)) for n in range(3)]
            await guard(asyncio.gather(*hs, return_exceptions=True))
        # the last to be submitted failed first
        errors = [d.error for d in m.dlq.list()]
        assert len(errors) == 3
        assert ["f2" in errors[0], "f1" in errors[1], "f0" in errors[2]] == [True] * 3

    run(main())
