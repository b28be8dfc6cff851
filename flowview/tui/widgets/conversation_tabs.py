"""The tab bar of the main screen: TabbedContent with the members pane beside the log, and
"‹ 2" / "3 ›" at the ends when tabs are hidden off either edge.

Textual's tab bar scrolls sideways without any sign that more tabs exist; the counts say how
many tabs lie (wholly or partly) off each edge.  They take their room only while the tabs do
not fit the bar, so the bar is laid out the same whichever tabs are scrolled into view.
"""

from __future__ import annotations

import logging

from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Static, TabbedContent
from textual.widgets._tabbed_content import ContentTab, ContentTabs

from flowview.tui.widgets.members_pane import MembersPane

log = logging.getLogger(__name__)

__all__ = ["ConversationTabs"]

LEFT = "‹"
RIGHT = "›"


class _Edge(Static):
    """One end's count of hidden tabs."""

    DEFAULT_CSS = """
    _Edge {
        width: 4;
        height: 1;
        color: $text-accent;
        text-style: bold;
        display: none;
    }
    _Edge.-left { dock: left; content-align: left middle; }
    _Edge.-right { dock: right; content-align: right middle; }
    """


class ConversationTabs(TabbedContent):
    """The tabs, with the members pane (f4) beside the conversation and under the tab bar:
    the tab bar keeps the full width (its ContentTabs are docked at the top; main.tcss lays
    the conversation and the pane side by side below it)."""

    hidden_left = 0
    hidden_right = 0

    def compose(self) -> ComposeResult:
        yield from super().compose()
        members = MembersPane(id="members")
        members.display = False
        yield members

    async def on_mount(self) -> None:
        bar = self.query_one(ContentTabs)
        await bar.mount(_Edge(classes="-left", id="tabs-hidden-left"), before=0)
        await bar.mount(_Edge(classes="-right", id="tabs-hidden-right"))
        self.watch(self._scroller(bar), "scroll_x", self._scrolled, init=False)
        self.call_after_refresh(self.update_overflow)

    @staticmethod
    def _scroller(bar: ContentTabs) -> Container:
        return bar.query_one("#tabs-scroll", Container)

    def _scrolled(self) -> None:
        self.update_overflow()

    def on_resize(self) -> None:
        self.call_after_refresh(self.update_overflow)

    def _tabs(self, bar: ContentTabs) -> list[ContentTab]:
        return [tab for tab in bar.query(ContentTab) if tab.display]

    def update_overflow(self) -> None:
        """Show the ends' counts of hidden tabs (call after tabs or labels change)."""
        try:
            bar = self.query_one(ContentTabs)
            left = bar.query_one("#tabs-hidden-left", _Edge)
            right = bar.query_one("#tabs-hidden-right", _Edge)
            scroller = self._scroller(bar)
        except NoMatches:
            return  # not composed yet, or shutting down
        tabs = self._tabs(bar)
        total = sum(tab.outer_size.width for tab in tabs)
        overflowing = total > bar.size.width
        left.display = right.display = overflowing
        if not overflowing:
            self.hidden_left = self.hidden_right = 0
            return
        start = scroller.scroll_x
        end = start + scroller.size.width
        self.hidden_left = sum(1 for tab in tabs if tab.virtual_region.x < start)
        self.hidden_right = sum(1 for tab in tabs if tab.virtual_region.right > end)
        left.update(Content(f"{LEFT}{self.hidden_left}" if self.hidden_left else ""))
        right.update(Content(f"{self.hidden_right}{RIGHT}" if self.hidden_right else ""))

    def keep_active_in_view(self) -> None:
        """Scroll the shown tab into the bar (after the palette or a theme change the bar can
        be laid out again scrolled elsewhere)."""
        try:
            bar = self.query_one(ContentTabs)
            scroller = self._scroller(bar)
        except NoMatches:
            return
        active = bar.active_tab
        if active is not None:
            scroller.scroll_to_center(active, animate=False, force=True, immediate=True)
        self.update_overflow()
