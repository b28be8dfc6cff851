"""A stored line's thread: its sanitised thread id and, for a reply, its thread's title.

Thread ids are kept once per thread: a thread's first message keeps its plain id as it came
(`new_thread_id`), replies share the stored first message's id object (`thread_info`), and
anything else goes through one cache (`clean_thread_id`).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Final

from flowview.model.line_builders import plain_title
from flowview.model.sanitize import clean_name
from flowview.model.store import ConversationStore
from flowview.protocol.events import Event

log = logging.getLogger(__name__)

__all__ = ["MAX_THREAD_ID", "clean_thread_id", "new_thread_id", "thread_info"]

MAX_THREAD_ID: Final = 100  # characters of a thread id kept (clean_name's bound)


@lru_cache(maxsize=4096)
def clean_thread_id(raw: str) -> str:
    """Sanitised thread id; the cache hands every message of a recent thread the same string
    object.  Not sys.intern as well: that adds nothing to the cache's sharing, and puts one
    entry per thread in the interpreter-wide intern table, which grows in large steps."""
    return clean_name(raw, max_chars=MAX_THREAD_ID)


def new_thread_id(raw: str) -> str:
    """The sanitised id of a thread its first message starts (most chat lines start one):
    `clean_thread_id`'s, without its cache when the id is plain (printable ASCII without a
    space, not too long: clean_name gives it back as it is).  A new thread's id is new, so
    the cache could only miss (a fifth of routing a burst's line went into that miss);
    replies share the id object of the stored first message (`thread_info`)."""
    if len(raw) <= MAX_THREAD_ID and raw.isascii() and raw.isprintable() and " " not in raw:
        return raw
    return clean_thread_id(raw)


def thread_info(event: Event, store: ConversationStore) -> tuple[str | None, str | None]:
    """(thread_id, thread_title-if-reply) of `event`'s line in `store`."""
    raw_id = event.thread_id
    if raw_id is None:
        return None, None
    # event.thread_initial_message, with the usual int read straight from the dict
    thread = event.thread
    initial = thread.get("initial_message") if thread is not None else None
    if initial is not None and type(initial) is not int:
        initial = event.thread_initial_message
    if initial is not None and initial == event.id:
        return new_thread_id(raw_id), None  # the thread's first message
    thread_id = clean_thread_id(raw_id)
    # without thread.initial_message, a reply is a message of a thread already seen
    seqs = store.thread_seqs(thread_id)
    if initial is None and not seqs:
        return thread_id, None
    oldest = store.by_seq(seqs[0]) if seqs else None
    if oldest is not None and oldest.thread_id == thread_id:
        # one id object per stored thread (its first message's, which took no cache)
        thread_id = oldest.thread_id
    title = plain_title(event.thread_title)
    if not title:
        first = store.get(initial) if initial is not None else None
        if first is None:
            first = oldest
        if first is not None:
            title = clean_name(first.title or first.text, max_chars=40)
    return thread_id, title
