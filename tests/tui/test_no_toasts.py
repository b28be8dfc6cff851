"""Nothing the viewer says covers the conversation: answers to keys and a failing desktop
command go to the status bar, never a toast (issue 10, item 2 and "Smaller")."""

from __future__ import annotations

import pytest
from textual.widgets._toast import Toast

from flowview.server.runner import ServerThread
from flowview.tui.widgets.flow_log import FlowLog
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, make_app, settings_for, wait_live

pytestmark = pytest.mark.timeout(60)


def _toasts(app: object) -> list[Toast]:
    return list(app.query(Toast))  # type: ignore[attr-defined]


async def test_refused_link_and_no_activity_are_said_in_the_status_bar(
    server: ServerThread,
) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        log_widget = app.main.active_log
        assert log_widget is not None
        log_widget.post_message(FlowLog.LinkRequested("file:///etc/passwd", log_widget))
        await wait_until(pilot, lambda: "not opening" in app.main.status.notice)
        assert "file:///etc/passwd" in app.main.status.notice
        await pilot.press("alt+a")
        await wait_until(pilot, lambda: "no flow with unread" in app.main.status.notice)
        await pilot.pause(0.2)
        assert _toasts(app) == []


async def test_failing_notify_command_is_said_once_in_the_status_bar(
    server: ServerThread,
) -> None:
    settings = settings_for(server, notify_command=["/nonexistent/notifier-binary"])
    app = make_app(server, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        from flowview.tui.notifier import Alert

        app.notifier.alert(Alert("Main", "kenji", "hi", key=("flow", "x")))
        await wait_until(pilot, lambda: "notify_command failed" in app.main.status.notice)
        await pilot.pause(0.2)
        assert _toasts(app) == []
