"""A run of consecutive line events as the writer's INSERT parameters, made as SQLite binds
them (see `LineRun`), and the INSERT and refresh statements those parameters are laid out for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Final

from flowview.archive import rows
from flowview.protocol.events import (
    ActionEvent,
    ActivityEvent,
    CommentEvent,
    DiscussionEvent,
    FileEvent,
    LineEvent,
    MessageEvent,
    StatusEvent,
    parse_event,
)

log = logging.getLogger(__name__)

# The classes of line events: one set lookup sends a message straight to its INSERT parameters
# (the batch loop's isinstance chain cost ~2 us per message, measured).
LINE_CLASSES: Final = frozenset(
    {
        MessageEvent,
        CommentEvent,
        StatusEvent,
        LineEvent,
        FileEvent,
        ActionEvent,
        ActivityEvent,
        DiscussionEvent,
    }
)


def is_line(op: Any) -> bool:
    """A line event, or the wire dict of one: stored as a message row."""
    kind = type(op)
    return kind in LINE_CLASSES or (kind is dict and op.get("event") in rows.LINE_KINDS)


class LineRun:
    """The INSERT parameters of consecutive line events of a batch, made one at a time as
    `executemany` binds them.  A list of a batch's 20,000 tuples, alive until the batch's
    INSERT, made the writer's allocations trigger the cyclic GC every ~700 messages (~0.5 us
    a message of collections in the writer thread, measured); made and freed one by one they
    trigger none.  An event that makes no row (no id, no conversation, a dict that does not
    parse) is counted in `skipped`.  Iterable again (a refresh re-reads it)."""

    __slots__ = ("end", "ops", "scrub", "skipped", "start")

    def __init__(self, ops: Sequence[Any], start: int, end: int) -> None:
        self.ops = ops
        self.start = start
        self.end = end
        self.scrub = False  # replace lone surrogates (see ArchiveWriter._insert_run)
        self.skipped = 0

    def __len__(self) -> int:
        return self.end - self.start

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        self.skipped = 0
        make = rows.message_params
        scrub = self.scrub
        # A slice, not islice: islice steps over the `start` operations before the run, so a
        # batch of many short runs (lines between edits) cost O(n) per run.
        for op in self.ops[self.start : self.end]:
            params = make(op) if type(op) is not dict else dict_params(op)
            if params is None:
                self.skipped += 1
            elif scrub:
                yield rows.scrubbed(params)
            else:
                yield params


def dict_params(op: dict[str, Any]) -> tuple[Any, ...] | None:
    try:
        event = parse_event(op)
    except ValueError:
        log.warning("archive skipped a value that is not an event")
        return None
    return rows.message_params(event)


# Parameters as rows.message_params makes them (NULLs as NO_TEXT / NO_INT, raw as str).
INSERT_SQL: Final = """
INSERT INTO messages (conv, id, kind, user, sent, text, tags, thread_id, uuid, deleted, raw)
VALUES (?, ?, ?, nullif(?, 0), nullif(?, ''), ?, ?, nullif(?, 0), nullif(?, 0), 0,
    CAST(? AS BLOB))
ON CONFLICT (conv, id) DO NOTHING
"""
# A second copy of a stored message (REST and stream overlap, a replay) refreshes it, except
# that an edited or deleted row wins over a copy of the original: edits only move forward.
REFRESH_SQL: Final = """
UPDATE messages SET kind = ?, user = nullif(?, 0), sent = nullif(?, ''), text = ?, tags = ?,
    thread_id = nullif(?, 0), uuid = nullif(?, 0), raw = CAST(? AS BLOB)
WHERE conv = ? AND id = ? AND deleted = 0 AND edited = 0
    AND (raw IS NOT CAST(? AS BLOB) OR text IS NOT ?)
"""
