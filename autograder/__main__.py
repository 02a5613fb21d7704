"""``python -m autograder <command>``: see ``python -m autograder --help``."""
import sys

from .cli import main

if __name__ == "__main__":  # not when a Dask LocalCluster's worker processes import this main module
    sys.exit(main())
