"""The window over the archive (issue 11): a conversation store is a sliding window over its
archived messages.

Pages older than the window are merged inside `older_page()`: a full store then drops its NEWEST
messages (still archived) and is "detached" from the live end.  While detached, live messages
newer than the window are not stored (`hide`): they count as unread (and mentions) all the same.
Pages read back below the window (`readmit`) drop the oldest as usual, until the window reaches
the live end and `reattach`es.  Memory stays bounded by `cap` whatever happens.

`ArchiveWindow` is a base of `ConversationStore` (model/store.py), not an object it holds: the
hot path (``append_newest``) reads ``window`` and ``_trim_newest`` as the store's own
attributes.  The store's ``__init__`` sets the state declared below.
"""

from __future__ import annotations

import logging
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final, Literal

from flowview.model.stored_message import StoredMessage
from flowview.model.unread_state import UnreadState
from flowview.protocol.events import ConversationKey

log = logging.getLogger(__name__)

__all__ = ["WINDOW_MOVES", "ArchiveWindow", "WindowState"]

# "attached" while the store's bottom is the live end, "detached" once older pages pushed its
# newest messages out (they stay in the archive).
WindowState = Literal["attached", "detached"]
WINDOW_MOVES: Final[dict[WindowState, frozenset[WindowState]]] = {
    "attached": frozenset({"detached"}),
    "detached": frozenset({"detached", "attached"}),
}


