"""Alerts never cover the conversation: one line in the status bar, none for the flow on
screen, none at all when turned off or muted (issue 10 item 2).  Real HTTP, Pilot."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import wait_until

from flowview.server.runner import ServerThread
from tests.tui.app_driver import SIZE, make_app, post, settings_for, wait_live
from tests.tui.apphttp import close_http

pytestmark = pytest.mark.timeout(60)


async def _run(srv: ServerThread, body: Any, **settings: Any) -> None:
    app = make_app(srv, settings=settings_for(srv, **settings)) if settings else make_app(srv)
    try:
        # notifications=True: Textual's toasts are on, as in a real terminal.
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_live(pilot, app)
            await body(app, pilot)
    finally:
        close_http(srv)


async def test_a_mention_elsewhere_is_one_status_line_and_never_a_toast(
    live_server: ServerThread,
) -> None:
    async def body(app: Any, pilot: Any) -> None:
        post(live_server, "globex/dev-ops", "@robin first", as_nick="fatima")
        await wait_until(pilot, lambda: app.main.status.alert)
        assert app.main.status.alert == "Dev Ops: fatima: @robin first"
        assert "✉ Dev Ops: fatima: @robin first" in str(app.main.status.render())
        for i in range(4):
            post(live_server, "acme/random", f"@robin more {i}")
        await wait_until(pilot, lambda: app.main.status.alert.startswith("(+4) "))
        assert app.main.status.alert.endswith("Random: kenji: @robin more 3")
        await pilot.pause(0.2)
        assert list(app.screen.query("Toast")) == []  # nothing over the conversation
        await pilot.press("alt+3")  # going there clears the line
        await wait_until(pilot, lambda: app.main.status.alert == "")

    await _run(live_server, body)


async def test_no_status_line_for_the_flow_on_screen(live_server: ServerThread) -> None:
    async def body(app: Any, pilot: Any) -> None:
        post(live_server, "acme/main", "@robin you are looking at this")
        await wait_until(pilot, lambda: app.events_routed and app.stores())
        await pilot.pause(0.3)
        await app.flush_now()
        assert app.main.status.alert == ""
        assert list(app.screen.query("Toast")) == []

    await _run(live_server, body)


async def test_notifications_off_or_muted_raise_nothing(live_server: ServerThread) -> None:
    async def body(app: Any, pilot: Any) -> None:
        post(live_server, "globex/dev-ops", "@robin muted flow")
        post(live_server, "acme/random", "@robin marker")
        await wait_until(pilot, lambda: app.notifier.sent)
        assert [a.where for a in app.notifier.sent] == ["Random"]  # dev-ops is muted
        app.notifier.enabled = False  # notify = false
        post(live_server, "globex/releases", "@robin while off")
        await pilot.pause(0.5)
        await app.flush_now()
        assert [a.where for a in app.notifier.sent] == ["Random"]

    await _run(live_server, body, muted=("globex/dev-ops",))
