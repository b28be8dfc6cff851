"""ThreadScreen: the messages of one thread, over the conversation they belong to.

A modal screen holding a :class:`FlowLog` over a :class:`ThreadStore`, a live filtered view of
the conversation's store (it shares the message objects, so edits and reactions show at once,
and it picks up new replies on refresh). ``escape`` closes it.

Its input line replies in the thread (``thread_id``), or, when the thread is an integration
item's (``comment_on``), comments on that item; the app's composer sends what it submits.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from flowview.model.sanitize import clean_name
from flowview.model.store import ConversationStore, ThreadStore
from flowview.protocol.events import ConversationKey
from flowview.tui.widgets.flow_log import FlowLog
from flowview.tui.widgets.message_input import MessageInput

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from flowview.model.router import Router

__all__ = ["ThreadScreen"]

POLL_SECONDS = 0.25


class ThreadScreen(ModalScreen[None]):
    """Shows the thread ``thread_id`` of conversation ``key``. Dismisses with None."""

    CSS_PATH = "thread.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close thread", id="thread.close"),
        Binding("tab", "toggle_input", "input/log", id="thread.toggle-input", show=False),
    ]

    def __init__(
        self,
        router: Router,
        key: ConversationKey,
        thread_id: str,
        *,
        comment_on: int | None = None,
        can_send: bool = False,
    ) -> None:
        super().__init__()
        self.router = router
        self.key = key
        self.thread_id = thread_id
        self.comment_on = comment_on  # the integration item that the input comments on
        self.can_send = can_send
        parent = router.stores.get(key) or ConversationStore(key, router.title_for(key))
        self.thread_store = ThreadStore(parent, thread_id)
        self._seen = -1

    @property
    def thread_title(self) -> str:
        """The thread's title, else the first words of its first message."""
        for message in self.thread_store:
            if message.thread_title:
                return message.thread_title
        for message in self.thread_store:
            text = message.title or message.text
            if text:
                return clean_name(text, max_chars=60)
        return "thread"

    def _heading(self) -> Content:
        count = len(self.thread_store)
        noun = "message" if count == 1 else "messages"
        # Content(...) is plain text: titles from the network never reach a markup parser
        return Content(
            f"Thread: {self.thread_title}  ({count} {noun} in {self.thread_store.title})"
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="thread-box"):
            yield Static(self._heading(), id="thread-title", markup=False)
            yield FlowLog(self.thread_store, self.router, id="thread-log", history=False)
            if self.can_send:
                yield MessageInput(
                    f"thread:{self.thread_id}",
                    id="thread-input",
                    placeholder="› reply in this thread: enter sends · esc closes",
                )
        yield Footer(show_command_palette=False)  # its ctrl+k slot showed the input's own ctrl+k

    def on_mount(self) -> None:
        inputs = self.query(MessageInput)
        if inputs:
            inputs.first().focus()
        else:
            self.query_one(FlowLog).focus()
        self._seen = self.thread_store.parent.version
        self.set_interval(POLL_SECONDS, self._poll)

    def _poll(self) -> None:
        if self.thread_store.parent.version != self._seen:
            self.refresh_from_store()

    def refresh_from_store(self) -> None:
        """Pick up new replies and edits from the conversation (also runs on a timer)."""
        self._seen = self.thread_store.parent.version
        self.query_one(FlowLog).refresh_from_store()
        self.query_one("#thread-title", Static).update(self._heading())

    @on(FlowLog.ThreadRequested)
    def _already_here(self, event: FlowLog.ThreadRequested) -> None:
        event.stop()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_input(self) -> None:
        """Tab: between the thread's messages and its input line."""
        inputs = self.query(MessageInput)
        if inputs and not inputs.first().has_focus:
            inputs.first().focus()
        else:
            self.query_one(FlowLog).focus()
