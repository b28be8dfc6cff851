"""Outbox lines in a conversation: shown at once, replaced in place by the echo exactly once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flowview.model.pending import PendingLines, note_for
from flowview.model.router import Router
from flowview.protocol.events import parse_event
from flowview.protocol.sender import Destination, ItemState, OutboxItem, StateChanged
from tests.model.sample_flow import SAMPLE_FLOW

ME = "263186"
KEY = ("flow", SAMPLE_FLOW)
DEST = Destination.flow("rulemotion/sandbox")


def msg(mid: int, text: str, *, user: str = "345062", **extra: Any) -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "flow": SAMPLE_FLOW,
        "user": user,
        "sent": 1_700_000_000_000 + mid,
        "content": text,
        **extra,
    }


def lines(router: Router) -> list[tuple[int | None, str, str | None]]:
    return [(m.id, m.text, m.outbox) for m in router.stores[KEY]]


def pending(router: Router) -> PendingLines:
    return PendingLines(router, lambda dest: KEY if dest == DEST else None)


def item(text: str, uuid: str = "u-1", **kw: Any) -> OutboxItem:
    return OutboxItem(uuid=uuid, dest=DEST, op="post", seq=1, content=text, **kw)


def test_a_pending_line_becomes_its_echo_in_place_once(router: Router) -> None:
    router.route(parse_event(msg(10, "before")))
    lines_ = pending(router)
    lines_.apply(StateChanged(item("hello"), None))
    store = router.stores[KEY]
    line = store.pending_line("u-1")
    assert line is not None and line.user_id == ME and line.outbox == "sending"
    seq = line.seq
    assert lines(router) == [(10, "before", None), (None, "hello", "sending")]

    # Someone else's message arrives first: it goes above the pending line, which stays last.
    router.route(parse_event(msg(11, "other")))
    assert [t for _, t, _ in lines(router)] == ["before", "other", "hello"]

    echo = msg(12, "hello", user=ME, uuid="u-1")
    result = router.route(parse_event(echo))
    assert result.effect == "updated"
    assert lines(router) == [(10, "before", None), (11, "other", None), (12, "hello", None)]
    assert store.pending_line("u-1") is None and store.get(12) is line and line.seq == seq
    assert store.unread == 2  # "before" and "other": one's own echo is never unread

    # The same event again (the REST answer after the echo, or a back-fill): nothing changes.
    assert router.route(parse_event(echo)).effect == "ignored"
    assert len(store) == 3


def test_the_rest_answer_confirms_before_the_echo_and_the_echo_is_then_a_duplicate(
    router: Router,
) -> None:
    lines_ = pending(router)
    sent = item("via rest", thread_id=None)
    lines_.apply(StateChanged(sent, None))
    answer = msg(20, "via rest", user=ME, thread_id="th-20")
    done = replace(sent, state=ItemState.SENT, result_id=20, result=answer)
    lines_.apply(StateChanged(done, ItemState.SENDING))
    store = router.stores[KEY]
    assert lines(router) == [(20, "via rest", None)]
    assert store.get(20) is not None and store.get(20).thread_id == "th-20"  # type: ignore[union-attr]
    router.route(parse_event(msg(20, "via rest", user=ME, uuid="u-1")))
    assert lines(router) == [(20, "via rest", None)]


def test_failed_lines_say_why_and_discarded_lines_go(router: Router) -> None:
    lines_ = pending(router)
    first = item("bad", uuid="u-bad")
    lines_.apply(StateChanged(first, None))
    failed = replace(first, state=ItemState.FAILED, error="HTTP 400: content \x1b[31mtoo long")
    lines_.apply(StateChanged(failed, ItemState.SENDING))
    (line,) = router.stores[KEY]
    assert line.outbox is not None and line.outbox.startswith("failed: HTTP 400: content")
    assert "\x1b" not in line.outbox
    assert "e edit and retry, d discard" in line.outbox
    lines_.apply(StateChanged(replace(first, state=ItemState.DISCARDED), ItemState.FAILED))
    assert lines(router) == []


def test_notes_of_each_state() -> None:
    assert note_for(item("x", state=ItemState.QUEUED)) == "sending"
    assert note_for(item("x", state=ItemState.WAITING, error="HTTP 503: busy")).startswith(
        "waiting to resend: HTTP 503"
    )
    assert note_for(item("x", state=ItemState.UNKNOWN)).startswith("unknown")


def test_own_reaction_shows_at_once_and_its_event_does_not_count_twice(router: Router) -> None:
    router.route(parse_event(msg(30, "nice")))
    lines_ = pending(router)
    react = OutboxItem(
        uuid="r-1", dest=DEST, op="react", seq=1, message_id=30, emoji="tada", add=True
    )
    lines_.apply(StateChanged(react, None))
    store = router.stores[KEY]
    assert store.get(30).reactions == {"tada": 1}  # type: ignore[union-attr]
    event = {
        "event": "emoji-reaction",
        "flow": SAMPLE_FLOW,
        "user": ME,
        "content": {"message": 30, "type": "add", "emoji": "tada"},
    }
    router.route(parse_event(event))
    assert store.get(30).reactions == {"tada": 1}  # type: ignore[union-attr]
    router.route(parse_event({**event, "user": "1"}))  # someone else's counts
    assert store.get(30).reactions == {"tada": 2}  # type: ignore[union-attr]


def test_a_refused_reaction_is_taken_back(router: Router) -> None:
    router.route(parse_event(msg(31, "hm")))
    lines_ = pending(router)
    react = OutboxItem(
        uuid="r-2", dest=DEST, op="react", seq=1, message_id=31, emoji="eyes", add=True
    )
    lines_.apply(StateChanged(react, None))
    lines_.apply(StateChanged(replace(react, state=ItemState.FAILED), ItemState.SENDING))
    assert router.stores[KEY].get(31).reactions is None  # type: ignore[union-attr]
    lines_.apply(StateChanged(replace(react, state=ItemState.DISCARDED), ItemState.FAILED))
    assert router.stores[KEY].get(31).reactions is None  # type: ignore[union-attr]


def test_lines_say_they_wait_for_the_connection_while_the_stream_is_down(
    router: Router,
) -> None:
    lines_ = pending(router)
    lines_.apply(StateChanged(item("typed while live"), None))
    assert lines_.set_online(False) == {KEY}
    assert lines(router) == [(None, "typed while live", "waiting for the connection")]
    lines_.apply(StateChanged(item("typed offline", uuid="u-2"), None))
    assert lines(router)[-1][2] == "waiting for the connection"
    assert lines_.set_online(True) == {KEY}
    assert [note for _, _, note in lines(router)] == ["sending", "sending"]
    assert lines_.set_online(True) == set()  # nothing changed: no repaint
