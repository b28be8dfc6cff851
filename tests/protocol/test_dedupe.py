"""Bounded (conversation, id) de-duplication."""

from __future__ import annotations

import random
from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.protocol.dedupe import Deduper

A = ("flow", "a")
B = ("flow", "b")


def test_first_time_then_duplicate_per_conversation() -> None:
    d = Deduper()
    assert d.first_time(A, 1)
    assert not d.first_time(A, 1)
    assert d.first_time(B, 1)  # ids are per conversation
    assert d.first_time(A, 2)
    assert d.duplicates == 1
    assert d.seen(A, 2) and not d.seen(A, 3) and not d.seen(("flow", "c"), 1)


def test_out_of_order_ids_inside_the_window_are_new() -> None:
    d = Deduper(window=10)
    for i in (5, 3, 9, 1):
        assert d.first_time(A, i)
    for i in (5, 3, 9, 1):
        assert not d.first_time(A, i)


def test_window_bounded_and_evicted_ids_stay_duplicates() -> None:
    d = Deduper(window=100)
    for i in range(1, 20_001, 2):  # every other id: each one its own run
        assert d.first_time(A, i)
    assert d.runs() == 100
    # Evicted runs fall under the watermark: a late replay is still rejected.
    assert not d.first_time(A, 1)
    assert not d.first_time(A, 19_799)
    assert d.first_time(A, 19_803 - 1)  # a hole inside the window is still open
    assert d.first_time(A, 20_001)
    assert d.runs() <= 100


def test_memory_follows_holes_not_messages() -> None:
    # A stream in order (Flowdock numbers every event of a conversation) is one run however
    # long it is: the all-day viewer's dedupe memory stays flat.
    d = Deduper(window=100)
    for i in range(1, 100_001):
        assert d.first_time(A, i)
    assert d.runs() == 1 and len(d) == 100_000
    assert d.latest() == {A: 100_000}
    assert not d.first_time(A, 1) and not d.first_time(A, 99_999)


def test_a_late_id_fills_its_hole_and_joins_the_runs() -> None:
    d = Deduper(window=10)
    for i in (1, 2, 3, 5, 6, 8):
        assert d.first_time(A, i)
    assert d.runs() == 3
    assert d.first_time(A, 4)  # joins [1-3] and [5-6]
    assert d.runs() == 2
    assert d.first_time(A, 7)  # and then [1-6] with [8]
    assert d.runs() == 1 and len(d) == 8
    assert all(not d.first_time(A, i) for i in range(1, 9))
    assert d.first_time(A, 0)  # below everything, above no watermark
    assert d.runs() == 1


@given(st.lists(st.integers(min_value=1, max_value=200), max_size=400))
def test_with_room_for_every_run_it_is_exactly_a_set(ids: list[int]) -> None:
    d = Deduper(window=1_000)
    delivered: set[int] = set()
    for i in ids:
        assert d.first_time(A, i) == (i not in delivered)
        delivered.add(i)
    assert len(d) == len(delivered)
    assert all(d.seen(A, i) == (i in delivered) for i in range(0, 202))
    assert d.latest() == ({A: max(delivered)} if delivered else {})


def test_conversations_bounded_lru() -> None:
    d = Deduper(window=10, max_keys=3)
    for conv in ("a", "b", "c"):
        d.first_time(("flow", conv), 1)
    d.first_time(("flow", "a"), 2)  # touch a: b is now the least recently used
    d.first_time(("flow", "d"), 1)
    assert d.seen(("flow", "a"), 1)
    assert not d.seen(("flow", "b"), 1)
    assert len(d._keys) == 3


@pytest.mark.parametrize("seed", range(5))
def test_random_replays_deliver_each_id_once_in_order(seed: int) -> None:
    rng = random.Random(seed)
    d = Deduper(window=50)
    delivered: list[int] = []
    sent = 0
    # A stream that repeatedly replays the last few ids after "reconnects".
    while sent < 2000:
        start = max(1, sent - rng.randint(0, 40))
        end = sent + rng.randint(1, 30)
        for i in range(start, end + 1):
            if d.first_time(A, i):
                delivered.append(i)
        sent = end
    assert delivered == list(range(1, sent + 1))


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError):
        Deduper(window=0)


class _Uncached(Deduper):
    """first_time as it was before the last-conversation shortcut (a look-up every call)."""

    def first_time(self, key: Hashable, ident: int) -> bool:
        self._last_key = object()
        return super().first_time(key, ident)


@settings(deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 30)), max_size=200),
    st.integers(1, 3),
    st.integers(1, 4),
)
def test_the_last_conversation_shortcut_changes_nothing(
    calls: list[tuple[str, int]], max_keys: int, window: int
) -> None:
    """Runs of one conversation skip the look-up; with conversations evicted (max_keys) and
    runs let go (window), every answer and the memory are as with a look-up every time."""
    fast, slow = Deduper(window, max_keys), _Uncached(window, max_keys)
    for conv, ident in calls:
        key = ("flow", conv)  # a new tuple each call, as the accept step makes them
        assert fast.first_time(key, ident) == slow.first_time(key, ident)
        assert list(fast._keys) == list(slow._keys)
    assert fast.latest() == slow.latest() and fast.runs() == slow.runs()
    assert all(
        fast.seen(("flow", c), i) == slow.seen(("flow", c), i) for c in "abcd" for i in range(31)
    )
