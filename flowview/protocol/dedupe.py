"""Bounded "delivered once" memory for (conversation, message id) pairs.

Flowdock ids grow per flow (and per private conversation), so each conversation keeps the
ids of its most recent `window` deliveries plus a watermark: the highest id ever evicted from
that window.  Anything at or below the watermark is treated as already delivered, which keeps
memory bounded without letting an old replayed message through twice.  Conversations
themselves are bounded too (least recently used are forgotten).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Hashable

log = logging.getLogger(__name__)

__all__ = ["Deduper"]


class _Window:
    __slots__ = ("floor", "ids", "order", "top")

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.order: deque[int] = deque()  # insertion order of `ids`, oldest first
        self.floor: int | None = None  # highest id evicted from `ids`
        self.top: int | None = None  # highest id ever recorded


class Deduper:
    def __init__(self, window: int = 5000, max_keys: int = 10_000) -> None:
        if window < 1 or max_keys < 1:
            raise ValueError("window and max_keys must be positive")
        self.window = window
        self.max_keys = max_keys
        self._keys: OrderedDict[Hashable, _Window] = OrderedDict()
        self.duplicates = 0

    def __len__(self) -> int:
        """Number of ids currently remembered (all conversations)."""
        return sum(len(w.ids) for w in self._keys.values())

    def first_time(self, key: Hashable, ident: int) -> bool:
        """Record (key, ident); True when it had not been delivered before."""
        keys = self._keys
        win = keys.get(key)
        if win is None:
            win = _Window()
            keys[key] = win
            if len(keys) > self.max_keys:
                keys.popitem(last=False)
        else:
            keys.move_to_end(key)
        top = win.top
        if top is None or ident > top:
            win.top = ident  # the common case: newer than anything seen, so new
        elif ident in win.ids or (win.floor is not None and ident <= win.floor):
            self.duplicates += 1
            return False
        win.ids.add(ident)
        order = win.order
        order.append(ident)
        if len(order) > self.window:
            old = order.popleft()
            win.ids.discard(old)
            if win.floor is None or old > win.floor:
                win.floor = old
        return True

    def latest(self) -> dict[Hashable, int]:
        """The highest id delivered per remembered conversation (the back-fill cursors)."""
        return {key: win.top for key, win in self._keys.items() if win.top is not None}

    def seen(self, key: Hashable, ident: int) -> bool:
        """True if (key, ident) counts as delivered (does not record anything)."""
        win = self._keys.get(key)
        if win is None:
            return False
        return ident in win.ids or (win.floor is not None and ident <= win.floor)
