"""The user and flow directory: who is who (nicks, presence), which flows there are and who is
in them, and what each conversation is called (titles, mute names).

`Directory` is the base of `Router`, not an object it holds: its lookups (``nick_of`` at render
time, ``me_id`` on every routed line) cost no extra call or attribute on the hot path.  It keeps
the titles and ``me_id`` of the router's stores in step.

Nicks are looked up when lines are rendered (``sender_of``), so a ``user-edit`` rename costs
O(1); views watch ``users_version`` to drop cached lines.  The directory's own events
(activity, presence, user-edit) are handled here; the membership events, which may also leave
a line in a conversation, in membership.py.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from flowview.model.routed import RouteResult
from flowview.model.sanitize import clean_name
from flowview.model.store import ConversationStore, StoredMessage
from flowview.protocol.defaults import Presence
from flowview.protocol.events import (
    ConversationKey,
    PresenceEvent,
    UserActivityEvent,
    UserEditEvent,
    as_id,
)

log = logging.getLogger(__name__)

__all__ = ["IDLE_AFTER_MS", "INTEGRATION_USER", "Directory", "FlowInfo", "UserInfo"]

IDLE_AFTER_MS: Final = 5 * 60 * 1000  # activity.user older than this counts as idle
INTEGRATION_USER: Final = "0"


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


class Directory:
    """Users and flows, and the names of conversations (see the module's docstring).

    Args:
        me_id: The signed-in user's id (private conversation titles; the router: mentions,
            own messages never count as unread).
        me_nick: The user's nick, for ``@nick`` mentions in text.
    """

    def __init__(self, me_id: str | None = None, me_nick: str | None = None) -> None:
        self.me_id: str | None = me_id
        self.me_nick: str | None = clean_name(me_nick) if me_nick else None
        # The conversations (the router opens them): kept here so that renames retitle them.
        self.stores: dict[ConversationKey, ConversationStore] = {}
        self.users: dict[str, UserInfo] = {}
        self.flows: dict[str, FlowInfo] = {}
        self.users_version = 0
        """Bumps when a nick changes (views drop cached lines)."""
        self.presence_version = 0
        """Bumps when someone's presence or a flow's members change."""
        self.flows_version = 0
        """Bumps when the flow directory changes (flow-add/flow-remove/add_flows)."""

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

    # ------------------------------------------------------------------ conversation names

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

    def _renamed(self) -> None:
        self.users_version += 1
        for key, store in self.stores.items():
            if key[0] == "private":
                store.title = self.title_for(key)

    # ------------------------------------------------------------------ directory events

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
