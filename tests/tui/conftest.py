"""Fixtures of the viewer's tests (helpers live in test_app.py and screen_host.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowview.server.runner import ServerOptions, ServerThread
from tests.tui.apphttp import close_http


@pytest.fixture
def server() -> Iterator[ServerThread]:
    """The bundled server on loopback, quiet (rate=0): tests post what they need."""
    with ServerThread(ServerOptions(rate=0, seed=1)) as srv:
        yield srv
        close_http(srv)


@pytest.fixture
def live_server(server: ServerThread) -> ServerThread:
    """The same server (the name the session tests use)."""
    return server
