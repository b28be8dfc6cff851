"""Bounded (conversation, id) de-duplication."""

from __future__ import annotations

import random

import pytest

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
    for i in range(1, 10_001):
        assert d.first_time(A, i)
    assert len(d) == 100
    # Evicted ids fall under the watermark: a late replay is still rejected.
    assert not d.first_time(A, 1)
    assert not d.first_time(A, 9_900)
    assert d.first_time(A, 10_001)
    assert len(d) == 100


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
