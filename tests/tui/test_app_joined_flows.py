"""The viewer follows flows joined while it runs when it follows all flows (no flows chosen:
tui/joined_flows.py), and only announces them otherwise.  Real HTTP against the bundled
server: the flow is created and joined through its control endpoint, which sends flow-add."""

from __future__ import annotations

import pytest

from flowview.protocol.events import ConversationKey
from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from tests.helpers import wait_until
from tests.tui.app_driver import FLOW_SLUGS, SIZE, make_app, post, settings_for, wait_live
from tests.tui.apphttp import http

pytestmark = pytest.mark.timeout(60)


def create_flow(srv: ServerThread, name: str) -> tuple[str, str]:
    """A new flow every member of its organisation joins (flow-add to each); (id, slug)."""
    r = http(srv).post(
        f"{srv.base_url}/_sim/flows", json={"name": name}, headers=srv.control_headers
    )
    r.raise_for_status()
    return r.json()["id"], r.json()["slug"]


def stored(app: FlowviewApp, key: ConversationKey) -> list[int]:
    store = app.stores().get(key)
    return [] if store is None else [m.id for m in store if m.kind == "message" and m.id]


async def test_all_flows_mode_follows_a_flow_joined_while_running(server: ServerThread) -> None:
    app = make_app(server, settings=settings_for(server, flows=[]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app, tabs=len(FLOW_SLUGS))
        session = app.session
        assert session is not None and session.follow_all
        fid, slug = create_flow(server, "Joined Later")
        # Posted at once: before the stream can subscribe the flow (back-filled from its start)
        ids = [post(server, slug, f"early {n}") for n in range(3)]
        key: ConversationKey = ("flow", fid)
        await wait_until(pilot, lambda: stored(app, key) == ids, timeout=20.0)
        client = app.client
        assert client is not None and slug in client.config.flows
        # The session's list follows once the switch is over (its messages may come first).
        await wait_until(pilot, lambda: slug in session.settings.flows, timeout=20.0)
        ids.append(post(server, slug, "late"))
        await wait_until(pilot, lambda: stored(app, key) == ids, timeout=20.0)
        assert key in app.main.keys_in_order()


async def test_chosen_flows_are_kept_and_a_joined_flow_is_only_announced(
    server: ServerThread,
) -> None:
    app = make_app(server)  # the flows chosen at setup
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app, tabs=len(FLOW_SLUGS))
        session = app.session
        assert session is not None and not session.follow_all
        fid, slug = create_flow(server, "Not Chosen")
        key: ConversationKey = ("flow", fid)
        await wait_until(
            pilot,
            lambda: any("you were added to" in m.text for m in app.stores().get(key, ())),
            timeout=20.0,
        )
        post(server, slug, "not followed")
        marker = post(server, FLOW_SLUGS[0], "followed")
        main_key: ConversationKey = ("flow", session.flows_by_slug[FLOW_SLUGS[0]].id)
        await wait_until(pilot, lambda: marker in stored(app, main_key), timeout=20.0)
        client = app.client
        assert client is not None and slug not in client.config.flows
        # Nothing follows joined flows in this mode (a follower would re-read /flows at
        # every live and reconfigure the stream a moment later).
        assert app.joined_flows is not None and app.joined_flows.follower is None
        assert stored(app, key) == []
