"""``python -m flowview.server`` - same options as ``flowview serve``."""

from __future__ import annotations

import sys

from flowview.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
