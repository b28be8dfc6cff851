"""Scrolling back past the store's cap (issue 11): the store is a sliding window over the
archive.  Scrolling up into a full store drops its newest messages (still archived) instead of
the page just read; live lines meanwhile are counted, not stored; scrolling down reads the
archive back until the live end, and End jumps there at once.  Ids stay contiguous at every
join and memory stays within the cap.  Real HTTP against the bundled server."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from helpers import wait_until
from textual.pilot import Pilot

from flowview.archive.paths import list_archives
from flowview.model.router import Router
from flowview.model.store import ConversationStore
from flowview.protocol.events import Event, parse_event
from flowview.server.runner import ServerThread
from flowview.tui import loaders, warm_start
from flowview.tui.app import FlowviewApp
from flowview.tui.session import Session
from flowview.tui.widgets.flow_log import FlowLog
from tests.tui.app_driver import SIZE, make_app, post, settings_for
from tests.tui.apphttp import close_http
from tests.tui.reading import key_of, ready
from tests.tui.search_driver import archive_a_long_flow, search_and_jump

pytestmark = pytest.mark.timeout(120)

CAP = 30
PAGE = 10
# Shorter than a window of CAP lines, so that the log scrolls (it always does at 10,000).
SHORT = (SIZE[0], 16)


def window_ids(store: ConversationStore) -> list[int]:
    return [m.id for m in store if m.id is not None]


def assert_contiguous(store: ConversationStore, ids: list[int]) -> None:
    """The window is one unbroken run of the conversation's ids: nothing skipped at a join,
    nothing twice."""
    got = window_ids(store)
    assert got, "empty window"
    start = ids.index(got[0])
    assert got == ids[start : start + len(got)]
    assert len(store) <= CAP


async def scrolled_back_to_the_start(
    pilot: Pilot[Any], app: FlowviewApp, ids: list[int]
) -> tuple[ConversationStore, FlowLog]:
    random = key_of(app, "acme/random")
    store = app.stores()[random]
    app.main.show(random)
    await pilot.press("escape")  # from the input line to the messages
    log_widget = app.main.log_for(random)
    assert log_widget is not None
    for _ in range(12):
        if store.get(ids[0]) is not None:
            break
        oldest = store.oldest_id
        await pilot.press("home")
        await wait_until(
            pilot,
            timeout=15,
            predicate=lambda oldest=oldest: store.oldest_id != oldest,
            message=f"nothing older than {oldest}: window {window_ids(store)}",
        )
        assert_contiguous(store, ids)
    assert store.get(ids[0]) is not None, "could not scroll back past the cap"
    assert store.detached
    return store, log_widget


def small_app(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> FlowviewApp:
    monkeypatch.setattr(warm_start, "WARM_TAIL", PAGE)
    monkeypatch.setattr(loaders, "HISTORY_PAGE", PAGE)
    return make_app(server, settings=replace(settings_for(server), scrollback=CAP))


async def test_scrolling_up_past_the_cap_keeps_the_page_and_end_jumps_to_the_live_end(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    app = small_app(live_server, monkeypatch)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            store, log_widget = await scrolled_back_to_the_start(pilot, app, ids)
            # Live lines while detached: counted (label, alt+m), not stored.
            store.mark_read()
            mention = post(live_server, "acme/random", "ping @robin while you read old lines")
            later = post(live_server, "acme/random", "and one more")
            await wait_until(
                pilot, timeout=15, predicate=lambda: store.unread == 2 and store.mentions == 1
            )
            assert store.get(mention) is None and store.get(later) is None
            assert store.get(ids[0]) is not None  # the window did not move
            assert len(store) <= CAP
            # End: straight to the live end, attached again, following.
            await pilot.press("end")
            await wait_until(
                pilot, timeout=15, predicate=lambda: not store.detached, message="not attached"
            )
            assert_contiguous(store, [*ids, mention, later])
            assert window_ids(store)[-1] == later
            found = store.get(mention)
            assert found is not None and found.mention
            # At the live end and shown: read, as at the bottom of an attached log.
            await wait_until(pilot, timeout=15, predicate=lambda: log_widget.at_bottom)
            await wait_until(pilot, timeout=15, predicate=lambda: store.unread == 0)
            # Attached: the next live line is stored at the bottom as before.
            newest = post(live_server, "acme/random", "live again")
            await wait_until(pilot, timeout=15, predicate=lambda: store.get(newest) is not None)
            assert_contiguous(store, [*ids, mention, later, newest])
    finally:
        close_http(live_server)


async def test_scrolling_down_reads_the_archive_back_until_the_live_end(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    app = small_app(live_server, monkeypatch)
    try:
        async with app.run_test(size=SHORT) as pilot:
            await ready(pilot, app)
            store, log_widget = await scrolled_back_to_the_start(pilot, app, ids)
            live = post(live_server, "acme/random", "posted while reading history")
            await wait_until(pilot, timeout=15, predicate=lambda: store.hidden_newest == live)
            everything = [*ids, live]
            seen: set[int] = set(window_ids(store))
            for _ in range(20):
                if not store.detached:
                    break
                newest = store.newest_id

                def read_on(newest: int | None = newest) -> bool:
                    # As a user keeps scrolling down: the bottom moves while the view catches
                    # up with the store, so one scroll to a stale bottom may not reach it.
                    if store.newest_id != newest or not store.detached:
                        return True
                    log_widget.scroll_to(y=log_widget.max_scroll_y, animate=False, immediate=True)
                    return False

                await wait_until(
                    pilot,
                    timeout=15,
                    predicate=read_on,
                    message=f"nothing newer read back: window {window_ids(store)}",
                )
                await app.flush_now()  # the view catches up with the store
                await pilot.pause()
                assert_contiguous(store, everything)
                seen |= set(window_ids(store))
            assert not store.detached, "never reached the live end"
            assert seen == set(everything)  # every message shown on the way, none skipped
            assert window_ids(store)[-1] == live
    finally:
        close_http(live_server)


async def test_a_search_jump_past_the_cap_moves_the_window_to_the_hit(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    okapi, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    app = small_app(live_server, monkeypatch)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            random = key_of(app, "acme/random")
            store = app.stores()[random]
            await search_and_jump(pilot, app, "okapi")
            await wait_until(pilot, timeout=15, predicate=lambda: store.get(okapi) is not None)
            log_widget = app.main.log_for(random)
            assert log_widget is not None
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: (
                    log_widget.selected is not None and log_widget.selected.id == okapi
                ),
                message="the hit is not selected",
            )
            assert_contiguous(store, ids)
            assert store.detached  # the newest messages are below, in the archive
            log_widget.focus()  # (escape here would reopen the search results)
            await pilot.press("end")
            await wait_until(pilot, timeout=15, predicate=lambda: not store.detached)
            assert window_ids(store)[-1] == ids[-1]
            assert_contiguous(store, ids)
    finally:
        close_http(live_server)


async def test_alt_m_reaches_a_mention_below_a_detached_window(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    app = small_app(live_server, monkeypatch)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            store, log_widget = await scrolled_back_to_the_start(pilot, app, ids)
            store.mark_read()
            mention = post(live_server, "acme/random", "ping @robin below the window")
            await wait_until(pilot, timeout=15, predicate=lambda: store.mentions == 1)
            assert store.get(mention) is None
            await pilot.press("alt+m")
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: (
                    log_widget.selected is not None and log_widget.selected.id == mention
                ),
                message="alt+m did not reach the mention",
            )
            assert_contiguous(store, [*ids, mention])
            found = store.get(mention)
            assert found is not None and found.mention
    finally:
        close_http(live_server)


async def test_reading_back_across_a_hole_in_the_archive_marks_the_join(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    app = small_app(live_server, monkeypatch)
    try:
        async with app.run_test(size=SHORT) as pilot:
            await ready(pilot, app)
            store, log_widget = await scrolled_back_to_the_start(pilot, app, ids)
            # The archive lacks ids[40:45] below the window (as after a pruned back-fill).
            archive = app.session.archive.archive  # type: ignore[union-attr]
            assert archive is not None
            await archive.aflush()
            (path,) = list_archives(tmp_path / "data")
            with sqlite3.connect(path) as conn:
                conn.execute(
                    "DELETE FROM messages WHERE conv = ? AND id > ? AND id < ?",
                    (f"{store.key[0]}:{store.key[1]}", ids[39], ids[45]),
                )
            archive.add_hole(store.key, ids[39], ids[45])
            await archive.aflush()
            present = ids[:40] + ids[45:]
            for _ in range(20):
                if not store.detached:
                    break
                newest = store.newest_id

                def read_on(newest: int | None = newest) -> bool:
                    # As a user keeps scrolling down: the bottom moves while the view catches
                    # up with the store, so one scroll to a stale bottom may not reach it.
                    if store.newest_id != newest or not store.detached:
                        return True
                    log_widget.scroll_to(y=log_widget.max_scroll_y, animate=False, immediate=True)
                    return False

                await wait_until(
                    pilot,
                    timeout=15,
                    predicate=read_on,
                    message=f"nothing newer read back: window {window_ids(store)}",
                )
                await app.flush_now()
                await pilot.pause()
                assert_contiguous(store, present)
            assert not store.detached
            order = [m.id if m.kind != "gap" else "gap" for m in store]
            at = order.index(ids[39])
            assert order[at : at + 3] == [ids[39], "gap", ids[45]]
    finally:
        close_http(live_server)


async def test_alt_u_reaches_the_first_unread_line_below_a_detached_window(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    app = small_app(live_server, monkeypatch)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            store, log_widget = await scrolled_back_to_the_start(pilot, app, ids)
            random = store.key
            store.mark_read()
            app.main.show(key_of(app, "acme/main"))  # leaving arms the "new" line
            await pilot.pause()
            first = post(live_server, "acme/random", "the first unread line")
            await wait_until(pilot, timeout=15, predicate=lambda: store.unread == 1)
            assert store.get(first) is None
            app.main.show(random)
            await pilot.pause()
            await pilot.press("alt+u")
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: (
                    log_widget.selected is not None and log_widget.selected.id == first
                ),
                message="alt+u did not reach the first unread line",
            )
            found = store.get(first)
            assert found is not None and store.first_unread_seq == found.seq
            assert_contiguous(store, [*ids, first])
    finally:
        close_http(live_server)


def test_a_stream_restart_back_fills_a_detached_store_from_the_newest_id_routed() -> None:
    """After a reconnect the seam starts from the newest id the stream gave, not from the
    window's bottom (which would fetch, and drop, everything below the window again)."""
    router = Router(me_id="1", me_nick="me", cap=CAP)
    key = ("flow", "f")

    def line(mid: int) -> Event:
        return parse_event(
            {"event": "message", "id": mid, "flow": "f", "user": "2", "content": "hi", "tags": []}
        )

    for mid in range(101, 101 + CAP):
        router.route(line(mid))
    router.merge_older(key, [line(mid) for mid in range(91, 101)])
    router.route(line(200))  # below the detached window: counted, not stored
    store = router.stores[key]
    assert store.detached and store.get(200) is None
    loader = loaders.HistoryLoader(cast(Session, SimpleNamespace(router=router)), lambda k: None)
    loader.loaded.add(key)
    loader.stream_restarted()
    assert loader.seams[key] == 200
