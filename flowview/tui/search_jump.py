"""Jumping from a search hit to the message in its conversation (issue 11).

The message is shown in its tab with context above and below.  When it is not in memory, the
context is read from the archive (in a thread) and merged like REST history; the messages
between it and what memory holds are read too when there are not too many, else a gap marker
says which ones were not loaded.  `SearchReturn` remembers the query and the chosen hit so
that Escape reopens the results where the user left them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

from flowview.archive import Archive
from flowview.archive.archive import ArchivedMessage
from flowview.model.render import format_day, format_time
from flowview.model.router import Router
from flowview.model.stored_message import StoredMessage
from flowview.protocol.events import ConversationKey, Event

log = logging.getLogger(__name__)

__all__ = ["BRIDGE_MAX", "CONTEXT", "SearchReturn", "load_context"]

CONTEXT: Final = 20  # messages above and below the hit
BRIDGE_MAX: Final = 2000  # messages read to join the hit to what memory holds


@dataclass(frozen=True, slots=True)
class SearchReturn:
    """Where Escape goes back to: the search screen's query, scope and highlighted hit."""

    query: str
    this_only: bool
    position: int
    conversation: ConversationKey | None


@dataclass(frozen=True, slots=True)
class _Context:
    events: list[Event]
    gap_after: int | None  # a gap marker after this id (the bridge did not reach memory)
    gap_text: str


def _events(messages: list[ArchivedMessage]) -> list[Event]:
    events: list[Event] = []
    for message in messages:
        try:
            events.append(message.event())
        except ValueError:
            log.exception("an archived message could not be rebuilt (skipped)")
    return events


def _when(message: ArchivedMessage) -> str:
    sent = message.sent
    return f"{format_day(sent)} {format_time(sent)}" if sent is not None else f"id {message.id}"


def _read(
    archive: Archive, key: ConversationKey, message_id: int, oldest: int | None, newest: int | None
) -> _Context:
    around = archive.around(key, message_id, CONTEXT, CONTEXT)
    if oldest is None or newest is None or message_id > newest:
        return _Context(_events(around), None, "")
    # Older than memory: join the hit to memory's oldest message when that is not far.
    bridge = archive.after(key, message_id, BRIDGE_MAX)
    joined = [m for m in bridge if m.id < oldest]
    if len(joined) < len(bridge) or not bridge:
        return _Context(_events([*around, *joined]), None, "")
    upper = archive.get(key, oldest)
    text = (
        f"messages between {_when(around[-1])} and "
        f"{_when(upper) if upper is not None else 'the ones below'} not loaded "
        f"(more than {BRIDGE_MAX})"
    )
    return _Context(_events(around), around[-1].id, text)


async def load_context(
    archive: Archive, router: Router, key: ConversationKey, message_id: int
) -> StoredMessage | None:
    """The hit's message in `router`'s store for `key`, with context merged from the
    archive when it is not in memory; None when neither holds it."""
    store, _ = router.open(key)
    found = store.get(message_id)
    if found is not None:
        return found
    context = await asyncio.to_thread(
        _read, archive, key, message_id, store.oldest_id, store.newest_id
    )
    router.merge_history(key, context.events)
    if context.gap_after is not None:
        marker = StoredMessage(store.new_seq(), None, "gap", None, None, context.gap_text)
        store.add_after(marker, context.gap_after)
    store.recount_unread()
    return store.get(message_id)
