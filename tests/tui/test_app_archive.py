"""The viewer writes its archive: stream events, history pages, users and flows end up in the
account's archive file (real HTTP against the bundled server on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import wait_until

from flowview.archive import Archive
from flowview.archive.paths import list_archives
from flowview.server.runner import ServerThread
from flowview.tui.screens.search import SearchScreen
from tests.tui.app_driver import SIZE, make_app, post, wait_live
from tests.tui.apphttp import close_http

pytestmark = pytest.mark.timeout(60)


def texts_in(path: Path) -> set[str]:
    with Archive.open(path, writable=False) as archive:
        return {m.text for key in archive.conversations() for m in archive.iter_conversation(key)}


async def test_posted_messages_history_users_and_flows_reach_the_archive(
    live_server: ServerThread, data_dir: Path
) -> None:
    data = data_dir
    before = post(live_server, "acme/main", "history walrus before start")
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            # Start-up seams closed: the next message can only come through the stream.
            await wait_until(
                pilot,
                lambda: not any(w.group == "seam" and w.is_running for w in app.workers),
                message="start-up seams still loading",
            )
            live = post(live_server, "acme/main", "live narwhal while running")
            await wait_until(
                pilot,
                lambda: any(live in {m.id for m in s} for s in app.stores().values()),
                message="the live message never arrived",
            )
            assert before and live
    finally:
        close_http(live_server)
    # Closed on quit: everything queued is written, the file is there and readable.
    (path,) = list_archives(data)
    texts = texts_in(path)
    assert "live narwhal while running" in texts
    assert "history walrus before start" in texts
    with Archive.open(path, writable=False) as archive:
        assert "kenji" in {nick for nick, _ in archive.users().values()}
        assert any(f.slug == "acme/main" for f in archive.flows().values())
        assert archive.meta()["api_url"] == live_server.api_url


async def test_an_archive_that_cannot_be_opened_does_not_stop_the_viewer(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(blocker / "data"))
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            live = post(live_server, "acme/main", "still shown without an archive")
            await wait_until(
                pilot,
                lambda: any(live in {m.id for m in s} for s in app.stores().values()),
                message="the viewer stopped with its archive",
            )
            assert app.session is not None and app.session.archive.archive is None
            assert app.session.archive.problem
    finally:
        close_http(live_server)


async def test_ctrl_f_searches_the_archive_and_enter_jumps_to_the_message(
    live_server: ServerThread, data_dir: Path
) -> None:
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            target = app.main.keys_in_order()[2]  # acme/random, not the tab shown
            assert app.main.active_key != target
            wanted = post(live_server, "acme/random", "the okapi is in the archive")
            await wait_until(
                pilot,
                lambda: app.stores()[target].get(wanted) is not None,
                message="the message never arrived",
            )
            assert app.session is not None and app.session.archive.archive is not None
            await app.session.archive.archive.aflush()
            await pilot.press("ctrl+f")
            screen = app.screen
            assert isinstance(screen, SearchScreen)
            await pilot.press("ctrl+t")  # all flows, not only the one shown
            await pilot.press(*"okapi")
            await wait_until(
                pilot,
                lambda: screen.shown_query == "okapi" and len(screen.hits) == 1,
                message="no hit",
            )
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: app.screen is app.main, message="search screen still up"
            )
            assert app.main.active_key == target
            log_widget = app.main.log_for(target)
            assert log_widget is not None and log_widget.selected is not None
            assert log_widget.selected.id == wanted
    finally:
        close_http(live_server)


async def test_ctrl_f_is_in_the_footer_and_the_help(live_server: ServerThread) -> None:
    # Private in Textual 8.2.8, no public equivalent (see test_textual_canary.py).
    from textual.widgets._footer import FooterKey

    from flowview.tui.screens.help import HelpScreen

    app = make_app(live_server)
    try:
        async with app.run_test(size=(120, 24)) as pilot:
            await wait_live(pilot, app)
            await pilot.pause(0.3)
            shown = {
                key.key: key.description
                for key in app.screen.query(FooterKey)
                if key.display and key.region.width
            }
            assert shown.get("ctrl+f") == "search", sorted(shown)
            await pilot.press("f1")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            keys = str(app.screen.query_one("#help-keys").render())
            line = next((ln for ln in keys.splitlines() if ln.startswith("ctrl+f ")), "")
            assert "search the archive" in line, keys
    finally:
        close_http(live_server)
