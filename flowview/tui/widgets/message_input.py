"""The input line of one conversation tab.

A TextArea that sends on Enter and adds a line on shift+enter / alt+enter (or ctrl+j, which
terminals without the kitty keyboard protocol send for those).  A bracketed paste is inserted
as one block, so a pasted multi-line text is one message.  Each instance keeps its own input
history and draft, so a widget per tab is a history and a draft per tab.

What the text means is not decided here: `MessageInput.Submitted` carries the raw text (the
app parses it with `flowview.model.compose.parse`).  Up on an empty line asks the app for
"edit my last message" (`EditLastRequested`), as in Slack and matterhorn; ctrl+up / ctrl+down
walk the input history, and so do up / down while a history entry is shown.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from textual import events
from textual.actions import SkipAction
from textual.content import Content
from textual.message import Message
from textual.widgets import TextArea

from flowview.model.compose import complete

log = logging.getLogger(__name__)

__all__ = ["CompletionSource", "MessageInput"]

HISTORY_SIZE = 100
NEWLINE_KEYS = frozenset({"shift+enter", "alt+enter", "ctrl+j"})
# What Textual names ESC+digit (alt+1 … alt+8 in xterm-like terminals and tmux): bound to the
# tab keys, so they do not type ¡ ™ £ ¢ ∞ § ¶ • in the input (paste those if needed).  ª, º
# (ESC 9, ESC 0) are letters in some languages and stay typeable.
OPTION_KEYS = frozenset(
    {
        "inverted_exclamation_mark",
        "trade_mark_sign",
        "pound_sign",
        "cent_sign",
        "infinity",
        "section_sign",
        "pilcrow_sign",
        "bullet",
    }
)


@dataclass(frozen=True)
class CompletionSource:
    """What Tab can complete in this conversation (the app keeps it current)."""

    nicks: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()


@dataclass
class _Cycle:
    """A Tab completion in progress: further Tabs step through the candidates."""

    start: int
    candidates: tuple[str, ...]
    index: int = 0
    text_after: str = field(default="")  # the document right after our last replacement


def clean_paste(text: str) -> str:
    """Pasted text as a message: one line ending, no control or bidi-override characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        ch
        for ch in text
        if ch in "\n\t"
        or unicodedata.category(ch) not in ("Cc", "Cf")
        or ch in "\u200d"  # the zero-width joiner holds emoji sequences together
    )


