"""Search over a seeded archive: ranking, filters, snippets, hostile queries and text."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowview.archive import Archive
from flowview.archive.query import QueryError, parse_query
from flowview.archive.search import make_snippet, search
from flowview.protocol.rest import Flow, User
from tests.archive.samples import BASE_MS, DAY_MS, FLOW, OTHER_FLOW

Wire = Callable[..., dict[str, Any]]


@pytest.fixture
def seeded(archive: Archive, wire: Wire) -> Archive:
    archive.set_users([User(id="u1", nick="robin"), User(id="u2", nick="sam")])
    archive.set_flows(
        [
            Flow(id=FLOW, name="Main", parameterized_name="main", organization="acme"),
            Flow(id=OTHER_FLOW, name="Ops", parameterized_name="ops", organization="acme"),
        ]
    )
    archive.ingest_many(
        [
            wire(id=1, content="the deploy failed again", user="u1", sent=BASE_MS),
            wire(id=2, content="deploy deploy deploy", user="u2", sent=BASE_MS + DAY_MS),
            wire(id=3, content="lunch?", user="u2", sent=BASE_MS + 2 * DAY_MS, tags=["food"]),
            wire(
                id=4,
                content="the deploy failed again",
                user="u2",
                sent=BASE_MS + 3 * DAY_MS,
                flow=OTHER_FLOW,
            ),
            wire(id=5, content="deployment notes", user="u1", sent=BASE_MS + 4 * DAY_MS),
            wire(id=6, content="deploy secret", user="u1", sent=BASE_MS + 5 * DAY_MS),
            wire("message-edit", 7, {"message": 6, "updated_content": ""}),
            # Filler, so that "deploy" is a rare word as in a real archive (bm25's idf).
            *(wire(id=100 + i, content=f"chatter {i}", sent=BASE_MS - DAY_MS) for i in range(30)),
        ]
    )
    archive.flush()
    return archive


def _ids(hits: list[Any]) -> list[int]:
    return [h.message.id for h in hits]


def test_bm25_then_newest_first(seeded: Archive) -> None:
    hits = search(seeded, "deploy")
    # id 2 says it three times; 1 and 4 are equal text, so the newer (4) comes first.
    assert _ids(hits) == [2, 4, 1]
    assert hits[0].score < hits[1].score


def test_prefix_search_as_you_type(seeded: Archive) -> None:
    assert set(_ids(search(seeded, parse_query("deplo", prefix_last=True)))) == {1, 2, 4, 5}


def test_filters(seeded: Archive) -> None:
    assert _ids(search(seeded, "deploy from:robin")) == [1]
    assert _ids(search(seeded, "deploy in:acme/ops")) == [4]
    assert _ids(search(seeded, "deploy in:Ops")) == [4]
    assert _ids(search(seeded, "deploy", conversation=("flow", OTHER_FLOW))) == [4]
    assert _ids(search(seeded, "#food")) == [3]
    assert _ids(search(seeded, "from:sam")) == [4, 3, 2]  # filters only: newest first
    assert _ids(search(seeded, "from:sam -lunch")) == [4, 2]
    assert _ids(search(seeded, "from:nobody")) == []
    assert _ids(search(seeded, "deploy in:nowhere")) == []


def test_date_filters(seeded: Archive) -> None:
    since = parse_query("deploy")
    from dataclasses import replace

    window = replace(since, since_ms=BASE_MS + DAY_MS, until_ms=BASE_MS + 3 * DAY_MS)
    assert _ids(search(seeded, window)) == [2]


def test_deleted_messages_are_not_found(seeded: Archive) -> None:
    assert _ids(search(seeded, "secret")) == []
    assert 6 not in _ids(search(seeded, "from:robin"))


def test_hits_carry_names_and_pages(seeded: Archive) -> None:
    first, second = search(seeded, "deploy", limit=1), search(seeded, "deploy", limit=1, offset=1)
    assert _ids(first + second) == [2, 4]
    hit = search(seeded, "notes")[0]
    assert (hit.conversation, hit.nick) == ("acme/main", "robin")
    assert hit.to_json()["flow"] == "acme/main"


def test_snippet_spans_cover_the_matches(seeded: Archive) -> None:
    hit = search(seeded, "failed")[0]
    text, spans = hit.snippet.text, hit.snippet.spans
    assert [text[a:b] for a, b in spans] == ["failed"]


def test_snippet_window_and_sanitising() -> None:
    pattern = parse_query("needle")
    from flowview.archive.search import _match_pattern

    long = "hay " * 100 + "\x1b]52;c;evil\x07 NEEDLE\u202e here " + "hay " * 100
    snip = make_snippet(long, _match_pattern(pattern))
    assert snip.text.startswith("…") and snip.text.endswith("…")
    assert "\x1b" not in snip.text and "\u202e" not in snip.text and "\x07" not in snip.text
    assert [snip.text[a:b] for a, b in snip.spans] == ["NEEDLE"]
    assert len(snip.text) <= 162


def test_hostile_stored_text_is_found_and_defused(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1, content="\x1b[31mred\x1b[0m alert\r\nnext [b]bold[/b]"))
    archive.flush()
    (hit,) = search(archive, "alert")
    assert "\x1b" not in hit.snippet.text and "\r" not in hit.snippet.text
    assert "[b]bold[/b]" in hit.snippet.text  # literal: markup is the view's concern


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.text(alphabet=st.sampled_from("de pl oy\"*():-#^+NEARO'\u00e9fromin"), max_size=25))
def test_hostile_queries_only_ever_raise_query_error(seeded: Archive, text: str) -> None:
    with contextlib.suppress(QueryError):
        search(seeded, parse_query(text, prefix_last=True))


def test_broad_words_list_their_newest_matches(
    archive: Archive, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowview.archive import search as search_module

    monkeypatch.setattr(search_module, "CANDIDATES", 3)
    archive.set_users([User(id="u1", nick="robin"), User(id="u2", nick="sam")])
    # The oldest message is the best match, but "word" is in more than CANDIDATES messages.
    archive.ingest(wire(id=1, content="word word word", user="u2"))
    archive.ingest_many(wire(id=i, content=f"word filler {i}") for i in range(2, 12))
    archive.ingest_many(wire(id=100 + i, content=f"other {i}") for i in range(30))
    archive.flush()
    assert _ids(search(archive, "word", limit=3)) == [11, 10, 9]
    # A filter that leaves too few hits in the window falls back to the whole archive.
    assert _ids(search(archive, "word from:sam", limit=3)) == [1]


def test_excluded_words_and_prefixes_in_broad_queries(
    archive: Archive, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowview.archive import search as search_module

    monkeypatch.setattr(search_module, "CANDIDATES", 3)
    archive.ingest_many(wire(id=i, content=f"wordy old {i}") for i in range(1, 11))
    archive.ingest_many(wire(id=i, content=f"word new {i}") for i in range(11, 21))
    archive.ingest(wire(id=21, content="word skip"))
    archive.ingest_many(wire(id=100 + i, content=f"zebra {i}") for i in range(2))
    archive.flush()
    typed = parse_query("word", prefix_last=True)
    assert _ids(search(archive, typed, limit=3)) == [21, 20, 19]
    assert _ids(search(archive, "word -skip", limit=3)) == [20, 19, 18]
    assert _ids(search(archive, parse_query("wordy", prefix_last=True), limit=3)) == [10, 9, 8]
    assert sorted(_ids(search(archive, parse_query("zebr", prefix_last=True)))) == [100, 101]
    # Fewer than a page among the newest: everything is ranked.
    assert len(search(archive, typed, limit=50)) == 21
