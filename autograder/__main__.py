"""``python -m autograder <command>``: see ``python -m autograder --help``."""
import sys

from .cli import main

sys.exit(main())
