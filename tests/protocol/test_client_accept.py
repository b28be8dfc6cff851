"""The sans-IO accept step (flowview/protocol/accept.py): no sockets, no clock."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.protocol.accept import Acceptor, Held
from flowview.protocol.dedupe import Deduper
from flowview.protocol.events import Event
from flowview.protocol.items import RawEvent, Skipped


def msg(i: int, flow: str = "f1") -> dict[str, Any]:
    return {"event": "message", "id": i, "flow": flow, "content": f"m{i}"}


def pm(i: int) -> dict[str, Any]:
    return {"event": "message", "id": i, "user": "9", "to": "7", "content": "psst"}


@pytest.mark.parametrize("raw", [False, True])
def test_each_conversation_id_once_and_skips_reported(raw: bool) -> None:
    acc = Acceptor(Deduper(), raw=raw)
    skips = ["malformed JSON (3 bytes)"]
    values = [msg(1), msg(1), msg(2), pm(2), [1, 2], {"id": 3}, msg(1, flow="f2")]
    items, new = acc.accept(values, None, skips)
    events = [i for i in items if isinstance(i, Event | RawEvent)]
    assert [(e.key, e.id) for e in events] == [
        (("flow", "f1"), 1),
        (("flow", "f1"), 2),
        (("private", "7:9"), 2),
        (("flow", "f2"), 1),
    ]
    assert new == 4
    assert all(isinstance(e, RawEvent if raw else Event) for e in events)
    notices = [i.reason for i in items if isinstance(i, Skipped)]
    assert notices[0] == "malformed JSON (3 bytes)"
    assert len(notices) == 3 and acc.skipped == 3
    assert skips == []  # taken


def test_raw_texts_are_kept_only_when_aligned() -> None:
    acc = Acceptor(Deduper(), raw=True)
    items, _ = acc.accept([msg(1), msg(2)], [b"one", b"two"])
    assert [i.text for i in items if isinstance(i, RawEvent)] == [b"one", b"two"]
    items, _ = acc.accept([msg(3), msg(4)], [b"three"])  # alignment lost: no texts
    assert [i.text for i in items if isinstance(i, RawEvent)] == [None, None]


@pytest.mark.parametrize("raw", [False, True])
def test_switch_probation_holds_and_converges(raw: bool) -> None:
    dedupe = Deduper()
    acc = Acceptor(dedupe, raw=raw)
    acc.accept([msg(1), msg(2)])  # delivered by the old connection
    converged: list[str] = []
    cand = Held(converged=lambda: converged.append("cand"))
    # The candidate sees 2 (already delivered: overlap) and 3 (held, not delivered).
    items, new = acc.accept([msg(2), msg(3)], probation=cand)
    assert [getattr(i, "id", None) for i in items] == [3] and new == 0
    assert converged == ["cand"]
    assert cand.keys == {(("flow", "f1"), 3)}
    assert not dedupe.seen(("flow", "f1"), 3)
    # The old connection delivers 3 while watching the candidate: converged again.
    items, new = acc.accept([msg(3)], watch=cand)
    assert new == 1 and converged == ["cand", "cand"]
    # At the hand-over the candidate's held 3 is dropped (delivered), 4 goes through.
    admitted, new = acc.admit([*acc.accept([msg(4)], probation=cand)[0], *items])
    assert [getattr(i, "id", None) for i in admitted] == [4] and new == 1


values_st = st.lists(
    st.one_of(
        st.builds(msg, st.integers(0, 8), st.sampled_from(["f1", "f2"])),
        st.builds(pm, st.integers(0, 8)),
        st.fixed_dictionaries(
            {
                "event": st.sampled_from(["message", "presence", "flow-add", 5]),
                "id": st.one_of(st.none(), st.integers(0, 8), st.just("3"), st.just(True)),
            },
            optional={
                "flow": st.sampled_from(["f1", "", 7, {"id": "f2"}]),
                "to": st.sampled_from(["7", None, 3]),
                "user": st.sampled_from(["9", 9, ""]),
            },
        ),
        st.sampled_from([[1, 2], "text", None, 3]),
    ),
    max_size=30,
)


@settings(deadline=None)
@given(st.lists(values_st, max_size=4))
def test_the_live_typed_loop_accepts_as_the_general_one(chunks: list[list[Any]]) -> None:
    """Without a switch going on, typed events take a shorter loop (Acceptor._typed); the
    general loop is the one that runs while a candidate is watched (an empty Held changes
    nothing else): the same items, counts and memory, chunk after chunk."""
    fast, general = Acceptor(Deduper(), raw=False), Acceptor(Deduper(), raw=False)
    for values in chunks:
        got, new = fast.accept(values)
        want, new_general = general.accept(values, watch=Held())
        assert new == new_general

        def shown(items: list[Any]) -> list[Any]:
            return [
                (type(i).__name__, i.key, i.id, i.raw) if isinstance(i, Event) else i for i in items
            ]

        assert shown(got) == shown(want)
    assert fast.skipped == general.skipped
    assert fast.dedupe.latest() == general.dedupe.latest()
