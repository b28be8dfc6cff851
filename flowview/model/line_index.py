"""The line index of a conversation view: which rows each message takes at one width.

Textual-free. For every message of a store it keeps its height in rows, its first row
(``offsets``), its context (day separator, "new" marker, thread grouping) and the day of the
last dated line so far. It is built lazily, extended on appends, patched for in-place edits
(only the edited message is re-measured; offsets after it shift) and rebuilt on a width change
(real reflow), history inserted above, or nick renames.

Long conversations are laid out in two phases: the newest :data:`LAZY_TAIL` lines are measured
at once and the older ones estimated at one row each, then measured :data:`LAZY_CHUNK` at a
time by :meth:`LineIndex.measure_chunk` (the widget calls it after each frame), so a big
conversation shows at once and the event loop never stalls on it.  A burst of more than
LAZY_BURST_TAIL appended lines is laid out the same way: its newest LAZY_BURST_TAIL lines are
measured, the others estimated (the estimated lines are always one span,
``lazy_start..lazy_end``; the lines measured before the burst keep their heights).
"""

from __future__ import annotations

import logging
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Final

from flowview.model import render
from flowview.model.line_layout import NO_CTX, Ctx, LineLayout, ctx

if TYPE_CHECKING:
    from flowview.model.router import Router
    from flowview.model.store import ConversationStore

log = logging.getLogger(__name__)

__all__ = ["LAZY_AFTER", "LAZY_BURST_TAIL", "LAZY_CHUNK", "LAZY_TAIL", "LineIndex", "SyncResult"]

