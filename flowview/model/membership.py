"""Membership events: ``flow-add``, ``flow-remove``, ``backend.user.join`` and
``backend.user.block``.  Each changes the directory (which flows, who is in them) and may leave a
system line in the conversation ("x joined the flow").

Module functions with the signature of `Router`'s state handlers (router, event, key): the
router's dispatch table calls them directly, as it calls its own methods.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flowview.model.routed import RouteResult
from flowview.model.sanitize import clean_name, clean_text
from flowview.model.stored_message import StoredMessage
from flowview.protocol.events import (
    ConversationKey,
    Event,
    FlowAddEvent,
    FlowRemoveEvent,
    UserBlockEvent,
    UserJoinEvent,
)

if TYPE_CHECKING:
    from flowview.model.router import Router

log = logging.getLogger(__name__)

__all__ = ["flow_add", "flow_remove", "system_line", "user_block", "user_join"]


def system_line(
    router: Router, key: ConversationKey, event: Event, text: str, *, create: bool
) -> RouteResult:
    """A "system" line in `key` (opened when `create`, else only in a conversation shown)."""
    store = router.stores.get(key)
    opened = False
    if store is None:
        if not create:
            return RouteResult(key, "state")
        store, opened = router.open(key)
    if event.id is not None and store.get(event.id) is not None:
        return RouteResult(key, "ignored")
    below = event.id is not None and store.beyond_window(event.id)
    message = StoredMessage(
        store.new_seq(),
        None if below else event.id,
        "system",
        event.sent,
        event.user,
        clean_text(text),
    )
    if below:
        # Below a detached window, and not archived: kept at the window's bottom without
        # its id (an id there would make the messages in between look loaded).
        store.add_after(message, store.newest_id)
    elif not store.add(message):
        return RouteResult(key, "ignored")
    return RouteResult(key, "appended", opened, message=message)


def flow_add(
    router: Router, event: FlowAddEvent, _key: ConversationKey | None = None
) -> RouteResult:
    fid = event.flow_id
    if fid is None:
        return RouteResult(None, "ignored")
    org = clean_name(event.organization, max_chars=100)
    pname = clean_name(event.parameterized_name, max_chars=100)
    router.add_flows(
        [{"id": fid, "name": event.name or fid, "slug": f"{org}/{pname}" if pname else ""}]
    )
    flow = router.flows[fid]
    key: ConversationKey = ("flow", fid)
    me = event.user is not None and event.user == router.me_id
    if event.user is not None:
        flow.members.add(event.user)
        router.presence_version += 1
    if me:
        return system_line(router, key, event, f"you were added to {flow.name}", create=True)
    who = router.nick_of(event.user)
    return system_line(router, key, event, f"{who} was added to {flow.name}", create=False)


def flow_remove(
    router: Router, event: FlowRemoveEvent, _key: ConversationKey | None = None
) -> RouteResult:
    fid = event.flow_id
    if fid is None:
        return RouteResult(None, "ignored")
    key: ConversationKey = ("flow", fid)
    flow = router.flows.get(fid)
    me = event.user is None or event.user == router.me_id
    if me:
        if flow is not None:
            flow.removed = True
        router.flows_version += 1
        return system_line(router, key, event, "you were removed from this flow", create=False)
    if flow is not None:
        flow.members.discard(event.user or "")
        router.presence_version += 1
    text = f"{router.nick_of(event.user)} left the flow"
    return system_line(router, key, event, text, create=False)


def user_join(router: Router, event: UserJoinEvent, key: ConversationKey | None) -> RouteResult:
    uid = event.user_id
    if uid is None:
        return RouteResult(key, "ignored")
    nick = clean_name(event.nick)
    if nick:
        router.add_users([{"id": uid, "nick": nick}])
    if event.flow is not None and event.flow in router.flows:
        router.flows[event.flow].members.add(uid)
        router.presence_version += 1
    if key is None:
        return RouteResult(None, "state")
    text = f"{router.nick_of(uid)} joined the flow"
    return system_line(router, key, event, text, create=True)


def user_block(router: Router, event: UserBlockEvent, key: ConversationKey | None) -> RouteResult:
    uid = event.user_id
    if uid is None:
        return RouteResult(key, "ignored")
    if event.flow is not None and event.flow in router.flows:
        router.flows[event.flow].members.discard(uid)
        router.presence_version += 1
    if key is None:
        return RouteResult(None, "state")
    text = f"{router.nick_of(uid)} was removed from the flow"
    return system_line(router, key, event, text, create=True)
