"""Streaming API of the simulated server, over real HTTP on loopback."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from flowview.server.runner import RunningServer, ServerOptions, run_server
from tests.server.server_testkit import (
    SSE,
    WireReader,
    basic,
    bearer,
    client,
    eventually,
    other_user,
    post,
)

pytestmark = pytest.mark.timeout(60)

MAIN = "acme/main"
DEVOPS = "globex/dev-ops"
Q = {"filter": MAIN}
RANDOM = "acme/random"


async def test_json_stream_framing_crlf_and_newline_keepalives() -> None:
    async with run_server(ServerOptions(rate=0, keepalive=0.05)) as srv, client(srv) as http:
        tok = srv.token
        async with http.stream(
            "GET", "/stream/flows", params={"filter": MAIN}, headers=basic(tok)
        ) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"] == "application/json"
            reader = WireReader(resp)
            while reader.raw.count(b"\n") < 2:  # two keep-alives with no traffic
                await reader.more()
            assert set(bytes(reader.raw)) == {ord("\n")}
            sent = await post(http, tok, MAIN, "hello\r\nworld ✓")
            (rec,) = await reader.records(1)
            assert rec["id"] == sent["id"] and rec["content"] == "hello\r\nworld ✓"
            # keep-alives, then one record: JSON without raw CR/LF, UTF-8, then CR LF
            assert re.fullmatch(rb"\n+\{[^\r\n]*\}\r\n\n*", bytes(reader.raw))
            assert "✓".encode() in reader.raw


async def test_sse_framing_ids_and_comment_keepalives() -> None:
    async with run_server(ServerOptions(rate=0, keepalive=0.05)) as srv, client(srv) as http:
        tok = srv.token
        async with http.stream(
            "GET", "/stream/flows", params={"filter": MAIN}, headers={**basic(tok), **SSE}
        ) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert resp.headers["cache-control"] == "no-cache"
            reader = WireReader(resp)
            while b": keepalive\n" not in reader.raw:
                await reader.more()
            a = await post(http, tok, MAIN, "one")
            b = await post(http, tok, MAIN, "two\nlines")
            items = await reader.sse(2)
            assert [i.data["id"] for i in items] == [a["id"], b["id"]]
            assert items[1].data["content"] == "two\nlines"
            assert all(i.id is not None and i.id.isdigit() for i in items)
            assert int(items[0].id or 0) < int(items[1].id or 0)
            raw = bytes(reader.raw)
            # every event block: "id: N\ndata: <one line of JSON>\n\n"
            for block in raw.split(b"\n\n"):
                lines = [ln for ln in block.split(b"\n") if ln and not ln.startswith(b":")]
                if lines:
                    assert lines[0].startswith(b"id: ") and lines[1].startswith(b"data: ")
                    assert len(lines) == 2
                    json.loads(lines[1][6:])
            assert reader.comments >= 1


async def test_accept_parameter_overrides_header(server: RunningServer) -> None:
    async with client(server) as http:
        h = basic(server.token)
        for params, headers, expected in [
            ({"accept": "text/event-stream"}, {"Accept": "application/json"}, "text/event-stream"),
            ({"accept": "application/json"}, SSE, "application/json"),
            ({}, SSE, "text/event-stream"),
            ({}, {}, "application/json"),
        ]:
            async with http.stream(
                "GET", "/stream/flows", params={"filter": MAIN, **params}, headers={**h, **headers}
            ) as resp:
                assert resp.headers["content-type"].split(";")[0] == expected


async def test_filter_by_slug_flow_id_and_legacy_id(server: RunningServer) -> None:
    state = server.state
    devops_id = state.flows_by_slug[DEVOPS].id
    async with client(server) as http:
        tok = server.token
        params = {"filter": f"{devops_id},{MAIN},acme:main"}
        async with http.stream("GET", "/stream/flows", params=params, headers=basic(tok)) as resp:
            reader = WireReader(resp)
            await post(http, tok, RANDOM, "not subscribed")
            m1 = await post(http, tok, MAIN, "main")
            m2 = await post(http, tok, DEVOPS, "devops")
            got = await reader.records(2)
            assert [(g["flow"], g["content"]) for g in got] == [
                (m1["flow"], "main"),
                (m2["flow"], "devops"),
            ]


async def test_single_flow_path(server: RunningServer) -> None:
    async with client(server) as http:
        tok = server.token
        async with http.stream(
            "GET", f"/stream/flows/{MAIN}", headers={**basic(tok), **SSE}
        ) as resp:
            assert resp.status_code == 200
            reader = WireReader(resp)
            await post(http, tok, DEVOPS, "elsewhere")
            await post(http, tok, MAIN, "here")
            (item,) = await reader.sse(1)
            assert item.data["content"] == "here"
        r = await http.get("/stream/flows/acme/nope", headers=basic(tok))
        assert r.status_code == 404


async def test_user_param_streams_private_messages_to_and_from_me(server: RunningServer) -> None:
    me = server.state.me
    assert me is not None
    friend = other_user(server)
    async with (
        client(server) as http,
        http.stream(
            "GET", "/stream/flows", params={"user": "1"}, headers=basic(server.token)
        ) as resp,
    ):
        reader = WireReader(resp)
        await post(http, server.token, MAIN, "flow message, not private")
        r = await http.post(
            f"/api/private/{me.id}/messages",
            json={"content": "psst 🤫"},
            headers=basic(friend.token),
        )
        assert r.status_code == 201
        r = await http.post(
            f"/api/private/{friend.id}/messages",
            json={"content": "reply"},
            headers=basic(server.token),
        )
        got = await reader.records(2)
        assert [(g["user"], g["to"], g["content"]) for g in got] == [
            (friend.id, me.id, "psst 🤫"),
            (me.id, friend.id, "reply"),
        ]
        assert all("flow" not in g for g in got)
        assert got[0]["id"] == 1 and got[1]["id"] == 2  # per-conversation ids
        assert f":unread:{me.id}" in got[0]["tags"]


async def test_400_without_filter_or_user(server: RunningServer) -> None:
    async with client(server) as http:
        for params in ({}, {"filter": ""}, {"filter": ",", "user": "0"}):
            r = await http.get("/stream/flows", params=params, headers=basic(server.token))
            assert r.status_code == 400
            assert "filter" in r.json()["message"]


async def test_auth_401_403_404(server: RunningServer) -> None:
    async with client(server) as http:
        q = {"filter": MAIN}
        r = await http.get("/stream/flows", params=q)
        assert r.status_code == 401 and r.json()["message"]
        r = await http.get("/stream/flows", params=q, headers=basic("wrong-token"))
        assert r.status_code == 401
        assert "wrong-token" not in r.text
        r = await http.get("/stream/flows", params=q, headers={"Authorization": "Basic !!!"})
        assert r.status_code == 401
        r = await http.get("/stream/flows", params=q, headers=bearer("nope"))
        assert r.status_code == 401
        r = await http.get(
            "/stream/flows", params={"filter": "initech/secret-plans"}, headers=basic(server.token)
        )
        assert r.status_code == 403 and r.json()["message"]
        secret_id = server.state.flows_by_slug["initech/secret-plans"].id
        r = await http.get(
            "/stream/flows", params={"filter": f"{MAIN},{secret_id}"}, headers=basic(server.token)
        )
        assert r.status_code == 403
        r = await http.get(
            "/stream/flows", params={"filter": "acme/none"}, headers=basic(server.token)
        )
        assert r.status_code == 404
        # accepted token forms: Basic with any password, Basic without colon, Bearer
        for headers in (basic(server.token, "X"), basic(server.token, None), bearer(server.token)):
            async with http.stream("GET", "/stream/flows", params=q, headers=headers) as resp:
                assert resp.status_code == 200


async def test_last_event_id_replays_across_flows_and_private(server: RunningServer) -> None:
    me = server.state.me
    assert me is not None
    friend = other_user(server)
    tok = server.token
    params = {"filter": f"{MAIN},{DEVOPS}", "user": "1"}
    async with client(server) as http:
        async with http.stream(
            "GET", "/stream/flows", params=params, headers={**basic(tok), **SSE}
        ) as resp:
            reader = WireReader(resp)
            await post(http, tok, MAIN, "m1")
            await post(http, tok, DEVOPS, "d1")
            first = await reader.sse(2)
        resume_from = first[-1].id
        assert resume_from is not None
        # while disconnected: traffic in both flows, a private message, an unrelated flow
        await post(http, tok, MAIN, "m2")
        await post(http, tok, RANDOM, "r1")
        await http.post(
            f"/api/private/{me.id}/messages", json={"content": "p1"}, headers=basic(friend.token)
        )
        await post(http, tok, DEVOPS, "d2")
        headers = {**basic(tok), **SSE, "Last-Event-ID": resume_from}
        async with http.stream("GET", "/stream/flows", params=params, headers=headers) as resp:
            reader = WireReader(resp)
            replayed = await reader.sse(3)
            assert [i.data["content"] for i in replayed] == ["m2", "p1", "d2"]
            ids = [int(i.id or 0) for i in replayed]
            assert ids == sorted(ids) and ids[0] > int(resume_from)
            live = await post(http, tok, MAIN, "m3")
            (item,) = await reader.sse(1)
            assert item.data["id"] == live["id"]
        log = (await http.get("/_faults")).json()["connections"]
        assert log[-1]["last_event_id_sent"] is True and log[-1]["replayed"] == 3
        assert log[-2]["last_event_id_sent"] is False


async def test_last_event_id_older_than_buffer_replays_what_it_holds() -> None:
    async with run_server(ServerOptions(rate=0, replay=5)) as srv, client(srv) as http:
        tok = srv.token
        sent = [await post(http, tok, MAIN, f"n{i}") for i in range(12)]
        headers = {**basic(tok), **SSE, "Last-Event-ID": "1"}
        async with http.stream(
            "GET", "/stream/flows", params={"filter": MAIN}, headers=headers
        ) as resp:
            reader = WireReader(resp)
            items = await reader.sse(5)
            assert [i.data["id"] for i in items] == [m["id"] for m in sent[-5:]]
            live = await post(http, tok, MAIN, "live")
            (item,) = await reader.sse(1)
            assert item.data["id"] == live["id"]  # nothing more was replayed in between
        # an id from "another server process" (beyond the current sequence) replays it all
        headers["Last-Event-ID"] = "999999"
        async with http.stream(
            "GET", "/stream/flows", params={"filter": MAIN}, headers=headers
        ) as resp:
            items = await WireReader(resp).sse(5)
            assert items[-1].data["content"] == "live"


async def test_json_stream_has_no_replay(server: RunningServer) -> None:
    tok = server.token
    async with client(server) as http:
        await post(http, tok, MAIN, "old")
        headers = {**basic(tok), "Last-Event-ID": "0"}
        async with http.stream(
            "GET", "/stream/flows", params={"filter": MAIN}, headers=headers
        ) as resp:
            reader = WireReader(resp)
            await post(http, tok, MAIN, "new")
            (rec,) = await reader.records(1)
            assert rec["content"] == "new"


async def test_edits_deletes_tags_and_reactions_appear_on_stream(server: RunningServer) -> None:
    tok = server.token
    me = server.state.me
    assert me is not None
    async with client(server) as http:
        async with http.stream(
            "GET", "/stream/flows", params={"filter": MAIN}, headers=basic(tok)
        ) as resp:
            reader = WireReader(resp)
            msg = await post(http, tok, MAIN, "first #draft")
            url = f"/api/flows/{MAIN}/messages/{msg['id']}"
            r = await http.put(url, json={"content": "second"}, headers=basic(tok))
            assert r.status_code == 200 and r.json() == {}  # the docs: an edit answers {}
            r = await http.put(url, json={"tags": ["keep", "x"]}, headers=basic(tok))
            assert r.status_code == 200
            r = await http.delete(url, headers=basic(tok))
            assert r.status_code == 200 and r.content == b""  # truncated, empty answer
            got = await reader.records(5)
            kinds = [g["event"] for g in got]
            assert kinds == ["message", "message-edit", "tag-change", "tag-change", "message-edit"]
            edit, untag, retag, delete = got[1], got[2], got[3], got[4]
            assert edit["content"] == {"message": msg["id"], "updated_content": "second"}
            assert edit["persist"] is False and edit["user"] == me.id
            assert untag["content"] == {"message": msg["id"], "add": [], "remove": ["draft"]}
            assert retag["content"]["add"] == ["keep", "x"]
            assert delete["content"] == {"message": msg["id"], "updated_content": ""}
            assert delete["persist"] is False
            assert all(g["id"] > msg["id"] for g in got[1:])  # transient events take flow ids
        r = await http.get(url, headers=basic(tok))
        stored = r.json()
        assert stored["content"] == "" and isinstance(stored["edited"], int)
        assert stored["edited_at"].endswith("Z")


async def test_presence_observable_through_rest(server: RunningServer) -> None:
    me = server.state.me
    assert me is not None
    tok = server.token

    async def my_presence(http: httpx.AsyncClient) -> dict[str, Any]:
        r = await http.get(f"/api/flows/{MAIN}/users", headers=basic(tok))
        return next(u for u in r.json() if str(u["id"]) == me.id)

    def streaming() -> bool:
        return me.id in server.state.user_subs

    async with client(server) as http:
        assert (await my_presence(http))["presence"] == "offline"
        q = {"filter": MAIN, "active": "true"}
        async with http.stream("GET", "/stream/flows", params=q, headers=basic(tok)) as resp:
            (act,) = await WireReader(resp).records(1)
            assert act["event"] == "activity.user" and act["user"] == me.id
            assert act["content"]["last_activity"] > 0 and act["persist"] is False
            row = await my_presence(http)
            assert row["presence"] == "active" and row["last_activity"] > 0
        await eventually(lambda: not streaming())
        assert (await my_presence(http))["presence"] == "offline"
        q = {"filter": MAIN, "active": "idle"}
        async with http.stream("GET", "/stream/flows", params=q, headers=basic(tok)) as resp:
            (act,) = await WireReader(resp).records(1)
            assert act["event"] == "activity.user" and "last_activity" not in act["content"]
            assert (await my_presence(http))["presence"] == "idle"
        await eventually(lambda: not streaming())
        # no `active`: the user stays offline and no activity is emitted
        async with http.stream(
            "GET", "/stream/flows", params={"filter": MAIN}, headers=basic(tok)
        ) as resp:
            reader = WireReader(resp)
            assert (await my_presence(http))["presence"] == "offline"
            await post(http, tok, MAIN, "only this")
            (rec,) = await reader.records(1)
            assert rec["event"] == "message"


async def test_presence_events_and_periodic_activity() -> None:
    opts = ServerOptions(rate=0, activity_interval=0.05)
    async with run_server(opts) as srv, client(srv) as http:
        me = srv.state.me
        assert me is not None
        watcher = other_user(srv, MAIN)
        q = {"filter": MAIN, "presence": "1"}
        async with http.stream(
            "GET", "/stream/flows", params=q, headers=basic(watcher.token)
        ) as wresp:
            wreader = WireReader(wresp)
            for active in ("true", "idle"):
                q = {"filter": MAIN, "active": active}
                async with http.stream(
                    "GET", "/stream/flows", params=q, headers=basic(srv.token)
                ) as resp:
                    recs = await WireReader(resp).records(3, timeout=5)
                    assert [r["event"] for r in recs] == ["activity.user"] * 3  # periodic
                await eventually(lambda: me.id not in srv.state.user_subs)
            states: list[int] = []
            while len(states) < 4:
                (rec,) = await wreader.records(1)
                if rec["event"] == "presence" and rec["user_id"] == int(me.id):
                    states.append(rec["content"]["state"])
                    assert "flow" not in rec and "id" not in rec
            assert states == [2_000_000, 0, 1_000_000, 0]


async def test_connection_log_counts_open_connections_and_active_values(
    server: RunningServer,
) -> None:
    async with client(server) as http:
        h = basic(server.token)
        assert (await http.get("/_faults")).json()["open_connections"] == 0
        async with (
            http.stream(
                "GET", "/stream/flows", params={"filter": MAIN, "active": "idle"}, headers=h
            ) as r1,
            http.stream(
                "GET",
                f"/stream/flows/{DEVOPS}",
                params={"active": "true"},
                headers={**h, **SSE, "Last-Event-ID": "0"},
            ) as r2,
        ):
            assert r1.status_code == r2.status_code == 200
            info = (await http.get("/_faults")).json()
            assert info["open_connections"] == 2
            assert sorted(c["active"] for c in info["open"]) == ["active", "idle"]
            by_path = {c["path"]: c for c in info["open"]}
            assert by_path[f"/stream/flows/{DEVOPS}"]["last_event_id_sent"] is True
            assert by_path[f"/stream/flows/{DEVOPS}"]["content_type"] == "text/event-stream"
            assert by_path["/stream/flows"]["query"] == "filter=acme%2Fmain&active=idle"
        await eventually(lambda: not server.state.open_records)
        info = (await http.get("/_faults")).json()
        assert info["open_connections"] == 0
        assert all(c["ended"] is not None for c in info["connections"])
        assert server.token not in json.dumps(info)


async def test_stream_ends_cleanly_on_server_shutdown() -> None:
    async with run_server(ServerOptions(rate=0)) as srv:
        http = client(srv)
        resp = await http.send(
            http.build_request(
                "GET", "/stream/flows", params={"filter": MAIN}, headers=basic(srv.token)
            ),
            stream=True,
        )
        reader = WireReader(resp)
        assert resp.status_code == 200
    # the context exited while the stream was open: it must end as a clean EOF, not an error
    assert await reader.more(timeout=5) is False
    await resp.aclose()
    await http.aclose()


async def test_slow_subscriber_is_closed_instead_of_blocking_and_can_resume() -> None:
    async with run_server(ServerOptions(rate=0, queue_max=50)) as srv, client(srv) as http:
        me = srv.state.me
        assert me is not None
        flow = srv.state.flows_by_slug[MAIN]
        headers = {**basic(srv.token), **SSE}
        async with (
            http.stream("GET", "/stream/flows", params=Q, headers=headers) as slow,
            http.stream(
                "GET", "/stream/flows", params={"filter": DEVOPS}, headers=headers
            ) as other,
        ):
            slow_reader, other_reader = WireReader(slow), WireReader(other)
            # 80 events without yielding: more than the slow connection may queue
            for i in range(80):
                srv.state.post_flow_message(flow, me.id, "message", f"flood {i}")
            with pytest.raises(EOFError):
                await slow_reader.sse(80)
            log = {
                c["path"] + c["query"]: c
                for c in (await http.get("/_faults")).json()["connections"]
            }
            assert log["/stream/flows" + "filter=acme%2Fmain"]["close_reason"] == "overflow"
            assert log["/stream/flows" + "filter=globex%2Fdev-ops"]["ended"] is None
            await post(http, srv.token, DEVOPS, "others are unaffected")
            (item,) = await other_reader.sse(1)
            assert item.data["content"] == "others are unaffected"
        # resume: the replay buffer still holds what the dropped connection missed
        async with http.stream(
            "GET", "/stream/flows", params=Q, headers={**headers, "Last-Event-ID": "0"}
        ) as resp:
            items = await WireReader(resp).sse(80)
            assert [i.data["content"] for i in items] == [f"flood {i}" for i in range(80)]


async def test_query_credentials_are_not_logged(server: RunningServer) -> None:
    async with client(server) as http:
        params = {"filter": MAIN, "access_token": server.token}
        r = await http.get("/stream/flows", params=params)
        assert r.status_code == 401  # only the Authorization header authenticates
        log = (await http.get("/_faults")).json()["connections"][-1]
        assert server.token not in log["query"] and "redacted" in log["query"]
