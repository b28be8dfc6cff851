"""Pilot tests of the whole app against the real bundled server over loopback HTTP.

The server runs in its own thread (ServerThread, rate=0: nothing happens unless a test posts
it); messages are injected through the server's REST API with other users' tokens, exactly as
another Flowdock client would post them.  The helpers are in app_driver.py.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot

from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.screens.help import HelpScreen
from flowview.tui.screens.main import MainScreen
from flowview.tui.widgets.flow_log import FlowLog
from tests.helpers import wait_until
from tests.tui.app_driver import (
    FLOW_NAMES,
    SIZE,
    Gate,
    active_index,
    connections,
    fault,
    label,
    labels,
    log_text,
    make_app,
    post,
    post_private,
    settings_for,
    store_ids,
    wait_live,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def running(server: ServerThread) -> AsyncIterator[tuple[FlowviewApp, Pilot[Any]]]:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        yield app, pilot


# ---------------------------------------------------------------------------- tabs, routing


async def test_flow_tabs_are_named_in_the_chosen_order(running: Any) -> None:
    app, _pilot = running
    assert isinstance(app.screen, MainScreen)
    assert labels(app) == FLOW_NAMES
    assert active_index(app) == 0


async def test_events_are_routed_to_their_flows_tab(server: ServerThread, running: Any) -> None:
    app, pilot = running
    post(server, "acme/random", "hello random")
    post(server, "acme/random", "second one")
    await wait_until(pilot, lambda: label(app, 2) == "Random 2")
    # Hidden tabs only count; the shown one is untouched.
    assert label(app, 0) == "Main"
    await pilot.press("alt+3")
    await wait_until(pilot, lambda: "hello random" in log_text(app.main.active_log))
    assert "second one" in log_text(app.main.active_log)
    await wait_until(pilot, lambda: label(app, 2) == "Random", message="read on show")


async def test_private_message_opens_a_tab_named_after_the_sender(
    server: ServerThread, running: Any
) -> None:
    app, pilot = running
    post_private(server, "psst, a secret", as_nick="ngozi")
    await wait_until(pilot, lambda: len(app.main.keys_in_order()) == 5)
    assert label(app, 4) == "ngozi 1"
    assert app.main.keys_in_order()[4][0] == "private"
    # Not shown: the user is told, naming the sender.
    await wait_until(pilot, lambda: app.notifier.sent)
    assert [(a.sender, a.private) for a in app.notifier.sent] == [("ngozi", True)]
    await pilot.press("alt+5")
    await wait_until(pilot, lambda: "psst, a secret" in log_text(app.main.active_log))
    await wait_until(pilot, lambda: label(app, 4) == "ngozi")


async def test_unread_and_mention_counts_and_clearing(server: ServerThread, running: Any) -> None:
    app, pilot = running
    post(server, "globex/dev-ops", "plain")
    post(server, "globex/dev-ops", "@robin please look")
    post(server, "globex/dev-ops", "another")
    await wait_until(pilot, lambda: label(app, 1) == "Dev Ops 3 @1")
    await wait_until(pilot, lambda: app.notifier.sent)
    alerts = app.notifier.sent
    assert [(a.where, a.sender) for a in alerts] == [("Dev Ops", "kenji")]
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: label(app, 1) == "Dev Ops")
    store = app.stores()[app.main.keys_in_order()[1]]
    assert (store.unread, store.mentions) == (0, 0)


async def test_shown_flow_scrolled_up_stays_unread_until_the_end(
    server: ServerThread, running: Any
) -> None:
    app, pilot = running
    for i in range(60):
        post(server, "acme/main", f"filler {i}", as_nick="priya")
    await wait_until(pilot, lambda: "filler 59" in log_text(app.main.active_log))
    log = app.main.active_log
    assert log is not None
    await pilot.press("pageup")
    await wait_until(pilot, lambda: not log.at_bottom)
    post(server, "acme/main", "while reading history", as_nick="priya")
    await wait_until(pilot, lambda: label(app, 0) == "Main 1")
    await pilot.press("escape", "end")  # End of the log (in the input line it ends the line)
    await wait_until(pilot, lambda: label(app, 0) == "Main")


# ---------------------------------------------------------------------------- keys


TAB_KEY_CASES: list[tuple[list[str], int]] = [
    (["alt+2"], 1),
    (["trade_mark_sign"], 1),  # what tmux/xterm deliver for alt+2
    (["pound_sign"], 2),  # alt+3 in a real terminal
    (["cent_sign"], 3),  # alt+4
    (["alt+4", "inverted_exclamation_mark"], 0),  # alt+1 in a real terminal
    (["alt+9"], 0),  # no 9th tab: nothing happens
    (["ctrl+n", "ctrl+n"], 2),
    (["ctrl+p"], 3),  # wraps around
    (["alt+right"], 1),
    (["alt+left", "alt+left"], 2),
]


async def test_tab_keys(running: Any) -> None:
    app, pilot = running
    for keys, expected in TAB_KEY_CASES:
        app.main.show(app.main.keys_in_order()[0])
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        assert active_index(app) == expected, keys


async def test_every_alt_digit_as_a_real_terminal_sends_it(server: ServerThread) -> None:
    from flowview.tui.screens.main import ALT_DIGIT_AS_DELIVERED

    # Ten tabs: four flows and six private conversations.
    senders = ["fatima", "kenji", "matti", "ngozi", "nomvula", "olafur"]
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        for nick in senders:
            post_private(server, f"hi from {nick}", as_nick=nick)
        await wait_until(pilot, lambda: len(app.main.keys_in_order()) == 10)
        for n in [*range(2, 10), 0, 1]:
            if n in (9, 0):
                await pilot.press("escape")  # to the messages: in the input these type ª, º
            await pilot.press(ALT_DIGIT_AS_DELIVERED[n])
            await pilot.pause()
            assert active_index(app) == (n - 1) % 10, n


async def test_help_palette_settings_and_quit_keys(running: Any) -> None:
    app, pilot = running
    await pilot.press("f1")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
    help_text = "\n".join(str(s.render()) for s in app.screen.query("Static"))
    assert "next flow with activity" in help_text and "alt+a" in help_text
    await pilot.press("escape")
    await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))

    await pilot.press("ctrl+k")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*"dev ops")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and active_index(app) == 1)

    from flowview.tui.screens.settings import SettingsScreen

    await pilot.press("f3")
    await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
    await pilot.press("escape")
    await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))

    await pilot.press("ctrl+q")
    await wait_until(pilot, lambda: app._exit, message="ctrl+q did not quit")


async def test_palette_lists_every_conversation_and_commands(
    server: ServerThread, running: Any
) -> None:
    app, pilot = running
    post_private(server, "hello", as_nick="olafur")
    await wait_until(pilot, lambda: len(app.main.keys_in_order()) == 5)
    texts = [entry.text for entry in app.palette_entries()]
    assert texts[:5] == [f"Go to {n}" for n in [*FLOW_NAMES, "olafur"]]
    assert {"Settings", "Toggle presence", "Help"} <= set(texts)
    entry = next(e for e in app.palette_entries() if e.text == "Go to olafur")
    entry.run()
    await pilot.pause()
    assert active_index(app) == 4


async def test_keymap_from_settings_remaps_by_binding_id(server: ServerThread) -> None:
    settings = settings_for(server, keymap={"next-flow": "f6"})
    app = make_app(server, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert active_index(app) == 0
        await pilot.press("f6")
        await pilot.pause()
        assert active_index(app) == 1


async def test_alt_a_visits_mentions_first_then_unread_then_returns(
    server: ServerThread, running: Any
) -> None:
    app, pilot = running
    await pilot.press("alt+2")  # start from Dev Ops
    post(server, "acme/random", "just chatter")
    post(server, "globex/releases", "@robin release is blocked")
    post(server, "acme/main", "more chatter")
    await wait_until(
        pilot, lambda: labels(app) == ["Main 1", "Dev Ops", "Random 1", "Releases 1 @1"]
    )
    visited = []
    for _ in range(4):
        await pilot.press("alt+a")
        await pilot.pause()
        visited.append(active_index(app))
    # mentions first, then unread in tab order after the current one, then back to the start
    assert visited == [3, 0, 2, 1]
    assert labels(app) == FLOW_NAMES


# ---------------------------------------------------------------------------- status bar


async def test_status_bar_through_a_drop(server: ServerThread) -> None:
    gate = Gate()
    fault(server, kind="drop_after_bytes", n=40)
    app = make_app(server, stream_factory=gate.factory())
    async with app.run_test(size=SIZE) as pilot:
        # The state log, not the status bar: a REST call that succeeds meanwhile (start-up
        # loads history, members, the outbox) ends the reconnect wait at once, by design
        # (issue 8), so "reconnecting" may be on screen for less than a poll.  The countdown
        # text is checked by the 503 test below, where Retry-After holds the wait.
        await wait_until(
            pilot, lambda: any(s.state == "reconnecting" for s in app.state_log), timeout=15.0
        )
        drop = next(s for s in app.state_log if s.state == "reconnecting")
        assert drop.reason == "the stream was cut off" and drop.delay is not None
        gate.event.set()
        await wait_live(pilot, app)
        states = [s.state for s in app.state_log]
        assert states.index("reconnecting") < len(states) - 1 and states[-1] == "live"


async def test_status_bar_shows_503_with_its_reason(server: ServerThread) -> None:
    gate = Gate()
    fault(server, kind="status", status=503, retry_after=2, count=1)
    app = make_app(server, stream_factory=gate.factory())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.status.state == "reconnecting")
        delay = app.state_log[-1].delay
        assert delay is not None and delay >= 2  # Retry-After is a floor
        expected = f"reconnecting in {math.ceil(delay)} s — server error (503)"
        assert app.main.status.connection_text() == expected
        assert expected in str(app.main.status.render())
        gate.event.set()
        await wait_live(pilot, app)


async def test_status_bar_says_token_rejected(server: ServerThread) -> None:
    app = make_app(server, token="not-a-valid-token")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.status.state == "failed")
        assert app.main.status.connection_text().startswith("failed — token rejected")
        assert "token rejected" in app.main.status.notice
        assert "not-a-valid-token" not in str(app.main.status.render())
        assert isinstance(app.screen, MainScreen)  # calm: no dialog


# ---------------------------------------------------------------------------- presence


async def test_presence_toggle_is_seen_by_the_server_without_loss(
    server: ServerThread, running: Any
) -> None:
    app, pilot = running
    assert [c["active"] for c in connections(server)] == ["active"]
    posted: list[int] = []
    stop = asyncio.Event()

    async def chatter() -> None:
        i = 0
        while not stop.is_set():
            posted.append(await asyncio.to_thread(post, server, "acme/main", f"during {i}"))
            i += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(chatter())
    await pilot.pause(0.1)
    await pilot.press("f2")
    assert app.main.status.presence == "idle"
    await wait_until(pilot, lambda: [c["active"] for c in connections(server)] == ["idle"])
    await pilot.press("f2")
    await wait_until(pilot, lambda: [c["active"] for c in connections(server)] == ["active"])
    await pilot.pause(0.1)
    stop.set()
    await task
    assert len(posted) > 5
    await wait_until(pilot, lambda: set(posted) <= set(store_ids(app, 0)))
    ids = store_ids(app, 0)
    assert sorted(i for i in ids if i in posted) == sorted(posted)  # each exactly once
    log = app.main.active_log
    assert log is not None
    last = f"during {len(posted) - 1}"
    await wait_until(pilot, lambda: any(r.endswith(last) for r in log_text(log).splitlines()))
    rows = log_text(log).splitlines()
    for i in range(len(posted)):
        assert sum(row.endswith(f"during {i}") for row in rows) == 1, i


async def test_quick_presence_toggles_end_on_the_last_choice(
    server: ServerThread, running: Any
) -> None:
    """A toggle pressed while the previous switch is still handing over must not cancel it
    half-way; the switches run in turn and the stream ends on the last choice."""
    app, pilot = running
    await pilot.press("f2", "f2", "f2")
    assert app.main.status.presence == "idle"
    await wait_until(pilot, lambda: [c["active"] for c in connections(server)] == ["idle"])
    await wait_until(pilot, lambda: app.client is not None and app.client.config.presence == "idle")
    post(server, "acme/main", "after the toggles")
    await wait_until(
        pilot,
        lambda: any(
            m.text == "after the toggles" for m in app.stores()[app.main.keys_in_order()[0]]
        ),
    )


async def test_auto_idle_with_an_injected_clock(server: ServerThread) -> None:
    """The app's clock is injected (no real waiting); its own idle timer notices."""
    now = [1000.0]
    settings = settings_for(server, auto_idle_minutes=10)
    app = make_app(server, settings=settings, clock=lambda: now[0], idle_check_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        now[0] += 9 * 60
        app.check_auto_idle()
        assert app.presence_mode == "active"
        now[0] += 61
        await wait_until(pilot, lambda: app.main.status.presence == "auto-idle")
        await wait_until(pilot, lambda: [c["active"] for c in connections(server)] == ["idle"])
        await pilot.press("x")  # any key
        assert app.main.status.presence == "active"
        await wait_until(pilot, lambda: [c["active"] for c in connections(server)] == ["active"])


# ---------------------------------------------------------------------------- content


async def test_hostile_content_is_rendered_literally(server: ServerThread, running: Any) -> None:
    from flowview.server.hostile import ESCAPE_PAYLOADS, MARKUP_PAYLOADS

    app, pilot = running
    for payload in [*ESCAPE_PAYLOADS, *MARKUP_PAYLOADS]:
        post(server, "acme/main", payload, as_nick="matti")
    await wait_until(pilot, lambda: "<script>" in log_text(app.main.active_log))
    await pilot.pause(0.2)
    log = app.main.active_log
    assert log is not None
    text = log_text(log)
    assert "[bold]not bold[/bold]" in text
    assert "[@click=app.quit]click me to quit[/]" in text
    for y in range(log.size.height):
        strip = log.render_line(y)
        for segment in strip:
            assert "\x1b" not in segment.text and "\x9b" not in segment.text
            assert not any(ord(ch) < 32 for ch in segment.text)
    assert app.is_running  # the @click=app.quit markup did nothing


async def test_hostile_nick_and_text_in_notification_are_plain(
    server: ServerThread, running: Any
) -> None:
    app, pilot = running
    post(server, "acme/random", "@robin [b]hi[/b] \x1b]0;title\x07", as_nick="stefan")
    await wait_until(pilot, lambda: app.notifier.sent)
    alert = app.notifier.sent[-1]
    assert alert.title == "Random"
    assert "\x1b" not in alert.body and "[b]hi[/b]" in alert.body


# ---------------------------------------------------------------------------- history


async def test_history_loads_on_first_show_and_merges_without_duplicates(
    server: ServerThread,
) -> None:
    before = [post(server, "acme/random", f"old {i}") for i in range(120)]
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        assert store_ids(app, 2) == []  # not shown yet: nothing fetched
        live = post(server, "acme/random", "while hidden")
        await wait_until(pilot, lambda: live in store_ids(app, 2))
        await pilot.press("alt+3")
        # The newest 100 include the one already streamed: merged, not doubled.
        await wait_until(pilot, lambda: len(store_ids(app, 2)) == 100)
        ids = store_ids(app, 2)
        assert ids == sorted(set(ids))
        assert ids == [*before[-99:], live]
        # Scrolling to the top loads the older ones.
        await pilot.press("escape", "home")  # the log's Home (the input has focus)
        await wait_until(pilot, lambda: len(store_ids(app, 2)) == 121)
        assert store_ids(app, 2) == [*before, live]


async def test_leaving_a_tab_cancels_its_history_load(server: ServerThread, running: Any) -> None:
    app, pilot = running
    await pilot.press("alt+4")
    await pilot.press("alt+1")
    await pilot.pause(0.2)
    pane = app.main.pane_id(app.main.keys_in_order()[3])
    running_history = [w for w in app.workers if w.group == f"history-{pane}" and w.is_running]
    assert running_history == []


# ---------------------------------------------------------------------------- notifications


async def test_mention_in_the_shown_flow_alerts_only_when_unfocused(
    server: ServerThread, running: Any
) -> None:
    app, pilot = running
    post(server, "acme/main", "@robin focused")
    await wait_until(pilot, lambda: label(app, 0) == "Main")
    await pilot.pause(0.1)
    assert app.notifier.sent == []
    app.app_focus = False
    post(server, "acme/main", "@robin are you there?")
    await wait_until(pilot, lambda: app.notifier.sent)
    assert app.notifier.sent[0].body == "kenji: @robin are you there?"


async def test_bell_and_notify_command(server: ServerThread, tmp_path: Path) -> None:
    out = tmp_path / "notified.txt"
    script = (
        "import os, sys; "
        f"open({str(out)!r}, 'w').write('\\n'.join(sys.argv[1:]) + '\\n' "
        "+ str('FLOWDOCK_TOKEN' in os.environ))"
    )
    settings = settings_for(server, bell=True, notify_command=[sys.executable, "-c", script])
    app = make_app(server, settings=settings)
    bells: list[int] = []
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
        await wait_live(pilot, app)
        import os

        os.environ["FLOWDOCK_TOKEN"] = server.token  # must not reach the child
        try:
            post(server, "globex/dev-ops", "@robin $(rm -rf ~) `id`", as_nick="fatima")
            await wait_until(
                pilot, lambda: out.exists() and out.read_text().endswith(("True", "False"))
            )
        finally:
            del os.environ["FLOWDOCK_TOKEN"]
    lines = out.read_text().splitlines()
    # `--` first: text from the network is never taken as an option of the command.
    assert lines == ["--", "flowview: Dev Ops", "fatima: @robin $(rm -rf ~) `id`", "False"]
    assert bells == [1]
    assert server.token not in out.read_text()


async def test_links_open_only_http_and_https(running: Any) -> None:
    app, pilot = running
    opened: list[str] = []
    app.open_url = lambda url, new_tab=True: opened.append(url)
    log = app.main.active_log
    assert log is not None
    log.post_message(FlowLog.LinkRequested("file:///etc/passwd", log))
    log.post_message(FlowLog.LinkRequested("https://example.com/a?b=1", log))
    await wait_until(pilot, lambda: opened)
    await pilot.pause(0.1)
    assert opened == ["https://example.com/a?b=1"]


async def test_thread_request_opens_the_thread_screen(server: ServerThread, running: Any) -> None:
    from flowview.tui.screens.thread import ThreadScreen

    app, pilot = running
    post(server, "acme/main", "start of a thread")
    await wait_until(pilot, lambda: "start of a thread" in log_text(app.main.active_log))
    store = app.stores()[app.main.keys_in_order()[0]]
    thread_id = next(m.thread_id for m in store if m.thread_id)
    assert thread_id is not None
    await pilot.press("escape", "up", "t")  # on the messages (the input has focus)
    await wait_until(pilot, lambda: isinstance(app.screen, ThreadScreen))


async def test_settings_change_adds_and_removes_tabs(server: ServerThread, running: Any) -> None:
    app, pilot = running
    assert app.session is not None
    new = settings_for(server, flows=["acme/main", "acme/random"])
    app.apply_settings(new)
    await wait_until(pilot, lambda: labels(app) == ["Main", "Random"], message=str(labels(app)))
    await wait_until(
        pilot, lambda: app.client is not None and app.client.config.flows == tuple(new.flows)
    )
    post(server, "acme/random", "still routed")
    await wait_until(pilot, lambda: label(app, 1) == "Random 1")
