import sys

from miglane.engine.cli import main

sys.exit(main())
