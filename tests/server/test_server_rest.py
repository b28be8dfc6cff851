"""REST subset of the simulated server (protocol doc §4 field names and shapes)."""

from __future__ import annotations

import re

import pytest

from flowview.server.runner import RunningServer, ServerOptions, run_server
from tests.server.server_testkit import SSE, WireReader, basic, bearer, client, other_user, post

pytestmark = pytest.mark.timeout(60)

MAIN = "acme/main"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_user_users_and_flowdock_user_header(server: RunningServer) -> None:
    me = server.state.me
    assert me is not None
    async with client(server) as http:
        r = await http.get("/api/user", headers=basic(server.token))
        assert r.status_code == 200
        assert r.headers["flowdock-user"] == me.id
        assert r.headers["content-type"].startswith("application/json")
        user = r.json()
        assert set(user) == {"id", "nick", "email", "avatar", "name", "website"}
        assert str(user["id"]) == me.id and user["nick"] == me.nick
        r = await http.get("/api/users", headers=bearer(server.token))
        assert r.headers["flowdock-user"] == me.id
        users = r.json()
        assert len(users) == 1 + 8
        assert all({"id", "nick", "name", "presence"} <= set(u) for u in users)
        assert any(not u["name"].isascii() for u in users)  # unicode names
        r = await http.get(f"/api/users/{users[1]['id']}", headers=basic(server.token))
        assert r.json()["nick"] == users[1]["nick"]
        r = await http.get("/api/user")
        assert r.status_code == 401 and "flowdock-user" not in r.headers


async def test_flows_find_and_single_flow(server: RunningServer) -> None:
    async with client(server) as http:
        h = basic(server.token)
        flows = (await http.get("/api/flows", headers=h)).json()
        assert len(flows) == 4
        assert {f["organization"]["parameterized_name"] for f in flows} == {"acme", "globex"}
        assert "initech" not in {f["organization"]["parameterized_name"] for f in flows}
        main = next(f for f in flows if f["parameterized_name"] == "main")
        for key in (
            "id",
            "name",
            "parameterized_name",
            "organization",
            "unread_mentions",
            "open",
            "joined",
            "url",
            "web_url",
            "access_mode",
        ):
            assert key in main
        assert main["joined"] is True and "users" not in main
        assert main["url"].endswith("/api/flows/acme/main")
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}", main["id"]
        )
        with_users = (await http.get("/api/flows", params={"users": "1"}, headers=h)).json()
        assert all("users" in f for f in with_users)
        found = (await http.get("/api/flows/find", params={"id": main["id"]}, headers=h)).json()
        assert found["parameterized_name"] == "main" and found["users"]
        single = (await http.get(f"/api/flows/{MAIN}", headers=h)).json()
        assert single["id"] == main["id"] and single["users"]
        users = (await http.get(f"/api/flows/{MAIN}/users", headers=h)).json()
        assert {"id", "nick", "status", "last_activity", "last_ping", "in_flow", "presence"} <= set(
            users[0]
        )
        secret = server.state.flows_by_slug["initech/secret-plans"]
        assert (await http.get("/api/flows/initech/secret-plans", headers=h)).status_code == 403
        r = await http.get("/api/flows/find", params={"id": secret.id}, headers=h)
        assert r.status_code == 403
        r = await http.get("/api/flows/find", params={"id": "nope"}, headers=h)
        assert r.status_code == 404 and r.json() == {"message": "not found"}
        r = await http.get("/api/flows/acme/nope/messages", headers=h)
        assert r.status_code == 404
        r = await http.get("/api/no/such/route", headers=h)
        assert r.status_code == 404 and "message" in r.json()


