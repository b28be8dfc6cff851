"""Publish/subscribe with replay: channels, their replay rings, and stream subscribers.

Every event the server emits gets a *server-global*, strictly increasing sequence number ``seq``,
sent as ``id: <seq>`` on the event-stream; see ``state`` for the replay rules. Nothing here awaits
except ``Subscriber.wait``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flowview.server.entities import Flow, Presence, User
from flowview.server.wire import dumps, json_frame, sse_frame

log = logging.getLogger(__name__)


def encode(seq: int, event: dict[str, Any]) -> Published:
    """Serialise ``event`` once for every connection that will receive it."""
    data = dumps(event)
    return Published(seq, event, data, json_frame(data), sse_frame(seq, data))


def fan_out(pub: Published, channels: Iterable[Channel], *, buffer: bool = True) -> None:
    for ch in channels:
        if buffer:
            ch.keep(pub)
        for sub in ch.subscribers:
            sub.push(pub)


def replay_after(channels: list[Channel], last: int) -> tuple[list[Published], bool]:
    """Buffered events with ``seq > last`` on ``channels``, in ``seq`` order, and whether the
    buffers still held all of them."""
    items: list[Published] = []
    for ch in channels:
        for pub in reversed(ch.buffer):
            if pub.seq <= last:
                break
            items.append(pub)
    items.sort(key=lambda p: p.seq)
    return items, all(ch.evicted <= last for ch in channels)


@dataclass(slots=True, eq=False)
class Published:
    """One emitted event, serialised once and shared by every connection.

    ``data`` is the event exactly as sent, ``event`` the dict it was serialised from."""

    seq: int
    event: dict[str, Any]
    data: bytes
    json_frame: bytes
    sse_frame: bytes


class Channel:
    """A fan-out point (one flow, or one user's private messages) with its replay ring."""

    __slots__ = ("buffer", "evicted", "name", "subscribers")

    def __init__(self, name: str, replay: int) -> None:
        self.name = name
        self.subscribers: set[Subscriber] = set()
        self.buffer: deque[Published] = deque(maxlen=max(0, replay))
        # seq of the newest event that no longer is in the buffer: a replay from an id below
        # it is incomplete
        self.evicted = 0

    def keep(self, pub: Published) -> None:
        buf = self.buffer
        if buf.maxlen == 0:
            self.evicted = pub.seq
            return
        if len(buf) == buf.maxlen:
            self.evicted = buf[0].seq
        buf.append(pub)


@dataclass(eq=False)
class ConnectionRecord:
    """One stream request, for ``GET /_faults`` and tests."""

    id: int
    path: str
    query: str
    user_id: str | None
    active: Presence
    content_type: str
    last_event_id: str | None
    started: float
    status: int = 200
    ended: float | None = None
    events: int = 0
    bytes: int = 0
    replayed: int = 0
    fault: str | None = None
    close_reason: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "query": self.query,
            "user": self.user_id,
            "active": self.active,
            "content_type": self.content_type,
            "last_event_id_sent": self.last_event_id is not None,
            "last_event_id": self.last_event_id,
            "started": self.started,
            "ended": self.ended,
            "open": self.ended is None and self.status == 200,
            "status": self.status,
            "events": self.events,
            "bytes": self.bytes,
            "replayed": self.replayed,
            "fault": self.fault,
            "close_reason": self.close_reason,
        }


class Subscriber:
    """A live stream connection's queue. ``push`` never blocks: a subscriber that falls more
    than ``queue_max`` events behind is closed (it can resume with Last-Event-ID)."""

    def __init__(
        self,
        *,
        user: User,
        flows: list[Flow],
        private: bool,
        presence: bool,
        active: Presence,
        sse: bool,
        record: ConnectionRecord,
        queue_max: int,
    ) -> None:
        self.user = user
        self.flows = flows
        self.private = private
        self.presence = presence
        self.active: Presence = active
        self.sse = sse
        self.record = record
        self.queue_max = queue_max
        self.queue: deque[Published] = deque()
        self.channels: list[Channel] = []
        self.closed_reason: str | None = None
        self.discard = False  # a stalled connection drops what it is sent
        # SSE with Last-Event-ID: did the replay cover everything after that id?
        self.replay_complete: bool | None = None
        self._wakeup = asyncio.Event()

    def push(self, pub: Published) -> None:
        if self.closed_reason is not None or self.discard:
            return
        if len(self.queue) >= self.queue_max:
            self.queue.clear()
            log.warning(
                "connection #%d fell %d events behind; closing it", self.record.id, self.queue_max
            )
            self.close("overflow")
            return
        self.queue.append(pub)
        self._wakeup.set()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
        self._wakeup.set()

    def take(self, max_items: int = 1000) -> list[Published]:
        q = self.queue
        if len(q) <= max_items:
            items = list(q)
            q.clear()
            return items
        return [q.popleft() for _ in range(max_items)]

    async def wait(self, timeout: float | None) -> None:
        """Wait until something is queued or the subscriber is closed, or ``timeout`` s."""
        if self.queue or self.closed_reason is not None:
            return
        self._wakeup.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._wakeup.wait()
        except TimeoutError:
            pass
