"""Flowdock-compatible server with simulated traffic and fault injection (`flowview serve`).

Entry points live in `flowview.server.runner` (ServerOptions, run_server, ServerThread,
spawn_server_process) and `flowview.server.cli`; imported lazily so `hostile` stays cheap.
"""

import logging

log = logging.getLogger(__name__)
