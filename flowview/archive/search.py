"""Running a query against the archive: ranked hits with plain-text snippets and match spans.

Ranking is FTS5's bm25 (text weighs twice the tags) rounded to one decimal, then newest first,
so hits of about equal relevance come in recency order.  A query matching more than CANDIDATES
messages lists its newest matches first instead (see `_ranked`).  Snippets are
sanitised text plus (start, end) spans of the matched words: no markup is ever produced, the
view styles the spans.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from flowview.archive.archive import _COLUMNS, Archive, ArchivedMessage, message_from_row
from flowview.archive.query import Query, QueryError, parse_query
from flowview.archive.rows import ConversationKey, conv_id
from flowview.model.sanitize import clean_name

log = logging.getLogger(__name__)

SNIPPET_CHARS: Final = 160
CANDIDATES: Final = 5000  # see _ranked
_M_COLUMNS: Final = ", ".join(f"m.{c.strip()}" for c in _COLUMNS.split(","))


@dataclass(frozen=True, slots=True)
class Snippet:
    """One line of sanitised text and the spans of it that matched (character offsets)."""

    text: str
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Hit:
    message: ArchivedMessage
    conversation: str  # "org/flow" or "@nick" (sanitised)
    nick: str  # sanitised; the user id when the name is unknown
    snippet: Snippet
    score: float  # bm25 (lower is better); 0.0 for filter-only queries

    @property
    def key(self) -> ConversationKey:
        return self.message.key

    def to_json(self) -> dict[str, Any]:
        return {
            **self.message.to_json(),
            "flow": self.conversation,
            "nick": self.nick,
            "score": self.score,
        }


def _match_pattern(query: Query) -> re.Pattern[str] | None:
    """A regex finding the query's positive words in sanitised text (case-insensitive)."""
    alternatives: list[str] = []
    for term in query.positive:
        for i, word in enumerate(term.words):
            tail = r"[^\W_]*" if term.prefix and i == len(term.words) - 1 else r"(?![^\W_])"
            alternatives.append(rf"(?<![^\W_]){re.escape(word)}{tail}")
    if not alternatives:
        return None
    return re.compile("|".join(alternatives), re.IGNORECASE)


def make_snippet(text: str, pattern: re.Pattern[str] | None, width: int = SNIPPET_CHARS) -> Snippet:
    """A one-line window of `text` around its first match, with all match spans in it."""
    line = clean_name(text, max_chars=100_000)
    matches = list(pattern.finditer(line)) if pattern is not None else []
    start = 0
    if matches and matches[0].start() > width // 3:
        start = matches[0].start() - width // 3
        # Start at a word boundary when there is one close by.
        space = line.find(" ", start, matches[0].start())
        if space >= 0:
            start = space + 1
    end = min(len(line), start + width)
    window = line[start:end]
    lead = "…" if start > 0 else ""
    trail = "…" if end < len(line) else ""
    shift = len(lead) - start
    spans = tuple(
        (max(m.start(), start) + shift, min(m.end(), end) + shift)
        for m in matches
        if m.start() < end and m.end() > start
    )
    return Snippet(lead + window + trail, spans)


def _ids(archive: Archive, sql: str, values: Sequence[str]) -> list[str]:
    found: list[str] = []
    for value in values:
        found += [r[0] for r in archive.query(sql, (value, value, value))]
    return found


def search(
    archive: Archive,
    query: Query | str,
    *,
    conversation: ConversationKey | None = None,
    limit: int = 20,
    offset: int = 0,
    me: str | None = None,
) -> list[Hit]:
    """Hits for `query`, best first.  `conversation` restricts to one flow or chat (the "this
    flow" filter).  Raises QueryError (and only that) for a query that cannot run."""
    if isinstance(query, str):
        query = parse_query(query)
    where: list[str] = []
    params: list[Any] = []
    if query.nicks:
        user_ids = _ids(
            archive,
            "SELECT id FROM users WHERE nick = ? COLLATE NOCASE OR name = ? COLLATE NOCASE"
            " OR id = ?",
            query.nicks,
        )
        if not user_ids:
            return []
        where.append(f"m.user IN ({','.join('?' * len(user_ids))})")
        params += user_ids
    if query.flows:
        flows = _ids(
            archive,
            "SELECT id FROM flows WHERE organization || '/' || parameterized_name = ?"
            " COLLATE NOCASE OR parameterized_name = ? COLLATE NOCASE OR name = ? COLLATE NOCASE",
            query.flows,
        )
        if not flows:
            return []
        where.append(f"m.conv IN ({','.join('?' * len(flows))})")
        params += [conv_id(("flow", f)) for f in flows]
    if conversation is not None:
        where.append("m.conv = ?")
        params.append(conv_id(conversation))
    if query.since_ms is not None:
        where.append("m.sent >= ?")
        params.append(query.since_ms)
    if query.until_ms is not None:
        where.append("m.sent < ?")
        params.append(query.until_ms)
    where.append("m.deleted = 0")
    expression = query.fts_expression()
    if expression is not None:
        params[:0] = [expression, 0]
        params += [limit, offset]
        return _ranked(archive, query, " AND ".join(where), params, expression, limit, me)
    else:
        negative = query.negative_expression()
        if negative is not None:
            where.append(
                "m.rowid NOT IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
            )
            params.append(negative)
        sql = (
            f"SELECT {_M_COLUMNS}, 0.0 AS score FROM messages m WHERE {' AND '.join(where)}"
            " ORDER BY m.sent DESC, m.id DESC LIMIT ? OFFSET ?"
        )
    params += [limit, offset]
    return _hits(archive, query, _run(archive, sql, params), me)


