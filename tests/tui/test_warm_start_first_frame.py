"""Warm start's first frame (issue 11, "warm start to the first archived frame"): the main
screen is composed with the first chosen flow's archived tab (tui/warm_prelude.py), so it mounts
with those lines and never shows "Waiting for flows …"; the other tabs follow, in order, each
once.  The tab opens at its first unread line, and its back-fill seam is the newest archived id.
When the archive is slower than the prelude may wait, the screen composes empty and warm start
shows the tab after the first frame, from the same read."""

from __future__ import annotations

import argparse
import functools
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until

from flowview.archive import Archive
from flowview.config import Settings
from flowview.protocol.auth import Token
from flowview.tui import app as app_module
from flowview.tui import launch, warm_prelude, warm_start
from flowview.tui.app import FlowviewApp
from flowview.tui.screens.main import MainScreen
from flowview.tui.widgets.flow_log import FlowLog

pytestmark = pytest.mark.timeout(90)

DOWN_API = "http://127.0.0.1:9/api"  # the discard port: nothing answers there
DOWN_STREAM = "http://127.0.0.1:9/stream"
SIZE = (100, 30)
FLOWS = ("f1", "f2", "f3")


def wire(mid: int, flow: str) -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "flow": flow,
        "user": "u2",
        "content": f"{flow} archived line {mid}",
        "tags": [],
        "sent": 1_780_000_000_000 + mid * 1000,
    }


def fill_archive(directory: Path, read_f1_up_to: int | None = None) -> None:
    """Three flows of 300 messages (ids interleaved), f1's read position as given."""
    with Archive.for_account(DOWN_API, "u1", directory=directory) as archive:
        archive.set_flows(
            [
                type("F", (), {"id": f, "organization": "acme", "parameterized_name": f,
                               "name": f.upper()})()
                for f in FLOWS
            ]
        )  # fmt: skip
        archive.set_users([type("U", (), {"id": "u2", "nick": "kenji", "name": "Kenji"})()])
        archive.ingest_many([wire(i, FLOWS[i % 3]) for i in range(1, 901)])
        archive.flush()
        if read_f1_up_to is not None:
            archive.set_read_position(("flow", "f1"), read_f1_up_to)
            archive.flush()


def make(flows: tuple[str, ...] = ("acme/f1", "acme/f2", "acme/f3")) -> FlowviewApp:
    settings = Settings(
        stream_url=DOWN_STREAM, api_url=DOWN_API, flows=list(flows), me_id="u1", me_nick="robin"
    )
    app = FlowviewApp(settings, Token("t0k3n"))
    app.animation_level = "none"
    return app


@pytest.fixture
def at_mount(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[Any], bool, int]]:
    """What each main screen holds when it mounts: its tabs, whether the "Waiting for flows"
    placeholder shows, and the first tab's stored messages."""
    seen: list[tuple[list[Any], bool, int]] = []
    mounted = MainScreen.on_mount

    @functools.wraps(mounted)
    def spy(self: MainScreen) -> None:
        keys = self.keys_in_order()
        first = self.log_for(keys[0]) if keys else None
        held = len(first.store) if first is not None else 0
        seen.append((keys, bool(self.query_one("#empty").display), held))
        mounted(self)

    monkeypatch.setattr(MainScreen, "on_mount", spy)
    return seen


def bootstrapped(app: FlowviewApp) -> bool:
    return not any(w.group == "bootstrap" for w in app.workers)


def visible(log_widget: FlowLog) -> str:
    top = int(log_widget.scroll_y)
    rows = range(top, min(top + log_widget.size.height, log_widget.total_rows))
    return "\n".join(log_widget.row_text(y) for y in rows)


