"""Store memory: bytes per stored message, and no growth past the cap whatever arrives."""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Iterator
from typing import Any

from helpers import deep_size

from flowview.model.router import Router
from flowview.model.store import MAX_REACTIONS, MAX_TAGS, ConversationStore
from flowview.protocol.events import ConversationKey, Event, parse_event

FLOW = "f0000000-0000-0000-0000-000000000001"
KEY: ConversationKey = ("flow", FLOW)
ME = "1"
BASE_SENT = 1_700_000_000_000


def chat(mid: int, rng: random.Random) -> dict[str, Any]:
    """A realistic line: ~60 characters, a sender among 50, often a reply in a thread."""
    obj: dict[str, Any] = {
        "event": "message",
        "id": mid,
        "flow": FLOW,
        "user": str(1000 + mid % 50),
        "content": f"message number {mid} with some ordinary chat text in it, ok",
        "sent": BASE_SENT + mid,
        "tags": [],
        "thread_id": f"thread-{rng.randrange(max(1, mid // 4), mid + 1):020d}",
    }
    if rng.random() < 0.05:
        obj["content"] += " @me look"
        obj["tags"] = [f":user:{ME}", f":unread:{ME}"]
    return obj


def churn(start: int, count: int, seed: int) -> Iterator[Event]:
    """Every kind of event that changes a store: new lines (some mentioning the user), edits,
    deletions, reactions (many distinct emoji), tag changes, for recent and long-gone ids."""
    rng = random.Random(seed)
    for mid in range(start, start + count):
        yield parse_event(chat(mid, rng))
        target = rng.randrange(max(1, mid - 3000), mid + 1)
        roll = rng.random()
        if roll < 0.2:
            yield parse_event(
                {
                    "event": "message-edit",
                    "flow": FLOW,
                    "id": 10**9 + mid,
                    "user": "1001",
                    "content": {"message": target, "updated_content": f"edited {mid} " * 3},
                    "sent": BASE_SENT + mid,
                }
            )
        elif roll < 0.5:
            yield parse_event(
                {
                    "event": "emoji-reaction",
                    "flow": FLOW,
                    "id": 2 * 10**9 + mid,
                    "user": "1002",
                    "content": {
                        "message": target,
                        "type": "add",
                        "emoji": f"e{rng.randrange(1000)}",
                    },
                    "sent": BASE_SENT + mid,
                }
            )
        elif roll < 0.7:
            yield parse_event(
                {
                    "event": "tag-change",
                    "flow": FLOW,
                    "id": 3 * 10**9 + mid,
                    "user": "1003",
                    "content": {"message": target, "add": [f"#t{mid}", f"#x{mid}"], "remove": []},
                    "sent": BASE_SENT + mid,
                }
            )


def check_bounded(store: ConversationStore) -> None:
    cap = store.cap
    assert len(store) <= cap
    assert len(store._keys) == len(store)
    assert len(store._by_seq) == len(store)
    assert len(store._idless_keys) <= len(store)
    thread_seqs = sum(1 if isinstance(v, int) else len(v) for v in store._threads.values())
    assert thread_seqs <= len(store) and len(store._threads) <= len(store)
    assert len(store._mention_seqs) <= len(store) and store.mentions <= len(store)
    assert len(store._journal) <= 2048
    for message in store:
        assert len(message.reactions or {}) <= MAX_REACTIONS
        assert len(message.tags) <= MAX_TAGS


