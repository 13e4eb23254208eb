"""The worker loop of a distributed manager: claim (one script call that also carries the
acks of finished commands), run each claimed command as a task, heartbeat leases, reap
expired ones, and block on the wake-up list when nothing is claimable — never a busy poll —
with the next claim queued behind that BLPOP, so it arrives with the wake-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from lanecore.config import LaneConfig
from lanecore.durable import Handler
from lanecore.errors import CommandTimeout
from lanecore.redis.base import TRANSIENT, BackendBase, BackendClosed, jittered
from lanecore.redis.handle import describe, encode_error
from lanecore.redis.stopping import cancel_and_wait

logger = logging.getLogger("lanecore.redis")

ACK_FIELDS = 7  # an ack of a retry or failure: see step.lua
OK_FIELDS = 3  # a result: id, token, value JSON
CLAIM_FIELDS = 7
REAP_LIMIT = 500
SWEEP_LIMIT = 200  # templated lanes looked at per heartbeat
# one encoder for every result (json.dumps with options builds a new one per call)
RESULT_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class Running:
    """One claimed command this worker runs: id, fencing token and task."""

    __slots__ = ("command_id", "task", "token")

    def __init__(self, command_id: str, token: str, task: asyncio.Task[None]) -> None:
        self.command_id = command_id
        self.token = token
        self.task = task


class Worker:
    """Runs commands claimed from Redis with up to ``backend.concurrency`` at once.

    ``handler(command_type)`` gives the registered handler (raising UnknownCommandType, which
    fails the attempt); ``lane_config(lane_id)`` the lane's config (timeout, retry policy),
    ``known_config(lane_id)`` the same when it is known without a Redis read (else None)."""

    def __init__(
        self,
        backend: BackendBase,
        handler: Callable[[str], Handler],
        lane_config: Callable[[str], Awaitable[LaneConfig]],
        *,
        known_config: Callable[[str], LaneConfig | None] = lambda lane_id: None,
        worker_id: str | None = None,
        sweep_lanes: bool = False,
    ) -> None:
        self._backend = backend
        self._handler = handler
        self._lane_config = lane_config
        self._known_config = known_config
        # cancel and cancel_group tell a worker to stop a command on channel r:<worker id>,
        # which is its manager's result channel when the manager passes its client id here
        self.worker_id = worker_id or uuid.uuid4().hex[:16]
        self._sweep_lanes = sweep_lanes
        self.concurrency = backend.concurrency
        self.running: dict[str, Running] = {}
        self._acks: list[Any] = []  # ACK_FIELDS per retry or failure
        self._oks: list[Any] = []  # OK_FIELDS per result
        self._kick = asyncio.Event()
        self.claiming = True
        self.rejected = 0  # acks of this worker that Redis refused (its lease had expired)
        self.ran = 0
        self._client: Redis | None = None
        self._blocking: Redis | None = None
        self._woken: asyncio.Task[list[Any]] | None = None  # the claim queued behind BLPOP
        self._reserved = 0  # the slots that claim may fill
        self._gated = False  # its gate was set (stop_claiming): cleared to claim again
        self._tasks: list[asyncio.Task[None]] = []
        self.stopped: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._client = self._backend.client()
        self._blocking = self._backend.client(blocking=True)
        self.stopped = loop.create_future()
        self._tasks = [
            loop.create_task(self._main(), name="lanecore-redis-worker"),
            loop.create_task(self._heartbeat(), name="lanecore-redis-heartbeat"),
        ]

    def stop_claiming(self) -> None:
        """Claim nothing more; the loop ends once running commands are acked."""
        self.claiming = False
        self._kick.set()

    def resume_claiming(self) -> None:
        self.claiming = True
        self._kick.set()

    async def aclose(self) -> None:
        """Stop at once: running commands are cancelled unacked (their lease expires and
        another worker runs them again)."""
        self.claiming = False
        for running in list(self.running.values()):
            running.task.cancel()
        await cancel_and_wait([*self._tasks, self._woken])
        for client in (self._client, self._blocking):
            if client is not None:
                await self._backend.release(client)
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(None)

    # ------------------------------------------------------------------ the loop
    async def _main(self) -> None:
        try:
            await self._loop()
        except (asyncio.CancelledError, BackendClosed):
            pass
        except Exception:
            logger.exception("lanecore.redis: worker loop crashed")
        finally:
            if self.stopped is not None and not self.stopped.done():
                self.stopped.set_result(None)

    async def _loop(self) -> None:
        backend = self._backend
        script = backend.scripts.step
        client = self._client
        assert client is not None
        lease_ms, ttl_ms = backend.lease_ms, backend.result_ttl_ms
        kick = self._kick
        while True:
            if self._woken is not None and self._woken.done():
                await self._take_woken()
            free = self._free()
            if not self.claiming and not self.running and not self._acks and not self._oks:
                if self._woken is not None:
                    await self._end_woken()
                    continue
                return
            if free <= 0 and not self._acks and not self._oks:
                kick.clear()
                await self._wait(None)
                continue
            acks, self._acks = self._acks, []
            oks, self._oks = self._oks, []
            args = [self.worker_id, lease_ms, free, ttl_ms, len(acks) // ACK_FIELDS, *acks]
            args += (len(oks) // OK_FIELDS, *oks)

            def call(args: list[Any] = args) -> Awaitable[Any]:
                return script(client, *args)

            try:
                reply = await backend.retrying("claiming", call)
            except BaseException:
                self._acks[:0] = acks  # not sent: keep them for the next try
                self._oks[:0] = oks
                raise
            if self._apply(reply) < free and not self._acks and not self._oks:
                kick.clear()
                await self._idle(int(reply[0]))

    def _free(self) -> int:
        """Slots a claim may fill now: those not running nor reserved by the queued claim."""
        if not self.claiming:
            return 0
        return self.concurrency - len(self.running) - self._reserved

    def _apply(self, reply: list[Any]) -> int:
        """Launch the commands a step call claimed; how many."""
        rejected = int(reply[2])
        if rejected:
            self.rejected += rejected
            logger.warning("lanecore.redis: %d ack(s) rejected: their lease had expired", rejected)
        for index in range(3, len(reply), CLAIM_FIELDS):
            self._launch(reply[index : index + CLAIM_FIELDS])
        return (len(reply) - 3) // CLAIM_FIELDS

    async def _idle(self, wait_ms: int) -> None:
        """Nothing more to claim: wait for a wake-up, a local command finishing (kick) or the
        due time ``wait_ms`` (-1: none) of a token or delayed command.

        The wake-up carries the next claim: the worker queues a step call (no acks, the free
        slots as limit) behind its BLPOP on the same connection, so Redis runs it the moment
        the BLPOP returns and the claimed commands arrive with the wake-up, one round trip
        instead of two. Those slots stay reserved (``_free``) until its reply is taken; at a
        due time the worker unblocks its own BLPOP (its own wake-up list) to claim."""
        backend = self._backend
        loop = asyncio.get_running_loop()
        idle = backend.idle_wait
        deadline = loop.time() + (idle if wait_ms < 0 else min(wait_ms / 1000.0, idle))
        while True:
            if self._woken is None and self.claiming:
                limit = self.concurrency - len(self.running)
                if limit > 0:
                    if self._gated:  # claiming again after stop_claiming: open the gate
                        assert self._client is not None
                        await self._client.delete(backend.keys.worker_gate(self.worker_id))
                        self._gated = False
                    self._reserved = limit
                    self._woken = loop.create_task(self._claim_when_woken(limit))
            remaining = deadline - loop.time()
            if remaining > 0 and await self._wait(remaining):
                woken = self._woken
                if woken is None or not woken.done():
                    return  # kicked
                limit = self._reserved
                claimed, wait_ms = await self._take_woken()
                if claimed:
                    await asyncio.sleep(0)  # let them start: quick ones are acked at once
                if claimed >= limit or self._acks or self._oks or not self.claiming:
                    return
                deadline = loop.time() + (idle if wait_ms < 0 else min(wait_ms / 1000.0, idle))
            elif self._woken is not None and wait_ms >= 0:
                # a token or delayed command is due: the queued claim takes it now
                assert self._client is not None
                await self._client.rpush(backend.keys.worker_wake(self.worker_id), "1")
                wait_ms = -1
                deadline = loop.time() + idle
            else:
                return

    async def _claim_when_woken(self, limit: int) -> list[Any]:
        """BLPOP on this worker's own wake-up list and the shared one, with a step call
        queued behind it: the step's reply."""
        backend = self._backend
        blocking = self._blocking
        assert blocking is not None
        keys, script = backend.keys, backend.scripts.step
        args = [
            *(self.worker_id, backend.lease_ms, limit, backend.result_ttl_ms, 0, 0),
            keys.worker_gate(self.worker_id),
        ]
        pipe = blocking.pipeline(transaction=False)
        pipe.blpop([keys.worker_wake(self.worker_id), keys.wake], timeout=backend.idle_wait)
        script.queue(pipe, *args)
        _, reply = await pipe.execute(raise_on_error=False)
        if isinstance(reply, NoScriptError):  # Redis lost its script cache: send the source
            reply = await script(blocking, *args)
        elif isinstance(reply, BaseException):
            raise reply
        return cast(list[Any], reply)

    async def _take_woken(self) -> tuple[int, int]:
        """Launch what the queued claim brought (it is done): how many, and its wait ms."""
        woken, self._woken = self._woken, None
        self._reserved = 0
        assert woken is not None
        error = woken.exception()
        if error is None:
            reply = woken.result()
            return self._apply(reply), int(reply[0])
        if not isinstance(error, TRANSIENT):
            raise error
        await asyncio.sleep(jittered(0.1))  # Redis is away: the claim call will wait
        return 0, -1

    async def _end_woken(self) -> None:
        """Stopped claiming with a claim queued: set its gate and unblock its BLPOP, so it
        claims nothing, then take its reply."""
        woken = self._woken
        assert woken is not None and self._client is not None
        keys = self._backend.keys
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.set(keys.worker_gate(self.worker_id), "1", px=self._backend.lease_ms)
            pipe.rpush(keys.worker_wake(self.worker_id), "1")
            await pipe.execute()
            self._gated = True
        except TRANSIENT:
            await cancel_and_wait([woken])  # Redis is away: nothing can be claimed meanwhile
        if not woken.cancelled():
            await asyncio.wait([woken])
            await self._take_woken()
            with contextlib.suppress(*TRANSIENT):  # its step has run: drop gate and wake-up
                await self._client.delete(
                    keys.worker_gate(self.worker_id), keys.worker_wake(self.worker_id)
                )
                self._gated = False
        else:
            self._woken, self._reserved = None, 0

    async def _wait(self, timeout: float | None) -> bool:
        """Wait for a kick or the queued claim's reply; False after ``timeout``."""
        kick = self._kick
        if kick.is_set() or (self._woken is not None and self._woken.done()):
            return True
        kicked = asyncio.get_running_loop().create_task(kick.wait())
        waiting: list[asyncio.Future[Any]] = [kicked]
        if self._woken is not None:
            waiting.append(self._woken)
        try:
            done, _ = await asyncio.wait(
                waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            kicked.cancel()
        return bool(done)

    def stop(self, command_id: str, token: str) -> None:
        """Cancel the task of a running command cancelled in Redis (cancel or cancel_group:
        its slot is already free there; nothing is acked)."""
        running = self.running.get(command_id)
        if running is not None and running.token == token:
            del self.running[command_id]
            running.task.cancel()
            self._kick.set()

    # ------------------------------------------------------------------ running commands
    def _launch(self, fields: list[Any]) -> None:
        command_id, token = fields[0], str(fields[1])
        task = asyncio.get_running_loop().create_task(self._run(fields))
        self.running[command_id] = Running(command_id, token, task)

    async def _run(self, fields: list[Any]) -> None:
        command_id, token, command_type, payload_text, attempt, lane_id = fields[:6]
        token, attempt = str(token), int(attempt)
        timeout: float | None = None
        config: LaneConfig | None = None
        ack: list[Any]
        try:
            config = self._known_config(lane_id)
            if config is None:
                config = await self._lane_config(lane_id)
            timeout = config.timeout
            handler = self._handler(command_type)
            payload = json.loads(payload_text)
            if timeout is None:
                result = await handler(payload)
            else:
                scope = asyncio.timeout(timeout)
                try:
                    async with scope:
                        result = await handler(payload)
                except TimeoutError:
                    if scope.expired():
                        raise CommandTimeout(command_id, timeout) from None
                    raise
            try:
                value = RESULT_ENCODER.encode(result)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"result of {command_type!r} command {command_id!r} is not "
                    f"JSON-serialisable: {exc}"
                ) from None
            self.running.pop(command_id, None)
            self.ran += 1
            self._oks += (command_id, token, value)
            self._kick.set()
            return
        except asyncio.CancelledError:
            self.running.pop(command_id, None)
            raise  # closing: not acked, the lease expires and another worker runs it
        except Exception as exc:
            retry = config is not None and config.retry_policy.should_retry(attempt)
            delay_ms = 0
            if retry:
                assert config is not None
                delay_ms = int(config.retry_policy.backoff(attempt) * 1000)
            timed_out = isinstance(exc, CommandTimeout)
            ack = [
                command_id,
                token,
                "retry" if retry else "fail",
                encode_error(exc, timeout),
                delay_ms,
                describe(exc),
                "1" if timed_out else "0",
            ]
        self.running.pop(command_id, None)
        self.ran += 1
        self._acks += ack
        self._kick.set()

    # ------------------------------------------------------------------ leases
    async def _heartbeat(self) -> None:
        """Every lease/3: renew the leases of running commands, then reap expired leases
        cluster-wide (one worker per interval, by a SET NX PX lock)."""
        backend = self._backend
        client = self._client
        assert client is not None
        interval = backend.lease / 3.0
        scripts = backend.scripts
        while True:
            await asyncio.sleep(jittered(interval))
            try:
                if self.running:
                    args: list[Any] = [backend.lease_ms]
                    for running in list(self.running.values()):
                        args += (running.command_id, running.token)
                    lost = await scripts.renew(client, *args)
                    if lost:
                        logger.warning(
                            "lanecore.redis: lease of %d running command(s) was lost (reaped; "
                            "their acks will be rejected): %s",
                            len(lost),
                            ", ".join(map(repr, lost[:5])),
                        )
                await scripts.reap(
                    client,
                    self.worker_id,
                    max(1, int(interval * 1000)),
                    REAP_LIMIT,
                    backend.max_stalls,
                )
                if self._sweep_lanes:
                    await scripts.lanes(client, "sweep", SWEEP_LIMIT)
            except TRANSIENT as exc:
                logger.warning("lanecore.redis: heartbeat failed (%s); retrying", exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("lanecore.redis: heartbeat failed")
