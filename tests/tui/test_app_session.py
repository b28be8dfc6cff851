"""The app's session plumbing: the start-up seam, gaps, error counts, crash reports.

Real HTTP against the bundled server on loopback; items the server cannot be made to produce
on demand (a client's GapOpened) are fed through the app's pump as the client would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers import wait_until
from textual.widgets import Input
from textual.widgets.tabbed_content import ContentTab

from flowview.config import Settings
from flowview.model.router import GAP_TEXT
from flowview.protocol.client import StreamClient, StreamConfig
from flowview.protocol.items import GapClosed, GapOpened, Skipped
from flowview.protocol.rest import RestClient
from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.screens.setup import SetupScreen
from tests.tui.app_driver import SIZE, connections, fault, make_app, post, settings_for, wait_live
from tests.tui.apphttp import close_http

pytestmark = pytest.mark.timeout(60)


class HeldClient:
    """A StreamClient whose connection starts only when the test says so."""

    def __init__(self, inner: StreamClient, gate: asyncio.Event) -> None:
        self.inner = inner
        self.gate = gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def batches(self) -> AsyncIterator[list[Any]]:
        await self.gate.wait()
        async for batch in self.inner.batches():
            yield batch

    async def aclose(self) -> None:
        await self.inner.aclose()


def stored_ids(app: FlowviewApp, index: int = 0) -> set[int]:
    key = app.main.keys_in_order()[index]
    return {m.id for m in app.stores()[key] if m.id is not None}


async def test_messages_posted_while_the_stream_connects_are_not_lost(
    live_server: ServerThread,
) -> None:
    gate = asyncio.Event()

    def factory(config: StreamConfig, rest: RestClient) -> Any:
        return HeldClient(StreamClient(config, rest=rest), gate)

    before = [post(live_server, "acme/main", f"history {i}") for i in range(3)]
    app = make_app(live_server, stream_factory=factory)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.main.keys_in_order())
            key = app.main.keys_in_order()[0]
            await wait_until(pilot, lambda: key in app._history_loaded)
            assert set(before) <= stored_ids(app)
            # The seam: history is loaded, the stream is not live yet.
            seam = [post(live_server, "acme/main", f"in the seam {i}") for i in range(20)]
            gate.set()
            await wait_live(pilot, app)
            after = post(live_server, "acme/main", "once live")
            await wait_until(pilot, lambda: after in stored_ids(app))
            await wait_until(pilot, lambda: set(seam) <= stored_ids(app), message="seam lost")
            ids = [m.id for m in app.stores()[key] if m.id is not None]
            assert ids == sorted(ids) and len(ids) == len(set(ids))  # ordered, no duplicates
    finally:
        close_http(live_server)


async def test_gap_is_shown_in_the_conversation_and_the_status_bar(
    live_server: ServerThread,
) -> None:
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            key = app.main.keys_in_order()[1]
            app.handle_item(GapOpened(key, 41, "history request failed (503)"))
            app.handle_item(GapOpened(key, 41, "still failing"))  # the same gap again
            await app.flush_now()
            texts = [m.text for m in app.stores()[key] if m.kind == "gap"]
            assert len(texts) == 1 and texts[0].startswith("messages may be missing — fetching")
            assert app.main.status.gaps == 1
            assert GAP_TEXT in str(app.main.status.render())
            app.handle_item(GapClosed(key, 41, 7))
            await app.flush_now()
            assert [m for m in app.stores()[key] if m.kind == "gap"] == []  # replaced
            assert app.main.status.gaps == 0
            assert GAP_TEXT not in str(app.main.status.render())
    finally:
        close_http(live_server)


async def test_skipped_and_unroutable_events_are_counted_in_the_status_bar(
    live_server: ServerThread,
) -> None:
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            assert "skipped" not in str(app.main.status.render())
            app.handle_item(Skipped("malformed record"))
            assert app.session is not None
            app.session.router.errors += 2  # as Router.route counts an event it could not apply
            await app.flush_now()
            assert app.main.status.problems == 3
            assert "3 events skipped" in str(app.main.status.render())
    finally:
        close_http(live_server)


async def test_a_crash_during_setup_never_prints_the_token(
    live_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "crash-secret-" + live_server.token

    def crashing_check(self: SetupScreen) -> None:
        raw = self.query_one("#token", Input).value  # a local holding the token
        raise RuntimeError(f"forced crash while checking {raw[:0]}")

    monkeypatch.setattr(SetupScreen, "start_check", crashing_check)
    app = FlowviewApp(None, None)
    rendered: list[str] = []
    with pytest.raises(RuntimeError, match="forced crash"):
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen))
            app.screen.query_one("#token", Input).value = secret
            await pilot.click("#check")
            await pilot.pause(0.2)
            rendered.extend(_render(r, app) for r in app._exit_renderables)
    if not rendered:
        rendered.extend(_render(r, app) for r in app._exit_renderables)
    text = "\n".join(rendered)
    assert "forced crash" in text  # the crash is reported ...
    assert secret not in text and live_server.token not in text  # ... without the token


def _render(renderable: Any, app: FlowviewApp) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


async def test_a_second_save_cancelling_the_first_still_reconfigures_the_stream(
    live_server: ServerThread,
) -> None:
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            session = app.session
            assert session is not None and app.client is not None
            held = asyncio.Event()
            real_flow = session.rest.flow

            async def held_flow(slug: str) -> Any:
                await held.wait()  # the first save is still applying when the second comes
                return await real_flow(slug)

            session.rest.flow = held_flow  # type: ignore[method-assign]
            del session.flows_by_slug["acme/random"]  # so applying needs /flows/acme/random
            new = settings_for(live_server, flows=["acme/main", "acme/random"])
            app.apply_settings(new)
            await wait_until(pilot, lambda: session.settings is new)
            app.apply_settings(new)  # the same Save again: cancels the first one
            held.set()
            await wait_until(
                pilot,
                lambda: app.client is not None and app.client.config.flows == tuple(new.flows),
                message="the stream still has the old flows",
            )
            await wait_until(pilot, lambda: len(app.main.keys_in_order()) == 2)
    finally:
        close_http(live_server)


async def test_settings_are_written_off_the_event_loop(
    live_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from flowview.config import save_settings as real_save
    from flowview.tui.screens import settings as settings_module
    from flowview.tui.screens.settings import SettingsScreen

    threads: list[bool] = []

    def recording_save(new: Settings) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        return real_save(new)

    monkeypatch.setattr(settings_module, "save_settings", recording_save)
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
            screen = app.screen
            assert isinstance(screen, SettingsScreen)
            await wait_until(pilot, lambda: screen.flows_loaded)
            screen.action_save()
            await wait_until(pilot, lambda: not isinstance(app.screen, SettingsScreen))
    finally:
        close_http(live_server)
    assert threads == [False]  # saved once, in a worker thread


@pytest.mark.parametrize("gesture", ["click", "wheel"])
async def test_mouse_activity_ends_auto_idle(live_server: ServerThread, gesture: str) -> None:
    from textual import events

    now = [1000.0]
    settings = settings_for(live_server, auto_idle_minutes=10)
    app = make_app(live_server, settings=settings, clock=lambda: now[0])
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            now[0] += 11 * 60
            app.check_auto_idle()
            assert app.main.status.presence == "auto-idle"
            if gesture == "click":
                await pilot.click("#status")
            else:
                log = app.main.active_log
                assert log is not None
                # What the driver delivers for a wheel turn over the log.
                app.post_message(events.MouseScrollUp(log, 5, 5, 0, -1, 0, False, False, False))
                await pilot.pause(0.1)
            assert app.presence_mode == "active"
            assert app.main.status.presence == "active"
            assert app.last_input == now[0]
    finally:
        close_http(live_server)


async def test_a_failed_presence_switch_shows_what_the_server_has(
    live_server: ServerThread,
) -> None:
    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            fault(live_server, kind="status", status=503, count=1)  # the switch's connection
            await pilot.press("f2")
            await wait_until(pilot, lambda: "presence not changed" in app.main.status.notice)
            assert [c["active"] for c in connections(live_server)] == ["active"]
            assert app.main.status.presence == "active"  # what the server has, not the wish
            await pilot.press("f2")  # again, with the server answering
            await wait_until(
                pilot, lambda: [c["active"] for c in connections(live_server)] == ["idle"]
            )
            await wait_until(pilot, lambda: app.main.status.notice == "")
            assert app.main.status.presence == "idle"
    finally:
        close_http(live_server)


async def test_a_flow_ticked_again_returns_to_its_saved_place_before_private_tabs(
    live_server: ServerThread,
) -> None:
    from tests.tui.app_driver import FLOW_SLUGS, bare, labels, post_private

    app = make_app(live_server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            post_private(live_server, "hello there", as_nick="ngozi")
            await wait_until(pilot, lambda: len(app.main.keys_in_order()) == 5)
            without = [s for s in FLOW_SLUGS if s != "acme/random"]
            app.apply_settings(settings_for(live_server, flows=without))
            await wait_until(pilot, lambda: len(app.main.keys_in_order()) == 4)
            app.apply_settings(settings_for(live_server, flows=list(FLOW_SLUGS)))
            await wait_until(pilot, lambda: len(app.main.keys_in_order()) == 5)
            names = [name.split(" ")[0] for name in labels(app)]
            assert names == ["Main", "Dev", "Random", "Releases", "ngozi"]
            kinds = [key[0] for key in app.main.keys_in_order()]
            assert kinds == ["flow", "flow", "flow", "flow", "private"]
            # The tab bar itself shows the same order (not only the screen's bookkeeping).
            tabs = app.main.tabbed.query(ContentTab)
            assert [bare(t.label.plain).split(" ")[0] for t in tabs] == names
    finally:
        close_http(live_server)


async def test_a_rejected_token_says_what_to_do_and_settings_can_replace_it(
    live_server: ServerThread, isolated_config: Any
) -> None:
    from textual.widgets import Input

    from flowview.config import load_token
    from flowview.tui.screens.settings import SettingsScreen

    app = make_app(live_server, token="not-a-valid-token")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.main.status.state == "failed")
            line = app.main.status.connection_text()
            assert "token rejected" in line and "flowview logout" in line and "f3" in line
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
            shown = app.screen
            assert isinstance(shown, SettingsScreen)
            # Declared: `app.screen is screen` below would otherwise narrow it to Screen[object].
            screen: SettingsScreen = shown
            token_input = screen.query_one("#token", Input)
            assert token_input.password
            token_input.value = "still-not-a-valid-token"
            screen.action_save()
            await wait_until(pilot, lambda: "rejected" in screen.status_text)
            assert app.screen is screen  # not saved, not closed
            assert load_token() is None
            token_input.value = live_server.token
            screen.action_save()
            await wait_until(pilot, lambda: not isinstance(app.screen, SettingsScreen))
            await wait_live(pilot, app)
            assert app.session is not None and app.session.token.value == live_server.token
            saved = load_token()
            assert saved is not None and saved.value == live_server.token
    finally:
        close_http(live_server)


async def test_help_lists_the_conversation_keys_and_fits_80_columns(
    live_server: ServerThread,
) -> None:
    from flowview.tui.screens.help import HelpScreen

    app = make_app(live_server)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_live(pilot, app)
            await pilot.press("f1")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            keys = str(app.screen.query_one("#help-keys").render())
            for key, words in (("t", "thread"), ("o", "link"), ("end", "newest")):
                line = next((ln for ln in keys.splitlines() if ln.startswith(key + " ")), "")
                assert words in line, (key, keys)
            box = app.screen.query_one("VerticalScroll").region
            assert box.x >= 0 and box.right <= 80  # nothing runs off the right edge
    finally:
        close_http(live_server)


async def test_status_bar_rate_decays_and_presence_is_offline_when_not_connected(
    live_server: ServerThread,
) -> None:
    now = [5000.0]
    app = make_app(live_server, clock=lambda: now[0])
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            ids = [post(live_server, "acme/random", f"line {i}") for i in range(3)]
            await wait_until(pilot, lambda: app.main.status.rate >= 3)
            assert ids
            now[0] += 61  # a quiet minute: no event, so no flush
            app.refresh_rate()
            assert app.main.status.rate == 0
            assert app.main.status.shown_presence() == "active"
            app.main.status.set_connection("failed", "token rejected")
            assert app.main.status.shown_presence() == "offline"
            assert "active" not in str(app.main.status.render())
    finally:
        close_http(live_server)


@pytest.mark.parametrize("width", [80, 120])
async def test_footer_keeps_presence_settings_quit_and_help_in_view(
    live_server: ServerThread, width: int
) -> None:
    # Private in Textual 8.2.8, no public equivalent (see test_textual_canary.py).
    from textual.widgets._footer import FooterKey

    app = make_app(live_server)
    try:
        async with app.run_test(size=(width, 24)) as pilot:
            await wait_live(pilot, app)
            await pilot.pause(0.3)
            shown = {
                key.key: key.region
                for key in app.screen.query(FooterKey)
                if key.display and key.region.width
            }
            for key in ("f2", "f3", "ctrl+q", "f1", "ctrl+k"):
                assert key in shown, (key, sorted(shown))
                assert shown[key].right <= width, (key, shown[key])
            assert all(region.right <= width for region in shown.values())
    finally:
        close_http(live_server)
