"""The REST and stream URLs as clients built from the Flowdock API docs use them (issue 13):
root paths, sloppy slashes, the stream URL as a resource, and the documented answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from flowview.server.runner import RunningServer
from tests.server.server_testkit import SSE, WireReader, basic, client, other_user

pytestmark = pytest.mark.timeout(60)

MAIN = "acme/main"


def docs_client(server: RunningServer) -> httpx.AsyncClient:
    """What a docs-built client does: the API at the host's root, the token as the Basic
    user name with an empty password."""
    return httpx.AsyncClient(base_url=server.base_url, auth=(server.token, ""), timeout=10.0)


async def test_rest_at_root_and_under_api_with_repeated_slashes(server: RunningServer) -> None:
    async with docs_client(server) as http:
        root = await http.get("/flows")
        assert root.status_code == 200
        # absolute URLs: a relative "//flows" would be read as a host name by httpx itself
        base = server.base_url
        assert (await http.get(base + "//flows")).json() == root.json()
        assert (await http.get(base + "/api//flows")).json() == root.json()
        assert (await http.get(f"{base}//flows/{MAIN}//messages")).status_code == 200
        assert (await http.get("/user")).json()["id"]


@pytest.mark.parametrize("path", ["/stream", "/stream/", "/stream/flows", "//stream//flows"])
async def test_stream_url_used_as_the_resource(server: RunningServer, path: str) -> None:
    async with (
        docs_client(server) as http,
        http.stream("GET", server.base_url + path, params={"filter": MAIN}, headers=SSE) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        reader = WireReader(resp)
        async with docs_client(server) as poster:
            r = await poster.post(f"/flows/{MAIN}/messages", json={
                "event": "message", "content": "via root", "uuid": "uu-1"
            })  # fmt: skip
            assert r.status_code in (200, 201)
        (item,) = await reader.sse(1)
        # the stream echoes the client's uuid (how a sender matches its own echo)
        assert item.data["content"] == "via root" and item.data["uuid"] == "uu-1"


async def test_post_messages_and_comments_with_flow_in_body(server: RunningServer) -> None:
    flow_id = server.state.flows_by_slug[MAIN].id
    async with docs_client(server) as http:
        r = await http.post("/messages", json={
            "flow": flow_id, "event": "message", "content": "Howdy-Doo @Jackie #awesome",
            "tags": ["todo", "#feedback", "@all"],
        })  # fmt: skip
        assert r.status_code in (200, 201)
        msg = r.json()
        assert msg["flow"] == flow_id and msg["event"] == "message"
        assert {"todo", "feedback", "awesome", ":user:everyone"} <= set(msg["tags"])
        r = await http.post("/messages", json={"flow": flow_id, "event": "status",
                                               "content": "busy"})  # fmt: skip
        assert r.status_code in (200, 201) and r.json()["event"] == "status"
        r = await http.post("/comments", json={
            "flow": flow_id, "message": msg["id"], "content": "a comment"
        })  # fmt: skip
        assert r.status_code in (200, 201)
        comment = r.json()
        assert comment["event"] == "comment" and comment["thread_id"] == msg["thread_id"]
        assert comment["content"]["text"] == "a comment"
        assert (await http.post("/messages", json={"content": "x"})).status_code == 400
        r = await http.post("/messages", json={"flow": "nope", "content": "x"})
        assert r.status_code == 404


async def test_threads_list_show_and_messages(server: RunningServer) -> None:
    async with docs_client(server) as http:
        first = (await http.post(f"/flows/{MAIN}/messages", json={"content": "topic one"})).json()
        second = (await http.post(f"/flows/{MAIN}/messages", json={"content": "topic two"})).json()
        tid = first["thread_id"]
        r = await http.post(f"/flows/{MAIN}/threads/{tid}/messages", json={
            "event": "message", "content": "reply in thread"
        })  # fmt: skip
        assert r.status_code in (200, 201) and r.json()["thread_id"] == tid
        threads = (await http.get(f"/flows/{MAIN}/threads")).json()
        ids = [t["id"] for t in threads]
        assert ids[0] == tid  # newest activity first
        assert second["thread_id"] in ids
        thread = (await http.get(f"/flows/{MAIN}/threads/{tid}")).json()
        assert thread["id"] == tid and thread["internal_comments"] == 2
        assert isinstance(thread["created_at"], str)
        msgs = (await http.get(f"/flows/{MAIN}/threads/{tid}/messages")).json()
        assert [m["content"] for m in msgs] == ["topic one", "reply in thread"]
        assert (await http.get(f"/flows/{MAIN}/threads/nope")).status_code == 404


async def test_edit_answers_empty_object_delete_empty_and_own_files(
    server: RunningServer,
) -> None:
    async with docs_client(server) as http:
        msg = (await http.post(f"/flows/{MAIN}/messages", json={"content": "v1"})).json()
        url = f"/flows/{MAIN}/messages/{msg['id']}"
        r = await http.put(url, json={"content": "v2", "tags": ["todo", "#feedback"]})
        assert r.status_code == 200 and r.json() == {}
        stored = (await http.get(url)).json()
        assert stored["content"] == "v2" and {"todo", "feedback"} <= set(stored["tags"])
        r = await http.delete(url)
        assert r.status_code in (200, 204) and r.content == b""
        upload = {"event": "file", "content": {
            "data": base64.b64encode(b"hello file").decode(), "content_type": "text/plain",
            "file_name": "hello.txt"}}  # fmt: skip
        f = (await http.post(f"/flows/{MAIN}/messages", json=upload)).json()
        assert f["event"] == "file" and ":file" in f["tags"]
        r = await http.delete(f"/flows/{MAIN}/messages/{f['id']}")
        assert r.status_code == 204
        assert (await http.get(f"/flows/{MAIN}/messages/{f['id']}")).status_code == 404


async def test_anyone_who_sees_a_message_may_change_its_tags(server: RunningServer) -> None:
    friend = other_user(server, MAIN)
    async with client(server) as http:
        r = await http.post(f"/flows/{MAIN}/messages", json={"content": "theirs"},
                            headers=basic(friend.token))  # fmt: skip
        url = f"/flows/{MAIN}/messages/{r.json()['id']}"
        r = await http.put(url, json={"tags": ["Important"]}, headers=basic(server.token))
        assert r.status_code == 200 and r.json() == {}
        assert "important" in (await http.get(url, headers=basic(server.token))).json()["tags"]
        r = await http.put(url, json={"content": "mine"}, headers=basic(server.token))
        assert r.status_code == 403  # content stays the author's


async def test_tag_normalisation_explicit_and_in_content(server: RunningServer) -> None:
    state = server.state
    flow = state.flows_by_slug[MAIN]
    friend = other_user(server, MAIN)
    async with docs_client(server) as http:
        r = await http.post(f"/flows/{MAIN}/messages", json={
            "content": "hi @team and @Everybody", "tags": "#Cool,AWESOME,@" + friend.nick.upper()
        })  # fmt: skip
        tags = r.json()["tags"]
        assert "cool" in tags and "awesome" in tags and "#cool" not in tags
        assert f":user:{friend.id}" in tags and f":unread:{friend.id}" in tags
        assert ":user:team" in tags and ":user:everyone" in tags
        for alias in ("@all", "@anyone", "@anybody", "@everyone"):
            r = await http.post(f"/flows/{MAIN}/messages", json={"content": "x", "tags": [alias]})
            assert ":user:everyone" in r.json()["tags"], alias
        r = await http.post(f"/flows/{MAIN}/messages", json={"content": "x", "tags": ["@team"]})
        assert ":user:team" in r.json()["tags"]
        # private messages get :url (and hashtags) from their content too
        r = await http.post(f"/private/{friend.id}/messages",
                            json={"content": "see https://example.com #Later"})  # fmt: skip
        assert r.status_code in (200, 201)
        assert ":url" in r.json()["tags"] and "later" in r.json()["tags"]
        # a tags filter with @nick finds the :user:<id> tag
        r = await http.get(f"/flows/{MAIN}/messages", params={"tags": "@" + friend.nick})
        assert r.json() and all(f":user:{friend.id}" in m["tags"] for m in r.json())
        # an explicit :unread: filter is kept (how a client finds its mentions)
        unread = f":unread:{friend.id}"
        r = await http.get(f"/flows/{MAIN}/messages", params={"tags": unread})
        assert r.json() and all(unread in m["tags"] for m in r.json())
    assert flow.id


async def test_list_params_from_json_body_search_and_skip(server: RunningServer) -> None:
    async with docs_client(server) as http:
        for text in ("alpha beta", "beta gamma", "alpha gamma", "Alpha Beta Gamma"):
            await http.post(f"/flows/{MAIN}/messages", json={"content": text})
        url = f"/flows/{MAIN}/messages"

        async def contents(params: dict[str, Any] | None = None, body: Any = None) -> list[str]:
            r = await http.request(
                "GET", url, params=params,
                content=json.dumps(body).encode() if body is not None else None,
                headers={"Content-Type": "application/json"} if body is not None else None,
            )  # fmt: skip
            assert r.status_code == 200, r.text
            return [m["content"] for m in r.json()]

        assert await contents({"search": "alpha beta"}) == ["alpha beta", "Alpha Beta Gamma"]
        assert await contents(body={"search": "gamma", "limit": 2}) == [
            "alpha gamma", "Alpha Beta Gamma"
        ]  # fmt: skip
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        r = await http.request("GET", url, content=b"search=beta&limit=1", headers=form)
        assert [m["content"] for m in r.json()] == ["Alpha Beta Gamma"]
        # the query string wins over the body
        assert await contents({"limit": "1"}, body={"limit": 3}) == ["Alpha Beta Gamma"]
        assert await contents({"search": "gamma", "skip": "1"}) == ["beta gamma", "alpha gamma"]
        assert await contents({"search": "alpha", "sort": "asc", "skip": "1"}) == [
            "alpha gamma", "Alpha Beta Gamma"
        ]  # fmt: skip


async def test_multipart_upload_is_stored_and_served(server: RunningServer) -> None:
    payload = b"\x89PNG fake image bytes \x00\x01"
    async with docs_client(server) as http:
        r = await http.post(
            f"/flows/{MAIN}/messages",
            data={"event": "file"},
            files={"content": ("pic.png", payload, "image/png")},
        )
        assert r.status_code in (200, 201), r.text
        msg = r.json()
        att = msg["attachments"][0]
        assert att["file_name"] == "pic.png" and att["file_size"] == len(payload)
        assert msg["content"]["path"] == att["path"]
        got = await http.get(att["path"], follow_redirects=True)
        assert got.status_code == 200 and got.content == payload
        assert got.headers["content-type"].startswith("image/png")
        got = await http.get("/api" + att["path"], follow_redirects=True)
        assert got.content == payload
        big = b"x" * ((10 << 20) + 1)
        r = await http.post(
            f"/flows/{MAIN}/messages",
            data={"event": "file"},
            files={"content": ("big.bin", big, "application/octet-stream")},
        )
        assert r.status_code == 413
        # the files of simulated messages answer too
        sim = "/files/123/abcdef/report.pdf"
        assert (await http.get(sim)).status_code == 200
        assert (await httpx.AsyncClient(base_url=server.base_url).get(sim)).status_code == 401


async def test_flow_token_integrations_and_push_api(server: RunningServer) -> None:
    async with docs_client(server) as http:
        flows = (await http.get("/flows")).json()
        main = next(f for f in flows if f["parameterized_name"] == "main")
        flow_token = main["api_token"]
        assert flow_token and len({f["api_token"] for f in flows}) == len(flows)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as anon:
        r = await anon.post("/messages", json={
            "flow_token": flow_token, "event": "message", "content": "from CI",
            "external_user_name": "ci-bot",
        })  # fmt: skip
        assert r.status_code == 202
        r = await anon.post(f"/v1/messages/chat/{flow_token}", json={
            "content": "pushed", "external_user_name": "pusher", "tags": ["#Deploy"]
        })  # fmt: skip
        assert r.status_code == 200 and r.json() == {}
        r = await anon.post("/v1/messages/chat/not-a-token", json={
            "content": "x", "external_user_name": "p"
        })  # fmt: skip
        assert r.status_code == 401
        r = await anon.post("/messages", json={"flow_token": flow_token, "content": "x"})
        assert r.status_code == 400  # external_user_name is required
        assert (await anon.post("/messages", json={"content": "x"})).status_code == 401
    async with docs_client(server) as http:
        msgs = (await http.get(f"/flows/{MAIN}/messages")).json()
        pushed = [m for m in msgs if m.get("external_user_name")]
        assert [(m["content"], m["external_user_name"]) for m in pushed] == [
            ("from CI", "ci-bot"), ("pushed", "pusher")
        ]  # fmt: skip
        assert "deploy" in pushed[1]["tags"]


async def test_invitations_are_accepted_as_pending(server: RunningServer) -> None:
    async with docs_client(server) as http:
        url = f"/flows/{MAIN}/invitations"
        r = await http.post(url, json={"email": "new@example.com", "message": "join us"})
        assert r.status_code == 201
        assert r.json()["state"] == "pending" and r.json()["email"] == "new@example.com"
        assert (await http.post(url, json={"message": "no email"})).status_code == 400
        assert (await http.post("/flows/acme/nope/invitations", json={
            "email": "a@b.c"})).status_code == 404  # fmt: skip


async def test_emoji_reactions_over_rest_reach_the_stream(server: RunningServer) -> None:
    friend = other_user(server, MAIN)
    async with docs_client(server) as http:
        msg = (await http.post(f"/flows/{MAIN}/messages", json={"content": "react"})).json()
        url = f"/flows/{MAIN}/messages/{msg['id']}/reactions"
        async with http.stream("GET", "/stream/flows", params={"filter": MAIN}) as resp:
            reader = WireReader(resp)
            assert (await http.put(url + "/thumbsup")).json() == {}
            assert (await http.post(url, json={"emoji": "❤"})).status_code == 200
            assert (await http.request("DELETE", url, json={"emoji": "❤"})).status_code == 200
            got = await reader.records(3)
        assert [(g["event"], g["content"]["emoji"], g["content"]["type"]) for g in got] == [
            ("emoji-reaction", "thumbsup", "add"),
            ("emoji-reaction", "❤", "add"),
            ("emoji-reaction", "❤", "remove"),
        ]
        stored = (await http.get(f"/flows/{MAIN}/messages/{msg['id']}")).json()
        me = server.state.me
        assert me is not None and stored["emojiReactions"] == {"thumbsup": [me.id]}
        assert (await http.delete(url + "/thumbsup")).status_code == 200
        assert (await http.put(url + "/has%20space")).status_code == 400
        assert (await http.put(f"/flows/{MAIN}/messages/999999/reactions/x")).status_code == 404
        pm = (await http.post(f"/private/{friend.id}/messages", json={"content": "hi"})).json()
        r = await http.put(f"/private/{friend.id}/messages/{pm['id']}/reactions/wave")
        assert r.status_code == 200


async def test_integration_activity_and_discussion_build_a_thread(server: RunningServer) -> None:
    flow_token = server.state.flows_by_slug[MAIN].api_token
    thread = {
        "title": "Fix bug in thread API",
        "body": "",
        "status": {"color": "green", "value": "open"},
        "external_url": "https://example.com/pr/42",
    }
    author = {"name": "anttipitkanen", "avatar": "https://example.com/a.png"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as anon:
        r = await anon.post("/messages", json={
            "flow_token": flow_token, "event": "activity", "author": author,
            "title": "Opened pull request", "external_thread_id": "github:pr:42", "thread": thread,
        })  # fmt: skip
        assert r.status_code == 202, r.text
        r = await anon.post("/messages", json={
            "flow_token": flow_token, "event": "discussion", "author": author,
            "title": "commented", "body": "LGTM", "external_thread_id": "github:pr:42",
        })  # fmt: skip
        assert r.status_code == 202, r.text
        r = await anon.post("/messages", json={
            "flow_token": flow_token, "event": "activity", "author": author, "title": "x",
            "external_thread_id": "unknown-without-thread-state",
        })  # fmt: skip
        assert r.status_code == 400
    async with docs_client(server) as http:
        msgs = (await http.get(f"/flows/{MAIN}/messages")).json()
        acts = [m for m in msgs if m["event"] in ("activity", "discussion")]
        assert [m["event"] for m in acts] == ["activity", "discussion"]
        assert acts[0]["thread_id"] == acts[1]["thread_id"]
        assert acts[0]["author"]["name"] == "anttipitkanen" and acts[1]["body"] == "LGTM"
        t = (await http.get(f"/flows/{MAIN}/threads/{acts[0]['thread_id']}")).json()
        assert t["title"] == "Fix bug in thread API"
        assert (t["activities"], t["external_comments"]) == (1, 1)
