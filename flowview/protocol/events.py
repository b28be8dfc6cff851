"""Typed Flowdock event envelopes.

`parse_event()` turns one decoded JSON object from the stream or the REST API into an `Event`
subclass.  Real Flowdock data disagrees with its own documentation in many small ways (ids as
int or str, timestamps as ms, ISO strings or null, `action` content keys, ...), and the stream
carries untrusted input, so every normalisation here is total: bad types become None or empty
values and nothing raises except for input that is not an event at all.

Objects use `__slots__` because the TUI keeps up to ~100k of them; typed accessors are computed
from `content`/`raw` on demand instead of being stored.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flowview.protocol.defaults import Presence

log = logging.getLogger(__name__)

ConversationKey = tuple[str, str]
PresenceState = Presence  # the one definition, in protocol/defaults.py

# Timestamps beyond this are nonsense (year ~5138 in ms); rejecting them keeps int() and
# datetime arithmetic from overflowing on hostile input.
_MAX_MS = 100_000_000_000_000
_MAX_ISO_LEN = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


# --------------------------------------------------------------------------- normalisers


def _as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a decimal string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) <= _MAX_MS:
            return int(value)
        return None
    if isinstance(value, str):
        s = value.strip()
        digits = s[1:] if s.startswith("-") else s
        if 0 < len(s) <= 20 and digits.isascii() and digits.isdigit():
            return int(s)
    return None


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_id(value: Any) -> str | None:
    """A user/flow id: str as-is, int as decimal (old events carry ints), else None."""
    if isinstance(value, str):
        return value if value else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return None


def _entity_id(value: Any) -> str | None:
    """An id that may also come as an embedded object with an `id` (some adapters do that)."""
    if isinstance(value, dict):
        return as_id(value.get("id"))
    return as_id(value)


def _iso_to_ms(text: str) -> int | None:
    if not text or len(text) > _MAX_ISO_LEN:
        return None
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except (ValueError, OverflowError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        # Integer arithmetic: float timestamps can land 1 ms short after truncation.
        return (dt - _EPOCH) // _ONE_MS
    except (OverflowError, ValueError):
        return None


def timestamp_ms(value: Any) -> int | None:
    """Milliseconds since the epoch from int ms, a decimal string or an ISO-8601 string."""
    n = _as_int(value)
    if n is None and isinstance(value, str):
        n = _iso_to_ms(value)
    if n is None or n < 0 or n > _MAX_MS:
        return None
    return n


def _str_tuple(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple([item for item in value if isinstance(item, str)])


def _dict_tuple(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple([item for item in value if isinstance(item, dict)])


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------- events


@dataclass(slots=True, eq=False)
class Event:
    """Common envelope.  `raw` is the object exactly as received."""

    event: str
    id: int | None
    flow: str | None
    to: str | None
    user: str | None
    sent: int | None
    content: Any
    tags: tuple[str, ...]
    uuid: str | None
    thread_id: str | None
    thread: dict[str, Any] | None
    attachments: tuple[dict[str, Any], ...]
    raw: dict[str, Any]

    @property
    def key(self) -> ConversationKey | None:
        """Conversation this event belongs to; both directions of a private chat share one."""
        if self.flow is not None:
            return ("flow", self.flow)
        if self.to is not None and self.user is not None:
            low, high = sorted((self.user, self.to))
            return ("private", f"{low}:{high}")
        return None

    @property
    def dedupe_key(self) -> tuple[ConversationKey, int] | None:
        key = self.key
        if key is None or self.id is None:
            return None
        return (key, self.id)

    @property
    def is_private(self) -> bool:
        return self.flow is None and self.to is not None

    @property
    def external_user_name(self) -> str | None:
        """Sender name of anonymous/push-API posts (they carry no `user`)."""
        return _as_str(self.raw.get("external_user_name"))

    @property
    def thread_title(self) -> str:
        return _text(_dict(self.thread).get("title"))

    @property
    def thread_initial_message(self) -> int | None:
        return _as_int(_dict(self.thread).get("initial_message"))

    @property
    def thread_created_at(self) -> int | None:
        """`thread.created_at` as ms; real data has int ms, ISO strings and null."""
        return timestamp_ms(_dict(self.thread).get("created_at"))

    def mentions(self, user_id: str) -> bool:
        """True when the tags mention `user_id` (or everyone)."""
        return f":user:{user_id}" in self.tags or ":user:everyone" in self.tags


class MessageEvent(Event):
    __slots__ = ()

    @property
    def text(self) -> str:
        return _text(self.content)


class CommentEvent(Event):
    __slots__ = ()

    @property
    def title(self) -> str:
        return _text(_dict(self.content).get("title"))

    @property
    def text(self) -> str:
        # Posting a comment uses a plain string; the stream form is {title, text}.
        if isinstance(self.content, str):
            return self.content
        return _text(_dict(self.content).get("text"))

    @property
    def parent_id(self) -> int | None:
        for tag in self.tags:
            if tag.startswith("influx:"):
                parent = _as_int(tag[len("influx:") :])
                if parent is not None:
                    return parent
        return None


class StatusEvent(Event):
    __slots__ = ()

    @property
    def text(self) -> str:
        return _text(self.content)


class LineEvent(Event):
    """`/me` emote."""

    __slots__ = ()

    @property
    def text(self) -> str:
        return _text(self.content)


class FileEvent(Event):
    __slots__ = ()

    def _meta(self) -> dict[str, Any]:
        if isinstance(self.content, dict):
            return self.content
        # Content and the single attachment carry the same metadata.
        return self.attachments[0] if self.attachments else {}

    @property
    def file_name(self) -> str:
        return _text(self._meta().get("file_name"))

    @property
    def file_size(self) -> int | None:
        size = _as_int(self._meta().get("file_size"))
        return size if size is None or size >= 0 else None

    @property
    def content_type(self) -> str:
        return _text(self._meta().get("content_type"))

    @property
    def path(self) -> str:
        return _text(self._meta().get("path"))


class ActionEvent(Event):
    """Documented as {type, description}; real data uses {type, message: [nicks]} / {type, id}."""

    __slots__ = ()

    @property
    def action(self) -> str:
        return _text(_dict(self.content).get("type"))

    @property
    def description(self) -> str:
        content = _dict(self.content)
        for field in ("description", "message"):
            value = content.get(field)
            if isinstance(value, str):
                return value
        if isinstance(content.get("message"), list):
            return ", ".join(self.people)
        return ""

    @property
    def people(self) -> tuple[str, ...]:
        content = _dict(self.content)
        message = content.get("message")
        if isinstance(message, list):
            return _str_tuple(message)
        if self.action == "add_people":
            desc = content.get("description", message)
            if isinstance(desc, str):
                return tuple(p.strip() for p in desc.split(",") if p.strip())
        return ()


class _IntegrationEvent(Event):
    """Shared accessors of `activity` and `discussion` (fields live at top level)."""

    __slots__ = ()

    @property
    def title(self) -> str:
        return _text(self.raw.get("title"))

    @property
    def body(self) -> str:
        return _text(self.raw.get("body"))

    @property
    def author_name(self) -> str:
        return _text(_dict(self.raw.get("author")).get("name"))


class ActivityEvent(_IntegrationEvent):
    __slots__ = ()


class DiscussionEvent(_IntegrationEvent):
    __slots__ = ()


class MessageEditEvent(Event):
    __slots__ = ()

    @property
    def message_id(self) -> int | None:
        return _as_int(_dict(self.content).get("message"))

    @property
    def new_text(self) -> str:
        updated = _dict(self.content).get("updated_content")
        if isinstance(updated, dict):
            return _text(updated.get("text"))
        return _text(updated)

    @property
    def new_title(self) -> str | None:
        """Set only for comment edits ({title, text}); None for plain messages."""
        updated = _dict(self.content).get("updated_content")
        if isinstance(updated, dict):
            return _text(updated.get("title"))
        return None

    @property
    def deleted(self) -> bool:
        # Flowdock reports deleting one's own message as an edit to "".
        return _dict(self.content).get("updated_content") == ""


class TagChangeEvent(Event):
    __slots__ = ()

    @property
    def message_id(self) -> int | None:
        return _as_int(_dict(self.content).get("message"))

    @property
    def add(self) -> tuple[str, ...]:
        return _str_tuple(_dict(self.content).get("add"))

    @property
    def remove(self) -> tuple[str, ...]:
        return _str_tuple(_dict(self.content).get("remove"))


class EmojiReactionEvent(Event):
    __slots__ = ()

    @property
    def message_id(self) -> int | None:
        return _as_int(_dict(self.content).get("message"))

    @property
    def emoji(self) -> str:
        return _text(_dict(self.content).get("emoji"))

    @property
    def added(self) -> bool:
        return _dict(self.content).get("type") == "add"


class UserActivityEvent(Event):
    __slots__ = ()

    @property
    def last_activity(self) -> int | None:
        return timestamp_ms(_dict(self.content).get("last_activity"))


_PRESENCE_NAMES: dict[str, PresenceState] = {
    "active": "active",
    "idle": "idle",
    "offline": "offline",
}


class PresenceEvent(Event):
    """`presence=1` events: state 0 offline, 1000000 idle, 2000000 active."""

    __slots__ = ()

    @property
    def user_id(self) -> str | None:
        return as_id(_dict(self.content).get("user_id")) or self.user

    @property
    def state(self) -> PresenceState:
        raw_state = _dict(self.content).get("state")
        if isinstance(raw_state, str):
            named = _PRESENCE_NAMES.get(raw_state.strip().lower())
            if named is not None:
                return named
        level = _as_int(raw_state)
        if level is None:
            return "offline"
        if level >= 2_000_000:
            return "active"
        if level >= 1_000_000:
            return "idle"
        return "offline"

    @property
    def updated_at(self) -> int | None:
        return timestamp_ms(_dict(self.content).get("updated_at"))


class UserEditEvent(Event):
    __slots__ = ()

    def _user(self) -> dict[str, Any]:
        return _dict(_dict(self.content).get("user"))

    @property
    def user_id(self) -> str | None:
        return as_id(self._user().get("id")) or self.user

    @property
    def nick(self) -> str:
        return _text(self._user().get("nick"))

    @property
    def name(self) -> str:
        return _text(self._user().get("name"))


class FlowAddEvent(Event):
    """`user` is the added user; `content` is the flow; no top-level `id`."""

    __slots__ = ()

    @property
    def flow_id(self) -> str | None:
        return as_id(_dict(self.content).get("id"))

    @property
    def name(self) -> str:
        return _text(_dict(self.content).get("name"))

    @property
    def parameterized_name(self) -> str:
        return _text(_dict(self.content).get("parameterized_name"))

    @property
    def organization(self) -> str:
        org = _dict(self.content).get("organization")
        if isinstance(org, dict):
            return _text(org.get("parameterized_name")) or _text(org.get("name"))
        return _text(org)


class FlowRemoveEvent(Event):
    __slots__ = ()

    @property
    def flow_id(self) -> str | None:
        if isinstance(self.content, dict):
            return as_id(self.content.get("id"))
        return as_id(self.content)


class UserJoinEvent(Event):
    __slots__ = ()

    def _user(self) -> dict[str, Any]:
        return _dict(_dict(self.content).get("user"))

    @property
    def user_id(self) -> str | None:
        return as_id(self._user().get("id"))

    @property
    def nick(self) -> str:
        return _text(self._user().get("nick"))


class UserBlockEvent(Event):
    """`content` is the blocked user's id as a string."""

    __slots__ = ()

    @property
    def user_id(self) -> str | None:
        if isinstance(self.content, dict):
            return _entity_id(self.content.get("user") or self.content.get("id"))
        return as_id(self.content)


