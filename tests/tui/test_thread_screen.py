"""ThreadScreen: shows one thread, follows new replies and edits, closes on escape."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

from flowview.model import render
from flowview.model.router import Router
from flowview.protocol.events import parse_event
from flowview.tui.screens.thread import ThreadScreen
from flowview.tui.widgets.flow_log import FlowLog
from tests.helpers import wait_until
from tests.tui.flowlog_builders import KEY, ev, make_router

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("utc")]
THREAD = {"title": "Release [b]plan[/b]", "initial_message": 1}


def threaded_router() -> Router:
    router = make_router()
    router.route(ev(1, "start of the plan", thread_id="T", thread=THREAD))
    router.route(ev(2, "something else"))
    router.route(ev(3, "first reply", user="3", thread_id="T", thread=THREAD, minute=1))
    router.route(ev(4, "other thread", thread_id="U", thread={"title": "U", "initial_message": 4}))
    router.route(
        ev(5, "second reply https://x.example", user="4", thread_id="T", thread=THREAD, minute=2)
    )
    return router


class Host(App[None]):
    def __init__(self, router: Router) -> None:
        super().__init__()
        self.router = router
        self.seen: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static("main")

    def on_mount(self) -> None:
        self.push_screen(ThreadScreen(self.router, KEY, "T"))

    def on_flow_log_thread_requested(self, message: FlowLog.ThreadRequested) -> None:
        self.seen.append(message)

    def on_flow_log_link_requested(self, message: FlowLog.LinkRequested) -> None:
        self.seen.append(message)


def rows(log: FlowLog) -> list[str]:
    return [log.row_text(y).rstrip() for y in range(log.total_rows)]


async def test_shows_only_the_thread_with_its_title_literally() -> None:
    app = Host(threaded_router())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ThreadScreen)
        title = str(screen.query_one("#thread-title", Static).render())
        assert "Thread: Release [b]plan[/b]" in title and "3 messages" in title
        log = screen.query_one(FlowLog)
        assert rows(log)[1:] == [
            "09:00 alice  start of the plan",
            "09:01 bob  ↳ Release [b]plan[/b] · first reply",
            "09:02 carol  ↳ second reply https://x.example",
        ]


async def test_follows_new_replies_and_edits() -> None:
    router = threaded_router()
    app = Host(router)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        log = app.screen.query_one(FlowLog)
        router.route(ev(6, "late reply", user="2", thread_id="T", thread=THREAD, minute=3))
        router.route(ev(7, "not in thread", minute=3))
        router.route(
            parse_event(
                {
                    "event": "message-edit",
                    "flow": "f1",
                    "id": 8,
                    "user": "3",
                    "content": {"message": 3, "updated_content": "fixed reply"},
                }
            )
        )
        await wait_until(pilot, lambda: log.total_rows == 5)
        got = rows(log)
        assert "09:01 bob  ↳ Release [b]plan[/b] · fixed reply (edited)" in got
        assert got[-1] == "09:03 alice  ↳ late reply"
        assert not any("not in thread" in r for r in got)
        assert "4 messages" in str(app.screen.query_one("#thread-title", Static).render())


async def test_keys_in_thread_and_escape_closes() -> None:
    app = Host(threaded_router())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("up", "o", "t")
        await wait_until(pilot, lambda: len(app.seen) >= 1)
        await pilot.pause()
        assert [type(m) for m in app.seen] == [FlowLog.LinkRequested]  # t is swallowed here
        assert app.seen[0].url == "https://x.example"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ThreadScreen)


async def test_unknown_conversation_shows_an_empty_thread(router: Router) -> None:

    class Lone(Host):
        def on_mount(self) -> None:
            self.push_screen(ThreadScreen(self.router, ("flow", "nowhere"), "T"))

    app = Lone(router)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        assert app.screen.query_one(FlowLog).total_rows == 0
        assert ("flow", "nowhere") not in router.stores


def test_thread_screen_snapshot(snap_compare: Any) -> None:
    render.set_display_timezone(UTC)
    assert snap_compare(Host(threaded_router()), terminal_size=(100, 24))
