"""FlowLog's rough edges from issue 10: Home loads older history in one press with "loading…"
and "beginning of history" lines, file attachments as full URLs, emoji reactions, and a link
picker for `o` on a line with several links."""

from __future__ import annotations

from typing import Any

import pytest

from flowview.model import render
from flowview.model.router import Router
from flowview.protocol.events import parse_event
from flowview.tui.screens.link_picker import LinkPicker
from flowview.tui.widgets.flow_log import FlowLog
from tests.tui.flowlog_builders import FLOW, KEY, LogHost, ev, screen_rows

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("utc")]
SIZE = (100, 20)
DAY = 24 * 60


def seed(router: Router, ids: range, *, minute: int = DAY) -> None:
    for i in ids:
        router.route(ev(i, f"message {i}", user=("2", "3")[i % 2], minute=minute + i))


def older(ids: range) -> list[Any]:
    """History as the REST API gives it: a day before the live lines."""
    return [ev(i, f"message {i}", user=("2", "3")[i % 2], minute=i) for i in ids]


def reached_top(app: LogHost) -> int:
    return sum(isinstance(m, FlowLog.ReachedTop) for m in app.seen)


async def test_one_home_press_asks_for_older_history_and_says_loading(router: Router) -> None:
    seed(router, range(101, 201))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        assert log.at_bottom and reached_top(app) == 0
        await pilot.press("home")  # once, from the bottom
        await pilot.pause()
        assert reached_top(app) == 1
        rows = screen_rows(log)
        assert rows[0].startswith("── loading older messages… ──")
        assert rows[1].startswith("── Wednesday 4 March 2026 ──")
        assert "message 101" in rows[2]
        assert log.loading_older
        # Pressing again while loading does not ask twice.
        await pilot.press("home")
        await pilot.pause()
        assert reached_top(app) == 1

        # The app merges the older page: "loading…" goes, the view stays on message 101,
        # and the new top line gets its date line.
        router.merge_history(KEY, older(range(51, 101)))
        log.refresh_from_store()
        await pilot.pause()
        assert not log.loading_older
        assert log.row_text(0).startswith("── Tuesday 3 March 2026 ──")
        assert "message 51" in log.row_text(1)
        rows = screen_rows(log)  # the view stays where it was: on message 101's rows
        assert any("message 101" in row for row in rows[:3]), rows
        assert not any("message 51 " in row or row.endswith("message 51") for row in rows)

        # Nothing older: the top says so, and stays that way.
        await pilot.press("home")
        await pilot.pause()
        assert reached_top(app) == 2
        router.stores[KEY].history_complete = True
        log.refresh_from_store()
        await pilot.pause()
        assert screen_rows(log)[0].startswith("── beginning of history ──")
        assert log.row_text(1).startswith("── Tuesday 3 March 2026 ──")


@pytest.mark.looptime
async def test_loading_line_goes_away_when_the_load_never_reports(router: Router) -> None:
    seed(router, range(1, 60))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        await pilot.press("home")
        await pilot.pause()
        assert screen_rows(log)[0].startswith("── loading older messages…")
        await pilot.pause(16)  # LOADING_TIMEOUT, on the loop's (virtual) clock
        assert not log.loading_older
        assert not screen_rows(log)[0].startswith("── loading")


def file_event(mid: int) -> Any:
    return parse_event(
        {
            "event": "file",
            "id": mid,
            "flow": FLOW,
            "user": "2",
            "sent": 1772528400000,
            "tags": [],
            "content": {
                "file_name": "report.pdf",
                "file_size": 15557,
                "content_type": "application/pdf",
                "path": "/files/1/abc/report.pdf",
            },
        }
    )


async def test_file_attachments_show_and_open_the_full_url(router: Router) -> None:
    router.route(file_event(1))
    app = LogHost(router, api_url="https://api.example.org/")
    async with app.run_test(size=(120, 10)) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        text = "\n".join(screen_rows(log))
        assert "https://api.example.org/files/1/abc/report.pdf" in text
        await pilot.press("up", "o")
        await pilot.pause()
        links = [m.url for m in app.seen if isinstance(m, FlowLog.LinkRequested)]
        assert links == ["https://api.example.org/files/1/abc/report.pdf"]


async def test_reactions_show_emoji_where_known(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    router.route(ev(1, "ship it"))
    for n, emoji in enumerate(("+1", "+1", "heart", "partyparrot")):
        router.route(
            parse_event(
                {
                    "event": "emoji-reaction",
                    "flow": FLOW,
                    "id": 10 + n,
                    "user": "3",
                    "content": {"message": 1, "emoji": emoji, "type": "add"},
                }
            )
        )
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = screen_rows(app.query_one(FlowLog))[1].rstrip()
        assert row == "09:00 alice  ship it \U0001f44d 2 \U0001f496 1 :partyparrot: 1"
    monkeypatch.setattr(render, "SHOW_EMOJI", False)  # a terminal without UTF-8
    assert render.format_reactions({"+1": 2}) == " :+1: 2"


async def test_o_offers_a_picker_when_a_line_has_several_links(router: Router) -> None:
    router.route(ev(1, "see https://a.example/one and https://b.example/two"))
    router.route(ev(2, "only https://c.example/three", minute=1))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("up", "o")  # one link: opened at once
        await pilot.pause()
        assert [m.url for m in app.seen if isinstance(m, FlowLog.LinkRequested)] == [
            "https://c.example/three"
        ]
        await pilot.press("up", "o")
        await pilot.pause()
        assert isinstance(app.screen, LinkPicker)
        assert app.screen.urls == ["https://a.example/one", "https://b.example/two"]
        await pilot.press("down", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, LinkPicker)
        assert [m.url for m in app.seen if isinstance(m, FlowLog.LinkRequested)] == [
            "https://c.example/three",
            "https://b.example/two",
        ]
        await pilot.press("o", "escape")  # cancelled: nothing requested
        await pilot.pause()
        assert len([m for m in app.seen if isinstance(m, FlowLog.LinkRequested)]) == 2