class UnknownEvent(Event):
    """Any event type flowview does not model (mail, rss, vcs, internal types, ...)."""

    __slots__ = ()


EVENT_TYPES: dict[str, type[Event]] = {
    "message": MessageEvent,
    "comment": CommentEvent,
    "status": StatusEvent,
    "line": LineEvent,
    "file": FileEvent,
    "action": ActionEvent,
    "activity": ActivityEvent,
    "discussion": DiscussionEvent,
    "message-edit": MessageEditEvent,
    "tag-change": TagChangeEvent,
    "emoji-reaction": EmojiReactionEvent,
    "activity.user": UserActivityEvent,
    "presence": PresenceEvent,
    "user-edit": UserEditEvent,
    "flow-add": FlowAddEvent,
    "flow-remove": FlowRemoveEvent,
    "backend.user.join": UserJoinEvent,
    "backend.user.block": UserBlockEvent,
}


def parse_event(obj: Any) -> Event:
    """Build a typed event.  Raises ValueError only if `obj` is not a dict with a str "event"."""
    # The hot path (every streamed event): each field is tested first for the shape real
    # events have (`type(x) is int` also excludes bool; `type(x) is str` before isinstance,
    # which costs a call) and only anything else goes through the general normaliser, so the
    # result is the same as always normalising.
    if type(obj) is not dict and not isinstance(obj, dict):
        raise ValueError("event is not a JSON object")
    get = obj.get
    kind = get("event")
    if type(kind) is not str and not isinstance(kind, str):
        raise ValueError("event has no string 'event' field")
    sent = get("sent")
    if type(sent) is not int or not 0 <= sent <= _MAX_MS:
        sent = timestamp_ms(sent)
        if sent is None:
            sent = timestamp_ms(get("created_at"))
    event_id = get("id")
    if type(event_id) is not int:
        event_id = _as_int(event_id)
    flow = get("flow")
    if type(flow) is not str or not flow:
        flow = _entity_id(flow)
    to = get("to")
    if to is not None and (type(to) is not str or not to):
        to = _entity_id(to)
    user = get("user")
    if type(user) is not str or not user:
        user = _entity_id(user) or as_id(get("user_id"))
    tags = get("tags")
    tags = _str_tuple(tags) if tags else ()  # any falsy value gives () either way
    uuid = get("uuid")
    if uuid is not None and type(uuid) is not str and not isinstance(uuid, str):
        uuid = None
    thread_id = get("thread_id")
    if thread_id is not None and (type(thread_id) is not str or not thread_id):
        thread_id = as_id(thread_id)
    thread = get("thread")
    if thread is not None and type(thread) is not dict and not isinstance(thread, dict):
        thread = None
    attachments = get("attachments")
    attachments = _dict_tuple(attachments) if attachments else ()
    # Positional: the order of Event's fields.
    return EVENT_TYPES.get(kind, UnknownEvent)(
        kind, event_id, flow, to, user, sent, get("content"), tags, uuid, thread_id, thread,
        attachments, obj,
    )  # fmt: skip


def event_to_json(ev: Event) -> dict[str, Any]:
    """The event as it was received (for `flowview tail`)."""
    return ev.raw
