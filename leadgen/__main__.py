"""Entry point of `python -m leadgen`."""

import sys

from leadgen.cli import main

sys.exit(main())
