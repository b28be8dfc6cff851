"""FlowLog: rows as rendered, sticky bottom + hint, reflow, edits in place, safety, keys."""

from __future__ import annotations

from typing import Any

import pytest

from flowview.model import render
from flowview.model.router import Router
from flowview.protocol.events import parse_event
from flowview.tui.widgets.flow_log import BURST_SETTLE_SECONDS, FlowLog
from tests.helpers import wait_until
from tests.tui.flowlog_builders import (
    KEY,
    LogHost,
    ev,
    every_event_type,
    fill,
    screen_rows,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("utc")]
SIZE = (100, 30)


def all_rows(log: FlowLog) -> list[str]:
    return [log.row_text(y) for y in range(log.total_rows)]


async def test_rows_render_time_nick_text_and_day_separator(router: Router) -> None:
    router.route(ev(1, "hello world", minute=5))
    router.route(ev(2, "second", user="3", minute=6))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        rows = screen_rows(log)
        assert rows[0].startswith("── Tuesday 3 March 2026 ──")
        assert rows[1].rstrip() == "09:05 alice  hello world"
        assert rows[2].rstrip() == "09:06 bob  second"
        assert rows[3].strip() == ""


async def test_every_event_type_is_shown(router: Router) -> None:
    every_event_type(router)
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = "\n".join(r.rstrip() for r in all_rows(app.query_one(FlowLog)))
    for expected in (
        "09:00 alice  good morning @@team, deploy at 10 #release",
        "09:03 alice  comment on “Inbox item”: looks fine",
        "09:04 bob  status: at lunch",
        "09:05 * carol waves",
        "09:06 alice  file: report.pdf (15.2 KB, application/pdf) /files/1/abc/report.pdf",
        "09:07 bob  added dave, erin to the flow",
        "09:08 CI  Build #42 failed — unit tests failed",
        "09:10 bob  thread start \U0001f600 2",
        "09:11 carol  ↳ Release plan · first reply",
        "09:12 alice  ↳ second reply",
        "09:13 bob  was edited (edited)",
        "09:14 carol  (message deleted)",
        "09:15 -- mail event (not shown)",
        "09:20 -- dave joined the flow",
        "── 3 messages back-filled after reconnect ──",
        "── Wednesday 4 March 2026 ──",
        "09:00 alice  next day",
    ):
        assert expected in text


async def test_sticky_bottom_follows_new_messages(router: Router) -> None:
    fill(router, 100)
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        assert log.at_bottom and log.scroll_offset.y == log.max_scroll_y > 0
        fill(router, 20, start=101)
        log.refresh_from_store()
        await pilot.pause()
        assert log.at_bottom and log.scroll_offset.y == log.max_scroll_y
        assert "message 120" in screen_rows(log)[-1]
        assert log.pending == 0


async def test_scrolled_up_stays_put_and_shows_hint_then_end_jumps_down(router: Router) -> None:
    fill(router, 100)
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        log.scroll_to(y=10, animate=False, immediate=True)
        await pilot.pause()
        assert not log.at_bottom
        top_before = screen_rows(log)[0]
        fill(router, 5, start=101)
        log.refresh_from_store()
        await pilot.pause()
        assert log.scroll_offset.y == 10
        rows = screen_rows(log)
        assert rows[0] == top_before
        assert "5 new messages below ↓" in rows[-1]
        assert log.pending == 5
        await pilot.press("end")
        await pilot.pause()
        assert log.at_bottom and log.pending == 0
        assert "new messages below" not in screen_rows(log)[-1]
        assert "message 105" in screen_rows(log)[-1]


async def test_clicking_the_hint_jumps_to_the_bottom(router: Router) -> None:
    fill(router, 100)
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        log.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        fill(router, 1, start=101)
        log.refresh_from_store()
        await pilot.pause()
        assert "1 new message below" in screen_rows(log)[-1]
        await pilot.click(FlowLog, offset=(40, SIZE[1] - 1))
        await pilot.pause()
        assert log.at_bottom
        assert any(isinstance(m, FlowLog.ScrolledToEnd) for m in app.seen)


async def test_reflow_on_resize_with_hanging_indent(router: Router) -> None:
    long = " ".join(f"word{i}" for i in range(30))
    router.route(ev(1, long))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        wide = [r.rstrip() for r in all_rows(log)]
        await pilot.resize_terminal(50, 30)
        await wait_until(pilot, lambda: log.total_rows > len(wide))
        narrow = [r.rstrip() for r in all_rows(log)]
        assert narrow[1].startswith("09:00 alice  word0")
        for row in narrow[2:]:
            assert row.startswith(" " * 13) and row[13] != " "
            assert len(row) <= 48
        joined = " ".join(r.strip() for r in narrow[1:])
        assert joined.endswith("word29")
        assert joined.split("alice  ")[1].split() == long.split()


