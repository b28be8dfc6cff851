"""ConversationStore: order, bounds, dedupe, in-place changes, unread state, change tracking."""

from __future__ import annotations

import tracemalloc

import pytest

from flowview.model.store import ConversationStore, StoredMessage, ThreadStore

KEY = ("flow", "f1")


def msg(store: ConversationStore, mid: int | None, text: str = "", **kw: object) -> StoredMessage:
    m = StoredMessage(store.new_seq(), mid, "message", 1_700_000_000_000, "2", text or f"m{mid}")
    for name, value in kw.items():
        setattr(m, name, value)
    return m


def ids(store: ConversationStore) -> list[int | None]:
    return [m.id for m in store]


def test_append_and_history_merge_keep_id_order_without_duplicates() -> None:
    store = ConversationStore(KEY, "Main")
    for i in (10, 11, 12):
        assert store.add(msg(store, i))
    assert store.epoch == 0 and store.appended == 3
    # older history arrives later and goes before
    for i in (5, 7, 11, 6):
        store.add(msg(store, i))
    assert ids(store) == [5, 6, 7, 10, 11, 12]
    assert store.epoch > 0  # positions changed: views must rebuild
    assert not store.add(msg(store, 12))
    assert len(store) == 6
    assert store.oldest_id == 5 and store.newest_id == 12


def test_idless_lines_stay_where_they_were_added() -> None:
    store = ConversationStore(KEY, "Main")
    store.add(msg(store, 1))
    gap = StoredMessage(store.new_seq(), None, "gap", None, None, "gap")
    store.add(gap)
    store.add(msg(store, 2))  # back-filled after the gap
    store.add(msg(store, 0))  # older history goes above
    assert [m.kind for m in store] == ["message", "message", "gap", "message"]
    assert ids(store) == [0, 1, None, 2]


def test_bounded_drops_oldest_and_forgets_them() -> None:
    store = ConversationStore(KEY, "Main", cap=3)
    first = msg(store, 1, thread_id="t")
    store.add(first)
    for i in range(2, 6):
        store.add(msg(store, i, thread_id="t"))
    assert ids(store) == [3, 4, 5]
    assert store.dropped == 2
    assert store.get(1) is None and store.by_seq(first.seq) is None
    assert store.index_of(first.seq) is None
    assert len(store.thread_seqs("t")) == 3
    # a duplicate of a dropped id is accepted again only as history (it is older): kept out
    store.add(msg(store, 1))
    assert ids(store) == [3, 4, 5]


def test_index_of_follows_drops_and_inserts() -> None:
    store = ConversationStore(KEY, "Main", cap=4)
    added = [msg(store, i) for i in (10, 20, 30)]
    for m in added:
        store.add(m)
    assert [store.index_of(m.seq) for m in added] == [0, 1, 2]
    store.add(msg(store, 5))
    assert [store.index_of(m.seq) for m in added] == [1, 2, 3]
    store.add(msg(store, 40))  # drops id 5
    assert [store.index_of(m.seq) for m in added] == [0, 1, 2]


def test_edit_and_delete_in_place() -> None:
    store = ConversationStore(KEY, "Main")
    m = msg(store, 1, "hello")
    store.add(m)
    v = m.version
    assert store.edit(1, text="hello there") is m
    assert m.text == "hello there" and m.edited and m.version == v + 1
    store.edit(1, deleted=True)
    assert m.deleted and m.text == ""
    assert store.edit(99, text="x") is None


def test_reactions_count_and_never_go_negative() -> None:
    store = ConversationStore(KEY, "Main")
    m = msg(store, 1)
    store.add(m)
    store.react(1, "grinning", True, "2")
    store.react(1, "grinning", True, "3")
    store.react(1, "tada", True, "3")
    assert m.reactions == {"grinning": 2, "tada": 1}
    store.react(1, "tada", False, "3")
    store.react(1, "tada", False, "3")
    assert m.reactions == {"grinning": 2}
    store.react(1, "grinning", False)
    store.react(1, "grinning", False)
    assert m.reactions is None
    assert store.react(2, "x", True) is None


def test_unread_mentions_marker_and_mark_read() -> None:
    store = ConversationStore(KEY, "Main", me_id="9")
    a, b, c = msg(store, 1), msg(store, 2, mention=True), msg(store, 3)
    for m in (a, b, c):
        store.add(m)
        store.count_unread(m)
    assert store.unread == 3 and store.mentions == 1
    assert store.first_unread_seq == a.seq and b.mention_unread
    store.mark_read()
    assert store.unread == 0 and store.mentions == 0 and not b.mention_unread
    assert store.first_unread_seq == a.seq  # marker stays where reading stopped
    d = msg(store, 4)
    store.add(d)
    store.count_unread(d)
    assert store.first_unread_seq == a.seq  # not armed: the marker does not move
    store.arm_marker()
    e = msg(store, 5)
    store.add(e)
    store.count_unread(e)
    assert store.first_unread_seq == e.seq
    store.clear_marker()
    assert store.first_unread_seq is None


