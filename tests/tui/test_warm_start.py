"""Warm start (issue 11): the archived tail is shown before the network answers, even with the
server down; a restart against a live server back-fills what was posted while closed, with no
duplicates and no loss, and says where the back-fill could not reach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until

from flowview.archive import Archive
from flowview.config import Settings
from flowview.model.router import Router
from flowview.protocol.auth import Token
from flowview.protocol.events import parse_event
from flowview.server.runner import ServerThread
from flowview.tui import loaders
from flowview.tui.app import FlowviewApp
from tests.tui.app_driver import SIZE, fault, make_app, post, wait_live
from tests.tui.apphttp import close_http, http

pytestmark = pytest.mark.timeout(90)

DOWN_API = "http://127.0.0.1:9/api"  # the discard port: nothing answers there
DOWN_STREAM = "http://127.0.0.1:9/stream"
HOSTILE = "[bold red]markup[/] \x1b[31mred\x1b[0m \u202eevil\u202c @robin"


def wire(mid: int, text: str, *, flow: str = "f1", user: str = "u2") -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "flow": flow,
        "user": user,
        "content": text,
        "tags": [],
        "sent": 1_780_000_000_000 + mid * 1000,
    }


def fill_archive(directory: Path, api_url: str, user_id: str, count: int) -> None:
    with Archive.for_account(api_url, user_id, directory=directory) as archive:
        archive.set_flows(
            [
                type("F", (), {"id": "f1", "organization": "acme", "parameterized_name": "main",
                               "name": "Main"})(),
            ]
        )  # fmt: skip
        archive.set_users([type("U", (), {"id": "u2", "nick": "kenji", "name": "Kenji"})()])
        archive.ingest_many([wire(i, f"archived line {i}") for i in range(1, count)])
        archive.ingest(wire(count, HOSTILE))
        archive.flush()


def server_message_ids(srv: ServerThread, slug: str) -> list[int]:
    response = http(srv).get(
        f"{srv.api_url}/flows/{slug}/messages",
        params={"limit": 100, "event": "message"},
        auth=(srv.token, ""),
    )
    response.raise_for_status()
    return sorted(int(m["id"]) for m in response.json())


def store_ids(app: FlowviewApp, slug: str) -> list[int]:
    assert app.session is not None
    flow = app.session.flows_by_slug[slug]
    store = app.stores()[("flow", flow.id)]
    return [m.id for m in store if m.id is not None]


def seams_closed(app: FlowviewApp) -> bool:
    return not any(w.group == "seam" and w.is_running for w in app.workers)


async def test_warm_start_with_the_server_down_shows_the_archived_tail(data_dir: Path) -> None:
    data = data_dir
    fill_archive(data, DOWN_API, "u1", 500)
    settings = Settings(
        stream_url=DOWN_STREAM, api_url=DOWN_API, flows=["acme/main"], me_id="u1", me_nick="robin"
    )
    app = FlowviewApp(settings, Token("t0k3n"))
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, timeout=15, predicate=lambda: app.main.keys_in_order() == [("flow", "f1")]
        )
        store = app.stores()[("flow", "f1")]
        log_widget = app.main.log_for(("flow", "f1"))
        assert log_widget is not None
        await wait_until(
            pilot, timeout=15, predicate=lambda: log_widget.total_rows > 0, message="nothing shown"
        )
        assert app.main.status.state != "live"  # nothing answered: all of it is archived
        ids = [m.id for m in store]
        assert ids == list(range(301, 501))  # the newest 200, in order, once each
        assert store.title == "Main"  # names from the archive, offline
        # Hostile archived text is cleaned by the same path as live text.
        live = Router("u1", "robin")
        live.route(parse_event(wire(500, HOSTILE)))
        assert store.get(500) is not None
        assert store.get(500).text == live.stores[("flow", "f1")].get(500).text  # type: ignore[union-attr]
        shown = "\n".join(log_widget.row_text(y) for y in range(log_widget.total_rows))
        assert "[bold red]markup[/]" in shown and "\x1b" not in shown and "\u202e" not in shown
        assert "archived line 499" in shown
        await wait_until(
            pilot,
            timeout=15,
            predicate=lambda: not any(w.group == "bootstrap" for w in app.workers),
        )


async def test_restart_back_fills_what_was_posted_while_closed_without_duplicates(
    live_server: ServerThread, data_dir: Path
) -> None:
    first = [post(live_server, "acme/main", f"before the first run {i}") for i in range(3)]
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await wait_until(
                pilot, lambda: seams_closed(app) and set(first) <= set(store_ids(app, "acme/main"))
            )
    finally:
        close_http(live_server)
    closed = [post(live_server, "acme/main", f"while closed {i}") for i in range(5)]
    app = make_app(live_server)  # no me_id saved: the archive is found by its meta
    seen_before_live: list[int] = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot, timeout=15, predicate=lambda: len(app.main.keys_in_order()) >= 1
            )
            key = app.main.keys_in_order()[0]
            seen_before_live[:] = [m.id for m in app.stores()[key] if m.id is not None]
            await wait_live(pilot, app)
            await wait_until(
                pilot, timeout=15, predicate=lambda: set(closed) <= set(store_ids(app, "acme/main"))
            )
            await wait_until(pilot, timeout=15, predicate=lambda: seams_closed(app))
            live = post(live_server, "acme/main", "after the restart")
            await wait_until(
                pilot, timeout=15, predicate=lambda: live in store_ids(app, "acme/main")
            )
            ids = store_ids(app, "acme/main")
            assert len(ids) == len(set(ids)) and ids == sorted(ids)  # no duplicates, in order
            server_ids = server_message_ids(live_server, "acme/main")
            assert [i for i in server_ids if i >= first[0]] == [i for i in ids if i >= first[0]]
    finally:
        close_http(live_server)
    assert set(first) <= set(seen_before_live)  # archived, shown before going live
    assert not set(closed) & set(seen_before_live)


async def test_back_fill_further_behind_than_it_reaches_leaves_a_gap_marker(
    live_server: ServerThread, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setattr(loaders, "HISTORY_PAGE", 5)
    monkeypatch.setattr(loaders, "SEAM_PAGES", 2)
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            mark = post(live_server, "acme/main", "the last one archived")
            await wait_until(
                pilot, timeout=15, predicate=lambda: mark in store_ids(app, "acme/main")
            )
    finally:
        close_http(live_server)
    closed = [post(live_server, "acme/main", f"while closed {i}") for i in range(30)]
    app = make_app(live_server, settings=None)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await wait_until(
                pilot, timeout=15, predicate=lambda: closed[-1] in store_ids(app, "acme/main")
            )
            await wait_until(pilot, timeout=15, predicate=lambda: seams_closed(app))
            assert app.session is not None
            flow = app.session.flows_by_slug["acme/main"]
            store = app.stores()[("flow", flow.id)]
            ids = store_ids(app, "acme/main")
            assert ids == sorted(set(ids))
            assert set(closed[:10]) <= set(ids)  # two pages of five after the archive
            assert set(closed[-5:]) <= set(ids)  # the latest page
            assert not set(closed[10:25]) & set(ids)  # not reached
            gaps = [m for m in store if m.kind == "gap"]
            assert len(gaps) == 1 and "not loaded" in gaps[0].text
            order = [m.id if m.kind != "gap" else "gap" for m in store]
            at = order.index("gap")
            assert order[at - 1] == closed[9] and order[at + 1] == closed[25]
    finally:
        close_http(live_server)


async def test_warm_start_while_rest_fails_still_back_fills_once_it_answers(
    live_server: ServerThread, data_dir: Path
) -> None:
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            mark = post(live_server, "acme/main", "archived before closing")
            await wait_until(
                pilot, timeout=15, predicate=lambda: mark in store_ids(app, "acme/main")
            )
            flow_key = ("flow", app.session.flows_by_slug["acme/main"].id)  # type: ignore[union-attr]
    finally:
        close_http(live_server)
    closed = [post(live_server, "acme/main", f"while closed {i}") for i in range(3)]
    # /user, /flows and /users fail: names and tabs come from the archive only.
    fault(live_server, scope="rest", kind="status", status=503, count=3)
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, timeout=15, predicate=lambda: app.main.status.state == "live")
            assert app.session is not None and not app.session.flows_by_slug
            store = app.stores()[flow_key]
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: set(closed) <= {m.id for m in store},
                message="not back-filled",
            )
            ids = [m.id for m in store if m.id is not None]
            assert ids == sorted(set(ids)) and mark in ids
    finally:
        live_server.clear_faults()
        close_http(live_server)
