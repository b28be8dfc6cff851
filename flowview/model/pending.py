"""Outbox items as lines of their conversation: shown at once, replaced by the server's copy.

The sender (`flowview.protocol.sender`) reports every state change of every item; this turns
them into store changes:

* a new message or comment (typed now, or left in the outbox by an earlier run) gets a pending
  line at the bottom of its conversation, marked with its state ("sending", "waiting: …",
  "failed: …");
* when the server has it, its REST answer (the created message, with our ``uuid``) is routed
  like a streamed event: the router's uuid check turns the pending line into the message in
  place (`ConversationStore.confirm_pending`), and the stream's echo, with the same id, is then
  a duplicate and changes nothing.  Whichever of the two comes first wins; the line is shown
  once;
* a discarded item's line goes away.

Reactions are shown at once too: counted on the message when submitted, and the stream's own
``emoji-reaction`` event for it is then not counted again (`Router.expect_reaction`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flowview.model.router import Router
from flowview.model.sanitize import clean_name, clean_text
from flowview.model.store import ConversationStore, Kind, StoredMessage
from flowview.protocol.events import ConversationKey, parse_event
from flowview.protocol.sender import Destination, ItemState, OutboxItem, StateChanged

log = logging.getLogger(__name__)

__all__ = ["PendingLines", "note_for"]

MAX_NOTE_CHARS = 160
_KINDS: dict[str, Kind] = {"message": "message", "status": "status", "line": "line"}


def note_for(item: OutboxItem, *, online: bool = True) -> str:
    """What a pending line says about its item (plain text, sanitised).  `online`: whether
    the stream is live (the sender holds every attempt while it is not)."""
    state = item.state
    if not online and state in (ItemState.QUEUED, ItemState.WAITING):
        return "waiting for the connection"
    error = clean_name(item.error, max_chars=MAX_NOTE_CHARS)
    if state is ItemState.FAILED:
        return f"failed: {error or 'refused'} (e edit and retry, d discard)"
    if state is ItemState.WAITING:
        return f"waiting to resend: {error}" if error else "waiting to resend"
    if state in (ItemState.UNKNOWN, ItemState.CHECKING):
        return "unknown: checking whether it arrived"
    if state is ItemState.SENT:
        return "sent"
    return "sending"


class PendingLines:
    """Applies sender changes to the router's stores; `apply` returns the key it changed."""

    def __init__(
        self, router: Router, key_of: Callable[[Destination], ConversationKey | None]
    ) -> None:
        self.router = router
        self.key_of = key_of
        self.uuids: dict[str, ConversationKey] = {}  # items that have a line, and where
        self._items: dict[str, OutboxItem] = {}  # their latest state
        self.online = True

    def set_online(self, online: bool) -> set[ConversationKey]:
        """The stream went live or down: every pending line says so; the keys changed."""
        self.online = online
        changed: set[ConversationKey] = set()
        for uuid, key in self.uuids.items():
            item = self._items.get(uuid)
            store = self.router.stores.get(key)
            if item is None or store is None:
                continue
            line = store.pending_line(uuid)
            note = note_for(item, online=online)
            if line is not None and line.outbox != note:
                store.set_pending_state(uuid, note)
                changed.add(key)
        return changed

    def apply(self, change: StateChanged) -> ConversationKey | None:
        item = change.item
        if item.op == "react":
            return self._reaction(change)
        if item.op not in ("post", "comment"):
            return None
        key = self.uuids.get(item.uuid) or self.key_of(item.dest)
        if key is None:
            log.warning("outbox item %s: no conversation for %s", item.uuid, item.dest.kind)
            return None
        store, _ = self.router.open(key)
        if item.uuid not in self.uuids:
            if item.state in (ItemState.SENT, ItemState.DISCARDED):
                return None
            self._add_line(store, item)
            self.uuids[item.uuid] = key
            self._items[item.uuid] = item
            return key
        if item.state is ItemState.DISCARDED:
            del self.uuids[item.uuid]
            self._items.pop(item.uuid, None)
            store.drop_pending(item.uuid)
            return key
        if item.state is ItemState.SENT:
            del self.uuids[item.uuid]
            self._items.pop(item.uuid, None)
            self._confirm(store, item)
            return key
        self._items[item.uuid] = item
        store.set_pending_state(item.uuid, note_for(item, online=self.online))
        return key

    def _add_line(self, store: ConversationStore, item: OutboxItem) -> None:
        kind: Kind = "comment" if item.op == "comment" else _KINDS.get(item.event, "message")
        title = ""
        if item.op == "comment" and item.message_id is not None:
            parent = store.get(item.message_id)
            title = clean_name(parent.title or parent.text, max_chars=60) if parent else ""
        thread_id = item.thread_id
        thread_title = None
        if thread_id is not None:
            first = store.thread_messages(thread_id)
            thread_title = (
                clean_name(first[0].title or first[0].text, max_chars=40) if first else ""
            )
        message = StoredMessage(
            store.new_seq(),
            None,
            kind,
            item.created_ms or None,
            self.router.me_id,
            clean_text(item.content),
            title=title,
            thread_id=thread_id,
            thread_title=thread_title,
            outbox=note_for(item, online=self.online),
        )
        store.add_pending(message, item.uuid)

    def _confirm(self, store: ConversationStore, item: OutboxItem) -> None:
        """The server has it: its answer becomes the line (the echo may have done it already)."""
        result = item.result
        if isinstance(result, dict) and result:
            raw: dict[str, Any] = {**result, "uuid": item.uuid}
            try:
                event = parse_event(raw)
            except Exception:
                log.exception("outbox %s: the server's answer cannot be read", item.uuid)
            else:
                if event.key == store.key:
                    self.router.route(event)
                    if store.pending_line(item.uuid) is None:
                        return
        # No usable answer (found through history, or a bare 202): the echo will replace it.
        store.set_pending_state(item.uuid, "sent")

    def _reaction(self, change: StateChanged) -> ConversationKey | None:
        item = change.item
        key = self.key_of(item.dest)
        if key is None or item.message_id is None or item.emoji is None:
            return None
        store = self.router.stores.get(key)
        if change.previous is None and item.state is not ItemState.FAILED:
            # Shown at once; the stream's event for it must not count it twice.
            self.router.expect_reaction(key, item.message_id, item.emoji, item.add)
            if store is not None:
                store.react(item.message_id, item.emoji, item.add, self.router.me_id)
            return key
        if item.state is ItemState.FAILED or item.state is ItemState.DISCARDED:
            forgot = self.router.forget_reaction(key, item.message_id, item.emoji, item.add)
            if forgot and store is not None:  # refused: take the shown change back
                store.react(item.message_id, item.emoji, not item.add, self.router.me_id)
            return key
        return None
