"""``lanecore info``: the version, the core that loaded, Python, and optional extras."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys

from lanecore import IMPLEMENTATION, __version__, _impl


def _extra(module: str, hint: str) -> str:
    """``module``'s version if installed (found without importing it), else how to get it."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return f"not installed ({hint})"
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "installed"


def lines() -> list[str]:
    """The info report, one fact per line."""
    core = (
        "cython (compiled lanecore_pyx)"
        if IMPLEMENTATION == "cython"
        else f"python (pure-Python twin; compiled core: {_impl.COMPILED_IMPORT_ERROR or 'off'})"
    )
    return [
        f"lanecore {__version__}",
        f"core:    {core}",
        f"cores:   {', '.join(sorted(_impl.CORES))} (demo --core selects one)",
        f"python:  {platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.platform})",
        "uvloop:  " + _extra("uvloop", "pip install 'lanecore[uvloop]'"),
        "rich:    " + _extra("rich", "pip install 'lanecore[cli]' for the live demo table"),
    ]


def run() -> int:
    print("\n".join(lines()))
    return 0
