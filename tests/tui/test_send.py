"""Sending from the app, over real HTTP against the bundled server on loopback.

What is typed shows at once as a pending line and becomes the server's message in place,
exactly once; commands act or say what is wrong without sending; the outbox survives failures.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import wait_until
from textual import events
from textual.pilot import Pilot

from flowview.model.stored_message import StoredMessage
from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.outbox_link import private_key
from flowview.tui.screens.confirm import ConfirmScreen
from flowview.tui.screens.thread import ThreadScreen
from flowview.tui.widgets.flow_log import FlowLog
from flowview.tui.widgets.message_input import MessageInput
from tests.tui.app_driver import SIZE, fault, make_app, me_id, post, user_token, wait_live
from tests.tui.apphttp import close_http, http

pytestmark = pytest.mark.timeout(60)


def field(app: FlowviewApp) -> MessageInput:
    return app.main.query_one("#input", MessageInput)


def lines_with(app: FlowviewApp, text: str, index: int = 0) -> list[StoredMessage]:
    key = app.main.keys_in_order()[index]
    return [m for m in app.stores()[key] if m.text == text]


def server_texts(srv: ServerThread, slug: str, text: str) -> int:
    """How many copies of `text` the server stored in `slug`."""
    response = http(srv).get(
        f"{srv.api_url}/flows/{slug}/messages",
        params={"limit": 100},
        auth=(srv.token, ""),
    )
    response.raise_for_status()
    return sum(1 for m in response.json() if m.get("content") == text)


async def type_and_send(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*[("space" if ch == " " else ch) for ch in text])
    await pilot.press("enter")


async def settled(pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread) -> None:
    """Everything sent is confirmed, and the stream has caught up past it (ordered stream:
    a later message from someone else arrives after every echo before it)."""
    await wait_until(pilot, lambda: app.outbox is not None and app.outbox.waiting == 0)
    marker = post(srv, "acme/main", "marker after sends")
    await wait_until(pilot, lambda: bool(lines_with(app, "marker after sends")))
    del marker


async def test_the_input_has_focus_and_enter_sends_a_line_that_becomes_its_echo_once(
    server: ServerThread,
) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            assert field(app).has_focus
            seen: list[tuple[int | None, str | None]] = []
            await type_and_send(pilot, "hello from the input")
            (line,) = lines_with(app, "hello from the input")
            seen.append((line.id, line.outbox))
            seq = line.seq
            await settled(pilot, app, server)
            (after,) = lines_with(app, "hello from the input")
            assert after is line and after.seq == seq and after.id is not None
            assert after.outbox is None and after.user_id == me_id(server)
            assert seen[0] == (None, "sending") or seen[0][0] is not None
            assert server_texts(server, "acme/main", "hello from the input") == 1
            rows = [app.main.active_log.row_text(y) for y in range(40)]  # type: ignore[union-attr]
            assert sum("hello from the input" in r for r in rows) == 1
            assert field(app).text == ""
    finally:
        close_http(server)


async def test_multi_line_and_a_pasted_block_are_one_message_each(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await pilot.press("o", "n", "e", "alt+enter", "t", "w", "o", "enter")
            field(app).post_message(events.Paste("pasted\nblock\r\nof three"))
            await pilot.pause()
            await pilot.press("enter")
            await settled(pilot, app, server)
            assert len(lines_with(app, "one\ntwo")) == 1
            assert len(lines_with(app, "pasted\nblock\nof three")) == 1
            assert server_texts(server, "acme/main", "one\ntwo") == 1
    finally:
        close_http(server)


async def test_unknown_command_is_shown_in_place_and_never_sent(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await type_and_send(pilot, "/frobnicate now")
            note = app.main.query_one("#compose-note")
            assert note.display and "unknown command /frobnicate" in str(note.render())
            assert field(app).text == "/frobnicate now"  # kept for fixing
            assert app.outbox is not None and app.outbox.waiting == 0
            assert server_texts(server, "acme/main", "/frobnicate now") == 0
    finally:
        close_http(server)


async def test_me_and_status_are_sent_as_flowdock_did(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await type_and_send(pilot, "/me waves")
            await type_and_send(pilot, "/status in a meeting")
            await settled(pilot, app, server)
            (action,) = lines_with(app, "waves")
            (status,) = lines_with(app, "in a meeting")
            assert action.kind == "line" and status.kind == "status"
            assert action.id is not None and status.id is not None
    finally:
        close_http(server)


async def test_up_on_an_empty_input_edits_the_last_own_message(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await type_and_send(pilot, "tpyo")
            await settled(pilot, app, server)
            await pilot.press("up")
            assert field(app).editing is not None and field(app).text == "tpyo"
            await pilot.press("backspace", "backspace", "backspace", "backspace")
            await type_and_send(pilot, "typo")
            await wait_until(pilot, lambda: bool(lines_with(app, "typo")))
            (line,) = lines_with(app, "typo")
            assert line.edited and not lines_with(app, "tpyo")
    finally:
        close_http(server)


async def test_delete_asks_first_then_deletes_the_selected_own_message(
    server: ServerThread,
) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await type_and_send(pilot, "delete me")
            await wait_until(pilot, lambda: app.outbox is not None and app.outbox.waiting == 0)
            (line,) = lines_with(app, "delete me")
            log_widget = app.main.active_log
            assert log_widget is not None
            log_widget.select_seq(line.seq)
            await pilot.press("escape")  # to the messages
            assert log_widget.has_focus
            await pilot.press("d")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("escape")  # keep it
            assert not line.deleted
            await pilot.press("d")
            await pilot.click("#answer-delete")
            await wait_until(pilot, lambda: line.deleted, message="not deleted")
    finally:
        close_http(server)


async def test_react_shows_at_once_and_the_stream_event_does_not_count_twice(
    server: ServerThread,
) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            post(server, "acme/main", "react to this")
            await wait_until(pilot, lambda: bool(lines_with(app, "react to this")))
            (line,) = lines_with(app, "react to this")
            app.main.active_log.select_seq(line.seq)  # type: ignore[union-attr]
            await type_and_send(pilot, "/react :tada:")
            assert line.reactions == {"tada": 1}  # at once
            await settled(pilot, app, server)
            assert line.reactions == {"tada": 1}
            stored = http(server).get(
                f"{server.api_url}/flows/acme/main/messages/{line.id}", auth=(server.token, "")
            )
            assert list(stored.json()["emojiReactions"]) == ["tada"]
    finally:
        close_http(server)


async def test_unreact_takes_ones_own_reaction_off(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            post(server, "acme/main", "react then regret")
            await wait_until(pilot, lambda: bool(lines_with(app, "react then regret")))
            (line,) = lines_with(app, "react then regret")
            app.main.active_log.select_seq(line.seq)  # type: ignore[union-attr]
            await type_and_send(pilot, "/react :tada:")
            await settled(pilot, app, server)
            assert line.reactions == {"tada": 1}
            await type_and_send(pilot, "/unreact :tada:")
            assert not line.reactions  # at once
            await settled(pilot, app, server)
            assert not line.reactions  # and the stream's event does not bring it back
            stored = http(server).get(
                f"{server.api_url}/flows/acme/main/messages/{line.id}", auth=(server.token, "")
            )
            assert not stored.json().get("emojiReactions")
    finally:
        close_http(server)


async def test_tag_and_untag_the_selected_message(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            post(server, "acme/main", "tag me")
            await wait_until(pilot, lambda: bool(lines_with(app, "tag me")))
            (line,) = lines_with(app, "tag me")
            app.main.active_log.select_seq(line.seq)  # type: ignore[union-attr]
            await type_and_send(pilot, "/tag #release #urgent")
            await settled(pilot, app, server)
            await wait_until(pilot, lambda: {"release", "urgent"} <= set(line.tags))
            await type_and_send(pilot, "/untag #urgent")
            await settled(pilot, app, server)
            await wait_until(pilot, lambda: "urgent" not in line.tags)
            stored = http(server).get(
                f"{server.api_url}/flows/acme/main/messages/{line.id}", auth=(server.token, "")
            )
            tags = stored.json()["tags"]
            assert "release" in tags and "urgent" not in tags
    finally:
        close_http(server)


async def test_reply_opens_the_thread_and_its_input_replies_in_it(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            post(server, "acme/main", "start a thread")
            await wait_until(pilot, lambda: bool(lines_with(app, "start a thread")))
            (first,) = lines_with(app, "start a thread")
            app.main.active_log.select_seq(first.seq)  # type: ignore[union-attr]
            await pilot.press("ctrl+r")
            assert isinstance(app.screen, ThreadScreen)
            assert app.screen.query_one("#thread-input", MessageInput).has_focus
            await type_and_send(pilot, "a reply")
            await wait_until(pilot, lambda: app.outbox is not None and app.outbox.waiting == 0)
            await wait_until(pilot, lambda: any(m.id for m in lines_with(app, "a reply")))
            (reply,) = lines_with(app, "a reply")
            assert reply.thread_id == first.thread_id and reply.is_reply
            await wait_until(
                pilot,
                lambda: any(
                    "a reply" in app.screen.query_one(FlowLog).row_text(y) for y in range(20)
                ),
            )
    finally:
        close_http(server)


async def test_msg_opens_the_private_tab_and_sends_there(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await type_and_send(pilot, "/msg ngozi hi in private")
            await wait_until(pilot, lambda: app.main.active_key[0] == "private")  # type: ignore[index]
            key = app.main.active_key
            assert key is not None
            await wait_until(pilot, lambda: app.outbox is not None and app.outbox.waiting == 0)
            store = app.stores()[key]
            await wait_until(pilot, lambda: any(m.text == "hi in private" for m in store))
            response = http(server).get(
                f"{server.api_url}/private/{me_id(server)}/messages",
                auth=(user_token(server, "ngozi"), ""),
            )
            assert [m["content"] for m in response.json()].count("hi in private") == 1
    finally:
        close_http(server)


async def test_post_faults_retry_without_duplicates(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            assert app.outbox is not None and app.outbox.sender is not None
            from flowview.protocol.sender import SenderPolicy

            app.outbox.sender.policy = SenderPolicy(base_delay=0.05, timeout_grace=0.1)
            # Stored, but the answer is lost: the history check finds it; never posted twice.
            fault(server, scope="write", kind="drop_response")
            await type_and_send(pilot, "stored but answer lost")
            # 503 twice, then through (with Retry-After honoured: 1 s).
            fault(server, scope="write", kind="status", status=503, count=2, retry_after=1)
            await type_and_send(pilot, "after two 503s")
            await wait_until(
                pilot, lambda: app.outbox.waiting == 0, timeout=20, message="outbox not empty"
            )
            await settled(pilot, app, server)
            for text in ("stored but answer lost", "after two 503s"):
                assert server_texts(server, "acme/main", text) == 1
                assert len(lines_with(app, text)) == 1
    finally:
        close_http(server)


async def test_a_refused_message_says_why_and_can_be_edited_and_retried(
    server: ServerThread,
) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            fault(server, scope="write", kind="status", status=422, count=1)
            await type_and_send(pilot, "refused once")
            await wait_until(
                pilot,
                lambda: any(
                    (m.outbox or "").startswith("failed") for m in lines_with(app, "refused once")
                ),
            )
            (line,) = lines_with(app, "refused once")
            assert "HTTP 422" in (line.outbox or "")
            app.main.active_log.select_seq(line.seq)  # type: ignore[union-attr]
            await pilot.press("escape", "e")
            assert field(app).has_focus and field(app).text == "refused once"
            await pilot.press("space", "2", "enter")
            await settled(pilot, app, server)
            assert [m.text for m in app.stores()[app.main.active_key] if "refused" in m.text] == [  # type: ignore[index]
                "refused once 2"
            ]
            assert server_texts(server, "acme/main", "refused once 2") == 1
    finally:
        close_http(server)


async def test_quit_with_unsent_messages_asks_first(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            fault(server, scope="write", kind="status", status=503, count=50, retry_after=60)
            await type_and_send(pilot, "not yet sent")
            await pilot.press("ctrl+q")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.click("#answer-cancel")
            assert app.is_running and not isinstance(app.screen, ConfirmScreen)
            await pilot.press("ctrl+q")
            await pilot.click("#answer-quit")
            await wait_until(pilot, lambda: not app.is_running)
    finally:
        close_http(server)


async def test_enter_on_a_name_in_the_members_pane_opens_the_private_conversation(
    server: ServerThread,
) -> None:
    from flowview.tui.widgets.members_pane import MembersPane

    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await pilot.press("f4")
            pane = app.main.query_one("#members", MembersPane)
            await wait_until(pilot, lambda: any(u.nick == "ngozi" for u in pane._people))
            await pilot.press("tab", "tab")  # input -> messages -> members
            assert pane.has_focus
            steps = [u.nick for u in pane._people].index("ngozi") - pane.cursor
            await pilot.press(*(["down"] * steps))
            assert pane.chosen is not None and pane.chosen.nick == "ngozi"
            await pilot.press("enter")
            ngozi = user_id(server, "ngozi")
            await wait_until(
                pilot, lambda: app.main.active_key == private_key(me_id(server), ngozi)
            )
            assert field(app).has_focus
            await type_and_send(pilot, "hello ngozi")
            await wait_until(pilot, lambda: app.outbox is not None and app.outbox.waiting == 0)
            response = http(server).get(
                f"{server.api_url}/private/{me_id(server)}/messages",
                auth=(user_token(server, "ngozi"), ""),
            )
            assert [m["content"] for m in response.json()].count("hello ngozi") == 1
    finally:
        close_http(server)


def user_id(srv: ServerThread, nick: str) -> str:
    return next(u.id for u in srv.state.users.values() if u.nick == nick)


async def test_tab_completes_a_nick_of_the_flow(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await pilot.press("f4")  # loads the flow's members
            await pilot.press("f4")
            await pilot.press("@", "n", "g", "o", "tab")
            assert field(app).text == "@ngozi "
            assert field(app).has_focus  # Tab completed instead of moving the focus
    finally:
        close_http(server)


async def test_alt_digit_as_a_terminal_sends_it_switches_tabs_while_typing(
    server: ServerThread,
) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await pilot.press("h", "i")
            # What xterm/tmux deliver for alt+2: a printable "™" named trade_mark_sign.
            field(app).post_message(events.Key("trade_mark_sign", "™"))
            await wait_until(pilot, lambda: app.main.active_key == app.main.keys_in_order()[1])
            assert "™" not in field(app).text
            await pilot.press("ctrl+p")  # back: the draft of the first tab is still there
            await wait_until(pilot, lambda: app.main.active_key == app.main.keys_in_order()[0])
            assert field(app).text == "hi"
    finally:
        close_http(server)


async def test_reply_to_an_integration_item_is_a_comment_on_it(server: ServerThread) -> None:
    flow_token = server.state.flows_by_slug["acme/main"].api_token
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            http(server).post(
                f"{server.base_url}/messages",
                json={
                    "flow_token": flow_token,
                    "event": "activity",
                    "author": {"name": "ci"},
                    "title": "Build 7 failed",
                    "external_thread_id": "ci:7",
                    "thread": {"title": "Build 7"},
                },
            ).raise_for_status()
            key = app.main.keys_in_order()[0]
            await wait_until(pilot, lambda: any(m.kind == "activity" for m in app.stores()[key]))
            item = next(m for m in app.stores()[key] if m.kind == "activity")
            app.main.active_log.select_seq(item.seq)  # type: ignore[union-attr]
            await pilot.press("ctrl+r")
            assert isinstance(app.screen, ThreadScreen) and app.screen.comment_on == item.id
            await type_and_send(pilot, "looking into it")
            await wait_until(pilot, lambda: app.outbox is not None and app.outbox.waiting == 0)
            await wait_until(
                pilot,
                lambda: any(
                    m.kind == "comment" and m.id is not None
                    for m in lines_with(app, "looking into it")
                ),
            )
            (comment,) = lines_with(app, "looking into it")
            assert comment.thread_id == item.thread_id
            response = http(server).get(
                f"{server.api_url}/flows/acme/main/messages",
                params={"event": "comment"},
                auth=(server.token, ""),
            )
            comments = [m for m in response.json() if m["content"].get("text") == "looking into it"]
            assert len(comments) == 1
    finally:
        close_http(server)


async def test_drafts_and_input_history_survive_a_restart(server: ServerThread) -> None:
    for round_ in range(2):
        app = make_app(server)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await wait_live(pilot, app)
                await wait_until(pilot, lambda app=app: app.outbox is not None)
                if round_ == 0:
                    await type_and_send(pilot, "sent before")
                    await pilot.press("h", "a", "l", "f")
                    await pilot.press("ctrl+n")  # the draft stays with Main
                    await pilot.press("ctrl+q")
                    await wait_until(pilot, lambda app=app: not app.is_running)
                else:
                    assert field(app).text == "half"
                    field(app).draft = ""
                    await pilot.press("ctrl+up")
                    assert field(app).text == "sent before"
        finally:
            close_http(server)


async def test_quit_can_wait_for_the_outbox_to_empty(server: ServerThread) -> None:
    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            fault(server, scope="write", kind="status", status=429, count=1, retry_after=1)
            await type_and_send(pilot, "sent while quitting")
            await pilot.press("ctrl+q")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.click("#answer-wait")
            await wait_until(pilot, lambda: not app.is_running, timeout=15)
        assert server_texts(server, "acme/main", "sent while quitting") == 1
    finally:
        close_http(server)


async def test_a_message_the_outbox_cannot_store_stays_in_the_input(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowview.protocol.outbox_store import OutboxStore

    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)

            def disk_full(self: OutboxStore, record: dict[str, Any]) -> None:
                raise OSError(28, "No space left on device")

            monkeypatch.setattr(OutboxStore, "put", disk_full)
            await type_and_send(pilot, "no room for this")
            assert field(app).text == "no room for this"
            note = app.main.query_one("#compose-note")
            assert note.display and "No space left on device" in str(note.render())
            assert not lines_with(app, "no room for this")
            assert server_texts(server, "acme/main", "no room for this") == 0
            assert app.is_running
    finally:
        close_http(server)
