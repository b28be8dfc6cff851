"""Search jump (issue 11): Enter on a hit shows the message in its tab with context above and
below, read from the archive when it is not in memory, selected; Escape goes back to the same
results.  Real HTTP against the bundled server; the archive is the one the viewer wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import wait_until

from flowview.server.runner import ServerThread
from flowview.tui import search_jump, warm_start
from flowview.tui.screens.search import SearchScreen
from tests.tui.app_driver import SIZE, make_app, wait_live
from tests.tui.apphttp import close_http
from tests.tui.reading import key_of, ready, visible_text
from tests.tui.search_driver import archive_a_long_flow, search_and_jump

pytestmark = pytest.mark.timeout(120)


async def test_enter_loads_the_hit_from_the_archive_with_context_and_escape_returns(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    okapi, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    monkeypatch.setattr(warm_start, "WARM_TAIL", 20)  # memory holds the newest 20 at start
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            random = key_of(app, "acme/random")
            store = app.stores()[random]
            assert store.get(okapi) is None  # not in memory: only in the archive
            await search_and_jump(pilot, app, "okapi")
            assert app.main.active_key == random
            log_widget = app.main.log_for(random)
            assert log_widget is not None
            await wait_until(pilot, timeout=15, predicate=lambda: log_widget.selected is not None)
            assert log_widget.selected is not None and log_widget.selected.id == okapi
            shown = visible_text(log_widget)
            assert "okapi" in shown
            assert "filler line 4" in shown and "filler line 6" in shown  # context around
            got = [m.id for m in store if m.id is not None and m.id >= ids[0]]
            assert got == ids  # joined to memory: nothing missing in between, no duplicate
            assert not [m for m in store if m.kind == "gap"]
            await pilot.press("escape")
            await wait_until(
                pilot, timeout=15, predicate=lambda: isinstance(app.screen, SearchScreen)
            )
            again = app.screen
            assert isinstance(again, SearchScreen)
            await wait_until(
                pilot, timeout=15, predicate=lambda: again.shown_query == "okapi" and again.hits
            )
            assert not again.this_only
            assert again.hits[0].message.id == okapi
    finally:
        close_http(live_server)


async def test_a_hit_far_older_than_memory_gets_a_gap_marker_below_its_context(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    okapi, ids = await archive_a_long_flow(live_server, monkeypatch, tmp_path)
    monkeypatch.setattr(warm_start, "WARM_TAIL", 20)
    monkeypatch.setattr(search_jump, "BRIDGE_MAX", 10)
    monkeypatch.setattr(search_jump, "CONTEXT", 3)
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await ready(pilot, app)
            random = key_of(app, "acme/random")
            await search_and_jump(pilot, app, "okapi")
            store = app.stores()[random]
            await wait_until(pilot, timeout=15, predicate=lambda: store.get(okapi) is not None)
            order = [m.id if m.kind != "gap" else "gap" for m in store]
            at = order.index("gap")
            assert order[at - 4 : at] == ids[5:9]  # the hit and three below it, then the gap
            assert order[at + 1] == ids[40]  # memory's oldest (the newest 20)
            gap = next(m for m in store if m.kind == "gap")
            assert "not loaded" in gap.text
    finally:
        close_http(live_server)