class MessageInput(TextArea):
    """The input line of the conversation `key`."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    class Submitted(Message):
        """Enter was pressed on a non-blank input."""

        def __init__(self, input: MessageInput, key: str, text: str, edit_of: int | None) -> None:
            super().__init__()
            self.input = input
            self.key = key
            self.text = text
            self.edit_of = edit_of  # the message being edited (see `begin_edit`), else None

        @property
        def control(self) -> MessageInput:
            return self.input

    class EditLastRequested(Message):
        """Up on an empty input: the app should `begin_edit` the user's last message."""

        def __init__(self, input: MessageInput, key: str) -> None:
            super().__init__()
            self.input = input
            self.key = key

        @property
        def control(self) -> MessageInput:
            return self.input

    def __init__(
        self,
        key: str,
        *,
        completion_source: Callable[[], CompletionSource] | None = None,
        up_edits_last: bool = True,
        history_size: int = HISTORY_SIZE,
        placeholder: str = "",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(
            "",
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            compact=True,
            highlight_cursor_line=False,
            # An empty input line is otherwise an invisible blank row: say what it is.
            placeholder=Content(placeholder),
            name=name,
            id=id,
            classes=classes,
        )
        self.key = key
        self.completion_source = completion_source or CompletionSource
        self.up_edits_last = up_edits_last
        self._history: list[str] = []
        self._history_size = history_size
        self._history_pos: int | None = None  # index into _history while browsing
        self._stash = ""  # the draft put aside while browsing history
        self._cycle: _Cycle | None = None
        self._editing: int | None = None
        self._draft_before_edit = ""

    # ------------------------------------------------------------------ state for the app

    @property
    def draft(self) -> str:
        """The unsent text (what the app saves when the tab is hidden or flowview quits)."""
        return self.text

    @draft.setter
    def draft(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)
        self._history_pos = None

    @property
    def input_history(self) -> list[str]:
        """Sent texts, oldest first (a copy; restore with `set_input_history`)."""
        return list(self._history)

    def set_input_history(self, entries: list[str]) -> None:
        self._history = list(entries)[-self._history_size :]
        self._history_pos = None

    @property
    def editing(self) -> int | None:
        """The id of the message being edited, if any."""
        return self._editing

    def begin_edit(self, message_id: int, text: str) -> None:
        """Put an existing message in the input; the next Submitted carries `edit_of`."""
        if self._editing is None:
            self._draft_before_edit = self.text
        self._editing = message_id
        self.add_class("-editing")
        self.draft = text

    def cancel_edit(self) -> None:
        if self._editing is None:
            return
        self._editing = None
        self.remove_class("-editing")
        self.draft = self._draft_before_edit

    # ------------------------------------------------------------------ keys

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key != "tab":
            self._cycle = None
        if key == "enter":
            self._swallow(event)
            self._send_text()
            return
        if await self._run_bound_character(event):
            return
        if key in NEWLINE_KEYS:
            self._swallow(event)
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        if key == "tab" and self._complete_word():
            self._swallow(event)
            return
        if key == "escape" and self._editing is not None:
            self._swallow(event)
            self.cancel_edit()
            return
        if key in ("up", "ctrl+up") and self._on_up(explicit=key == "ctrl+up"):
            self._swallow(event)
            return
        if key in ("down", "ctrl+down") and self._on_down(explicit=key == "ctrl+down"):
            self._swallow(event)
            return
        await super()._on_key(event)

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        """Printable keys type, except the Option characters that xterm-like terminals send
        for alt+digit (see OPTION_KEYS): the screen's bindings keep those."""
        if key in OPTION_KEYS:
            return False
        return super().check_consume_key(key, character)

    async def _run_bound_character(self, event: events.Key) -> bool:
        """alt+digit arrives from xterm-like terminals as a character (ESC 2 -> "™", key
        ``trade_mark_sign``; see screens/main.py): when such a key is bound on the screen it
        runs the binding instead of typing the character, so the tab keys work while typing."""
        if event.key not in OPTION_KEYS or not event.is_printable:
            return False  # (not printable: the event bubbles to the bindings by itself)
        active = self.screen.active_bindings.get(event.key)
        if active is None or not active.enabled or active.node is self:
            return False
        self._swallow(event)
        await self.app.run_action(active.binding.action, active.node)
        return True

    @staticmethod
    def _swallow(event: events.Key) -> None:
        event.stop()
        event.prevent_default()

    async def _on_paste(self, event: events.Paste) -> None:
        # One block, whatever it contains: newlines in a paste never send.
        self._stop_paste(event)
        if self.read_only:
            return
        text = clean_paste(event.text)
        if result := self._replace_via_keyboard(text, *self.selection):
            self.move_cursor(result.end_location)

    @staticmethod
    def _stop_paste(event: events.Paste) -> None:
        event.stop()
        event.prevent_default()

    def _send_text(self) -> None:
        text = self.text
        if not text.strip():
            return
        if not self._history or self._history[-1] != text:
            self._history.append(text)
            del self._history[: -self._history_size]
        self._history_pos = None
        edit_of = self._editing
        self._editing = None
        self.remove_class("-editing")
        self.clear()
        self.post_message(self.Submitted(self, self.key, text, edit_of))

    # f6/f7 (select line / all) give way to the screen's keys (a keymap may use them).
    def action_select_line(self) -> None:
        raise SkipAction()

    def action_select_all(self) -> None:
        raise SkipAction()

    # PgUp/PgDn belong to the log: the input is a few lines at most, and reading back while
    # typing must not need a focus change.  SkipAction lets the screen's binding run.
    def action_cursor_page_up(self) -> None:
        raise SkipAction()

    def action_cursor_page_down(self) -> None:
        raise SkipAction()

    # ------------------------------------------------------------------ history

    def _on_up(self, *, explicit: bool) -> bool:
        """Handle up on the first line; False lets the TextArea move the cursor."""
        if self.cursor_location[0] != 0:
            return False
        if not explicit and self._history_pos is None and not self.text and self.up_edits_last:
            self.post_message(self.EditLastRequested(self, self.key))
            return True
        if not self._history:
            return explicit
        if self._history_pos is None:
            self._stash = self.text  # comes back after the newest entry
            self._history_pos = len(self._history)
        if self._history_pos > 0:
            self._history_pos -= 1
            self._show_entry(self._history[self._history_pos])
        return True

    def _on_down(self, *, explicit: bool) -> bool:
        if self._history_pos is None:
            return explicit
        if not explicit and self.cursor_location[0] != self.document.line_count - 1:
            return False
        self._history_pos += 1
        if self._history_pos >= len(self._history):
            self._history_pos = None
            self._show_entry(self._stash)
        else:
            self._show_entry(self._history[self._history_pos])
        return True

    def _show_entry(self, text: str) -> None:
        pos = self._history_pos
        self.load_text(text)
        self.move_cursor(self.document.end)
        self._history_pos = pos

    # ------------------------------------------------------------------ completion

    def _caret_index(self) -> int:
        row, col = self.cursor_location
        lines = self.text.split("\n")
        return sum(len(line) + 1 for line in lines[:row]) + col

    def _complete_word(self) -> bool:
        """Complete the word at the cursor, or step to the next candidate; False: nothing."""
        text = self.text
        cycle = self._cycle
        if cycle is not None and cycle.text_after == text:
            cycle.index = (cycle.index + 1) % len(cycle.candidates)
            previous = cycle.candidates[cycle.index - 1] + " "
            self._put_candidate(cycle, cycle.start + len(previous))
            return True
        source = self.completion_source()
        found = complete(
            text,
            self._caret_index(),
            nicks=source.nicks,
            tags=source.tags,
            flows=source.flows,
        )
        if found is None:
            self._cycle = None
            return False
        self._cycle = _Cycle(found.start, found.candidates)
        self._put_candidate(self._cycle, found.end)
        return True

    def _put_candidate(self, cycle: _Cycle, end: int) -> None:
        """Replace text[cycle.start:end] with the current candidate and a space."""
        text = self.text
        new = cycle.candidates[cycle.index] + " "
        self.load_text(text[: cycle.start] + new + text[end:])
        self.move_cursor(self._index_to_location(cycle.start + len(new)))
        cycle.text_after = self.text
        self._cycle = cycle

    def _index_to_location(self, offset: int) -> tuple[int, int]:
        row = col = 0
        for ch in self.text[:offset]:
            if ch == "\n":
                row, col = row + 1, 0
            else:
                col += 1
        return row, col