class ArchiveWindow(UnreadState):
    """The store's place over the archive (see the module docstring)."""

    if TYPE_CHECKING:  # set by ConversationStore.__init__
        key: ConversationKey
        cap: int
        epoch: int
        history_complete: bool
        window: WindowState
        _keys: array[int] | list[int]
        _pending: dict[str, int]
        _trim_newest: bool
        _hidden_floor: int | None
        _hidden_marker: int | None

        def _forget(self, message: StoredMessage) -> None: ...

        def _cut_front(self, count: int) -> list[StoredMessage]: ...

    @property
    def detached(self) -> bool:
        """True while newer messages exist below the window (in the archive, not here)."""
        return self.window == "detached"

    def _set_window(self, state: WindowState) -> None:
        if state not in WINDOW_MOVES[self.window]:
            raise ValueError(f"window: {self.window} -> {state} is not allowed")
        if state != self.window:
            log.debug("window of %s: %s -> %s", self.key[0], self.window, state)
        self.window = state

    @contextmanager
    def older_page(self) -> Iterator[None]:
        """Messages added inside are older than the newest ones: when the store is full, the
        newest are dropped instead of what was just added (see `trim_newest`)."""
        self._trim_newest = True
        try:
            yield
        finally:
            self._trim_newest = False

    def trim_newest(self, count: int) -> int:
        """Drop the `count` newest settled messages (pending outbox lines stay); the window
        is detached from then on.  Returns how many were dropped."""
        settled = len(self._messages) - len(self._pending)
        count = min(count, settled)
        if count <= 0:
            return 0
        start = settled - count
        gone = self._messages[start:settled]
        del self._messages[start:settled]
        del self._keys[start:settled]
        for message in gone:
            self._note_hidden(message)
            self._forget(message)
        self._set_window("detached")
        self._count_mentions()
        self.epoch += 1  # positions changed at the end: views rebuild their index
        self.version += 1
        return count

    def trim_oldest(self, keep: int) -> int:
        """Keep only the newest `keep` settled messages (pending outbox lines stay): the memory
        budget (model/budget.py) shrinks a conversation nobody is looking at.  What goes is
        still archived and comes back by scrolling up; its unread mentions and the "new"
        marker are kept by id, as for the window's newest end, so counts and alt+m/alt+u
        still find them.  Returns how many were dropped."""
        settled = len(self._messages) - len(self._pending)
        count = settled - max(0, keep)
        if count <= 0:
            return 0
        for message in self._cut_front(count):
            if message.id is not None:
                if message.seq in self._mention_seqs:
                    self._hidden_mentions.append(message.id)
                if self.first_unread_seq == message.seq:
                    self._hidden_marker = message.id
            self._forget(message)
        self._count_mentions()
        self.history_complete = False  # older lines are to be read again
        self.version += 1
        return count

    def beyond_window(self, message_id: int) -> bool:
        """True when a message with this id belongs below a detached window (not stored)."""
        if not self.detached:
            return False
        newest = self.newest_id
        return newest is None or message_id > newest

    def hide(self, message: StoredMessage, *, unread: bool) -> None:
        """A live message below a detached window: not stored (it is archived), but counted
        as unread (`unread`) and as an unread mention like `count_unread` would."""
        if message.id is None:
            return
        if self._hidden_newest is None or message.id > self._hidden_newest:
            self._hidden_newest = message.id
        if unread:
            if self._hidden_floor is None or message.id < self._hidden_floor:
                self._hidden_floor = message.id
            self.unread += 1
            self._hidden_unread += 1
            if self._marker_armed:
                self._marker_armed = False
                self._hidden_marker = message.id
            if message.mention and not message.deleted:
                self._hidden_mentions.append(message.id)
                self._count_mentions()
        self.version += 1

    def _note_hidden(self, message: StoredMessage) -> None:
        """`message` leaves the window at its newest end: keep its unread state by id."""
        if message.id is None:
            return
        if self._hidden_newest is None or message.id > self._hidden_newest:
            self._hidden_newest = message.id
        if self.read_id is not None and message.id <= self.read_id:
            return
        if self._counts_unread(message):
            if self._hidden_floor is None or message.id < self._hidden_floor:
                self._hidden_floor = message.id
            self._hidden_unread += 1
        if message.seq in self._mention_seqs:
            self._hidden_mentions.append(message.id)
        if self.first_unread_seq == message.seq:
            self._hidden_marker = message.id

    @property
    def hidden_newest(self) -> int | None:
        """The newest id that left or bypassed the window while detached (None: none)."""
        return self._hidden_newest

    @property
    def hidden_marker(self) -> int | None:
        """Id of the first unread message when it is below a detached window (alt+u)."""
        return self._hidden_marker

    @property
    def hidden_mentions(self) -> list[int]:
        """Ids of unread mentions below a detached window (alt+m loads them), oldest first."""
        return sorted(self._hidden_mentions)

    def readmit(self, messages: Iterable[StoredMessage]) -> None:
        """`messages` (just added from the archive, below the window) are back in memory:
        what was hidden about them (unread, mention, the "new" marker) is theirs again."""
        floor = self._hidden_floor
        read_id = self.read_id
        hidden = set(self._hidden_mentions)
        back: set[int] = set()
        for message in messages:
            if message.id is None or self._by_seq.get(message.seq) is not message:
                continue
            unread = (
                floor is not None
                and message.id >= floor
                and (read_id is None or message.id > read_id)
                and self._counts_unread(message)
            )
            if unread and self._hidden_unread:
                self._hidden_unread -= 1
            if message.id in hidden and message.mention and not message.deleted:
                back.add(message.id)
                message.mention_unread = True
                self._mention_seqs.add(message.seq)
            if message.id == self._hidden_marker:
                self._hidden_marker = None
                self._set_marker(message.seq)
        if back:
            self._hidden_mentions = deque(
                (i for i in self._hidden_mentions if i not in back), maxlen=self.cap
            )
        self._count_mentions()
        self.version += 1

    def drop_hidden_mention(self, message_id: int) -> bool:
        """An unread mention below a detached window was deleted, or read elsewhere (its
        ``:unread:`` tag removed): it no longer counts.  True when it was counted."""
        if message_id not in self._hidden_mentions:
            return False
        self._hidden_mentions.remove(message_id)
        self._count_mentions()
        self.version += 1
        return True

    def reattach(self) -> None:
        """The window reached the live end again: new lines are stored and followed."""
        if not self.detached:
            return
        self._set_window("attached")
        self._hidden_floor = self._hidden_newest = None
        self._hidden_marker = None
        self._count_mentions()

    def drop_window(self) -> None:
        """Forget every settled message but keep the counters (unread, mentions by id, the
        read position): the window is about to be replaced (End: the newest page)."""
        settled = len(self._messages) - len(self._pending)
        if settled:
            self.trim_newest(settled)
        self._set_window("detached")  # even when empty: the new window's place is unknown
