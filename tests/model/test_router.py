"""Router: every event type (verbatim protocol samples and malformed ones) lands right."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from flowview.model.line_builders import first_link
from flowview.model.router import Router
from flowview.protocol.events import parse_event
from tests.protocol import samples as S

FLOW = "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8"
JF = ("flow", FLOW)
OULU = ("flow", "irc:ottotest")


def route(router: Router, obj: dict[str, Any]) -> Any:
    return router.route(parse_event(copy.deepcopy(obj)))


def msg(
    mid: int, content: Any = "hi", *, user: str = "2", flow: str = FLOW, **kw: Any
) -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "flow": flow,
        "user": user,
        "content": content,
        "sent": 1_700_000_000_000 + mid,
        "tags": [],
        **kw,
    }


def test_every_verbatim_sample_routes_without_error(router: Router) -> None:
    for name, obj in S.ALL_SAMPLES.items():
        result = route(router, obj)
        assert result.error is None, name
    assert router.errors == 0


def test_doc_message_and_comment(router: Router) -> None:
    r = route(router, S.DOC_MESSAGE)
    assert r.effect == "appended" and r.opened_conversation
    assert r.message.kind == "message" and r.message.text == "Hello World"
    assert router.sender_of(r.message) == "user 2"
    c = route(router, S.DOC_COMMENT)
    assert c.message.kind == "comment"
    assert c.message.title == "Title of parent" and c.message.text == "This is a comment"


def test_message_edit_in_place_and_delete(router: Router) -> None:
    route(router, S.JF_MESSAGE)
    store = router.stores[JF]
    edit = {
        "event": "message-edit",
        "id": 113620,
        "flow": FLOW,
        "user": "345062",
        "content": {"message": 113617, "updated_content": "foo \x1b[31medited"},
        "tags": [],
    }
    r = route(router, edit)
    assert r.effect == "updated"
    m = store.get(113617)
    assert m is not None
    assert m.edited and m.text == "foo ␛[31medited"
    route(router, {**edit, "id": 113621, "content": {"message": 113617, "updated_content": ""}})
    assert m.deleted and m.text == ""
    assert len(store) == 1  # edits never add lines
    # edit of an unknown message is ignored, not a crash
    assert route(router, S.JF_DELETE_REPLY).effect == "ignored"


def test_comment_edit_changes_title_and_text(router: Router) -> None:
    route(router, S.OULU_COMMENT)
    store = router.stores[OULU]
    comment_id = S.OULU_COMMENT["id"]
    edit = {
        **S.OULU_MESSAGE_EDIT_COMMENT,
        "content": {
            "message": comment_id,
            "updated_content": {"title": "<b>new</b>", "text": "edited"},
        },
    }
    assert route(router, edit).effect == "updated"
    m = store.get(comment_id)
    assert m is not None
    assert (m.title, m.text, m.edited) == ("new", "edited", True)


def test_emoji_reactions(router: Router) -> None:
    route(router, S.JF_MESSAGE)
    route(router, S.JF_EMOJI_ADD)
    m = router.stores[JF].get(113617)
    assert m is not None
    assert m.reactions == {"grinning": 1}
    route(
        router,
        {
            **S.JF_EMOJI_ADD,
            "id": 113619,
            "content": {"message": 113617, "emoji": "grinning", "type": "remove"},
        },
    )
    assert m.reactions is None
    assert route(router, S.JF_EMOJI_REMOVE).effect == "ignored"  # unknown target


def test_mention_by_tag_counts_and_read_receipt_clears(router: Router) -> None:
    r = route(router, S.JF_MENTION)
    store = router.stores[JF]
    assert r.mention and r.unread and store.mentions == 1 and store.unread == 1
    t = route(router, S.JF_MENTION_READ)
    assert t.effect == "updated"
    assert store.mentions == 0
    tagged = store.get(113639)
    assert tagged is not None and ":unread:263186" not in tagged.tags


def test_mentions_by_text_and_team(router: Router) -> None:
    assert route(router, msg(1, "hey @testbot look")).mention
    assert route(router, msg(2, "@@team standup")).mention
    assert route(router, msg(3, "@everyone lunch")).mention
    assert not route(router, msg(4, "hey @marc")).mention
    # own messages never mention or count
    own = route(router, msg(5, "@@team from me", user="263186"))
    assert not own.mention and not own.unread
    assert router.stores[JF].unread == 4 and router.stores[JF].mentions == 3


def test_tag_change_updates_tags(router: Router) -> None:
    route(router, msg(1234, flow="deadbeefdeadbeef"))
    route(router, S.DOC_TAG_CHANGE)
    m = router.stores[("flow", "deadbeefdeadbeef")].get(1234)
    assert m is not None
    assert set(m.tags) == {"foo", "bar"}


def test_status_line_file_and_external_user(router: Router) -> None:
    line = route(router, S.OULU_LINE).message
    assert line.kind == "line" and router.sender_of(line) == "otto"
    status = route(router, {**S.OULU_LINE, "event": "status", "id": 253, "content": "busy"}).message
    assert status.kind == "status" and status.text == "busy"
    f = route(router, S.JF_IMAGE).message
    assert f.kind == "file"
    assert f.text == (
        "Screenshot 2019-09-23 at 17.01.48.png (15.2 KB, image/png) "
        "/files/151242/K9XxJNPNdgafnXIigYTkRA/Screenshot 2019-09-23 at 17.01.48.png"
    )
    ext = route(router, S.OULU_EXTERNAL_USER_MESSAGE).message
    assert router.sender_of(ext) == "Robot"


def test_private_messages_open_a_conversation_titled_by_the_other_nick(router: Router) -> None:
    router.set_me("50000", "ville")
    r = route(router, S.OULU_PRIVATE_MESSAGE)
    assert r.opened_conversation and r.is_private
    assert r.key == ("private", "1:50000")
    assert router.stores[r.key].title == "otto"
    f = route(router, S.OULU_FILE_PRIVATE)
    assert f.key == r.key and not f.opened_conversation
    assert "globe.rb (1.9 KB, text/x-ruby-script)" in f.message.text


def test_actions_documented_and_real_shapes(router: Router) -> None:
    add = route(router, S.OULU_ACTION_ADD_PEOPLE).message
    assert add.kind == "action" and add.text == "added test, foobar to the flow"
    join = route(router, S.OULU_ACTION_JOIN).message
    assert join.text == "joined the flow"
    doc = {
        "event": "action",
        "id": 5,
        "flow": "x",
        "user": "1",
        "content": {"type": "add_people", "description": "alice, bob"},
    }
    assert route(router, doc).message.text == "added alice, bob to the flow"
    invite = {**doc, "id": 6, "content": {"type": "invite", "description": "a@b.c"}}
    assert route(router, invite).message.text == "invited a@b.c"
    block = {**doc, "id": 7, "content": {"type": "block", "user": "50000"}}
    assert route(router, block).message.text == "blocked ville"


def test_activity_and_discussion_strip_html(router: Router) -> None:
    base = {
        "id": 10,
        "flow": FLOW,
        "user": "0",
        "app": "influx",
        "content": None,
        "thread_id": "T1",
        "title": '<a href="https://ci.example/1">Build #1</a> failed',
        "body": "<p>Step <b>test</b> failed</p><p>see log</p>",
        "author": {"name": "CI \u202ebot"},
    }
    a = route(router, {**base, "event": "activity"}).message
    assert a.kind == "activity"
    assert a.title == "Build #1 failed" and a.text == "Step test failed\nsee log"
    assert router.sender_of(a) == "CI bot"
    d = route(router, {**base, "event": "discussion", "id": 11}).message
    assert d.kind == "discussion" and d.thread_id == "T1"


def test_user_edit_renames_everywhere(router: Router) -> None:
    m = route(router, S.JF_MESSAGE).message
    router.set_me("263186")
    pm = route(
        router, {"event": "message", "id": 1, "to": "263186", "user": "345062", "content": "psst"}
    )
    version = router.users_version
    r = route(
        router,
        {
            "event": "user-edit",
            "flow": FLOW,
            "user": "345062",
            "content": {"user": {"id": 345062, "nick": "Marc\x1b]0;x\x07\u202eX"}},
        },
    )
    assert r.effect == "state"
    assert router.users_version > version
    assert router.sender_of(m) == "Marc␛]0;x\ufffdX"
    assert router.stores[pm.key].title == "Marc␛]0;x\ufffdX"


def test_presence_and_activity_user(router: Router) -> None:
    assert route(router, S.OULU_PRESENCE).effect == "state"
    assert router.presence_of("1") == "active"
    route(router, {**S.OULU_PRESENCE, "content": {"user_id": 1, "state": 1000000}})
    assert router.presence_of("1") == "idle"
    r = route(router, S.DOC_ACTIVITY_USER)
    assert r.effect == "state" and router.presence_of("2") == "active"
    assert router.users["2"].last_activity == 1317715364447
    stale = {**S.DOC_ACTIVITY_USER, "sent": 1317715364447 + 3_600_000}
    route(router, stale)
    assert router.presence_of("2") == "idle"
    # presence never adds a line
    assert all(len(s) == 0 for s in router.stores.values())


def test_flow_add_remove_and_members(router: Router) -> None:
    router.set_me("1", "otto")
    r = route(router, S.OULU_FLOW_ADD)
    assert r.effect == "appended" and r.opened_conversation
    assert router.flows["irc:ottotest"].name == "Ottotest"
    assert router.stores[OULU].title == "Ottotest"
    assert "you were added" in r.message.text
    join = route(
        router,
        {
            "event": "backend.user.join",
            "id": 50,
            "flow": "irc:ottotest",
            "user": "1",
            "content": {"user": {"id": 77, "nick": "newbie"}},
        },
    )
    assert join.message.text == "newbie joined the flow"
    assert [u.nick for u in router.members_of("irc:ottotest")] == ["newbie", "otto"]
    block = route(router, S.OULU_BLOCK)
    assert (
        block.message.kind == "system" and block.message.text == "ville was removed from the flow"
    )
    route(router, {**S.OULU_BLOCK, "id": 12993, "content": "77"})
    assert [u.nick for u in router.members_of("irc:ottotest")] == ["otto"]
    rem = route(router, S.OULU_FLOW_REMOVE)
    assert router.flows["irc:ottotest"].removed
    assert rem.message.text == "you were removed from this flow"


def test_unknown_events_become_one_dim_line(router: Router) -> None:
    r = route(router, S.OULU_EMAIL)
    assert r.effect == "appended" and r.message.kind == "unknown"
    assert r.message.text == "mail event (not shown)"
    assert not r.unread
    hostile = route(router, {"event": "x\x1b[2Jy", "id": 2, "flow": FLOW})
    assert "\x1b" not in hostile.message.text
    # an unknown event with no conversation is just ignored
    assert route(router, {"event": "internal"}).effect == "ignored"


@pytest.mark.parametrize(
    "obj",
    [
        {"event": "message", "flow": FLOW, "id": "x", "content": {"not": "text"}},
        {"event": "message-edit", "flow": FLOW, "content": "garbage"},
        {"event": "tag-change", "flow": FLOW, "content": {"message": 1, "add": "notalist"}},
        {"event": "emoji-reaction", "flow": FLOW, "content": None},
        {"event": "file", "flow": FLOW, "id": 9, "content": {"file_size": "huge"}},
        {"event": "action", "flow": FLOW, "id": 10, "content": ["x"]},
        {"event": "user-edit", "content": {"user": "x"}},
        {"event": "presence", "content": []},
        {"event": "flow-add", "content": None},
        {"event": "flow-remove"},
        {"event": "backend.user.join", "flow": FLOW, "content": 5},
        {"event": "backend.user.block", "flow": FLOW, "content": {}},
        {"event": "activity", "flow": FLOW, "id": 11, "title": 5, "body": ["x"], "author": "a"},
        {"event": "comment", "flow": FLOW, "id": 12, "content": None, "tags": ["influx:x"]},
    ],
)
def test_malformed_events_never_raise(router: Router, obj: dict[str, Any]) -> None:
    r = route(router, obj)
    assert r.effect in ("appended", "updated", "state", "ignored")
    assert router.errors == 0


def test_a_failing_handler_is_counted_and_skipped(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("bad \x1b[31m thing")

    monkeypatch.setattr(router, "_append", boom)  # every line goes through it
    r = route(router, S.JF_MESSAGE)
    assert r.effect == "ignored" and router.errors == 1
    assert r.error is not None and "\x1b" not in r.error
    monkeypatch.undo()
    assert route(router, S.JF_MESSAGE).effect == "appended"


def test_failures_are_counted_once_each_logged_and_never_for_ignored_events(
    router: Router, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_append = router._append

    def sometimes(key: Any, event: Any, *rest: Any) -> Any:
        if event.id in (101, 103):
            raise ValueError(f"bad item {event.id}\u202e\x07")
        return real_append(key, event, *rest)

    monkeypatch.setattr(router, "_append", sometimes)
    # Ignored events (duplicates, unknown targets, malformed) are not failures.
    route(router, msg(100))
    route(router, msg(100))
    route(router, {"event": "message-edit", "flow": FLOW, "content": {"message": 999}})
    assert router.errors == 0 and router.last_error is None
    with caplog.at_level(logging.ERROR, logger="flowview.model.router"):
        assert route(router, msg(101)).error is not None
        added = router.merge_history(JF, [parse_event(msg(i)) for i in (102, 103, 104)])
    assert added == 2  # the bad item is skipped, the rest merged
    assert [m.id for m in router.stores[JF]] == [100, 102, 104]
    assert router.errors == 2
    assert router.last_error == "ValueError: bad item 103\ufffd"  # one printable line
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 2
    assert all("skipped" in r.getMessage() for r in failures)


def test_duplicates_by_id_are_ignored(router: Router) -> None:
    assert route(router, S.JF_MESSAGE).effect == "appended"
    assert route(router, S.JF_MESSAGE).effect == "ignored"
    assert len(router.stores[JF]) == 1


def test_merge_history_orders_and_dedupes_without_counting_unread(router: Router) -> None:
    for i in (50, 51):
        route(router, msg(i))
    history = [parse_event(msg(i)) for i in (45, 46, 47, 50)]
    history.append(parse_event({**S.REST_MESSAGE, "id": 48}))
    added = router.merge_history(JF, history)
    store = router.stores[JF]
    assert added == 4
    assert [m.id for m in store] == [45, 46, 47, 48, 50, 51]
    assert store.unread == 2  # only the streamed ones
    rest = store.get(48)
    assert rest is not None
    assert rest.edited and not rest.mention_unread


def test_insert_gap_sits_between_old_and_backfilled(router: Router) -> None:
    route(router, msg(1))
    gap = router.insert_gap(JF, backfilled=2)
    route(router, msg(2))
    route(router, msg(3))
    store = router.stores[JF]
    assert [m.kind for m in store] == ["message", "gap", "message", "message"]
    assert gap.text == "2 messages back-filled after reconnect"


def test_threads_replies_and_titles(router: Router) -> None:
    starter = route(router, S.JF_MESSAGE).message  # initial_message == id
    assert starter.thread_id == "UnT2upC78QYpTODOr-ZCOA3nJkV" and not starter.is_reply
    reply = route(router, {**S.JF_MESSAGE, "id": 113700, "content": "a reply"}).message
    assert reply.is_reply and reply.thread_title == "foo"
    # without a thread object: a reply if the thread was seen before, titled by its start
    bare = route(router, msg(113701, "bare reply", thread_id="UnT2upC78QYpTODOr-ZCOA3nJkV")).message
    assert bare.is_reply and bare.thread_title == "foo"
    store = router.stores[JF]
    assert [m.id for m in store.thread_messages(starter.thread_id)] == [113617, 113700, 113701]


def test_first_link_only_http(router: Router) -> None:
    m = route(router, msg(1, "see javascript:alert(1) and https://ok.example/x")).message
    assert first_link(m) == "https://ok.example/x"
    m2 = route(router, msg(2, "file:///etc/passwd")).message
    assert first_link(m2) is None


def test_nick_fallbacks(router: Router) -> None:
    assert router.nick_of("424242") == "user 424242"
    assert router.nick_of("0") == "integration"
    assert router.nick_of(None) == "unknown"
    router.add_users([{"id": "424242", "nick": "evil\u202eevil\nnick"}])
    assert router.nick_of("424242") == "evilevil nick"


def test_mute_names_are_slugs_and_the_other_persons_id(router: Router) -> None:
    assert router.mute_name(JF) == "rulemotion/sandbox"
    assert router.mute_name(("flow", "unknown-id")) == "unknown-id"
    # The same name whichever way round the pair is written.
    assert router.mute_name(("private", "263186:345062")) == "private:345062"
    assert router.mute_name(("private", "345062:263186")) == "private:345062"


def test_a_new_chat_line_is_looked_up_by_id_once(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path of a burst: the duplicate check is done once per line, not again by the
    store's insert."""
    route(router, msg(1))
    store = router.stores[JF]
    looked_up: list[int] = []
    real_get = store.get

    def get(message_id: int) -> Any:
        looked_up.append(message_id)
        return real_get(message_id)

    monkeypatch.setattr(store, "get", get)
    assert route(router, msg(2)).effect == "appended"
    assert looked_up == [2]
    assert route(router, msg(2)).effect == "ignored"  # still deduplicated
    assert [m.id for m in store] == [1, 2]
