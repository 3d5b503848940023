"""``python -m streamq``: the same as the ``streamq`` command."""

import sys

from streamq.cli import main

sys.exit(main())
