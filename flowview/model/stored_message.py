"""The stored message: one displayable line item of a conversation store, its kinds, and the
per-message bounds on its reactions and tags.

Tags repeat across messages, so `bounded_tags` hands equal tags (and equal tag tuples) the same
shared objects; the store's memory tests (tests/model/test_store_memory.py) count on it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

log = logging.getLogger(__name__)

__all__ = [
    "MAX_REACTIONS",
    "MAX_TAGS",
    "MAX_TAG_CHARS",
    "MESSAGE_FIELDS",
    "Kind",
    "StoredMessage",
    "bounded_tags",
]

Kind = Literal[
    "message", "comment", "status", "line", "file", "action", "activity",
    "discussion", "system", "unknown", "gap",
]  # fmt: skip

# Per-message bounds, so that no stream of edits, reactions or tag changes can grow one
# message without limit (a store's cap bounds the number of messages, not their size).
MAX_REACTIONS: Final = 64  # distinct emoji on one message; more are not counted
MAX_TAGS: Final = 64  # tags on one message; more are not kept
MAX_TAG_CHARS: Final = 200
_NO_TAGS: tuple[str, ...] = ()


def bounded_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """At most MAX_TAGS tags of at most MAX_TAG_CHARS characters (longer ones dropped), as a
    shared tuple of shared strings (see `_shared_tags`)."""
    if (
        isinstance(tags, tuple)
        and len(tags) <= MAX_TAGS
        and all(len(t) <= MAX_TAG_CHARS for t in tags)
    ):
        return _shared_tags(tags) if tags else _NO_TAGS  # the usual case: no copy
    kept: list[str] = []
    for tag in tags:
        if len(tag) <= MAX_TAG_CHARS:
            kept.append(tag)
            if len(kept) == MAX_TAGS:
                break
    return _shared_tags(tuple(kept)) if kept else _NO_TAGS


# Tags repeat: mentions (":user:<id>", ":unread:<id>"), a team's hashtags.  The simulator's
# mix stores ~26 distinct tags per 1,000 tag strings; each message holding its own parsed
# copies cost ~40 bytes a message on average.  Bounded caches hand equal tags (and equal
# tag tuples) the same object; a stream of ever-new tags only cycles them.
@functools.lru_cache(maxsize=8192)
def _shared_tag(tag: str) -> str:
    return tag


@functools.lru_cache(maxsize=4096)
def _shared_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    return tuple([_shared_tag(tag) for tag in tags])


@dataclass(slots=True, eq=False)
class StoredMessage:
    """One displayable line item. Text fields are already sanitised.

    ``seq`` is a local insertion counter, unique within the conversation; ``id`` is the Flowdock
    id (None for local system lines and gap markers). ``author`` overrides the nick lookup for
    integrations and anonymous posts. ``thread_title`` is set on replies (messages that belong to
    a thread started by another message); ``thread_id`` on every threaded message.
    ``mention_unread`` is True while a mention of the user has not been read.
    """

    seq: int
    id: int | None
    kind: Kind
    sent: int | None
    user_id: str | None
    text: str
    title: str = ""
    author: str | None = None
    thread_id: str | None = None
    thread_title: str | None = None
    edited: bool = False
    deleted: bool = False
    reactions: dict[str, int] | None = None
    tags: tuple[str, ...] = _NO_TAGS
    mention: bool = False
    mention_unread: bool = False
    version: int = 0
    # Set while the line is an outbox item the server has not confirmed: what to show after it
    # ("sending", "failed: …"); see `ConversationStore.add_pending`.
    outbox: str | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_title is not None


# What a confirmed outbox line takes from the server's copy (all but its identity in views).
MESSAGE_FIELDS: Final = tuple(
    name for name in StoredMessage.__slots__ if name not in ("seq", "version", "outbox")
)
