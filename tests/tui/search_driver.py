"""Search drivers: fill the archive with a long flow through a live app, and search then jump
to the one hit.  Shared by the search-jump, scrollback and archive-window tests (a helper
module, no fixtures)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.screens.search import SearchScreen
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, make_app, post
from tests.tui.apphttp import close_http
from tests.tui.reading import key_of, ready

log = logging.getLogger(__name__)


async def archive_a_long_flow(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[int, list[int]]:
    """60 messages in acme/random, received live and archived; the 6th says "okapi"."""
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(tmp_path / "data"))
    app = make_app(server)
    ids: list[int] = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            for i in range(60):
                text = "the okapi hides in the archive" if i == 5 else f"filler line {i}"
                ids.append(post(server, "acme/random", text))
            store = app.stores()[key_of(app, "acme/random")]
            await wait_until(pilot, timeout=15, predicate=lambda: ids[-1] in {m.id for m in store})
    finally:
        close_http(server)
    return ids[5], ids


async def search_and_jump(pilot: Pilot[Any], app: FlowviewApp, text: str) -> SearchScreen:
    await pilot.press("ctrl+f")
    screen = app.screen
    assert isinstance(screen, SearchScreen)
    await pilot.press("ctrl+t")  # all flows
    await pilot.press(*text)
    await wait_until(
        pilot, timeout=15, predicate=lambda: screen.shown_query == text and len(screen.hits) == 1
    )
    await pilot.press("enter")
    await wait_until(
        pilot, timeout=15, predicate=lambda: app.screen is app.main, message="search still up"
    )
    return screen
