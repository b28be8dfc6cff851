"""The store as a window over the archive (issue 11): scrolling up past what is in memory
reads older messages from the archive first and asks REST only for what the archive lacks (a
recorded hole), narrowing the hole page by page; offline, a gap marker shows where the two do
not meet.  Real HTTP against the bundled server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers import wait_until

from flowview.archive import Archive
from flowview.archive.paths import list_archives
from flowview.server.runner import ServerThread
from flowview.tui import loaders, warm_start
from tests.tui.app_driver import SIZE, fault, make_app
from tests.tui.apphttp import close_http, http
from tests.tui.reading import ready
from tests.tui.search_driver import archive_a_long_flow

pytestmark = pytest.mark.timeout(120)


def punch_hole(data: Path, flow_id: str, after: int, before: int) -> None:
    """Make the archive lack (after, before) and record it, as a back-fill that did not reach
    would have."""
    (path,) = list_archives(data)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "DELETE FROM messages WHERE conv = ? AND id > ? AND id < ?",
            (f"flow:{flow_id}", after, before),
        )
    with Archive.open(path) as archive:
        archive.add_hole(("flow", flow_id), after, before)


async def test_scrolling_up_reads_the_archive_first_and_rest_only_across_a_hole(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    monkeypatch.setattr(warm_start, "WARM_TAIL", 10)
    monkeypatch.setattr(loaders, "HISTORY_PAGE", 10)
    flow_id = str(
        http(live_server)
        .get(f"{live_server.api_url}/flows/acme/random", auth=(live_server.token, ""))
        .json()["id"]
    )
    random = ("flow", flow_id)
    punch_hole(tmp_path / "data", flow_id, ids[9], ids[40])
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            store = app.stores()[random]
            assert [m.id for m in store if m.id is not None] == ids[50:]
            app.main.show(random)
            # REST down: the archive still serves the page above the hole.
            fault(live_server, scope="rest", kind="status", status=503, count=1000)
            await pilot.press("escape")  # from the input line to the messages
            await pilot.press("home")
            await wait_until(pilot, timeout=15, predicate=lambda: store.get(ids[40]) is not None)
            assert store.get(ids[39]) is None
            # At the hole, with REST down: a gap marker, and the archive below it.
            await pilot.press("home")
            await wait_until(
                pilot, timeout=15, predicate=lambda: any(m.kind == "gap" for m in store)
            )
            assert store.get(ids[9]) is not None
            gap = next(m for m in store if m.kind == "gap")
            assert "not loaded" in gap.text
    finally:
        live_server.clear_faults()
        close_http(live_server)
    # Again with REST up: the hole is filled from REST, page by page, and closes.
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            store = app.stores()[random]
            app.main.show(random)
            await pilot.press("escape")  # from the input line to the messages
            for _ in range(8):
                if store.get(ids[10]) is not None:
                    break
                held = len(store)
                await pilot.press("home")
                await wait_until(
                    pilot, lambda held=held: len(store) > held, message="nothing older"
                )
            got = [m.id for m in store if m.id is not None]
            assert got == sorted(set(got))
            assert set(ids[10:]) <= set(got)
            archive = app.session.archive.archive  # type: ignore[union-attr]
            assert archive is not None
            await archive.aflush()
            assert archive.holes(random) == []
            assert not any(m.kind == "gap" for m in store)
    finally:
        close_http(live_server)
