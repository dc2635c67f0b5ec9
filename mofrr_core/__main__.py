"""`python -m mofrr_core` (and `accelerate launch -m mofrr_core`): the `mofrr` command line."""

import sys

from .cli import main

sys.exit(main())
