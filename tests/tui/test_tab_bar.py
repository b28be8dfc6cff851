"""The tab bar: full width beside the members pane, hidden tabs shown, private tabs marked and
closable, organisations told apart (issue 10, "Tab bar" and "members pane")."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets._tabbed_content import ContentTabs

from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.screens.main import PRIVATE_MARK
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, labels, make_app, post_private, settings_for, wait_live

pytestmark = pytest.mark.timeout(60)


async def test_members_pane_sits_under_the_tab_bar(server: ServerThread) -> None:
    """f4 must not take the tab bar's right end: the bar keeps the screen's width and the
    pane starts below it."""
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        tabs = app.main.query_one(ContentTabs)
        await pilot.press("f4")
        await pilot.pause()
        pane = app.main.members
        assert pane.display
        assert tabs.region.width == SIZE[0]
        assert pane.region.y >= tabs.region.bottom
        assert pane.region.right == SIZE[0]
        log_widget = app.main.active_log
        assert log_widget is not None
        assert log_widget.region.right <= pane.region.x


# ---------------------------------------------------------------------------- labels


def shown(app: FlowviewApp) -> list[str]:
    """The tab labels as shown (test_app.labels leaves out the prefixes tested here)."""
    main = app.main
    panes = [main.pane_id(key) for key in main.keys_in_order()]
    return [main.tabbed.get_tab(pane).label.plain for pane in panes if pane is not None]


async def _settled(pilot: Pilot[Any], app: FlowviewApp) -> None:
    """Every tab's log mounted (a tab is listed before its pane has finished mounting)."""

    def mounted() -> bool:
        logs = [app.main.log_for(key) for key in app.main.keys_in_order()]
        return all(log is not None and log.is_mounted for log in logs)

    await wait_until(pilot, mounted)
    await pilot.pause()


async def test_organisations_prefix_flows_and_private_tabs_are_marked(
    server: ServerThread,
) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        assert shown(app) == ["acme/Main", "globex/Dev Ops", "acme/Random", "globex/Releases"]
        post_private(server, "psst", as_nick="ngozi")
        await wait_until(pilot, lambda: len(shown(app)) == 5, message=str(shown(app)))
        assert shown(app)[4] == f"{PRIVATE_MARK}ngozi 1"
        await _settled(pilot, app)


