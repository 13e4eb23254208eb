"""Guards for how the package was built and which scheduling core it loaded.

CI runs the suite with ``LANECORE_REQUIRE_EXTENSIONS=1`` (the compiled core must be the default)
and again with ``LANECORE_NO_EXTENSIONS=1`` added (the pure-Python twin must be used).  These use
``lanecore._impl`` directly so they do not depend on what ``lanecore/__init__.py`` re-exports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES

import pytest

from lanecore import _impl


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


REQUIRED = _flag("LANECORE_REQUIRE_EXTENSIONS")
DISABLED = _flag("LANECORE_NO_EXTENSIONS")


@pytest.mark.skipif(
    not REQUIRED or DISABLED,
    reason="only with LANECORE_REQUIRE_EXTENSIONS=1 and without LANECORE_NO_EXTENSIONS",
)
def test_required_extensions_are_the_default_core() -> None:
    assert _impl.IMPLEMENTATION == "cython"
    assert "cython" in _impl.CORES
    assert _impl.get_core().name == "cython"


@pytest.mark.skipif(
    not REQUIRED or DISABLED,
    reason="only with LANECORE_REQUIRE_EXTENSIONS=1 and without LANECORE_NO_EXTENSIONS",
)
@pytest.mark.parametrize("module", ["_dispatch", "_lanetable", "_tokenbucket"])
def test_compiled_modules_are_extension_modules(module: str) -> None:
    """The compiled core really is a built extension, not some .py shadowing it."""
    mod = __import__(f"lanecore_pyx.{module}", fromlist=["_"])
    origin = getattr(mod, "__file__", None) or ""
    assert origin.endswith(tuple(EXTENSION_SUFFIXES)), origin


@pytest.mark.skipif(not DISABLED, reason="only with LANECORE_NO_EXTENSIONS=1")
def test_no_extensions_forces_the_python_core() -> None:
    assert _impl.IMPLEMENTATION == "python"
    assert "cython" not in _impl.CORES
    with pytest.raises(LookupError, match="LANECORE_NO_EXTENSIONS"):
        _impl.get_core("cython")


def test_python_core_is_always_available() -> None:
    assert "python" in _impl.CORES
    assert _impl.get_core("python").name == "python"


def _implementation_in_subprocess(**env: str) -> str:
    child_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LANECORE_NO_EXTENSIONS", "LANECORE_REQUIRE_EXTENSIONS")
    }
    child_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", "import lanecore._impl as i; print(i.IMPLEMENTATION)"],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_no_extensions_env_forces_python_in_a_fresh_interpreter() -> None:
    assert _implementation_in_subprocess(LANECORE_NO_EXTENSIONS="1") == "python"


def test_no_extensions_env_wins_over_require_extensions() -> None:
    implementation = _implementation_in_subprocess(
        LANECORE_NO_EXTENSIONS="1", LANECORE_REQUIRE_EXTENSIONS="1"
    )
    assert implementation == "python"


@pytest.mark.skipif("cython" not in _impl.CORES, reason="the compiled core is not built")
def test_built_core_is_the_default_in_a_fresh_interpreter() -> None:
    assert _implementation_in_subprocess(LANECORE_REQUIRE_EXTENSIONS="1") == "cython"
