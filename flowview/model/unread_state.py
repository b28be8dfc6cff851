"""Read state and unread counting of a conversation store: the ``unread`` and ``mentions``
counters, the "new" marker (``first_unread_seq``, armed when the user leaves a conversation)
and the read position (``read_id``) restored after a restart.

`UnreadState` is a base of `ConversationStore` (model/store.py), not an object it holds: the
router's hot path (``append_newest``) counts a line without an extra call or attribute.  The
store's ``__init__`` sets the state declared below.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Final

from flowview.model.stored_message import StoredMessage

log = logging.getLogger(__name__)

__all__ = ["UNREAD_KINDS", "UnreadState"]

# Kinds that count towards a conversation's unread number when sent by someone else.
UNREAD_KINDS: Final = frozenset({"message", "comment", "line", "file", "activity", "discussion"})


class UnreadState:
    """Unread counting, the "new" marker and the read position (see the module docstring)."""

    if TYPE_CHECKING:  # set by ConversationStore.__init__
        me_id: str | None
        version: int
        unread: int
        mentions: int
        first_unread_seq: int | None
        read_id: int | None
        _messages: list[StoredMessage]
        _by_seq: dict[int, StoredMessage]
        _mention_seqs: set[int]
        _marker_armed: bool
        # unread state of messages not in memory (see model/archive_window.py)
        _hidden_unread: int
        _hidden_newest: int | None
        _hidden_mentions: deque[int]

        @property
        def newest_id(self) -> int | None: ...

        def _touch_seq(self, seq: int) -> None: ...

    def _count_mentions(self) -> None:
        self.mentions = len(self._mention_seqs) + len(self._hidden_mentions)

    def count_unread(self, message: StoredMessage) -> None:
        """Count ``message`` (already added) as unread; called by the router for messages
        from others. Places the "new" marker on it if the marker is armed."""
        if message.seq not in self._by_seq:
            return
        self.unread += 1
        if self._marker_armed:
            self._marker_armed = False
            self._set_marker(message.seq)
        if message.mention and not message.deleted:
            message.mention_unread = True
            self._mention_seqs.add(message.seq)
            self._count_mentions()
        self.version += 1

    def _set_marker(self, seq: int | None) -> None:
        old = self.first_unread_seq
        if old == seq:
            return
        self.first_unread_seq = seq
        # both messages change height (the marker row moves), so views must re-lay them out
        for changed in (old, seq):
            if changed is not None:
                self._touch_seq(changed)

    def mark_read(self) -> None:
        """Everything shown has been read: zero ``unread`` and ``mentions``. The "new" marker
        stays where it is (it shows where reading stopped) until :meth:`clear_marker` or
        :meth:`arm_marker`.  ``read_id`` moves up to the newest id (routed, when detached)."""
        newest = self.newest_id
        if self._hidden_newest is not None and (newest is None or self._hidden_newest > newest):
            newest = self._hidden_newest
        if newest is not None and (self.read_id is None or newest > self.read_id):
            self.read_id = newest
        self._hidden_unread = 0
        if not self.unread and not self._mention_seqs:
            return
        self.unread = 0
        self._hidden_mentions.clear()
        for seq in self._mention_seqs:
            message = self._by_seq.get(seq)
            if message is not None:
                message.mention_unread = False
        self._mention_seqs.clear()
        self.mentions = 0
        self.version += 1

    def restore_unread(self, read_id: int | None, hidden: int = 0) -> None:
        """Unread state from a saved read position (a restart): messages after ``read_id``
        from others count as unread, ``hidden`` more that are not in memory; the "new"
        marker goes on the first of them."""
        if read_id is None:
            return
        self.read_id = read_id
        self._hidden_unread = max(0, hidden)
        self.recount_unread()

    def recount_unread(self) -> None:
        """Count again what is unread after ``read_id`` (history merged after a restore:
        messages back-filled from while the viewer was closed are unread too)."""
        read_id = self.read_id
        if read_id is None:
            return
        unread = self._hidden_unread
        first: int | None = None
        mentions: set[int] = set()
        for message in reversed(self._messages):
            if message.id is None:
                continue
            if message.id <= read_id:
                break
            if (
                message.deleted
                or message.kind not in UNREAD_KINDS
                or (self.me_id is not None and message.user_id == self.me_id)
            ):
                continue
            unread += 1
            first = message.seq
            if message.mention:
                mentions.add(message.seq)
                message.mention_unread = True
        self.unread = unread
        self._mention_seqs = mentions
        self._count_mentions()
        if first is not None:
            self._marker_armed = False
            self._set_marker(first)
        self.version += 1

    def arm_marker(self) -> None:
        """The next unread message becomes the first-unread marker (call when the user leaves
        the conversation). The current marker stays until then."""
        self._marker_armed = True

    def clear_marker(self) -> None:
        """Remove the "new" marker and disarm it."""
        self._marker_armed = False
        self._set_marker(None)

    def _counts_unread(self, message: StoredMessage) -> bool:
        return (
            message.id is not None
            and not message.deleted
            and message.kind in UNREAD_KINDS
            and (self.me_id is None or message.user_id != self.me_id)
        )
