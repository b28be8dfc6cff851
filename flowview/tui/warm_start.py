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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from flowview.archive import Archive
from flowview.archive.archive import FlowInfo
from flowview.protocol.events import ConversationKey, Event

if TYPE_CHECKING:
    from flowview.tui.loaders import HistoryLoader
    from flowview.tui.screens.main import MainScreen
    from flowview.tui.session import Session
    from flowview.tui.triage import ReadState

log = logging.getLogger(__name__)

__all__ = ["WARM_PRIVATE", "WARM_TAIL", "WarmPlan", "WarmTab", "read_plan", "warm_start"]

WARM_TAIL: Final = 200  # archived messages per tab at start (older ones load on scrolling up)
WARM_PRIVATE: Final = 10  # private conversations reopened at start, most recent first
WARM_UNREAD_MAX: Final = 2000  # unread messages loaded at start to open at the first of them
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
    seconds: float = 0.0  # how long reading took


def _tab(archive: Archive, key: ConversationKey, tail: int, me: str | None) -> WarmTab:
    archived = archive.tail(key, tail)
    position = archive.read_position(key)
    unread = 0
    if position is not None:
        unread = archive.unread_count(key, me)
        if archived and archived[0].id > position:
            # The first unread line is older than the tail: start a little above it, so the
            # tab opens there with context, when the unread part is not too long to hold.
            since = archive.after(key, position, WARM_UNREAD_MAX)
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


def read_plan(
    archive: Archive,
    chosen: Sequence[str],
    private: bool,
    *,
    me: str | None = None,
    tail: int | None = None,
) -> WarmPlan:
    """The tabs to show from `archive`: the chosen flows it knows (by slug or id, in order),
    then its most recent private conversations (when private messages are on)."""
    started = time.perf_counter()
    tail = WARM_TAIL if tail is None else tail
    plan = WarmPlan()
    flows = archive.flows()
    plan.flows = list(flows.values())
    by_slug = {f.slug: f for f in plan.flows}
    plan.users = [
        {"id": uid, "nick": nick, "name": name} for uid, (nick, name) in archive.users().items()
    ]
    for name in chosen:
        info = by_slug.get(name) or flows.get(name)
        if info is None:
            continue
        key: ConversationKey = ("flow", info.id)
        if key not in plan.flow_keys:
            plan.flow_keys.append(key)
            plan.tabs.append(_tab(archive, key, tail, me))
    if private:
        privates = [k for k in archive.conversations() if k[0] == "private"]
        newest = {k: archive.newest_id(k) or 0 for k in privates}
        privates.sort(key=lambda k: newest[k], reverse=True)
        plan.tabs += [_tab(archive, k, tail, me) for k in privates[:WARM_PRIVATE]]
    plan.seconds = time.perf_counter() - started
    return plan


async def warm_start(
    session: Session, history: HistoryLoader, main: MainScreen, read_state: ReadState | None = None
) -> WarmPlan | None:
    """Show the archived tails (see the module docstring); None when there is no archive."""
    settings = session.settings
    link = session.archive
    if not await link.open_known(settings.api_url, settings.me_id):
        return None
    archive = link.archive
    if archive is None:
        return None
    try:
        plan = await asyncio.to_thread(
            read_plan, archive, settings.flows, settings.private, me=link.user_id
        )
    except Exception:  # a damaged archive must not stop the viewer: it starts cold
        log.exception("warm start: reading the archive failed")
        return None
    router = session.router
    if link.user_id and not router.me_id:
        router.set_me(link.user_id)
    router.add_flows(plan.flows)
    router.add_users(plan.users)
    main.set_flow_order(plan.flow_keys)
    for tab in plan.tabs:
        store, _ = router.open(tab.key)
        router.merge_history(tab.key, tab.events)
        if tab.read_position is not None:
            store.restore_unread(tab.read_position)
            if tab.unread > store.unread:  # more unread than the tail holds
                store.restore_unread(tab.read_position, hidden=tab.unread - store.unread)
            if read_state is not None:
                read_state.restored(tab.key, tab.read_position)
        history.warm(tab.key, tab.newest_id)
        await main.add_conversation(store, router)
    log.info(
        "warm start: %d tabs, %d archived messages read in %.3f s",
        len(plan.tabs),
        sum(len(t.events) for t in plan.tabs),
        plan.seconds,
    )
    return plan


def forget_warm(session: Session, history: HistoryLoader, plan: WarmPlan) -> None:
    """The warm start showed another user's archive: empty those stores, load them again."""
    for tab in plan.tabs:
        store = session.router.stores.get(tab.key)
        if store is not None:
            store.clear()
        history.loaded.discard(tab.key)
        history.seams.pop(tab.key, None)
