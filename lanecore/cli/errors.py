"""CliError: a runtime failure the CLI reports as one line on stderr and exit code 1."""

from __future__ import annotations


class CliError(Exception):
    """A failure to report without a traceback (missing file, unknown id, ...); exit code 1."""
