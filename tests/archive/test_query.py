"""The query language: filters, phrases, prefixes, and hostile input."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowview.archive.query import Query, QueryError, Term, parse_query

TODAY = date(2026, 5, 28)


def _ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute).astimezone().timestamp() * 1000)


def test_words_filters_and_dates() -> None:
    q = parse_query(
        'deploy "Build failed" -flaky from:@robin #Ops in:acme/main since:2026-05-01 '
        "until:2026-05-02",
        today=TODAY,
    )
    assert q.terms == (
        Term(("deploy",)),
        Term(("build", "failed")),
        Term(("flaky",), negated=True),
    )
    assert (q.nicks, q.tags, q.flows) == (("robin",), ("ops",), ("acme/main",))
    assert q.since_ms == _ms(2026, 5, 1)
    assert q.until_ms == _ms(2026, 5, 3)  # the whole of May 2nd
    assert q.fts_expression() == ('("deploy" AND "build failed" AND tags : "ops") NOT "flaky"')


def test_relative_dates() -> None:
    assert parse_query("since:today x", today=TODAY).since_ms == _ms(2026, 5, 28)
    assert parse_query("since:yesterday x", today=TODAY).since_ms == _ms(2026, 5, 27)
    assert parse_query("since:7d x", today=TODAY).since_ms == _ms(2026, 5, 21)
    assert parse_query("since:2026-05-01T10:30 x", today=TODAY).since_ms == _ms(2026, 5, 1, 10, 30)


def test_prefixes() -> None:
    assert parse_query("depl*").terms == (Term(("depl",), prefix=True),)
    assert parse_query("go depl", prefix_last=True).terms == (
        Term(("go",)),
        Term(("depl",), prefix=True),
    )
    assert parse_query("depl").fts_expression() == '"depl"'
    assert parse_query("depl", prefix_last=True).fts_expression() == '"depl"*'


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ('"unclosed quote', '"unclosed quote"'),
        ("foo:bar", '"foo bar"'),
        ("a AND b OR NEAR(c)", '"a" AND "and" AND "b" AND "or" AND "near c"'),
        ("(unbalanced", '"unbalanced"'),
        ("x * ) ( : ^", '"x"'),
        ('say ""hi""', '"say" AND "hi"'),
        ("C++ émigré", '"c" AND "émigré"'),
    ],
)
def test_hostile_text_becomes_quoted_words(text: str, expression: str) -> None:
    assert parse_query(text).fts_expression() == expression


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "nothing to search for"),
        ("*", "nothing to search for"),
        ('"" ()', "nothing to search for"),
        ("-only", "only exclude"),
        ("from:", "from: needs a value"),
        ("since:soon x", "cannot read the date"),
        ("since:2026-05-02 until:2026-05-01 x", "not before"),
        ("x" * 2000, "too long"),
    ],
)
def test_bad_queries_raise_a_clear_query_error(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(text, today=TODAY)


def test_filters_alone_are_a_query() -> None:
    q = parse_query("from:robin -lunch")
    assert q.fts_expression() is None
    assert q.negative_expression() == '"lunch"'
    assert isinstance(q, Query)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from("ab \"*():-#^+NEARO\\'\x00\u202e\u00e9"), max_size=30))
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    try:
        q = parse_query(text, prefix_last=True)
    except QueryError:
        return
    expression = q.fts_expression()
    assert expression is None or expression.count('"') % 2 == 0


def test_prefixes_can_be_made_exact() -> None:
    q = parse_query("ab deplo -x", prefix_last=False)
    typed = parse_query("ab dep deplo", prefix_last=True)
    assert q.without_prefixes() == q  # nothing to change
    exact = typed.without_prefixes()
    assert [t.prefix for t in typed.terms] == [False, False, True]
    assert [t.prefix for t in exact.terms] == [False, False, False]
    assert parse_query("de*").without_prefixes().terms == (Term(("de",)),)


def test_a_typed_word_is_a_prefix_from_four_characters() -> None:
    assert not parse_query("ab dep", prefix_last=True).terms[-1].prefix
    assert parse_query("ab depl", prefix_last=True).terms[-1].prefix
    assert parse_query("dep*").terms[-1].prefix  # a star always makes one
