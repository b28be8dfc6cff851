"""Read state the user can trust (issue 10 item 4): where reading stopped, kept across restarts.

A conversation counts as read once the user has seen its end: then its read position (the
newest id) is saved in the archive.  Opening a tab with unread messages shows the first unread
line, marker visible, instead of the bottom; the tab is "held" until that view is laid out so
that the bottom of a log not yet measured never counts as seen.  The keys: first unread, next
mention anywhere, mark this conversation read, mark everything read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowview.model.store import ConversationStore
from flowview.protocol.events import ConversationKey

if TYPE_CHECKING:
    from flowview.tui.archive_link import ArchiveLink
    from flowview.tui.widgets.flow_log import FlowLog

log = logging.getLogger(__name__)

__all__ = ["ReadState", "next_mention", "reveal", "reveal_later"]

# Lines of context kept above the first unread one when a tab opens there.
CONTEXT_ROWS = 2
LAYOUT_TRIES = 20  # frames to wait for a tab's log to be laid out before giving up


def reveal(log_widget: FlowLog, seq: int, *, select: bool = False, centre: bool = False) -> bool:
    """Scroll `log_widget` so the message `seq` (and the "new" line above it) is near the top
    (`centre`: in the middle, context above and below), and stop following the bottom; False
    when it is not laid out yet."""
    log_widget.refresh_from_store()
    if not log_widget.size.height:
        log.info("reveal: the log has no size yet")
        return False
    store = log_widget.store
    index = store.index_of(seq)
    line_index = log_widget._index  # FlowLog has no public "scroll to a message" yet
    if index is None or index >= len(line_index):
        log.info("reveal: message %s not laid out (%s of %d)", seq, index, len(line_index))
        return False
    log_widget._following = False
    above = log_widget.size.height // 3 if centre else CONTEXT_ROWS
    top = max(0, line_index.offsets[index] + log_widget._top - above)
    log_widget.scroll_to(y=top, animate=False, immediate=True)
    if select:
        log_widget.select_seq(seq)
    log_widget.refresh()
    return True


def reveal_later(
    log_widget: FlowLog,
    seq: int,
    *,
    select: bool = False,
    centre: bool = False,
    then: Callable[[bool], None] = lambda ok: None,
    still: Callable[[], bool] = lambda: True,
) -> None:
    """`reveal` once the log is laid out (a tab just shown is, over its next frames); `then`
    gets whether it worked; nothing happens once `still()` is False."""
    tries = [LAYOUT_TRIES]

    def attempt() -> None:
        if not still():
            return
        if reveal(log_widget, seq, select=select, centre=centre):
            then(True)
            return
        tries[0] -= 1
        if tries[0] > 0:
            log_widget.call_after_refresh(attempt)
        else:
            then(False)

    log_widget.call_after_refresh(attempt)


def next_mention(
    stores: list[ConversationStore], current: ConversationKey | None, after_seq: int | None
) -> tuple[ConversationKey, int] | None:
    """The next unread mention after `after_seq` in `current`, else the first one in the
    following conversations (tab order, wrapping), else an earlier one in `current`."""
    keys = [s.key for s in stores]
    start = keys.index(current) if current in keys else 0
    ring = stores[start:] + stores[:start]
    for n, store in enumerate(ring):
        for message in store:
            if not message.mention_unread:
                continue
            if n == 0 and store.key == current and after_seq is not None:
                index, here = store.index_of(message.seq), store.index_of(after_seq)
                if index is not None and here is not None and index <= here:
                    continue
            return store.key, message.seq
    if current in keys:
        store = stores[start]
        for message in store:
            if message.mention_unread:
                return store.key, message.seq
    return None


class ReadState:
    """Saves read positions when conversations are read; holds tabs opening at their first
    unread line until that line is shown."""

    def __init__(
        self,
        archive: Callable[[], ArchiveLink | None],
        on_read: Callable[[ConversationStore], None] = lambda store: None,
    ) -> None:
        self._archive = archive
        self.on_read = on_read  # a conversation became read: relabel its tab
        self._saved: dict[ConversationKey, int] = {}
        self.held: set[ConversationKey] = set()

    def saw_end(self, store: ConversationStore) -> bool:
        """The user has seen the end of `store`: it is read (unless held); True if so."""
        if store.key in self.held:
            return False
        store.mark_read()
        self.save(store)
        self.on_read(store)
        return True

    def mark_read(self, store: ConversationStore) -> None:
        """Explicitly read (the keys): read, the "new" line gone, saved."""
        self.held.discard(store.key)
        store.mark_read()
        store.clear_marker()
        self.save(store)
        self.on_read(store)

    def save(self, store: ConversationStore) -> None:
        read_id = store.read_id
        if read_id is None or self._saved.get(store.key, -1) >= read_id:
            return
        link = self._archive()
        if link is None or link.archive is None:
            return
        self._saved[store.key] = read_id
        link.read_position(store.key, read_id)

    def restored(self, key: ConversationKey, read_id: int | None) -> None:
        """A position loaded from the archive (nothing to save until it moves on)."""
        if read_id is not None:
            self._saved[key] = max(read_id, self._saved.get(key, -1))

    def open_at_first_unread(self, store: ConversationStore, log_widget: FlowLog) -> bool:
        """A tab is shown: with unread messages and a "new" line, show that line, not the
        bottom (after the next refresh, when the log is laid out).  True when held."""
        seq = store.first_unread_seq
        if not store.unread or seq is None:
            return False
        key = store.key
        self.held.add(key)
        log_widget._following = False  # the first refresh must not jump to the bottom

        def shown(ok: bool) -> None:
            if key not in self.held:
                return
            if not ok:
                log.info("first unread line of %s was never laid out", key[0])
            self.held.discard(key)
            if log_widget.at_bottom:  # everything unread fits on the screen: seen
                self.saw_end(store)

        reveal_later(log_widget, seq, then=shown, still=lambda: key in self.held)
        return True
