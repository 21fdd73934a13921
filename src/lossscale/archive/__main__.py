"""``python -m lossscale.archive``: see :mod:`lossscale.archive`."""

import sys

from lossscale.archive import main

sys.exit(main())
