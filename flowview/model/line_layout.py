"""How one chat line is laid out at one width: header rows, prefix, body, wrapped rows.

Textual-free (plain strings and character spans), so the line index and its tests need no UI.
The widget turns a :class:`Layout` into styled rows; roles (``"time"``, ``"nick"``, ``"url"``…)
name styles, they never carry markup.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from rich.cells import cell_len

from flowview.model import render
from flowview.model.render import find_spans, format_day, format_time, single_cell, wrap

if TYPE_CHECKING:
    from flowview.model.router import Router
    from flowview.model.stored_message import StoredMessage

log = logging.getLogger(__name__)

__all__ = [
    "CTXS",
    "MAX_BODY_ROWS",
    "NICK_SLOTS",
    "NO_CTX",
    "TIME_WIDTH",
    "Ctx",
    "Layout",
    "LineLayout",
    "Span",
    "ctx",
    "fit",
    "nick_slot",
    "width_of",
]

NICK_MAX_CELLS: Final = 16
MAX_BODY_ROWS: Final = 200
NARROW_TEXT: Final = 20  # below this many cells of text column, continuation rows indent less
TIME_WIDTH: Final = 6  # "HH:MM "
NICK_SLOTS: Final = 8  # nick colours per theme (the widget maps a slot to a theme colour)
_ROLE_KINDS: Final = frozenset({"status", "action", "comment", "file", "activity", "discussion"})

Span = tuple[int, int, str]


def nick_slot(key: str) -> int:
    """Stable colour slot for a user id (or an integration's author name)."""
    return zlib.crc32(key.encode("utf-8", "replace")) % NICK_SLOTS


def width_of(s: str) -> int:
    """Terminal cells of ``s``."""
    return len(s) if s.isascii() else cell_len(s)


def fit(s: str, cells: int) -> str:
    """``s`` cut to ``cells`` cells, with an ellipsis when cut."""
    if width_of(s) <= cells:
        return s
    out = ""
    for ch in s:
        if width_of(out + ch) > cells - 1:
            break
        out += ch
    return out + "…"


@dataclass(slots=True, frozen=True)
class Ctx:
    """What a line's neighbours add: a day separator, the "new" marker, thread grouping."""

    day_sep: bool
    marker: bool
    grouped: bool


# The 8 possible contexts, shared: the line index holds one per message (10,000 per flow).
CTXS: Final = tuple(Ctx(bool(i & 4), bool(i & 2), bool(i & 1)) for i in range(8))


def ctx(day_sep: bool, marker: bool, grouped: bool) -> Ctx:
    return CTXS[day_sep << 2 | marker << 1 | grouped]


NO_CTX: Final = ctx(False, False, False)


@dataclass(slots=True)
class Layout:
    """How one message is drawn at one width: header rows, prefix, body and its rows."""

    headers: list[tuple[str, str]]  # (text, role) rows above the message
    prefix: list[tuple[str, str]]  # first-row prefix parts (text, role)
    indent: int  # cells before continuation rows
    body: str
    spans: list[Span]
    rows: list[tuple[int, int]]
    line_role: str  # style of the whole message ("" for plain)
    truncated: int = 0  # body rows not shown (MAX_BODY_ROWS)

    @property
    def height(self) -> int:
        return len(self.headers) + len(self.rows) + (1 if self.truncated else 0)


def _suffixes(message: StoredMessage) -> list[tuple[str, str]]:
    """What follows a line's text: (edited), reactions, and an unconfirmed outbox line's state."""
    found: list[tuple[str, str]] = []
    if message.edited and not message.deleted:
        found.append((" (edited)", "meta"))
    if message.reactions:
        found.append((render.format_reactions(message.reactions), "meta"))
    if message.outbox is not None:  # an outbox line the server has not confirmed yet
        failed = message.outbox.startswith("failed")
        found.append((f"  [{message.outbox}]", "failed" if failed else "pending"))
    return found


class LineLayout:
    """Measures and lays out messages; ``measure`` is the hot path of indexing.

    ``api_url`` resolves server-relative file paths (``/files/…``) to full URLs.
    """

    def __init__(self, router: Router, *, api_url: str | None = None) -> None:
        self.router = router
        self.api_url = api_url.rstrip("/") if api_url else None
        self._sender_cache: dict[str, tuple[str, int]] = {}
        self._sender_version = -1

    # ------------------------------------------------------------------ parts

    def sender(self, message: StoredMessage) -> tuple[str, int]:
        """(nick as shown, its cells), cached until a nick changes."""
        if self._sender_version != self.router.users_version:
            self._sender_cache.clear()
            self._sender_version = self.router.users_version
        key = message.author or message.user_id or ""
        found = self._sender_cache.get(key)
        if found is None:
            nick = fit(self.router.sender_of(message), NICK_MAX_CELLS)
            found = (nick, width_of(nick))
            if len(self._sender_cache) > 4096:
                self._sender_cache.clear()
            self._sender_cache[key] = found
        return found

    def prefix(self, message: StoredMessage) -> tuple[list[tuple[str, str]], int, str]:
        """First-row prefix parts (text, role), their cells, and the line's role."""
        kind = message.kind
        time = format_time(message.sent) + " "
        if kind in ("system", "unknown"):
            return [(time, "time"), ("-- ", kind)], TIME_WIDTH + 3, kind
        nick, cells = self.sender(message)
        if kind == "line":
            parts = [(time, "time"), ("* ", "line"), (nick, "nick"), (" ", "")]
            return parts, TIME_WIDTH + 3 + cells, "line"
        role = kind if kind in _ROLE_KINDS else ""
        return [(time, "time"), (nick, "nick"), ("  ", "")], TIME_WIDTH + 2 + cells, role

    def prefix_cells(self, message: StoredMessage) -> int:
        kind = message.kind
        if kind in ("system", "unknown"):
            return TIME_WIDTH + 3
        return TIME_WIDTH + (3 if kind == "line" else 2) + self.sender(message)[1]

    def file_text(self, text: str) -> str:
        """A file line (``name (size, type) /files/…``) with its path as a full URL."""
        head, sep, path = text.rpartition(" ")
        if not sep or not path.startswith("/"):
            return text
        return f"{head} {render.absolute_file_url(path, self.api_url)}"

    def links(self, message: StoredMessage) -> list[str]:
        """Every URL a user can open from a line (``o``): a file's own address first."""
        if message.deleted:
            return []
        found: list[str] = []
        if message.kind == "file":
            path = message.text.rpartition(" ")[2]
            url = render.absolute_file_url(path, self.api_url)
            if url.startswith(("http://", "https://")):
                found.append(url)
        for text in (message.text, message.title):
            for url in render.all_urls(text) if text else ():
                if url not in found:
                    found.append(url)
        return found

    def body(self, message: StoredMessage, context: Ctx) -> tuple[str, list[Span], int, int]:
        """The wrapped part of a line: (body, structural spans, text start, text length)."""
        parts: list[str] = []
        spans: list[Span] = []
        pos = 0

        def add(text: str, role: str = "") -> None:
            nonlocal pos
            if role:
                spans.append((pos, pos + len(text), role))
            parts.append(text)
            pos += len(text)

        kind = message.kind
        if message.thread_title is not None:
            if context.grouped:
                add("↳ ", "thread")
            else:
                add(f"↳ {message.thread_title or 'thread'} · ", "thread")
        if kind == "comment":
            add(f"comment on “{message.title or 'an item'}”: ", "comment")
        elif kind == "status":
            add("status: ", "meta")
        elif kind == "file":
            add("file: ", "file")
        elif kind in ("activity", "discussion") and message.title:
            add(message.title, "title")
            if message.text:
                add(" — ")
        text_start = pos
        text = message.text
        if message.deleted:
            add("(message deleted)", "deleted")
            text_start, text = -1, ""
        else:
            if "\t" in text:
                text = text.replace("\t", "    ")
            if kind == "file":
                text = self.file_text(text)
            add(text)
        for suffix, role in _suffixes(message):
            add(suffix, role)
        body = parts[0] if len(parts) == 1 else "".join(parts)
        return body, spans, text_start, len(text)

    # ------------------------------------------------------------------ measure and lay out

    def measure(self, message: StoredMessage, context: Ctx, width: int) -> int:
        """Rows of a message at ``width`` (headers + body)."""
        height = context.day_sep + context.marker
        kind = message.kind
        if kind == "gap":
            return height + 1
        prefix_cells = self.prefix_cells(message)
        if (
            kind == "message"
            and message.thread_title is None
            and not message.edited
            and not message.reactions
            and not message.deleted
            and message.outbox is None
        ):
            body = message.text  # the common case: the body is the text itself
            if "\t" in body:
                body = body.replace("\t", "    ")
        else:
            body = self.body(message, context)[0]
        first = width - prefix_cells
        if len(body) <= first and "\n" not in body and single_cell(body):
            return height + 1
        indent = prefix_cells if first >= NARROW_TEXT else min(TIME_WIDTH, width - 1)
        rows = len(wrap(body, max(first, 1), max(width - indent, 1)))
        return height + min(rows, MAX_BODY_ROWS)

    def layout(self, message: StoredMessage, context: Ctx, width: int) -> Layout:
        headers: list[tuple[str, str]] = []
        if context.day_sep and message.sent is not None:
            headers.append((format_day(message.sent), "day"))
        if context.marker:
            headers.append(("new", "marker"))
        if message.kind == "gap":
            headers.append((message.text, "gap"))
            return Layout(headers, [], 0, "", [], [], "gap")

        prefix, prefix_cells, line_role = self.prefix(message)
        body, spans, text_start, text_len = self.body(message, context)
        if text_start >= 0 and text_len:
            me_nick = self.router.me_nick
            for start, end, role in find_spans(body[text_start : text_start + text_len], me_nick):
                spans.append((start + text_start, end + text_start, role))
            spans.sort()

        first = width - prefix_cells
        indent = prefix_cells if first >= NARROW_TEXT else min(TIME_WIDTH, width - 1)
        rows = wrap(body, max(first, 1), max(width - indent, 1))
        truncated = 0
        if len(rows) > MAX_BODY_ROWS:
            truncated = len(rows) - (MAX_BODY_ROWS - 1)
            rows = rows[: MAX_BODY_ROWS - 1]
        return Layout(headers, prefix, max(indent, 0), body, spans, rows, line_role, truncated)
