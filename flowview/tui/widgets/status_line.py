"""A one-line message on a form (setup, settings): info, ok or error, never markup."""

from __future__ import annotations

from typing import Literal

from textual.content import Content
from textual.widgets import Static

from flowview.model.sanitize import clean_name

StatusKind = Literal["info", "ok", "error"]

# Status lines are sentences, longer than the names clean_name is tuned for.
MAX_STATUS_CHARS = 400


def status_content(text: str) -> Content:
    """A status line from untrusted text: one sanitised line, literal (no markup)."""
    return Content(clean_name(text, max_chars=MAX_STATUS_CHARS))


class StatusLine(Static):
    """Shows `text` styled by `kind` through the classes -info, -ok and -error."""

    DEFAULT_CSS = """
    StatusLine.-ok { color: $text-success; }
    StatusLine.-error { color: $text-error; }
    """

    def __init__(self, text: str, *, id: str | None = None) -> None:
        super().__init__(status_content(text), id=id, classes="-info")

    def show(self, text: str, kind: StatusKind = "info") -> None:
        self.update(status_content(text))
        for each in ("info", "ok", "error"):
            self.set_class(kind == each, f"-{each}")

    @property
    def text(self) -> str:
        return str(self.visual)
