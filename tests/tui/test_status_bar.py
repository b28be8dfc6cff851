"""The status bar widget on its own: states, countdown, presence, rate, and untrusted text."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
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


# ---------------------------------------------------------------------------- narrow terminals


def shown(bar: StatusBar) -> str:
    """The bar as the terminal shows it (cropped to the widget, padding stripped)."""
    return bar.render_line(0).text.strip()


async def test_80_columns_keep_the_rate_and_cut_no_word() -> None:
    """At 80 columns the alert is shortened after a whole word and msg/min stays; the time of
    the last event is what goes first."""
    app = Host(lambda: 0.0)
    async with app.run_test(size=(80, 3)) as pilot:
        bar = app.query_one(StatusBar)
        bar.set_connection("live")
        bar.rate = 12
        bar.last_event = "07:11:46"
        await pilot.pause()
        assert shown(bar) == "● live  │  active  │  12 msg/min  │  last 07:11:46"
        body = "fatima: @robin the release notes for the quarterly platform review are ready"
        bar.alert = f"Dev Ops: {body}"
        await pilot.pause()
        text = shown(bar)
        assert text.endswith("│ 12 msg/min"), text
        assert "last" not in text
        alert = text.split("✉ ", 1)[1].split(" │ ", 1)[0]
        assert alert.endswith("…")
        words = alert[:-1].split()
        assert words == f"Dev Ops: {body}".split()[: len(words)], alert  # whole words only
        assert len(words) >= 3
        assert cell_len(plain(bar)) <= bar.content_region.width


async def test_cjk_alert_keeps_its_first_character_and_whole_characters() -> None:
    app = Host(lambda: 0.0)
    async with app.run_test(size=(80, 3)) as pilot:
        bar = app.query_one(StatusBar)
        bar.set_connection("live")
        bar.rate = 3
        bar.alert = "ngozi (private): " + "日本語のテキストです、よろしくお願いします。明日の会議"
        await pilot.pause()
        text = shown(bar)
        assert "✉ ngozi (private): 日本語" in text, text
        assert text.endswith("│ 3 msg/min"), text
        assert "…" in text
        assert cell_len(plain(bar)) <= bar.content_region.width  # nothing cropped
        for width in (50, 61, 62, 63):
            await pilot.resize_terminal(width, 3)
            await pilot.pause()
            assert cell_len(plain(bar)) <= bar.content_region.width == width - 2
            text = shown(bar)
            assert "ngozi" in text or "✉" not in text, text


async def test_failed_shows_the_whole_reason_and_no_stale_rate_at_80() -> None:
    from flowview.tui.session import TOKEN_REJECTED

    app = Host(lambda: 0.0)
    async with app.run_test(size=(80, 3)) as pilot:
        bar = app.query_one(StatusBar)
        bar.set_connection("live")
        bar.rate = 40
        bar.last_event = "07:11:46"
        bar.set_connection("failed", TOKEN_REJECTED)
        await pilot.pause()
        text = shown(bar)
        assert text.startswith(f"✖ failed — {TOKEN_REJECTED}"), text
        assert "msg/min" not in text and "offline" in text


async def test_very_narrow_keeps_the_state_and_ends_on_whole_items() -> None:
    app = Host(lambda: 0.0)
    async with app.run_test(size=(30, 3)) as pilot:
        bar = app.query_one(StatusBar)
        bar.set_connection("reconnecting", "server error (503) while streaming", 5)
        bar.rate = 7
        bar.notice = "presence not changed: HTTP 503"
        await pilot.pause()
        text = shown(bar)
        assert text.startswith("◌ reconnecting in 5 s"), text
        assert "msg/min" not in text or text.endswith("msg/min")
        assert not text.endswith("│")
