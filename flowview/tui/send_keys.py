"""The keys of sending, bound on the main screen (their actions are the app's, see composer.py).

The input line has focus while a tab is shown, so letters type.  The log's letter keys (`t`
thread, `o` open link, and `r`, `e`, `d` below) act when the log has focus (Tab or Escape gets
there); while typing, alt+t / alt+o / ctrl+r do the same.  PgUp/PgDn scroll the log from the
input (MessageInput passes them on).
"""

from __future__ import annotations

import logging

from textual.binding import Binding, BindingType

log = logging.getLogger(__name__)

__all__ = ["SEND_BINDINGS", "SEND_HELP_TEXT"]

SEND_BINDINGS: list[BindingType] = [
    Binding("tab", "app.toggle_input", "input/log", id="send.toggle-input", show=False),
    Binding("escape", "app.focus_log", "log", id="send.focus-log", show=False),
    Binding("pageup", "app.log_page(-1)", "page up", id="send.page-up", show=False),
    Binding("pagedown", "app.log_page(1)", "page down", id="send.page-down", show=False),
    # ctrl+r while typing (alt+r marks the flow read, see tui/triage.py).
    Binding("ctrl+r,r", "app.reply", "reply", id="send.reply", key_display="ctrl+r"),
    Binding("alt+t", "app.open_thread", "thread", id="send.thread", show=False),
    Binding("alt+o", "app.open_link", "link", id="send.link", show=False),
    Binding("e", "app.edit_selected", "edit", id="send.edit-selected", show=False),
    Binding("d,delete", "app.delete_selected", "delete", id="send.delete-selected", show=False),
]

SEND_HELP_TEXT: dict[str, str] = {
    "send.toggle-input": "move between the input line and the messages (Tab completes first)",
    "send.focus-log": "from the input line to the messages",
    "send.page-up": "scroll the messages up, also while typing",
    "send.page-down": "scroll the messages down, also while typing",
    "send.reply": "reply in the selected message's thread (r on the messages, ctrl+r typing)",
    "send.thread": "open the thread of the selected message (t on the messages)",
    "send.link": "open the link of the selected message (o on the messages)",
    "send.edit-selected": "on the messages: edit your selected message, or a failed one to retry",
    "send.delete-selected": "on the messages: delete your selected message (asks), or discard "
    "a failed one",
}