async def test_message_envelope_threads_and_tags(server: RunningServer) -> None:
    me = server.state.me
    assert me is not None
    friend = other_user(server, MAIN)
    async with client(server) as http:
        h = basic(server.token)
        async with http.stream(
            "GET", "/stream/flows", params={"filter": MAIN}, headers={**h, **SSE}
        ) as resp:
            reader = WireReader(resp)
            text = f"hi @{friend.nick} see https://example.com #Deploy 🚀"
            first = await post(http, server.token, MAIN, text, uuid="abc123")
            reply = await post(http, server.token, MAIN, "reply", thread_id=first["thread_id"])
            streamed = [i.data for i in await reader.sse(2)]
        for key in (
            "event",
            "content",
            "id",
            "uuid",
            "flow",
            "user",
            "sent",
            "created_at",
            "app",
            "tags",
            "attachments",
            "thread_id",
            "thread",
            "emojiReactions",
        ):
            assert key in first, key
        assert first["user"] == me.id and isinstance(first["user"], str)
        assert first["uuid"] == "abc123" and first["app"] == "chat"
        assert isinstance(first["sent"], int) and ISO.match(first["created_at"])
        assert first["emojiReactions"] == {} and first["attachments"] == []
        assert set(first["tags"]) == {
            "deploy",
            f":user:{friend.id}",
            f":unread:{friend.id}",
            ":url",
        }
        assert reply["id"] == first["id"] + 1 and reply["thread_id"] == first["thread_id"]
        # real-data quirk: thread.created_at int ms on the first message, ISO on replies...
        assert isinstance(streamed[0]["thread"]["created_at"], int)
        assert streamed[0]["thread"]["initial_message"] == first["id"]
        assert ISO.match(streamed[1]["thread"]["created_at"])
        assert streamed[1]["thread"]["internal_comments"] == 2
        # ...and null in REST answers
        assert first["thread"]["created_at"] is None
        got = (await http.get(f"/api/flows/{MAIN}/messages/{first['id']}", headers=h)).json()
        assert got["content"] == text and got["thread"]["created_at"] is None
        assert (await http.get(f"/api/flows/{MAIN}/messages/999", headers=h)).status_code == 404


async def test_history_pagination(server: RunningServer) -> None:
    tok = server.token
    async with client(server) as http:
        h = basic(tok)
        url = f"/api/flows/{MAIN}/messages"
        ids = [(await post(http, tok, MAIN, f"m{i}"))["id"] for i in range(40)]
        await post(http, tok, MAIN, "a status", event="status")

        async def get(**params: str | int) -> list[int]:
            r = await http.get(url, params=params, headers=h)
            assert r.status_code == 200, r.text
            return [m["id"] for m in r.json()]

        all_ids = [*ids, ids[-1] + 1]
        assert await get() == all_ids[-30:]  # default: newest 30, ascending
        assert await get(sort="asc", limit=5) == all_ids[:5]
        assert await get(sort="asc", since_id=ids[9], limit=3) == ids[10:13]
        assert await get(until_id=ids[10], limit=3) == ids[7:10]  # until_id exclusive
        assert await get(since_id=ids[4], until_id=ids[8]) == ids[5:8]
        assert await get(since_id=ids[4], until_id=ids[8], sort="asc") == ids[5:8]
        assert await get(limit=500, sort="asc") == all_ids  # clamped to 100
        assert await get(limit=0) == all_ids[-1:]  # clamped to 1
        assert await get(event="status") == [ids[-1] + 1]
        assert await get(event="message,status", limit=2) == all_ids[-2:]
        assert await get(since_id=all_ids[-1], sort="asc") == []
        for bad in ({"since_id": "x"}, {"sort": "sideways"}, {"limit": "many"}):
            r = await http.get(url, params=bad, headers=h)
            assert r.status_code == 400 and r.json()["message"]


