"""From events to archive rows: which events are kept, what of them is searchable, and how
edits, tag changes and reactions change a stored message.

Pure functions over plain data (no SQLite here) so the rules are unit-testable on their own.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from flowview.archive import codec
from flowview.archive.schema import CONTENT_IS_TEXT
from flowview.protocol.events import (
    ActionEvent,
    ActivityEvent,
    CommentEvent,
    DiscussionEvent,
    EmojiReactionEvent,
    Event,
    FileEvent,
    LineEvent,
    MessageEditEvent,
    MessageEvent,
    StatusEvent,
    TagChangeEvent,
    parse_event,
)

log = logging.getLogger(__name__)

ConversationKey = tuple[str, str]

# Event kinds that show as lines in a conversation, hence are archived as messages.
LINE_KINDS: Final = frozenset(
    ["message", "comment", "status", "line", "file", "action", "activity", "discussion"]
)


def conv_id(key: ConversationKey) -> str:
    """("flow", "abc") -> "flow:abc"; ("private", "1:2") -> "private:1:2"."""
    return f"{key[0]}:{key[1]}"


def conv_key(conv: str) -> ConversationKey:
    kind, _, rest = conv.partition(":")
    return (kind, rest)


def visible_tags(tags: tuple[str, ...] | list[str]) -> str:
    """The tags a user would type as `#tag`, lowercased and space-separated: internal tags
    (`:user:…`, `:thread`, `influx:…`) are left out."""
    if not tags:
        return ""
    seen: list[str] = []
    for tag in tags:
        if not tag or tag[0] == ":" or tag.startswith("influx:"):
            continue
        low = tag.lstrip("#").lower()
        if low and low not in seen:
            seen.append(low)
    return " ".join(seen)


def searchable_text(event: Event) -> str:
    """The text of a line event as the index should see it (titles included)."""
    kind = type(event)
    if kind is MessageEvent or kind is StatusEvent or kind is LineEvent:
        content = event.content
        return content if isinstance(content, str) else ""
    if isinstance(event, CommentEvent):
        return "\n".join(part for part in (event.title, event.text) if part)
    if isinstance(event, FileEvent):
        return event.file_name
    if isinstance(event, ActionEvent):
        return event.description
    if isinstance(event, ActivityEvent | DiscussionEvent):
        return "\n".join(part for part in (event.title, event.body, event.author_name) if part)
    return ""


@dataclass(frozen=True, slots=True)
class MessageRow:
    conv: str
    id: int
    kind: str
    user: str | None
    sent: int | None
    text: str
    tags: str
    thread_id: str | None
    uuid: str | None
    deleted: bool
    raw: dict[str, Any]


def message_row(event: Event) -> MessageRow | None:
    """The row for a line event; None for events that are not archived as messages (edits and
    the like are applied with `apply_*` instead) or that lack a conversation or an id."""
    if event.event not in LINE_KINDS:
        return None
    key = event.key
    if key is None or event.id is None:
        return None
    return MessageRow(
        conv=conv_id(key),
        id=event.id,
        kind=event.event,
        user=event.user,
        sent=event.sent,
        text=searchable_text(event),
        tags=visible_tags(event.tags),
        thread_id=event.thread_id,
        uuid=event.uuid,
        deleted=False,
        raw=event.raw,
    )


# Python's sqlite3 binds an int or a str directly but looks None and bytes up in its adapter
# registry first (measured: ~1 us each, a third of the INSERT's binding time).  So the row
# carries NO_TEXT (an int) for a missing text value and NO_INT (a str) for a missing int,
# and the INSERT turns them back into NULL with nullif(); no real value has the other type.
# `raw` goes as str and is cast to a BLOB by the INSERT.
NO_TEXT: Final = 0
NO_INT: Final = ""


def message_params(event: Event) -> tuple[Any, ...] | None:
    """`message_row` as the writer's INSERT parameters (conv, id, kind, user, sent, text, tags,
    thread_id, uuid, raw JSON as stored), with NO_TEXT/NO_INT for NULLs (see above): the same
    rules without building a MessageRow, since this runs once per archived message.  The
    common case (a flow message, status or line) is written out here rather than through
    conv_id / searchable_text / stored_raw / codec.dumps_text: each call costs ~0.1 us, a
    tenth of this function (measured, bench/bench_ingest_ab.py); the equality with those
    rules is tested (tests/archive/test_message_params.py)."""
    kind = event.event
    if kind not in LINE_KINDS:
        return None
    mid = event.id
    if mid is None:
        return None
    flow = event.flow
    if flow is not None:
        conv = "flow:" + flow
    else:
        key = event.key
        if key is None:
            return None
        conv = conv_id(key)
    raw = event.raw
    cls = type(event)
    if cls is MessageEvent or cls is StatusEvent or cls is LineEvent:
        text = event.content
        if type(text) is not str:
            text = text if isinstance(text, str) else ""
        # stored_raw: `content` is kept once, in `text`.
        if kind in CONTENT_IS_TEXT and raw.get("content") == text:
            raw = raw.copy()
            del raw["content"]
    else:
        text = searchable_text(event)
        raw = stored_raw(kind, raw, text)
    try:
        dumped = orjson.dumps(raw).decode()
    except (orjson.JSONEncodeError, TypeError):
        dumped = codec.dumps_text(raw)
    tags = event.tags
    user = event.user
    sent = event.sent
    thread_id = event.thread_id
    uuid = event.uuid
    return (
        conv,
        mid,
        kind,
        NO_TEXT if user is None else user,
        NO_INT if sent is None else sent,
        text,
        visible_tags(tags) if tags else "",
        NO_TEXT if thread_id is None else thread_id,
        NO_TEXT if uuid is None else uuid,
        dumped,
    )


def scrubbed(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """`params` with lone surrogates (a JSON "\\ud800" escape decodes to one) replaced by
    U+FFFD: SQLite stores UTF-8, which cannot hold them."""
    return tuple(
        _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value for value in params
    )


_SURROGATE: Final = re.compile("[\\ud800-\\udfff]")


def stored_raw(kind: str, raw: dict[str, Any], text: str) -> dict[str, Any]:
    """`raw` as stored: without a `content` that `text` holds already (schema version 2)."""
    if kind in CONTENT_IS_TEXT and raw.get("content") == text:
        raw = dict(raw)
        del raw["content"]
    return raw


def restored_raw(kind: str, raw: dict[str, Any], text: str) -> dict[str, Any]:
    """The stored `raw` of a row with its `content` put back (the inverse of stored_raw)."""
    if kind in CONTENT_IS_TEXT and isinstance(raw, dict) and "content" not in raw:
        raw["content"] = text
    return raw


def rebuild(raw: dict[str, Any]) -> MessageRow | None:
    """The row of a stored raw event after a change to it."""
    try:
        return message_row(parse_event(raw))
    except ValueError:
        log.exception("stored event no longer parses")
        return None


def apply_edit(raw: dict[str, Any], edit: MessageEditEvent) -> tuple[dict[str, Any], bool]:
    """The stored event with `edit` applied, and whether it is now deleted.  A deletion drops
    the text (and the title) so nothing of it stays on disk or in the index."""
    new = dict(raw)
    if edit.deleted:
        new["content"] = {"title": "", "text": ""} if raw.get("event") == "comment" else ""
        new["deleted"] = True
        return new, True
    if raw.get("event") == "comment" and edit.new_title is not None:
        new["content"] = {"title": edit.new_title, "text": edit.new_text}
    elif raw.get("event") == "comment" and isinstance(raw.get("content"), dict):
        new["content"] = {**raw["content"], "text": edit.new_text}
    else:
        new["content"] = edit.new_text
    new["edited"] = edit.sent if edit.sent is not None else True
    return new, False


def apply_tags(raw: dict[str, Any], change: TagChangeEvent) -> dict[str, Any]:
    tags = [t for t in raw.get("tags") or [] if isinstance(t, str)]
    for tag in change.add:
        if tag not in tags:
            tags.append(tag)
    remove = set(change.remove)
    return {**raw, "tags": [t for t in tags if t not in remove]}


def apply_reaction(raw: dict[str, Any], reaction: EmojiReactionEvent) -> dict[str, Any]:
    """`emojiReactions` as `{emoji: [user ids]}`, the shape the bundled server uses."""
    emoji = reaction.emoji
    if not emoji:
        return raw
    current = raw.get("emojiReactions")
    reactions: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    users = reactions.get(emoji)
    people = [u for u in users if isinstance(u, str)] if isinstance(users, list) else []
    who = reaction.user or "?"
    if reaction.added and who not in people:
        people.append(who)
    elif not reaction.added and who in people:
        people.remove(who)
    if people:
        reactions[emoji] = people
    else:
        reactions.pop(emoji, None)
    return {**raw, "emojiReactions": reactions}
