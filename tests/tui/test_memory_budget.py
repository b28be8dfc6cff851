"""The memory budget in the app (model/budget.py): a conversation not shown is trimmed to its
newest lines when all stores together hold too much, keeps its unread count and mention, and
gives the trimmed lines back from the archive when the user goes there.  Real HTTP against the
bundled server."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from helpers import wait_until

from flowview.model.budget import MessageBudget
from flowview.server.runner import ServerThread
from flowview.tui import loaders
from tests.tui.app_driver import SIZE, make_app, post
from tests.tui.apphttp import close_http
from tests.tui.reading import key_of, ready

pytestmark = pytest.mark.timeout(120)


async def test_a_hidden_conversation_over_the_budget_is_trimmed_and_comes_back(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(loaders, "HISTORY_PAGE", 10)
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            session = app.session
            assert session is not None
            random = key_of(app, "acme/random")
            assert app.main.active_key != random
            held = sum(len(s) for s in app.stores().values())
            session.budget = MessageBudget(held + 20, floor=8)
            ids = []
            for i in range(40):
                text = "ping @robin, the build is red" if i == 2 else f"busy line {i}"
                ids.append(post(live_server, "acme/random", text))
            store = app.stores()[random]
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: store.newest_id == ids[-1] and store.get(ids[0]) is None,
                message="the hidden flow was not trimmed",
            )
            # Trimmed to its newest lines, nothing lost from the counts.
            assert sum(len(s) for s in app.stores().values()) <= held + 20
            assert [m.id for m in store if m.id is not None] == ids[-len(store) :]
            assert store.unread == 40 and store.mentions == 1
            assert store.hidden_mentions == [ids[2]]
            assert session.budget.trimmed > 0
            # alt+m goes to the trimmed mention: read back from the archive with its context.
            await pilot.press("escape")
            await pilot.press("alt+m")
            await wait_until(
                pilot,
                timeout=15,
                predicate=lambda: app.main.active_key == random and store.get(ids[2]) is not None,
                message="the trimmed mention did not come back",
            )
            got = [m.id for m in store if m.id is not None]
            start = ids.index(got[0])
            assert got == ids[start : start + len(got)]  # one unbroken run, nothing twice
    finally:
        close_http(live_server)


async def test_a_hidden_tab_lets_its_rendered_rows_go(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the shown log keeps rendered rows (Textual Strips, KBs each): kept in every log,
    they grew with each tab visited."""
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(tmp_path / "data"))
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            random = key_of(app, "acme/random")
            for i in range(20):
                post(live_server, "acme/random", f"line {i}")
            store = app.stores()[random]
            await wait_until(pilot, timeout=15, predicate=lambda: len(store) >= 20)
            first = app.main.active_key
            assert first is not None and first != random
            app.main.show(random)
            log_widget = app.main.log_for(random)
            assert log_widget is not None
            await wait_until(pilot, timeout=15, predicate=lambda: log_widget.cached_messages >= 20)
            app.main.show(first)
            await wait_until(pilot, timeout=15, predicate=lambda: log_widget.cached_messages == 0)
            app.main.show(random)  # shown again: its visible rows are rendered again
            await wait_until(pilot, timeout=15, predicate=lambda: log_widget.cached_messages >= 20)
    finally:
        close_http(live_server)


# The soak's key cycle (bench/bench_app.py): thread view, help, palette, presence, next flow,
# members pane; each changes the footer's bindings.
KEY_CYCLE = ("t", "escape", "f1", "escape", "ctrl+k", "escape", "f2", "ctrl+n", "f4", "f4")


def footer_keys_alive() -> int:
    gc.collect()
    gc.unfreeze()  # the app's GcPolicy freezes survivors; get_objects() skips frozen ones
    return sum(1 for obj in gc.get_objects() if type(obj).__name__ == "FooterKey")


async def test_the_footer_does_not_keep_every_key_it_ever_showed(
    live_server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual's Footer binds each key's `compact` to its own, and those watchers kept every
    FooterKey of every recompose alive (~50 a key cycle, with their strips)."""
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(tmp_path / "data"))
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot, app)
            for _ in range(2):
                await pilot.press(*KEY_CYCLE)
            before = footer_keys_alive()
            for _ in range(6):
                await pilot.press(*KEY_CYCLE)
            await pilot.pause()
            after = footer_keys_alive()
            assert after <= before + 20, (before, after)
    finally:
        close_http(live_server)
