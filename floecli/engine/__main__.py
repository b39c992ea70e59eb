"""`python -m floecli.engine`: the engine's command line."""

import sys

from .main import main

sys.exit(main())
