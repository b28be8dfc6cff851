"""What routing did: `RouteResult` for one event (`Router.route`), `RoutedBatch` for a run of
streamed events, summed (`Router.route_batch`, the stream pump's path)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from flowview.model.stored_message import StoredMessage
from flowview.protocol.events import ConversationKey

log = logging.getLogger(__name__)

__all__ = ["Effect", "RouteResult", "RoutedBatch"]

Effect = Literal["appended", "updated", "state", "ignored"]


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
