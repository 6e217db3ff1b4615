"""``python -m maskstats.cli`` (and ``torchrun -m maskstats.cli``) runs the CLI."""

import sys

from maskstats.cli.main import main

sys.exit(main())
