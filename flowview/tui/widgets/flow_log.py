"""FlowLog: the message view of one conversation, a line-API ``ScrollView`` over a store.

Only visible rows are rendered (``render_line``). A per-width line index maps each message to
its rows (day separator, "new" marker, wrapped body); it is built lazily, extended on appends,
patched for in-place edits (only the edited message is re-measured; offsets after it shift) and
rebuilt on resize (real reflow) or when history is inserted above. Rendered rows are cached in
an LRU keyed by (seq, version, width, selected, context).

Safety: every row is built from already-sanitised plain strings as rich ``Segment`` objects
with styles — no markup is ever parsed, so ``[bold]x[/]`` or ``[@click=app.quit]`` stay text.

Sticky bottom: while the view is at the bottom, new lines keep it there; once the user scrolls
up it stays put and a "N new messages below ↓" hint is drawn over the last row (click it or
press End to jump down).

Public API (the app shell builds on it):

* ``FlowLog(store, router, *, id=None, classes=None)``
* ``refresh_from_store()`` after each batch of routed events (cheap and incremental)
* ``at_bottom``, ``scroll_to_end()``, ``selected`` (the selected ``StoredMessage`` or None),
  ``select_seq(seq)``, ``pending`` (lines below the view), ``row_text(y)`` (tests, debugging)
* messages ``FlowLog.ReachedTop``, ``FlowLog.ScrolledToEnd``, ``FlowLog.ThreadRequested``,
  ``FlowLog.LinkRequested``
"""

from __future__ import annotations

import zlib
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, ClassVar, Final

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from flowview.model import render
from flowview.model.render import find_spans, format_day, format_time, single_cell, wrap
from flowview.model.router import first_link
from flowview.model.store import ConversationStore, StoredMessage
from flowview.protocol.events import ConversationKey
from flowview.tui.widgets.new_messages_hint import NewMessagesHint

if TYPE_CHECKING:
    from flowview.model.router import Router

__all__ = ["NICK_COLOURS", "FlowLog", "nick_colour"]

NICK_COLOURS: Final = (
    "#e06c75", "#d19a66", "#e5c07b", "#98c379", "#56b6c2", "#61afef",
    "#c678dd", "#f78fb3", "#7fc8a9", "#b8a4ff", "#ffb86c", "#8be9fd",
)  # fmt: skip
NICK_MAX_CELLS: Final = 16
MAX_BODY_ROWS: Final = 200
NARROW_TEXT: Final = 20  # below this many cells of text column, continuation rows indent less
TIME_WIDTH: Final = 6  # "HH:MM "
LAZY_AFTER: Final = 3000  # conversations longer than this are laid out in two phases
LAZY_TAIL: Final = 600  # newest lines measured before the first frame (a screen is ~50)
LAZY_CHUNK: Final = 4000  # older lines measured per refresh afterwards
_ROLE_KINDS: Final = frozenset({"status", "action", "comment", "file", "activity", "discussion"})


def nick_colour(key: str) -> str:
    """Stable colour for a user id (or an integration's author name)."""
    return NICK_COLOURS[zlib.crc32(key.encode("utf-8", "replace")) % len(NICK_COLOURS)]


def _width(s: str) -> int:
    return len(s) if s.isascii() else cell_len(s)


def _fit(s: str, cells: int) -> str:
    if _width(s) <= cells:
        return s
    out = ""
    for ch in s:
        if _width(out + ch) > cells - 1:
            break
        out += ch
    return out + "…"


# ---------------------------------------------------------------- layout of one message

Span = tuple[int, int, str]


@dataclass(slots=True)
class _Layout:
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


@dataclass(slots=True, frozen=True)
class _Ctx:
    day_sep: bool
    marker: bool
    grouped: bool


# The 8 possible contexts, shared: the line index holds one per message (10,000 per flow).
_CTXS: Final = tuple(_Ctx(bool(i & 4), bool(i & 2), bool(i & 1)) for i in range(8))


def _ctx(day_sep: bool, marker: bool, grouped: bool) -> _Ctx:
    return _CTXS[day_sep << 2 | marker << 1 | grouped]