async def test_one_organisation_needs_no_prefix(server: ServerThread) -> None:
    app = make_app(server, settings=settings_for(server, flows=["acme/main", "acme/random"]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app, tabs=2)
        assert shown(app) == ["Main", "Random"]


async def test_a_tab_added_while_the_screen_is_torn_down_does_not_raise(
    server: ServerThread,
) -> None:
    # A flush can add a tab while the app closes, after the screen's widgets began to go
    # (seen under load: NoMatches '#empty' from add_conversation at the end of a test).
    app = make_app(server, settings=settings_for(server, flows=["acme/main"]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app, tabs=1)
        main = app.main
        await main.query_one("#empty").remove()
        router = app.session.router if app.session is not None else None
        assert router is not None
        flow = next(f for f in router.flows.values() if f.slug == "acme/random")
        await main.add_conversation(router.open_flow(flow.id), router)
        assert len(shown(app)) == 2


# ---------------------------------------------------------------------------- closing


async def test_ctrl_w_closes_a_private_tab_and_a_new_message_reopens_it(
    server: ServerThread,
) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        post_private(server, "first", as_nick="ngozi")
        await wait_until(pilot, lambda: len(labels(app)) == 5)
        await pilot.press("escape")  # on the messages: while typing, ctrl+w deletes a word
        await pilot.press("ctrl+w")  # on a flow: refused, said why
        assert len(labels(app)) == 5
        assert "settings" in app.main.status.notice
        await pilot.press("alt+5")
        key = app.main.keys_in_order()[4]
        assert key[0] == "private" and app.main.active_key == key
        await pilot.press("escape", "ctrl+w")
        await wait_until(pilot, lambda: not app.main.has(key))
        assert app.main.active_key is not None and app.main.active_key[0] == "flow"
        assert len(app.stores()[key]) == 1  # the conversation is kept, only its tab went
        post_private(server, "second", as_nick="ngozi")
        await wait_until(pilot, lambda: app.main.has(key), message=str(labels(app)))
        assert app.main.keys_in_order()[4] == key
        log_widget = app.main.log_for(key)
        assert log_widget is not None
        assert len(log_widget.store) == 2
        await _settled(pilot, app)


# ---------------------------------------------------------------------------- overflow


async def _overflowing(server: ServerThread, pilot: Pilot[Any], app: FlowviewApp) -> None:
    await wait_live(pilot, app)
    for nick in ("ngozi", "matti", "stefan", "nomvula", "priya"):
        post_private(server, f"hello from {nick}", as_nick=nick)
    await wait_until(pilot, lambda: len(labels(app)) == 9, message=str(labels(app)))
    await _settled(pilot, app)


def _edges(app: FlowviewApp) -> tuple[str, str]:
    bar = app.main.query_one(ContentTabs)
    left, right = bar.query_one("#tabs-hidden-left"), bar.query_one("#tabs-hidden-right")
    return (
        str(left.render()) if left.display else "",
        str(right.render()) if right.display else "",
    )


def _active_label(app: FlowviewApp) -> str:
    key = app.main.active_key
    return labels(app)[app.main.keys_in_order().index(key)] if key is not None else ""


def _active_tab_in_view(app: FlowviewApp) -> bool:
    bar = app.main.query_one(ContentTabs)
    tab = bar.active_tab
    scroller = bar.query_one("#tabs-scroll")
    assert tab is not None
    return bool(scroller.region.x <= tab.region.x and tab.region.right <= scroller.region.right)


async def test_hidden_tabs_are_counted_at_either_edge(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await _overflowing(server, pilot, app)
        tabs = app.main.tabbed
        await wait_until(pilot, lambda: tabs.hidden_right > 0, message=str(_edges(app)))
        assert tabs.hidden_left == 0
        assert _edges(app) == ("", f"{tabs.hidden_right}›")
        await pilot.press("ctrl+p")  # wraps to the last tab
        await wait_until(pilot, lambda: tabs.hidden_left > 0, message=str(_edges(app)))
        assert tabs.hidden_right == 0
        assert _edges(app) == (f"‹{tabs.hidden_left}", "")
        assert _active_tab_in_view(app)


async def test_wide_terminal_shows_no_counts(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=(200, 30)) as pilot:
        await wait_live(pilot, app)
        await pilot.pause(0.2)
        assert _edges(app) == ("", "")


async def test_tab_chosen_in_the_palette_is_scrolled_into_view(server: ServerThread) -> None:
    """The palette's "Go to" switches tabs while the main screen is covered: the bar must
    still show that tab once the palette is gone."""
    app = make_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await _overflowing(server, pilot, app)
        assert app.main.active_key == app.main.keys_in_order()[0]
        await pilot.press("ctrl+k")
        await pilot.pause(0.2)
        await pilot.press(*"priya")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.main)
        await wait_until(pilot, lambda: _active_label(app) == "priya", message=str(labels(app)))
        await pilot.pause(0.3)
        assert _active_tab_in_view(app)


async def test_shown_tab_stays_in_view_after_a_theme_change(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await _overflowing(server, pilot, app)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: _active_tab_in_view(app))
        await pilot.press("ctrl+k")
        await pilot.pause(0.2)
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause(0.2)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main)
        await pilot.pause(0.3)
        assert _active_tab_in_view(app)


# ---------------------------------------------------------------------------- footer


@pytest.mark.parametrize("width", [120, 200])
async def test_footer_shows_members_and_palette_keys_from_120_columns(
    server: ServerThread, width: int
) -> None:
    from textual.widgets._footer import FooterKey

    app = make_app(server)
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_live(pilot, app)
        await pilot.pause(0.3)
        shown = {
            key.key: key.description
            for key in app.screen.query(FooterKey)
            if key.display and key.region.width
        }
        assert shown.get("f4") == "members", sorted(shown)
        assert shown.get("ctrl+k") == "jump", sorted(shown)
        for key in ("f2", "f3", "ctrl+q", "f1"):
            assert key in shown, sorted(shown)
