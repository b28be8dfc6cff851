"""FlowLog: the message view of one conversation, a line-API ``ScrollView`` over a store.

Only visible rows are rendered (``render_line``). Which rows each message takes is the job of
:class:`~flowview.model.line_index.LineIndex` (Textual-free); how a message's rows look is
:func:`~flowview.tui.widgets.line_strips.render_layout`. Rendered rows are cached in an LRU
keyed by (seq, version, width, selected, context). Styles live in ``flow_log.tcss``.

Sticky bottom: while the view is at the bottom, new lines keep it there; once the user scrolls
up it stays put and a "N new messages below ↓" hint is drawn over the last row (click it or
press End to jump down).

Public API (the app shell builds on it):

* ``FlowLog(store, router, *, id=None, classes=None, api_url=None, history=True)``
  (``api_url``: the REST base, so file attachments show and open as full URLs; ``history``:
  the top line says "loading older messages…" / "beginning of history")
* ``refresh_from_store()`` after each batch of routed events (cheap and incremental)
* ``history_loaded()`` when a history load ends (else "loading…" ends on new lines above,
  ``store.history_complete``, or after ``LOADING_TIMEOUT``); ``loading_older``
* ``links(message)``: the URLs ``o`` offers (a picker when there are several)
* ``at_bottom``, ``scroll_to_end()``, ``selected`` (the selected ``StoredMessage`` or None),
  ``select_seq(seq)``, ``pending`` (lines below the view), ``row_text(y)`` (tests, debugging)
* messages ``FlowLog.ReachedTop``, ``FlowLog.ScrolledToEnd``, ``FlowLog.ThreadRequested``,
  ``FlowLog.LinkRequested``
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from flowview.model.line_index import LineIndex
from flowview.model.line_layout import NICK_SLOTS, Ctx, LineLayout, nick_slot
from flowview.model.store import ConversationStore, StoredMessage
from flowview.protocol.events import ConversationKey
from flowview.tui.screens.link_picker import LinkPicker
from flowview.tui.widgets.line_strips import render_layout
from flowview.tui.widgets.line_styles import resolve_style
from flowview.tui.widgets.new_messages_hint import NewMessagesHint
from flowview.tui.widgets.row_cache import RowCache

if TYPE_CHECKING:
    from flowview.model.router import Router

log = logging.getLogger(__name__)

LOADING_TIMEOUT: Final = 15.0  # seconds: a load that never reports back stops saying "loading…"
# A burst's older lines (estimated by the index) are measured this long after its last repaint:
# longer than the stream pump's repaint interval during a burst (0.5 s), so not while it lasts.
BURST_SETTLE_SECONDS: Final = 0.6

__all__ = ["FlowLog", "nick_role"]

_CSS: Final = Path(__file__).with_name("flow_log.tcss").read_text(encoding="utf-8")


def nick_role(key: str) -> str:
    """The style role of a sender's nick (``nick-0``…): a stable slot for a user id (or an
    integration's author name), coloured by the theme in ``flow_log.tcss``."""
    return f"nick-{nick_slot(key)}"


