"""Adds what the report needs to know about this machine to pytest-benchmark's JSON."""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any

import pytest


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: Any, machine_info: dict[str, Any]) -> None:
    """nproc, CPU model, the lanecore core in use, and the versions of uvloop and the peers."""
    import lanecore
    from benchmarks import config as bench_config

    machine_info["lanecore"] = {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "implementation": lanecore.IMPLEMENTATION,
        "scale": bench_config.SCALE,
        # other processes share this machine: the load when the run ended says how busy it was
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            name: _version(name)
            for name in (
                "lanecore",
                "uvloop",
                "pytest-benchmark",
                "aiojobs",
                "aiolimiter",
                "a3s-lane",
                "bullmq",
                "arq",
                "redis",
                "Cython",
            )
        },
    }