def test_bytes_per_stored_message() -> None:
    """A realistic line costs under 450 bytes stored (text, indexes, thread index, sender).

    480 before ids and positions were found by bisecting the sort keys (an id -> message
    dict and the keys as int objects cost ~65 bytes a message)."""
    count = 10_000
    router = Router(me_id=ME, me_nick="me", cap=count)
    rng = random.Random(7)
    events = [parse_event(chat(mid, rng)) for mid in range(1, count + 1)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for event in events:
            router.route(event)
        del events
        gc.collect()
        per_message = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(router.stores[KEY]) == count
    print(f"bytes per stored message: {per_message:.0f}")
    assert per_message < 450, per_message


def test_a_full_store_stops_growing_whatever_arrives() -> None:
    cap = 1_000
    router = Router(me_id=ME, me_nick="me", cap=cap)
    # Fill, then churn until the steady state: each kept message has had its share of edits,
    # reactions and tag changes.
    for event in churn(1, 10 * cap, seed=1):
        router.route(event)
    store = router.stores[KEY]
    check_bounded(store)
    steady = deep_size(store)
    sizes = []
    for step in range(5):
        for event in churn((10 + 2 * step) * cap + 1, 2 * cap, seed=2 + step):
            router.route(event)
        store.mark_read()
        check_bounded(store)
        sizes.append(deep_size(store))
    assert len(store) == cap and store.dropped == 19 * cap
    assert router.errors == 0
    print(f"store of {cap}: steady {steady} bytes, then {sizes}")
    # Ten times the cap later, the store holds what it held (edits, reactions, tags and index
    # entries of dropped messages went with them).
    assert max(sizes) < steady * 1.1, (steady, sizes)


def test_one_message_cannot_grow_without_bound() -> None:
    store = ConversationStore(KEY, "Main")
    from flowview.model.store import StoredMessage

    message = StoredMessage(store.new_seq(), 1, "message", None, "2", "hi")
    store.add(message)
    for i in range(5 * MAX_REACTIONS):
        store.react(1, f"emoji{i}", True)
    store.react(1, "emoji0", True)  # a known emoji still counts
    store.react(1, "never-added", False)  # removing an unknown one does nothing
    assert message.reactions is not None and len(message.reactions) == MAX_REACTIONS
    assert message.reactions["emoji0"] == 2
    for i in range(10):
        store.retag(1, add=[f"#tag{i}-{j}" for j in range(50)] + ["#" + "x" * 1000])
    assert len(message.tags) == MAX_TAGS
    assert all(len(t) <= 200 for t in message.tags)
    store.retag(1, remove=[message.tags[0]], add=["#fresh"])
    assert "#fresh" in message.tags and len(message.tags) == MAX_TAGS


def test_tags_arriving_with_a_message_are_bounded_too() -> None:
    router = Router(me_id=ME, cap=10)
    obj = chat(1, random.Random(1))
    obj["tags"] = [f"#t{i}" for i in range(1000)] + ["#" + "y" * 5000]
    router.route(parse_event(obj))
    [message] = router.stores[KEY]
    assert len(message.tags) == MAX_TAGS
    router.route(parse_event({**chat(2, random.Random(1)), "tags": ["#a", ":user:1"]}))
    assert router.stores[KEY][1].tags == ("#a", ":user:1")


def test_looking_messages_up_costs_no_memory_per_message() -> None:
    """Positions (`index_of`, asked by every view on edits and scrolling) and ids (`get`) come
    from the sort keys: no per-message map is built (a seq -> position dict cost ~70 bytes a
    message, in every store a view had looked at)."""
    count = 10_000
    router = Router(me_id=ME, me_nick="me", cap=count + 1)
    rng = random.Random(3)
    for mid in range(1, count + 1):
        router.route(parse_event(chat(mid, rng)))
    store = router.stores[KEY]
    gap = router.open_gap(KEY, count // 2, "test").message  # an entry without an id
    assert gap is not None
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        positions = [store.index_of(m.seq) for m in store.messages[::97]]
        found = [store.get(mid) for mid in range(1, count + 1, 89)]
        gap_at = store.index_of(gap.seq)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert positions == list(range(0, len(store), 97))
    assert [m.id for m in found if m is not None] == list(range(1, count + 1, 89))
    assert gap_at is not None and store[gap_at] is gap and store[gap_at - 1].id == count // 2
    # the two result lists themselves take ~2 KB each
    assert grown < 20_000, grown


def test_equal_tags_are_stored_once() -> None:
    """Tags repeat (mentions, a team's hashtags): messages share one tuple and one string per
    distinct tag, however each event's JSON was parsed (each parse makes new strings)."""
    router = Router(me_id=ME, cap=1_000)
    rng = random.Random(5)
    for mid in range(1, 1_001):
        obj = chat(mid, rng)
        # new string objects for every event, as a JSON parser makes them
        obj["tags"] = ["".join([":user:", ME]), "".join(["#de", "ploy"])]
        router.route(parse_event(obj))
    router.route(parse_event({**chat(2_000, rng), "tags": ["".join(["#de", "ploy"])]}))
    messages = list(router.stores[KEY])
    assert all(m.tags in ((":user:1", "#deploy"), ("#deploy",)) for m in messages)
    assert len({id(m.tags) for m in messages}) == 2
    assert len({id(tag) for m in messages for tag in m.tags}) == 2
