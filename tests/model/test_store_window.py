"""The store as a sliding window over the archive (issue 11): older pages merged into a full
store drop its newest messages (the store detaches), live lines below a detached window are
counted but not stored, pages read back below it drop the oldest, and the window reattaches at
the live end.  Ids stay contiguous at every join; memory stays bounded by the cap."""

from __future__ import annotations

from typing import Any

from flowview.model.router import Router
from flowview.protocol.events import Event, parse_event

FLOW = "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8"
KEY = ("flow", FLOW)
CAP = 20


def event(mid: int, *, user: str = "2", content: str = "hi") -> Event:
    obj: dict[str, Any] = {
        "event": "message",
        "id": mid,
        "flow": FLOW,
        "user": user,
        "content": content,
        "sent": 1_700_000_000_000 + mid,
        "tags": [],
    }
    return parse_event(obj)


def ids(router: Router) -> list[int]:
    return [m.id for m in router.stores[KEY] if m.id is not None]


def small_router() -> Router:
    router = Router(me_id="263186", me_nick="testbot", cap=CAP)
    router.add_users([{"id": "2", "nick": "otto"}, {"id": "263186", "nick": "testbot"}])
    return router


def live(router: Router, first: int, last: int) -> None:
    for mid in range(first, last + 1):
        router.route(event(mid))


def test_an_older_page_into_a_full_store_drops_the_newest_not_the_page() -> None:
    router = small_router()
    live(router, 101, 120)  # full: 20 messages
    store = router.stores[KEY]
    assert not store.detached
    router.merge_older(KEY, [event(i) for i in range(91, 101)])
    assert ids(router) == list(range(91, 111))  # contiguous, the page kept
    assert store.detached
    assert len(store) == CAP
    # Older again: still the page kept, the window slides up.
    router.merge_older(KEY, [event(i) for i in range(81, 91)])
    assert ids(router) == list(range(81, 101))


def test_plain_history_merge_still_drops_the_oldest_when_attached() -> None:
    router = small_router()
    live(router, 101, 120)
    router.merge_history(KEY, [event(i) for i in range(121, 126)])
    assert ids(router) == list(range(106, 126))
    assert not router.stores[KEY].detached


def test_live_lines_below_a_detached_window_are_counted_not_stored() -> None:
    router = small_router()
    live(router, 101, 120)
    store = router.stores[KEY]
    store.mark_read()
    router.merge_older(KEY, [event(i) for i in range(91, 101)])
    before = ids(router)
    result = router.route(event(121, content="hey @testbot"))
    router.route(event(122))
    router.route(event(123, user="263186"))  # my own line: not unread
    assert ids(router) == before  # the window did not move nor grow
    assert len(store) <= CAP
    assert result.effect == "appended" and result.mention and result.unread
    assert store.unread == 2
    assert store.mentions == 1
    assert store.hidden_mentions == [121]
    assert store.hidden_newest == 123


def test_reading_back_below_the_window_reattaches_with_no_join_skipped() -> None:
    router = small_router()
    live(router, 101, 120)
    store = router.stores[KEY]
    store.mark_read()
    router.merge_older(KEY, [event(i) for i in range(81, 101)])  # window 81..100
    assert ids(router) == list(range(81, 101))
    router.route(event(121, content="hey @testbot"))
    assert store.mentions == 1 and store.unread == 1
    shown: list[int] = []
    newest = store.newest_id
    assert newest is not None
    archive = list(range(81, 122))  # what the archive holds
    said = {121: "hey @testbot"}
    while store.detached:
        page = [i for i in archive if i > newest][:10]
        router.merge_newer(KEY, [event(i, content=said.get(i, "hi")) for i in page])
        now = ids(router)
        assert now == list(range(now[0], now[-1] + 1))  # contiguous at the join
        assert len(store) <= CAP
        shown += page
        newest = store.newest_id
        assert newest is not None
        if len(page) < 10 and newest >= (store.hidden_newest or 0):
            store.reattach()
    assert shown == list(range(101, 122))  # every message once, none skipped
    assert ids(router)[-1] == 121
    # The hidden mention is a real unread mention again, counted once.
    assert store.mentions == 1 and store.unread == 1
    mention = store.get(121)
    assert mention is not None and mention.mention_unread
    assert store.hidden_mentions == []
    # Attached again: live lines are stored and follow.
    router.route(event(122))
    assert ids(router)[-1] == 122 and store.unread == 2


