"""Whether an optional module (a peer, uvloop, matplotlib) is installed, without importing it."""

from __future__ import annotations

from importlib.util import find_spec


def installed(module: str) -> bool:
    """True when ``module`` can be imported; False when missing or blocked in sys.modules."""
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[module] is None
        return False
