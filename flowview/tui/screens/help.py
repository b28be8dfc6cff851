"""F1: the keys, as currently bound (a user keymap is reflected), and a few words on terminals."""

from __future__ import annotations

import logging
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from flowview.tui.screens.main import APP_BINDINGS, HELP_TEXT, MAIN_BINDINGS
from flowview.tui.widgets.flow_log import FlowLog

log = logging.getLogger(__name__)

NOTES = (
    "Real terminals send alt+digit as ESC and the digit; flowview accepts both forms.\n"
    "On macOS, enable “Option as Meta” (Terminal, iTerm2) for the alt keys, or use\n"
    "ctrl+n / ctrl+p and the palette (ctrl+k), which work everywhere.\n"
    "In a flow: arrows, PgUp/PgDn, Home/End scroll; scrolling to the top loads older messages.\n"
    'Keys can be remapped in settings.toml: [keymap] binding-id = "keys".'
)


# What the help says about the conversation's own keys (the footer's words are shorter).
LOG_HELP_TEXT: dict[str, str] = {
    "flow_log.open_thread": "open the thread of the selected message",
    "flow_log.open_link": "open the link of the selected message in the browser",
    "flow_log.end": "jump to the newest message",
    "flow_log.home": "jump to the oldest loaded message (loads older history)",
}


def key_rows(keymap: dict[str, str]) -> list[tuple[str, str, str]]:
    """(keys, what it does, binding id) for every binding, with `keymap` applied."""
    rows: list[tuple[str, str, str]] = []
    for binding in FlowLog.BINDINGS:
        if isinstance(binding, Binding) and binding.id in LOG_HELP_TEXT:
            keys = keymap.get(binding.id, binding.key)
            rows.append((keys, LOG_HELP_TEXT[binding.id], binding.id))
    for binding in [*MAIN_BINDINGS, *APP_BINDINGS]:
        if not isinstance(binding, Binding):
            continue
        binding_id = binding.id or ""
        keys = keymap.get(binding_id, binding.key)
        if binding_id.startswith("goto-flow-") and binding_id not in keymap:
            # Ten near-identical rows say less than one.
            if binding_id == "goto-flow-1":
                rows.append(("alt+1 … alt+9, alt+0", "flow 1 … 9, 10 (tab order)", binding_id))
            continue
        shown = ", ".join(_display(k.strip()) for k in keys.split(",") if k.strip())
        rows.append((shown, HELP_TEXT.get(binding_id, binding.description), binding_id))
    return rows


def _display(key: str) -> str:
    # The Option-character aliases are what the terminal sends, not what the user types.
    names = {
        "inverted_exclamation_mark": "ESC 1",
        "trade_mark_sign": "ESC 2",
        "pound_sign": "ESC 3",
        "cent_sign": "ESC 4",
        "infinity": "ESC 5",
        "section_sign": "ESC 6",
        "pilcrow_sign": "ESC 7",
        "bullet": "ESC 8",
        "ª": "ESC 9",
        "º": "ESC 0",
        "å": "option+a",
    }
    return names.get(key, key)


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; F1, Escape or q closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 100%;
        max-width: 96;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-title {
        text-style: bold;
        color: $accent;
        padding-bottom: 1;
    }
    HelpScreen #help-notes {
        color: $text-muted;
        padding-top: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "close", "close", id="help.close"),
    ]

    def __init__(self, keymap: dict[str, str] | None = None) -> None:
        super().__init__(id="help")
        self.keymap = dict(keymap or {})

    def compose(self) -> ComposeResult:
        rows = key_rows(self.keymap)
        width = max(len(keys) for keys, _, _ in rows) + 2
        lines = [
            Content.assemble((keys.ljust(width), "bold $accent"), text) for keys, text, _ in rows
        ]
        with VerticalScroll():
            yield Static(Content("flowview keys"), id="help-title")
            yield Static(Content("\n").join(lines), id="help-keys")
            yield Static(Content(NOTES), id="help-notes")

    def action_close(self) -> None:
        self.dismiss(None)
