"""``python -m lanecore``: the lanecore command line (see ``lanecore.cli``)."""

import sys

from lanecore.cli import main

if __name__ == "__main__":
    sys.exit(main())
