"""Workload sizes, round counts and the event loops shared by every benchmark.

``LANECORE_BENCH_SCALE`` (default 1.0) multiplies every size, so ``LANECORE_BENCH_SCALE=0.05``
gives a quick trial run; the README's tables come from a full-size run (scale 1).
"""

from __future__ import annotations

import os

from lanecore import _impl
from lanecore.bench.loops import available_loops


def _scale() -> float:
    raw = os.environ.get("LANECORE_BENCH_SCALE", "").strip()
    if not raw:
        return 1.0
    value = float(raw)
    if not value > 0:
        raise ValueError(f"LANECORE_BENCH_SCALE must be > 0, got {raw!r}")
    return value


SCALE = _scale()


def scaled(full: int, minimum: int = 1, multiple: int = 1) -> int:
    """``full`` times SCALE, at least ``minimum``, rounded down to a multiple of ``multiple``."""
    value = max(minimum, int(full * SCALE))
    return max(multiple, value - value % multiple)


# --- sizes at scale 1 (the figures the issue asks about) --------------------------------------
W_COMMANDS = scaled(100_000, 100, 1000)  # W10 / W1 / overheads / lane scaling
A3S_COMMANDS = scaled(200, 20, 10)  # the a3s-lane SDK manages ~90 commands/s
A3S_THREADS = 16
PREEMPT_PENDING = scaled(10_000, 100)
PREEMPT_TRIES = scaled(200, 50)  # the issue asks for >= 50 tries
CORE_ITEMS = scaled(1_000_000, 10_000, 64)
CORE_LANES = 64
MEMORY_ITEMS = scaled(1_000_000, 10_000, 64)
BUCKET_CALLS = scaled(500_000, 10_000)
RATE_PER_SECOND = 1000
RATE_SECONDS = max(0.3, 5.0 * SCALE)
IDLE_SECONDS = max(0.3, 2.0 * SCALE)
LANE_COUNTS = (1, 10, 100, 1000)
# the lane-count series twice: each lane max 10 as the issue asks (so slots, and the runner
# coroutines that fill them, grow with the lanes), and with the total slots held at 1,000
SLOT_TOTAL = 1000
PENDING_COUNTS = tuple(scaled(n, 100) for n in (1_000, 10_000, 100_000, 1_000_000))

# --- rounds (explicit and small, so the whole suite takes a few minutes) -----------------------
ROUNDS = 5
PAIRS = 7  # back-to-back pairs behind a paired ratio (harness.paired_ratio)
QUICK_ROUNDS = 5  # the core micro-benchmark and the token buckets take milliseconds a round
ROUNDS_SLOW = 1  # aiojobs and a3s-lane throughput, the 5 s rate-limit runs, 1M pending
PREEMPT_ROUNDS = 3


def pending_rounds(n: int) -> int:
    """Enough rounds that a small drain is measured more than once; 1M pending runs once."""
    if n >= 1_000_000:
        return ROUNDS_SLOW
    return max(ROUNDS, min(30, 100_000 // max(n, 1)))


def throughput_rounds(system: str) -> int:
    """aiojobs (~12k commands/s) and a3s-lane (~90/s) run one round; the rest ROUNDS."""
    return ROUNDS_SLOW if system in ("aiojobs", "a3s-lane") else ROUNDS


# --- systems ------------------------------------------------------------------------------------
CORE_NAMES: tuple[str, ...] = tuple(n for n in ("cython", "python") if n in _impl.CORES)
LANECORE_SYSTEMS = tuple(f"lanecore-{n}" for n in CORE_NAMES)
REFERENCE_SYSTEM = "lanecore-cython" if "cython" in _impl.CORES else "lanecore-python"


def core_of(system: str) -> str:
    """ "lanecore-cython" -> "cython" (also for the "-submit" variants)."""
    return system.removeprefix("lanecore-").removesuffix("-submit")


# --- event loops --------------------------------------------------------------------------------
LOOP_NAMES: tuple[str, ...] = available_loops()

# --- Redis (bench_redis.py): 2 worker processes and a producer on one redis-server -------------
REDIS_JOBS = scaled(20_000, 200, 100)  # per burst round
REDIS_ROUNDS = 3
REDIS_PACED_JOBS = scaled(1_000, 50)  # one paced round
REDIS_PACED_RATE = 200  # jobs/s offered in the paced round: below every system's capacity here
REDIS_PROCESSES = 2
REDIS_CONCURRENCY = 50  # jobs at a time in each worker process, the same for every system
REDIS_BATCH = 1000  # jobs per bulk enqueue call (bullmq addBulk, lanecore submit_many)
