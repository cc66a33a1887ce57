"""``python -m neural_ode`` is ``neural-ode-bench``."""

import sys

from neural_ode.cli import main

sys.exit(main())