@dataclass(slots=True)
class _Anchor:
    seq: int
    row: int


_NO_CTX: Final = _ctx(False, False, False)


class FlowLog(ScrollView, can_focus=True, inherit_bindings=False):
    """Scrollable, virtualised view of a :class:`ConversationStore`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Previous", show=False, id="flow_log.cursor_up"),
        Binding("down", "cursor_down", "Next", show=False, id="flow_log.cursor_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="flow_log.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="flow_log.page_down"),
        Binding("home", "first", "Oldest", show=False, id="flow_log.home"),
        Binding("end", "last", "Bottom", id="flow_log.end"),
        Binding("t", "open_thread", "Thread", id="flow_log.open_thread"),
        Binding("o", "open_link", "Open link", id="flow_log.open_link"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "flow-log--time",
        "flow-log--day",
        "flow-log--marker",
        "flow-log--gap",
        "flow-log--selected",
        "flow-log--mention-line",
        "flow-log--me",
        "flow-log--team",
        "flow-log--mention",
        "flow-log--url",
        "flow-log--tag",
        "flow-log--thread",
        "flow-log--meta",
        "flow-log--deleted",
        "flow-log--status",
        "flow-log--line",
        "flow-log--action",
        "flow-log--system",
        "flow-log--unknown",
        "flow-log--file",
        "flow-log--title",
        "flow-log--comment",
        "flow-log--activity",
        "flow-log--discussion",
        "flow-log--hint",
    }

    DEFAULT_CSS = """
    FlowLog {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: scroll;
        &:focus { background-tint: $foreground 3%; }
        & > .flow-log--time { color: $text-muted; }
        & > .flow-log--day { color: $text-muted; text-style: bold; }
        & > .flow-log--marker { color: $error; text-style: bold; }
        & > .flow-log--gap { color: $warning; text-style: italic; }
        & > .flow-log--selected { background: $block-cursor-background 40%; }
        & > .flow-log--mention-line { background: $warning 15%; }
        & > .flow-log--me { color: $warning; text-style: bold reverse; }
        & > .flow-log--team { color: $error; text-style: bold reverse; }
        & > .flow-log--mention { text-style: bold; }
        & > .flow-log--url { color: $text-accent; text-style: underline; }
        & > .flow-log--tag { color: $text-secondary; text-style: bold; }
        & > .flow-log--thread { color: $text-muted; text-style: italic; }
        & > .flow-log--meta { color: $text-muted; }
        & > .flow-log--deleted { color: $text-muted; text-style: italic; }
        & > .flow-log--status { color: $text-primary; text-style: italic; }
        & > .flow-log--line { text-style: italic; }
        & > .flow-log--action { color: $text-muted; text-style: italic; }
        & > .flow-log--system { color: $text-muted; }
        & > .flow-log--unknown { color: $text-disabled; text-style: italic; }
        & > .flow-log--file { color: $text-success; }
        & > .flow-log--title { text-style: bold; }
        & > .flow-log--comment { color: $text-muted; text-style: italic; }
        & > .flow-log--activity { color: $text-secondary; }
        & > .flow-log--discussion { color: $text-secondary; }
        & > .flow-log--hint { background: $accent; color: $text; text-style: bold; }
    }
    """

    # ------------------------------------------------------------------ messages

    @dataclass
    class ReachedTop(Message):
        """The user scrolled (or moved the cursor) to the top: load older history."""

        key: ConversationKey
        flow_log: FlowLog

        @property
        def control(self) -> FlowLog:
            return self.flow_log

    @dataclass
    class ScrolledToEnd(Message):
        """The user reached the bottom: the app may mark the conversation read."""

        key: ConversationKey
        flow_log: FlowLog

        @property
        def control(self) -> FlowLog:
            return self.flow_log

    @dataclass
    class ThreadRequested(Message):
        """Key ``t`` on a message that belongs to a thread."""

        thread_id: str
        key: ConversationKey
        flow_log: FlowLog | None = None

        @property
        def control(self) -> FlowLog | None:
            return self.flow_log

    @dataclass
    class LinkRequested(Message):
        """Key ``o``: open the first ``http(s)`` URL of the selected message."""

        url: str
        flow_log: FlowLog | None = None

        @property
        def control(self) -> FlowLog | None:
            return self.flow_log

    # ------------------------------------------------------------------ setup

    def __init__(
        self,
        store: ConversationStore,
        router: Router,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.store = store
        self.router = router
        # line index (per width)
        self._width = 0
        self._heights: list[int] = []
        self._seqs: list[int] = []  # seq of each indexed message
        # first row of each message (machine ints: 8 bytes each instead of an int object)
        self._offsets: array[int] = array("q")
        self._ctx: list[_Ctx] = []
        self._days: list[int | None] = []  # last known day up to and including i
        self._total = 0
        # what the index reflects
        self._epoch = -1
        self._dropped = 0
        self._version = -1
        self._users_version = -1
        self._marker_seq: int | None = None
        # view state
        self._following = True
        self._selected: int | None = None
        self._hint = NewMessagesHint()
        self._cache: LRUCache[tuple[object, ...], list[Strip]] = LRUCache(600)
        self._style_cache: dict[tuple[str, ...], Style] = {}
        self._theme_gen = 0
        self._appended_seen = 0
        self._sender_cache: dict[str, tuple[str, int]] = {}
        self._layout_gen = 0
        self._lazy_end = 0  # lines before this index have estimated heights (see _rebuild)
        self._sender_version = -1

    # ------------------------------------------------------------------ public API

    @property
    def key(self) -> ConversationKey:
        return self.store.key

    @property
    def at_bottom(self) -> bool:
        """True when the last line is in view (new lines will keep it there)."""
        return self._following or self.scroll_offset.y >= self.max_scroll_y

    @property
    def pending(self) -> int:
        """Lines that arrived below the view while the user was reading history."""
        return self._hint.count

    @property
    def selected(self) -> StoredMessage | None:
        """The message under the cursor, if any."""
        return self.store.by_seq(self._selected) if self._selected is not None else None

    @property
    def total_rows(self) -> int:
        return self._total

    @property
    def layout_complete(self) -> bool:
        """False while older lines of a long conversation are still being measured."""
        return self._lazy_end == 0

    def select_seq(self, seq: int | None) -> None:
        """Put the cursor on a message (None clears it) and scroll it into view."""
        old = self._selected
        self._selected = seq
        if seq is not None:
            self._scroll_to_message(seq)
        if old != seq:
            self.refresh()

    def scroll_to_end(self) -> None:
        """Jump to the newest line and follow new ones again."""
        was_following = self._following
        self._following = True
        self._hint.count = 0
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()
        if not was_following:
            self.post_message(self.ScrolledToEnd(self.store.key, self))

    def refresh_from_store(self) -> None:
        """Bring the view up to date with the store (call after each batch of events).

        Cheap and incremental: appended messages are measured, edited ones re-measured,
        nothing else is touched; a full re-layout happens only on width changes, history
        inserted above, or nick renames.
        """
        self.store.sync()
        if not self.is_mounted:
            return
        width = self._wrap_width()
        if width <= 0:
            return
        store = self.store
        anchor = None if self._following else self._anchor()
        appended = 0
        if (
            width != self._width
            or store.epoch != self._epoch
            or self.router.users_version != self._users_version
        ):
            appended = max(0, store.appended - self._appended_seen) if self._width else 0
            self._rebuild(width)
        else:
            appended = self._update_incremental()
        self._appended_seen = store.appended
        self._set_virtual_size(Size(width, self._total))
        if self._following:
            self._hint.count = 0
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        else:
            if appended:
                self._hint.count += appended
            if anchor is not None:
                self._restore(anchor)
        self.refresh()

    def row_text(self, y: int) -> str:
        """Plain text of virtual row ``y`` (0 = first row of the log); for tests."""
        found = self._locate(y)
        if found is None:
            return ""
        index, row = found
        return self._message_strips(index)[row].text

    # ------------------------------------------------------------------ index

    def _wrap_width(self) -> int:
        return self.scrollable_content_region.width

    def _rebuild(self, width: int) -> None:
        self._width = width
        self._epoch = self.store.epoch
        self._dropped = self.store.dropped
        self._version = self.store.version
        self._users_version = self.router.users_version
        self._marker_seq = self.store.first_unread_seq
        self._layout_gen += 1
        messages = self.store.messages
        n = len(messages)
        if n > LAZY_AFTER:
            # Lay out the newest lines now and estimate the older ones as one row each; the
            # rest is measured in chunks after the first frame, so a big conversation shows
            # at once and the event loop never stalls on it.
            k = n - LAZY_TAIL
            self._seqs = [m.seq for m in messages[:k]]
            self._heights = [1] * k
            self._ctx = [_NO_CTX] * k
            self._days = [None] * k
            self._days[k - 1] = render.day_key(messages[k - 1].sent)
            self._lazy_end = k
            self._measure_span(k, n)
            self.call_after_refresh(self._measure_lazily, self._layout_gen)
        else:
            self._heights, self._seqs, self._ctx, self._days = [], [], [], []
            self._lazy_end = 0
            self._measure_span(0, n)
        self._reoffset(0)

    def _measure_from(self, start: int) -> None:
        """Measure messages ``start..`` (replacing the index from there) and fix offsets."""
        del self._heights[start:], self._ctx[start:], self._days[start:], self._seqs[start:]
        self._measure_span(start, len(self.store.messages))
        self._reoffset(start)

    def _measure_span(self, start: int, end: int) -> None:
        """(Re)measure messages ``start..end`` into the index lists (offsets not updated)."""
        messages = self.store.messages
        days = self._days
        prev_day = days[start - 1] if start > 0 else None
        prev = messages[start - 1] if start > 0 else None
        marker = self.store.first_unread_seq
        width = self._width
        measure = self._measure
        day_key = render.day_key
        heights: list[int] = []
        ctxs: list[_Ctx] = []
        new_days: list[int | None] = []
        seqs: list[int] = []
        for i in range(start, end):
            message = messages[i]
            day = day_key(message.sent) if message.sent is not None else None
            ctx = _ctx(
                day is not None and day != prev_day,
                message.seq == marker and i > 0,  # nothing above: no "new" line needed
                prev is not None
                and message.thread_title is not None
                and prev.thread_title is not None
                and prev.thread_id == message.thread_id,
            )
            ctxs.append(ctx)
            seqs.append(message.seq)
            heights.append(measure(message, ctx, width))
            if day is not None:
                prev_day = day
            new_days.append(prev_day)
            prev = message
        self._heights[start:end] = heights
        self._ctx[start:end] = ctxs
        self._days[start:end] = new_days
        self._seqs[start:end] = seqs

    def _measure_lazily(self, generation: int) -> None:
        """Measure the next chunk of estimated (older) lines, keeping the view in place."""
        if generation != self._layout_gen or self._lazy_end <= 0 or not self.is_mounted:
            return
        end = self._lazy_end
        start = max(0, end - LAZY_CHUNK)
        anchor = None if self._following else self._anchor()
        if start > 0:
            self._days[start - 1] = render.day_key(self.store.messages[start - 1].sent)
        self._measure_span(start, end)
        self._lazy_end = start
        if end < len(self._heights):  # the first exactly measured line may lose its separator
            self._ctx[end] = self._context_at(end)
            message = self.store.messages[end]
            self._heights[end] = self._measure(message, self._ctx[end], self._width)
        self._reoffset(start)
        self._set_virtual_size(Size(self._width, self._total))
        if self._following:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        elif anchor is not None:
            self._restore(anchor)
        self.refresh()
        if start > 0:
            self.call_after_refresh(self._measure_lazily, generation)

    def _reoffset(self, start: int) -> None:
        heights = self._heights
        if start <= 0 or not self._offsets:
            offsets = array("q", accumulate(heights, initial=0))
            del offsets[len(heights) :]
            self._offsets = offsets
        else:
            offsets = self._offsets
            del offsets[start:]
            base = offsets[start - 1] + heights[start - 1]
            offsets.extend(accumulate(heights[start:], initial=base))
            del offsets[len(heights) :]
        self._total = (self._offsets[-1] + heights[-1]) if heights else 0

    def _remeasure(self, index: int) -> None:
        messages = self.store.messages
        message = messages[index]
        ctx = self._context_at(index)
        self._ctx[index] = ctx
        height = self._measure(message, ctx, self._width)
        if height != self._heights[index]:
            self._heights[index] = height
            self._reoffset(index)

    def _context_at(self, index: int) -> _Ctx:
        messages = self.store.messages
        message = messages[index]
        prev = messages[index - 1] if index > 0 else None
        prev_day = self._days[index - 1] if index > 0 else None
        day = render.day_key(message.sent) if message.sent is not None else None
        return _ctx(
            day is not None and day != prev_day,
            message.seq == self.store.first_unread_seq and index > 0,
            prev is not None
            and message.thread_title is not None
            and prev.thread_title is not None
            and prev.thread_id == message.thread_id,
        )

    def _update_incremental(self) -> int:
        store = self.store
        dropped = store.dropped - self._dropped
        if dropped:
            dropped = min(dropped, len(self._heights))
            del self._heights[:dropped], self._ctx[:dropped], self._days[:dropped]
            del self._seqs[:dropped]
            self._offsets = array("q")
            self._dropped = store.dropped
            self._lazy_end = max(0, self._lazy_end - dropped)
            if self._heights:
                # the new first message lost its predecessor (day separator, grouping)
                self._days[0] = render.day_key(store.messages[0].sent)
                self._ctx[0] = self._context_at(0)
                self._heights[0] = self._measure(store.messages[0], self._ctx[0], self._width)
            self._reoffset(0)
        changed = store.changed_since(self._version)
        known = len(self._heights)
        if changed is None:
            self._rebuild(self._width)
            return 0
        for seq in set(changed):
            index = store.index_of(seq)
            if index is not None and self._lazy_end <= index < known:
                self._remeasure(index)
        appended = len(store) - known
        if appended > LAZY_AFTER:  # a replay burst: lay out like a fresh view (lazily)
            self._rebuild(self._width)
            return appended
        if appended > 0:
            self._measure_from(known)
        self._version = store.version
        self._marker_seq = store.first_unread_seq
        return max(appended, 0)

    def _set_virtual_size(self, size: Size) -> None:
        """Grow (or shrink) the scrollable area without a layout of the whole screen.

        Assigning ``virtual_size`` makes Textual re-lay out the screen (10-20 ms with a dozen
        tabs), on every batch of new lines.  This view's own size never depends on its
        content and its scrollbars are fixed (``overflow-y: scroll``, ``overflow-x: hidden``),
        so only the scroll range and the scrollbar need to follow; anything else (not laid
        out yet, other overflow styles) takes the ordinary path."""
        if size == self.virtual_size:
            return
        styles = self.styles
        if (
            not self.container_size
            or styles.overflow_y != "scroll"
            or styles.overflow_x != "hidden"
            or not self.show_vertical_scrollbar
        ):
            self.virtual_size = size
            return
        self.set_reactive(ScrollView.virtual_size, size)
        scrollbar = self.vertical_scrollbar
        scrollbar.window_virtual_size = size.height
        scrollbar.window_size = self.scrollable_content_region.height
        scrollbar.refresh()
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def _locate(self, y: int) -> tuple[int, int] | None:
        if y < 0 or y >= self._total:
            return None
        index = bisect_right(self._offsets, y) - 1
        return index, y - self._offsets[index]

    # ------------------------------------------------------------------ layout

    def _sender(self, message: StoredMessage) -> tuple[str, int]:
        """(nick as shown, its cells), cached until a nick changes."""
        if self._sender_version != self.router.users_version:
            self._sender_cache.clear()
            self._sender_version = self.router.users_version
        key = message.author or message.user_id or ""
        found = self._sender_cache.get(key)
        if found is None:
            nick = _fit(self.router.sender_of(message), NICK_MAX_CELLS)
            found = (nick, _width(nick))
            if len(self._sender_cache) > 4096:
                self._sender_cache.clear()
            self._sender_cache[key] = found
        return found

    def _prefix(self, message: StoredMessage) -> tuple[list[tuple[str, str]], int, str]:
        """First-row prefix parts (text, role), their cells, and the line's role."""
        kind = message.kind
        time = format_time(message.sent) + " "
        if kind in ("system", "unknown"):
            return [(time, "time"), ("-- ", kind)], TIME_WIDTH + 3, kind
        nick, cells = self._sender(message)
        if kind == "line":
            parts = [(time, "time"), ("* ", "line"), (nick, "nick"), (" ", "")]
            return parts, TIME_WIDTH + 3 + cells, "line"
        role = kind if kind in _ROLE_KINDS else ""
        return [(time, "time"), (nick, "nick"), ("  ", "")], TIME_WIDTH + 2 + cells, role

    def _prefix_cells(self, message: StoredMessage) -> int:
        kind = message.kind
        if kind in ("system", "unknown"):
            return TIME_WIDTH + 3
        return TIME_WIDTH + (3 if kind == "line" else 2) + self._sender(message)[1]

    @staticmethod
    def _body(message: StoredMessage, ctx: _Ctx) -> tuple[str, list[Span], int, int]:
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
            if ctx.grouped:
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
            add(text)
        if message.edited and not message.deleted:
            add(" (edited)", "meta")
        if message.reactions:
            add("".join(f" :{e}: {n}" for e, n in message.reactions.items()), "meta")
        body = parts[0] if len(parts) == 1 else "".join(parts)
        return body, spans, text_start, len(text)

    def _measure(self, message: StoredMessage, ctx: _Ctx, width: int) -> int:
        """Rows of a message at ``width`` (headers + body); the hot path of indexing."""
        height = ctx.day_sep + ctx.marker
        kind = message.kind
        if kind == "gap":
            return height + 1
        prefix_cells = self._prefix_cells(message)
        if (
            kind == "message"
            and message.thread_title is None
            and not message.edited
            and not message.reactions
            and not message.deleted
        ):
            body = message.text  # the common case: the body is the text itself
            if "\t" in body:
                body = body.replace("\t", "    ")
        else:
            body = self._body(message, ctx)[0]
        first = width - prefix_cells
        if len(body) <= first and "\n" not in body and single_cell(body):
            return height + 1
        indent = prefix_cells if first >= NARROW_TEXT else min(TIME_WIDTH, width - 1)
        rows = len(wrap(body, max(first, 1), max(width - indent, 1)))
        return height + min(rows, MAX_BODY_ROWS)

    def _layout(self, message: StoredMessage, ctx: _Ctx, width: int) -> _Layout:
        headers: list[tuple[str, str]] = []
        if ctx.day_sep and message.sent is not None:
            headers.append((format_day(message.sent), "day"))
        if ctx.marker:
            headers.append(("new", "marker"))
        if message.kind == "gap":
            headers.append((message.text, "gap"))
            return _Layout(headers, [], 0, "", [], [], "gap")

        prefix, prefix_cells, line_role = self._prefix(message)
        body, spans, text_start, text_len = self._body(message, ctx)
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
        return _Layout(headers, prefix, max(indent, 0), body, spans, rows, line_role, truncated)

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._cache.clear()
        self._theme_gen += 1

    def _style(self, *names: str) -> Style:
        """Base style combined with component styles (cached until the theme changes)."""
        style = self._style_cache.get(names)
        if style is None:
            style = self.rich_style
            for name in names:
                if name.startswith("#"):
                    style += Style(color=name)
                elif name:
                    style += self.get_component_rich_style(
                        f"flow-log--{name}", partial=True, default=Style()
                    )
            self._style_cache[names] = style
        return style

    def _message_strips(self, index: int) -> list[Strip]:
        message = self.store.by_seq(self._seqs[index])
        if message is None:  # dropped since the last refresh
            return []
        ctx = self._ctx[index]
        selected = message.seq == self._selected
        key = (
            message.seq,
            message.version,
            self._width,
            selected,
            ctx.day_sep,
            ctx.marker,
            ctx.grouped,
            self.router.users_version,
            self._theme_gen,
        )
        strips = self._cache.get(key)
        if strips is None:
            strips = self._render_message(message, ctx, selected)
            self._cache[key] = strips
        return strips

    def _render_message(self, message: StoredMessage, ctx: _Ctx, selected: bool) -> list[Strip]:
        width = self._width
        layout = self._layout(message, ctx, width)
        strips: list[Strip] = []
        for text, role in layout.headers:
            label = f"── {text} "
            fill = max(width - _width(label), 0)
            line = _fit(label, width) + "─" * fill
            strips.append(Strip([Segment(line, self._style(role))], _width(line)))
        if not layout.rows:
            return strips

        base: tuple[str, ...] = ()
        if message.mention and message.kind != "gap":
            base += ("mention-line",)
        if selected:
            base += ("selected",)
        if layout.line_role:
            base += (layout.line_role,)
        nick_key = message.author or message.user_id or ""
        nick_style = self._style(*base, nick_colour(nick_key), "title")
        if message.mention:
            nick_style = self._style(*base, nick_colour(nick_key), "me")

        body = layout.body
        spans = layout.spans
        for row_index, (start, end) in enumerate(layout.rows):
            segments: list[Segment] = []
            if row_index == 0:
                for text, role in layout.prefix:
                    if role == "nick":
                        segments.append(Segment(text, nick_style))
                    else:
                        segments.append(Segment(text, self._style(*base, role)))
            else:
                segments.append(Segment(" " * layout.indent, self._style(*base)))
            pos = start
            for s_start, s_end, role in spans:
                if s_end <= pos or s_start >= end:
                    continue
                if s_start > pos:
                    segments.append(Segment(body[pos:s_start], self._style(*base)))
                seg_end = min(s_end, end)
                segments.append(
                    Segment(body[max(s_start, pos) : seg_end], self._style(*base, role))
                )
                pos = seg_end
            if pos < end:
                segments.append(Segment(body[pos:end], self._style(*base)))
            strip = Strip(segments)
            strips.append(strip.extend_cell_length(width, self._style(*base)).crop(0, width))
        if layout.truncated:
            note = " " * layout.indent + f"… ({layout.truncated} more lines)"
            strips.append(
                Strip([Segment(note, self._style(*base, "meta"))])
                .extend_cell_length(width, self._style(*base))
                .crop(0, width)
            )
        return strips

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        height = self.scrollable_content_region.height
        if self._hint.visible and y == height - 1 and not self._following:
            return self._hint.render(width, self._style("hint"), self._style())
        found = self._locate(self.scroll_offset.y + y)
        if found is None or width != self._width:
            return Strip.blank(width, self._style())
        index, row = found
        strips = self._message_strips(index)
        if row >= len(strips):
            return Strip.blank(width, self._style())
        return strips[row]

    # ------------------------------------------------------------------ events

    def on_mount(self) -> None:
        super().on_mount()
        self.refresh_from_store()

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_from_store()

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # Textual calls this during the layout, before painting.  A view shown for the first
        # time (or at a new width) lays its lines out right here, so the very frame that
        # shows it has the newest lines; waiting for the Resize message cost a second frame
        # (40-80 ms more to switch to a tab of 10,000 messages).
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        if self.is_mounted and self._wrap_width() > 0 and self._wrap_width() != self._width:
            self.refresh_from_store()
        return changed

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_end = round(new_value) >= self.max_scroll_y
        if at_end and not self._following:
            self._following = True
            self._hint.count = 0
            self.refresh()
            self.post_message(self.ScrolledToEnd(self.store.key, self))
        elif not at_end and self._following and round(new_value) < round(old_value):
            self._following = False
        if round(new_value) <= 0 and round(old_value) > 0:
            self.post_message(self.ReachedTop(self.store.key, self))

    def on_click(self, event: events.Click) -> None:
        height = self.scrollable_content_region.height
        if self._hint.visible and not self._following and event.y == height - 1:
            event.stop()
            self.scroll_to_end()
            return
        found = self._locate(self.scroll_offset.y + event.y)
        if found is not None:
            self.select_seq(self._seqs[found[0]])

    # ------------------------------------------------------------------ cursor

    def _index_of_selected(self) -> int | None:
        if self._selected is None:
            return None
        return self.store.index_of(self._selected)

    def _visible_bottom_index(self) -> int | None:
        if not self._heights:
            return None
        y = min(self.scroll_offset.y + self.scrollable_content_region.height - 1, self._total - 1)
        found = self._locate(y)
        return found[0] if found else len(self._heights) - 1

    def _scroll_to_message(self, seq: int) -> None:
        index = self.store.index_of(seq)
        if index is None or index >= len(self._heights):
            return
        top = self._offsets[index]
        region = Region(0, top, self._width, max(self._heights[index], 1))
        self.scroll_to_region(region, animate=False, immediate=True, force=True)
        if index == len(self._heights) - 1 and self.scroll_offset.y >= self.max_scroll_y:
            self._following = True

    def _select_index(self, index: int) -> None:
        messages = self.store.messages
        index = max(0, min(index, len(messages) - 1))
        self.select_seq(messages[index].seq)

    def action_cursor_up(self) -> None:
        index = self._index_of_selected()
        if index is None:
            bottom = self._visible_bottom_index()
            if bottom is not None:
                self._following = False
                self._select_index(bottom)
            return
        if index == 0:
            self.post_message(self.ReachedTop(self.store.key, self))
            return
        self._following = False
        self._select_index(index - 1)

    def action_cursor_down(self) -> None:
        index = self._index_of_selected()
        if index is None:
            return
        self._select_index(index + 1)

    def _page_rows(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def action_page_up(self) -> None:
        index = self._index_of_selected()
        if index is None:
            self._following = False
            self.scroll_to(y=max(self.scroll_offset.y - self._page_rows(), 0), animate=False)
            return
        target = self._offsets[index] - self._page_rows()
        found = self._locate(max(target, 0))
        self._following = False
        self._select_index(found[0] if found else 0)
        if index == 0:
            self.post_message(self.ReachedTop(self.store.key, self))

    def action_page_down(self) -> None:
        index = self._index_of_selected()
        if index is None:
            self.scroll_to(y=self.scroll_offset.y + self._page_rows(), animate=False)
            return
        found = self._locate(min(self._offsets[index] + self._page_rows(), self._total - 1))
        self._select_index(found[0] if found else len(self._heights) - 1)

    def action_first(self) -> None:
        if not self._heights:
            return
        self._following = False
        at_top = self.scroll_offset.y == 0
        self._select_index(0)
        self.scroll_to(y=0, animate=False, immediate=True)
        if at_top:
            self.post_message(self.ReachedTop(self.store.key, self))

    def action_last(self) -> None:
        self._selected = None
        self.scroll_to_end()

    def action_open_thread(self) -> None:
        message = self.selected
        if message is None or message.thread_id is None:
            self.app.bell()
            return
        self.post_message(self.ThreadRequested(message.thread_id, self.store.key, self))

    def action_open_link(self) -> None:
        message = self.selected
        url = first_link(message) if message is not None else None
        if url is None:
            self.app.bell()
            return
        self.post_message(self.LinkRequested(url, self))

    # ------------------------------------------------------------------ anchoring

    def _anchor(self) -> _Anchor | None:
        found = self._locate(self.scroll_offset.y)
        if found is None:
            return None
        index, row = found
        return _Anchor(self._seqs[index], row)

    def _restore(self, anchor: _Anchor) -> None:
        index = self.store.index_of(anchor.seq)
        if index is None or index >= len(self._offsets):
            return
        row = min(anchor.row, self._heights[index] - 1)
        y = self._offsets[index] + max(row, 0)
        if y != self.scroll_offset.y:
            self.scroll_to(y=y, animate=False, immediate=True)
