"""REST loaders of the viewer: a conversation's history (latest page, older pages, the
start-up seam) and a flow's members.  UI-free: the app runs these in workers and repaints.

The start-up seam (issue 8): the history of the shown tab is loaded while the stream is still
connecting, so a message posted in between is in neither.  A history page fetched before the
stream was live is remembered with its newest id; once the stream is live, everything after
that id is fetched and merged (the store drops duplicates by id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowview.archive.archive import ArchivedMessage
from flowview.model.render import format_day, format_time
from flowview.model.store import ConversationStore, StoredMessage
from flowview.protocol.events import ConversationKey, Event
from flowview.tui.session import Session, describe_error, network_error_types

if TYPE_CHECKING:
    from flowview.protocol.rest import HistoryPage

log = logging.getLogger(__name__)

__all__ = [
    "HISTORY_PAGE",
    "SEAM_PAGES",
    "HistoryLoader",
    "MembersLoader",
    "jump_needs_window",
    "unreached_text",
]

HISTORY_PAGE = 100
# How far a seam is filled page by page (a warm start after a long absence can be far behind):
# beyond this the latest page is shown and a gap marker says what was not loaded.
SEAM_PAGES = 10
# Reads of the archive below a detached window before giving up for now (live lines may
# still be queued for the archive's writer: it is flushed between tries).
CATCH_UP_TRIES = 3


def _when(ms: int | None) -> str:
    return f"{format_day(ms)} {format_time(ms)}" if ms is not None else "?"


def unreached_text(after: Event | None, before: Event | None) -> str:
    """The gap marker between what a seam back-fill reached and the latest page."""
    after_ms = after.sent if after is not None else None
    before_ms = before.sent if before is not None else None
    return (
        f"messages between {_when(after_ms)} and {_when(before_ms)} not loaded "
        f"(more than {SEAM_PAGES * HISTORY_PAGE} behind)"
    )


def jump_needs_window(store: ConversationStore, message_id: int, reach: int) -> bool:
    """Whether a jump to `message_id` (not in memory) must replace the window (see
    `HistoryLoader.window_at`) rather than merge `reach` messages of context into it: a
    detached window takes nothing it does not join, and a full one would drop them at once."""
    if store.get(message_id) is not None:
        return False
    return store.detached or len(store) + reach > store.cap


def _rebuilt(rows: list[ArchivedMessage]) -> list[Event]:
    events: list[Event] = []
    for row in rows:
        try:
            events.append(row.event())
        except ValueError:
            log.exception("an archived message could not be rebuilt (skipped)")
    return events


def _newest(events: list[Event]) -> int | None:
    ids = [e.id for e in events if e.id is not None]
    return max(ids) if ids else None


class HistoryLoader:
    """Pages of REST history into the router's stores; remembers what is loaded."""

    def __init__(self, session: Session, on_changed: Callable[[ConversationKey], None]) -> None:
        self.session = session
        self.on_changed = on_changed
        self.loaded: set[ConversationKey] = set()
        self.busy: set[ConversationKey] = set()
        # Whether the stream is live now (set by the app from the stream's state changes).
        self.live = False
        # key -> the archived page read below the window and the hole under it (if any).
        self._below: dict[ConversationKey, tuple[list[Event], tuple[int, int] | None]] = {}
        # key -> newest id of a history page fetched before the stream was live.
        self.seams: dict[ConversationKey, int | None] = {}

    async def load(self, key: ConversationKey, older: bool = False) -> None:
        """The latest page (or the page before the oldest loaded message, `older`)."""
        session = self.session
        store = session.router.stores.get(key)
        until_id = store.oldest_id if (older and store is not None) else None
        if older and until_id is None:
            return
        if older and until_id is not None and await self._older_from_archive(key, until_id):
            self.on_changed(key)
            return  # the archive had them: no REST call
        before_live = not self.live
        try:
            events = await self.fetch(key, until_id)
        except network_error_types():
            if older and self._offline_past_hole(key):
                self.on_changed(key)
                return
            raise
        if events is None:
            return
        if older:
            session.router.merge_older(key, events)  # a full store drops its newest
        else:
            session.router.merge_history(key, events)
        session.archive.events(events)
        if older:
            self._hole_fetched(key, events)
        else:
            await self._note_hole_below(key, events)
        if not older:
            self.loaded.add(key)
            if before_live:
                newest = _newest(events)
                if self.live:
                    await self.close_seam(key, newest)  # went live while we fetched
                else:
                    self.seams[key] = newest
        elif not events and store is not None:
            store.history_complete = True
        self.on_changed(key)

    # ---------------------------------------------------------------- the archive as a window
    # Scrolling up reads older messages from the archive first; REST is asked only where the
    # archive lacks them: below its oldest message, and across a recorded hole (see
    # Archive.holes), which each REST page narrows until it closes.

    async def _older_from_archive(self, key: ConversationKey, until_id: int) -> bool:
        """Merge the archived page before `until_id`; False when REST must answer (nothing
        archived there, or a hole right below)."""
        archive = self.session.archive.archive
        if archive is None:
            return False

        def read() -> tuple[list[Event], list[tuple[int, int]]]:
            rows = archive.before(key, until_id, HISTORY_PAGE)
            return _rebuilt(rows), archive.holes(key)

        events, holes = await asyncio.to_thread(read)
        below = [h for h in holes if h[1] <= until_id]
        hole = below[-1] if below else None
        self._below[key] = (events, hole)
        if hole is not None:
            events = [e for e in events if e.id is not None and e.id >= hole[1]]
        if not events:
            return False
        self.session.router.merge_older(key, events)
        return True

    # Below a detached window (the user scrolled back past the cap): newer pages come back
    # from the archive as the user scrolls down, the oldest leave, until the live end.

    async def load_newer(self, key: ConversationKey) -> bool:
        """The archived page below a detached window; True when the window reached the live
        end and was reattached."""
        store = self.session.router.stores.get(key)
        if store is None or not store.detached:
            return False
        newest = store.newest_id
        if newest is None:
            return await self.jump_to_end(key)
        for _ in range(CATCH_UP_TRIES):
            events = await self._newer_page(key, newest)
            if events is None:
                return False  # nothing to read them from: stay detached
            self.session.router.merge_newer(key, events)
            await self._mark_holes(key, newest, _newest(events))
            self.on_changed(key)
            if len(events) >= HISTORY_PAGE:
                return False  # more below: the next scroll to the end reads on
            if self._caught_up(key):
                store.reattach()
                self.on_changed(key)
                return True
            newest = store.newest_id or newest
            await self._archive_flushed()  # live lines still on their way to the archive
        return False

    async def jump_to_end(self, key: ConversationKey) -> bool:
        """End on a detached window: the newest page replaces the window (attached again)."""
        session = self.session
        store = session.router.stores.get(key)
        if store is None or not store.detached:
            return False
        await self._archive_flushed()
        archive = session.archive.archive
        if archive is not None:
            rows = await asyncio.to_thread(archive.tail, key, HISTORY_PAGE)
            events: list[Event] | None = _rebuilt(rows)
        else:
            events = await self.fetch(key, None)
        if events is None:
            return False
        store.drop_window()
        session.router.merge_newer(key, events)
        store.history_complete = False  # older pages are to be read again
        ids = [e.id for e in events if e.id is not None]
        if ids:
            await self._mark_holes(key, min(ids), max(ids))
        if self._caught_up(key):
            store.reattach()
        self.on_changed(key)
        return not store.detached

    async def window_at(self, key: ConversationKey, message_id: int) -> StoredMessage | None:
        """A jump (search hit, hidden mention) to a message a full or detached window cannot
        take with its context: the archived page around it replaces the window, which stays
        detached unless it reaches the live end.  None: the archive does not hold it."""
        session = self.session
        archive = session.archive.archive
        store, _ = session.router.open(key)
        if archive is None:
            return store.get(message_id)
        await archive.aflush()
        half = max(1, HISTORY_PAGE // 2)
        rows = await asyncio.to_thread(archive.around, key, message_id, half, half)
        if not any(row.id == message_id for row in rows):
            return None
        newer = sum(1 for row in rows if row.id > message_id)
        store.drop_window()
        session.router.merge_newer(key, _rebuilt(rows))
        store.history_complete = False
        await self._mark_holes(key, rows[0].id, rows[-1].id)
        if newer < half and self._caught_up(key):
            store.reattach()
        self.on_changed(key)
        return store.get(message_id)

    async def _mark_holes(self, key: ConversationKey, low: int, high: int | None) -> None:
        """Read back below the window from `low` to `high`: a recorded hole in between (the
        archive lacks those messages) gets a gap marker, so the join is never silent."""
        archive = self.session.archive.archive
        if archive is None or high is None or high <= low:
            return
        holes = await asyncio.to_thread(archive.holes, key)
        store, _ = self.session.router.open(key)
        for after, before in holes:
            if not low <= after < high:
                continue
            upper, lower = store.get(before), store.get(after)
            text = (
                f"messages between {_when(lower.sent if lower else None)} and "
                f"{_when(upper.sent if upper else None)} not loaded (not in the archive)"
            )
            store.add_after(StoredMessage(store.new_seq(), None, "gap", None, None, text), after)

    def _caught_up(self, key: ConversationKey) -> bool:
        store = self.session.router.stores.get(key)
        if store is None:
            return True
        hidden, newest = store.hidden_newest, store.newest_id
        return hidden is None or (newest is not None and newest >= hidden)

    async def _archive_flushed(self) -> None:
        archive = self.session.archive.archive
        if archive is not None:
            await archive.aflush()

    async def _newer_page(self, key: ConversationKey, since_id: int) -> list[Event] | None:
        """Up to HISTORY_PAGE messages after `since_id`: the archive's, else REST's."""
        archive = self.session.archive.archive
        if archive is not None:
            rows = await asyncio.to_thread(archive.after, key, since_id, HISTORY_PAGE)
            return _rebuilt(rows)
        page = await self._page(key, since_id)
        return None if page is None else page.events

    def _hole_fetched(self, key: ConversationKey, events: list[Event]) -> None:
        """A REST page older than the window: it narrows (or closes) the hole it was for."""
        _, hole = self._below.pop(key, ([], None))
        archive = self.session.archive.archive
        if hole is None or archive is None:
            return
        after, _ = hole
        ids = [e.id for e in events if e.id is not None]
        archive.remove_hole(key, after)
        if len(events) >= HISTORY_PAGE and ids and min(ids) > after + 1:
            archive.add_hole(key, after, min(ids))

    def _offline_past_hole(self, key: ConversationKey) -> bool:
        """REST failed at a hole: mark it and go on with the archive below it (offline)."""
        events, hole = self._below.pop(key, ([], None))
        if hole is None:
            return False
        after, before = hole
        store, _ = self.session.router.open(key)
        older = [e for e in events if e.id is not None and e.id <= after]
        newest_older = max(older, key=lambda e: e.id or 0) if older else None
        upper = store.get(before)
        text = (
            f"messages between {_when(newest_older.sent if newest_older else None)} and "
            f"{_when(upper.sent if upper else None)} not loaded (server unreachable)"
        )
        marker = StoredMessage(store.new_seq(), None, "gap", None, None, text)
        with store.older_page():
            store.add_after(marker, after)
        self.session.router.merge_older(key, older)
        return True

    async def _note_hole_below(self, key: ConversationKey, events: list[Event]) -> None:
        """A full latest page above older archived messages: what lies between is a hole."""
        archive = self.session.archive.archive
        ids = [e.id for e in events if e.id is not None]
        if archive is None or len(events) < HISTORY_PAGE or not ids:
            return
        lowest = min(ids)
        older = await asyncio.to_thread(archive.newest_before, key, lowest)
        if older is not None:
            archive.add_hole(key, older, lowest)

    def warm(self, key: ConversationKey, newest_id: int | None) -> None:
        """`key` shows its archived tail (warm start): no latest page on first show; once the
        stream is live, everything after the newest archived id is fetched (a seam)."""
        self.loaded.add(key)
        if self.live:
            log.warning("warm start after the stream went live: %s is not back-filled", key)
            return
        self.seams[key] = newest_id

    def went_live(self) -> dict[ConversationKey, int | None]:
        """The stream is live: the seams to close now (the caller runs `close_seam`s)."""
        self.live = True
        seams, self.seams = self.seams, {}
        return seams

    def stream_restarted(self) -> None:
        """A new stream connection starts from "now": every loaded store has a seam again."""
        self.live = False
        for key in self.loaded:
            store = self.session.router.stores.get(key)
            newest = store.newest_id if store is not None else None
            if store is not None and store.detached and store.hidden_newest is not None:
                newest = max(newest or 0, store.hidden_newest)  # the newest routed, not shown
            self.seams[key] = newest

    async def close_seam(self, key: ConversationKey, since_id: int | None) -> None:
        """Fetch and merge what was posted after `since_id` (all of the latest page if None)."""
        session = self.session
        if since_id is None:
            events = await self.fetch(key, None)
        else:
            events = await self._since(key, since_id)
        if events:
            store = session.router.stores.get(key)
            if store is not None and store.detached:  # below the window: counted, not stored
                added = session.router.merge_below(key, events)
            else:
                added = session.router.merge_history(key, events)
            session.archive.events(events)
            if store is not None:
                store.recount_unread()  # posted while closed: unread after a restored position
            log.info("start-up seam of %s: %d messages added", key, added)
            self.on_changed(key)

    async def _since(self, key: ConversationKey, since_id: int) -> list[Event] | None:
        """Everything after `since_id`, up to SEAM_PAGES pages; further behind, the latest
        page with a gap marker after what the pages reached."""
        events: list[Event] = []
        cursor = since_id
        for _ in range(SEAM_PAGES):
            page = await self._page(key, cursor)
            if page is None:
                return None
            events += page.events
            if page.last:
                return events
            cursor = page.cursor
        latest = await self.fetch(key, None) or []
        latest = [e for e in latest if e.id is not None and e.id > cursor]
        if len(latest) >= HISTORY_PAGE:  # a full page newer than the cursor: a hole between
            reached = max(events, key=lambda e: e.id or 0) if events else None
            self._unreached(key, cursor, reached, min(latest, key=lambda e: e.id or 0))
        return events + latest

    def _unreached(
        self, key: ConversationKey, after_id: int, after: Event | None, before: Event
    ) -> None:
        store, _ = self.session.router.open(key)
        marker = StoredMessage(
            store.new_seq(), None, "gap", None, None, unreached_text(after, before)
        )
        store.add_after(marker, after_id)
        archive = self.session.archive.archive
        if archive is not None and before.id is not None:
            archive.add_hole(key, after_id, before.id)
        log.info("seam of %s: more than %d pages behind, gap after %d", key, SEAM_PAGES, after_id)

    async def _page(self, key: ConversationKey, since_id: int) -> HistoryPage | None:
        session = self.session
        kind, ident = key
        rest = session.rest
        if kind == "flow":
            slug = self._slug(ident)
            return (
                None if slug is None else await rest.flow_page(slug, since_id, limit=HISTORY_PAGE)
            )
        other = self._other_party(ident)
        return (
            None if other is None else await rest.private_page(other, since_id, limit=HISTORY_PAGE)
        )

    def _slug(self, flow_id: str) -> str | None:
        """The flow's "org/flow": from /flows, else from the names the archive gave the router
        (a warm start while /flows failed must still back-fill once the server answers)."""
        flow = self.session.flows_by_id.get(flow_id)
        if flow is not None:
            return flow.slug
        info = self.session.router.flows.get(flow_id)
        return info.slug if info is not None and info.slug else None

    def _other_party(self, ident: str) -> str | None:
        me = self.session.router.me_id
        others = [part for part in ident.split(":") if part != me]
        return others[0] if others else None

    async def fetch(self, key: ConversationKey, until_id: int | None) -> list[Event] | None:
        session = self.session
        kind, ident = key
        if kind == "flow":
            slug = self._slug(ident)
            if slug is None:
                return None
            return await session.rest.messages(
                slug, until_id=until_id, limit=HISTORY_PAGE, sort="desc"
            )
        other = self._other_party(ident)
        if other is None:
            return None
        return await session.rest.private_messages(
            other, until_id=until_id, limit=HISTORY_PAGE, sort="desc"
        )


class MembersLoader:
    """A flow's members from `/flows/:org/:flow/users`, once per flow (again after a failure)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.loaded: set[ConversationKey] = set()

    def wants(self, key: ConversationKey) -> bool:
        return key[0] == "flow" and key not in self.loaded

    async def load(self, key: ConversationKey) -> bool:
        """True when members were added to the router."""
        session = self.session
        flow = session.flows_by_id.get(key[1])
        if flow is None:
            return False
        self.loaded.add(key)
        try:
            users = await session.rest.flow_users(flow.slug)
        except network_error_types() as exc:
            self.loaded.discard(key)  # try again next time the tab is shown
            log.warning("members of %s: %s", flow.slug, describe_error(exc, session.token))
            raise
        session.router.add_users(users, flow_id=key[1])
        return True
