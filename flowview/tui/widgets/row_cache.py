"""The log's rendered rows, least recently used first out, freed as they leave.

A Textual `Strip` memoises what the compositor derives from it (crops, styles, a copy of the
right length) in caches of its own, and where the result is the strip itself it caches the
strip in itself: a cycle, so a strip that leaves a cache is garbage only the cyclic collector
can free.  Paging through archived history renders thousands of rows a minute; as cycles they
piled up until a full collection (the day-of-scrolling bench: ~7,500 strips, ~10 MB, in 30 s),
and full collections walk every stored message.  Emptying the caches of a row's strips (and of
the strips cached in them) as the row leaves lets reference counting free them at once.

`Strip`'s cache attributes are private: tests/tui/test_textual_canary.py names them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Final

from textual.strip import Strip

log = logging.getLogger(__name__)

__all__ = ["STRIP_CACHES", "RowCache", "let_go"]

# Strip's memo attributes (textual 8.2.8, strip.py): each a FIFOCache of Strip or list[Strip].
STRIP_CACHES: Final = (
    "_divide_cache",
    "_crop_cache",
    "_style_cache",
    "_filter_cache",
    "_line_length_cache",
    "_crop_extend_cache",
    "_offsets_cache",
)


def let_go(strips: Iterable[Strip]) -> None:
    """Empty the memo caches of `strips` and of every strip cached in them, so that none is
    left in a cycle.  The strips stay usable: a memo is only a shortcut."""
    stack = list(strips)
    seen: set[int] = set()
    while stack:
        strip = stack.pop()
        if id(strip) in seen:
            continue
        seen.add(id(strip))
        for name in STRIP_CACHES:
            cache = getattr(strip, name, None)
            if not cache:
                continue
            for key in list(cache.keys()):
                value = cache.get(key)
                if isinstance(value, Strip):
                    stack.append(value)
                elif isinstance(value, list):
                    stack.extend(item for item in value if isinstance(item, Strip))
            cache.clear()


class RowCache:
    """Rendered rows by key, at most `size`; a row evicted or cleared is `let_go`."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._rows: OrderedDict[Hashable, list[Strip]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: Hashable) -> list[Strip] | None:
        strips = self._rows.get(key)
        if strips is not None:
            self._rows.move_to_end(key)
        return strips

    def put(self, key: Hashable, strips: list[Strip]) -> None:
        old = self._rows.pop(key, None)
        if old is not None and old is not strips:
            let_go(old)
        self._rows[key] = strips
        while len(self._rows) > self.size:
            _, evicted = self._rows.popitem(last=False)
            let_go(evicted)

    def clear(self) -> None:
        rows = list(self._rows.values())
        self._rows.clear()
        for strips in rows:
            let_go(strips)
