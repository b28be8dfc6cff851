"""Checkboxes and radio buttons of the setup and settings screens show their state by a glyph,
not by colour alone (issue 10)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import RadioSet

from flowview.config import Settings
from flowview.tui.screens.settings import SettingsScreen
from flowview.tui.widgets.toggles import RadioChoice, TickBox

pytestmark = pytest.mark.timeout(30)


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield TickBox("bell", value=True, id="on")
        yield TickBox("private", value=False, id="off")
        with RadioSet(id="format"):
            yield RadioChoice("sse", value=True, id="sse")
            yield RadioChoice("json", id="json")


def _box(widget: TickBox | RadioChoice) -> str:
    return widget.render_line(0).text.strip()[:3]


async def test_state_is_in_the_text() -> None:
    app = _Host()
    async with app.run_test(size=(40, 10)) as pilot:
        on, off = app.query_one("#on", TickBox), app.query_one("#off", TickBox)
        sse, json = app.query_one("#sse", RadioChoice), app.query_one("#json", RadioChoice)
        assert (_box(on), _box(off)) == ("▐✓▌", "▐ ▌")
        assert (_box(sse), _box(json)) == ("▐●▌", "▐○▌")
        off.toggle()
        json.value = True
        await pilot.pause()
        assert _box(off) == "▐✓▌"
        assert (_box(sse), _box(json)) == ("▐○▌", "▐●▌")


class _SettingsHost(App[None]):
    def on_mount(self) -> None:
        self.push_screen(SettingsScreen(Settings(flows=["a/b"], private=True, bell=False), None))


async def test_settings_screen_uses_them() -> None:
    app = _SettingsHost()
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        private = screen.query_one("#private", TickBox)
        bell = screen.query_one("#bell", TickBox)
        assert (_box(private), _box(bell)) == ("▐✓▌", "▐ ▌")
        assert _box(screen.query_one("#sse", RadioChoice)) == "▐●▌"
        assert _box(screen.query_one("#json", RadioChoice)) == "▐○▌"
