"""The memory budget (model/budget.py): all stores together stay within it, the shown
conversation is never trimmed, the least recently shown go first, and what a trimmed store
knew about unread lines and mentions is kept."""

from __future__ import annotations

import random
from typing import Any

import pytest
from helpers import deep_size

from flowview.model.budget import MIN_FLOOR, MessageBudget
from flowview.model.router import Router
from flowview.model.stored_message import StoredMessage
from flowview.protocol.events import ConversationKey, parse_event

ME = "1"
BASE_SENT = 1_700_000_000_000


def flow_key(n: int) -> ConversationKey:
    return ("flow", f"f{n:04d}")


def line(n: int, mid: int, text: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "flow": f"f{n:04d}",
        "user": str(1000 + mid % 7),
        "content": text or f"line {mid} in flow {n}, with some ordinary words",
        "sent": BASE_SENT + mid,
        "tags": [],
        **extra,
    }


def fill(router: Router, flows: int, per_flow: int, start: int = 1) -> None:
    for mid in range(start, start + per_flow):
        for n in range(flows):
            router.route(parse_event(line(n, mid)))


def held(router: Router) -> int:
    return sum(len(s) for s in router.stores.values())


def test_under_the_budget_nothing_is_trimmed() -> None:
    router = Router(ME, "me")
    fill(router, flows=3, per_flow=100)
    budget = MessageBudget(300, floor=10)
    assert budget.enforce(router.stores) == {}
    assert held(router) == 300


def test_over_it_the_least_recently_shown_keep_their_newest_lines() -> None:
    router = Router(ME, "me")
    fill(router, flows=4, per_flow=1_000)
    budget = MessageBudget(2_000, floor=100)
    budget.shown(flow_key(2))  # shown a while ago
    budget.shown(flow_key(0))  # shown now
    dropped = budget.enforce(router.stores, keep=[flow_key(0)])
    # Down to the low-water mark (90 %), never the shown one, never below the floor; the
    # never-shown flows go before the one shown earlier.
    assert held(router) <= 1_800
    assert flow_key(0) not in dropped and len(router.stores[flow_key(0)]) == 1_000
    assert len(router.stores[flow_key(1)]) == len(router.stores[flow_key(3)]) == 100
    assert len(router.stores[flow_key(2)]) == 1_800 - 1_000 - 200
    assert budget.trimmed == 4_000 - held(router)
    # What stays is each flow's newest lines, in order, nothing twice.
    for n in (1, 2, 3):
        ids = [m.id for m in router.stores[flow_key(n)]]
        assert ids == list(range(1_001 - len(ids), 1_001))
        assert router.stores[flow_key(n)].dropped == 1_000 - len(ids)
        assert not router.stores[flow_key(n)].history_complete


def test_many_conversations_share_what_the_shown_one_leaves() -> None:
    router = Router(ME, "me")
    fill(router, flows=60, per_flow=300)
    budget = MessageBudget(6_000, floor=500)
    budget.enforce(router.stores, keep=[flow_key(0)])
    # Keeping 500 each is more than the budget: each gives up all but an equal share of what
    # the shown one leaves, until the whole is under the low-water mark.
    share = (5_400 - 300) // 59
    sizes = [len(router.stores[flow_key(n)]) for n in range(1, 60)]
    assert len(router.stores[flow_key(0)]) == 300
    assert held(router) <= 5_400
    assert min(sizes) == max(share, MIN_FLOOR) and max(sizes) <= 300
    # Never-shown conversations go in a stable order: a prefix of them down to the share,
    # then at most one partly, the rest untouched.
    assert sizes == sorted(sizes) and sum(share < size < 300 for size in sizes) <= 1


def test_unread_counts_mentions_and_the_new_marker_survive_a_trim() -> None:
    router = Router(ME, "me")
    key = flow_key(0)
    router.route(parse_event(line(0, 1, "first unread")))
    mention = line(0, 2, "hey @me look", tags=[f":user:{ME}", f":unread:{ME}"])
    router.route(parse_event(mention))
    for mid in range(3, 200):
        router.route(parse_event(line(0, mid)))
    store = router.stores[key]
    assert store.unread == 199 and store.mentions == 1 and store.first_unread_seq is not None
    budget = MessageBudget(100, floor=20)
    budget.enforce(router.stores)
    assert len(store) == 90 and store.get(2) is None
    # The counts are unchanged; the mention and the marker are known by id (alt+m, alt+u).
    assert store.unread == 199 and store.mentions == 1
    assert store.hidden_mentions == [2]
    assert store.first_unread_seq is None and store.hidden_marker == 1
    store.mark_read()
    assert store.mentions == 0 and store.hidden_mentions == []


def test_pending_outbox_lines_are_never_trimmed() -> None:
    router = Router(ME, "me")
    fill(router, flows=2, per_flow=100)
    store = router.stores[flow_key(1)]
    pending = StoredMessage(store.new_seq(), None, "message", None, ME, "typed, not yet sent")
    store.add_pending(pending, "uuid-1")
    MessageBudget(50, floor=5).enforce(router.stores, keep=[flow_key(0)])
    assert store.by_seq(pending.seq) is pending and store[-1] is pending
    assert store.pending_count == 1


def test_memory_stays_bounded_however_many_conversations_arrive() -> None:
    """60,000 lines into 60 conversations with the budget applied after each batch, as the
    app does after each flush: what is held stays within the budget, and so does memory."""
    router = Router(ME, "me")
    budget = MessageBudget(5_000, floor=200)
    rng = random.Random(3)
    for batch in range(120):
        for i in range(500):
            n = rng.randrange(60) if batch > 20 else rng.randrange(10)
            router.route(parse_event(line(n, batch * 500 + i + 1)))
        budget.enforce(router.stores, keep=[flow_key(0)])
        assert held(router) <= 5_000
    assert len(router.stores) == 60
    size = deep_size(router.stores)
    print(f"{size / 2**20:.1f} MB held for a budget of 5,000 messages")
    # ~700 bytes a held message (text included) plus 60 stores' fixed cost: far from what
    # the 60,000 routed would take held (> 35 MB).
    assert size < 8 * 2**20, size


def test_a_budget_needs_room() -> None:
    with pytest.raises(ValueError):
        MessageBudget(0)
