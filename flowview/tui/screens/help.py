"""F1: the keys, as currently bound (a user keymap is reflected), and a few words on terminals."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from flowview.model.sanitize import clean_name
from flowview.tui.screens.main import HELP_TEXT

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
    "flow_log.cursor_up": "select the previous message",
    "flow_log.cursor_down": "select the next message",
    "flow_log.page_up": "scroll a page up",
    "flow_log.page_down": "scroll a page down",
    "flow_log.open_thread": "open the thread of the selected message",
    "flow_log.open_link": "open the link of the selected message in the browser",
    "flow_log.end": "jump to the newest message",
    "flow_log.home": "jump to the oldest loaded message (loads older history)",
}

# Sections of the help, by the class that defines the bindings; others go last by class name.
SECTIONS: dict[str, str] = {
    "FlowviewApp": "Everywhere",
    "MainScreen": "Flows and panes",
    "FlowLog": "In a conversation",
    "SearchScreen": "Search (ctrl+f)",
    "ThreadScreen": "Thread",
    "HelpScreen": "Dialogs",
    "LinkPicker": "Dialogs",
    "SettingsScreen": "Dialogs",
    "LinkByHandScreen": "Dialogs",
}
_SECTION_ORDER = ["Everywhere", "Flows and panes", "In a conversation", "Search (ctrl+f)"]
GOTO_IDS = "goto-flow-1 … goto-flow-10"


def _section(owner: str) -> str:
    return SECTIONS.get(owner, owner)


def key_rows(keymap: dict[str, str]) -> list[tuple[str, str, str]]:
    """(keys, what it does, binding id) for every binding, with `keymap` applied."""
    return [row for _, rows in key_sections(keymap) for row in rows]


def key_sections(keymap: dict[str, str]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The rows of `key_rows` under section titles, every binding id of flowview listed."""
    from flowview.tui.binding_ids import all_bindings  # imports every screen: F1 only

    sections: dict[str, list[tuple[str, str, str]]] = {}
    for binding in all_bindings():
        binding_id = binding.id
        keys = keymap.get(binding_id, binding.key)
        rows = sections.setdefault(_section(binding.owner), [])
        if binding_id.startswith("goto-flow-") and binding_id not in keymap:
            # Ten near-identical rows say less than one.
            if binding_id == "goto-flow-1":
                rows.append(("alt+1 … alt+9, alt+0", "flow 1 … 9, 10 (tab order)", GOTO_IDS))
            continue
        shown = ", ".join(_display(k.strip()) for k in keys.split(",") if k.strip())
        text = HELP_TEXT.get(binding_id) or LOG_HELP_TEXT.get(binding_id) or binding.description
        rows.append((shown, text, binding_id))
    order = {title: i for i, title in enumerate(_SECTION_ORDER)}
    return sorted(sections.items(), key=lambda item: (order.get(item[0], 99), item[0]))


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

    def __init__(self, keymap: dict[str, str] | None = None, problems: Sequence[str] = ()) -> None:
        super().__init__(id="help")
        self.keymap = dict(keymap or {})
        # What loading settings.toml skipped (a bad [keymap] entry, an unknown binding id).
        self.problems = tuple(problems)

    def compose(self) -> ComposeResult:
        width = self._text_width()
        with VerticalScroll():
            yield Static(Content("flowview keys"), id="help-title")
            if self.problems:
                yield Static(problems_content(self.problems, width), id="help-problems")
            yield Static(keys_content(key_sections(self.keymap), width), id="help-keys")
            yield Static(Content(NOTES), id="help-notes")

    def _text_width(self) -> int:
        # The box is at most MAX_WIDTH wide; its border, padding and scroll bar take 6 cells.
        return max(40, min(MAX_WIDTH, self.app.size.width) - 6)

    def on_resize(self) -> None:
        width = self._text_width()
        self.query_one("#help-keys", Static).update(keys_content(key_sections(self.keymap), width))
        if self.problems:
            self.query_one("#help-problems", Static).update(problems_content(self.problems, width))

    def action_close(self) -> None:
        self.dismiss(None)


MAX_WIDTH = 96


def keys_content(sections: list[tuple[str, list[tuple[str, str, str]]]], width: int) -> Content:
    """One line per binding: keys, what it does and (muted) its id for [keymap]; a long
    line wraps under the description, never under the keys."""
    rows = [row for _, section in sections for row in section]
    key_width = max(len(keys) for keys, _, _ in rows) + 2
    lines: list[Content] = []
    for title, section in sections:
        if lines:
            lines.append(Content(""))
        lines.append(Content.assemble((title, "bold underline")))
        for keys, text, binding_id in section:
            words = f"{text}  [{binding_id}]"
            wrapped = _wrap(words, max(20, width - key_width))
            for i, part in enumerate(wrapped):
                lead = (keys.ljust(key_width), "bold $accent") if i == 0 else " " * key_width
                tail = f"[{binding_id}]"
                if part.endswith(tail):
                    lines.append(Content.assemble(lead, part[: -len(tail)], (tail, "$text-muted")))
                else:
                    lines.append(Content.assemble(lead, part))
    return Content("\n").join(lines)


def _wrap(text: str, width: int) -> list[str]:
    # Binding ids and paths keep their hyphens and slashes on one line.
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False) or [""]


def problems_content(problems: Sequence[str], width: int) -> Content:
    """What loading settings.toml skipped, one wrapped paragraph each (already sanitised
    text of ours and of the user's own file, still never markup)."""
    lines: list[Content] = [
        Content.assemble(("Problems in settings.toml (skipped; the rest loaded)", "bold $error"))
    ]
    for problem in problems:
        for i, part in enumerate(_wrap(clean_name(problem, max_chars=400), width - 2)):
            lines.append(Content.assemble(("• " if i == 0 else "  "), (part, "$text-warning")))
    return Content("\n").join(lines)
