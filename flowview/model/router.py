"""Route typed events into per-conversation stores and keep the user and flow directories.

``Router.route(event)`` is the single entry point for streamed events (``route_batch`` for a run
of them, as the stream pump hands them over); ``merge_history`` takes REST history. Every
event type of the protocol either appends a line, updates one in place, changes directory
state (nicks, presence, flows, members) or is ignored — and a malformed event is counted in
``errors`` and skipped, never raised.

Nicks are looked up when lines are rendered (``sender_of``), so a ``user-edit`` rename costs
O(1); views watch ``users_version`` to drop cached lines.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal

from flowview.model.render import first_url, html_to_text, human_size, mentions_nick
from flowview.model.sanitize import clean_name, clean_text, printable
from flowview.model.store import (
    MAX_REACTIONS,
    UNREAD_KINDS,
    ConversationStore,
    Kind,
    StoredMessage,
    bounded_tags,
)
from flowview.protocol.defaults import Presence
from flowview.protocol.events import (
    ActionEvent,
    ActivityEvent,
    CommentEvent,
    ConversationKey,
    DiscussionEvent,
    EmojiReactionEvent,
    Event,
    FileEvent,
    FlowAddEvent,
    FlowRemoveEvent,
    LineEvent,
    MessageEditEvent,
    MessageEvent,
    PresenceEvent,
    StatusEvent,
    TagChangeEvent,
    UnknownEvent,
    UserActivityEvent,
    UserBlockEvent,
    UserEditEvent,
    UserJoinEvent,
    as_id,
)

log = logging.getLogger(__name__)

__all__ = ["Effect", "FlowInfo", "RouteResult", "RoutedBatch", "Router", "UserInfo"]

Effect = Literal["appended", "updated", "state", "ignored"]

MAX_TEXT_CHARS: Final = 16_000  # Flowdock caps chat at 8096; integrations can send more
GAP_TEXT: Final = "messages may be missing — fetching"
IDLE_AFTER_MS: Final = 5 * 60 * 1000  # activity.user older than this counts as idle
INTEGRATION_USER: Final = "0"


@dataclass(slots=True)
class RouteResult:
    """What routing one event did.

    ``effect``: "appended" (a new line in ``key``'s store), "updated" (a stored line changed in
    place), "state" (directories or presence changed, no line), "ignored" (duplicate, unknown
    target, or an error — see ``error``). ``opened_conversation`` is True when the event
    created the store (e.g. a first private message). ``mention`` is True when an appended
    line from someone else mentions the user; ``unread`` when it counted as unread.
    """

    key: ConversationKey | None
    effect: Effect
    opened_conversation: bool = False
    mention: bool = False
    message: StoredMessage | None = None
    unread: bool = False
    error: str | None = None

    @property
    def is_private(self) -> bool:
        return self.key is not None and self.key[0] == "private"


@dataclass(slots=True)
class RoutedBatch:
    """What `Router.route_batch` did to a run of streamed events, summed: the stream pump
    needs the totals, not a result per event (10,000 of them in a replay burst)."""

    routed: int = 0  # events taken (each counted once, whatever it did)
    appended: int = 0  # new lines
    ignored: int = 0  # events that changed nothing or belong to no conversation
    changed: set[ConversationKey] = field(default_factory=set)  # conversations touched
    # Appended lines that may raise an alert (a mention, or a private line): few.
    notable: list[RouteResult] = field(default_factory=list)
    failed: list[tuple[int | None, str]] = field(default_factory=list)  # (event id, error)


@dataclass(slots=True)
class UserInfo:
    """A directory entry; ``nick`` and ``name`` are sanitised."""

    id: str
    nick: str
    name: str = ""
    presence: Presence = "offline"
    last_activity: int | None = None


@dataclass(slots=True)
class FlowInfo:
    """A flow as known from REST or ``flow-add``; ``removed`` after ``flow-remove``."""

    id: str
    name: str
    slug: str = ""
    removed: bool = False
    members: set[str] = field(default_factory=set)


def _attr(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


_MAX_THREAD_ID: Final = 100  # characters of a thread id kept (clean_name's bound)


@lru_cache(maxsize=4096)
def _thread_id(raw: str) -> str:
    """Sanitised thread id; the cache hands every message of a recent thread the same string
    object.  Not sys.intern as well: that adds nothing to the cache's sharing, and puts one
    entry per thread in the interpreter-wide intern table, which grows in large steps."""
    return clean_name(raw, max_chars=_MAX_THREAD_ID)


def _new_thread_id(raw: str) -> str:
    """The sanitised id of a thread its first message starts (most chat lines start one):
    `_thread_id`'s, without its cache when the id is plain (printable ASCII without a
    space, not too long: clean_name gives it back as it is).  A new thread's id is new, so
    the cache could only miss (a fifth of routing a burst's line went into that miss);
    replies share the id object of the stored first message (`_thread_info`)."""
    if len(raw) <= _MAX_THREAD_ID and raw.isascii() and raw.isprintable() and " " not in raw:
        return raw
    return _thread_id(raw)


@lru_cache(maxsize=4096)
def _title(raw: str) -> str:
    """Thread/integration title as one plain line (titles repeat on every reply)."""
    return html_to_text(raw, single_line=True)


def _reactions_from_raw(raw: Mapping[str, Any]) -> dict[str, int] | None:
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


class Router:
    """Events -> stores, plus the user and flow directories.

    Args:
        me_id: The signed-in user's id (mentions, private conversation titles, own messages
            never count as unread).
        me_nick: The user's nick, for ``@nick`` mentions in text.
        cap: Per-conversation store bound.
    """

    def __init__(
        self, me_id: str | None = None, me_nick: str | None = None, cap: int = 10_000
    ) -> None:
        self.me_id: str | None = me_id
        self.me_nick: str | None = clean_name(me_nick) if me_nick else None
        self.cap = cap
        self.stores: dict[ConversationKey, ConversationStore] = {}
        self.users: dict[str, UserInfo] = {}
        self.flows: dict[str, FlowInfo] = {}
        self.users_version = 0
        """Bumps when a nick changes (views drop cached lines)."""
        self.presence_version = 0
        """Bumps when someone's presence or a flow's members change."""
        self.flows_version = 0
        """Bumps when the flow directory changes (flow-add/flow-remove/add_flows)."""
        self._gaps: dict[tuple[ConversationKey, int | None], int] = {}  # -> marker seq
        # Our reactions already shown (see pending.py): (key, message id, emoji, added) -> count.
        self._own_reactions: dict[tuple[ConversationKey, int, str, bool], int] = {}
        self.errors = 0
        """Events that failed to route (skipped); the app shows this count."""
        self.last_error: str | None = None
        """The latest failure as one sanitised line, for the status bar."""

    # ------------------------------------------------------------------ directories

    def set_me(self, user_id: str, nick: str | None = None) -> None:
        self.me_id = user_id
        if nick:
            self.me_nick = clean_name(nick)
        for store in self.stores.values():
            store.me_id = user_id

    def add_users(self, users: Iterable[Any], flow_id: str | None = None) -> None:
        """Add REST users (``rest.User`` objects or dicts with id/nick/name). With
        ``flow_id`` they are also recorded as that flow's members."""
        flow = self.flows.get(flow_id) if flow_id else None
        renamed = False
        for user in users:
            uid = as_id(_attr(user, "id"))
            if uid is None:
                continue
            nick = clean_name(_attr(user, "nick") or "")
            name = clean_name(_attr(user, "name") or "")
            info = self.users.get(uid)
            if info is None:
                self.users[uid] = UserInfo(sys.intern(uid), nick or name or f"user {uid}", name)
                renamed = True
            else:
                if nick and nick != info.nick:
                    info.nick = nick
                    renamed = True
                if name:
                    info.name = name
            presence = _attr(user, "presence")
            if presence in ("active", "idle", "offline"):
                self.users[uid].presence = presence
                self.presence_version += 1
            if flow is not None:
                flow.members.add(uid)
        if renamed:
            self._renamed()
        if flow is not None:
            self.presence_version += 1

    def add_flows(self, flows: Iterable[Any]) -> None:
        """Add REST flows (``rest.Flow`` objects or dicts); names label flow conversations."""
        for flow in flows:
            fid = as_id(_attr(flow, "id"))
            if fid is None:
                continue
            name = clean_name(_attr(flow, "name") or "") or fid
            slug = _attr(flow, "slug")
            if not isinstance(slug, str):
                org = _attr(flow, "organization")
                if isinstance(org, Mapping):
                    org = org.get("parameterized_name")
                pname = _attr(flow, "parameterized_name")
                slug = f"{org}/{pname}" if isinstance(org, str) and isinstance(pname, str) else ""
            info = self.flows.get(fid)
            if info is None:
                self.flows[fid] = FlowInfo(fid, name, clean_name(slug, max_chars=200))
            else:
                info.name = name
                info.removed = False
                if slug:
                    info.slug = clean_name(slug, max_chars=200)
            store = self.stores.get(("flow", fid))
            if store is not None:
                store.title = name
        self.flows_version += 1

    def nick_of(self, user_id: str | None) -> str:
        """Display nick: the directory's, else "user <id>" ("integration" for user 0)."""
        if user_id is None:
            return "unknown"
        info = self.users.get(user_id)
        if info is not None:
            return info.nick
        if user_id == INTEGRATION_USER:
            return "integration"
        return f"user {clean_name(user_id, max_chars=24)}"

    def sender_of(self, message: StoredMessage) -> str:
        """The name to show for a line: the integration author or external user name when
        the message carries one, else the sender's nick."""
        if message.author:
            return message.author
        return self.nick_of(message.user_id)

    def presence_of(self, user_id: str) -> Presence:
        info = self.users.get(user_id)
        return info.presence if info is not None else "offline"

    def members_for(self, key: ConversationKey) -> list[UserInfo]:
        """Members of a flow, or both people of a private conversation."""
        if key[0] == "flow":
            return self.members_of(key[1])
        return [self._user(uid) for uid in key[1].split(":") if uid]

    def members_of(self, flow_id: str) -> list[UserInfo]:
        """Known members of a flow, sorted by nick."""
        flow = self.flows.get(flow_id)
        if flow is None:
            return []
        users = [self.users[u] for u in flow.members if u in self.users]
        return sorted(users, key=lambda u: u.nick.lower())

    def flow_title(self, flow_id: str) -> str:
        flow = self.flows.get(flow_id)
        return flow.name if flow is not None else clean_name(flow_id)

    # ------------------------------------------------------------------ stores

    def _other_of(self, key: ConversationKey) -> str | None:
        if key[0] != "private":
            return None
        a, _, b = key[1].partition(":")
        if self.me_id is not None:
            if a == self.me_id:
                return b
            if b == self.me_id:
                return a
        return b or a

    def mute_name(self, key: ConversationKey) -> str:
        """How `key` is named in Settings.muted: the flow's "org/flow" slug (its id while the
        slug is unknown), or "private:<the other person's user id>"; stable across runs."""
        if key[0] == "flow":
            flow = self.flows.get(key[1])
            return flow.slug if flow is not None and flow.slug else key[1]
        return f"private:{self._other_of(key) or key[1]}"

    def title_for(self, key: ConversationKey) -> str:
        if key[0] == "flow":
            return self.flow_title(key[1])
        other = self._other_of(key)
        return self.nick_of(other) if other else clean_name(key[1])

    def open(self, key: ConversationKey) -> tuple[ConversationStore, bool]:
        """The store for ``key``, created if needed; the bool says whether it was created."""
        store = self.stores.get(key)
        if store is not None:
            return store, False
        store = ConversationStore(key, self.title_for(key), self.cap, me_id=self.me_id)
        self.stores[key] = store
        return store, True

    def open_flow(self, flow_id: str) -> ConversationStore:
        return self.open(("flow", flow_id))[0]

    def _renamed(self) -> None:
        self.users_version += 1
        for key, store in self.stores.items():
            if key[0] == "private":
                store.title = self.title_for(key)

    # ------------------------------------------------------------------ routing

    def _failed(self, event: object, exc: Exception) -> str:
        self.errors += 1
        self.last_error = printable(f"{type(exc).__name__}: {exc}", 200)
        log.exception("could not route a %s (skipped)", type(event).__name__)
        return self.last_error

    def route(self, event: Event) -> RouteResult:
        """Apply one streamed event. Never raises: a failure is counted in ``errors``."""
        try:
            return self._route(event, history=False, key=event.key)
        except Exception as exc:  # one bad event must not stop the stream
            error = self._failed(event, exc)
            return RouteResult(getattr(event, "key", None), "ignored", error=error)

    def route_batch(self, events: Iterable[Event]) -> RoutedBatch:
        """`route` for each of `events` in order, with the results summed (see RoutedBatch):
        the same effects, without a result object kept per event.  Never raises.

        A flow's chat line newer than everything stored goes the short way (`_live_line`:
        no result object, one call into the store); anything else through `_route`."""
        done = RoutedBatch()
        changed = done.changed
        routed = appended = ignored = 0
        route = self._route
        live_line = self._live_line
        stores = self.stores
        last_flow: str | None = None  # a run of one flow's events: one store look-up
        flow_key: ConversationKey = ("flow", "")
        store: ConversationStore | None = None
        for event in events:
            routed += 1
            try:
                # event.key, without the call for a flow's event (a flow id is never "")
                flow = event.flow
                if flow:
                    if flow != last_flow:
                        last_flow, flow_key = flow, ("flow", flow)
                        store = stores.get(flow_key)
                    elif store is None:  # opened by an event before this one?
                        store = stores.get(flow_key)
                    if store is not None and type(event) is MessageEvent:
                        message = live_line(store, event)
                        if message is not None:
                            changed.add(flow_key)
                            appended += 1
                            if message.mention:
                                done.notable.append(
                                    RouteResult(flow_key, "appended", False, True, message, True)
                                )
                            continue
                    result = route(event, history=False, key=flow_key)
                else:
                    result = route(event, history=False, key=event.key)
            except Exception as exc:  # one bad event must not stop the stream
                done.failed.append((getattr(event, "id", None), self._failed(event, exc)))
                ignored += 1
                continue
            effect = result.effect
            key = result.key
            if key is None or effect == "ignored":
                ignored += 1
                continue
            changed.add(key)
            if effect == "appended":
                appended += 1
                if result.mention or key[0] == "private":
                    done.notable.append(result)
        done.routed, done.appended, done.ignored = routed, appended, ignored
        return done

    def _live_line(self, store: ConversationStore, event: MessageEvent) -> StoredMessage | None:
        """What `_route` + `_append` do for a live chat line of `store` that is newer than
        everything in it and starts a thread or has none (most of a stream), as the stored
        message, or None when that is not the case and nothing was done."""
        event_id = event.id
        if type(event_id) is not int:
            return None
        thread_id = event.thread_id
        if thread_id is not None:
            # _thread_info's first case: the thread's first message (not a reply)
            thread = event.thread
            initial = thread.get("initial_message") if thread is not None else None
            if type(initial) is not int or initial != event_id:
                return None
            # _new_thread_id, inline: the call costs as much as the test
            if not (
                len(thread_id) <= _MAX_THREAD_ID
                and thread_id.isascii()
                and thread_id.isprintable()
                and " " not in thread_id
            ):
                thread_id = _thread_id(thread_id)
        external = event.raw.get("external_user_name")
        content = event.content
        if (
            type(content) is str
            and content.isascii()
            and content.isprintable()
            and len(content) <= MAX_TEXT_CHARS
        ):
            # clean_text's answer for printable ASCII (no control, no tab or newline) is the
            # text itself: most chat lines, without the call (two thirds of its cost here)
            text = content
        else:
            text = clean_text(content, MAX_TEXT_CHARS) if isinstance(content, str) else ""
        user_id = event.user
        if user_id is not None:
            user_id = sys.intern(user_id)
        own = user_id is not None and user_id == self.me_id
        tags = event.tags
        mention = not own and bool(tags or "@" in text) and self._is_mention(text, tags)
        message = StoredMessage(
            -1,  # append_newest gives it the store's next seq
            event_id,
            "message",
            event.sent,
            user_id,
            text,
            "",
            clean_name(external) if external and isinstance(external, str) else None,
            thread_id,
            None,
            False,
            False,
            None,
            bounded_tags(tags) if tags else tags,
            mention,
        )
        return message if store.append_newest(message, unread=not own) else None

    def merge_history(self, key: ConversationKey, events: Iterable[Event]) -> int:
        """Merge REST history into ``key``'s store: ordered by id, no duplicates, never
        counted as unread. Returns how many lines were added."""
        return self._merge(key, events, history=True)

    def _merge(self, key: ConversationKey, events: Iterable[Event], *, history: bool) -> int:
        added = 0
        for event in events:
            try:
                result = self._route(event, history=history, key=key)
            except Exception as exc:  # one bad history item must not lose the rest
                self._failed(event, exc)
                continue
            if result.effect == "appended":
                added += 1
        return added

    def open_gap(self, key: ConversationKey, after_id: int | None, reason: str = "") -> RouteResult:
        """Show "messages may be missing — fetching" right after `after_id` in `key`.

        For the stream client's GapOpened: the hole stays until `close_gap` with the same
        (key, after_id); opening it again (the client re-announces after a reconnect) changes
        nothing.  Back-filled events are placed by id below the marker as they arrive.  The
        conversation is created if new (a first private message lost in an outage).
        """
        store, opened = self.open(key)
        seq = self._gaps.get((key, after_id))
        if seq is not None and store.by_seq(seq) is not None:
            return RouteResult(key, "ignored")
        text = GAP_TEXT
        why = printable(reason, 200)
        if why:
            text = f"{GAP_TEXT} ({why})"
        message = StoredMessage(store.new_seq(), None, "gap", None, None, text)
        store.add_after(message, after_id)
        self._gaps[(key, after_id)] = message.seq
        log.info("gap opened in %s after id %s: %s", key[0], after_id, why)
        if store.by_seq(message.seq) is None:
            # older than everything a full store keeps: nothing to show it next to
            return RouteResult(key, "ignored", opened_conversation=opened)
        return RouteResult(key, "appended", opened, message=message)

    def close_gap(self, key: ConversationKey, after_id: int | None, recovered: int) -> RouteResult:
        """The hole of `open_gap(key, after_id)` is filled: its marker goes away (the
        `recovered` events were routed before this call, placed by id)."""
        seq = self._gaps.pop((key, after_id), None)
        store = self.stores.get(key)
        log.info("gap closed in %s after id %s: %d recovered", key[0], after_id, recovered)
        if seq is None or store is None:
            return RouteResult(key, "ignored")
        removed = store.remove(seq)
        if removed is None:
            return RouteResult(key, "ignored")
        return RouteResult(key, "updated", message=removed)

    @property
    def open_gaps(self) -> list[tuple[ConversationKey, int | None]]:
        """(key, after_id) of every hole still being fetched, for the status bar."""
        return list(self._gaps)

    def insert_gap(self, key: ConversationKey, backfilled: int = 0) -> StoredMessage:
        """Add a gap marker line (messages after it were back-filled after a reconnect)."""
        store, _ = self.open(key)
        text = "messages back-filled after reconnect"
        if backfilled:
            text = f"{backfilled} messages back-filled after reconnect"
        message = StoredMessage(store.new_seq(), None, "gap", None, None, text)
        store.add(message)
        return message

    def _route(self, event: Event, *, history: bool, key: ConversationKey | None) -> RouteResult:
        if type(event) is MessageEvent:
            # Chat lines, the bulk of a stream: what _build/_chat_line do, inlined.
            if key is None:
                return RouteResult(None, "ignored")
            # event.external_user_name and event.text, read without their two calls each
            external = event.raw.get("external_user_name")
            content = event.content
            text = clean_text(content, MAX_TEXT_CHARS) if isinstance(content, str) else ""
            author = clean_name(external) if external and isinstance(external, str) else None
            return self._append(key, event, history, "message", text, "", author)
        handler = _STATE_HANDLERS.get(type(event))
        if handler is not None:
            return handler(self, event, key)
        if key is None:
            return RouteResult(None, "ignored")
        built = self._build(event, key)
        if built is None:
            return RouteResult(key, "ignored")
        return self._append(key, event, history, *built)

    # -- lines

    def _build(
        self, event: Event, key: ConversationKey
    ) -> tuple[Kind, str, str, str | None] | None:
        """(kind, text, title, author) for an event that becomes a line."""
        builder = _LINE_BUILDERS.get(type(event))
        if builder is None:
            return None
        external = event.external_user_name
        return builder(self, event, clean_name(external) if external else None)

    def _chat_line(
        self, event: MessageEvent | CommentEvent | StatusEvent | LineEvent, author: str | None
    ) -> _Line:
        title = _title(event.title) if isinstance(event, CommentEvent) else ""
        return _CHAT_KINDS[type(event)], clean_text(event.text, MAX_TEXT_CHARS), title, author

    def _file_line(self, event: FileEvent, author: str | None) -> _Line:
        name = clean_name(event.file_name, max_chars=200) or "file"
        ctype = clean_name(event.content_type, max_chars=100) or "unknown type"
        text = f"{name} ({human_size(event.file_size)}, {ctype})"
        path = clean_name(event.path, max_chars=1000)
        if path:
            text = f"{text} {path}"
        return "file", text, name, author

    def _action_line(self, event: ActionEvent, author: str | None) -> _Line:
        return "action", self._action_text(event), "", author

    def _integration_line(
        self, event: ActivityEvent | DiscussionEvent, author: str | None
    ) -> _Line:
        kind: Kind = "activity" if isinstance(event, ActivityEvent) else "discussion"
        title = _title(event.title)
        body = html_to_text(event.body)
        if len(body) > MAX_TEXT_CHARS:
            body = clean_text(body, MAX_TEXT_CHARS)
        return kind, body, title, clean_name(event.author_name) or author

    def _unknown_line(self, event: UnknownEvent, author: str | None) -> _Line:
        name = clean_name(event.event, max_chars=40) or "?"
        return "unknown", f"{name} event (not shown)", "", None

    def _action_text(self, event: ActionEvent) -> str:
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
            who = self.nick_of(uid) if uid else desc or "someone"
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

    def _is_mention(self, text: str, tags: tuple[str, ...]) -> bool:
        if tags and self.me_id is not None:
            wanted = (f":user:{self.me_id}", f":highlight:{self.me_id}", ":user:everyone")
            if any(tag in wanted for tag in tags):
                return True
        return mentions_nick(text, self.me_nick)

    def _thread_info(self, event: Event, store: ConversationStore) -> tuple[str | None, str | None]:
        """(thread_id, thread_title-if-reply)."""
        raw_id = event.thread_id
        if raw_id is None:
            return None, None
        # event.thread_initial_message, with the usual int read straight from the dict
        thread = event.thread
        initial = thread.get("initial_message") if thread is not None else None
        if initial is not None and type(initial) is not int:
            initial = event.thread_initial_message
        if initial is not None and initial == event.id:
            return _new_thread_id(raw_id), None  # the thread's first message
        thread_id = _thread_id(raw_id)
        # without thread.initial_message, a reply is a message of a thread already seen
        seqs = store.thread_seqs(thread_id)
        if initial is None and not seqs:
            return thread_id, None
        oldest = store.by_seq(seqs[0]) if seqs else None
        if oldest is not None and oldest.thread_id == thread_id:
            # one id object per stored thread (its first message's, which took no cache)
            thread_id = oldest.thread_id
        title = _title(event.thread_title)
        if not title:
            first = store.get(initial) if initial is not None else None
            if first is None:
                first = oldest
            if first is not None:
                title = clean_name(first.title or first.text, max_chars=40)
        return thread_id, title

    def _append(
        self,
        key: ConversationKey,
        event: Event,
        history: bool,
        kind: Kind,
        text: str,
        title: str,
        author: str | None,
    ) -> RouteResult:
        # The hot path of a stream (every chat line): attributes read once into locals, and
        # the common cases tested inline before any call (each call costs ~0.3 us here).
        store = self.stores.get(key)
        opened = store is None
        if store is None:
            store = self.open(key)[0]
        event_id = event.id
        if event_id is not None and store.get(event_id) is not None:
            return RouteResult(key, "ignored", opened_conversation=opened)
        if event.thread_id is not None:
            thread_id, thread_title = self._thread_info(event, store)
        else:
            thread_id = thread_title = None
        user_id = event.user
        if user_id is not None:
            user_id = sys.intern(user_id)
        own = user_id is not None and user_id == self.me_id
        tags = event.tags
        # _is_mention is False for a text without "@" and no tags: most lines
        mention = (
            not own and kind in UNREAD_KINDS and bool(tags or "@" in text)
        ) and self._is_mention(text, tags)
        message = StoredMessage(
            store.new_seq(),
            event_id,
            kind,
            event.sent,
            user_id,
            text,
            title,
            author,
            thread_id,
            thread_title,
            False,
            False,
            None,
            bounded_tags(tags) if tags else tags,
            mention,
        )
        if history:
            message.edited = bool(event.raw.get("edited"))
            message.reactions = _reactions_from_raw(event.raw)
        elif event_id is not None and store.window == "detached" and store.beyond_window(event_id):
            return self._hide(key, store, event, message, opened, own)
        if event.uuid is not None and store.pending_count:
            # Our own outbox line's echo (or REST answer): it becomes this message in place.
            confirmed = store.confirm_pending(event.uuid, message)
            if confirmed is not None:
                return RouteResult(key, "updated", opened, message=confirmed)
        # Not a duplicate (checked above): add_new skips add's second look-up.
        if not store.add_new(message):
            # pruned at once: older than everything kept in a full store
            return RouteResult(key, "ignored", opened_conversation=opened)
        unread = not history and not own and kind in UNREAD_KINDS
        if unread:
            store.count_unread(message)
        return RouteResult(key, "appended", opened, mention and not history, message, unread)

    def _hide(
        self,
        key: ConversationKey,
        store: ConversationStore,
        event: Event,
        message: StoredMessage,
        opened: bool,
        own: bool,
    ) -> RouteResult:
        """A live line below a detached window (the user reads older messages): archived by
        the caller, not stored here, but counted (unread, mention) and alerted like any."""
        if event.uuid is not None and store.pending_line(event.uuid) is not None:
            store.drop_pending(event.uuid)  # our own line: it comes back from the archive
        unread = not own and message.kind in UNREAD_KINDS
        store.hide(message, unread=unread)
        return RouteResult(key, "appended", opened, message.mention, message, unread)

    def merge_older(self, key: ConversationKey, events: Iterable[Event]) -> int:
        """`merge_history` for a page older than what is stored: a full store drops its
        newest messages, not the page (the store detaches: see ConversationStore.window)."""
        store, _ = self.open(key)
        with store.older_page():
            return self.merge_history(key, events)

    def merge_below(self, key: ConversationKey, events: Iterable[Event]) -> int:
        """History that happened below a detached window (a seam after a reconnect): routed
        like live lines, so the ones newer than the window are counted but not stored."""
        return self._merge(key, events, history=False)

    def merge_newer(self, key: ConversationKey, events: Iterable[Event]) -> int:
        """`merge_history` for a page read back below a detached window (the oldest go);
        what was counted about those messages while hidden is theirs again."""
        store, _ = self.open(key)
        added: list[StoredMessage] = []
        for event in events:
            try:
                result = self._route(event, history=True, key=key)
            except Exception as exc:  # one bad history item must not lose the rest
                self._failed(event, exc)
                continue
            if result.effect == "appended" and result.message is not None:
                added.append(result.message)
        store.readmit(added)
        return len(added)

    # -- in-place updates

    def _target(
        self, key: ConversationKey | None, message_id: int | None
    ) -> tuple[ConversationStore, StoredMessage] | None:
        if key is None or message_id is None:
            return None
        store = self.stores.get(key)
        if store is None:
            return None
        message = store.get(message_id)
        return None if message is None else (store, message)

    def _edit(self, event: MessageEditEvent, key: ConversationKey | None) -> RouteResult:
        found = self._target(key, event.message_id)
        if found is None:
            hidden = event.deleted and self._hidden_mention_gone(key, event.message_id)
            return RouteResult(key, "state" if hidden else "ignored")
        store, message = found
        new_title = event.new_title
        store.edit(
            message.id,  # type: ignore[arg-type]  # found by id, so not None
            text=clean_text(event.new_text, MAX_TEXT_CHARS),
            title=html_to_text(new_title, single_line=True) if new_title is not None else None,
            deleted=event.deleted,
        )
        if not event.deleted and message.kind in UNREAD_KINDS:
            message.mention = message.user_id != self.me_id and self._is_mention(
                message.text, message.tags
            )
        return RouteResult(key, "updated", message=message)

    def _retag(self, event: TagChangeEvent, key: ConversationKey | None) -> RouteResult:
        found = self._target(key, event.message_id)
        if found is None:
            read = self.me_id is not None and f":unread:{self.me_id}" in event.remove
            hidden = read and self._hidden_mention_gone(key, event.message_id)
            return RouteResult(key, "state" if hidden else "ignored")
        store, message = found
        store.retag(message.id, event.add, event.remove)  # type: ignore[arg-type]
        return RouteResult(key, "updated", message=message)

    def _hidden_mention_gone(self, key: ConversationKey | None, message_id: int | None) -> bool:
        """A mention below a detached window (not stored) was deleted or read."""
        store = self.stores.get(key) if key is not None else None
        return (
            store is not None and message_id is not None and store.drop_hidden_mention(message_id)
        )

    def _react(self, event: EmojiReactionEvent, key: ConversationKey | None) -> RouteResult:
        found = self._target(key, event.message_id)
        emoji = clean_name(event.emoji, max_chars=32)
        if found is None or not emoji:
            return RouteResult(key, "ignored")
        store, message = found
        message_id: int = message.id  # type: ignore[assignment]  # found by id
        if event.user == self.me_id and self.forget_reaction(key, message_id, emoji, event.added):
            return RouteResult(key, "updated", message=message)  # shown when it was sent
        store.react(message.id, emoji, event.added, event.user)  # type: ignore[arg-type]
        return RouteResult(key, "updated", message=message)

    def expect_reaction(self, key: ConversationKey, message_id: int, emoji: str, add: bool) -> None:
        """Our own reaction, counted when it was sent: its stream event is not counted again."""
        self._own_reactions[(key, message_id, emoji, add)] = (
            self._own_reactions.get((key, message_id, emoji, add), 0) + 1
        )

    def forget_reaction(
        self, key: ConversationKey | None, message_id: int, emoji: str, add: bool
    ) -> bool:
        """Stop expecting that event (it came, or the reaction was refused); False if it was
        not expected."""
        wanted = (key, message_id, emoji, add)
        count = self._own_reactions.get(wanted)  # type: ignore[arg-type]
        if not count:
            return False
        if count > 1:
            self._own_reactions[wanted] = count - 1  # type: ignore[index]
        else:
            del self._own_reactions[wanted]  # type: ignore[arg-type]
        return True

    # -- directory state

    def _user(self, user_id: str) -> UserInfo:
        info = self.users.get(user_id)
        if info is None:
            info = UserInfo(sys.intern(user_id), f"user {clean_name(user_id, max_chars=24)}")
            self.users[user_id] = info
        return info

    def _activity(self, event: UserActivityEvent, key: ConversationKey | None) -> RouteResult:
        if event.user is None:
            return RouteResult(key, "ignored")
        info = self._user(event.user)
        last = event.last_activity
        info.last_activity = last
        recent = last is not None and (event.sent is None or event.sent - last < IDLE_AFTER_MS)
        info.presence = "active" if recent else "idle"
        self.presence_version += 1
        return RouteResult(key, "state")

    def _presence(self, event: PresenceEvent, key: ConversationKey | None) -> RouteResult:
        uid = event.user_id
        if uid is None:
            return RouteResult(key, "ignored")
        info = self._user(uid)
        info.presence = event.state
        updated = event.updated_at
        if updated is not None and event.state != "offline":
            info.last_activity = updated
        self.presence_version += 1
        return RouteResult(key, "state")

    def _user_edit(self, event: UserEditEvent, key: ConversationKey | None) -> RouteResult:
        uid = event.user_id
        nick = clean_name(event.nick)
        if uid is None or not nick:
            return RouteResult(key, "ignored")
        info = self._user(uid)
        name = clean_name(event.name)
        if name:
            info.name = name
        if info.nick != nick:
            info.nick = nick
            self._renamed()
        return RouteResult(key, "state")

    def _system(
        self, key: ConversationKey, event: Event, text: str, *, create: bool
    ) -> RouteResult:
        store = self.stores.get(key)
        opened = False
        if store is None:
            if not create:
                return RouteResult(key, "state")
            store, opened = self.open(key)
        if event.id is not None and store.get(event.id) is not None:
            return RouteResult(key, "ignored")
        below = event.id is not None and store.beyond_window(event.id)
        message = StoredMessage(
            store.new_seq(),
            None if below else event.id,
            "system",
            event.sent,
            event.user,
            clean_text(text),
        )
        if below:
            # Below a detached window, and not archived: kept at the window's bottom without
            # its id (an id there would make the messages in between look loaded).
            store.add_after(message, store.newest_id)
        elif not store.add(message):
            return RouteResult(key, "ignored")
        return RouteResult(key, "appended", opened, message=message)

    def _flow_add(self, event: FlowAddEvent, _key: ConversationKey | None = None) -> RouteResult:
        fid = event.flow_id
        if fid is None:
            return RouteResult(None, "ignored")
        org = clean_name(event.organization, max_chars=100)
        pname = clean_name(event.parameterized_name, max_chars=100)
        self.add_flows(
            [{"id": fid, "name": event.name or fid, "slug": f"{org}/{pname}" if pname else ""}]
        )
        flow = self.flows[fid]
        key: ConversationKey = ("flow", fid)
        me = event.user is not None and event.user == self.me_id
        if event.user is not None:
            flow.members.add(event.user)
            self.presence_version += 1
        if me:
            return self._system(key, event, f"you were added to {flow.name}", create=True)
        who = self.nick_of(event.user)
        return self._system(key, event, f"{who} was added to {flow.name}", create=False)

    def _flow_remove(
        self, event: FlowRemoveEvent, _key: ConversationKey | None = None
    ) -> RouteResult:
        fid = event.flow_id
        if fid is None:
            return RouteResult(None, "ignored")
        key: ConversationKey = ("flow", fid)
        flow = self.flows.get(fid)
        me = event.user is None or event.user == self.me_id
        if me:
            if flow is not None:
                flow.removed = True
            self.flows_version += 1
            return self._system(key, event, "you were removed from this flow", create=False)
        if flow is not None:
            flow.members.discard(event.user or "")
            self.presence_version += 1
        return self._system(key, event, f"{self.nick_of(event.user)} left the flow", create=False)

    def _user_join(self, event: UserJoinEvent, key: ConversationKey | None) -> RouteResult:
        uid = event.user_id
        if uid is None:
            return RouteResult(key, "ignored")
        nick = clean_name(event.nick)
        if nick:
            self.add_users([{"id": uid, "nick": nick}])
        if event.flow is not None and event.flow in self.flows:
            self.flows[event.flow].members.add(uid)
            self.presence_version += 1
        if key is None:
            return RouteResult(None, "state")
        return self._system(key, event, f"{self.nick_of(uid)} joined the flow", create=True)

    def _user_block(self, event: UserBlockEvent, key: ConversationKey | None) -> RouteResult:
        uid = event.user_id
        if uid is None:
            return RouteResult(key, "ignored")
        if event.flow is not None and event.flow in self.flows:
            self.flows[event.flow].members.discard(uid)
            self.presence_version += 1
        if key is None:
            return RouteResult(None, "state")
        text = f"{self.nick_of(uid)} was removed from the flow"
        return self._system(key, event, text, create=True)


