"""A checkbox and a radio button that show their state by a glyph, not by colour alone.

Textual draws the same "X" (Checkbox) or "●" (RadioButton) whether on or off and tells the two
apart only by colour, which a colour-blind user or a monochrome terminal cannot see.
"""

from __future__ import annotations

import logging

from textual.content import Content
from textual.widgets import Checkbox, RadioButton

log = logging.getLogger(__name__)

__all__ = ["RadioChoice", "TickBox"]


def _with_inner(button: Content, inner: str) -> Content:
    """`button` (left side, inner glyph, right side) with its inner glyph replaced."""
    spans = list(button.spans)
    left = len(button.plain) - 2  # BUTTON_LEFT and BUTTON_RIGHT are one character each
    text = button.plain[:left] + inner + button.plain[left + 1 :]
    return Content(text, spans)


class TickBox(Checkbox):
    """A Checkbox showing ✓ when ticked and a blank when not."""

    TICKED = "✓"
    UNTICKED = " "

    @property
    def _button(self) -> Content:
        return _with_inner(super()._button, self.TICKED if self.value else self.UNTICKED)


class RadioChoice(RadioButton):
    """A RadioButton showing ● when chosen and ○ when not."""

    CHOSEN = "●"
    NOT_CHOSEN = "○"

    @property
    def _button(self) -> Content:
        return _with_inner(super()._button, self.CHOSEN if self.value else self.NOT_CHOSEN)
