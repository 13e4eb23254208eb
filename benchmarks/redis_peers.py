"""The Redis workload: no-op named jobs run by 2 worker processes on one Redis, for lanecore's
Redis backend, bullmq and arq, measured the same way for each.

Per system (``running()``): a throwaway ``redis-server`` (``RedisServer(appendonly=False)``),
``processes`` worker processes started with ``redis_workers.py`` (bullmq, arq) or lanecore's
own ``python -m lanecore worker`` CLI, each running ``concurrency`` jobs at a time, and a
producer in this process. Two measurements, each a ``RedisRun``:

- **burst** (throughput): ``jobs`` no-op jobs enqueued as fast as the library allows (its
  bulk call in batches of ``batch`` where it has one), then every completion awaited.
  ops/s = jobs ÷ (last completion minus the instant before the first enqueue). Per-job latency
  (enqueue → completion) is also recorded, but with every job queued at once it is mostly
  time spent waiting behind the others.
- **paced** (latency): ``jobs`` jobs enqueued one at a time at a fixed ``rate`` well below
  every system's capacity; latency = completion minus the instant before that job's enqueue.

"Completion" is the library's own notion of done, after Redis has acknowledged it: for
bullmq the worker's ``completed`` event (after ``moveToCompleted``), for arq its
``after_job_end`` hook (after the result is written), both stamped with ``time.monotonic()``
in the worker (see redis_workers.py; on Linux it is the host-wide ``CLOCK_MONOTONIC``). For
lanecore it is the producer's handle resolving with the result sent back by the worker, i.e.
one step *later* than the peers' stamps (the result has also travelled back to the producer).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from time import process_time
from typing import IO, Any, Protocol

from lanecore.bench.results import percentile

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ("lanecore-redis", "bullmq", "arq")
REFERENCE = "lanecore-redis"
# system -> (module it imports as, pip requirement)
PACKAGES = {
    "lanecore-redis": ("redis", "lanecore[redis]"),
    "bullmq": ("bullmq", "bullmq"),
    "arq": ("arq", "arq"),
}
# arq polls its queue (a sorted set) every poll_delay seconds; its default, 0.5 s, would cap a
# drained worker's pick-up latency at 0.5 s. Both benchmarks use this value instead (tuned:
# see benchmarks/README.md).
ARQ_POLL_DELAY = 0.005
STOP_SECONDS = 15.0


# ------------------------------------------------------------------------------ availability
def missing(system: str) -> str | None:
    """Why ``system`` cannot run here (no redis-server, package or backend), or None."""
    from lanecore.redis.testing import find_redis_server

    if find_redis_server() is None:
        return "no redis-server on PATH (install redis-server or set LANECORE_REDIS_SERVER)"
    module, requirement = PACKAGES[system]
    if find_spec(module) is None:
        return f"{system} needs {module!r} (pip install '{requirement}')"
    if system == "lanecore-redis":
        try:
            import_module("lanecore.redis").RedisBackend  # noqa: B018
        except (ImportError, AttributeError) as exc:
            return f"lanecore.redis has no RedisBackend yet ({exc})"
    return None


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class RedisRun:
    """One burst or paced run: ``jobs`` enqueued, ``completed`` seen done, in ``seconds``."""

    system: str
    mode: str
    jobs: int
    completed: int
    seconds: float  # first enqueue -> last completion
    latencies_ms: list[float]
    per_process: list[int] = field(default_factory=list)  # jobs each worker process ran
    cpu_s: dict[str, float] = field(default_factory=dict)  # workers / redis / producer

    @property
    def ops_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else float("inf")

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms)


# ------------------------------------------------------------------------------ workers
class Completions:
    """Completion stamps ``seq -> time.monotonic()``, filled by reader threads (worker stdout)
    or by the producer itself (lanecore handles). ``expect(seqs)`` starts counting down the
    jobs of one run, so waiting for them costs O(1) per stamp."""

    def __init__(self) -> None:
        self.done: dict[int, float] = {}
        self._cond = threading.Condition()
        self._expected = range(0)
        self._missing = 0
        self.ready = 0

    def expect(self, seqs: range) -> None:
        """Count down ``seqs`` from now on (call before enqueueing them)."""
        with self._cond:
            self._expected = seqs
            self._missing = sum(1 for s in seqs if s not in self.done)

    def add(self, seq: int, at: float) -> None:
        with self._cond:
            if seq not in self.done and seq in self._expected:
                self._missing -= 1
                if self._missing == 0:
                    self._cond.notify_all()
            self.done[seq] = at

    def mark_ready(self) -> None:
        with self._cond:
            self.ready += 1
            self._cond.notify_all()

    def complete(self) -> bool:
        """Every expected job has a stamp (call with the lock held, e.g. from ``wait``)."""
        return self._missing == 0

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


class WorkerGroup:
    """``processes`` worker subprocesses for one system; always stopped by ``close()``.

    ``argv`` is the command line of one worker. A reader thread per process scans its stdout:
    ``ready...`` (every worker prints it once running) and, from redis_workers.py, completion
    stamps ``<seq> <monotonic>`` that feed ``completions``. Anything else is ignored.
    """

    def __init__(self, argv: list[str], processes: int) -> None:
        self.argv = argv
        self.processes = processes
        self.completions = Completions()
        self.per_process: list[int] = [0] * processes
        self._procs: list[subprocess.Popen[bytes]] = []
        self._index: dict[int, int] = {}  # pid -> index
        self._threads: list[threading.Thread] = []
        self._logs: list[IO[bytes]] = []

    def start(self, timeout: float = 30.0) -> None:
        """Start the processes and wait until each has printed ``ready``."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        for index in range(self.processes):
            log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
            self._logs.append(log)
            proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
            self._procs.append(proc)
            self._index[proc.pid] = index
            thread = threading.Thread(
                target=self._read, args=(index, proc), daemon=True, name=f"worker-out-{index}"
            )
            thread.start()
            self._threads.append(thread)
        ok = self.completions.wait(
            lambda: self.completions.ready >= self.processes or not self.alive(), timeout
        )
        if not ok or not self.alive():
            raise RuntimeError(f"workers did not start: {self.stderr_tail()}")

    def _read(self, index: int, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        completions = self.completions
        for raw in proc.stdout:
            fields = raw.split()
            if fields[:1] == [b"ready"]:
                completions.mark_ready()
            elif len(fields) == 2 and fields[0].isdigit():
                completions.add(int(fields[0]), float(fields[1]))
                self.per_process[index] += 1

    def count_pid(self, pid: int) -> None:
        """One more job ran in worker process ``pid`` (for producers that learn it)."""
        index = self._index.get(pid)
        if index is not None:
            self.per_process[index] += 1

    def cpu_seconds(self) -> float:
        """User + system CPU time of every worker process so far (Linux /proc; else 0)."""
        total = 0.0
        for proc in self._procs:
            try:
                with open(f"/proc/{proc.pid}/stat", encoding="ascii") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def alive(self) -> bool:
        return all(p.poll() is None for p in self._procs)

    def stderr_tail(self, chars: int = 2000) -> str:
        tails = []
        for index, log in enumerate(self._logs):
            log.seek(0)
            text = log.read().decode(errors="replace")[-chars:]
            status = self._procs[index].poll() if index < len(self._procs) else None
            tails.append(f"[worker {index}, exit status {status}]\n{text}")
        return "\n".join(tails)

    def close(self) -> None:
        """SIGTERM every worker, wait for a clean exit, SIGKILL whatever is left."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        for log in self._logs:
            log.close()


# ------------------------------------------------------------------------------ producers
class Producer(Protocol):
    """What the measurement needs from one system's client side."""

    completions: Completions | None  # set when the producer itself sees completions

    async def open(self) -> None: ...

    async def enqueue_batch(self, seqs: Sequence[int]) -> None: ...

    async def enqueue_one(self, seq: int) -> None: ...

    async def check(self, expected_total: int) -> None: ...

    async def close(self) -> None: ...


class BullmqProducer:
    """bullmq's ``Queue``: ``addBulk`` for a burst, ``add`` for a paced job."""

    completions: Completions | None = None

    def __init__(self, url: str, queue: str) -> None:
        self.url, self.name = url, queue
        self.queue: Any = None

    async def open(self) -> None:
        self.queue = import_module("bullmq").Queue(self.name, {"connection": self.url})

    async def enqueue_batch(self, seqs: Sequence[int]) -> None:
        await self.queue.addBulk([{"name": "noop", "data": {"seq": s}} for s in seqs])

    async def enqueue_one(self, seq: int) -> None:
        await self.queue.add("noop", {"seq": seq})

    async def check(self, expected_total: int) -> None:
        got = await self.queue.getJobCounts("completed", "failed", "waiting", "active")
        expected = {"completed": expected_total, "failed": 0, "waiting": 0, "active": 0}
        counts = {key: got.get(key, 0) for key in expected}  # 2.x also reports 'paused'
        assert counts == expected, f"bullmq job counts {counts}, expected {expected}"

    async def close(self) -> None:
        await self.queue.close()


class ArqProducer:
    """arq's ``ArqRedis.enqueue_job``, one awaited call per job (arq has no bulk call; running
    10 or 50 of them at once with ``asyncio.gather`` was slower: each is a WATCH/MULTI
    transaction on its own pooled connection). The job id is the producer's ``seq``."""

    completions: Completions | None = None

    def __init__(self, url: str, queue: str) -> None:
        self.url, self.name = url, queue
        self.pool: Any = None

    async def open(self) -> None:
        connections = import_module("arq.connections")
        settings = connections.RedisSettings.from_dsn(self.url)
        self.pool = await connections.create_pool(settings, default_queue_name=self.name)

    async def enqueue_batch(self, seqs: Sequence[int]) -> None:
        for seq in seqs:
            await self.enqueue_one(seq)

    async def enqueue_one(self, seq: int) -> None:
        job = await self.pool.enqueue_job("noop", _job_id=str(seq))
        assert job is not None, "arq refused a job id"

    async def check(self, expected_total: int) -> None:
        queued = await self.pool.zcard(self.name)
        results = len(await self.pool.keys("arq:result:*"))
        assert queued == 0, f"arq: {queued} jobs still queued"
        assert results == expected_total, f"arq: {results} results, expected {expected_total}"

    async def close(self) -> None:
        await self.pool.aclose()


class LanecoreProducer:
    """lanecore's ``DistributedManager`` started as a submit-only client (``worker=False``):
    ``submit_many`` for a burst, ``submit`` for a paced job (plain calls; the commands of one
    loop iteration go to Redis in one script call), then ``persisted()`` awaited for each, so
    that, like bullmq's ``addBulk``/``add`` and arq's ``enqueue_job``, every enqueue call has
    been acknowledged by Redis before the next. A job is complete when its handle resolves
    with the worker's result (the worker's pid, tallied per process)."""

    def __init__(self, url: str, namespace: str, group: WorkerGroup) -> None:
        self.url, self.namespace, self.group = url, namespace, group
        self.completions: Completions | None = Completions()
        self.manager: Any = None
        self.failed = 0

    async def open(self) -> None:
        lanecore_redis = import_module("lanecore.redis")
        app = import_module("benchmarks.redis_app")
        backend = lanecore_redis.RedisBackend(self.url, self.namespace)
        self.manager = app.lanes().with_backend(backend).build()
        await self.manager.start(worker=False)

    def _watch(self, seq: int, handle: asyncio.Future[Any]) -> None:
        completions, count = self.completions, self.group.count_pid
        assert completions is not None

        def done(handle: asyncio.Future[Any]) -> None:
            completions.add(seq, time.monotonic())  # a failure too: check() reports it
            if handle.cancelled() or handle.exception() is not None:
                self.failed += 1
            else:
                count(handle.result())

        handle.add_done_callback(done)

    async def enqueue_batch(self, seqs: Sequence[int]) -> None:
        app = import_module("benchmarks.redis_app")
        handles = self.manager.submit_many(app.LANE, [("noop", s) for s in seqs])
        for seq, handle in zip(seqs, handles, strict=True):
            self._watch(seq, handle)
        for handle in handles:  # acknowledged by Redis, as the peers' enqueue calls are
            await handle.persisted()

    async def enqueue_one(self, seq: int) -> None:
        app = import_module("benchmarks.redis_app")
        handle = self.manager.submit(app.LANE, "noop", seq)
        self._watch(seq, handle)
        await handle.persisted()

    async def check(self, expected_total: int) -> None:
        assert self.failed == 0, f"lanecore: {self.failed} jobs failed or were cancelled"
        stats = await self.manager.stats()
        assert stats.total_pending == 0, f"lanecore: {stats}"

    async def close(self) -> None:
        self.manager.shutdown()
        await self.manager.drain(30.0)
        await self.manager.close()


# ------------------------------------------------------------------------------ measurement
async def _wait_all(
    completions: Completions, seqs: range, timeout: float, alive: Callable[[], bool]
) -> None:
    """Wait until every job of ``seqs`` has a stamp; fail early if a worker process died."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(completions.wait, completions.complete, 1.0):
        got = sum(s in completions.done for s in seqs)
        if not alive():
            raise RuntimeError(f"a worker process died ({got} of {len(seqs)} jobs completed)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {got} of {len(seqs)} jobs completed within {timeout:.0f} s")


async def _finish(
    completions: Completions,
    seqs: range,
    enqueued: list[float],
    started: float,
    timeout: float,
    alive: Callable[[], bool],
) -> tuple[float, list[float]]:
    """Wait for every job of ``seqs``; (seconds since ``started``, latencies in ms)."""
    await _wait_all(completions, seqs, timeout, alive)
    done = completions.done
    finished = [done[s] for s in seqs]
    latencies = [(f - e) * 1000.0 for f, e in zip(finished, enqueued, strict=True)]
    return max(finished) - started, latencies


async def burst(
    producer: Producer,
    completions: Completions,
    seqs: range,
    batch: int,
    timeout: float,
    alive: Callable[[], bool],
) -> tuple[float, list[float]]:
    """Enqueue ``seqs`` in batches, wait for all; (seconds, latencies in ms)."""
    completions.expect(seqs)
    enqueued: list[float] = []
    monotonic = time.monotonic
    started = monotonic()
    for start in range(0, len(seqs), batch):
        chunk = seqs[start : start + batch]
        at = monotonic()
        await producer.enqueue_batch(chunk)
        enqueued.extend([at] * len(chunk))
    return await _finish(completions, seqs, enqueued, started, timeout, alive)


async def paced(
    producer: Producer,
    completions: Completions,
    seqs: range,
    rate: float,
    timeout: float,
    alive: Callable[[], bool],
) -> tuple[float, list[float]]:
    """Enqueue ``seqs`` one at a time, ``rate`` per second, wait for all; (seconds, ms)."""
    completions.expect(seqs)
    enqueued: list[float] = []
    monotonic = time.monotonic
    started = monotonic()
    for k, seq in enumerate(seqs):
        delay = started + k / rate - monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        enqueued.append(monotonic())
        await producer.enqueue_one(seq)
    return await _finish(completions, seqs, enqueued, started, timeout, alive)


@dataclass
class Setup:
    """Everything one system's benchmark needs, shared by its rounds."""

    system: str
    url: str
    queue: str
    group: WorkerGroup
    make_producer: Callable[[], Producer]
    loop: str
    batch: int
    seq: int = 0  # next job number (unique per server: arq uses it as the job id)
    total: int = 0  # jobs run so far on this server

    def next_seqs(self, n: int) -> range:
        seqs = range(self.seq, self.seq + n)
        self.seq += n
        return seqs

    def run(self, mode: str, jobs: int, rate: float = 0.0, timeout: float = 600.0) -> RedisRun:
        """One burst or paced round on a fresh event loop (and a fresh producer)."""
        seqs = self.next_seqs(jobs)
        before = list(self.group.per_process)

        async def main() -> tuple[float, list[float]]:
            producer = self.make_producer()
            await producer.open()
            try:
                completions = producer.completions or self.group.completions
                alive = self.group.alive
                if mode == "burst":
                    result = await burst(producer, completions, seqs, self.batch, timeout, alive)
                else:
                    result = await paced(producer, completions, seqs, rate, timeout, alive)
                self.total += jobs
                await producer.check(self.total)
                return result
            finally:
                await producer.close()

        if not self.group.alive():
            raise RuntimeError(f"a worker died: {self.group.stderr_tail()}")
        workers0, redis0, producer0 = self.group.cpu_seconds(), redis_cpu(self.url), process_time()
        seconds, latencies = _run_on(self.loop, main)
        cpu = {
            "workers": self.group.cpu_seconds() - workers0,
            "redis": redis_cpu(self.url) - redis0,
            "producer": process_time() - producer0,
        }
        split = [a - b for a, b in zip(self.group.per_process, before, strict=True)]
        return RedisRun(self.system, mode, jobs, len(latencies), seconds, latencies, split, cpu)


def redis_cpu(url: str) -> float:
    """CPU seconds (user + system) the redis-server has used so far (``INFO cpu``)."""
    client = import_module("redis").Redis.from_url(url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _run_on(loop: str, main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    factory = import_module("uvloop").new_event_loop if loop == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def worker_argv(system: str, url: str, queue: str, concurrency: int, loop: str) -> list[str]:
    """The command line of one worker process for ``system``."""
    if system == "lanecore-redis":
        return lanecore_worker_argv(url, queue, concurrency, loop)
    argv = [sys.executable, "-m", "benchmarks.redis_workers", system]
    argv += ["--url", url, "--queue", queue, "--concurrency", str(concurrency), "--loop", loop]
    if system == "arq":
        argv += ["--poll-delay", str(ARQ_POLL_DELAY)]
    return argv


def lanecore_worker_argv(url: str, namespace: str, concurrency: int, loop: str) -> list[str]:
    """lanecore's own worker CLI, one process each (it prints ``ready <pid>`` when running)."""
    return [
        *(sys.executable, "-m", "lanecore", "worker", "--redis", url, "--namespace", namespace),
        *("--app", "benchmarks.redis_app:app", "--concurrency", str(concurrency)),
        *("--loop", loop),
    ]


def make_producer(system: str, url: str, queue: str, group: WorkerGroup) -> Callable[[], Producer]:
    """A factory for ``system``'s producer (a fresh one per round, on that round's loop)."""
    if system == "lanecore-redis":
        return lambda: LanecoreProducer(url, queue, group)
    if system == "bullmq":
        return lambda: BullmqProducer(url, queue)
    if system == "arq":
        return lambda: ArqProducer(url, queue)
    raise NotImplementedError(system)


@contextlib.contextmanager
def running(
    system: str, *, processes: int, concurrency: int, loop: str, batch: int, warmup: int = 200
) -> Iterator[Setup]:
    """A fresh redis-server and ``processes`` workers for ``system``, warmed up with a small
    untimed burst; everything is stopped and deleted on exit, whatever happens."""
    from lanecore.redis.testing import RedisServer

    server = RedisServer(appendonly=False)
    group: WorkerGroup | None = None
    try:
        server.start()
        queue = f"bench-{system}"
        argv = worker_argv(system, server.url, queue, concurrency, loop)
        group = WorkerGroup(argv, processes)
        group.start()
        setup = Setup(
            system,
            server.url,
            queue,
            group,
            make_producer(system, server.url, queue, group),
            loop,
            batch,
        )
        if warmup:
            setup.run("burst", warmup, timeout=60.0)
        yield setup
    finally:
        if group is not None:
            group.close()
        server.close()