# Dispatch by exact event type (parse_event builds exactly these classes): one dict lookup
# instead of a chain of isinstance tests, and one small function per event kind.
_Line = tuple[Kind, str, str, "str | None"]
_STATE_HANDLERS: Final[
    dict[type[Event], Callable[[Router, Any, ConversationKey | None], RouteResult]]
] = {
    MessageEditEvent: Router._edit,
    TagChangeEvent: Router._retag,
    EmojiReactionEvent: Router._react,
    UserActivityEvent: Router._activity,
    PresenceEvent: Router._presence,
    UserEditEvent: Router._user_edit,
    FlowAddEvent: Router._flow_add,
    FlowRemoveEvent: Router._flow_remove,
    UserJoinEvent: Router._user_join,
    UserBlockEvent: Router._user_block,
}
_CHAT_KINDS: Final[dict[type[Event], Kind]] = {
    MessageEvent: "message",
    CommentEvent: "comment",
    StatusEvent: "status",
    LineEvent: "line",
}
_LINE_BUILDERS: Final[dict[type[Event], Callable[[Router, Any, str | None], _Line]]] = {
    **dict.fromkeys(_CHAT_KINDS, Router._chat_line),
    FileEvent: Router._file_line,
    ActionEvent: Router._action_line,
    ActivityEvent: Router._integration_line,
    DiscussionEvent: Router._integration_line,
    UnknownEvent: Router._unknown_line,
}


def first_link(message: StoredMessage) -> str | None:
    """The first http(s) URL of a line, for "open link"."""
    if message.deleted:
        return None
    return first_url(message.text) or (first_url(message.title) if message.title else None)
