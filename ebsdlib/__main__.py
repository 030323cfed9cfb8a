"""``python -m ebsdlib``: the command line (:mod:`ebsdlib.cli`)."""

import sys

from ebsdlib.cli import main

if __name__ == "__main__":
    sys.exit(main())
