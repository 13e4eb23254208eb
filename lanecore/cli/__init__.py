"""The ``lanecore`` command line (``python -m lanecore`` or the ``lanecore`` script).

Commands: ``demo`` (the default lanes under a simulated agent workload, live), ``stats`` and
``dlq list|retry|clear`` (a SQLite store), ``bench`` (the peer comparison), ``info``. rich
(the ``cli`` extra) is needed only for the live table and progress bar and is imported only
then; matplotlib (the ``plot`` extra) only for ``bench --plot``.
"""

from lanecore.cli.app import main
from lanecore.cli.errors import CliError

__all__ = ["CliError", "main"]
