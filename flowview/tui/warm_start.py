"""Warm start: every chosen tab shows its archived tail before the network answers.

The archive is opened from what the last run saved (the user id in the settings, else the one
archive whose meta names this server), so it works with the server down.  Archived events go
through `Router.merge_history`, the path REST history takes: hostile text is cleaned exactly
as live text is.  Each warm tab then counts as loaded, with a seam at its newest archived id:
once the stream is live the history loader fetches everything after it (see loaders.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from flowview.archive import Archive
from flowview.archive.archive import FlowInfo
from flowview.protocol.events import ConversationKey, Event

if TYPE_CHECKING:
    from flowview.model.store import ConversationStore
    from flowview.tui.loaders import HistoryLoader
    from flowview.tui.screens.main import MainScreen
    from flowview.tui.session import Session
    from flowview.tui.triage import ReadState

log = logging.getLogger(__name__)

__all__ = [
    "WARM_PRIVATE",
    "WARM_TAIL",
    "WarmPlan",
    "WarmTab",
    "adopt",
    "fill_store",
    "read_plan",
    "read_tab",
    "recent_private",
    "warm_start",
]

WARM_TAIL: Final = 200  # archived messages per tab at start (older ones load on scrolling up)
WARM_PRIVATE: Final = 10  # private conversations reopened at start, most recent first
WARM_UNREAD_MAX: Final = 2000  # unread messages loaded at start to open at the first of them
FRAME_WAIT: Final = 0.5  # seconds the other tabs wait for the first one's frame at most
WARM_CONTEXT: Final = 20  # read messages kept above the first unread one


@dataclass(frozen=True, slots=True)
class WarmTab:
    key: ConversationKey
    events: list[Event]
    newest_id: int | None  # the back-fill's since_id
    read_position: int | None  # the newest id the user had seen (None: never read)
    unread: int = 0  # archived messages after the read position (others', not deleted)


@dataclass(slots=True)
class WarmPlan:
    """What the archive says to show at start (read in a thread: no UI work)."""

    flows: list[FlowInfo] = field(default_factory=list)
    users: list[dict[str, str]] = field(default_factory=list)
    flow_keys: list[ConversationKey] = field(default_factory=list)  # chosen, in saved order
    tabs: list[WarmTab] = field(default_factory=list)
    seconds: float = 0.0  # how long the warm start took (reads and tabs)


def _tab(archive: Archive, key: ConversationKey, tail: int, me: str | None) -> WarmTab:
    archived = archive.tail(key, tail)
    position = archive.read_position(key)
    unread = 0
    if position is not None:
        unread = archive.unread_count(key, me)
        if archived and archived[0].id > position and unread <= WARM_UNREAD_MAX:
            # The first unread line is older than the tail: start a little above it, so the
            # tab opens there with context, when the unread part is not too long to hold.
            since = archive.after(key, position, 2 * WARM_UNREAD_MAX)
            if since and since[-1].id == archived[-1].id:
                archived = [*archive.before(key, position + 1, WARM_CONTEXT), *since]
    events: list[Event] = []
    for message in archived:
        try:
            events.append(message.event())
        except ValueError:
            log.exception("an archived message of %s could not be rebuilt (skipped)", key[0])
    newest = archived[-1].id if archived else None
    return WarmTab(key, events, newest, position, unread)


def read_plan(archive: Archive, chosen: Sequence[str]) -> WarmPlan:
    """Names for offline display and the chosen flows the archive knows (by slug or id, in
    the saved order); their tabs are read one by one (`read_tab`), the first shown first."""
    plan = WarmPlan()
    flows = archive.flows()
    plan.flows = list(flows.values())
    by_slug = {f.slug: f for f in plan.flows}
    plan.users = [
        {"id": uid, "nick": nick, "name": name} for uid, (nick, name) in archive.users().items()
    ]
    for name in chosen:
        info = by_slug.get(name) or flows.get(name)
        key: ConversationKey = ("flow", info.id) if info is not None else ("", "")
        if info is not None and key not in plan.flow_keys:
            plan.flow_keys.append(key)
    return plan


def recent_private(archive: Archive, limit: int | None = None) -> list[ConversationKey]:
    """The archive's private conversations, most recent first (at most WARM_PRIVATE)."""
    privates = [k for k in archive.conversations() if k[0] == "private"]
    newest = {k: archive.newest_id(k) or 0 for k in privates}
    privates.sort(key=lambda k: newest[k], reverse=True)
    return privates[: WARM_PRIVATE if limit is None else limit]


def read_tab(
    archive: Archive, key: ConversationKey, me: str | None, tail: int | None = None
) -> WarmTab:
    return _tab(archive, key, WARM_TAIL if tail is None else tail, me)


