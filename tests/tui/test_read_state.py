"""Read state users can trust (issue 10 item 4): read positions saved in the archive when a
tab is read, true unread counts after a restart, tabs opening at their first unread line, and
the triage keys (alt+u, alt+m, alt+r, alt+shift+r).  Real HTTP against the bundled server."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import wait_until

from flowview.archive import Archive
from flowview.archive.paths import list_archives
from flowview.server.runner import ServerThread
from tests.tui.app_driver import SIZE, make_app, post
from tests.tui.apphttp import close_http
from tests.tui.reading import key_of, ready, visible_text

pytestmark = pytest.mark.timeout(120)


async def test_read_positions_survive_a_restart_and_tabs_open_at_the_first_unread(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(data))
    read = [post(live_server, "acme/random", f"read before {i}") for i in range(3)]
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            random = key_of(app, "acme/random")
            app.main.show(random)  # seen to its end: read
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: read[-1] in {m.id for m in app.stores()[random]},
            )
            await wait_until(
                pilot, timeout=15, predicate=lambda: app.stores()[random].read_id == read[-1]
            )
            app.main.show(app.main.keys_in_order()[0])
            await pilot.pause()
            unread = [post(live_server, "acme/random", f"unread live {i}") for i in range(10)]
            await wait_until(pilot, timeout=15, predicate=lambda: app.stores()[random].unread == 10)
    finally:
        close_http(live_server)
    (path,) = list_archives(data)
    with Archive.open(path, writable=False) as archive:
        assert archive.read_position(("flow", random[1])) == read[-1]
    closed = [post(live_server, "acme/random", f"unread while closed {i}") for i in range(40)]
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            store = app.stores()[random]
            await wait_until(
                pilot, timeout=15, predicate=lambda: closed[-1] in {m.id for m in store}
            )
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: store.unread == 50,
                message=f"unread {store.unread}",
            )
            first = store.get(unread[0])
            assert first is not None and store.first_unread_seq == first.seq
            app.main.show(random)
            log_widget = app.main.log_for(random)
            assert log_widget is not None
            await wait_until(
                pilot, timeout=15, predicate=lambda: "unread live 0" in visible_text(log_widget)
            )
            await pilot.pause()
            shown = visible_text(log_widget)
            assert "new" in shown and "unread live 0" in shown  # the marker is on screen
            assert not log_widget.at_bottom
            assert store.unread == 50  # not read until its end is seen
            await pilot.press("escape", "end")  # the messages (not the input line): the end
            await wait_until(pilot, timeout=15, predicate=lambda: store.unread == 0)
            assert store.read_id == closed[-1]
    finally:
        close_http(live_server)
    with Archive.open(path, writable=False) as archive:
        assert archive.read_position(("flow", random[1])) == closed[-1]


async def test_triage_keys_mark_read_and_jump_to_mentions(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(tmp_path / "data"))
    app = make_app(live_server, settings=None)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            random, dev = key_of(app, "acme/random"), key_of(app, "globex/dev-ops")
            mention = post(live_server, "acme/random", "ping @robin about the release")
            post(live_server, "globex/dev-ops", "plain")
            stores = app.stores()
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: stores[random].mentions == 1 and stores[dev].unread,
            )
            await pilot.press("alt+m")  # next mention anywhere: another tab
            await wait_until(pilot, timeout=15, predicate=lambda: app.main.active_key == random)
            log_widget = app.main.log_for(random)
            assert log_widget is not None
            await wait_until(pilot, timeout=15, predicate=lambda: log_widget.selected is not None)
            assert log_widget.selected is not None and log_widget.selected.id == mention
            await pilot.press("alt+r")  # this flow read
            assert stores[random].unread == 0 and stores[random].mentions == 0
            assert stores[dev].unread == 1
            await pilot.press("alt+shift+r")  # everything read
            assert all(s.unread == 0 for s in stores.values())
            assert app.session is not None and app.session.archive.archive is not None
            archive = app.session.archive.archive
            await archive.aflush()
            assert archive.read_position(dev) == stores[dev].newest_id
            app.main.status.notice = ""
            await pilot.press("alt+u")
            assert app.main.status.notice == "nothing unread here"
    finally:
        close_http(live_server)


async def test_a_flush_before_the_tab_switch_is_handled_does_not_read_the_tab(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`show()` sets the active tab at once; the app learns of it from TabActivated, later.
    A flush landing in between (a busy stream) must not count the tab as read from a log
    not yet laid out: it must still open at its first unread line."""
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(tmp_path / "data"))
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            random = key_of(app, "acme/random")
            assert app.main.active_key != random
            unread = [post(live_server, "acme/random", f"unread {i}") for i in range(50)]
            store = app.stores()[random]
            await wait_until(pilot, timeout=15, predicate=lambda: store.unread == 50)
            app.main.show(random)
            app._refresh_shown(random)  # what a flush of random's lines does (app.py)
            assert store.unread == 50, "read before the tab was shown"
            log_widget = app.main.log_for(random)
            assert log_widget is not None
            await wait_until(
                pilot, timeout=15, predicate=lambda: "unread 0" in visible_text(log_widget)
            )
            first = store.get(unread[0])
            assert first is not None and store.first_unread_seq == first.seq
            assert store.unread == 50
    finally:
        close_http(live_server)
