"""First run with FLOWDOCK_TOKEN, FLOWDOCK_STREAM_URL and FLOWDOCK_API_URL exported (as
`flowview serve` prints them): setup comes pre-filled and already checked (issue 10 item 7)."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.screens.setup import SetupScreen
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE


async def test_exported_variables_prefill_and_check_setup(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDOCK_TOKEN", server.token)
    monkeypatch.setenv("FLOWDOCK_STREAM_URL", server.stream_url)
    monkeypatch.setenv("FLOWDOCK_API_URL", server.api_url)
    app = FlowviewApp(None, None)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen))
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        assert screen.query_one("#stream-url", Input).value == server.stream_url
        assert screen.query_one("#api-url", Input).value == server.api_url
        # Checked without a key press: the flow picker is open.
        await wait_until(
            pilot, lambda: not screen.query_one("#flows").disabled, timeout=10.0,
            message="the exported token was not checked",
        )  # fmt: skip


async def test_a_bad_exported_token_is_reported_not_shown(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDOCK_TOKEN", "bad token with spaces")
    monkeypatch.setenv("FLOWDOCK_STREAM_URL", server.stream_url)
    monkeypatch.setenv("FLOWDOCK_API_URL", server.api_url)
    app = FlowviewApp(None, None)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen))
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await pilot.pause(0.3)
        assert "bad token with spaces" not in screen.status_text
        assert screen.query_one("#flows").disabled
