"""The accept step: decoded stream values -> stream items (sans-IO, no sockets, no clock).

One function for every case: typed events or raw pass-through (`flowview tail`), normal
delivery, and both sides of a make-before-break switch:

* a connection on *probation* (a reconfigure() candidate, not yet switched to) delivers
  nothing: it notes which (conversation, id) it holds, and has converged as soon as it holds
  one that was already delivered;
* while a candidate is on probation, the *old* connection delivers as usual and marks the
  candidate converged when it delivers something the candidate holds: both streams then
  overlap, so the old one can be closed without losing anything.

Every (conversation, id) is delivered once, through the shared :class:`Deduper`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowview.protocol.dedupe import Deduper
from flowview.protocol.events import ConversationKey, Event, parse_event
from flowview.protocol.items import RawEvent, Skipped, StreamItem
from flowview.protocol.text import printable

log = logging.getLogger(__name__)

__all__ = ["Acceptor", "Held"]


@dataclass
class Held:
    """A switch candidate's view of what it holds back (see the module docstring)."""

    keys: set[tuple[ConversationKey, int]] = field(default_factory=set)
    converged: Callable[[], None] = lambda: None


def _known_shape(value: dict[str, Any]) -> tuple[ConversationKey | None, int | None] | None:
    """(Event.key, Event.id) of an event of a common shape, read straight from the dict (the
    hot path of `tail`: no typed event is built), or None: parse_event decides then.

    A differential test checks that these are what parse_event gives.
    """
    get = value.get
    ident = get("id")
    if type(get("event")) is not str or not (ident is None or type(ident) is int):
        return None
    flow = get("flow")
    if type(flow) is str and flow:
        return ("flow", flow), ident
    if flow is not None:
        return None
    to = get("to")
    if to is None:  # no flow, no recipient (presence and the like)
        return None, ident
    user = get("user")
    if type(to) is str and to and type(user) is str and user:
        # A private message: both directions share one conversation.
        low, high = (to, user) if to < user else (user, to)
        return ("private", f"{low}:{high}"), ident
    return None


class Acceptor:
    def __init__(self, dedupe: Deduper, *, raw: bool) -> None:
        self.dedupe = dedupe
        self.raw = raw
        self.skipped = 0  # values and records that could not be used

    def accept(
        self,
        values: list[Any],
        texts: list[bytes] | None = None,
        skips: list[str] | None = None,
        *,
        probation: Held | None = None,
        watch: Held | None = None,
    ) -> tuple[list[StreamItem], int]:
        """Items for `values` (and Skipped notices for `skips`, which is emptied), and how
        many of them are events delivered for the first time.

        `texts`: raw mode, the record bytes aligned with `values` (ignored if not aligned).
        `probation`: this connection is a switch candidate (deliver nothing new, hold it).
        `watch`: a candidate is on probation while this connection delivers.
        """
        out: list[StreamItem] = []
        if skips:
            self.skipped += len(skips)
            out.extend(Skipped(printable(r)) for r in skips)
            skips.clear()
        raw = self.raw
        if not raw and probation is None and watch is None:
            # The viewer's live connection, nothing switching: the same steps, fewer tests.
            return out, self._typed(values, out)
        aligned: list[bytes | None]
        if raw and texts is not None and len(texts) == len(values):
            aligned = texts  # type: ignore[assignment]  # read-only here: list is invariant
        else:
            aligned = [None] * len(values)
        first_time = self.dedupe.first_time
        seen = self.dedupe.seen
        new = 0
        key: ConversationKey | None
        for value, text in zip(values, aligned, strict=True):
            ev: Event | None = None
            known = _known_shape(value) if raw and type(value) is dict else None
            if known is not None:
                key, ident = known
            else:
                ev = self._parse(value, out)
                if ev is None:
                    continue
                key, ident = ev.key, ev.id
            if ident is not None and key is not None:
                if probation is not None:
                    if seen(key, ident):
                        probation.converged()
                        continue
                    probation.keys.add((key, ident))
                else:
                    if not first_time(key, ident):
                        continue
                    new += 1
                    if watch is not None and (key, ident) in watch.keys:
                        watch.converged()
            if raw:
                out.append(RawEvent(value, text, key, ident))
            else:
                assert ev is not None
                out.append(ev)
        return out, new

    def _typed(self, values: list[Any], out: list[StreamItem]) -> int:
        """`accept`'s loop for typed events with no switch going on (a differential test
        checks it against the general one): appends to `out`, returns how many are new."""
        parse = parse_event
        first_time = self.dedupe.first_time
        add = out.append
        new = 0
        for value in values:
            try:
                ev = parse(value)
            except ValueError as exc:
                self.skipped += 1
                add(Skipped(f"not a Flowdock event: {exc}"))
                continue
            ident = ev.id
            if ident is not None:
                flow = ev.flow
                key = ("flow", flow) if flow is not None else ev.key  # ev.key, mostly inline
                if key is not None:
                    if not first_time(key, ident):
                        continue
                    new += 1
            add(ev)
        return new

    def _parse(self, value: Any, out: list[StreamItem]) -> Event | None:
        try:
            return parse_event(value)
        except ValueError as exc:
            self.skipped += 1
            out.append(Skipped(f"not a Flowdock event: {exc}"))
            return None

    def admit(self, held: list[StreamItem]) -> tuple[list[StreamItem], int]:
        """A candidate's held items at the hand-over, minus what the old one delivered."""
        out: list[StreamItem] = []
        new = 0
        for item in held:
            if isinstance(item, Event | RawEvent):
                key, ident = item.key, item.id
                if key is not None and ident is not None:
                    if not self.dedupe.first_time(key, ident):
                        continue
                    new += 1
            out.append(item)
        return out, new
