"""flowview: a terminal viewer for Flowdock-compatible chat flows."""
