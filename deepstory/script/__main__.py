"""``python -m deepstory.script``: see :mod:`deepstory.script.cli`."""

import sys

from deepstory.script.cli import main

sys.exit(main())
