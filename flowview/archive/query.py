"""The search query language: free text plus `from:nick`, `#tag`, `in:flow`, `since:`/`until:`.

The user's text never reaches FTS5's query parser as written: it is split into words here and
every word is quoted when the FTS5 expression is built, so quotes, colons, a lone `*`, `NEAR`,
`AND` or unbalanced parentheses are plain text, and nothing but `QueryError` ever comes out.

    deploy "build failed" -flaky from:robin #ops in:acme/main since:2026-05-01 until:yesterday

* words must all match (a trailing `*` makes a word a prefix); `"..."` is a phrase (an
  unclosed quote runs to the end, so typing one is never an error); `-word` excludes.
* dates are local: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `today`, `yesterday` or `Nd` (N days ago);
  `until:` a date includes that whole day.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Final

log = logging.getLogger(__name__)

MAX_QUERY_CHARS: Final = 1000
MAX_TERMS: Final = 32
# As you type, the last word is a prefix from this many characters on (schema.py: the index
# has no prefix index, and a shorter prefix merges over too many words to be quick).
TYPED_PREFIX_MIN: Final = 4

# What FTS5's unicode61 tokenizer keeps together: letters and digits (underscore separates).
WORD: Final = re.compile(r"[^\W_]+")
_FILTERS: Final = ("from", "in", "since", "until")
_DAYS_AGO: Final = re.compile(r"(\d{1,4})d")


class QueryError(ValueError):
    """A query that cannot be run; the message is meant for the user as it is."""


@dataclass(frozen=True, slots=True)
class Term:
    words: tuple[str, ...]  # lowercased tokens; more than one is a phrase
    prefix: bool = False  # the last word matches as a prefix
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[Term, ...] = ()
    nicks: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None  # exclusive
    text: str = field(default="", compare=False)

    @property
    def positive(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.negated)

    @property
    def has_filters(self) -> bool:
        return bool(self.nicks or self.tags or self.flows) or (
            self.since_ms is not None or self.until_ms is not None
        )

    def fts_expression(self) -> str | None:
        """The FTS5 MATCH expression (every word quoted); None when only filters apply."""
        parts = [_phrase(t) for t in self.positive]
        parts += [f"tags : {_phrase(Term(tuple(WORD.findall(tag))))}" for tag in self.tags]
        if not parts:
            return None
        expr = " AND ".join(parts)
        for term in self.terms:
            if term.negated:
                expr = f"({expr}) NOT {_phrase(term)}"
        return expr

    def without_prefixes(self) -> Query:
        """The query with its prefixes made exact words."""
        terms = tuple(replace(t, prefix=False) if t.prefix else t for t in self.terms)
        return replace(self, terms=terms)

    def negative_expression(self) -> str | None:
        """The excluded words as one FTS5 expression (for a query with filters only)."""
        parts = [_phrase(t) for t in self.terms if t.negated]
        return " OR ".join(parts) if parts else None


def _phrase(term: Term) -> str:
    # Words hold letters and digits only, so quoting cannot be escaped from.
    body = " ".join(term.words)
    return f'"{body}"*' if term.prefix else f'"{body}"'


def _split(text: str) -> list[tuple[str, bool]]:
    """Whitespace-separated pieces, with `"..."` pieces kept whole: (piece, was_quoted)."""
    pieces: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        negate = text[i] == "-" and i + 1 < n and text[i + 1] == '"'
        if negate:
            i += 1
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                end = n  # unclosed: to the end (the user is still typing)
            pieces.append((("-" if negate else "") + text[i + 1 : end], True))
            i = end + 1
            continue
        i = start
        while i < n and not text[i].isspace():
            i += 1
        pieces.append((text[start:i], False))
    return pieces


def parse_date(value: str, today: date, *, end: bool) -> int:
    """ms epoch (local time) of a date/time; `end` moves a bare date to the next midnight."""
    low = value.lower()
    day: date | None = None
    moment: datetime | None = None
    if low == "today":
        day = today
    elif low == "yesterday":
        day = today - timedelta(days=1)
    elif (m := _DAYS_AGO.fullmatch(low)) is not None:
        day = today - timedelta(days=int(m.group(1)))
    else:
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
            else:
                moment = datetime.fromisoformat(value)
        except ValueError:
            raise QueryError(
                f"cannot read the date {value!r} (use YYYY-MM-DD, YYYY-MM-DDTHH:MM, today, "
                "yesterday or 7d)"
            ) from None
    if day is not None:
        if end:
            day += timedelta(days=1)
        moment = datetime(day.year, day.month, day.day)
    assert moment is not None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise QueryError(f"the date {value!r} is out of range") from None


@dataclass
class _Parts:
    """What the pieces of a query said, gathered while parsing (see parse_query)."""

    terms: list[Term] = field(default_factory=list)
    nicks: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    since_ms: int | None = None
    until_ms: int | None = None


def _take_filter(parts: _Parts, body: str, today: date) -> bool:
    """`from:`, `in:`, `since:`, `until:` or `#tag` (not negated, not quoted) into `parts`;
    False when `body` is none of them."""
    name, colon, value = body.partition(":")
    kind = name.lower()
    if colon and kind in _FILTERS:
        if not value:
            raise QueryError(f"{kind}: needs a value (e.g. {kind}:x)")
        if kind == "from":
            parts.nicks.append(value.lstrip("@"))
        elif kind == "in":
            parts.flows.append(value)
        elif kind == "since":
            parts.since_ms = parse_date(value, today, end=False)
        else:
            parts.until_ms = parse_date(value, today, end=True)
        return True
    if body.startswith("#"):
        tag = body.lstrip("#")
        if WORD.search(tag):
            parts.tags.append(tag.lower())
        return True
    return False


def parse_query(text: str, *, prefix_last: bool = False, today: date | None = None) -> Query:
    """Parse a user's query.  `prefix_last` makes the last bare word a prefix (search as you
    type).  Raises QueryError for an empty query, a filter without a value, a bad date or a
    query that only excludes."""
    if not isinstance(text, str):
        raise QueryError("the query is not text")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is too long (at most {MAX_QUERY_CHARS} characters)")
    today = today or date.today()
    parts = _Parts()
    pieces = _split(text)
    for index, (piece, quoted) in enumerate(pieces):
        negated = piece.startswith("-") and len(piece) > 1
        body = piece[1:] if negated else piece
        if not quoted and not negated and _take_filter(parts, body, today):
            continue
        words = tuple(w.lower() for w in WORD.findall(body))
        if not words:
            continue  # `*`, `()`, `:` ... carry nothing to search for
        # As you type, a word of 1-3 characters is searched as a whole word: there is no
        # prefix index (schema.py), and prefixes that short match too many words to merge
        # quickly or to be useful; from the fourth character on, the word is a prefix.
        prefix = not quoted and (
            body.endswith("*")
            or (
                prefix_last
                and index == len(pieces) - 1
                and not negated
                and len(words[-1]) >= TYPED_PREFIX_MIN
            )
        )
        parts.terms.append(Term(words, prefix=prefix, negated=negated))
    if len(parts.terms) + len(parts.tags) > MAX_TERMS:
        raise QueryError(f"too many words (at most {MAX_TERMS})")
    since_ms, until_ms = parts.since_ms, parts.until_ms
    query = Query(
        terms=tuple(parts.terms),
        nicks=tuple(parts.nicks),
        tags=tuple(parts.tags),
        flows=tuple(parts.flows),
        since_ms=since_ms,
        until_ms=until_ms,
        text=text,
    )
    if not query.positive and not query.has_filters:
        if query.terms:
            raise QueryError("a query cannot only exclude words: add a word or a filter")
        raise QueryError("nothing to search for: type a word, from:nick, #tag or in:flow")
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise QueryError("since: is not before until:")
    return query