def test_retag_removing_unread_clears_the_mention() -> None:
    store = ConversationStore(KEY, "Main", me_id="9")
    m = msg(store, 1, mention=True, tags=(":user:9", ":unread:9"))
    store.add(m)
    store.count_unread(m)
    assert store.mentions == 1
    store.retag(1, add=["deploy"], remove=[":unread:9"])
    assert m.tags == (":user:9", "deploy")
    assert store.mentions == 0 and not m.mention_unread
    # someone else's read receipt does not clear my mention
    n = msg(store, 2, mention=True, tags=(":unread:9", ":unread:8"))
    store.add(n)
    store.count_unread(n)
    store.retag(2, remove=[":unread:8"])
    assert store.mentions == 1


def test_change_journal_lists_in_place_changes() -> None:
    store = ConversationStore(KEY, "Main")
    ms = [msg(store, i) for i in range(5)]
    for m in ms:
        store.add(m)
    v = store.version
    assert store.changed_since(v) == []
    store.edit(2, text="x")
    store.react(4, "a", True)
    assert sorted(store.changed_since(v) or []) == sorted([ms[2].seq, ms[4].seq])
    # a version older than the journal reaches: the caller must re-check everything
    for _ in range(3000):
        store.edit(1, text="y")
    assert store.changed_since(v) is None


def test_thread_store_follows_parent() -> None:
    parent = ConversationStore(KEY, "Main")
    parent.add(msg(parent, 1, thread_id="T"))
    parent.add(msg(parent, 2, thread_id="U"))
    thread = ThreadStore(parent, "T")
    assert ids(thread) == [1]
    parent.add(msg(parent, 3, thread_id="T", thread_title="start"))
    v = thread.version
    thread.sync()
    assert ids(thread) == [1, 3]
    parent.edit(1, text="edited")
    thread.sync()
    assert thread[0].text == "edited"
    assert thread[0].seq in (thread.changed_since(v) or [])


def test_clear() -> None:
    store = ConversationStore(KEY, "Main")
    m = msg(store, 1)
    store.add(m)
    store.count_unread(m)
    store.clear()
    assert len(store) == 0 and store.unread == 0 and store.get(1) is None


def test_stored_message_memory_is_small() -> None:
    """Typical chat line (~60 chars, tags, thread id) stays under ~600 bytes."""
    store = ConversationStore(KEY, "Main", cap=20_000)
    threads = [f"thread-{i:020d}" for i in range(50)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(10_000):
        m = StoredMessage(
            store.new_seq(),
            100_000 + i,
            "message",
            1_700_000_000_000 + i,
            "12345",
            f"message number {i} with some ordinary chat text in it, ok",
            thread_id=threads[i % 50],
        )
        store.add(m)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert used / 10_000 < 600, used / 10_000


def test_add_after_places_an_idless_entry_after_an_id_and_remove_takes_it_out() -> None:
    store = ConversationStore(KEY, "Main")
    for i in (10, 20, 30):
        store.add(msg(store, i, thread_id="t"))
    marker = StoredMessage(store.new_seq(), None, "gap", None, None, "gap")
    store.add_after(marker, 20)
    late = StoredMessage(store.new_seq(), None, "gap", None, None, "second after 20")
    store.add_after(late, 20)
    store.add(msg(store, 21))
    store.add(msg(store, 19))
    assert ids(store) == [10, 19, 20, None, None, 21, 30]
    assert store.index_of(marker.seq) == 3 and store.index_of(late.seq) == 4
    epoch, version = store.epoch, store.version
    assert store.remove(marker.seq) is marker
    assert ids(store) == [10, 19, 20, None, 21, 30]
    assert store.by_seq(marker.seq) is None and store.index_of(marker.seq) is None
    assert [store.index_of(m.seq) for m in store] == list(range(6))
    assert store.epoch > epoch and store.version > version
    assert store.remove(marker.seq) is None
    # Removing a message keeps the id and thread indexes true.
    thirty = store.get(30)
    assert thirty is not None and store.remove(thirty.seq) is thirty
    assert store.get(30) is None and len(store.thread_seqs("t")) == 2
    first = StoredMessage(store.new_seq(), None, "gap", None, None, "before all")
    store.add_after(first, None)
    assert store[0] is first


def test_add_after_refuses_a_message_with_an_id() -> None:
    store = ConversationStore(KEY, "Main")
    with pytest.raises(ValueError, match="without a Flowdock id"):
        store.add_after(msg(store, 5), 4)


def test_add_new_places_like_add_and_says_when_a_full_store_pruned_it_at_once() -> None:
    store = ConversationStore(KEY, "Main", cap=3)
    for mid in (10, 11, 12):
        assert store.add_new(msg(store, mid))
    assert store.add_new(msg(store, 13))  # the newest stays, the oldest goes
    assert ids(store) == [11, 12, 13]
    assert not store.add_new(msg(store, 5))  # older than everything a full store keeps
    assert ids(store) == [11, 12, 13] and store.get(5) is None
