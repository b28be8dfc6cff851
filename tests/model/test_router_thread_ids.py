"""Thread ids as the router stores them: a thread's first message keeps its plain id as it
came (no cache: a new thread's id is new), anything else is sanitised as `clean_name` does,
whichever path routes it (a burst's `route_batch`, or `route`); replies share the stored first
message's id object, so a thread holds its id once."""

from __future__ import annotations

from typing import Any

import pytest

from flowview.model.router import Router
from flowview.model.sanitize import clean_name
from flowview.protocol.events import parse_event

FLOW = "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8"
KEY = ("flow", FLOW)

ODD_IDS = [
    "plain-id_27chars-AbCdEfGhIjK",
    "t\u202eevil",  # a bidi override
    "tab\tin",
    " lead",
    "two  spaces",
    "one space",
    "x" * 100,
    "y" * 101,  # too long: cut with an ellipsis
    "ünïcode",
    "zero\u200bwidth",
    "\x1b[31mred",
]


def starter(mid: int, thread_id: str, **kw: Any) -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "flow": FLOW,
        "user": "2",
        "content": f"line {mid}",
        "sent": 1_700_000_000_000 + mid,
        "tags": [],
        "thread_id": thread_id,
        "thread": {"initial_message": mid, "title": ""},
        **kw,
    }


def reply(mid: int, thread_id: str, initial: int | None) -> dict[str, Any]:
    obj = starter(mid, thread_id)
    obj["thread"] = {"initial_message": initial} if initial is not None else {}
    return obj


@pytest.mark.parametrize("batch", [True, False], ids=["route_batch", "route"])
@pytest.mark.parametrize("raw", ODD_IDS)
def test_a_thread_starters_id_is_clean_names(raw: str, batch: bool) -> None:
    router = Router(me_id="1", me_nick="me")
    router.open(KEY)
    event = parse_event(starter(10, raw))
    if batch:
        assert router.route_batch([event]).appended == 1
    else:
        assert router.route(event).effect == "appended"
    stored = router.stores[KEY].messages[-1]
    assert stored.thread_id == clean_name(raw, max_chars=100)
    assert router.stores[KEY].has_thread(clean_name(raw, max_chars=100))


@pytest.mark.parametrize("initial", [10, None], ids=["initial_message", "no_initial"])
@pytest.mark.parametrize("raw", ["plain-id", "t\u202eevil", "y" * 101])
def test_replies_share_the_first_messages_id_object(raw: str, initial: int | None) -> None:
    router = Router(me_id="1", me_nick="me")
    router.open(KEY)
    router.route_batch([parse_event(starter(10, raw))])
    # each reply decoded on its own, as from the wire: equal strings, distinct objects
    router.route_batch([parse_event(reply(11, "".join(list(raw)), initial))])
    router.route(parse_event(reply(12, "".join(list(raw)), initial)))
    first, *replies = router.stores[KEY].messages
    assert first.thread_id == clean_name(raw, max_chars=100)
    for message in replies:
        assert message.thread_id is first.thread_id
        assert message.thread_title == "line 10"  # the first message's text
    assert router.stores[KEY].thread_seqs(first.thread_id) == [m.seq for m in (first, *replies)]


def test_a_reply_whose_first_message_is_not_stored_keeps_its_own_id() -> None:
    router = Router(me_id="1", me_nick="me")
    router.open(KEY)
    router.route(parse_event(reply(11, "t\u202eevil", 10)))
    (only,) = router.stores[KEY].messages
    assert only.thread_id == clean_name("t\u202eevil", max_chars=100)
    assert only.thread_title == ""  # nothing stored to take a title from
