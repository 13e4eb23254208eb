"""Chooses the scheduling core: the compiled ``lanecore_pyx`` modules, or their pure-Python twins.

``LANECORE_NO_EXTENSIONS=1`` forces the twins; ``LANECORE_REQUIRE_EXTENSIONS=1`` turns a failed
import of the compiled core into an error instead of a silent fallback.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from lanecore import _dispatch_py, _eventring_py, _lanetable_py, _tokenbucket_py


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _load_compiled() -> SimpleNamespace:
    from lanecore_pyx import _dispatch, _eventring, _lanetable, _tokenbucket

    return SimpleNamespace(
        name="cython",
        LaneTable=_lanetable.LaneTable,
        TokenBucket=_tokenbucket.TokenBucket,
        Dispatcher=_dispatch.Dispatcher,
        EventRing=_eventring.EventRing,
    )


PYTHON_CORE = SimpleNamespace(
    name="python",
    LaneTable=_lanetable_py.LaneTable,
    TokenBucket=_tokenbucket_py.TokenBucket,
    Dispatcher=_dispatch_py.Dispatcher,
    EventRing=_eventring_py.EventRing,
)

CORES: dict[str, SimpleNamespace] = {"python": PYTHON_CORE}
COMPILED_IMPORT_ERROR: ImportError | None = None

if not _flag("LANECORE_NO_EXTENSIONS"):
    try:
        CORES["cython"] = _load_compiled()
    except ImportError as exc:
        if _flag("LANECORE_REQUIRE_EXTENSIONS"):
            raise ImportError(
                "LANECORE_REQUIRE_EXTENSIONS is set but the compiled core "
                f"lanecore_pyx did not import: {exc}"
            ) from exc
        COMPILED_IMPORT_ERROR = exc

DEFAULT_CORE: SimpleNamespace = CORES.get("cython", PYTHON_CORE)
IMPLEMENTATION: str = DEFAULT_CORE.name


def get_core(name: str | None = None) -> SimpleNamespace:
    """The core named "cython" or "python" (None: the one loaded by default)."""
    if name is None:
        return DEFAULT_CORE
    try:
        return CORES[name]
    except KeyError:
        if name == "cython":
            reason = (
                "disabled by LANECORE_NO_EXTENSIONS"
                if _flag("LANECORE_NO_EXTENSIONS")
                else f"not built or not importable ({COMPILED_IMPORT_ERROR})"
            )
            raise LookupError(f"the compiled core is unavailable: {reason}") from None
        raise ValueError(f"implementation must be 'cython' or 'python', got {name!r}") from None


__all__ = ["CORES", "DEFAULT_CORE", "IMPLEMENTATION", "get_core"]
