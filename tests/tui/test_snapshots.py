"""App-level SVG snapshots (pytest-textual-snapshot): main screen, reconnecting, hostile flow.

Deterministic by construction: the server's clock is frozen (fixed `sent` times), times are
shown in UTC, the app's clocks are frozen (rate, last-event time, countdown), the stream
client's jitter is fixed, nothing is simulated (rate=0) and every message is injected.
Update with `uv run pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from textual.pilot import Pilot

from flowview.model import render
from flowview.protocol.auth import Token
from flowview.protocol.client import StreamClient, StreamConfig
from flowview.protocol.rest import RestClient
from flowview.server.hostile import ESCAPE_PAYLOADS, MARKUP_PAYLOADS, UNICODE_PAYLOADS
from flowview.server.runner import ServerOptions, ServerThread
from flowview.tui.app import FlowviewApp
from tests.helpers import wait_until
from tests.tui.app_driver import fault, post, post_private, settings_for
from tests.tui.apphttp import close_http

pytestmark = pytest.mark.timeout(60)

FROZEN = datetime(2026, 3, 2, 9, 41, 0, tzinfo=UTC)
SIZE = (120, 40)


@pytest.fixture
def frozen_server() -> Iterator[ServerThread]:
    render.set_display_timezone(UTC)
    options = ServerOptions(rate=0, seed=1, clock=lambda: FROZEN.timestamp())
    try:
        with ServerThread(options) as srv:
            yield srv
            close_http(srv)
    finally:
        render.set_display_timezone(None)


def frozen_app(srv: ServerThread, **kw: Any) -> FlowviewApp:
    app = FlowviewApp(
        settings_for(srv),
        Token(srv.token),
        clock=lambda: 1000.0,
        wall_clock=lambda: FROZEN,
        **kw,
    )
    app.animation_level = "none"
    return app


# Workers that live as long as the app (the stream); every other one must have finished.
LONG_LIVED = frozenset({"stream"})


def workers_done(app: FlowviewApp) -> bool:
    return all(w.is_finished for w in app.workers if w.group not in LONG_LIVED)


async def settle(pilot: Pilot[Any], app: FlowviewApp, predicate: Any) -> None:
    """Until `predicate` holds and the app's short-lived workers (loaders, bootstrap) have
    finished; then repaint what was routed and drop the toasts, each followed by the app
    draining its message queue (no fixed sleeps)."""
    await wait_until(pilot, lambda: predicate() and workers_done(app), timeout=10)
    await app.flush_now()
    await pilot.pause()
    app.clear_notifications()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def test_main_screen(frozen_server: ServerThread, snap_compare: Any) -> None:
    srv = frozen_server
    app = frozen_app(srv)

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: app.main.status.state == "live", timeout=10)
        lines = [
            ("kenji", "morning all"),
            ("priya", "deploy of #dashboard is green, see https://ci.example.com/run/42"),
            ("fatima", "@robin can you review the release notes?"),
            ("matti", "sure, after standup"),
        ]
        for nick, text in lines:
            await asyncio.to_thread(post, srv, "acme/main", text, as_nick=nick)
        await asyncio.to_thread(post, srv, "globex/dev-ops", "pager is quiet", as_nick="olafur")
        await asyncio.to_thread(post, srv, "globex/dev-ops", "@robin ping", as_nick="olafur")
        await asyncio.to_thread(post_private, srv, "lunch?", as_nick="ngozi")
        # both alerts (the Dev Ops mention, the private message) raised, then cleared
        await settle(
            pilot,
            app,
            lambda: len(app.main.keys_in_order()) == 5 and len(app.notifier.sent) == 2,
        )

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_reconnecting_state(frozen_server: ServerThread, snap_compare: Any) -> None:
    srv = frozen_server
    gate = asyncio.Event()

    async def never(_delay: float) -> None:
        await gate.wait()

    def factory(config: StreamConfig, rest: RestClient) -> StreamClient:
        return StreamClient(config, sleep=never, rng=lambda: 0.5, rest=rest)

    # History is there (REST); the stream itself is refused with a 503 and waits to retry.
    for nick, text in [("kenji", "before the outage"), ("priya", "anyone else seeing 503s?")]:
        post(srv, "acme/main", text, as_nick=nick)
    fault(srv, kind="status", status=503, retry_after=3, count=5)
    app = frozen_app(srv, stream_factory=factory)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(
            pilot,
            app,
            lambda: (
                app.main.status.state == "reconnecting"
                and len(app.stores()[app.main.keys_in_order()[0]]) == 2
            ),
        )

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_hostile_content_flow(frozen_server: ServerThread, snap_compare: Any) -> None:
    srv = frozen_server
    app = frozen_app(srv)
    payloads = [*ESCAPE_PAYLOADS, *MARKUP_PAYLOADS, *UNICODE_PAYLOADS]

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: app.main.status.state == "live", timeout=10)
        for payload in payloads:
            await asyncio.to_thread(post, srv, "acme/main", payload, as_nick="stefan")
        await settle(pilot, app, lambda: app.events_routed >= len(payloads))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_input_line_with_pending_and_failed_messages(
    frozen_server: ServerThread, snap_compare: Any
) -> None:
    """The input line, a message refused by the server (422) and one waiting out a 429."""
    srv = frozen_server
    app = frozen_app(srv)

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: app.main.status.state == "live", timeout=10)
        await asyncio.to_thread(post, srv, "acme/main", "what do you think?", as_nick="kenji")
        await settle(pilot, app, lambda: app.events_routed >= 1)
        fault(srv, scope="write", kind="status", status=422, count=1)
        await pilot.press(*"refused", "enter")
        await wait_until(
            pilot,
            lambda: (
                app.outbox is not None
                and any(
                    (m.outbox or "").startswith("failed")
                    for m in app.stores()[app.main.active_key]  # type: ignore[index]
                )
            ),
        )
        fault(srv, scope="write", kind="status", status=429, count=1, retry_after=600)
        await pilot.press(*"waiting", "enter")
        await wait_until(
            pilot,
            lambda: any(
                (m.outbox or "").startswith("waiting")
                for m in app.stores()[app.main.active_key]  # type: ignore[index]
            ),
        )
        await pilot.press(*"a draft")
        await settle(pilot, app, lambda: True)

    assert snap_compare(app, terminal_size=(100, 16), run_before=run_before)
