"""``python -m iosim`` is the ``iosim`` command."""

import sys

from iosim.cli import main

sys.exit(main())
