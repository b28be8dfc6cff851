"""Every event type the bundled server's simulator produces, end to end into the app's view."""

from __future__ import annotations

from typing import Any

import pytest

from flowview.server.runner import ServerThread
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, log_text, make_app, wait_live

pytestmark = pytest.mark.timeout(60)

LINE_KINDS = {"message", "comment", "status", "line", "file", "action", "activity", "discussion"}


def _messages(app: Any) -> list[Any]:
    return [m for store in app.stores().values() for m in store]


async def test_every_simulated_event_type_is_routed_and_rendered(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        # The simulator's first 200 events tour every event type (a server test checks that).
        server.call(server.simulator.run_events, 200)

        def all_there() -> bool:
            messages = _messages(app)
            kinds = {m.kind for m in messages}
            return (
                kinds >= LINE_KINDS
                and any(m.edited for m in messages)
                and any(m.deleted for m in messages)
                and any(key[0] == "private" for key in app.stores())
            )

        await wait_until(pilot, all_there, message=str({m.kind for m in _messages(app)}))
        assert app.session is not None
        router = app.session.router
        assert router.errors == 0  # no event made the router fail
        # Edits show in place where they happened: open that tab and read the rendered rows.
        edited = next(m for m in _messages(app) if m.edited and not m.deleted)
        key = next(k for k, store in app.stores().items() if edited in list(store))
        assert app.main.show(key)
        await app.flush_now()
        await pilot.pause()
        log = app.main.log_for(key)
        assert log is not None
        await wait_until(pilot, lambda: "(edited)" in log_text(log))