LAZY_AFTER: Final = 3000  # conversations longer than this are laid out in two phases
LAZY_TAIL: Final = 600  # newest lines measured before the first frame (a screen is ~50)
# Newest lines of a burst measured at each of its repaints: a following view shows the last
# screen (~50 rows), and every repaint of a 10,000-line burst measured 600 (70 % of a flush).
LAZY_BURST_TAIL: Final = 200
LAZY_CHUNK: Final = 4000  # older lines measured per chunk afterwards


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What :meth:`LineIndex.sync` did: lines appended, and whether it re-laid out all."""

    appended: int
    rebuilt: bool


class LineIndex:
    """Heights and offsets of a store's messages at one width (see the module docstring)."""

    def __init__(self, store: ConversationStore, router: Router, layout: LineLayout) -> None:
        self.store = store
        self.router = router
        self.layout = layout
        self.width = 0
        self.heights: list[int] = []
        self.seqs: list[int] = []  # seq of each indexed message
        # first row of each message (machine ints: 8 bytes each instead of an int object)
        self.offsets: array[int] = array("q")
        self.ctxs: list[Ctx] = []
        self._days: list[int | None] = []  # last known day up to and including i
        self.total = 0
        # what the index reflects
        self._epoch = -1
        self._dropped = 0
        self._version = -1
        self._users_version = -1
        self._appended_seen = 0
        self.generation = 0  # bumped by every full re-layout (stale lazy chunks stop)
        # lines lazy_start..lazy_end have estimated heights (none when lazy_end is 0)
        self.lazy_start = 0
        self.lazy_end = 0

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self.heights)

    @property
    def complete(self) -> bool:
        """False while some lines (older ones, or most of a burst) are still estimated."""
        return self.lazy_end == 0

    def estimated(self, index: int) -> bool:
        """True when line ``index`` has an estimated height (not measured yet)."""
        return self.lazy_start <= index < self.lazy_end

    def locate(self, y: int) -> tuple[int, int] | None:
        """(message index, row within it) of virtual row ``y``, or None outside."""
        if y < 0 or y >= self.total:
            return None
        index = bisect_right(self.offsets, y) - 1
        return index, y - self.offsets[index]

    def behind(self) -> bool:
        """True when the store changed since the last :meth:`sync` (lines trimmed from the
        top, added, edited or re-laid out): positions here may no longer be the store's, so
        sync before :meth:`measure_chunk`."""
        store = self.store
        return (
            store.dropped != self._dropped
            or store.version != self._version
            or store.epoch != self._epoch
        )

    def stale(self, width: int) -> bool:
        """True when :meth:`sync` must re-lay out everything."""
        return (
            width != self.width
            or self.store.epoch != self._epoch
            or self.router.users_version != self._users_version
        )

    # ------------------------------------------------------------------ updates

    def sync(self, width: int) -> SyncResult:
        """Bring the index up to date with the store at ``width``."""
        store = self.store
        if self.stale(width):
            appended = max(0, store.appended - self._appended_seen) if self.width else 0
            self.rebuild(width)
            result = SyncResult(appended, True)
        else:
            result = self._update_incremental()
        self._appended_seen = store.appended
        return result

    def rebuild(self, width: int) -> None:
        """Lay everything out again at ``width`` (lazily for long conversations)."""
        self.width = width
        self._epoch = self.store.epoch
        self._dropped = self.store.dropped
        self._version = self.store.version
        self._users_version = self.router.users_version
        self.generation += 1
        messages = self.store.messages
        n = len(messages)
        if n > LAZY_AFTER:
            k = n - LAZY_TAIL
            self.seqs = [m.seq for m in messages[:k]]
            self.heights = [1] * k
            self.ctxs = [NO_CTX] * k
            self._days = [None] * k
            self._days[k - 1] = render.day_key(messages[k - 1].sent)
            self.lazy_start, self.lazy_end = 0, k
            self._measure_span(k, n)
        else:
            self.heights, self.seqs, self.ctxs, self._days = [], [], [], []
            self.lazy_start = self.lazy_end = 0
            self._measure_span(0, n)
        self._reoffset(0)

    def measure_chunk(self) -> bool:
        """Measure the next chunk of estimated (older) lines; True if more remain.  The index
        must not be :meth:`behind` its store (a ValueError says so, rather than measuring the
        wrong lines)."""
        if self.lazy_end <= 0:
            return False
        if self.behind():
            raise ValueError("line index behind its store: sync first")
        end = self.lazy_end
        start = max(self.lazy_start, end - LAZY_CHUNK)
        if start > self.lazy_start:  # the line above is estimated too: its day is not known
            self._days[start - 1] = render.day_key(self.store.messages[start - 1].sent)
        self._measure_span(start, end)
        self.lazy_end = start
        if start == self.lazy_start:
            self.lazy_start = self.lazy_end = 0
        if end < len(self.heights):  # the first exactly measured line may lose its separator
            self.ctxs[end] = self._context_at(end)
            message = self.store.messages[end]
            self.heights[end] = self.layout.measure(message, self.ctxs[end], self.width)
        self._reoffset(start)
        return not self.complete

    def _append_lazily(self, known: int) -> None:
        """Index the lines ``known..``: the newest LAZY_BURST_TAIL measured, the others
        estimated at one row (measure_chunk measures them later, with any still estimated
        above)."""
        messages = self.store.messages
        n = len(messages)
        k = n - LAZY_BURST_TAIL
        count = k - known
        self.seqs[known:] = [m.seq for m in messages[known:k]]
        self.heights[known:] = [1] * count
        self.ctxs[known:] = [NO_CTX] * count
        self._days[known:] = [None] * count
        self._days[k - 1] = render.day_key(messages[k - 1].sent)
        if self.complete:
            self.lazy_start = known
        self.lazy_end = k  # one span: lines measured between two bursts are measured again
        self._measure_span(k, n)
        self._reoffset(known)

    def _measure_from(self, start: int) -> None:
        """Measure messages ``start..`` (replacing the index from there) and fix offsets."""
        del self.heights[start:], self.ctxs[start:], self._days[start:], self.seqs[start:]
        self._measure_span(start, len(self.store.messages))
        self._reoffset(start)

    def _measure_span(self, start: int, end: int) -> None:
        """(Re)measure messages ``start..end`` into the index lists (offsets not updated)."""
        messages = self.store.messages
        days = self._days
        prev_day = days[start - 1] if start > 0 else None
        prev = messages[start - 1] if start > 0 else None
        marker = self.store.first_unread_seq
        width = self.width
        measure = self.layout.measure
        day_key = render.day_key
        heights: list[int] = []
        ctxs: list[Ctx] = []
        new_days: list[int | None] = []
        seqs: list[int] = []
        for i in range(start, end):
            message = messages[i]
            day = day_key(message.sent) if message.sent is not None else None
            context = ctx(
                day is not None and day != prev_day,
                message.seq == marker and i > 0,  # nothing above: no "new" line needed
                prev is not None
                and message.thread_title is not None
                and prev.thread_title is not None
                and prev.thread_id == message.thread_id,
            )
            ctxs.append(context)
            seqs.append(message.seq)
            heights.append(measure(message, context, width))
            if day is not None:
                prev_day = day
            new_days.append(prev_day)
            prev = message
        self.heights[start:end] = heights
        self.ctxs[start:end] = ctxs
        self._days[start:end] = new_days
        self.seqs[start:end] = seqs

    def _reoffset(self, start: int) -> None:
        heights = self.heights
        if start <= 0 or not self.offsets:
            offsets = array("q", accumulate(heights, initial=0))
            del offsets[len(heights) :]
            self.offsets = offsets
        else:
            offsets = self.offsets
            del offsets[start:]
            base = offsets[start - 1] + heights[start - 1]
            offsets.extend(accumulate(heights[start:], initial=base))
            del offsets[len(heights) :]
        self.total = (self.offsets[-1] + heights[-1]) if heights else 0

    def _remeasure(self, index: int) -> None:
        message = self.store.messages[index]
        context = self._context_at(index)
        self.ctxs[index] = context
        height = self.layout.measure(message, context, self.width)
        if height != self.heights[index]:
            self.heights[index] = height
            self._reoffset(index)

    def _context_at(self, index: int) -> Ctx:
        messages = self.store.messages
        message = messages[index]
        prev = messages[index - 1] if index > 0 else None
        prev_day = self._days[index - 1] if index > 0 else None
        day = render.day_key(message.sent) if message.sent is not None else None
        return ctx(
            day is not None and day != prev_day,
            message.seq == self.store.first_unread_seq and index > 0,
            prev is not None
            and message.thread_title is not None
            and prev.thread_title is not None
            and prev.thread_id == message.thread_id,
        )

    def _update_incremental(self) -> SyncResult:
        store = self.store
        dropped = store.dropped - self._dropped
        if dropped:
            dropped = min(dropped, len(self.heights))
            del self.heights[:dropped], self.ctxs[:dropped], self._days[:dropped]
            del self.seqs[:dropped]
            self.offsets = array("q")
            self._dropped = store.dropped
            self.lazy_end = max(0, self.lazy_end - dropped)
            self.lazy_start = max(0, self.lazy_start - dropped)
            if self.lazy_start >= self.lazy_end:
                self.lazy_start = self.lazy_end = 0
            if self.heights:
                # the new first message lost its predecessor (day separator, grouping)
                self._days[0] = render.day_key(store.messages[0].sent)
                self.ctxs[0] = self._context_at(0)
                self.heights[0] = self.layout.measure(store.messages[0], self.ctxs[0], self.width)
            self._reoffset(0)
        changed = store.changed_since(self._version)
        known = len(self.heights)
        if changed is None:
            self.rebuild(self.width)
            return SyncResult(0, True)
        for seq in set(changed):
            index = store.index_of(seq)
            if index is not None and index < known and not self.estimated(index):
                self._remeasure(index)
        appended = len(store) - known
        if appended > LAZY_BURST_TAIL:  # a burst: measure its newest lines, estimate the rest
            self._append_lazily(known)
        elif appended > 0:
            self._measure_from(known)
        self._version = store.version
        return SyncResult(max(appended, 0), False)
