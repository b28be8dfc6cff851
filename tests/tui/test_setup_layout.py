"""The setup screen at 80x24 opens at its title (issue 10: it opened scrolled past it)."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Input

from flowview.tui.screens.setup import SetupScreen
from tests.tui.screen_host import HostApp

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("notice", [None, "Your saved configuration could not be used: x"])
async def test_setup_opens_at_its_title_with_the_token_focused(notice: str | None) -> None:
    app = HostApp(lambda: SetupScreen(notice))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        body = screen.query_one("#setup-body", VerticalScroll)
        assert body.scroll_y == 0
        title = screen.query_one("#setup-title")
        assert title.region.y >= 0 and title.region.height == 1
        token = screen.query_one("#token", Input)
        assert token.has_focus
        assert token.region.bottom <= body.region.bottom  # and the field is in view too