def _run(archive: Archive, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    try:
        return archive.query(sql, params)
    except sqlite3.OperationalError as exc:
        # Not expected (every word is quoted), but a user's query must never become a
        # traceback: report it as a bad query, with the details in the log.
        log.exception("search query failed")
        raise QueryError(f"cannot run this query ({exc})") from None


def _fts_sql(where: str, *, by_relevance: bool) -> str:
    """A full-text query; parameters: MATCH expression, lowest rowid, filters, limit, offset."""
    score, order = (
        ("bm25(messages_fts, 2.0, 1.0)", "round(score, 1), m.sent DESC, m.id DESC")
        if by_relevance
        else ("0.0", "messages_fts.rowid DESC")
    )
    return (
        f"SELECT {_M_COLUMNS}, {score} AS score"
        " FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid"
        f" WHERE messages_fts MATCH ? AND messages_fts.rowid >= ? AND {where}"
        f" ORDER BY {order} LIMIT ? OFFSET ?"
    )


def _newest_window(archive: Archive, query: Query) -> int:
    """The rowid of the CANDIDATES-th newest match of `query`, 0 when there are fewer."""
    expression = query.fts_expression()
    if expression is None:
        return 0
    row = _run(
        archive,
        "SELECT coalesce((SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
        " ORDER BY rowid DESC LIMIT 1 OFFSET ?), 0)",
        (expression, CANDIDATES - 1),
    )[0]
    return int(row[0])


def _ranked(
    archive: Archive,
    query: Query,
    where: str,
    params: list[Any],
    expression: str,
    limit: int,
    me: str | None,
) -> list[Hit]:
    """bm25 when the query matches at most CANDIDATES messages; newest first when it matches
    more (a common word in a big archive).  bm25 reads every match of every word to weigh it:
    for a word in half of a million messages that takes hundreds of milliseconds, and among so
    many matches the newest are what people look for.  When the filters leave too few hits
    among the newest CANDIDATES matches, the whole archive is ranked after all."""
    # The window is the newest CANDIDATES messages matching the words that must be there;
    # excluded words are then checked inside it only (a NOT over two common words otherwise
    # walks both in full).
    window_query = replace(query, terms=query.positive)
    window_expression, threshold = expression, 0
    exact = query.without_prefixes()
    if exact.fts_expression() != expression:
        # A prefix ("deplo*") is merged over every word it starts (there is no prefix index,
        # schema.py), which costs as much as reading all their matches; when the word as
        # typed is common on its own, its newest matches are the newest matches of the
        # prefix too, near enough, at ~1% of the cost.
        threshold = _newest_window(archive, replace(exact, terms=exact.positive))
        window_expression = exact.fts_expression() or expression
    if not threshold:
        threshold = _newest_window(archive, window_query)
        window_expression = expression
    if threshold:
        found = _run(
            archive,
            _fts_sql(where, by_relevance=False),
            [window_expression, threshold, *params[2:]],
        )
        if len(found) >= limit:
            return _hits(archive, query, found, me)
    return _hits(archive, query, _run(archive, _fts_sql(where, by_relevance=True), params), me)


def _hits(
    archive: Archive, query: Query, found: list[tuple[Any, ...]], me: str | None
) -> list[Hit]:
    pattern = _match_pattern(query)
    users = archive.users()
    labels: dict[ConversationKey, str] = {}
    hits: list[Hit] = []
    for row in found:
        message = message_from_row(row[:-1])
        if message.key not in labels:
            labels[message.key] = clean_name(archive.conversation_label(message.key, me))
        user = message.user or ""
        nick = users.get(user, (user, ""))[0] if user else ""
        if not nick:
            nick = str(message.raw.get("external_user_name") or "")
        hits.append(
            Hit(
                message=message,
                conversation=labels[message.key],
                nick=clean_name(nick, max_chars=32),
                snippet=make_snippet(message.text, pattern),
                score=float(row[-1]),
            )
        )
    return hits


__all__ = ["Hit", "QueryError", "Snippet", "make_snippet", "parse_query", "search"]
