"""The chosen theme is applied at start and saved when the user changes it (issue 10 item 10)."""

from __future__ import annotations

from flowview.config import load_settings
from flowview.server.runner import ServerThread
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, make_app, settings_for, wait_live


async def test_saved_theme_is_applied_and_a_new_choice_is_saved(server: ServerThread) -> None:
    app = make_app(server, settings=settings_for(server, theme="textual-light"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        assert app.theme == "textual-light"
        app.theme = "nord"  # what the palette's theme picker does

        def saved() -> bool:
            settings = load_settings()
            return settings is not None and settings.theme == "nord"

        await wait_until(pilot, saved, message="the new theme was not saved")
        assert app.session is not None and app.session.settings.theme == "nord"


async def test_an_unknown_saved_theme_is_ignored(server: ServerThread) -> None:
    app = make_app(server, settings=settings_for(server, theme="no-such-theme"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        assert app.theme != "no-such-theme"