@dataclass(slots=True)
class _Anchor:
    seq: int
    row: int


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
        *(f"flow-log--nick-{slot}" for slot in range(NICK_SLOTS)),
        "flow-log--time",
        "flow-log--pending",
        "flow-log--failed",
        "flow-log--day",
        "flow-log--marker",
        "flow-log--gap",
        "flow-log--history",
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

    DEFAULT_CSS = _CSS

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
        """The user reached the bottom: the app may mark the conversation read (``jump``:
        by End or the hint, which on a detached store means "to the live end")."""

        key: ConversationKey
        flow_log: FlowLog
        jump: bool = False

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
        """Key ``o``: open ``url``, a link of the selected message (picked by the user when
        it has several)."""

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
        api_url: str | None = None,
        history: bool = True,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.store = store
        self.router = router
        # the API's base URL turns file paths (/files/…) into addresses one can open
        self._index = LineIndex(store, router, LineLayout(router, api_url=api_url))
        # view state
        self._following = True
        self._selected: int | None = None
        self._hint = NewMessagesHint()
        self._cache = RowCache(600)
        self._style_cache: dict[tuple[str, ...], Style] = {}
        self._theme_gen = 0
        # older history: a top row says "loading…" or "beginning of history" (not in threads)
        self._history = history
        self._loading_older = False
        self._loading_epoch = -1
        self._loading_timer: Timer | None = None
        self._settle_timer: Timer | None = None  # see _measure_after_burst
        self._frame: tuple[int, int, int] | None = None  # (width, height, scroll y) in a frame
        self._top = 0  # rows above the first message (0 or 1)

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
        return self._index.total + self._top

    @property
    def loading_older(self) -> bool:
        """True from a request for older history until it arrives (or times out)."""
        return self._loading_older

    def history_loaded(self) -> None:
        """The app's history load ended (any outcome): drop the "loading…" line now."""
        self._set_loading(False)

    @property
    def layout_complete(self) -> bool:
        """False while older lines of a long conversation are still being measured."""
        return self._index.complete

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
        if not was_following or self.store.detached:
            self.post_message(self.ScrolledToEnd(self.store.key, self, jump=True))

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
        anchor = None if self._following else self._anchor()
        index = self._index
        result = index.sync(width)
        appended = result.appended
        if result.rebuilt and not index.complete:
            self.call_after_refresh(self._measure_lazily, index.generation)
        elif appended and not index.complete:
            self._measure_after_burst(index.generation)
        if self._loading_older and (
            self.store.epoch != self._loading_epoch or self.store.history_complete
        ):
            self._loading_older = False  # older lines arrived above, or there are none
        old_top, self._top = self._top, 1 if self._banner() else 0
        # Reading the top row ("loading…" → "beginning of history"): stay on it.
        pin_top = self.scroll_offset.y == 0 and old_top and self._top and not result.rebuilt
        self._set_virtual_size(Size(width, index.total + self._top))
        if self._following:
            self._hint.count = 0
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        else:
            if appended:
                self._hint.count += appended
            if anchor is not None and not pin_top:
                self._restore(anchor)
        self.refresh()

    def row_text(self, y: int) -> str:
        """Plain text of virtual row ``y`` (0 = first row of the log); for tests."""
        if y < self._top:
            return self._banner_strip().text
        found = self._locate(y)
        if found is None:
            return ""
        index, row = found
        return self._message_strips(index)[row].text

    # ------------------------------------------------------------------ older history

    def _banner(self) -> str | None:
        """Text of the row above the first message, if any."""
        if not self._history:
            return None
        if self.store.history_complete:
            return "beginning of history"
        if self._loading_older:
            return "loading older messages…"
        return None

    def _banner_strip(self) -> Strip:
        width = self._index.width
        label = f"── {self._banner() or ''} "
        line = label + "─" * max(width - len(label), 0)
        return Strip([Segment(line[:width], self._style("history"))])

    def _request_older(self) -> None:
        """Ask the app for older history (once at a time), showing "loading…" meanwhile."""
        if self._loading_older:
            return
        self.post_message(self.ReachedTop(self.store.key, self))
        if self._history and not self.store.history_complete:
            self._loading_epoch = self.store.epoch
            self._set_loading(True)

    def _set_loading(self, loading: bool) -> None:
        if loading == self._loading_older:
            return
        self._loading_older = loading
        if self._loading_timer is not None:
            self._loading_timer.stop()
            self._loading_timer = None
        if loading:
            self._loading_timer = self.set_timer(LOADING_TIMEOUT, self._loading_timed_out)
        at_top = self.scroll_offset.y <= self._top
        self.refresh_from_store()
        if loading and at_top:  # show the "loading…" line rather than keep the line in place
            self.scroll_to(y=0, animate=False, immediate=True)

    def _loading_timed_out(self) -> None:
        self._loading_timer = None
        self._set_loading(False)

    # ------------------------------------------------------------------ index

    def _wrap_width(self) -> int:
        return self.scrollable_content_region.width

    def _measure_after_burst(self, generation: int) -> None:
        """Measure the estimated lines once no repaint has appended for a while."""
        if self._settle_timer is not None:
            self._settle_timer.stop()
        self._settle_timer = self.set_timer(
            BURST_SETTLE_SECONDS, lambda: self._measure_lazily(generation)
        )

    def _measure_lazily(self, generation: int) -> None:
        """Measure the next chunk of estimated (older) lines, keeping the view in place."""
        index = self._index
        if generation != index.generation or index.complete or not self.is_mounted:
            return
        if index.behind():
            # The store changed after this was scheduled (the memory budget trimmed it, a
            # batch arrived) and no flush has synced yet: sync now, as a flush would.
            self.refresh_from_store()
            if generation != index.generation or index.complete or index.behind():
                return  # re-laid out (it schedules its own measuring), or not mounted yet
        anchor = None if self._following else self._anchor()
        more = index.measure_chunk()
        self._set_virtual_size(Size(index.width, index.total + self._top))
        if self._following:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        elif anchor is not None:
            self._restore(anchor)
        self.refresh()
        if more:
            self.call_after_refresh(self._measure_lazily, generation)

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
        """(message index, row within it) of virtual row ``y`` (the top row is not one)."""
        return self._index.locate(y - self._top)

    # ------------------------------------------------------------------ rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._cache.clear()
        self._theme_gen += 1

    @property
    def cached_messages(self) -> int:
        """Messages whose rendered rows are cached (benches and tests)."""
        return len(self._cache)

    def release_caches(self) -> None:
        """The tab was hidden: let its rendered rows go.  Each is a Textual Strip with seven
        caches of its own (KBs a message); kept for every log, they grew with each tab ever
        shown (issue 8's soak: +30 MB over 5 minutes of the key cycle).  A shown log renders
        only its visible rows again."""
        self._cache.clear()

    def _style(self, *names: str) -> Style:
        """Base style combined with component styles (cached until the theme changes)."""
        style = self._style_cache.get(names)
        if style is None:
            roles = [self.get_component_styles(f"flow-log--{name}") for name in names if name]
            style = resolve_style(self.rich_style, roles)
            self._style_cache[names] = style
        return style

    def _message_strips(self, index: int) -> list[Strip]:
        message = self.store.by_seq(self._index.seqs[index])
        if message is None:  # dropped since the last refresh
            return []
        ctx = self._index.ctxs[index]
        selected = message.seq == self._selected
        key = (
            message.seq,
            message.version,
            self._index.width,
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
            self._cache.put(key, strips)
        return strips

    def _render_message(self, message: StoredMessage, ctx: Ctx, selected: bool) -> list[Strip]:
        width = self._index.width
        layout = self._index.layout.layout(message, ctx, width)
        nick = nick_role(message.author or message.user_id or "")
        return render_layout(layout, message, width, selected, self._style, nick)

    def render_line(self, y: int) -> Strip:
        frame = self._frame
        if frame is None:
            region = self.scrollable_content_region
            frame = (region.width, region.height, self.scroll_offset.y)
        width, height, scroll_y = frame
        if self._hint.visible and y == height - 1 and not self._following:
            return self._hint.render(width, self._style("hint"), self._style())
        if scroll_y + y < self._top and width == self._index.width:
            return self._banner_strip()
        found = self._locate(scroll_y + y)
        if found is None or width != self._index.width:
            return Strip.blank(width, self._style())
        index, row = found
        strips = self._message_strips(index)
        if row >= len(strips):
            return Strip.blank(width, self._style())
        return strips[row]

    # ------------------------------------------------------------------ events

    def on_mount(self) -> None:
        # ScrollView's own on_mount runs too: Textual calls each class's handler in the MRO.
        self.refresh_from_store()

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_from_store()

    def render_lines(self, crop: Region) -> list[Strip]:
        # A view shown for the first time (or at a new width) lays its lines out right here,
        # before its first rows are drawn, so the very frame that shows it has the newest
        # lines; waiting for the Resize message cost a second frame (40-80 ms more to switch
        # to a tab of 10,000 messages). Public API: this replaced an override of the private
        # ScrollView._size_updated.
        width = self._wrap_width()
        if width > 0 and width != self._index.width and self.is_mounted:
            self.refresh_from_store()
        # The geometry every row needs, once per frame (a third of the rows' cost otherwise).
        region = self.scrollable_content_region
        self._frame = (region.width, region.height, self.scroll_offset.y)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

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
            self._request_older()

    def on_click(self, event: events.Click) -> None:
        height = self.scrollable_content_region.height
        if self._hint.visible and not self._following and event.y == height - 1:
            event.stop()
            self.scroll_to_end()
            return
        found = self._locate(self.scroll_offset.y + event.y)
        if found is not None:
            self.select_seq(self._index.seqs[found[0]])

    # ------------------------------------------------------------------ cursor

    def _index_of_selected(self) -> int | None:
        if self._selected is None:
            return None
        return self.store.index_of(self._selected)

    def _visible_bottom_index(self) -> int | None:
        index = self._index
        if not len(index):
            return None
        bottom = self.scroll_offset.y + self.scrollable_content_region.height - 1
        y = min(bottom, self.total_rows - 1)
        found = self._locate(y)
        return found[0] if found else len(index) - 1

    def _scroll_to_message(self, seq: int) -> None:
        index = self.store.index_of(seq)
        line_index = self._index
        if index is None or index >= len(line_index):
            return
        top = line_index.offsets[index] + self._top
        region = Region(0, top, line_index.width, max(line_index.heights[index], 1))
        self.scroll_to_region(region, animate=False, immediate=True, force=True)
        if index == len(line_index) - 1 and self.scroll_offset.y >= self.max_scroll_y:
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
            self._request_older()
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
        target = self._index.offsets[index] + self._top - self._page_rows()
        found = self._locate(max(target, 0))
        self._following = False
        self._select_index(found[0] if found else 0)
        if index == 0:
            self._request_older()

    def action_page_down(self) -> None:
        index = self._index_of_selected()
        if index is None:
            self.scroll_to(y=self.scroll_offset.y + self._page_rows(), animate=False)
            return
        line_index = self._index
        last_row = self.total_rows - 1
        y = line_index.offsets[index] + self._top + self._page_rows()
        found = self._locate(min(y, last_row))
        self._select_index(found[0] if found else len(line_index) - 1)

    def action_first(self) -> None:
        if not len(self._index):
            return
        self._following = False
        self._select_index(0)
        self.scroll_to(y=0, animate=False, immediate=True)
        # One press shows the oldest loaded line and asks for older ones at once.
        self._request_older()

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
        urls = self.links(message) if message is not None else []
        if not urls:
            self.app.bell()
        elif len(urls) == 1:
            self.post_message(self.LinkRequested(urls[0], self))
        else:
            self.app.push_screen(LinkPicker(urls), self._link_chosen)

    def _link_chosen(self, url: str | None) -> None:
        if url is not None:
            self.post_message(self.LinkRequested(url, self))

    def links(self, message: StoredMessage) -> list[str]:
        """Every URL of ``message`` that ``o`` offers (a file's full address first)."""
        return self._index.layout.links(message)

    # ------------------------------------------------------------------ anchoring

    def _anchor(self) -> _Anchor | None:
        found = self._locate(max(self.scroll_offset.y, self._top))  # the top row is no line
        if found is None:
            return None
        index, row = found
        return _Anchor(self._index.seqs[index], row)

    def _restore(self, anchor: _Anchor) -> None:
        index = self.store.index_of(anchor.seq)
        line_index = self._index
        if index is None or index >= len(line_index.offsets):
            return
        row = min(anchor.row, line_index.heights[index] - 1)
        y = line_index.offsets[index] + self._top + max(row, 0)
        if y != self.scroll_offset.y:
            self.scroll_to(y=y, animate=False, immediate=True)
