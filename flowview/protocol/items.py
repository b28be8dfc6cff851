"""What the stream client hands its consumers: events and notices about the stream itself.

This module is the contract between the stream client (producer) and its consumers (the
viewer's stream pump and ``flowview tail``).  It holds data only.

Ordering promise: for one conversation, events are emitted in ascending id order *except*
back-filled events, which may carry ids lower than events already emitted (they fill a hole
left by an outage).  Consumers place events by id, never by arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from flowview.protocol.events import ConversationKey, Event, parse_event

State = Literal["connecting", "live", "reconnecting", "failed", "stopped"]


@dataclass(frozen=True)
class StateChange:
    state: State
    reason: str = ""
    delay: float | None = None  # seconds until the next attempt (reconnecting), for a countdown
    attempt: int = 0
    status: int | None = None  # HTTP status behind the change, when there was one


@dataclass(frozen=True)
class Skipped:
    """Input that could not be used (malformed record, oversized record, bad event)."""

    reason: str


@dataclass(frozen=True)
class Gap:
    """Emitted right before `backfilled` events fetched from REST history for `key`."""

    key: ConversationKey
    backfilled: int


@dataclass(frozen=True)
class GapOpened:
    """Messages of `key` after `after_id` may be missing; the client keeps trying to fetch them.

    `after_id` is the newest id delivered for `key` before the hole (None when the client has
    delivered nothing for `key` yet).  The hole stays open, surviving reconnects, until a
    matching :class:`GapClosed` follows.  Consumers show it where it happened ("messages may
    be missing — fetching") and say so in their status line while any gap is open.
    """

    key: ConversationKey
    after_id: int | None
    reason: str


@dataclass(frozen=True)
class GapClosed:
    """The hole opened by the GapOpened with the same (key, after_id) is filled.

    The `recovered` events were emitted before this item (they may be older than events
    emitted while the gap was open: place them by id).
    """

    key: ConversationKey
    after_id: int | None
    recovered: int


@dataclass(slots=True, eq=False)
class RawEvent:
    """An event handed over unparsed (``StreamClient(raw_events=True)``).

    For pass-through consumers such as ``flowview tail``: building a typed Event costs more
    than everything else per message.  `text` is the record exactly as received (stripped
    UTF-8 JSON) when the decoder could keep it, else None.
    """

    raw: dict[str, Any]
    text: bytes | None
    key: ConversationKey | None
    id: int | None

    def parse(self) -> Event:
        return parse_event(self.raw)


StreamItem = Event | RawEvent | StateChange | Skipped | Gap | GapOpened | GapClosed
