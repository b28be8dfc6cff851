"""MembersPane: members listed by presence, text never parsed as markup."""

from __future__ import annotations

import threading

import httpx
import pytest
from textual.app import App, ComposeResult

from flowview.model.directory import UserInfo
from flowview.server.runner import ServerThread
from flowview.tui.widgets.members_pane import MembersPane, members_content
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, make_app, post, user_token, wait_live

pytestmark = pytest.mark.timeout(60)


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield MembersPane(id="members")


def _people() -> list[UserInfo]:
    return [
        UserInfo("1", "zoe", presence="offline"),
        UserInfo("2", "[bold]mallory[/]", presence="idle"),
        UserInfo("3", "alice", presence="active"),
        UserInfo("4", "bob", presence="active"),
    ]


def test_members_sorted_active_idle_offline_with_counts() -> None:
    lines = members_content("Main", _people()).plain.splitlines()
    assert lines[0] == "Main"
    assert lines[1] == "2 active · 1 idle"
    assert lines[3:] == ["● alice", "● bob", "◐ [bold]mallory[/]", "○ zoe"]


def test_empty_directory_says_so() -> None:
    assert "nobody known yet" in members_content("Main", []).plain


async def test_pane_renders_nicks_literally() -> None:
    app = _Host()
    async with app.run_test(size=(40, 12)) as pilot:
        pane = app.query_one(MembersPane)
        pane.show("Main", _people())
        await pilot.pause()
        rendered = "\n".join(pane.render_line(y).text for y in range(pane.size.height))
        assert "[bold]mallory[/]" in rendered
        assert "● alice" in rendered


# ---------------------------------------------------------------------------- in the app


async def test_f4_shows_members_and_follows_activity(server: ServerThread) -> None:
    """f4 opens the pane; members and presence come from REST, and another user's stream
    with active=true (the server emits activity.user for her) turns her active."""
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        pane = app.main.members
        assert not pane.display
        await pilot.press("f4")
        assert pane.display
        me = server.state.me
        assert me is not None
        await wait_until(pilot, lambda: f"● {me.nick}" in pane.text, message=pane.text)
        assert "◐ fatima" in pane.text  # the simulated directory has her idle

        opened = threading.Event()
        stop = threading.Event()

        def fatima_streams() -> None:
            url = f"{server.stream_url}/flows?filter=acme/main&active=true"
            with (
                httpx.Client(timeout=10) as client,
                client.stream("GET", url, auth=(user_token(server, "fatima"), "")) as response,
            ):
                opened.set()
                for _ in response.iter_bytes():
                    if stop.is_set():
                        return

        thread = threading.Thread(target=fatima_streams, daemon=True)
        thread.start()
        try:
            await wait_until(pilot, lambda: "● fatima" in pane.text, message=pane.text)
        finally:
            stop.set()
            post(server, "acme/main", "wake the reader")  # lets iter_bytes return
            thread.join(timeout=5)
        await pilot.press("f4")
        assert not pane.display
