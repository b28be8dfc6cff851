"""SearchScreen: search the local archive as you type.

Given an `Archive` (flowview.archive), the screen runs the query in a debounced worker (group
"search"; each keystroke cancels the previous one) on a thread, and lists hits with flow, time,
nick and the matched words highlighted.  Everything shown is built as `Content` from sanitised
text: archived text never reaches a markup parser.

Enter (in the input or on a hit) posts `SearchScreen.JumpTo(key, message_id)`; the app shows
the message in context (tui/search_jump.py) and Escape there reopens the screen from its
`return_point()` (same query, scope and highlighted hit).  ctrl+t switches between this
conversation and all of them (when the screen was opened on one).  Escape dismisses.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import ClassVar, Final

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from flowview.archive import Archive
from flowview.archive.query import QueryError, parse_query
from flowview.archive.search import Hit, search
from flowview.protocol.events import ConversationKey
from flowview.tui.search_jump import SearchReturn

log = logging.getLogger(__name__)

__all__ = ["SearchScreen"]

DEBOUNCE_SECONDS: Final = 0.15
PAGE: Final = 50
MATCH_STYLE: Final = "bold underline"


def hit_content(hit: Hit) -> Content:
    """One result line: time, flow, nick, then the snippet with its matches styled."""
    sent = hit.message.sent
    when = datetime.fromtimestamp(sent / 1000).strftime("%Y-%m-%d %H:%M") if sent else "—"
    snippet = Content(hit.snippet.text)
    for start, end in hit.snippet.spans:
        snippet = snippet.stylize(MATCH_STYLE, start, end)
    return Content.assemble(
        (when, "dim"),
        "  ",
        (hit.conversation, "italic"),
        "  ",
        (hit.nick, "bold"),
        "  ",
        snippet,
    )


class SearchScreen(ModalScreen[None]):
    """Search `archive`; `conversation` is the flow the user came from (the "this flow"
    scope, on at first when given)."""

    CSS_PATH = "search.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close search", id="search.close"),
        Binding("ctrl+t", "toggle_scope", "This flow / all", id="search.scope"),
        Binding("down", "cursor(1)", "Next hit", show=False, id="search.next"),
        Binding("up", "cursor(-1)", "Previous hit", show=False, id="search.previous"),
    ]

    class JumpTo(Message):
        """The user chose a hit: show `message_id` in conversation `key`."""

        def __init__(self, key: ConversationKey, message_id: int) -> None:
            super().__init__()
            self.key = key
            self.message_id = message_id

    def __init__(
        self,
        archive: Archive,
        conversation: ConversationKey | None = None,
        *,
        me: str | None = None,
        query: str = "",
        this_only: bool | None = None,
        position: int = 0,
    ) -> None:
        super().__init__()
        self.archive = archive
        self.conversation = conversation
        self.this_only = conversation is not None if this_only is None else this_only
        self._position = position  # the hit highlighted when the first results show
        self.me = me
        self.initial_query = query
        self.hits: list[Hit] = []
        self.searches = 0  # completed searches (tests wait on it)
        self.shown_query = ""  # the text whose results are on screen

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box"):
            yield Input(
                value=self.initial_query,
                placeholder="search: words  from:nick  #tag  in:flow  since:2026-05-01",
                id="search-input",
            )
            yield Static(self._scope_label(), id="search-scope", markup=False)
            yield OptionList(id="search-results")
            yield Static(Content(""), id="search-status", markup=False)
        yield Footer(show_command_palette=False)  # its ctrl+k slot showed the input's ctrl+k

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        if self.initial_query:
            self.run_search(self.initial_query)

    def _scope_label(self) -> Content:
        if self.conversation is None:
            return Content("in all flows")
        where = "this conversation only" if self.this_only else "all flows"
        return Content.assemble(("in ", "dim"), where, ("  (ctrl+t to switch)", "dim"))

    # ----------------------------------------------------------------- searching

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        self.run_search(event.value)

    @work(group="search", exclusive=True)
    async def run_search(self, text: str) -> None:
        """Debounced: a newer keystroke cancels this worker while it waits."""
        await asyncio.sleep(DEBOUNCE_SECONDS)
        status = self.query_one("#search-status", Static)
        if not text.strip():
            self._show(text, [], Content(""))
            return
        try:
            query = parse_query(text, prefix_last=True)
        except QueryError as exc:
            self._show(text, [], Content(str(exc)))
            return
        scope = self.conversation if self.this_only else None
        status.update(Content("searching…"))
        try:
            hits = await asyncio.to_thread(
                search, self.archive, query, conversation=scope, limit=PAGE, me=self.me
            )
        except QueryError as exc:
            self._show(text, [], Content(str(exc)))
            return
        except Exception:
            log.exception("search failed")
            self._show(text, [], Content("search failed (see the log)"))
            return
        count = len(hits)
        more = "+" if count == PAGE else ""
        noun = "hit" if count == 1 else "hits"
        self._show(text, hits, Content(f"{count}{more} {noun}" if count else "nothing found"))

    def _show(self, text: str, hits: list[Hit], status: Content) -> None:
        self.shown_query = text
        self.hits = hits
        results = self.query_one(OptionList)
        results.set_options(Option(hit_content(hit)) for hit in hits)
        if hits:
            results.highlighted = min(self._position, len(hits) - 1)
            self._position = 0
        self.query_one("#search-status", Static).update(status)
        self.searches += 1

    # ----------------------------------------------------------------- actions

    def action_toggle_scope(self) -> None:
        if self.conversation is None:
            return
        self.this_only = not self.this_only
        self.query_one("#search-scope", Static).update(self._scope_label())
        self.run_search(self.query_one(Input).value)

    def action_cursor(self, step: int) -> None:
        results = self.query_one(OptionList)
        if not self.hits:
            return
        current = results.highlighted if results.highlighted is not None else -step
        results.highlighted = max(0, min(len(self.hits) - 1, current + step))

    def return_point(self) -> SearchReturn:
        """What Escape after a jump reopens: this query, scope and highlighted hit."""
        highlighted = self.query_one(OptionList).highlighted
        return SearchReturn(
            self.query_one(Input).value, self.this_only, highlighted or 0, self.conversation
        )

    def action_close(self) -> None:
        self.workers.cancel_group(self, "search")
        self.dismiss(None)

    def _jump(self, index: int | None) -> None:
        if index is None or not 0 <= index < len(self.hits):
            return
        hit = self.hits[index]
        self.post_message(self.JumpTo(hit.key, hit.message.id))

    @on(Input.Submitted, "#search-input")
    def _submitted(self) -> None:
        self._jump(self.query_one(OptionList).highlighted)

    @on(OptionList.OptionSelected, "#search-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._jump(event.option_index)
