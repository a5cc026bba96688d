"""``python -m deblur``: the command line (see :mod:`deblur.cli`)."""

import sys

from .cli import main

sys.exit(main())
