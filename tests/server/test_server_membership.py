"""Flow membership changes reach the user's streams as Flowdock sent them: ``flow-add``
(``user`` = the added user, ``content`` = the flow, no ``id``) and ``flow-remove``
(``content`` ``{id}``) on the user's own channel, i.e. on streams opened with ``user=1``,
which need not subscribe the flow (they cannot: it is new to them)."""

from __future__ import annotations

from flowview.server.runner import RunningServer
from tests.server.server_testkit import SSE, WireReader, basic, client


def _my_flows(srv: RunningServer) -> str:
    me = srv.state.me
    assert me is not None
    return ",".join(f.slug for f in srv.state.flows_of(me))


async def test_created_flow_is_announced_on_the_private_channel(server: RunningServer) -> None:
    me = server.state.me
    assert me is not None
    async with (
        client(server) as http,
        http.stream(
            "GET",
            "/stream/flows",
            params={"filter": _my_flows(server), "user": "1"},
            headers={**basic(server.token), **SSE},
        ) as resp,
    ):
        reader = WireReader(resp)
        r = await http.post("/_sim/flows", json={"name": "Brand New"})
        assert r.status_code == 201, r.text
        created = r.json()
        items = await reader.sse_until(lambda d: d.get("event") == "flow-add")
        add = items[-1]
        assert add.id is not None  # an SSE id: a resume replays it
        data = add.data
        assert "id" not in data  # as Flowdock: no top-level id
        assert data["user"] == me.id
        assert data["content"]["id"] == created["id"]
        assert data["content"]["name"] == "Brand New"
        org = data["content"]["organization"]["parameterized_name"]
        assert f"{org}/{data['content']['parameterized_name']}" == created["slug"]
        # /flows lists it as joined, and a stream may now subscribe it
        flows = (await http.get("/flows", headers=basic(server.token))).json()
        assert any(f["id"] == created["id"] and f["joined"] for f in flows)


async def test_member_removed_and_added_over_json_stream(server: RunningServer) -> None:
    me = server.state.me
    assert me is not None
    flow = server.state.flows_of(me)[0]
    async with (
        client(server) as http,
        http.stream(
            "GET", "/stream/flows", params={"user": "1"}, headers=basic(server.token)
        ) as resp,
    ):
        reader = WireReader(resp)
        r = await http.request("DELETE", "/_sim/members", json={"flow": flow.slug})
        assert r.json() == {"changed": True, "flow": flow.id, "user": me.id}
        removed = (await reader.records_until(lambda d: d.get("event") == "flow-remove"))[-1]
        assert removed["content"] == {"id": flow.id} and removed["user"] == me.id
        # no longer a member: a stream naming it is refused
        refused = await http.get(
            "/stream/flows", params={"filter": flow.slug}, headers=basic(server.token)
        )
        assert refused.status_code == 403
        r = await http.post("/_sim/members", json={"flow": flow.id})
        assert r.json()["changed"] is True
        added = (await reader.records_until(lambda d: d.get("event") == "flow-add"))[-1]
        assert added["content"]["id"] == flow.id and added["user"] == me.id
        # adding again changes nothing and announces nothing
        assert (await http.post("/_sim/members", json={"flow": flow.id})).json()["changed"] is False


async def test_other_users_streams_do_not_hear_of_my_flows(server: RunningServer) -> None:
    """flow-add goes to the added user only: it names a flow others may not see."""
    state = server.state
    me = state.me
    assert me is not None
    other = next(u for u in state.users.values() if u.id != me.id)
    flow = state.flows_of(me)[0]
    state.remove_member(flow, me.id)
    async with (
        client(server) as http,
        http.stream(
            "GET", "/stream/flows", params={"user": "1"}, headers=basic(other.token)
        ) as resp,
    ):
        reader = WireReader(resp)
        await http.post("/_sim/members", json={"flow": flow.id})
        # a private message to `other` afterwards: it arrives, the flow-add before it did not
        state.post_private_message(me.id, other.id, "message", "after")
        got = await reader.records_until(lambda d: d.get("event") == "message")
        assert all(d.get("event") != "flow-add" for d in got)


async def test_membership_controls_demand_the_control_token(server: RunningServer) -> None:
    async with client(server, control=False) as http:
        r = await http.post("/_sim/members", json={"flow": "x"})
        assert r.status_code == 401
        r = await http.post("/_sim/flows", json={"name": "x"})
        assert r.status_code == 401
    async with client(server) as http:
        assert (await http.post("/_sim/flows", json={"name": ""})).status_code == 400
        assert (await http.post("/_sim/members", json={"flow": "nope"})).status_code == 404
        r = await http.post(
            "/_sim/members", json={"flow": _my_flows(server).split(",")[0], "user": "?"}
        )
        assert r.status_code == 404
