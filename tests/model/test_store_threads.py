"""ConversationStore's thread index: one-message threads, growth, history order, pruning."""

from __future__ import annotations

from flowview.model.store import ConversationStore, StoredMessage, ThreadStore

KEY = ("flow", "f1")


def msg(store: ConversationStore, mid: int, thread_id: str) -> StoredMessage:
    return StoredMessage(
        store.new_seq(), mid, "message", 1_700_000_000_000, "2", f"m{mid}", thread_id=thread_id
    )


def thread_ids(store: ConversationStore, thread_id: str) -> list[int | None]:
    return [m.id for m in store.thread_messages(thread_id)]


def test_every_message_starting_a_thread_is_found_by_its_thread() -> None:
    store = ConversationStore(KEY, "Main")
    for i in range(1, 6):
        store.add(msg(store, i, f"t{i}"))
    for i in range(1, 6):
        assert store.has_thread(f"t{i}")
        assert thread_ids(store, f"t{i}") == [i]
        assert len(store.thread_seqs(f"t{i}")) == 1
    assert not store.has_thread("nope")
    assert store.thread_seqs("nope") == [] and store.thread_messages("nope") == []


def test_a_thread_grows_and_history_lands_in_id_order() -> None:
    store = ConversationStore(KEY, "Main")
    store.add(msg(store, 10, "t"))
    store.add(msg(store, 12, "t"))
    store.add(msg(store, 11, "u"))
    store.add(msg(store, 5, "t"))  # older history, inserted above
    store.add(msg(store, 7, "t"))
    assert thread_ids(store, "t") == [5, 7, 10, 12]
    assert thread_ids(store, "u") == [11]
    # the returned list is a copy: changing it does not change the store
    store.thread_seqs("t").clear()
    assert thread_ids(store, "t") == [5, 7, 10, 12]


def test_pruned_messages_leave_their_threads() -> None:
    store = ConversationStore(KEY, "Main", cap=3)
    store.add(msg(store, 1, "solo"))
    store.add(msg(store, 2, "pair"))
    store.add(msg(store, 3, "pair"))
    store.add(msg(store, 4, "last"))  # drops 1: "solo" is gone entirely
    assert not store.has_thread("solo") and store.thread_seqs("solo") == []
    store.add(msg(store, 5, "last"))  # drops 2: "pair" keeps 3
    assert thread_ids(store, "pair") == [3]
    store.add(msg(store, 6, "other"))  # drops 3
    assert not store.has_thread("pair")
    assert thread_ids(store, "last") == [4, 5]


def test_thread_store_sees_a_thread_that_started_with_one_message() -> None:
    parent = ConversationStore(KEY, "Main")
    parent.add(msg(parent, 1, "T"))
    thread = ThreadStore(parent, "T")
    assert [m.id for m in thread] == [1]
    parent.add(msg(parent, 2, "T"))
    thread.sync()
    assert [m.id for m in thread] == [1, 2]
