"""Fixtures of the viewer's tests: deterministic display (UTC times, emoji on), a FlowLog
router, and the bundled server on loopback (helpers live in apphttp.py and screen_host.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC

import pytest

from flowview.model import render
from flowview.model.router import Router
from flowview.server.runner import ServerOptions, ServerThread
from flowview.tui.widgets.message_input import MessageInput
from tests.tui.apphttp import close_http
from tests.tui.flowlog_builders import make_router
from tests.tui.tmux import E2E_SESSION, SEND_SESSION, Tmux


@pytest.fixture(autouse=True)
def show_emoji(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reactions as emoji whatever the machine's locale (render.SHOW_EMOJI follows it)."""
    monkeypatch.setattr(render, "SHOW_EMOJI", True)


@pytest.fixture(autouse=True)
def steady_input_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The input line's cursor does not blink: what a snapshot shows must not depend on time."""
    monkeypatch.setattr(MessageInput, "cursor_blink", False)


@pytest.fixture
def utc() -> Iterator[None]:
    """Times and day separators in UTC, so rows are the same on every machine."""
    render.set_display_timezone(UTC)
    yield
    render.set_display_timezone(None)


@pytest.fixture
def router() -> Router:
    """A router with four users and the flow KEY open (see flowlog_builders)."""
    return make_router()


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


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    """A private tmux server for test_tmux_e2e.py (killed afterwards)."""
    tm = Tmux(f"flowview-test-{os.getpid()}", E2E_SESSION, timeout=10.0)
    yield tm
    tm.run("kill-server", check=False)


@pytest.fixture
def tmux_send() -> Iterator[Tmux]:
    """A private tmux server for test_tmux_send.py (killed afterwards)."""
    tm = Tmux(f"flowview-send-{os.getpid()}", SEND_SESSION, timeout=15.0)
    yield tm
    tm.run("kill-server", check=False)
