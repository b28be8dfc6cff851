"""``python -m flowview.server`` - same options as ``flowview serve``."""

from __future__ import annotations

import logging
import sys

from flowview.server.cli import main

log = logging.getLogger(__name__)

if __name__ == "__main__":
    sys.exit(main())