def test_a_trimmed_unread_mention_stays_counted() -> None:
    router = small_router()
    live(router, 101, 119)
    router.route(event(120, content="hey @testbot"))
    store = router.stores[KEY]
    assert store.mentions == 1
    router.merge_older(KEY, [event(i) for i in range(91, 101)])
    assert store.get(120) is None  # left the window at its newest end
    assert store.mentions == 1  # the label stays true
    assert store.hidden_mentions == [120]


def test_mark_read_while_detached_reads_up_to_the_live_end() -> None:
    router = small_router()
    live(router, 101, 120)
    store = router.stores[KEY]
    router.merge_older(KEY, [event(i) for i in range(91, 101)])
    router.route(event(121, content="hey @testbot"))
    store.mark_read()
    assert store.read_id == 121
    assert store.unread == 0 and store.mentions == 0


def test_drop_window_keeps_the_counters_and_the_newest_page_reattaches() -> None:
    router = small_router()
    live(router, 101, 120)
    store = router.stores[KEY]
    store.mark_read()
    router.merge_older(KEY, [event(i) for i in range(81, 101)])
    router.route(event(121, content="hey @testbot"))
    store.drop_window()
    assert len(store) == 0 and store.detached
    assert store.mentions == 1 and store.unread == 1
    router.merge_newer(KEY, [event(i) for i in range(112, 122)])
    store.reattach()
    assert ids(router) == list(range(112, 122))
    assert not store.detached
    assert store.mentions == 1


def test_memory_stays_bounded_whatever_the_user_does() -> None:
    router = small_router()
    live(router, 1001, 1020)
    store = router.stores[KEY]
    lowest = 1001
    for _ in range(30):  # scroll far up
        page = [event(i) for i in range(lowest - 10, lowest)]
        lowest -= 10
        router.merge_older(KEY, page)
        live(router, 2000 + _ * 5, 2000 + _ * 5 + 4)  # lines keep arriving
        assert len(store) <= CAP
    assert ids(router) == list(range(lowest, lowest + CAP))


def test_a_seam_below_a_detached_window_is_counted_not_stored() -> None:
    router = small_router()
    live(router, 101, 120)
    store = router.stores[KEY]
    store.mark_read()
    router.merge_older(KEY, [event(i) for i in range(91, 101)])
    window = ids(router)
    # A reconnect's back-fill: what was posted during the outage, below the window.
    added = router.merge_below(KEY, [event(121), event(122, content="hey @testbot")])
    assert added == 2
    assert ids(router) == window
    assert store.unread == 2 and store.mentions == 1
    assert store.hidden_newest == 122


def test_the_window_state_moves_only_along_its_table() -> None:
    router = small_router()
    live(router, 101, 120)
    store = router.stores[KEY]
    store.reattach()  # attached already: nothing happens
    assert store.window == "attached"
    router.merge_older(KEY, [event(100)])
    assert store.detached
    try:
        store._set_window("attached")
        store._set_window("attached")
    except ValueError:
        pass
    else:
        raise AssertionError("attached -> attached was allowed")


def test_a_hidden_mention_deleted_or_read_elsewhere_stops_counting() -> None:
    router = small_router()
    live(router, 101, 120)
    store = router.stores[KEY]
    store.mark_read()
    router.merge_older(KEY, [event(i) for i in range(91, 101)])
    router.route(event(121, content="hey @testbot"))
    router.route(event(122, content="and @testbot again"))
    assert store.mentions == 2
    deletion = {
        "event": "message-edit",
        "id": 123,
        "flow": FLOW,
        "user": "2",
        "content": {"message": 121, "updated_content": ""},
        "tags": [],
    }
    assert router.route(parse_event(deletion)).effect == "state"
    assert store.mentions == 1
    read = {
        "event": "tag-change",
        "id": 124,
        "flow": FLOW,
        "user": "263186",
        "content": {"message": 122, "remove": [":unread:263186"]},
        "tags": [],
    }
    assert router.route(parse_event(read)).effect == "state"
    assert store.mentions == 0 and store.hidden_mentions == []


def test_a_system_line_below_a_detached_window_is_kept_without_faking_the_join() -> None:
    router = small_router()
    live(router, 101, 120)
    store = router.stores[KEY]
    router.merge_older(KEY, [event(i) for i in range(91, 101)])
    newest = store.newest_id
    joined = {
        "event": "backend.user.join",
        "id": 130,
        "flow": FLOW,
        "content": {"user": {"id": "7", "nick": "newbie"}},
    }
    router.route(parse_event(joined))
    assert any(m.kind == "system" for m in store)  # shown, not lost
    assert store.newest_id == newest  # the window's bottom did not jump past 121..129
    router.route(event(121))
    assert store.get(121) is None  # still below the window
