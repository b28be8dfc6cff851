"""The "N new messages below ↓" hint of a flow log.

A Textual ``ScrollView`` does not lay out child widgets (the compositor arranges children only
for containers), so the hint is not a child widget: :class:`~flowview.tui.widgets.flow_log.FlowLog`
draws it over its bottom row while the user reads history and new lines arrive below. This module
holds its text and rendering so both stay in one place and can be tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

__all__ = ["NewMessagesHint"]


@dataclass(slots=True)
class NewMessagesHint:
    """State and rendering of the hint; ``count`` is the number of lines below the view."""

    count: int = 0

    @property
    def visible(self) -> bool:
        return self.count > 0

    @property
    def text(self) -> str:
        noun = "message" if self.count == 1 else "messages"
        return f" {self.count} new {noun} below ↓ (End) "

    def render(self, width: int, style: Style, fill: Style) -> Strip:
        """The hint centred in a row of ``width`` cells: ``style`` for the label, ``fill``
        for the rest of the row."""
        label = self.text
        if len(label) > width:
            label = label[:width]
        left = (width - len(label)) // 2
        right = width - len(label) - left
        segments = [Segment(" " * left, fill), Segment(label, style), Segment(" " * right, fill)]
        return Strip(segments, width)