async def test_the_main_screen_mounts_with_the_first_tabs_archived_lines(
    data_dir: Path,
    at_mount: list[tuple[list[Any], bool, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill_archive(data_dir)
    history_loads: list[Any] = []
    load_history = FlowviewApp.load_history

    @functools.wraps(load_history)
    def spy(self: FlowviewApp, key: Any, older: bool = False) -> None:
        history_loads.append(key)
        load_history(self, key, older)

    monkeypatch.setattr(FlowviewApp, "load_history", spy)
    app = make()
    async with app.run_test(size=SIZE) as pilot:
        assert at_mount == [([("flow", "f1")], False, 200)]  # the newest 200, no placeholder
        want = [("flow", f) for f in FLOWS]
        await wait_until(pilot, timeout=15, predicate=lambda: app.main.keys_in_order() == want)
        assert app.main.active_key == ("flow", "f1")
        log_widget = app.main.log_for(("flow", "f1"))
        assert log_widget is not None
        assert "f1 archived line 900" in visible(log_widget)  # opens at the end: all read
        assert app.history is not None
        assert app.history.seams.get(("flow", "f1")) == 900  # back-fill after the newest
        assert [len(app.stores()[k]) for k in want] == [200, 200, 200]  # each tab read once
        # Shown before the network: the archive had it, so no REST page was asked for (the
        # back-fill after the seam runs once the stream is live).
        assert ("flow", "f1") not in history_loads
        assert app.session is not None and app.session.archive.archive is not None
        await wait_until(
            pilot,
            timeout=15,
            predicate=lambda: not any(w.group == "bootstrap" for w in app.workers),
        )


async def test_the_composed_tab_opens_at_its_first_unread_line(
    data_dir: Path, at_mount: list[tuple[list[Any], bool, int]]
) -> None:
    fill_archive(data_dir, read_f1_up_to=600)  # f1's 100 newest are unread
    app = make()
    async with app.run_test(size=SIZE) as pilot:
        assert at_mount and at_mount[0][0] == [("flow", "f1")]
        store = app.stores()[("flow", "f1")]
        assert store.unread == 100
        log_widget = app.main.log_for(("flow", "f1"))
        assert log_widget is not None
        await wait_until(
            pilot,
            timeout=15,
            predicate=lambda: "f1 archived line 603" in visible(log_widget),
            message="not opened at the first unread line",
        )
        assert not log_widget.at_bottom
        assert store.unread == 100  # shown, not read: its end was not seen
        await wait_until(pilot, timeout=15, predicate=lambda: bootstrapped(app))


async def test_a_slow_archive_composes_empty_then_shows_the_same_read(
    data_dir: Path,
    at_mount: list[tuple[list[Any], bool, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill_archive(data_dir)
    monkeypatch.setattr(app_module, "PRELUDE_WAIT", 0.0)  # the archive "took too long"
    reads: list[Any] = []
    read_tab = warm_start.read_tab

    def counted(*args: Any, **kwargs: Any) -> Any:
        tab = read_tab(*args, **kwargs)
        reads.append(tab.key)
        return tab

    monkeypatch.setattr(warm_prelude, "read_tab", counted)
    monkeypatch.setattr(warm_start, "read_tab", counted)
    app = make()
    async with app.run_test(size=SIZE) as pilot:
        want = [("flow", f) for f in FLOWS]
        await wait_until(pilot, timeout=15, predicate=lambda: app.main.keys_in_order() == want)
        assert at_mount == [([], True, 0)]  # composed before the read came: empty
        assert reads == want  # the prelude's read of f1 was used, not repeated
        assert [len(app.stores()[k]) for k in want] == [200, 200, 200]
        assert not app.main.query_one("#empty").display
        assert app.history is not None and app.history.seams.get(("flow", "f1")) == 900
        await wait_until(pilot, timeout=15, predicate=lambda: bootstrapped(app))


async def test_with_nothing_archived_the_screen_composes_empty(
    data_dir: Path, at_mount: list[tuple[list[Any], bool, int]]
) -> None:
    app = make()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            timeout=15,
            predicate=lambda: not any(w.group == "bootstrap" for w in app.workers),
        )
        assert at_mount == [([], True, 0)]
        assert app.main.keys_in_order() == []  # nothing archived, nothing answered
        assert app.main.query_one("#empty").display


async def test_an_early_prelude_is_read_before_the_app_exists_and_composed_at_once(
    data_dir: Path,
    at_mount: list[tuple[list[Any], bool, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """launch.py starts the read before importing the app (`Prelude.early`): done by the time
    the screen is composed, it is composed with the tab however short the wait."""
    fill_archive(data_dir)
    monkeypatch.setattr(app_module, "PRELUDE_WAIT", 0.0)  # no waiting at all at compose
    threads: list[str] = []
    read_tab = warm_start.read_tab

    def counted(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return read_tab(*args, **kwargs)

    monkeypatch.setattr(warm_prelude, "read_tab", counted)
    monkeypatch.setattr(warm_start, "read_tab", counted)
    settings = make().initial_settings
    assert settings is not None
    prelude = warm_prelude.Prelude.early(settings, Token("t0k3n"))
    plan = await prelude.result()  # (the app's import would take this long and more)
    assert plan is not None and [t.key for t in plan.tabs] == [("flow", "f1")]
    assert threads and threading.main_thread().name not in threads  # read off the loop
    app = FlowviewApp(settings, Token("t0k3n"), prelude=prelude)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        assert at_mount == [([("flow", "f1")], False, 200)]
        assert app.session is prelude.session  # the session that read it runs on
        want = [("flow", f) for f in FLOWS]
        await wait_until(pilot, timeout=15, predicate=lambda: app.main.keys_in_order() == want)
        assert len(threads) == 3  # f1 read once (early), then f2 and f3
        await wait_until(pilot, timeout=15, predicate=lambda: bootstrapped(app))


async def test_flowview_starts_the_read_before_it_imports_the_app(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_archive(data_dir)
    settings = make().initial_settings
    assert settings is not None
    token = Token("t0k3n")
    monkeypatch.setattr(launch, "load_startup", lambda: launch.Startup(settings, token))
    started: list[warm_prelude.Prelude] = []
    early = warm_prelude.Prelude.early

    def spy(settings: Settings, token: Token) -> warm_prelude.Prelude:
        started.append(early(settings, token))
        return started[-1]

    apps: list[FlowviewApp] = []

    def run(app: FlowviewApp) -> int:
        apps.append(app)
        return 0

    monkeypatch.setattr(warm_prelude.Prelude, "early", spy)
    monkeypatch.setattr(launch, "_run", run)
    assert launch.main_tui(argparse.Namespace()) == 0
    assert len(started) == 1 and len(apps) == 1
    prelude = started[0]
    assert prelude.session.settings is settings
    plan = await prelude.result()
    assert plan is not None and [t.key for t in plan.tabs] == [("flow", "f1")]
    await prelude.aclose()  # never taken (the app did not run): its archive is closed
    assert prelude.session.archive.archive is None
