"""Bounded per-conversation message stores.

A :class:`ConversationStore` holds the messages of one flow or private conversation, ordered by
Flowdock id (ids are per conversation and increase over time), without duplicates, bounded to
``cap`` messages (the oldest are dropped). Edits, reactions and tag changes are applied in place
and bump the message's ``version``; views compare versions instead of re-rendering everything.

Change tracking for views (see ``FlowLog.refresh_from_store``):

* ``version`` bumps on every change of any kind.
* ``epoch`` bumps when positions change other than by appending at the end or dropping from the
  front (a history merge inserting older messages, ``clear()``): a view then rebuilds its index.
* ``dropped`` counts messages ever dropped from the front; ``appended`` counts messages ever
  appended at the end. With the same ``epoch``, a view that saw ``(dropped0, appended0)`` knows
  exactly which rows went away at the top and which are new at the bottom.
* ``changed_since(version)`` lists the seqs of messages changed in place since ``version``.

Messages without a Flowdock id (system lines, gap markers) sort right after the last message
that was present when they were added, so a gap marker stays above back-filled history;
`add_after` places one right after a given id instead ("messages after this one may be
missing"), and `remove` takes such an entry out again.

The store is built from its jobs: the stored message and its tag bounds
(model/stored_message.py), unread counting and the read position (model/unread_state.py) and
the sliding window over the archive (model/archive_window.py), the last two as bases of
`ConversationStore` so the hot path pays no extra call.  Their names are re-exported here.
"""

from __future__ import annotations

import contextlib
import logging
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Final

from flowview.model.archive_window import ArchiveWindow, WindowState
from flowview.model.stored_message import (
    MAX_REACTIONS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MESSAGE_FIELDS,
    Kind,
    StoredMessage,
    bounded_tags,
)
from flowview.model.unread_state import UNREAD_KINDS
from flowview.protocol.events import ConversationKey

log = logging.getLogger(__name__)

__all__ = [
    "MAX_REACTIONS",
    "MAX_TAGS",
    "MAX_TAG_CHARS",
    "UNREAD_KINDS",
    "ConversationStore",
    "Kind",
    "StoredMessage",
    "ThreadStore",
    "WindowState",
    "bounded_tags",
]

_JOURNAL: Final = 2048
_SEQ_BITS: Final = 32
_SEQ_SPAN: Final = (1 << _SEQ_BITS) - 1
# Unconfirmed outbox lines sort after every Flowdock id, in typing order.  The base is the
# last id slot that keeps keys in 64 bits (ids below 2**31 - 1), so sending never turns a
# store's machine-int keys into a list of int objects (see ConversationStore._keys).
_PENDING_BASE: Final = ((1 << 31) - 1) << _SEQ_BITS


