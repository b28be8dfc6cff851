"""The status bar widget on its own: states, countdown, presence, rate, and untrusted text."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.content import Content

from flowview.tui.widgets.status_bar import StatusBar


class Host(App[None]):
    def __init__(self, clock: Any) -> None:
        super().__init__()
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status", clock=self.clock)


def plain(bar: StatusBar) -> str:
    rendered = bar.render()
    assert isinstance(rendered, Content)
    return rendered.plain


async def test_states_and_countdown() -> None:
    now = [100.0]
    app = Host(lambda: now[0])
    async with app.run_test(size=(100, 3)) as pilot:
        bar = app.query_one(StatusBar)
        assert bar.connection_text() == "connecting"
        bar.set_connection("live")
        assert plain(bar).startswith("● live  │  active  │  0 msg/min")
        bar.set_connection("reconnecting", "server error (503)", 4.2)
        assert bar.connection_text() == "reconnecting in 5 s — server error (503)"
        now[0] += 2.5
        assert bar.connection_text() == "reconnecting in 2 s — server error (503)"
        now[0] += 10
        assert bar.connection_text() == "reconnecting in 0 s — server error (503)"
        bar.set_connection("reconnecting", "connection lost")
        assert bar.connection_text() == "reconnecting — connection lost"
        bar.set_connection("failed", "token rejected (401)")
        assert bar.connection_text() == "failed — token rejected (401)"
        await pilot.pause()


async def test_countdown_ticks_only_while_reconnecting() -> None:
    app = Host(lambda: 0.0)
    async with app.run_test(size=(100, 3)):
        bar = app.query_one(StatusBar)
        bar.set_connection("reconnecting", "x", 3)
        assert bar._ticker is not None
        bar.set_connection("live")
        assert bar._ticker is None


async def test_presence_rate_last_event_and_notice() -> None:
    app = Host(lambda: 0.0)
    async with app.run_test(size=(120, 3)):
        bar = app.query_one(StatusBar)
        bar.set_connection("live")
        bar.presence = "auto-idle"
        bar.rate = 42
        bar.last_event = "12:34:56"
        bar.notice = "REST users: HTTP 500"
        assert plain(bar) == (
            "● live  │  auto-idle  │  42 msg/min  │  last 12:34:56  │  REST users: HTTP 500"
        )


async def test_untrusted_reason_is_one_plain_line() -> None:
    app = Host(lambda: 0.0)
    async with app.run_test(size=(120, 3)) as pilot:
        bar = app.query_one(StatusBar)
        bar.set_connection("failed", "[bold]x[/] \x1b]0;owned\x07\nsecond line")
        bar.notice = "[@click=app.quit]q[/]"
        await pilot.pause()
        text = plain(bar)
        assert "[bold]x[/]" in text and "[@click=app.quit]q[/]" in text
        assert "\x1b" not in text and "\n" not in text and "\x07" not in text
        assert app.is_running