async def test_edit_far_up_rerenders_only_that_message(router: Router) -> None:
    fill(router, 6000)
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        await wait_until(pilot, lambda: log.layout_complete)
        total = log.total_rows
        rendered: list[int] = []
        original = log._render_message

        def spy(message: Any, ctx: Any, selected: bool) -> Any:
            rendered.append(message.id)
            return original(message, ctx, selected)

        log._render_message = spy  # type: ignore[method-assign]
        store = router.stores[KEY]
        target = store[len(store) - 5000]
        router.route(
            parse_event(
                {
                    "event": "message-edit",
                    "flow": "f1",
                    "id": 99_999,
                    "user": "2",
                    "content": {"message": target.id, "updated_content": "x " * 80},
                }
            )
        )
        log.refresh_from_store()
        await pilot.pause()
        assert rendered == []  # the edited line is off screen; nothing visible re-rendered
        assert log.total_rows == total + 1  # it now wraps onto two rows
        assert log.at_bottom
        index = store.index_of(target.seq)
        assert index is not None
        y = log._index.offsets[index]
        assert log.row_text(y).startswith("")
        assert "x x x" in log.row_text(y) and "(edited)" in log.row_text(y + 1)


async def test_long_conversation_is_laid_out_in_two_phases(router: Router) -> None:
    fill(router, 8000, text="message {i} " + "filler words " * 10)  # each wraps to 2 rows
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0)
        log = app.query_one(FlowLog)
        assert "message 8000" in screen_rows(log)[-2]  # newest lines show at once
        await wait_until(pilot, lambda: log.layout_complete)
        # exact once complete: 2 rows per message plus the day separators
        days = {render.day_key(m.sent) for m in router.stores[KEY]}
        assert log.total_rows == 2 * 8000 + len(days)
        assert log.at_bottom and "message 8000" in screen_rows(log)[-2]
        await pilot.press("end")
        # a replay burst bigger than the lazy threshold takes the same two-phase path
        fill(router, 3500, start=8001, text="burst {i}")
        log.refresh_from_store()
        await pilot.pause(0)
        assert "burst 11500" in screen_rows(log)[-1]
        await wait_until(pilot, lambda: log.layout_complete)
        kept = len(router.stores[KEY])
        assert kept == 10_000  # the store cap dropped the oldest 1,500
        assert log.total_rows == 2 * (kept - 3500) + 3500 + len(days)
        assert log.at_bottom and "burst 11500" in screen_rows(log)[-1]
        await pilot.press("home")
        await pilot.pause()
        rows = screen_rows(log)
        assert rows[0].startswith("── loading older messages… ──")
        assert rows[1].startswith("── Tuesday 3 March 2026 ──")  # the top line has its day
        assert rows[2].startswith("14:01 bob  message 1501 filler")


async def test_edit_and_delete_visible_message_in_place(router: Router) -> None:
    router.route(ev(1, "original"))
    router.route(ev(2, "other"))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        router.route(
            parse_event(
                {
                    "event": "message-edit",
                    "flow": "f1",
                    "id": 3,
                    "user": "2",
                    "content": {"message": 1, "updated_content": "changed"},
                }
            )
        )
        log.refresh_from_store()
        await pilot.pause()
        rows = [r.rstrip() for r in screen_rows(log)]
        assert rows[1] == "09:00 alice  changed (edited)"
        assert len([r for r in rows if r]) == 3
        router.route(
            parse_event(
                {
                    "event": "message-edit",
                    "flow": "f1",
                    "id": 4,
                    "user": "2",
                    "content": {"message": 1, "updated_content": ""},
                }
            )
        )
        log.refresh_from_store()
        await pilot.pause()
        assert screen_rows(log)[1].rstrip() == "09:00 alice  (message deleted)"


async def test_markup_is_literal_and_not_clickable(router: Router) -> None:
    router.route(ev(1, "[bold]x[/] [@click=app.quit]press[/] [link='file:///etc/passwd']y[/link]"))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        strip = log.render_line(1)
        assert (
            "[bold]x[/] [@click=app.quit]press[/] [link='file:///etc/passwd']y[/link]" in strip.text
        )
        for segment in strip:
            style = segment.style
            assert style is None or (not style.meta and style.link is None)
            if "[bold]x[/]" in segment.text:
                assert style is not None and not style.bold  # the tag did not apply
        await pilot.click(FlowLog, offset=(30, 1))
        await pilot.pause()
        assert app.is_running  # the click selected the line; no action ran