class ConversationStore(ArchiveWindow):
    """Messages of one conversation, ordered, deduplicated by id and bounded to ``cap``.

    Read access: ``len(store)``, iteration, ``store[i]`` (position), ``get(id)``,
    ``by_seq(seq)``, ``index_of(seq)``. Counters: ``unread``, ``mentions``,
    ``first_unread_seq`` (where the "new" marker goes). See the module docstring for
    change tracking; unread counting and the window over the archive are its bases'
    (`UnreadState`, `ArchiveWindow`).
    """

    def __init__(
        self,
        key: ConversationKey,
        title: str,
        cap: int = 10_000,
        *,
        me_id: str | None = None,
    ) -> None:
        self.key: ConversationKey = key
        self.title: str = title
        self.cap: int = max(1, cap)
        self.me_id: str | None = me_id
        self._messages: list[StoredMessage] = []
        # Parallel sort keys (see _sort_key), machine ints: 8 bytes a message instead of an
        # int object and a list slot (40).  A key too big for 64 bits (a huge id) turns the
        # array into a list for good (_wide_keys).
        self._keys: array[int] | list[int] = array("q")
        self._by_seq: dict[int, StoredMessage] = {}
        # Sort keys of the entries without an id (gap markers, system lines: a few); an entry
        # with an id has the key id << _SEQ_BITS.  Positions and ids are found by bisecting
        # _keys, not kept per message (a seq -> position dict cost ~70 bytes a message, an
        # id -> message dict ~60).
        self._idless_keys: dict[int, int] = {}
        # thread id -> seq of its only message, or the seqs of its messages, oldest first.
        # Most threads hold one message (every message starts one): a bare int instead of a
        # one-item list saves ~110 bytes and a garbage-collected object per message.
        self._threads: dict[str, int | list[int]] = {}
        self._journal: deque[tuple[int, int]] = deque(maxlen=_JOURNAL)
        self._next_seq = 0
        self.version = 0
        self.epoch = 0
        self.dropped = 0
        self.appended = 0
        self.unread = 0
        self.mentions = 0
        self._mention_seqs: set[int] = set()
        self.first_unread_seq: int | None = None
        self._marker_armed = True
        self.history_complete = False  # set by the app when "load older" returns nothing
        # The newest id the user has read (None: unknown, nothing restored or read yet), and
        # how many unread messages after it are not in memory (see restore_unread).
        self.read_id: int | None = None
        self._hidden_unread = 0
        # outbox uuid -> seq of its pending line; those lines are the tail of `_messages`.
        self._pending: dict[str, int] = {}
        # The window over the archive (see the section "the window" below).
        self.window: WindowState = "attached"
        self._trim_newest = False  # inside older_page(): a full store drops its newest
        self._hidden_floor: int | None = None  # smallest id not in memory above the window
        self._hidden_newest: int | None = None  # newest id routed while detached
        self._hidden_marker: int | None = None  # id that gets the "new" marker when back
        self._hidden_mentions: deque[int] = deque(maxlen=self.cap)  # unread, not in memory

    # ------------------------------------------------------------------ read access

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[StoredMessage]:
        return iter(self._messages)

    def __getitem__(self, index: int) -> StoredMessage:
        return self._messages[index]

    @property
    def messages(self) -> list[StoredMessage]:
        """The ordered list (read-only by convention: mutate through the methods)."""
        return self._messages

    def get(self, message_id: int) -> StoredMessage | None:
        keys = self._keys
        key = message_id << _SEQ_BITS
        if not keys or key > keys[-1]:
            return None  # newer than everything stored: the common case of a new message
        index = bisect_left(keys, key)
        if index < len(keys) and keys[index] == key:
            return self._messages[index]
        return None

    def by_seq(self, seq: int) -> StoredMessage | None:
        return self._by_seq.get(seq)

    def index_of(self, seq: int) -> int | None:
        """Current position of the message with ``seq``, or None if it is not stored.
        O(log n): a bisection of the sort keys."""
        message = self._by_seq.get(seq)
        if message is None:
            return None
        key = self._key_of(message)
        index = bisect_left(self._keys, key)
        if index < len(self._messages) and self._messages[index] is message:
            return index
        log.error("store index out of step for seq %d; searching", seq)
        for index, stored in enumerate(self._messages):  # never expected: keys are unique
            if stored is message:
                return index
        return None

    def _key_of(self, message: StoredMessage) -> int:
        """The sort key ``message`` was inserted with (it is stored)."""
        if message.id is not None:
            return message.id << _SEQ_BITS
        return self._idless_keys[message.seq]

    @property
    def oldest_id(self) -> int | None:
        """Smallest stored Flowdock id: pass it as ``until_id`` to load older history."""
        for message in self._messages:
            if message.id is not None:
                return message.id
        return None

    @property
    def newest_id(self) -> int | None:
        """Largest stored Flowdock id (for ``since_id`` back-fill)."""
        for message in reversed(self._messages):
            if message.id is not None:
                return message.id
        return None

    def thread_seqs(self, thread_id: str) -> list[int]:
        """Seqs of the stored messages of a thread, oldest first."""
        seqs = self._threads.get(thread_id)
        if seqs is None:
            return []
        return [seqs] if isinstance(seqs, int) else list(seqs)

    def has_thread(self, thread_id: str) -> bool:
        """True when some stored message belongs to ``thread_id``."""
        return thread_id in self._threads

    def thread_messages(self, thread_id: str) -> list[StoredMessage]:
        by_seq = self._by_seq
        return [by_seq[s] for s in self.thread_seqs(thread_id) if s in by_seq]

    def changed_since(self, version: int) -> list[int] | None:
        """Seqs changed in place after ``version``; None if the journal no longer reaches back
        that far (the caller should then re-check everything)."""
        if version >= self.version:
            return []
        journal = self._journal
        if len(journal) == journal.maxlen and journal[0][0] > version + 1:
            return None
        return [seq for v, seq in journal if v > version]

    def sync(self) -> None:
        """Hook for derived stores (see :class:`ThreadStore`); a no-op here."""

    # ------------------------------------------------------------------ insertion

    def new_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _sort_key(self, message: StoredMessage) -> int:
        # One int per message (cheaper than a tuple): the id in the high bits; id-less items
        # take the newest id present now plus their seq, so they sort right after it.
        if message.id is not None:
            return message.id << _SEQ_BITS
        keys = self._keys
        settled = len(keys) - len(self._pending)  # pending lines are the tail: skip them
        last = keys[settled - 1] >> _SEQ_BITS if settled > 0 else -1
        return (last << _SEQ_BITS) + 1 + (message.seq % _SEQ_SPAN)

    def add(self, message: StoredMessage) -> bool:
        """Insert a message at its place by id. Returns False for a duplicate id.

        ``message.seq`` must come from :meth:`new_seq` (or a parent store, for derived
        stores). Appending at the end is O(1); inserting older history costs O(n).
        """
        if message.id is not None and self.get(message.id) is not None:
            return False
        self._insert(message, self._sort_key(message))
        return True

    def add_new(self, message: StoredMessage) -> bool:
        """`add` for a message whose id the caller has just checked is not stored (the
        router's hot path): no second look-up.  Returns False when it was pruned at once
        (older than everything a full store keeps)."""
        message_id = message.id  # _sort_key's first case, without the call
        key = message_id << _SEQ_BITS if message_id is not None else self._sort_key(message)
        self._insert(message, key)
        return message.seq in self._by_seq

    def append_newest(self, message: StoredMessage, *, unread: bool) -> bool:
        """`add_new` and, when `unread`, `count_unread`, in one call, for the router's hot path
        (a live chat line): when `message` has an id newer than everything stored, the window
        is attached, no outbox line is pending and no older page is being merged, it takes the
        next seq (whatever it held) and goes at the end.  Otherwise nothing changes and the
        result is False: the caller takes the general path (a differential test checks the
        two agree)."""
        message_id = message.id
        keys = self._keys
        if (
            message_id is None
            or self._pending
            or self.window != "attached"
            or self._trim_newest
            or message_id < 0
        ):
            return False
        key = message_id << _SEQ_BITS
        if (keys and keys[-1] >= key) or key >= 1 << 63:
            return False
        seq = message.seq = self._next_seq
        self._next_seq = seq + 1
        # _insert's append at the end, for an entry with an id
        keys.append(key)
        messages = self._messages
        messages.append(message)
        self.appended += 1
        self._by_seq[seq] = message
        thread_id = message.thread_id
        if thread_id is not None:
            if thread_id not in self._threads:
                self._threads[thread_id] = seq
            else:
                self._remember_thread(message, in_order=True)
        self.version += 1
        if len(messages) > self.cap:
            self._prune()  # drops from the front: never the message just added
        if unread:
            if self._marker_armed or message.mention:
                self.count_unread(message)
            else:  # count_unread's common case
                self.unread += 1
                self.version += 1
        return True

    def add_after(self, message: StoredMessage, after_id: int | None) -> None:
        """Insert an id-less entry right after the message with id `after_id` (whether or not
        it is stored), before every later id; None: before every id.  Later entries placed
        after the same id follow it."""
        if message.id is not None:
            raise ValueError("add_after is for entries without a Flowdock id")
        base = after_id if after_id is not None else -1
        self._insert(message, (base << _SEQ_BITS) + 1 + (message.seq % _SEQ_SPAN))

    def remove(self, seq: int) -> StoredMessage | None:
        """Take the entry with `seq` out (a gap marker whose hole is filled); None if absent.

        Positions change, so ``epoch`` bumps and views rebuild their index."""
        message = self._by_seq.get(seq)
        if message is None:
            return None
        if message.outbox is not None:
            self._pending = {u: s for u, s in self._pending.items() if s != seq}
        index = self.index_of(seq)
        assert index is not None  # stored, so it has a position
        del self._messages[index]
        del self._keys[index]
        self._forget(message)
        self.epoch += 1
        self.version += 1
        return message

    def _insert(self, message: StoredMessage, key: int) -> None:
        keys = self._keys
        at_end = not keys or keys[-1] <= key
        if not -(1 << 63) <= key < 1 << 63 and isinstance(keys, array):
            keys = self._keys = list(keys)  # a key past 64 bits: plain ints from now on
        if at_end:
            keys.append(key)
            self._messages.append(message)
            self.appended += 1
        else:
            index = bisect_left(keys, key)
            keys.insert(index, key)
            self._messages.insert(index, message)
            self.epoch += 1
        if message.id is None:
            self._idless_keys[message.seq] = key
        self._by_seq[message.seq] = message
        thread_id = message.thread_id
        if thread_id is not None:
            if thread_id not in self._threads:
                self._threads[thread_id] = message.seq  # a new thread: _remember_thread's case
            else:
                self._remember_thread(message, in_order=at_end)
        self.version += 1
        if len(self._messages) > self.cap:
            self._prune()

    def _remember_thread(self, message: StoredMessage, *, in_order: bool) -> None:
        """Add `message` (with a thread id) to its thread's seqs; `in_order`: it is the newest
        of its thread, so no sort is needed."""
        thread_id = message.thread_id
        assert thread_id is not None
        threads = self._threads
        seqs = threads.get(thread_id)
        if seqs is None:
            threads[thread_id] = message.seq
        else:
            if isinstance(seqs, int):
                seqs = threads[thread_id] = [seqs]
            seqs.append(message.seq)
            if not in_order:
                seqs.sort(key=self._seq_order)

    def _seq_order(self, seq: int) -> tuple[int, int]:
        message = self._by_seq.get(seq)
        if message is None or message.id is None:
            return (-1, seq)
        return (message.id, -1)

    def _prune(self) -> None:
        excess = len(self._messages) - self.cap
        if excess <= 0:
            return
        if self._trim_newest:
            self.trim_newest(excess)
            return
        for message in self._cut_front(excess):
            self._forget(message)

    def _cut_front(self, count: int) -> list[StoredMessage]:
        """Take the `count` oldest entries out (views see them as `dropped`); the caller
        forgets them."""
        gone = self._messages[:count]
        del self._messages[:count]
        del self._keys[:count]
        self.dropped += count
        return gone

    def _forget(self, message: StoredMessage) -> None:
        if message.id is None:
            self._idless_keys.pop(message.seq, None)
        self._by_seq.pop(message.seq, None)
        self._forget_thread(message)
        if message.seq in self._mention_seqs:
            self._mention_seqs.discard(message.seq)
            self._count_mentions()
        if self.first_unread_seq == message.seq:
            self.first_unread_seq = None

    def clear(self) -> None:
        """Forget every message (counters too)."""
        self._messages.clear()
        self._keys = array("q")
        self._by_seq.clear()
        self._idless_keys.clear()
        self._threads.clear()
        self._mention_seqs.clear()
        self._hidden_mentions.clear()
        self._pending.clear()
        self.unread = self.mentions = 0
        self.first_unread_seq = None
        self.epoch += 1
        self.version += 1

    # ------------------------------------------------------------------ outbox lines

    def add_pending(self, message: StoredMessage, uuid: str) -> None:
        """Show an outbox item at once, below every message, until `confirm_pending`."""
        if message.id is not None or uuid in self._pending:
            raise ValueError("a pending line has no Flowdock id and a new uuid")
        if message.outbox is None:
            message.outbox = "sending"
        self._pending[uuid] = message.seq
        self._insert(message, _PENDING_BASE + (message.seq % _SEQ_SPAN))

    def pending_line(self, uuid: str) -> StoredMessage | None:
        seq = self._pending.get(uuid)
        return self._by_seq.get(seq) if seq is not None else None

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def set_pending_state(self, uuid: str, note: str) -> StoredMessage | None:
        """Change what a pending line says about its state ("sending", "failed: …")."""
        message = self.pending_line(uuid)
        if message is not None and message.outbox != note:
            message.outbox = note
            self._touch(message)
        return message

    def drop_pending(self, uuid: str) -> StoredMessage | None:
        """A discarded item: its line goes away."""
        seq = self._pending.pop(uuid, None)
        return self.remove(seq) if seq is not None else None

    def confirm_pending(self, uuid: str, real: StoredMessage) -> StoredMessage | None:
        """The server's copy of a pending line arrived (`real`, built from the echo or the
        REST answer): the line becomes it where it stands, once; None if nothing is pending.

        It stays in place when its id sorts there (the usual case: nothing newer arrived in
        between); otherwise it moves to its place by id, since a store is ordered by id."""
        seq = self._pending.get(uuid)
        message = self._by_seq.get(seq) if seq is not None else None
        if message is None or real.id is None or self.get(real.id) is not None:
            return None
        index = self.index_of(message.seq)
        assert index is not None  # found by seq
        key = real.id << _SEQ_BITS
        keys = self._keys
        first_pending = len(keys) - len(self._pending)  # where our line is when in order
        in_order = index == first_pending and (index == 0 or keys[index - 1] <= key)
        if not in_order:
            self.remove(message.seq)  # (forgets its thread and pending entry too)
        else:
            self._forget_thread(message)
            del self._pending[uuid]
        for name in MESSAGE_FIELDS:
            setattr(message, name, getattr(real, name))
        message.outbox = None
        if not in_order:
            message.version += 1
            self.add(message)
            return message
        keys[index] = key
        self._idless_keys.pop(message.seq, None)  # it has an id now: its key is id << 32
        if message.thread_id is not None:
            # A confirmed line is the newest of its thread.
            self._remember_thread(message, in_order=True)
        self._touch(message)
        return message

    def _forget_thread(self, message: StoredMessage) -> None:
        if message.thread_id is None:
            return
        seqs = self._threads.get(message.thread_id)
        if isinstance(seqs, int):
            if seqs == message.seq:
                del self._threads[message.thread_id]
        elif seqs is not None:
            with contextlib.suppress(ValueError):
                seqs.remove(message.seq)
            if not seqs:
                del self._threads[message.thread_id]

    # ------------------------------------------------------------------ in-place changes

    def _touch(self, message: StoredMessage) -> None:
        message.version += 1
        self.version += 1
        self._journal.append((self.version, message.seq))

    def _touch_seq(self, seq: int) -> None:
        message = self._by_seq.get(seq)
        if message is not None:
            self._touch(message)
        else:
            self.version += 1

    def _note_changed(self, seq: int) -> None:
        """Journal a change of a message whose object was already updated elsewhere."""
        self.version += 1
        self._journal.append((self.version, seq))

    def edit(
        self,
        message_id: int,
        text: str | None = None,
        title: str | None = None,
        *,
        deleted: bool = False,
    ) -> StoredMessage | None:
        """Apply a ``message-edit``: new (sanitised) text and/or title, or a deletion.
        Returns the message, or None if it is not stored."""
        message = self.get(message_id)
        if message is None:
            return None
        if deleted:
            message.deleted = True
            message.text = ""
            if message.seq in self._mention_seqs:
                self._mention_seqs.discard(message.seq)
                message.mention_unread = False
                self._count_mentions()
        else:
            if text is not None:
                message.text = text
            if title is not None:
                message.title = title
            message.deleted = False
        message.edited = True
        self._touch(message)
        return message

    def react(
        self, message_id: int, emoji: str, added: bool, user: str | None = None
    ) -> StoredMessage | None:
        """Apply an ``emoji-reaction``: counts per emoji (removals never go below zero)."""
        message = self.get(message_id)
        if message is None or not emoji:
            return None
        reactions = message.reactions or {}
        if emoji not in reactions and (not added or len(reactions) >= MAX_REACTIONS):
            return None
        count = reactions.get(emoji, 0) + (1 if added else -1)
        if count > 0:
            reactions[emoji] = count
        else:
            reactions.pop(emoji, None)
        message.reactions = reactions or None
        self._touch(message)
        return message

    def retag(
        self, message_id: int, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> StoredMessage | None:
        """Apply a ``tag-change``. Removing ``:unread:<me>`` marks that mention as read."""
        message = self.get(message_id)
        if message is None:
            return None
        remove_set = set(remove)
        tags = [t for t in message.tags if t not in remove_set]
        present = set(tags)
        for tag in add:
            if len(tags) >= MAX_TAGS:
                break
            if tag not in present and len(tag) <= MAX_TAG_CHARS:
                tags.append(tag)
                present.add(tag)
        message.tags = bounded_tags(tags)
        if (
            self.me_id is not None
            and f":unread:{self.me_id}" in remove_set
            and message.seq in self._mention_seqs
        ):
            self._mention_seqs.discard(message.seq)
            message.mention_unread = False
            self._count_mentions()
        self._touch(message)
        return message


class ThreadStore(ConversationStore):
    """A live view of one thread of a parent store. It shares the parent's message objects
    (so edits show at once) and keeps up with the parent through :meth:`sync`, which views
    call on refresh."""

    def __init__(self, parent: ConversationStore, thread_id: str, title: str = "") -> None:
        super().__init__(parent.key, title or parent.title, cap=parent.cap, me_id=parent.me_id)
        self.parent = parent
        self.thread_id = thread_id
        self._marker_armed = False
        self._seen_version = -1
        self.sync()

    def sync(self) -> None:
        """Pull new thread messages and in-place changes from the parent."""
        parent = self.parent
        if parent.version == self._seen_version:
            return
        changed = parent.changed_since(self._seen_version) if self._seen_version >= 0 else []
        for message in parent.thread_messages(self.thread_id):
            if message.seq not in self._by_seq:
                self.add(message)
        mine = self._by_seq
        seqs = [m.seq for m in self._messages] if changed is None else changed
        for seq in seqs:
            if seq in mine:
                self._note_changed(seq)
        self._seen_version = parent.version
