"""How each event kind becomes a stored line: its (kind, text, title, author), all sanitised.

`build_line` dispatches by exact event type through `LINE_BUILDERS` (parse_event builds exactly
these classes): one dict lookup instead of a chain of isinstance tests, and one small function
per event kind.  A plain chat ``message``, the bulk of a stream, does not come here: the router
builds it inline (Router._route, Router._live_line).  Also here: the reactions REST history
carries, and `first_link` (a stored line's first http(s) URL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Final

from flowview.model.directory import Directory
from flowview.model.render import first_url, html_to_text, human_size
from flowview.model.sanitize import clean_name, clean_text
from flowview.model.stored_message import MAX_REACTIONS, Kind, StoredMessage
from flowview.protocol.events import (
    ActionEvent,
    ActivityEvent,
    CommentEvent,
    DiscussionEvent,
    Event,
    FileEvent,
    LineEvent,
    MessageEvent,
    StatusEvent,
    UnknownEvent,
    as_id,
)

log = logging.getLogger(__name__)

__all__ = [
    "CHAT_KINDS",
    "LINE_BUILDERS",
    "MAX_TEXT_CHARS",
    "Line",
    "action_text",
    "build_line",
    "first_link",
    "plain_title",
    "reactions_from_raw",
]

MAX_TEXT_CHARS: Final = 16_000  # Flowdock caps chat at 8096; integrations can send more

Line = tuple[Kind, str, str, "str | None"]
"""(kind, text, title, author) of a line to store."""


@lru_cache(maxsize=4096)
def plain_title(raw: str) -> str:
    """Thread/integration title as one plain line (titles repeat on every reply)."""
    return html_to_text(raw, single_line=True)


def reactions_from_raw(raw: Mapping[str, Any]) -> dict[str, int] | None:
    """REST history carries ``emojiReactions``; the non-empty shape is undocumented, so accept
    emoji -> count or emoji -> list of users."""
    value = raw.get("emojiReactions")
    if not isinstance(value, Mapping) or not value:
        return None
    out: dict[str, int] = {}
    for emoji, v in value.items():
        if not isinstance(emoji, str):
            continue
        if isinstance(v, bool):
            continue
        count = v if isinstance(v, int) else len(v) if isinstance(v, list | tuple) else 0
        name = clean_name(emoji, max_chars=32)
        if count > 0 and name:
            out[name] = count
            if len(out) >= MAX_REACTIONS:
                break
    return out or None


def build_line(directory: Directory, event: Event) -> Line | None:
    """(kind, text, title, author) for an event that becomes a line; None for one that
    does not."""
    builder = LINE_BUILDERS.get(type(event))
    if builder is None:
        return None
    external = event.external_user_name
    return builder(directory, event, clean_name(external) if external else None)


def chat_line(
    _directory: Directory,
    event: MessageEvent | CommentEvent | StatusEvent | LineEvent,
    author: str | None,
) -> Line:
    title = plain_title(event.title) if isinstance(event, CommentEvent) else ""
    return CHAT_KINDS[type(event)], clean_text(event.text, MAX_TEXT_CHARS), title, author


def file_line(_directory: Directory, event: FileEvent, author: str | None) -> Line:
    name = clean_name(event.file_name, max_chars=200) or "file"
    ctype = clean_name(event.content_type, max_chars=100) or "unknown type"
    text = f"{name} ({human_size(event.file_size)}, {ctype})"
    path = clean_name(event.path, max_chars=1000)
    if path:
        text = f"{text} {path}"
    return "file", text, name, author


def action_line(directory: Directory, event: ActionEvent, author: str | None) -> Line:
    return "action", action_text(directory, event), "", author


def integration_line(
    _directory: Directory, event: ActivityEvent | DiscussionEvent, author: str | None
) -> Line:
    kind: Kind = "activity" if isinstance(event, ActivityEvent) else "discussion"
    title = plain_title(event.title)
    body = html_to_text(event.body)
    if len(body) > MAX_TEXT_CHARS:
        body = clean_text(body, MAX_TEXT_CHARS)
    return kind, body, title, clean_name(event.author_name) or author


def unknown_line(_directory: Directory, event: UnknownEvent, author: str | None) -> Line:
    name = clean_name(event.event, max_chars=40) or "?"
    return "unknown", f"{name} event (not shown)", "", None


def action_text(directory: Directory, event: ActionEvent) -> str:
    action = clean_name(event.action, max_chars=40)
    desc = clean_name(event.description, max_chars=500)
    people = [clean_name(p) for p in event.people if clean_name(p)]
    if action == "join":
        return "joined the flow"
    if action == "add_people":
        return f"added {', '.join(people) or desc or 'people'} to the flow"
    if action == "block":
        content = event.content if isinstance(event.content, dict) else {}
        uid = as_id(content.get("user"))
        who = directory.nick_of(uid) if uid else desc or "someone"
        return f"blocked {who}"
    if action == "invite":
        return f"invited {desc or 'someone'}"
    if action == "decline":
        return f"declined the invitation{' for ' + desc if desc else ''}"
    if action == "uninvite":
        return f"cancelled the invitation{' of ' + desc if desc else ''}"
    if action in ("add_rss_feed", "remove_rss_feed"):
        verb = "added" if action.startswith("add") else "removed"
        return f"{verb} RSS feed {desc}".rstrip()
    words = action.replace("_", " ") if action else "action"
    return f"{words} {desc}".rstrip()


CHAT_KINDS: Final[dict[type[Event], Kind]] = {
    MessageEvent: "message",
    CommentEvent: "comment",
    StatusEvent: "status",
    LineEvent: "line",
}
LINE_BUILDERS: Final[dict[type[Event], Callable[[Directory, Any, str | None], Line]]] = {
    **dict.fromkeys(CHAT_KINDS, chat_line),
    FileEvent: file_line,
    ActionEvent: action_line,
    ActivityEvent: integration_line,
    DiscussionEvent: integration_line,
    UnknownEvent: unknown_line,
}


def first_link(message: StoredMessage) -> str | None:
    """The first http(s) URL of a line, for "open link"."""
    if message.deleted:
        return None
    return first_url(message.text) or (first_url(message.title) if message.title else None)
