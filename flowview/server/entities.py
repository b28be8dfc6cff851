"""The world a Flowdock deployment holds: users, organisations, flows, private conversations."""

from __future__ import annotations

import base64
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from flowview.server.message_log import MessageLog
from flowview.server.wire import wire_id

log = logging.getLogger(__name__)

Presence = Literal["active", "idle", "offline"]
PRESENCE_STATE: dict[str, int] = {"active": 2_000_000, "idle": 1_000_000, "offline": 0}
RANK: dict[str, int] = {"offline": 0, "idle": 1, "active": 2}

#: Events kept in REST history; everything else is transient (``persist: false``).
PERSISTENT_EVENTS = frozenset(
    {"message", "comment", "status", "line", "file", "action", "activity", "discussion", "mail"}
)
#: Events that belong to a thread (every chat message has one since ~2019).
THREADED_EVENTS = frozenset({"message", "file", "comment", "activity", "discussion"})
EDITABLE_EVENTS = frozenset({"message", "comment"})


def random_id(rng: random.Random, length: int) -> str:
    nbytes = (length * 6 + 7) // 8
    raw = rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
    return base64.urlsafe_b64encode(raw).decode("ascii")[:length]


def parameterize(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "flow"


@dataclass(eq=False)
class User:
    id: str
    nick: str
    name: str
    email: str
    token: str = field(repr=False)
    avatar: str | None = None
    website: str | None = None
    status: str | None = None
    last_activity: int = 0
    last_ping: int = 0
    #: presence the simulator gives a user that has no streams of its own
    sim_presence: Presence = "offline"
    #: scrypt hash for ``email:password`` Basic login (users created with a password)
    password_hash: str | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": wire_id(self.id),
            "nick": self.nick,
            "email": self.email,
            "avatar": self.avatar,
            "name": self.name,
            "website": self.website,
        }


@dataclass(eq=False)
class Organization:
    id: int
    name: str
    parameterized_name: str
    member_ids: list[str] = field(default_factory=list)


@dataclass(eq=False)
class Flow:
    id: str
    name: str
    parameterized_name: str
    org: Organization
    member_ids: list[str]
    log: MessageLog
    description: str = ""
    open: bool = True
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the flow's token for integrations and the Push API (``api_token`` in ``/flows``)
    api_token: str = field(default="", repr=False)

    @property
    def slug(self) -> str:
        return f"{self.org.parameterized_name}/{self.parameterized_name}"

    @property
    def legacy_id(self) -> str:
        return f"{self.org.parameterized_name}:{self.parameterized_name}"


@dataclass(eq=False)
class PrivateConversation:
    user_ids: tuple[str, str]  # sorted
    log: MessageLog
    open: bool = True

    def other(self, user_id: str) -> str:
        a, b = self.user_ids
        return b if user_id == a else a


@dataclass(eq=False)
class StoredFile:
    """An uploaded file, served at its ``path``."""

    path: str
    file_name: str
    content_type: str
    data: bytes = field(repr=False)
