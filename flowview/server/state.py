"""The simulated Flowdock deployment's state and the operations on it.

Posting, editing, tagging, reactions, threads, presence and the connection log, on top of the
entities (``entities``, ``message_log``), pub/sub (``pubsub``) and wire encoding (``wire``).
Everything runs on one event loop; nothing here blocks or awaits except the subscriber wake-up.

Event-stream ids
----------------
Every event the server emits gets a *server-global*, strictly increasing sequence number
``seq`` (1, 2, 3, ...), sent as ``id: <seq>`` on the event-stream. Message ``id`` fields stay
per-flow / per-conversation as in Flowdock; ``seq`` only orders emissions. One number is enough
to describe a position across every flow and private conversation a connection subscribes to,
because they all share the one counter.

Each channel (a flow, or one user's private conversations) keeps the last ``replay`` events in
a ring buffer. A reconnect with ``Last-Event-ID: N`` replays, in ``seq`` order, every buffered
event with ``seq > N`` on the channels of the new subscription; an ``N`` older than a buffer
replays whatever that buffer still holds (the gap is the client's to back-fill over REST). An
``N`` greater than the current ``seq`` can only come from an earlier server process, so the whole
buffer is replayed. ``presence`` events are not buffered (they describe a state, not history);
``N`` that is not a decimal integer is ignored. The JSON stream has no replay, as in Flowdock.

Extension: an SSE response to a request with ``Last-Event-ID`` carries the header
``Flowview-Replay: complete`` when the buffers still held every event after ``N`` for every
channel of the request, else ``Flowview-Replay: truncated`` (the client should back-fill over
REST). Real Flowdock never sent it; clients that ignore it lose nothing they had before.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from flowview.server.entities import (
    EDITABLE_EVENTS,
    PERSISTENT_EVENTS,
    PRESENCE_STATE,
    RANK,
    THREADED_EVENTS,
    Flow,
    Organization,
    Presence,
    PrivateConversation,
    StoredFile,
    User,
    parameterize,
    random_id,
)
from flowview.server.faults import FaultBook
from flowview.server.message_log import MessageLog
from flowview.server.passwords import check_password
from flowview.server.pubsub import (
    Channel,
    ConnectionRecord,
    Published,
    Subscriber,
    encode,
    fan_out,
    replay_after,
)
from flowview.server.wire import dumps, iso, parse_event_id, wire_id

# re-exported: the names other modules and tests have always imported from here
__all__ = [
    "EDITABLE_EVENTS",
    "PERSISTENT_EVENTS",
    "THREADED_EVENTS",
    "Channel",
    "ConnectionRecord",
    "Flow",
    "MessageLog",
    "Organization",
    "Presence",
    "PrivateConversation",
    "Published",
    "ServerState",
    "Subscriber",
    "User",
    "dumps",
    "iso",
    "parameterize",
    "random_id",
]

log = logging.getLogger(__name__)

_HASHTAG = re.compile(r"(?<![\w&#])#([^\W_][\w-]*)")
_MENTION = re.compile(r"(?<![\w@])@@?([\w][\w.-]*)")
_URL = re.compile(r"https?://\S")
MAX_FILE_BYTES = 256 << 20  # uploads kept in memory (all together)
EVERYONE_WORDS = frozenset({"everyone", "everybody", "all", "anyone", "anybody"})


class ServerState:
    """The simulated Flowdock deployment. Build it with ``simulator.populate``."""

    def __init__(
        self,
        *,
        replay: int = 1000,
        history: int = 10_000,
        queue_max: int = 100_000,
        keepalive: float = 30.0,
        activity_interval: float = 30.0,
        faults_enabled: bool = True,
        clock: Callable[[], float] = time.time,
        seed: int = 1,
        control_token: str | None = None,
    ) -> None:
        #: the secret the control endpoints (/_faults, /_sim) demand as a Bearer token
        self.control_token = control_token or secrets.token_urlsafe(24)
        self.replay = replay
        self.history = history
        self.queue_max = queue_max
        self.keepalive = keepalive
        self.activity_interval = activity_interval
        self.faults_enabled = faults_enabled
        self.clock = clock
        #: ids the server mints (threads, uuids of its own events); REST use consumes it too
        self.rng = random.Random(seed * 7919 + 17)
        self.users: dict[str, User] = {}
        self.tokens: dict[str, User] = {}
        self.orgs: list[Organization] = []
        self.flows: dict[str, Flow] = {}
        self.flows_by_slug: dict[str, Flow] = {}
        self.privates: dict[tuple[str, str], PrivateConversation] = {}
        self.me: User | None = None
        self.seq = 0
        self.channels: dict[str, Channel] = {}
        self.user_subs: dict[str, set[Subscriber]] = {}
        self.faults = FaultBook()
        self.connections: deque[ConnectionRecord] = deque(maxlen=1000)
        self.open_records: dict[int, ConnectionRecord] = {}
        self.listeners: list[Callable[[Published], None]] = []
        self.shutting_down = False
        self._shutdown_event: asyncio.Event | None = None
        self.files: dict[str, StoredFile] = {}
        self.flow_tokens: dict[str, Flow] = {}
        #: (flow id, an integration's external_thread_id) -> our thread id
        self.external_threads: dict[tuple[str, str], str] = {}
        self.invitations: deque[dict[str, Any]] = deque(maxlen=1000)
        #: events up to this seq are in no replay buffer (set after a restart from --data)
        self.replay_floor = 0
        self.file_bytes = 0
        self._conn_ids = 0

    # ------------------------------------------------------------------ world building
    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def add_user(self, user: User, *, me: bool = False) -> User:
        self.users[user.id] = user
        self.tokens[user.token] = user
        if me:
            self.me = user
        return user

    def add_org(self, org: Organization) -> Organization:
        self.orgs.append(org)
        return org

    def add_flow(self, flow: Flow) -> Flow:
        if not flow.api_token:
            flow.api_token = secrets.token_hex(16)
        self.flow_tokens[flow.api_token] = flow
        self.flows[flow.id] = flow
        self.flows_by_slug[flow.slug] = flow
        channel = self.channels["flow:" + flow.id] = Channel("flow:" + flow.id, self.replay)
        channel.evicted = self.replay_floor
        return flow

    def new_id(self, length: int = 27) -> str:
        """A random URL-safe id like Flowdock's thread ids (deterministic per seed)."""
        return random_id(self.rng, length)

    # ------------------------------------------------------------------ lookups
    def user_by_token(self, token: str) -> User | None:
        return self.tokens.get(token) if token else None

    def user_by_password(self, email: str, password: str) -> User | None:
        email = email.strip().lower()
        for user in self.users.values():
            if user.password_hash and user.email.lower() == email:
                return user if check_password(password, user.password_hash) else None
        return None

    def resolve_flow(self, ref: str) -> Flow | None:
        """A flow by ``org/flow`` slug, by id, or by legacy ``org:flow`` id."""
        flow = self.flows_by_slug.get(ref) or self.flows.get(ref)
        if flow is None and ":" in ref:
            flow = self.flows_by_slug.get(ref.replace(":", "/", 1))
        return flow

    def can_see(self, viewer: User, other: User) -> bool:
        """Users see themselves and the members of their organisations (as ``/users``)."""
        return viewer is other or any(
            viewer.id in o.member_ids and other.id in o.member_ids for o in self.orgs
        )

    def can_access(self, user: User, flow: Flow) -> bool:
        return user.id in flow.member_ids

    def flows_of(self, user: User) -> list[Flow]:
        return [f for f in self.flows.values() if user.id in f.member_ids]

    def private_conversation(self, a: str, b: str) -> PrivateConversation:
        key = (a, b) if a <= b else (b, a)
        conv = self.privates.get(key)
        if conv is None:
            conv = PrivateConversation(key, MessageLog(self.history))
            self.privates[key] = conv
        return conv

    def private_channel(self, user_id: str) -> Channel:
        name = "user:" + user_id
        ch = self.channels.get(name)
        if ch is None:
            ch = self.channels[name] = Channel(name, self.replay)
            ch.evicted = self.replay_floor
        return ch

    # ------------------------------------------------------------------ publishing
    def _publish(
        self, event: dict[str, Any], channels: Iterable[Channel], *, buffer: bool = True
    ) -> Published:
        self.seq += 1
        pub = encode(self.seq, event)
        fan_out(pub, channels, buffer=buffer)
        for listener in self.listeners:
            listener(pub)
        return pub

    def publish_flow(self, flow: Flow, event: dict[str, Any]) -> Published:
        return self._publish(event, (self.channels["flow:" + flow.id],))

    def publish_private(self, conv: PrivateConversation, event: dict[str, Any]) -> Published:
        a, b = conv.user_ids
        chans = (
            [self.private_channel(a)] if a == b else [self.private_channel(uid) for uid in (a, b)]
        )
        return self._publish(event, chans)

    def publish_presence(self, user: User, state: Presence) -> Published:
        """``presence`` event to connections that asked for ``presence=1`` and share a flow."""
        uid = wire_id(user.id)
        now = self.now_ms()
        event = {
            "event": "presence",
            "content": {"user_id": uid, "state": PRESENCE_STATE[state], "updated_at": iso(now)},
            "user_id": uid,
        }
        targets: set[Subscriber] = set()
        for flow in self.flows_of(user):
            for sub in self.channels["flow:" + flow.id].subscribers:
                if sub.presence:
                    targets.add(sub)
        for sub in self.user_subs.get(user.id, ()):
            if sub.presence:
                targets.add(sub)
        self.seq += 1
        pub = encode(self.seq, event)
        for sub in sorted(targets, key=lambda s: s.record.id):
            sub.push(pub)
        for listener in self.listeners:
            listener(pub)
        return pub

    # ------------------------------------------------------------------ message building
    def _auto_tags(self, content: str, members: Iterable[str], sender: str) -> list[str]:
        """Tags Flowdock derived from text: #hashtags, @mentions (``:user:``/``:unread:``),
        @everyone/@team, and ``:url``. Cheap substring checks skip the regexes."""
        tags: list[str] = []
        if "#" in content:
            for tag in _HASHTAG.findall(content):
                t = tag.lower()
                if t not in tags:
                    tags.append(t)
        if "@" in content:
            member_list = list(members)
            nicks = {self.users[uid].nick.lower(): uid for uid in member_list if uid in self.users}
            for word in _MENTION.findall(content):
                w = word.lower().rstrip(".-")
                if w in EVERYONE_WORDS or w == "team":
                    group = ":user:team" if w == "team" else ":user:everyone"
                    if group not in tags:
                        tags.append(group)
                    for uid in member_list:
                        if uid != sender and f":unread:{uid}" not in tags:
                            tags.append(f":unread:{uid}")
                elif w in nicks:
                    uid = nicks[w]
                    for t in (f":user:{uid}", f":unread:{uid}"):
                        if t not in tags and not (uid == sender and t.startswith(":unread")):
                            tags.append(t)
        if "http" in content and _URL.search(content) and ":url" not in tags:
            tags.append(":url")
        return tags

    def store_file(self, org_id: int, upload: tuple[str, str, bytes]) -> dict[str, Any]:
        """Keep an uploaded file (the oldest go beyond ``MAX_FILE_BYTES`` in all) and return
        its attachment record."""
        name, ctype, data = upload
        name = name.replace("/", "_").replace("\\", "_") or "file"
        path = f"/files/{org_id}/{self.new_id(22)}/{urllib.parse.quote(name)}"
        self.files[path] = StoredFile(path, name, ctype, data)
        self.file_bytes += len(data)
        while self.file_bytes > MAX_FILE_BYTES and len(self.files) > 1:
            oldest = next(iter(self.files))
            self.file_bytes -= len(self.files.pop(oldest).data)
            log.info("forgot uploaded file %s (file store full)", oldest)
        return {
            "path": path,
            "file_name": name,
            "file_size": len(data),
            "content_type": ctype or "application/octet-stream",
        }

    def normalize_tags(self, tags: Iterable[str], members: Iterable[str], sender: str) -> list[str]:
        """Explicit tags as Flowdock stored them: ``#`` optional and dropped, case-insensitive,
        ``@nick`` -> ``:user:<id>`` (+ ``:unread:<id>``), ``@all``/``@everyone``/... ->
        ``:user:everyone``, ``@team`` -> ``:user:team``; ``:meta`` tags kept; unknown
        ``@nick`` dropped."""
        member_list = list(members)
        nicks = {self.users[uid].nick.lower(): uid for uid in member_list if uid in self.users}
        out: list[str] = []

        def add(tag: str) -> None:
            if tag and tag not in out:
                out.append(tag)

        for raw in tags:
            tag = raw.strip()
            if tag.startswith(":"):
                add(tag)
            elif tag.startswith("@"):
                word = tag[1:].lower()
                if word in EVERYONE_WORDS or word == "team":
                    add(":user:team" if word == "team" else ":user:everyone")
                    for uid in member_list:
                        if uid != sender:
                            add(f":unread:{uid}")
                elif word in nicks:
                    add(f":user:{nicks[word]}")
                    if nicks[word] != sender:
                        add(f":unread:{nicks[word]}")
            else:
                add(tag.lstrip("#").lower())
        return out

    def remove_message(self, target: Flow | PrivateConversation, msg_id: int, by: str) -> None:
        """Remove a message completely (a user's own file, as Flowdock did); streams see a
        ``message-edit`` with empty content, as for a deleted chat message."""
        if target.log.remove(msg_id) is None:
            raise KeyError(msg_id)
        self._transient(
            target,
            by,
            "message-edit",
            {"message": msg_id, "updated_content": ""},
            extra={"edited": None},
        )

    def _thread_for(
        self,
        flow: Flow,
        thread_id: str | None,
        msg_id: int,
        now: int,
        title: str,
        event: str,
        thread_fields: dict[str, Any] | None,
    ) -> tuple[str, dict[str, Any]]:
        """Create or update ``flow``'s thread and return (id, snapshot for the message).

        Real-data quirk: ``thread.created_at`` is an int (ms) on the message that starts the
        thread and an ISO string on every later message."""
        thread = flow.threads.get(thread_id) if thread_id else None
        if thread is None:
            tid = thread_id or self.new_id()
            thread = {
                "body": "",
                "external_url": None,
                "external_comments": 0,
                "activities": 0,
                "id": tid,
                "flow": flow.id,
                "status": None,
                "fields": (),
                "actions": (),
                "created_at": now,
                "title": title[:200],
                "updated_at": iso(now),
                "initial_message": msg_id,
                "internal_comments": 0,
                "source": None,
            }
            if thread_fields:
                thread.update(thread_fields)
            flow.threads[tid] = thread
            if len(flow.threads) > self.history + self.history // 10 + 1:
                # forget the oldest threads with the messages that used them (bounded memory)
                keep = list(flow.threads.items())[-self.history :]
                flow.threads = dict(keep)
            first = True
        else:
            tid = thread["id"]
            thread["updated_at"] = iso(now)
            if thread_fields:
                thread.update(thread_fields)
            first = False
        if event == "activity":
            thread["activities"] += 1
        elif event == "discussion":
            thread["external_comments"] += 1
        else:
            thread["internal_comments"] += 1
        snap = dict(thread)
        snap["created_at"] = thread["created_at"] if first else iso(thread["created_at"])
        return tid, snap

    def post_flow_message(
        self,
        flow: Flow,
        user_id: str,
        event: str,
        content: Any,
        *,
        tags: Iterable[str] = (),
        uuid: str | None = None,
        thread_id: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        app: str | None = "chat",
        extra: dict[str, Any] | None = None,
        thread_fields: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store (if persistent) and publish a flow event; returns the stored envelope."""
        now = self.now_ms()
        msg_id = flow.log.allocate()
        text = content if isinstance(content, str) else ""
        if isinstance(content, dict) and isinstance(content.get("text"), str):
            text = content["text"]
        all_tags = list(tags)
        for t in self._auto_tags(text, flow.member_ids, user_id):
            if t not in all_tags:
                all_tags.append(t)
        # The stored copy stays lean (no thread snapshot, no empty reactions, a shared empty
        # attachments tuple): fewer live containers keeps the cyclic GC cheap at high rates.
        msg: dict[str, Any] = {"event": event, "tags": all_tags, "uuid": uuid, "id": msg_id}
        msg["flow"] = flow.id
        msg["content"] = content
        msg["sent"] = now
        msg["app"] = app
        msg["created_at"] = iso(now)
        msg["attachments"] = attachments or ()
        msg["user"] = user_id
        if extra:
            msg.update(extra)
        snap: dict[str, Any] | None = None
        if event in THREADED_EVENTS:
            title = (
                (extra or {}).get("title")
                or text
                or (content.get("file_name", "") if isinstance(content, dict) else "")
            )
            tid, snap = self._thread_for(
                flow, thread_id, msg_id, now, str(title), event, thread_fields
            )
            msg["thread_id"] = tid
        wire = dict(msg)
        wire["emojiReactions"] = {}
        if snap is not None:
            wire["thread"] = snap
        if event in PERSISTENT_EVENTS:
            flow.log.store(msg)
        else:
            wire["persist"] = False
        if event == "status" and isinstance(content, str) and user_id in self.users:
            self.users[user_id].status = content
        self.publish_flow(flow, wire)
        return wire

    def post_private_message(
        self,
        sender: str,
        recipient: str,
        event: str,
        content: Any,
        *,
        tags: Iterable[str] = (),
        uuid: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        conv = self.private_conversation(sender, recipient)
        now = self.now_ms()
        all_tags = list(tags)
        text = content if isinstance(content, str) else ""
        for tag in self._auto_tags(text, (sender, recipient), sender):
            if tag not in all_tags:
                all_tags.append(tag)
        if recipient != sender and f":unread:{recipient}" not in all_tags:
            all_tags.append(f":unread:{recipient}")
        msg: dict[str, Any] = {
            "event": event,
            "tags": all_tags,
            "uuid": uuid,
            "id": conv.log.allocate(),
            "to": recipient,
            "content": content,
            "sent": now,
            "app": "chat",
            "created_at": iso(now),
            "attachments": attachments or (),
            "user": sender,
        }
        conv.log.store(msg)
        conv.open = True
        wire = dict(msg)
        wire["emojiReactions"] = {}
        self.publish_private(conv, wire)
        return wire

    def _transient(
        self,
        target: Flow | PrivateConversation,
        by: str,
        event: str,
        content: Any,
        *,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = self.now_ms()
        msg: dict[str, Any] = {
            "event": event,
            "tags": [],
            "uuid": None,
            "persist": False,
            "id": target.log.allocate(),
        }
        if isinstance(target, Flow):
            msg["flow"] = target.id
        else:
            msg["to"] = target.other(by)
        msg.update(
            {
                "content": content,
                "sent": now,
                "app": None,
                "created_at": iso(now),
                "attachments": [],
                "emojiReactions": {},
                "user": by,
            }
        )
        if extra:
            msg.update(extra)
        if isinstance(target, Flow):
            self.publish_flow(target, msg)
        else:
            self.publish_private(target, msg)
        return msg

    def edit_message(
        self,
        target: Flow | PrivateConversation,
        msg_id: int,
        new_text: str,
        by: str,
        *,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Edit a stored message (``""`` deletes it): stored copy updated, streams see
        ``message-edit`` (comments carry ``{title, text}``), then ``tag-change`` if hashtags
        or explicit ``tags`` changed. KeyError if absent, ValueError if not editable."""
        stored = target.log.get(msg_id)
        if stored is None:
            raise KeyError(msg_id)
        if stored["event"] not in EDITABLE_EVENTS:
            raise ValueError(f"{stored['event']} messages cannot be edited")
        now = self.now_ms()
        old_content = stored["content"]
        updated: Any = new_text
        if stored["event"] == "comment" and isinstance(old_content, dict) and new_text:
            updated = {"title": old_content.get("title", ""), "text": new_text}
        stored["content"] = updated
        stored["edited"] = now
        stored["edited_at"] = iso(now)
        self._transient(
            target,
            by,
            "message-edit",
            {"message": msg_id, "updated_content": updated},
            extra={"edited": None},
        )
        old_tags = list(stored["tags"])
        if tags is not None:
            new_tags = [t for t in old_tags if t.startswith(":") or ":" in t]
            new_tags += [t for t in tags if t not in new_tags]
        else:
            old_hash = {t.lower() for t in _HASHTAG.findall(_text_of(old_content))}
            now_hash = {t.lower() for t in _HASHTAG.findall(new_text)}
            new_tags = [t for t in old_tags if t not in old_hash - now_hash]
            new_tags += sorted(now_hash - set(old_tags))
        add = [t for t in new_tags if t not in old_tags]
        remove = [t for t in old_tags if t not in new_tags]
        if add or remove:
            self.change_tags(target, msg_id, add, remove, by)
        return stored

    def change_tags(
        self,
        target: Flow | PrivateConversation,
        msg_id: int,
        add: list[str],
        remove: list[str],
        by: str,
    ) -> dict[str, Any]:
        stored = target.log.get(msg_id)
        if stored is not None:
            tags = [t for t in stored["tags"] if t not in remove]
            tags += [t for t in add if t not in tags]
            stored["tags"] = tags
        return self._transient(
            target, by, "tag-change", {"message": msg_id, "add": add, "remove": remove}
        )

    def react(
        self, target: Flow | PrivateConversation, msg_id: int, emoji: str, by: str, add: bool
    ) -> dict[str, Any]:
        """``emoji-reaction`` event; the stored message's ``emojiReactions`` becomes
        ``{emoji: [user ids]}`` (the non-empty shape is not documented; this is a guess)."""
        stored = target.log.get(msg_id)
        if stored is not None:
            reactions = stored.setdefault("emojiReactions", {})
            users = reactions.setdefault(emoji, [])
            if add and by not in users:
                users.append(by)
            elif not add and by in users:
                users.remove(by)
            if not users:
                del reactions[emoji]
        return self._transient(
            target,
            by,
            "emoji-reaction",
            {"message": msg_id, "emoji": emoji, "type": "add" if add else "remove"},
        )

    def user_activity(self, user: User, flows: Iterable[Flow], presence: Presence) -> None:
        """``activity.user`` into each flow. Content carries ``last_activity`` only while
        active (Flowdock omitted it for idle users)."""
        now = self.now_ms()
        user.last_ping = now
        if presence == "active":
            user.last_activity = now
        content: dict[str, Any] = {"last_activity": now} if presence == "active" else {}
        for flow in flows:
            msg: dict[str, Any] = {
                "event": "activity.user",
                "tags": [],
                "uuid": None,
                "persist": False,
                "id": flow.log.allocate(),
                "flow": flow.id,
                "content": content,
                "sent": now,
                "app": None,
                "attachments": [],
                "user": user.id,
            }
            self.publish_flow(flow, msg)

    def edit_user(
        self,
        user: User,
        *,
        nick: str | None = None,
        name: str | None = None,
        avatar: str | None = None,
    ) -> None:
        """Profile change: one ``user-edit`` per flow the user is in."""
        if nick is not None:
            user.nick = nick
        if name is not None:
            user.name = name
        if avatar is not None:
            user.avatar = avatar
        for flow in self.flows_of(user):
            content = {"user": user.public()}
            self._transient(flow, user.id, "user-edit", content)

    # ------------------------------------------------------------------ membership
    def flow_summary(self, flow: Flow) -> dict[str, Any]:
        """The flow object of a ``flow-add`` (no request: no URLs, unlike ``/flows``)."""
        org = flow.org
        return {
            "id": flow.id,
            "name": flow.name,
            "parameterized_name": flow.parameterized_name,
            "organization": {
                "id": org.id,
                "name": org.name,
                "parameterized_name": org.parameterized_name,
            },
            "open": flow.open,
            "joined": True,
        }

    def add_member(self, flow: Flow, user_id: str) -> bool:
        """Add ``user_id`` to ``flow`` and tell that user's streams (False: already in).

        Flowdock sent ``flow-add`` (``user`` = the added user, ``content`` = the flow, no
        ``id``) on the user's own channel: a stream that does not subscribe the flow yet
        (``user=1``) learns of it there, and clients such as hubot-flowdock re-read
        ``/flows`` and reconnect with it."""
        if user_id in flow.member_ids:
            return False
        flow.member_ids.append(user_id)
        self.announce_membership(flow, user_id, added=True)
        return True

    def remove_member(self, flow: Flow, user_id: str) -> bool:
        """Remove ``user_id`` from ``flow``; ``flow-remove`` (``content`` ``{id}``) on that
        user's channel.  Their open streams keep the flow until they reconnect (Flowdock's
        did too); a reconnect naming it is refused (403)."""
        if user_id not in flow.member_ids:
            return False
        flow.member_ids.remove(user_id)
        self.announce_membership(flow, user_id, added=False)
        return True

    def announce_membership(self, flow: Flow, user_id: str, *, added: bool) -> Published:
        """``flow-add``/``flow-remove`` for ``user_id`` on its private channel (buffered, so
        an SSE resume replays it)."""
        if added:
            event: dict[str, Any] = {"event": "flow-add", "content": self.flow_summary(flow)}
        else:
            event = {"event": "flow-remove", "content": {"id": flow.id}}
        event.update(user=user_id, sent=self.now_ms())
        log.info("%s: user %s, flow %s", event["event"], user_id, flow.slug)
        return self._publish(event, (self.private_channel(user_id),))

    # ------------------------------------------------------------------ presence
    def effective_presence(self, user: User) -> Presence:
        best: Presence = user.sim_presence
        for sub in self.user_subs.get(user.id, ()):
            if RANK[sub.active] > RANK[best]:
                best = sub.active
        return best

    def set_sim_presence(self, user: User, presence: Presence) -> None:
        before = self.effective_presence(user)
        user.sim_presence = presence
        after = self.effective_presence(user)
        if after != before:
            self.publish_presence(user, after)

    def streaming_flows(self, user: User) -> list[Flow]:
        """Flows in which ``user`` currently streams with active=true or idle."""
        seen: dict[str, Flow] = {}
        for sub in self.user_subs.get(user.id, ()):
            if sub.active != "offline":
                for flow in sub.flows:
                    seen.setdefault(flow.id, flow)
        return list(seen.values())

    def activity_tick(self) -> None:
        """Periodic ``activity.user`` for users streaming as active or idle."""
        for uid in sorted(self.user_subs):
            user = self.users[uid]
            presence = self.effective_presence(user)
            flows = self.streaming_flows(user)
            if presence != "offline" and flows:
                self.user_activity(user, flows, presence)

    # ------------------------------------------------------------------ subscriptions
    def open_record(
        self,
        *,
        path: str,
        query: str,
        user_id: str | None,
        active: Presence,
        content_type: str,
        last_event_id: str | None,
    ) -> ConnectionRecord:
        self._conn_ids += 1
        rec = ConnectionRecord(
            id=self._conn_ids,
            path=path,
            query=query,
            user_id=user_id,
            active=active,
            content_type=content_type,
            last_event_id=last_event_id,
            started=self.clock(),
        )
        self.connections.append(rec)
        return rec

    def close_record(self, rec: ConnectionRecord, reason: str, status: int | None = None) -> None:
        if status is not None:
            rec.status = status
        if rec.ended is None:
            rec.ended = self.clock()
        rec.close_reason = rec.close_reason or reason
        self.open_records.pop(rec.id, None)

    @property
    def open_connections(self) -> list[ConnectionRecord]:
        return list(self.open_records.values())

    def subscribe(self, sub: Subscriber, last_event_id: str | None = None) -> int:
        """Register ``sub``; queue the replay for ``last_event_id`` first (SSE only).

        Runs without awaiting, so no event can fall between replay and live delivery."""
        before = self.effective_presence(sub.user)
        chans = [self.channels["flow:" + f.id] for f in sub.flows]
        if sub.private:
            chans.append(self.private_channel(sub.user.id))
        sub.channels = chans
        replayed = 0
        sub.replay_complete = None
        last = parse_event_id(last_event_id) if sub.sse and last_event_id is not None else None
        if sub.sse and last_event_id is not None:
            sub.replay_complete = False
        if last is not None:
            future = last > self.seq  # an id from an earlier process: all we hold, truncated
            items, complete = replay_after(chans, 0 if future else last)
            sub.replay_complete = complete and not future
            sub.queue.extend(items)
            replayed = len(items)
            if items:
                sub._wakeup.set()
        for ch in chans:
            ch.subscribers.add(sub)
        self.user_subs.setdefault(sub.user.id, set()).add(sub)
        self.open_records[sub.record.id] = sub.record
        sub.record.replayed = replayed
        after = self.effective_presence(sub.user)
        if sub.active != "offline":
            self.user_activity(sub.user, sub.flows, sub.active)
        if after != before:
            self.publish_presence(sub.user, after)
        return replayed

    def unsubscribe(self, sub: Subscriber) -> None:
        before = self.effective_presence(sub.user)
        for ch in sub.channels:
            ch.subscribers.discard(sub)
        subs = self.user_subs.get(sub.user.id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.user_subs[sub.user.id]
        after = self.effective_presence(sub.user)
        if after != before and not self.shutting_down:
            self.publish_presence(sub.user, after)

    def all_subscribers(self) -> list[Subscriber]:
        return [s for subs in self.user_subs.values() for s in subs]

    def max_backlog(self) -> int:
        return max((len(s.queue) for s in self.all_subscribers()), default=0)

    def shutdown_event(self) -> asyncio.Event:
        """Set when the server begins to stop (for requests that wait on purpose)."""
        if self._shutdown_event is None:
            self._shutdown_event = asyncio.Event()
            if self.shutting_down:
                self._shutdown_event.set()
        return self._shutdown_event

    def begin_shutdown(self) -> None:
        """Ask every stream to end so the HTTP server can stop promptly."""
        self.shutting_down = True
        if self._shutdown_event is not None:
            self._shutdown_event.set()
        for sub in self.all_subscribers():
            sub.close("server shutdown")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return str(content["text"])
    return ""
