"""Gap markers: "messages may be missing — fetching" where a hole opened, gone when filled."""

from __future__ import annotations

from typing import Any

from flowview.model.router import GAP_TEXT, Router
from flowview.model.store import ConversationStore
from flowview.protocol.events import ConversationKey, parse_event
from flowview.protocol.items import GapClosed, GapOpened

FLOW = "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8"
KEY: ConversationKey = ("flow", FLOW)


def msg(mid: int, *, flow: str = FLOW, user: str = "2") -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "flow": flow,
        "user": user,
        "content": f"message {mid}",
        "sent": 1_700_000_000_000 + mid,
        "tags": [],
    }


def private(mid: int, user: str) -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "to": "263186",
        "user": user,
        "content": f"private {mid}",
        "sent": 1_700_000_000_000 + mid,
        "tags": [],
    }


def route(router: Router, *mids: int) -> None:
    for mid in mids:
        assert router.route(parse_event(msg(mid))).effect == "appended"


def shown(store: ConversationStore) -> list[int | str]:
    return [m.id if m.id is not None else m.kind for m in store]


def test_backfilled_events_fill_the_hole_below_the_marker_which_then_goes(router: Router) -> None:
    route(router, 1, 2)
    opened = GapOpened(KEY, after_id=2, reason="stream outage longer than the replay")
    result = router.open_gap(opened.key, opened.after_id, opened.reason)
    assert result.effect == "appended" and result.message is not None
    assert result.message.kind == "gap" and result.message.text.startswith(GAP_TEXT)
    assert "replay" in result.message.text
    assert router.open_gaps == [(KEY, 2)]
    route(router, 7, 8)  # live again before the back-fill succeeds
    store = router.stores[KEY]
    assert shown(store) == [1, 2, "gap", 7, 8]
    epoch = store.epoch
    route(router, 3, 4, 5, 6)  # recovered, older than what is shown: placed by id
    assert shown(store) == [1, 2, "gap", 3, 4, 5, 6, 7, 8]
    closed = GapClosed(KEY, after_id=2, recovered=4)
    result = router.close_gap(closed.key, closed.after_id, closed.recovered)
    assert result.effect == "updated" and result.message is not None
    assert result.message.kind == "gap"
    assert shown(store) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert store.epoch > epoch  # positions changed: views rebuild
    assert router.open_gaps == []
    assert [store.index_of(m.seq) for m in store] == list(range(8))


def test_a_reannounced_gap_shows_once(router: Router) -> None:
    route(router, 1)
    assert router.open_gap(KEY, 1, "outage").effect == "appended"
    assert router.open_gap(KEY, 1, "outage again after a reconnect").effect == "ignored"
    assert shown(router.stores[KEY]) == [1, "gap"]


def test_a_gap_after_an_id_between_shown_ones(router: Router) -> None:
    route(router, 10, 20)
    router.open_gap(KEY, 15, "")
    assert shown(router.stores[KEY]) == [10, "gap", 20]
    assert router.stores[KEY][1].text == GAP_TEXT


def test_two_holes_close_independently(router: Router) -> None:
    route(router, 1)
    router.open_gap(KEY, 1, "first")
    route(router, 5)
    router.open_gap(KEY, 5, "second")
    route(router, 9)
    store = router.stores[KEY]
    assert shown(store) == [1, "gap", 5, "gap", 9]
    router.close_gap(KEY, 5, 0)
    assert shown(store) == [1, "gap", 5, 9]
    assert router.open_gaps == [(KEY, 1)]
    assert "first" in store[1].text


def test_a_new_private_conversation_opens_with_its_gap(router: Router) -> None:
    # A first private message from someone during an outage: nothing was delivered for this
    # conversation yet, so the hole is before everything and the conversation is new.
    key: ConversationKey = ("private", "263186:345062")
    result = router.open_gap(key, None, "new conversation during the outage")
    assert result.opened_conversation and result.effect == "appended"
    recovered = router.route(parse_event(private(100, "345062")))
    assert recovered.key == key and recovered.effect == "appended" and recovered.unread
    assert shown(router.stores[key]) == ["gap", 100]


def test_a_gap_with_nothing_before_it_precedes_every_recovered_event(router: Router) -> None:
    router.open_gap(KEY, None, "nothing delivered yet")
    route(router, 40, 41)
    assert shown(router.stores[KEY]) == ["gap", 40, 41]
    router.close_gap(KEY, None, 2)
    assert shown(router.stores[KEY]) == [40, 41]


def test_closing_an_unknown_gap_changes_nothing(router: Router) -> None:
    route(router, 1)
    assert router.close_gap(KEY, 1, 0).effect == "ignored"
    assert router.close_gap(("flow", "nope"), None, 0).effect == "ignored"
    assert shown(router.stores[KEY]) == [1]


def test_the_reason_is_one_sanitised_line(router: Router) -> None:
    route(router, 1)
    marker = router.open_gap(KEY, 1, "bad\x1b[2J\nthing\u202e").message
    assert marker is not None
    assert "\x1b" not in marker.text and "\n" not in marker.text and "\u202e" not in marker.text


def test_insert_gap_still_marks_a_backfill(router: Router) -> None:
    route(router, 1)
    gap = router.insert_gap(KEY, backfilled=2)
    route(router, 2, 3)
    assert shown(router.stores[KEY]) == [1, "gap", 2, 3]
    assert gap.text == "2 messages back-filled after reconnect"


def test_a_full_store_keeps_its_cap_with_markers(router: Router) -> None:
    small = Router(cap=5)
    for mid in range(1, 6):
        small.route(parse_event(msg(mid)))
    small.open_gap(KEY, 5, "")
    store = small.stores[KEY]
    assert len(store) == 5 and shown(store)[-1] == "gap"
    # A gap older than everything kept is not shown, but still counts as open.
    assert small.open_gap(KEY, None, "").effect == "ignored"
    assert len(store) == 5 and (KEY, None) in small.open_gaps