async def warm_start(
    session: Session,
    history: HistoryLoader,
    main: MainScreen,
    read_state: ReadState | None = None,
    on_first_tab: Callable[[], None] = lambda: None,
    prepared: WarmPlan | None = None,
    composed: ConversationKey | None = None,
) -> WarmPlan | None:
    """Show the archived tails (see the module docstring); None when there is no archive.
    Reads run in threads, one tab at a time: the first tab shows before the others are read.

    `prepared`: the plan tui/warm_prelude.py read while the app started, with its first tab
    read; `composed`: that tab's key when the main screen was composed with it (its first
    frame showed it: no need to wait for another before adding the other tabs)."""
    settings = session.settings
    link = session.archive
    if prepared is None and not await link.open_known(settings.api_url, settings.me_id):
        return None
    archive = link.archive
    if archive is None:
        return None
    started = time.perf_counter()
    me = link.user_id
    if prepared is not None:
        plan = prepared
    else:
        try:
            plan = await asyncio.to_thread(read_plan, archive, settings.flows)
        except Exception:  # a damaged archive must not stop the viewer: it starts cold
            log.exception("warm start: reading the archive failed")
            return None
    router = session.router
    if me and not router.me_id:
        router.set_me(me)
    if composed is None:  # else the prelude named them before composing
        router.add_flows(plan.flows)
        router.add_users(plan.users)
    main.set_flow_order(plan.flow_keys)
    read = {tab.key: tab for tab in plan.tabs}
    try:
        for shown, key in enumerate(plan.flow_keys, 1):
            await _show(session, history, main, read_state, plan, key, me, read.get(key))
            if shown == 1:
                on_first_tab()  # shown now: the other tabs are added behind it
                if key != composed:
                    await _painted(main)
        if settings.private:
            for key in await asyncio.to_thread(recent_private, archive):
                await _show(session, history, main, read_state, plan, key, me)
    except Exception:
        log.exception("warm start: reading the archive failed part-way")
    plan.seconds = time.perf_counter() - started
    log.info(
        "warm start: %d tabs, %d archived messages in %.3f s",
        len(plan.tabs),
        sum(len(t.events) for t in plan.tabs),
        plan.seconds,
    )
    return plan


async def _painted(main: MainScreen) -> None:
    """Wait for the next frame (the first archived one) before adding more tabs: each tab
    added re-lays out the screen, which would hold that frame back."""
    painted = asyncio.Event()
    main.call_after_refresh(painted.set)
    try:
        await asyncio.wait_for(painted.wait(), FRAME_WAIT)
    except TimeoutError:
        log.info("warm start: no frame within %.1f s; adding the other tabs", FRAME_WAIT)


async def _show(
    session: Session,
    history: HistoryLoader,
    main: MainScreen,
    read_state: ReadState | None,
    plan: WarmPlan,
    key: ConversationKey,
    me: str | None,
    tab: WarmTab | None = None,
) -> None:
    """A tab for `key` with its archived tail (`tab`: already read, maybe already shown)."""
    archive = session.archive.archive
    if archive is None:
        return
    if tab is None:
        tab = await asyncio.to_thread(read_tab, archive, key, me)
        plan.tabs.append(tab)
    router = session.router
    store = router.stores.get(key) if main.has(key) else None
    if store is None:
        store = fill_store(session, tab)
    adopt(history, read_state, tab)
    await main.add_conversation(store, router)


def fill_store(session: Session, tab: WarmTab) -> ConversationStore:
    """`tab`'s archived messages and unread count into its store (no UI work)."""
    store, _ = session.router.open(tab.key)
    session.router.merge_history(tab.key, tab.events)
    if tab.read_position is not None:
        store.restore_unread(tab.read_position)
        if tab.unread > store.unread:  # more unread than the tail holds
            store.restore_unread(tab.read_position, hidden=tab.unread - store.unread)
    return store


def adopt(history: HistoryLoader, read_state: ReadState | None, tab: WarmTab) -> None:
    """The session's loaders take over a warm tab: back-fill after its newest archived id,
    read position as archived.  (Before the tab is first shown: showing it loads history
    for tabs not loaded, and opens at the first unread line.)"""
    if tab.read_position is not None and read_state is not None:
        read_state.restored(tab.key, tab.read_position)
    history.warm(tab.key, tab.newest_id)


def forget_warm(session: Session, history: HistoryLoader, plan: WarmPlan) -> None:
    """The warm start showed another user's archive: empty those stores, load them again."""
    for tab in plan.tabs:
        store = session.router.stores.get(tab.key)
        if store is not None:
            store.clear()
        history.loaded.discard(tab.key)
        history.seams.pop(tab.key, None)
