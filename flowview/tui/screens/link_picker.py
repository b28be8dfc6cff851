"""LinkPicker: choose which of a message's links to open (key ``o`` on a line with several).

URLs come from untrusted text: each is shown as plain :class:`~textual.content.Content`, never
parsed as markup, and the full address is shown so the user sees where it leads.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

log = logging.getLogger(__name__)

__all__ = ["LinkPicker"]


class LinkPicker(ModalScreen[str | None]):
    """Lists ``urls``; dismisses with the chosen one, or None (escape)."""

    CSS_PATH = "link_picker.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="link_picker.cancel"),
    ]

    def __init__(self, urls: list[str]) -> None:
        super().__init__()
        self.urls = list(urls)

    def compose(self) -> ComposeResult:
        with Vertical(id="link-box"):
            yield Static(
                Content("Open which link?  (Enter opens, Escape cancels)"), id="link-title"
            )
            yield OptionList(
                *(Option(Content(f"{n}. {url}"), id=str(n)) for n, url in enumerate(self.urls, 1)),
                id="link-list",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.urls[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
