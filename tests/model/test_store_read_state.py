"""Read state restored into a store (issue 10 item 4): unread counts, mentions and the "new"
marker from a saved read position, recounted when history merges in later."""

from __future__ import annotations

from flowview.model.router import Router
from flowview.protocol.events import parse_event

KEY = ("flow", "f1")


def wire(mid: int, text: str = "hello", user: str = "u2") -> dict[str, object]:
    return {"event": "message", "id": mid, "flow": "f1", "user": user, "content": text, "tags": []}


def history(router: Router, ids: list[int], **kw: str) -> None:
    router.merge_history(KEY, [parse_event(wire(i, **kw)) for i in ids])


def test_restore_counts_others_messages_after_the_position_and_marks_the_first() -> None:
    router = Router("me", "robin")
    history(router, [1, 2, 3])
    history(router, [4], user="me")  # one's own message is never unread
    history(router, [5, 6], text="hi @robin")
    store = router.stores[KEY]
    assert store.unread == 0  # history alone is never unread
    store.restore_unread(2)
    assert store.unread == 3 and store.mentions == 2
    assert store.first_unread_seq == store.get(3).seq  # type: ignore[union-attr]
    assert store.get(5).mention_unread  # type: ignore[union-attr]


def test_hidden_unread_counts_and_history_merged_later_is_recounted() -> None:
    router = Router("me", "robin")
    history(router, [10, 11])
    store = router.stores[KEY]
    store.restore_unread(9, hidden=100)  # 100 more unread that are not in memory
    assert store.unread == 102
    history(router, [12, 13])  # back-filled: posted while the viewer was closed
    store.recount_unread()
    assert store.unread == 104
    store.mark_read()
    assert store.unread == 0 and store.read_id == 13
    store.recount_unread()
    assert store.unread == 0  # hidden ones went with mark_read


def test_mark_read_moves_the_position_forward_only_and_without_a_restore() -> None:
    router = Router("me", "robin")
    history(router, [1, 2])
    store = router.stores[KEY]
    assert store.read_id is None
    store.mark_read()
    assert store.read_id == 2
    store.restore_unread(None)  # nothing saved: nothing changes
    assert store.read_id == 2 and store.unread == 0
