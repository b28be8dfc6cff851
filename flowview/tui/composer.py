"""The glue between the input line, `compose.parse` and the session's `Sender`.

One `MessageInput` sits under the tabs; its draft and input history are kept per conversation
(`tab_shown` swaps them) and saved across restarts (`drafts.py`).  Enter hands the text to
`submitted`: it is parsed (`flowview.model.compose.parse`) and becomes an outbox item (shown at
once as a pending line, see `flowview.model.pending`), a reaction, an edit, a delete (asked
first), a private conversation, or a note under the input (errors, /help): a mistyped command
is never sent.  In a thread view (`ThreadScreen`) the same text replies in that thread, or
comments on the integration item the thread belongs to.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.widgets import Static

from flowview.model import compose
from flowview.model.sanitize import clean_name
from flowview.model.stored_message import StoredMessage
from flowview.protocol.events import ConversationKey
from flowview.protocol.outbox_store import OutboxStoreError
from flowview.protocol.sender import Destination, InvalidTransition, ItemState, StateChanged
from flowview.tui.screens.confirm import ConfirmScreen
from flowview.tui.widgets.message_input import CompletionSource, MessageInput

if TYPE_CHECKING:
    from flowview.tui.app import FlowviewApp
    from flowview.tui.screens.thread import ThreadScreen

log = logging.getLogger(__name__)

__all__ = ["Composer"]

MAX_TAGS_SCANNED = 500  # recent messages whose tags Tab completion offers
_COMMENTABLE = ("activity", "discussion", "file")


class Composer:
    """Sending for one app: what Enter, up-arrow and the reply/edit/delete keys do."""

    def __init__(self, app: FlowviewApp) -> None:
        self.app = app
        self.drafts: dict[ConversationKey, str] = {}
        self.histories: dict[ConversationKey, list[str]] = {}
        self.shown: ConversationKey | None = None
        self.retrying: str | None = None  # uuid of the failed item being edited for a retry

    # ------------------------------------------------------------------ context

    @property
    def sender(self) -> Any:
        outbox = self.app.outbox
        return outbox.sender if outbox is not None else None

    def dest_for(self, key: ConversationKey) -> Destination | None:
        session = self.app.session
        if session is None:
            return None
        if key[0] == "flow":
            flow = session.flows_by_id.get(key[1])
            return Destination.flow(flow.slug) if flow is not None else None
        me = session.router.me_id
        ids = key[1].split(":")
        others = [uid for uid in ids if uid != me] or ids[:1]
        return Destination.private(others[0]) if others and others[0] else None

    def note(self, text: str, *, error: bool = True) -> None:
        """Say something under the input line (plain text; empty clears it)."""
        try:
            widget = self.app.main.query_one("#compose-note", Static)
        except Exception:
            log.exception("no place for a note")
            return
        if not text:
            widget.update(Content(""))
            widget.display = False
            return
        if self.app.screen is not self.app.main and error:
            self.app.notify(text, markup=False, severity="error", timeout=6)
        widget.set_class(error, "-error")
        widget.update(Content(text))
        widget.display = True

    def completion(self) -> CompletionSource:
        """Nicks of the shown conversation's members (then everyone), tags seen, flow slugs."""
        session = self.app.session
        if session is None:
            return CompletionSource()
        router = session.router
        key = self.current_key()
        members = [u.nick for u in router.members_for(key)] if key is not None else []
        everyone = [u.nick for u in router.users.values()]
        tags: list[str] = []
        store = router.stores.get(key) if key is not None else None
        if store is not None:
            for message in store.messages[-MAX_TAGS_SCANNED:]:
                tags.extend(message.tags)
        flows = [f.slug for f in session.flows_by_slug.values()]
        return CompletionSource(
            nicks=tuple(dict.fromkeys(n for n in [*members, *everyone] if n)),
            tags=tuple(dict.fromkeys(tags)),
            flows=tuple(flows),
        )

    def current_key(self) -> ConversationKey | None:
        screen = self.app.screen
        key = getattr(screen, "key", None)
        if isinstance(key, tuple):
            return key  # a thread view
        try:
            return self.app.main.active_key
        except LookupError:
            return None

    # ------------------------------------------------------------------ tabs

    def tab_shown(self, input: MessageInput, key: ConversationKey | None) -> None:
        """Keep the input's draft and history with the conversation they belong to."""
        if key == self.shown:
            return
        if self.shown is not None:
            input.cancel_edit()
            self.drafts[self.shown] = input.draft
            self.histories[self.shown] = input.input_history
        self.shown = key
        self.retrying = None
        input.draft = self.drafts.get(key, "") if key is not None else ""
        input.set_input_history(self.histories.get(key, []) if key is not None else [])
        self.note("")

    def snapshot(self, input: MessageInput | None) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Drafts and histories by conversation (the shown one's from the input)."""
        drafts = dict(self.drafts)
        histories = dict(self.histories)
        if input is not None and self.shown is not None:
            drafts[self.shown] = input.draft
            histories[self.shown] = input.input_history
        return (
            {f"{k[0]}:{k[1]}": v for k, v in drafts.items() if v},
            {f"{k[0]}:{k[1]}": v for k, v in histories.items() if v},
        )

    def restore(self, drafts: dict[str, str], histories: dict[str, list[str]]) -> None:
        for name, text in drafts.items():
            kind, _, ident = name.partition(":")
            self.drafts.setdefault((kind, ident), text)
        for name, entries in histories.items():
            kind, _, ident = name.partition(":")
            self.histories.setdefault((kind, ident), list(entries))

    # ------------------------------------------------------------------ Enter

    def submitted(self, message: MessageInput.Submitted) -> None:
        from flowview.tui.screens.thread import ThreadScreen

        screen = message.input.screen
        thread: ThreadScreen | None = screen if isinstance(screen, ThreadScreen) else None
        key = thread.key if thread is not None else self.current_key()
        if key is None:
            self.note("no conversation to send to")
            return
        sender = self.sender
        dest = self.dest_for(key)
        if sender is None or dest is None:
            outbox = self.app.outbox
            why = outbox.problem if outbox is not None and outbox.problem else None
            self.note(why or "not connected yet: the text is back in the input")
            message.input.draft = message.text
            return
        try:
            if message.edit_of is not None:
                sender.submit_edit(dest, message.edit_of, message.text)
                self.note("")
                return
            if self.retrying is not None:
                uid, self.retrying = self.retrying, None
                try:
                    sender.retry(uid, message.text)
                except (KeyError, InvalidTransition):
                    log.exception("retry of %s", uid)
                    sender.submit(dest, message.text)
                self.note("")
                return
        except (OSError, OutboxStoreError, RuntimeError, ValueError) as exc:
            log.exception("could not queue an edit or a retry")
            self.note(f"not sent, kept in the input: {clean_name(str(exc), max_chars=160)}")
            message.input.draft = message.text
            return
        flows = list(self.app.session.flows_by_slug) if self.app.session is not None else []
        action = compose.parse(message.text, flows=flows)
        try:
            self._act(action, key, dest, message, thread)
        except (OSError, OutboxStoreError, RuntimeError, ValueError) as exc:
            # Not in the outbox (it is written first): the text goes back, nothing is lost.
            log.exception("could not queue what was typed")
            self.note(f"not sent, kept in the input: {clean_name(str(exc), max_chars=160)}")
            message.input.draft = message.text

    def _act(
        self,
        action: compose.Action,
        key: ConversationKey,
        dest: Destination,
        message: MessageInput.Submitted,
        thread: ThreadScreen | None,
    ) -> None:
        sender = self.sender
        store = self.app.stores().get(key)
        after_id = store.newest_id if store is not None else None
        if isinstance(action, compose.ComposeError):
            self.note(action.message)
            message.input.draft = message.text  # nothing was sent: the text stays
            return
        self.note("")
        if isinstance(action, compose.SendText):
            if action.event == "status" and dest.kind != "flow":
                self.note("/status is for flows")
                message.input.draft = message.text
                return
            comment_on = thread.comment_on if thread is not None else None
            if comment_on is not None and action.event == "message":
                sender.submit_comment(dest, comment_on, action.text, after_id=after_id)
            else:
                sender.submit(
                    dest,
                    action.text,
                    event=action.event,
                    thread_id=thread.thread_id if thread is not None else None,
                    after_id=after_id,
                )
            self._follow(key)
        elif isinstance(action, compose.PrivateMessage):
            self._private(action.nick, action.text, message)
        elif isinstance(action, compose.React):
            target = self.selected(thread)
            if target is None or target.id is None:
                self.note("select a message first (Escape, then the arrows)")
                return
            sender.submit_reaction(dest, target.id, action.emoji, add=action.add)
        elif isinstance(action, compose.Retag):
            self._retag(action, dest, thread)
        elif isinstance(action, compose.EditLast):
            own = self.last_own(key)
            if own is None or own.id is None:
                self.note("no message of yours here to edit")
                return
            if action.text is None:
                message.input.begin_edit(own.id, own.text)
            else:
                sender.submit_edit(dest, own.id, action.text)
        elif isinstance(action, compose.DeleteSelected):
            self.delete_selected(thread)
        elif isinstance(action, compose.ShowHelp):
            self.note("\n".join(compose.help_lines(action.topic)), error=False)
        else:  # Join
            self._join(action.flow)

    def _retag(self, action: compose.Retag, dest: Destination, thread: ThreadScreen | None) -> None:
        """/tag, /untag: Flowdock takes a message's whole tag list, so the new list is the
        selected message's tags (its system tags such as `:thread` too) with these added or
        taken off; the stream's tag-change event shows the result."""
        target = self.selected(thread)
        if target is None or target.id is None:
            self.note("select a message first (Escape, then the arrows)")
            return
        if dest.kind != "flow":
            self.note("tags are for messages in flows")
            return
        current = list(target.tags)
        if action.remove:
            gone = {tag.lower() for tag in action.tags}
            new = [tag for tag in current if tag.lower() not in gone]
        else:
            known = {tag.lower() for tag in current}
            new = current + [tag for tag in action.tags if tag.lower() not in known]
        if new == current:
            self.note("no tag to change", error=False)
            return
        self.sender.submit_tags(dest, target.id, new)

    def _follow(self, key: ConversationKey) -> None:
        try:
            log_widget = self.app.main.log_for(key)
        except LookupError:
            return
        if log_widget is not None:
            log_widget.refresh_from_store()
            log_widget.scroll_to_end()

    def _private(self, nick: str, text: str, message: MessageInput.Submitted) -> None:
        session = self.app.session
        if session is None:
            return
        router = session.router
        folded = nick.casefold()
        found = [u for u in router.users.values() if u.nick.casefold() == folded]
        if not found or found[0].id == router.me_id:
            self.note(f"nobody called {clean_name(nick, max_chars=40)}")
            message.input.draft = message.text
            return
        self.app.open_private(found[0].id)
        self.sender.submit(Destination.private(found[0].id), text)

    def _join(self, flow: str) -> None:
        session = self.app.session
        found = session.flows_by_slug.get(flow) if session is not None else None
        if found is None or not self.app.main.show(("flow", found.id)):
            self.note(f"{flow} is not open here: choose it in settings (f3)")

    # ------------------------------------------------------------------ the selected line

    def selected(self, thread: ThreadScreen | None = None) -> StoredMessage | None:
        from flowview.tui.widgets.flow_log import FlowLog

        if thread is not None:
            return thread.query_one(FlowLog).selected
        try:
            log_widget = self.app.main.active_log
        except LookupError:
            return None
        return log_widget.selected if log_widget is not None else None

    def last_own(self, key: ConversationKey) -> StoredMessage | None:
        store = self.app.stores().get(key)
        session = self.app.session
        if store is None or session is None:
            return None
        me = session.router.me_id
        for line in reversed(store.messages):
            if (
                line.user_id == me
                and line.id is not None
                and line.kind in ("message", "comment", "line", "status")
                and not line.deleted
            ):
                return line
        return None

    def _pending_uuid(self, key: ConversationKey, line: StoredMessage) -> str | None:
        outbox = self.app.outbox
        pending = outbox.pending if outbox is not None else None
        if pending is None or line.outbox is None:
            return None
        store = self.app.stores().get(key)
        for uid, where in pending.uuids.items():
            if where == key and store is not None and store.pending_line(uid) is line:
                return uid
        return None

    def edit_selected(self, input: MessageInput) -> None:
        """`e`: a failed line goes back to the input for a retry; an own message is edited."""
        key = self.current_key()
        line = self.selected()
        if key is None or line is None:
            return
        uid = self._pending_uuid(key, line)
        if uid is not None:
            item = self.sender.get(uid) if self.sender is not None else None
            if item is None or item.state is not ItemState.FAILED:
                self.note("still being sent: it can be edited once it is sent or refused")
                return
            if input.text.strip():
                self.note("the input holds a draft: send or clear it, then press e again")
                return
            self.retrying = uid
            input.draft = item.content
            input.focus()
            self.note("editing the refused message: Enter sends it again", error=False)
            return
        session = self.app.session
        if session is None or line.user_id != session.router.me_id or line.id is None:
            self.note("only your own messages can be edited")
            return
        input.begin_edit(line.id, line.text)
        input.focus()

    def delete_selected(self, thread: ThreadScreen | None = None) -> None:
        """`d`: discard a failed line; ask, then delete an own message."""
        key = thread.key if thread is not None else self.current_key()
        line = self.selected(thread)
        sender = self.sender
        if key is None or line is None or sender is None:
            self.note("select a message first (Escape, then the arrows)")
            return
        uid = self._pending_uuid(key, line)
        if uid is not None:
            item = sender.get(uid)
            if item is not None and item.state is ItemState.FAILED:
                sender.discard(uid)
            else:
                self.note("still being sent: it can be discarded if the server refuses it")
            return
        session = self.app.session
        dest = self.dest_for(key)
        if session is None or dest is None or line.user_id != session.router.me_id:
            self.note("only your own messages can be deleted")
            return
        message_id = line.id
        if message_id is None:
            return
        preview = clean_name(line.text, max_chars=60)

        def answered(answer: str | None) -> None:
            if answer != "delete":
                return
            try:
                sender.submit_delete(dest, message_id)
            except (OSError, OutboxStoreError, RuntimeError, ValueError) as exc:
                log.exception("could not queue a delete")
                self.note(f"not deleted: {clean_name(str(exc), max_chars=160)}")

        self.app.push_screen(
            ConfirmScreen(
                f"Delete your message “{preview}”?", [("delete", "Delete"), ("keep", "Keep it")]
            ),
            answered,
        )

    def reply(self) -> None:
        """`r` / ctrl+r: answer the selected message in its thread (a thread view opens)."""
        key = self.current_key()
        line = self.selected()
        if key is None or line is None or line.id is None:
            self.note("select a message to reply to (Escape, then the arrows)")
            return
        comment_on = line.id if line.kind in _COMMENTABLE else None
        self.app.open_thread(key, line.thread_id or f"message:{line.id}", comment_on=comment_on)

    # ------------------------------------------------------------------ outbox changes

    def outbox_changed(self, change: StateChanged) -> None:
        """Refused edits, deletes and reactions have no line of their own: say so, drop them."""
        item = change.item
        if item.state is not ItemState.FAILED or item.op in ("post", "comment"):
            return
        what = {"edit": "edit", "delete": "delete", "react": "reaction", "tags": "tags"}[item.op]
        self.note(f"{what} refused: {clean_name(item.error, max_chars=160)}")
        sender = self.sender
        if sender is not None:
            self.app.call_later(self._discard, item.uuid)

    def _discard(self, uid: str) -> None:
        sender = self.sender
        if sender is not None and sender.get(uid) is not None:
            try:
                sender.discard(uid)
            except (KeyError, InvalidTransition):
                log.exception("discarding %s", uid)