async def test_post_validation_and_comments(server: RunningServer) -> None:
    tok = server.token
    async with client(server) as http:
        h = basic(tok)
        url = f"/api/flows/{MAIN}/messages"
        for body in (
            {},
            {"content": ""},
            {"content": 5},
            {"content": "x", "event": "file"},
            {"content": "x" * 8097},
            {"content": "x", "thread_id": "missing"},
        ):
            r = await http.post(url, json=body, headers=h)
            assert r.status_code in (400, 404), body
            assert r.json()["message"]
        r = await http.post(
            url, content=b"{not json", headers={**h, "content-type": "application/json"}
        )
        assert r.status_code == 400
        # form-encoded posting (as old clients did)
        r = await http.post(url, data={"content": "from a form", "event": "message"}, headers=h)
        assert r.status_code == 201 and r.json()["content"] == "from a form"
        parent = r.json()
        r = await http.post(
            url,
            json={"event": "comment", "content": "a comment", "message": parent["id"]},
            headers=h,
        )
        assert r.status_code == 201
        comment = r.json()
        assert comment["event"] == "comment"
        assert comment["content"] == {"title": "from a form", "text": "a comment"}
        assert f"influx:{parent['id']}" in comment["tags"]
        r = await http.post(
            f"{url}/{parent['id']}/comments", json={"content": "another"}, headers=h
        )
        assert r.status_code == 201 and r.json()["content"]["text"] == "another"
        r = await http.post(url, json={"content": "line", "event": "line"}, headers=h)
        assert r.status_code == 201 and r.json()["event"] == "line"


async def test_only_own_messages_can_be_edited(server: RunningServer) -> None:
    friend = other_user(server, MAIN)
    async with client(server) as http:
        msg = await post(http, friend.token, MAIN, "theirs")
        url = f"/api/flows/{MAIN}/messages/{msg['id']}"
        r = await http.put(url, json={"content": "mine now"}, headers=basic(server.token))
        assert r.status_code == 403
        r = await http.delete(url, headers=basic(server.token))
        assert r.status_code == 403
        r = await http.put(url, json={}, headers=basic(friend.token))
        assert r.status_code == 400
        status = await post(http, friend.token, MAIN, "busy", event="status")
        r = await http.put(
            f"/api/flows/{MAIN}/messages/{status['id']}",
            json={"content": "x"},
            headers=basic(friend.token),
        )
        assert r.status_code == 403


async def test_private_conversations(server: RunningServer) -> None:
    me = server.state.me
    assert me is not None
    friend = other_user(server)
    async with client(server) as http:
        h = basic(server.token)
        assert (await http.get("/api/private", headers=h)).json() == []
        r = await http.post(
            f"/api/private/{friend.id}/messages", json={"content": "hello"}, headers=h
        )
        assert r.status_code == 201
        sent = r.json()
        assert sent["to"] == friend.id and sent["user"] == me.id and "flow" not in sent
        assert sent["id"] == 1 and f":unread:{friend.id}" in sent["tags"]
        r = await http.post(
            f"/api/private/{me.id}/messages",
            json={"content": "hi back"},
            headers=basic(friend.token),
        )
        assert r.json()["id"] == 2  # one id sequence per conversation
        convs = (await http.get("/api/private", headers=h)).json()
        assert len(convs) == 1
        conv = convs[0]
        assert str(conv["id"]) == friend.id and conv["name"] == f"@{friend.nick}"
        assert conv["activity"]["mentions"] == 1 and len(conv["users"]) == 2
        msgs = (await http.get(f"/api/private/{friend.id}/messages", headers=h)).json()
        assert [m["content"] for m in msgs] == ["hello", "hi back"]
        msgs = (
            await http.get(f"/api/private/{friend.id}/messages", params={"since_id": 1}, headers=h)
        ).json()
        assert [m["id"] for m in msgs] == [2]
        one = (await http.get(f"/api/private/{friend.id}/messages/1", headers=h)).json()
        assert one["content"] == "hello"
        assert (await http.get("/api/private/424242/messages", headers=h)).status_code == 404


async def test_control_plane_refused_when_faults_disabled() -> None:
    async with run_server(ServerOptions(rate=0, faults=False)) as srv, client(srv) as http:
        for method, path in (
            ("GET", "/_faults"),
            ("POST", "/_faults"),
            ("DELETE", "/_faults"),
            ("POST", "/_sim/burst"),
            ("POST", "/_sim/step"),
        ):
            r = await http.request(method, path, json={"kind": "stall"})
            assert r.status_code == 403, path
            assert r.json()["message"]
        assert srv.state.faults.pending == []
