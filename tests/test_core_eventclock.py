"""The compiled dispatcher's event clock: time.time()'s wall clock, read from the CPU's
time-stamp counter where the kernel keeps time with it (see lanecore_pyx/_eventclock.pxd)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lanecore import _impl

if "cython" not in _impl.CORES:
    pytest.skip("the compiled core is not loaded", allow_module_level=True)

from lanecore_pyx import _dispatch  # (only when the compiled core is there)


def test_stamps_agree_with_time_time() -> None:
    """Across re-basings (every millisecond) and rate measurements, a stamp taken between
    two time.time() readings lies between them, give or take a few steps of the double."""
    tolerance = 2e-6
    for i in range(50_000):
        before = time.time()
        stamp = _dispatch.event_clock()
        after = time.time()
        assert before - tolerance <= stamp <= after + tolerance, (before, stamp, after)
        if i % 5_000 == 0:
            time.sleep(0.0015)
    assert _dispatch.event_clock_source() in ("tsc", "system")


def test_stamps_never_run_backwards() -> None:
    last = _dispatch.event_clock()
    for i in range(100_000):
        stamp = _dispatch.event_clock()
        assert stamp >= last
        last = stamp
        if i % 10_000 == 0:
            time.sleep(0.0012)


def _in_a_fresh_process(env_value: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import time\n"
        "from lanecore_pyx import _dispatch as d\n"
        "d.event_clock(); time.sleep(0.003); d.event_clock()\n"
        "print(d.event_clock_source())\n"
    )
    env = {**os.environ, "LANECORE_EVENT_CLOCK": env_value}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_system_clock_can_be_chosen() -> None:
    done = _in_a_fresh_process("system")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "system"


def test_a_bad_clock_setting_is_named() -> None:
    done = _in_a_fresh_process("rdtsc")
    assert done.returncode != 0
    assert "LANECORE_EVENT_CLOCK must be 'auto' or 'system', got 'rdtsc'" in done.stderr


@pytest.mark.skipif(
    not (sys.platform == "linux" and os.uname().machine in ("x86_64", "i686")),
    reason="the counter is used on Linux x86 only",
)
def test_the_counter_is_used_where_the_kernel_uses_it() -> None:
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            source = f.read().strip()
    except OSError:
        pytest.skip("no clocksource in sysfs")
    done = _in_a_fresh_process("auto")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("tsc" if source == "tsc" else "system")
