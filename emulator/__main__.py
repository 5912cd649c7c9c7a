"""`python -m emulator` is `ipo-emu`."""

import sys

from emulator.cli import main

sys.exit(main())
