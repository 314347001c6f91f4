"""`python -m miglane.engine`: the same as `miglane engine`."""

import sys

from miglane.engine.cli import main

sys.exit(main())