HOSTILE = [
    "osc52 \x1b]52;c;ZWNobyBwd25lZA==\x07 end",
    "title \x1b]0;pwned\x1b\\ end",
    "link \x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "csi \x1b[2J\x1b[31mred\x1b[0m",
    "c1 \x9b31mred \x9d0;t\x9c",
    "bidi \u202eevil\u2066x\u2069",
    "cr over\rwrite",
]


async def test_no_control_characters_reach_any_strip(router: Router) -> None:
    for i, text in enumerate(HOSTILE, start=1):
        router.route(ev(i, text))
    router.route(
        parse_event(
            {
                "event": "user-edit",
                "flow": "f1",
                "user": "2",
                "content": {"user": {"id": 2, "nick": "ni\x1b[5mck\u202e"}},
            }
        )
    )
    router.route(parse_event({"event": "x\x1b]0;t\x07", "id": 50, "flow": "f1"}))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        rows = all_rows(log)
        assert len(rows) >= len(HOSTILE)
        for y in range(log.total_rows):
            for ch in log.row_text(y):
                cp = ord(ch)
                assert cp >= 32 and not 0x7F <= cp <= 0x9F, (y, repr(log.row_text(y)))
                assert ch not in "\u202e\u2066\u2069"
        for y in range(SIZE[1]):
            assert "\x1b" not in log.render_line(y).text


async def test_thread_marker_and_grouping(router: Router) -> None:
    thread = {"title": "Release plan", "initial_message": 1}
    router.route(ev(1, "start", thread_id="T", thread=thread))
    router.route(ev(2, "reply one", user="3", thread_id="T", thread=thread))
    router.route(ev(3, "reply two", user="4", thread_id="T", thread=thread))
    router.route(ev(4, "unrelated"))
    router.route(ev(5, "reply three", user="3", thread_id="T", thread=thread))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rows = [r.rstrip() for r in screen_rows(app.query_one(FlowLog))]
    assert rows[1:6] == [
        "09:00 alice  start",
        "09:00 bob  ↳ Release plan · reply one",
        "09:00 carol  ↳ reply two",
        "09:00 alice  unrelated",
        "09:00 bob  ↳ Release plan · reply three",
    ]


async def test_cursor_keys_thread_and_link_requests(router: Router) -> None:
    thread = {"title": "T", "initial_message": 1}
    router.route(
        ev(1, "see https://example.org/x and javascript:alert(1)", thread_id="T", thread=thread)
    )
    router.route(ev(2, "no link here"))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        await pilot.press("up")
        assert log.selected is not None and log.selected.id == 2
        await pilot.press("o")  # no link: nothing posted
        await pilot.press("t")  # no thread: nothing posted
        await pilot.pause()
        assert app.seen == []
        await pilot.press("up")
        assert log.selected.id == 1
        await pilot.press("t", "o")
        await wait_until(pilot, lambda: len(app.seen) >= 2)
        thread_msg, link_msg = app.seen
        assert isinstance(thread_msg, FlowLog.ThreadRequested)
        assert thread_msg.thread_id == "T" and thread_msg.key == KEY
        assert isinstance(link_msg, FlowLog.LinkRequested)
        assert link_msg.url == "https://example.org/x"
        await pilot.press("down")
        assert log.selected.id == 2
        # the selected row is highlighted: its style differs from the unselected row
        assert log.render_line(2).text.startswith("09:00 alice  no link")
        sel_bg = {s.style.bgcolor for s in log.render_line(2) if s.style}
        other_bg = {s.style.bgcolor for s in log.render_line(1) if s.style}
        assert sel_bg != other_bg


async def test_reached_top_on_scroll_and_home(router: Router) -> None:
    fill(router, 100)
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        await pilot.press("home")
        await wait_until(pilot, lambda: any(isinstance(m, FlowLog.ReachedTop) for m in app.seen))
        assert log.scroll_offset.y == 0 and log.selected is not None and log.selected.id == 1
        top = [m for m in app.seen if isinstance(m, FlowLog.ReachedTop)]
        assert top[0].key == KEY


async def test_history_merged_above_keeps_the_view_on_the_same_line(router: Router) -> None:
    fill(router, 100, start=1000)
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        log.scroll_to(y=5, animate=False, immediate=True)
        await pilot.pause()
        top = screen_rows(log)[0]
        router.merge_history(KEY, [ev(i, f"old {i}") for i in range(1, 51)])
        log.refresh_from_store()
        await pilot.pause()
        assert screen_rows(log)[0] == top
        assert log.pending == 0  # history above is not "new below"


async def test_first_unread_marker_and_rename_rerenders(router: Router) -> None:
    router.stores[KEY].clear_marker()
    router.route(ev(1, "read already"))
    router.stores[KEY].mark_read()
    router.stores[KEY].arm_marker()
    router.route(ev(2, "unread one", user="3"))
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        rows = [r.rstrip() for r in screen_rows(log)]
        assert rows[1:4] == [
            "09:00 alice  read already",
            "── new " + "─" * 91,
            "09:00 bob  unread one",
        ]
        router.route(
            parse_event(
                {
                    "event": "user-edit",
                    "flow": "f1",
                    "user": "3",
                    "content": {"user": {"id": 3, "nick": "robert"}},
                }
            )
        )
        log.refresh_from_store()
        await pilot.pause()
        assert screen_rows(log)[3].rstrip() == "09:00 robert  unread one"


async def test_store_cap_pruning_while_reading(router: Router) -> None:
    router.cap = 50
    router.stores.clear()
    router.open_flow("f1")
    fill(router, 50)
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        log.scroll_to(y=20, animate=False, immediate=True)
        await pilot.pause()
        top = screen_rows(log)[0]
        fill(router, 10, start=51)
        log.refresh_from_store()
        await pilot.pause()
        assert len(router.stores[KEY]) == 50
        assert screen_rows(log)[0] == top  # same line stays on top although rows went away
        assert log.total_rows == 51  # 50 messages + the day separator


def test_every_event_type_snapshot(router: Router, snap_compare: Any) -> None:
    every_event_type(router)
    assert snap_compare(LogHost(router), terminal_size=(100, 30))


def test_hostile_and_selection_snapshot(router: Router, snap_compare: Any) -> None:
    for i, text in enumerate(HOSTILE, start=1):
        router.route(ev(i, text, user=("2", "3")[i % 2], minute=i))
    router.route(
        ev(20, "@me ping with #tag and https://example.org", user="3", minute=30, tags=[":user:9"])
    )
    assert snap_compare(LogHost(router), press=["up", "up"], terminal_size=(100, 16))


async def test_a_burst_shows_its_newest_lines_and_measures_the_rest_once_it_is_over(
    router: Router,
) -> None:
    fill(router, 100, text="message {i} " + "filler words " * 10)  # each wraps to 2 rows
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0)
        log = app.query_one(FlowLog)
        assert log.layout_complete
        start = 101
        for _ in range(3):  # repaints of a burst, closer together than BURST_SETTLE_SECONDS
            fill(router, 1000, start=start, text="burst {i} " + "filler words " * 10)
            start += 1000
            log.refresh_from_store()
            await pilot.pause(0)
            assert f"burst {start - 1} filler" in screen_rows(log)[-2]  # the newest, measured
            assert not log.layout_complete  # the burst's older lines: not measured yet
            await pilot.pause(BURST_SETTLE_SECONDS / 3)
        assert not log.layout_complete
        await wait_until(pilot, lambda: log.layout_complete)
        days = {render.day_key(m.sent) for m in router.stores[KEY]}
        assert log.total_rows == 2 * 3100 + len(days)  # exact once measured
        assert log.at_bottom and f"burst {start - 1} filler" in screen_rows(log)[-2]


async def test_lazy_measuring_after_the_store_was_trimmed_syncs_first(router: Router) -> None:
    # The memory budget trims a store between a flush and the log's next lazy chunk (seen in
    # the day bench: IndexError in measure_chunk, the app gone).  The chunk syncs first.
    fill(router, 8000, text="message {i} filler that wraps onto a second row at this width")
    app = LogHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0)
        log = app.query_one(FlowLog)
        assert not log.layout_complete  # the older lines are still estimated
        store = router.stores[KEY]
        store.trim_oldest(300)  # no flush in between
        log._measure_lazily(log._index.generation)
        await wait_until(pilot, lambda: log.layout_complete)
        assert log._index.seqs == [m.seq for m in store.messages]
        assert log.total_rows == sum(log._index.heights) + log._top
        assert any("message 8000" in row for row in screen_rows(log)[-3:])
