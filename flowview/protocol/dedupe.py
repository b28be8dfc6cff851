"""Bounded "delivered once" memory for (conversation, message id) pairs.

Flowdock ids grow per flow (and per private conversation), one for every event in it, so the
ids a client has been delivered form a few runs of consecutive numbers.  Each conversation
keeps its delivered ids as sorted runs [lo, hi] (a stream in order only ever extends the last
run), at most `window` runs, plus a watermark: the highest id of any run let go.  Anything at
or below the watermark counts as delivered, which keeps memory bounded without letting an old
replayed message through twice.  Memory follows the number of holes, not the number of
messages (a set of the last N ids grew by ~80 bytes per message until it held N per
conversation, which was most of an all-day viewer's growth).  Conversations themselves are
bounded too (least recently used are forgotten).
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Hashable

log = logging.getLogger(__name__)

__all__ = ["Deduper"]

_NO_KEY = object()  # equal to no key


class _Runs:
    """Delivered ids of one conversation: runs los[i]..his[i], ascending, never touching."""

    __slots__ = ("floor", "his", "los")

    def __init__(self) -> None:
        self.los: list[int] = []
        self.his: list[int] = []
        self.floor: int | None = None  # highest id of a run let go

    def top(self) -> int | None:
        return self.his[-1] if self.his else None

    def has(self, ident: int) -> bool:
        if self.floor is not None and ident <= self.floor:
            return True
        i = bisect_right(self.los, ident) - 1
        return i >= 0 and ident <= self.his[i]

    def add_inside(self, ident: int) -> None:
        """Record an id below the newest one, not recorded yet: joins or splits runs."""
        los, his = self.los, self.his
        i = bisect_right(los, ident)  # runs [0, i) start at or below ident
        joins_left = i > 0 and his[i - 1] == ident - 1
        joins_right = i < len(los) and los[i] == ident + 1
        if joins_left and joins_right:
            his[i - 1] = his[i]
            del los[i], his[i]
        elif joins_left:
            his[i - 1] = ident
        elif joins_right:
            los[i] = ident
        else:
            los.insert(i, ident)
            his.insert(i, ident)


class Deduper:
    """`window`: runs of consecutive ids kept per conversation (memory is per hole)."""

    def __init__(self, window: int = 5000, max_keys: int = 10_000) -> None:
        if window < 1 or max_keys < 1:
            raise ValueError("window and max_keys must be positive")
        self.window = window
        self.max_keys = max_keys
        self._keys: OrderedDict[Hashable, _Runs] = OrderedDict()
        self.duplicates = 0
        # The conversation of the last call (a stream comes in runs of one conversation):
        # it is already the most recent, so the next call with it skips the look-up.
        self._last_key: object = _NO_KEY
        self._last_runs = _Runs()

    def __len__(self) -> int:
        """Number of ids currently remembered in runs (all conversations)."""
        return sum(
            hi - lo + 1
            for runs in self._keys.values()
            for lo, hi in zip(runs.los, runs.his, strict=True)
        )

    def runs(self) -> int:
        """Number of runs kept (all conversations): what the memory grows with."""
        return sum(len(runs.los) for runs in self._keys.values())

    def first_time(self, key: Hashable, ident: int) -> bool:
        """Record (key, ident); True when it had not been delivered before."""
        if key == self._last_key:
            runs = self._last_runs
        else:
            keys = self._keys
            found = keys.get(key)
            if found is None:
                runs = keys[key] = _Runs()
                if len(keys) > self.max_keys:
                    keys.popitem(last=False)  # the oldest: never the one just added
            else:
                runs = found
                keys.move_to_end(key)
            self._last_key, self._last_runs = key, runs
        his = runs.his
        if not his:  # the conversation's first id (`_bound` never empties the runs)
            runs.los.append(ident)
            his.append(ident)
            return True
        last = his[-1]
        if ident == last + 1:  # the common case: the next id of this conversation
            his[-1] = ident
            return True
        if ident > last:
            runs.los.append(ident)
            his.append(ident)
            self._bound(runs)
            return True
        if runs.has(ident):
            self.duplicates += 1
            return False
        runs.add_inside(ident)
        self._bound(runs)
        return True

    def _bound(self, runs: _Runs) -> None:
        if len(runs.los) > self.window:
            del runs.los[0]
            runs.floor = runs.his.pop(0)

    def latest(self) -> dict[Hashable, int]:
        """The highest id delivered per remembered conversation (the back-fill cursors)."""
        return {key: top for key, runs in self._keys.items() if (top := runs.top()) is not None}

    def seen(self, key: Hashable, ident: int) -> bool:
        """True if (key, ident) counts as delivered (does not record anything)."""
        runs = self._keys.get(key)
        return runs is not None and runs.has(ident)
