"""The tab bar: full width beside the members pane, hidden tabs shown, private tabs marked and
closable, organisations told apart (issue 10, "Tab bar" and "members pane")."""

from __future__ import annotations

import pytest
from textual.widgets._tabbed_content import ContentTabs

from flowview.server.runner import ServerThread
from tests.tui.test_app import SIZE, make_app, wait_live

pytestmark = pytest.mark.timeout(60)


async def test_members_pane_sits_under_the_tab_bar(server: ServerThread) -> None:
    """f4 must not take the tab bar's right end: the bar keeps the screen's width and the
    pane starts below it."""
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        tabs = app.main.query_one(ContentTabs)
        await pilot.press("f4")
        await pilot.pause()
        pane = app.main.members
        assert pane.display
        assert tabs.region.width == SIZE[0]
        assert pane.region.y >= tabs.region.bottom
        assert pane.region.right == SIZE[0]
        log_widget = app.main.active_log
        assert log_widget is not None
        assert log_widget.region.right <= pane.region.x
