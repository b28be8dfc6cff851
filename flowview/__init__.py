"""flowview: a terminal viewer for Flowdock-compatible chat flows."""

import logging

# Log records go where `--log FILE` / FLOWVIEW_LOG says (flowview.logs), and nowhere else:
# without this, Python's last-resort handler would print warnings and tracebacks on stderr,
# over the TUI or into `tail`'s diagnostics.
logging.getLogger("flowview").addHandler(logging.NullHandler())
