"""The accept step's raw fast path reads (conversation, id) straight from the dict for the
common shapes (flow messages, private messages, presence): it must give exactly what the typed
event's ``key`` and ``id`` give, on any input."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from flowview.protocol.accept import Acceptor
from flowview.protocol.dedupe import Deduper
from flowview.protocol.events import parse_event
from flowview.protocol.items import RawEvent, Skipped

IDS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**15),
    st.sampled_from(["", "0", "7", " 7 ", "x", 1.0, 2.5, float("nan")]),
)
NAMES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 99),
    st.sampled_from(["", "a", "b", "ab", "ä", "10", "9", 7.0]),
    st.dictionaries(st.sampled_from(["id", "name"]), st.sampled_from(["", "a", 5, None])),
    st.lists(st.text(max_size=2), max_size=2),
)
KINDS = st.one_of(st.sampled_from(["message", "comment", "presence", "mail", ""]), IDS)


@given(
    KINDS,
    st.dictionaries(st.sampled_from(["id", "flow", "to", "user", "user_id"]), NAMES | IDS),
)
@example("message", {"flow": None, "to": "b", "user": "a", "id": 3})
@example("message", {"to": "a", "user": "b", "id": 3})
@example("message", {"to": "a", "user": "a"})
@example("presence", {"user": "a"})
@example("presence", {"flow": "", "to": "a", "user": "b", "id": 1})
@example("message", {"flow": None, "to": None, "id": True})
@settings(max_examples=500, deadline=None)
def test_raw_accept_gives_the_typed_events_key_and_id(kind: Any, fields: dict[str, Any]) -> None:
    value = {"event": kind, **fields}
    items, _ = Acceptor(Deduper(), raw=True).accept([value], [b"{}"])
    try:
        ev = parse_event(value)
    except ValueError:
        assert len(items) == 1 and isinstance(items[0], Skipped)
        return
    key, ident = ev.key, ev.id
    assert len(items) == 1
    item = items[0]
    assert isinstance(item, RawEvent)
    assert (item.key, item.id) == (key, ident)
    assert type(item.id) is type(ident)
    assert item.raw is value and item.text == b"{}"


@settings(deadline=None)
@given(st.text(min_size=1, max_size=6), st.text(min_size=1, max_size=6), st.integers(0, 99))
def test_both_directions_of_a_private_chat_are_one_conversation(a: str, b: str, ident: int) -> None:
    acceptor = Acceptor(Deduper(), raw=True)
    first, new_first = acceptor.accept([{"event": "message", "to": a, "user": b, "id": ident}])
    second, new_second = acceptor.accept([{"event": "message", "to": b, "user": a, "id": ident}])
    assert (new_first, new_second) == (1, 0)  # the same message seen from the other side
    assert len(first) == 1 and second == []
