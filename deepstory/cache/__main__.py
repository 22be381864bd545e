"""``python -m deepstory.cache info|check|prune ...``: see :mod:`deepstory.cache.cli`."""

import sys

from deepstory.cache.cli import main

if __name__ == "__main__":
    sys.exit(main())
