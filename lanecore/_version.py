"""The package's version, in a module of its own: parts of lanecore that report it (the OTel
meter) import this instead of ``lanecore``, whose ``__init__`` imports them."""

from __future__ import annotations

__version__ = "0.1.0"
