"""`o`: the app says whether a browser took the link, and shows the address to open by hand
when none did (issue 10: "Opening…" was said even when no browser started)."""

from __future__ import annotations

import webbrowser

import pytest

from flowview.server.runner import ServerThread
from flowview.tui.browser import NO_BROWSER, open_blocking, pick_browser
from flowview.tui.screens.link_by_hand import LinkByHandScreen
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, log_text, make_app, post, wait_live

pytestmark = pytest.mark.timeout(60)

URL = "https://example.com/docs/release?q=1#notes"


class FakeGui(webbrowser.BackgroundBrowser):
    """A browser that starts in the background (as xdg-open does), recording what it got."""

    def __init__(self, works: bool = True) -> None:
        super().__init__("fake-gui")
        self.works = works
        self.opened: list[str] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        return self.works


def _no_browser() -> webbrowser.BaseBrowser:
    raise webbrowser.Error("could not locate runnable browser")


def test_console_browsers_are_refused() -> None:
    """lynx or w3m would run in this terminal, under the viewer."""
    assert pick_browser(lambda: webbrowser.GenericBrowser("lynx")) is None
    elinks = webbrowser.Elinks("elinks")
    assert pick_browser(lambda: elinks) is None
    gui = FakeGui()
    assert pick_browser(lambda: gui) is gui
    assert pick_browser(_no_browser) is None


def test_open_blocking_reports_the_outcome() -> None:
    gui = FakeGui()
    assert open_blocking(URL, lambda: gui) is None
    assert gui.opened == [URL]
    assert open_blocking(URL, lambda: FakeGui(works=False)) == "fake-gui did not start"
    assert open_blocking(URL, _no_browser) == NO_BROWSER


@pytest.mark.parametrize("works", [True, False])
async def test_o_says_what_happened(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch, works: bool
) -> None:
    gui = FakeGui(works)
    monkeypatch.setattr(webbrowser, "get", lambda *a: gui)
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        post(server, "acme/main", f"see {URL} for details")
        log_widget = app.main.active_log
        assert log_widget is not None
        await wait_until(pilot, lambda: "for details" in log_text(log_widget))
        await pilot.press("escape", "up", "o")  # on the messages (not the input line)
        await wait_until(pilot, lambda: gui.opened == [URL])
        if works:
            await wait_until(pilot, lambda: "opened in your browser" in app.main.status.notice)
            assert not isinstance(app.screen, LinkByHandScreen)
        else:
            await wait_until(pilot, lambda: isinstance(app.screen, LinkByHandScreen))
            shown = str(app.screen.query_one("#link-url").render())
            assert shown == URL
            assert "did not start" in str(app.screen.query_one("#link-problem").render())
            assert "opened" not in app.main.status.notice
            await pilot.press("escape")
            assert not isinstance(app.screen, LinkByHandScreen)


async def test_o_without_any_browser_shows_the_address(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webbrowser, "get", lambda *a: _no_browser())
    app = make_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_live(pilot, app)
        post(server, "acme/main", f"see {URL}")
        log_widget = app.main.active_log
        assert log_widget is not None
        await wait_until(pilot, lambda: "see https" in log_text(log_widget))
        await pilot.press("escape", "up", "o")  # on the messages (not the input line)
        await wait_until(pilot, lambda: isinstance(app.screen, LinkByHandScreen))
        assert str(app.screen.query_one("#link-url").render()) == URL
        assert NO_BROWSER in str(app.screen.query_one("#link-problem").render())
