"""Fixtures of the viewer's tests: deterministic display (emoji on, steady cursors, no button
delay), a FlowLog router, the bundled server by its session-test name, and private tmux servers
(`server` and `utc` are in tests/conftest.py; helpers live in app_driver.py, apphttp.py,
reading.py, search_driver.py and screen_host.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from textual.widgets import Button, Input

from flowview.model import render
from flowview.model.router import Router
from flowview.server.runner import ServerThread
from flowview.tui.widgets.message_input import MessageInput
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
def router() -> Router:
    """A router with four users and the flow KEY open (see flowlog_builders)."""
    return make_router()


@pytest.fixture
def live_server(server: ServerThread) -> ServerThread:
    """The same server as `server` (tests/conftest.py), by the name the session tests use."""
    return server


@pytest.fixture
def burst_pacing_on_loop_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the stream pump's tests (`usefixtures`): its burst pacing reads real time
    (time.monotonic); under looptime put it on the running loop's virtual clock, so that
    no test mixes the two clocks (a loaded box then stretched a burst's real gaps)."""
    from flowview.tui import stream_pump

    def loop_time() -> float:
        return asyncio.get_running_loop().time()

    monkeypatch.setattr(stream_pump, "time", SimpleNamespace(monotonic=loop_time))


@pytest.fixture
def deterministic_widgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the setup and settings screen tests (`usefixtures`): a blinking cursor makes
    rendering time-dependent, and a pressed button ignores clicks for a while (tests click
    faster than people)."""
    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.setattr(Button, "_start_active_affect", lambda self: None)


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
