"""Every kind of line is legible: WCAG contrast of every text segment against its background.

Renders own, mention, selected, selected+mention, status, thread, deleted, day separator, "new"
marker and gap lines in a dark and a light theme and measures what reaches the terminal.
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.segment import Segment
from textual.color import Color

from flowview.model.router import Router
from flowview.protocol.events import parse_event
from flowview.tui.widgets.flow_log import FlowLog
from flowview.tui.widgets.line_styles import contrast_ratio, legible
from tests.tui.flowlog_builders import KEY, ME, LogHost, ev

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("utc")]
THEMES = ["textual-dark", "textual-light", "nord", "solarized-light", "gruvbox"]


def every_kind_of_line(router: Router) -> dict[str, int]:
    """One line of each kind; returns the message ids of the ones a test selects."""
    store = router.stores[KEY]
    store.clear_marker()
    router.route(ev(1, "plain line from alice", minute=0))
    router.route(ev(2, "my own line", user=ME, minute=1))
    router.route(ev(3, "hey @me, please look at https://x.example/a #ci", user="3", minute=2))
    router.route(ev(4, "@@team standup now", user="4", minute=3))
    router.route(
        parse_event(
            {"event": "status", "id": 5, "flow": "f1", "user": "3", "content": "at lunch",
             "sent": 1772528400000 + 4 * 60_000, "tags": []}
        )
    )  # fmt: skip
    thread: dict[str, Any] = {"title": "Release plan", "initial_message": 6}
    router.route(ev(6, "thread start", user="3", minute=5, thread_id="T", thread=thread))
    router.route(ev(7, "a reply", user="4", minute=6, thread_id="T", thread=thread))
    router.route(ev(8, "to be deleted", user="4", minute=7))
    store.edit(8, "", deleted=True)
    store.mark_read()
    store.arm_marker()
    router.insert_gap(KEY, backfilled=2)
    router.route(ev(9, "next day, after the marker", user="2", minute=24 * 60))
    return {"own": 2, "mention": 3}


def text_segments(log: FlowLog) -> list[tuple[str, Segment]]:
    rows: list[tuple[str, Segment]] = []
    for y in range(log.scrollable_content_region.height):
        strip = log.render_line(y)
        for segment in strip:
            if segment.text.strip():
                rows.append((strip.text.strip(), segment))
    return rows


def colours(segment: Segment) -> tuple[Color, Color]:
    style = segment.style
    assert style is not None and style.color is not None and style.bgcolor is not None, segment
    fg = Color.from_rich_color(style.color)
    bg = Color.from_rich_color(style.bgcolor)
    return (bg, fg) if style.reverse else (fg, bg)


@pytest.mark.parametrize("theme", THEMES)
async def test_every_kind_of_line_is_legible(router: Router, theme: str) -> None:
    ids = every_kind_of_line(router)
    store = router.stores[KEY]
    app = LogHost(router)
    async with app.run_test(size=(100, 30)) as pilot:
        app.theme = theme
        await pilot.pause()
        log = app.query_one(FlowLog)
        rows = [log.row_text(y) for y in range(log.total_rows)]
        for wanted in ("── new", "back-filled", "(message deleted)", "↳ ", "status: "):
            assert any(wanted in row for row in rows), (wanted, rows)
        plain_bg = colours(text_segments(log)[0][1])[1]
        seen: list[tuple[str, Segment]] = []
        mention_bgs = set()
        for name in ("own", "mention"):
            message = store.get(ids[name])
            assert message is not None
            log.select_seq(message.seq)
            await pilot.pause()
            segments = text_segments(log)
            seen += segments
            if name == "own":  # the mention line is not selected in this pass
                mention_bgs = {colours(s)[1] for row, s in segments if "please look" in row}
        # The history line at the top and the "N new messages below" hint.
        store.history_complete = True
        await pilot.press("home")
        router.route(ev(50, "arrives below while reading", minute=24 * 60 + 5))
        log.refresh_from_store()
        await pilot.pause()
        extra = text_segments(log)
        shown = {row for row, _ in extra}
        assert any("beginning of history" in row for row in shown), shown
        assert any("new message below" in row for row in shown), shown
        seen += extra
        failures = []
        for row, segment in seen:
            fg, bg = colours(segment)
            ratio = contrast_ratio(fg, bg)
            if ratio < 4.5:
                failures.append(f"{ratio:.2f} {segment.text!r} in {row!r}")
        assert not failures, "\n".join(failures)
        # Nothing is drawn reversed (a reversed nick on a tinted line read as a block).
        assert not [s.text for _, s in seen if s.style is not None and s.style.reverse]
        # A mention stands out: its background differs from a plain line's, as a tint
        # (not a full colour: close to the plain background).
        assert mention_bgs and plain_bg not in mention_bgs
        for bg in mention_bgs:
            assert contrast_ratio(bg, plain_bg) < 1.6


def test_legible_reaches_the_minimum_on_any_background() -> None:
    for grey in range(0, 256, 15):
        bg = Color(grey, grey, grey)
        for fg in (Color(grey, grey, grey), Color(255, 140, 0), Color(20, 20, 200)):
            assert contrast_ratio(legible(fg, bg), bg) >= 4.5
