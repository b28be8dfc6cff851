"""Shown when `o` could not start a browser: the full address, to open by hand.

The address came from a message: it is sanitised and shown as plain Content (never markup),
in full (wrapped), so the terminal's own selection can copy it.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from flowview.model.sanitize import clean_name

log = logging.getLogger(__name__)

__all__ = ["LinkByHandScreen"]

MAX_URL_CHARS = 2000


class LinkByHandScreen(ModalScreen[None]):
    """ "Open this link yourself: URL" with why the browser did not open; any close key."""

    DEFAULT_CSS = """
    LinkByHandScreen {
        align: center middle;
    }
    LinkByHandScreen > Vertical {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 80%;
        border: round $warning;
        background: $surface;
        padding: 0 1;
    }
    LinkByHandScreen #link-url {
        padding: 1 0;
        text-style: bold;
    }
    LinkByHandScreen #link-help {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "close", id="link_by_hand.close"),
    ]

    def __init__(self, url: str, problem: str) -> None:
        super().__init__()
        self.url = clean_name(url, max_chars=MAX_URL_CHARS)
        self.problem = clean_name(problem)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(f"Not opened: {self.problem}."), id="link-problem")
            yield Static(Content("Open this link yourself:"), id="link-lead")
            yield Static(Content(self.url), id="link-url")
            yield Static(
                Content("Select it with the mouse (shift+drag in most terminals).  Esc closes."),
                id="link-help",
            )

    def action_close(self) -> None:
        self.dismiss(None)
