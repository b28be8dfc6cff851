"""The memory budget: how many messages every conversation store may hold together.

Each store is bounded by ``scrollback`` on its own, but the number of conversations is not
(every private conversation is a store), and a busy organisation fills ten flows × 10,000
messages in minutes.  Everything routed is in the archive, so memory only needs what a view
is likely to show: when the stores together hold more than ``total`` messages, conversations
that are not shown, least recently shown first, keep only their newest ``floor`` messages
(fewer if there are very many of them), down to a low-water mark so that trimming happens
in steps, not on every batch.  The shown conversations are never trimmed (their own
``scrollback`` bounds them).  What goes comes back from the archive (or REST) when the
user scrolls up, like any older page; unread counts and mentions stay (see
`ConversationStore.trim_oldest`).

WeeChat keeps 4,096 lines per buffer and irssi 500 by default; this keeps all of the shown
conversation's scrollback and the newest ``floor`` lines of every other in memory, and the
rest one scroll away on disk.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Collection, Mapping
from typing import Final

from flowview.model.store import ConversationStore
from flowview.protocol.events import ConversationKey

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_FLOOR", "MIN_FLOOR", "MessageBudget"]

DEFAULT_FLOOR: Final = 500  # newest messages a conversation not shown keeps
MIN_FLOOR: Final = 50  # ... when so many conversations exist that 500 each is too many
_LOW_WATER: Final = 0.9  # trim down to 90 % of the budget: steps, not every batch


class MessageBudget:
    """Bounds the messages held by all stores together (see the module docstring)."""

    def __init__(self, total: int, floor: int = DEFAULT_FLOOR) -> None:
        if total < 1:
            raise ValueError("a memory budget needs at least one message")
        self.total = total
        self.floor = max(1, floor)
        self._clock = itertools.count(1)
        self._shown: dict[ConversationKey, int] = {}  # key -> when it was last shown
        self.trimmed = 0  # messages dropped by the budget so far (status, benches)

    def shown(self, key: ConversationKey) -> None:
        """`key` is on screen now: it is trimmed last."""
        self._shown[key] = next(self._clock)

    def enforce(
        self,
        stores: Mapping[ConversationKey, ConversationStore],
        keep: Collection[ConversationKey] = (),
    ) -> dict[ConversationKey, int]:
        """Trim stores other than `keep` when all of them hold more than the budget; returns
        how many messages each trimmed store dropped."""
        held = sum(len(store) for store in stores.values())
        if held <= self.total:
            return {}
        target = int(self.total * _LOW_WATER)
        # Least recently shown first (never shown: 0), the bigger first among equals.
        order = sorted(
            (store for key, store in stores.items() if key not in keep),
            key=lambda s: (self._shown.get(s.key, 0), -len(s)),
        )
        dropped: dict[ConversationKey, int] = {}
        held = self._trim(order, held, target, self.floor, dropped)
        if held > target and order:
            # So many conversations that each keeping `floor` is too much: share what the
            # shown ones leave, never below MIN_FLOOR (the budget then yields: see README).
            kept = sum(len(s) for s in stores.values() if s.key in keep)
            share = max(MIN_FLOOR, (target - kept) // len(order))
            held = self._trim(order, held, target, min(share, self.floor), dropped)
        count = sum(dropped.values())
        self.trimmed += count
        log.info(
            "memory budget: %d messages dropped from %d conversations (%d held, budget %d)",
            count,
            len(dropped),
            held,
            self.total,
        )
        return dropped

    @staticmethod
    def _trim(
        order: list[ConversationStore],
        held: int,
        target: int,
        floor: int,
        dropped: dict[ConversationKey, int],
    ) -> int:
        for store in order:
            if held <= target:
                break
            keep = max(floor, len(store) - (held - target))
            gone = store.trim_oldest(keep)
            if gone:
                dropped[store.key] = dropped.get(store.key, 0) + gone
                held -= gone
        return held
