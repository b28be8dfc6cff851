"""RestClient over loopback HTTP.

Part 1 runs against flowview's own Flowdock-compatible server (`project_server` in conftest.py:
`run_server`, no random traffic).
Part 2 runs against a small hand-made server that returns malformed and hostile responses the
real server never produces (bad list items, token echoes, huge bodies, endless paging).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowview.protocol import rest as rest_mod
from flowview.protocol.auth import Token
from flowview.protocol.events import CommentEvent, MessageEvent
from flowview.protocol.rest import ApiError, AuthError, Flow, RestClient, User

pytestmark = pytest.mark.timeout(60)


# =========================================================================== part 1: real server


@pytest.fixture
async def client(project_server: Any) -> AsyncIterator[RestClient]:
    async with RestClient(project_server.api_url, Token(project_server.token)) as rest:
        yield rest


async def _a_flow(client: RestClient) -> Flow:
    flows = await client.flows()
    assert flows, "the simulated user should be in at least one flow"
    return flows[0]


async def test_user_and_flowdock_user_header(client: RestClient) -> None:
    me = await client.user()
    assert isinstance(me, User)
    assert me.id and me.nick
    assert client.me_id == me.id


async def test_flows_and_lookups(client: RestClient) -> None:
    flows = await client.flows()
    assert all(isinstance(f, Flow) for f in flows)
    assert len({f.id for f in flows}) == len(flows)
    first = flows[0]
    assert first.slug == f"{first.organization}/{first.parameterized_name}"
    by_slug = await client.flow(first.slug)
    assert by_slug.id == first.id
    by_id = await client.find_flow(first.id)
    assert by_id.slug == first.slug
    members = await client.flow_users(first.slug)
    me = await client.user()
    assert me.id in {u.id for u in members}
    everyone = await client.users()
    assert {u.id for u in members} <= {u.id for u in everyone}


async def test_post_then_read_back(client: RestClient) -> None:
    flow = await _a_flow(client)
    posted = await client.post_message(flow.slug, "hello from the rest test", uuid="uuid-rest-1")
    assert posted["content"] == "hello from the rest test"
    msg_id = posted["id"]
    history = await client.messages(flow.slug, since_id=msg_id - 1, limit=10)
    ours = [ev for ev in history if ev.id == msg_id]
    assert len(ours) == 1
    ev = ours[0]
    assert isinstance(ev, MessageEvent)
    assert ev.text == "hello from the rest test"
    assert ev.uuid == "uuid-rest-1"
    assert ev.flow == flow.id
    assert ev.user == (await client.user()).id
    single = await client.message(flow.slug, msg_id)
    assert single.id == msg_id


async def test_pagination_since_until_limit(client: RestClient) -> None:
    flow = await _a_flow(client)
    ids = []
    for i in range(7):
        posted = await client.post_message(flow.slug, f"page test {i}")
        ids.append(posted["id"])
    base = ids[0] - 1

    first3 = await client.messages(flow.slug, since_id=base, limit=3, sort="asc")
    assert [ev.id for ev in first3] == ids[:3]
    next3 = await client.messages(flow.slug, since_id=ids[2], limit=3, sort="asc")
    assert [ev.id for ev in next3] == ids[3:6]
    # until_id is exclusive; desc takes the newest end but still returns ascending ids
    before = await client.messages(flow.slug, until_id=ids[4], limit=2, sort="desc")
    assert [ev.id for ev in before] == ids[2:4]
    window = await client.messages(flow.slug, since_id=ids[1], until_id=ids[5])
    assert [ev.id for ev in window] == ids[2:5]
    only_msgs = await client.messages(flow.slug, since_id=base, event="message")
    assert {ev.event for ev in only_msgs} == {"message"}

    backfill = await client.history_since(flow.slug, base, limit=2)
    assert [ev.id for ev in backfill if ev.id in ids] == ids
    # a flow id is resolved to its slug first (stream events carry only ids)
    by_id = await client.history_since(flow.id, ids[4], limit=100)
    assert [ev.id for ev in by_id] == ids[5:]


async def test_edit_and_delete_via_put(client: RestClient) -> None:
    flow = await _a_flow(client)
    posted = await client.post_message(flow.slug, "typo hre")
    msg_id = posted["id"]
    await client.edit_message(flow.slug, msg_id, content="typo here")
    edited = await client.message(flow.slug, msg_id)
    assert isinstance(edited, MessageEvent)
    assert edited.text == "typo here"
    await client.delete_message(flow.slug, msg_id)
    deleted = await client.message(flow.slug, msg_id)
    assert isinstance(deleted, MessageEvent)
    assert deleted.text == ""


async def test_comment_post(client: RestClient) -> None:
    flow = await _a_flow(client)
    parent = await client.post_message(flow.slug, "parent")
    # the generic form (event=comment + parent `message` id) and the comments endpoint
    generic = await client.post_message(flow.slug, "a reply", event="comment", message=parent["id"])
    nested = await client.post_comment(flow.slug, parent["id"], "another reply")
    for posted, text in ((generic, "a reply"), (nested, "another reply")):
        ev = await client.message(flow.slug, posted["id"])
        assert isinstance(ev, CommentEvent)
        assert ev.text == text
        assert ev.title == "parent"
        assert ev.parent_id == parent["id"]
    await client.edit_message(flow.slug, nested["id"], content="edited reply")
    edited = await client.message(flow.slug, nested["id"])
    assert isinstance(edited, CommentEvent)
    assert (edited.title, edited.text) == ("parent", "edited reply")


async def test_private_messages(client: RestClient) -> None:
    me = await client.user()
    other = next(u for u in await client.users() if u.id != me.id)
    sent = await client.post_private_message(other.id, "psst")
    assert sent["to"] == other.id
    history = await client.private_messages(other.id, since_id=sent["id"] - 1)
    ev = next(e for e in history if e.id == sent["id"])
    assert isinstance(ev, MessageEvent)
    assert ev.text == "psst"
    assert ev.is_private
    assert ev.key == ("private", ":".join(sorted((me.id, other.id))))
    back = await client.private_history_since(other.id, sent["id"] - 1)
    assert sent["id"] in [e.id for e in back]
    convs = await client.private()
    assert all(isinstance(c, dict) for c in convs)


async def test_wrong_token_is_auth_error_without_token(project_server: Any) -> None:
    bad = "0123456789abcdef0123456789abcdef"
    async with RestClient(project_server.api_url, Token(bad)) as rest:
        with pytest.raises(AuthError) as info:
            await rest.user()
    err = info.value
    assert err.status == 401
    basic = base64.b64encode(f"{bad}:".encode()).decode()
    for text in (str(err), repr(err), err.message, str(err.args)):
        assert bad not in text
        assert basic not in text


async def test_unknown_flow_is_404(client: RestClient) -> None:
    with pytest.raises(ApiError) as info:
        await client.messages("no-such-org/no-such-flow")
    assert info.value.status == 404
    assert not isinstance(info.value, AuthError)
    with pytest.raises(ApiError) as info2:
        await client.flow("no-such-org/no-such-flow")
    assert info2.value.status == 404


# =========================================================================== part 2: crafted


SECRET = "feedfacefeedfacefeedfacefeedface"
SECRET_BASIC = base64.b64encode(f"{SECRET}:".encode()).decode()


def _flows_payload() -> list[Any]:
    return [
        {
            "id": "uuid-1",
            "name": "Main",
            "parameterized_name": "main",
            "organization": {"id": 1, "name": "Acme Inc", "parameterized_name": "acme"},
            "open": True,
            "joined": True,
            "url": "https://api.flowdock.com/flows/acme/main",
            "unread_mentions": 2,
            "users": [{"id": 1, "nick": "a"}, {"nick": "no-id"}, "junk"],
        },
        # before 2013-10 `organization` was a plain string
        {"id": "legacy:flow", "name": "Old", "parameterized_name": "old", "organization": "legacy"},
        # no organization at all: derived from the API url
        {"id": "uuid-3", "name": "D", "url": "https://api.flowdock.com/flows/acme/derived"},
        {"name": "no id", "parameterized_name": "x", "organization": "acme"},
        {"id": "uuid-5", "parameterized_name": "bad/slash", "organization": "acme"},
        {"id": "uuid-6", "parameterized_name": "x", "organization": {"name": 5}, "url": 7},
        5,
        None,
        ["list"],
    ]


def _endless(request: Request) -> JSONResponse:
    since = int(request.query_params.get("since_id", "0"))
    limit = int(request.query_params["limit"])
    return JSONResponse([{"event": "message", "id": since + i + 1} for i in range(limit)])


class Crafted:
    """Routes of the hand-made server; `requests` records what arrived."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def route(self, request: Request) -> Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api")
        if request.headers.get("authorization") != Token(SECRET).authorization():
            return JSONResponse(
                {"message": f"bad credentials {request.headers.get('authorization')}"}, 401
            )
        answer = _ANSWERS.get(path)
        if answer is not None:
            return answer(request)
        if path == "/flows/acme/main/messages" and request.method == "GET":
            return JSONResponse(_MAIN_HISTORY)
        if path.startswith("/flows/acme/main/messages/") and request.method == "PUT":
            body_json = json.loads(await request.body())
            return JSONResponse({"echo": body_json})
        if path == "/flows/acme/main/messages" or request.method == "POST":
            return JSONResponse({"echo": json.loads(await request.body())}, 201)
        return JSONResponse({"message": "not found"}, 404)


# The crafted server's fixed answers, by path under /api (one small function each, so `route`
# stays a dispatcher).
_ME = {"Flowdock-User": "77"}


def _flow_found(request: Request) -> Response:
    flow = dict(_flows_payload()[0])
    flow["id"] = request.query_params["id"]
    return JSONResponse(flow)


def _gappy(request: Request) -> Response:
    since = int(request.query_params["since_id"])
    if since >= 6:
        return JSONResponse([])
    page: list[Any] = [{"event": "message", "id": since + 1}, "junk", {"id": since + 2}]
    return JSONResponse(page)


def _boom(request: Request) -> Response:
    body = f"Internal \x1b[31merror\x07 {SECRET} {SECRET_BASIC} " + "x" * 5000
    return Response(body, 500, media_type="text/plain")


_MAIN_HISTORY: list[Any] = [
    {"event": "message", "id": 1, "content": "ok", "flow": "uuid-1"},
    "not an event",
    {"id": 2},
    {"event": 3},
    {"event": "comment", "id": 4, "content": None, "user": {"x": 1}},
]

_ANSWERS: dict[str, Callable[[Request], Response]] = {
    "/user": lambda r: JSONResponse({"nick": "me", "name": "Me", "email": ""}, headers=_ME),
    "/flows": lambda r: JSONResponse(_flows_payload(), headers=_ME),
    "/flows/find": _flow_found,
    "/users": lambda r: JSONResponse([{"id": "1", "nick": "a"}, {"id": 2, "name": "B"}, {}, "x"]),
    "/flows/acme/endless/messages": lambda r: _endless(r),
    "/flows/acme/stuck/messages": lambda r: JSONResponse(
        [{"event": "message", "id": 5} for _ in range(3)]
    ),
    "/flows/acme/gappy/messages": _gappy,
    "/flows/acme/boom/messages": _boom,
    "/flows/acme/html/messages": lambda r: Response(
        "<html>maintenance</html>", 200, media_type="text/html"
    ),
    "/flows/acme/object/messages": lambda r: JSONResponse({"not": "a list"}),
    "/flows/acme/huge/messages": lambda r: Response(
        b"[" + b" " * 5000 + b"]", 200, media_type="application/json"
    ),
    "/flows/acme/forbidden/messages": lambda r: JSONResponse({"message": "no access"}, 403),
}


@asynccontextmanager
async def crafted_server() -> AsyncIterator[tuple[str, Crafted]]:
    crafted = Crafted()
    app = Starlette(
        routes=[Route("/{path:path}", crafted.route, methods=["GET", "POST", "PUT", "DELETE"])]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    try:
        while not srv.started:
            await asyncio.sleep(0.01)
        port = srv.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}/api", crafted
    finally:
        srv.should_exit = True
        await task


@pytest.fixture
async def crafted() -> AsyncIterator[tuple[RestClient, Crafted]]:
    async with crafted_server() as (api_url, routes), RestClient(api_url, Token(SECRET)) as rest:
        yield rest, routes


async def test_flows_tolerate_both_organization_shapes(crafted: tuple[RestClient, Crafted]) -> None:
    rest, _ = crafted
    flows = await rest.flows()
    assert [f.slug for f in flows] == ["acme/main", "legacy/old", "acme/derived"]
    main = flows[0]
    assert (main.id, main.name, main.organization_name, main.unread_mentions) == (
        "uuid-1",
        "Main",
        "Acme Inc",
        2,
    )
    assert [u.id for u in main.users] == ["1"]
    assert flows[1].organization == "legacy"
    assert rest.me_id == "77"


async def test_user_id_falls_back_to_flowdock_user_header(
    crafted: tuple[RestClient, Crafted],
) -> None:
    rest, _ = crafted
    me = await rest.user()
    assert (me.id, me.nick, me.email) == ("77", "me", None)


async def test_users_skip_malformed(crafted: tuple[RestClient, Crafted]) -> None:
    rest, _ = crafted
    users = await rest.users()
    assert [(u.id, u.nick) for u in users] == [("1", "a"), ("2", "B")]


async def test_find_flow_sends_id_as_query(crafted: tuple[RestClient, Crafted]) -> None:
    rest, routes = crafted
    flow = await rest.find_flow("org:flow/with?odd&chars")
    assert flow.id == "org:flow/with?odd&chars"
    assert routes.requests[-1].query_params["id"] == "org:flow/with?odd&chars"


async def test_messages_skip_unparseable_items(crafted: tuple[RestClient, Crafted]) -> None:
    rest, routes = crafted
    events = await rest.messages("acme/main", since_id=0, limit=5, event=["message", "comment"])
    assert [(e.event, e.id) for e in events] == [("message", 1), ("comment", 4)]
    assert isinstance(events[1], CommentEvent) and events[1].user is None
    params = routes.requests[-1].query_params
    assert dict(params) == {
        "limit": "5",
        "sort": "asc",
        "since_id": "0",
        "event": "message,comment",
    }
    assert routes.requests[-1].headers["authorization"] == Token(SECRET).authorization()
    assert SECRET not in str(routes.requests[-1].url)


async def test_history_since_caps_pages(crafted: tuple[RestClient, Crafted]) -> None:
    rest, routes = crafted
    events = await rest.history_since("acme/endless", 10, limit=4, max_pages=3)
    assert [e.id for e in events] == list(range(11, 23))
    assert len(routes.requests) == 3
    assert [r.query_params["since_id"] for r in routes.requests] == ["10", "14", "18"]


async def test_history_since_stops_without_progress(crafted: tuple[RestClient, Crafted]) -> None:
    rest, routes = crafted
    events = await rest.history_since("acme/stuck", 5, limit=3)
    assert events == []  # nothing newer than since_id
    assert len(routes.requests) == 1


async def test_history_since_pages_on_raw_count(crafted: tuple[RestClient, Crafted]) -> None:
    rest, _ = crafted
    # each page holds 3 raw items of which only one parses; paging must go on regardless
    events = await rest.history_since("acme/gappy", 0, limit=3)
    assert [e.id for e in events] == [1, 3, 5]


async def test_server_error_is_sanitised(crafted: tuple[RestClient, Crafted]) -> None:
    rest, _ = crafted
    with pytest.raises(ApiError) as info:
        await rest.messages("acme/boom")
    err = info.value
    assert err.status == 500
    assert len(err.message) <= rest_mod.MAX_ERROR_CHARS
    assert err.message.startswith("Internal [31merror **** **** xxx")
    for text in (str(err), repr(err), err.message):
        assert SECRET not in text and SECRET_BASIC not in text
        assert not any(ord(c) < 32 for c in text)


async def test_auth_error_never_echoes_credentials(crafted: tuple[RestClient, Crafted]) -> None:
    rest, _ = crafted
    wrong = "abcdabcdabcdabcdabcdabcdabcdabcd"  # the server echoes the header it got
    async with RestClient(rest.api_url, Token(wrong)) as bad:
        with pytest.raises(AuthError) as info:
            await bad.flows()
    text = str(info.value) + repr(info.value)
    assert "bad credentials" in text
    assert wrong not in text
    assert base64.b64encode(f"{wrong}:".encode()).decode() not in text
    async with RestClient(rest.api_url, Token(wrong, "oauth")) as bad_oauth:
        with pytest.raises(AuthError) as info2:
            await bad_oauth.flows()
    assert wrong not in str(info2.value)
    assert "****" in str(info2.value)


async def test_403_is_auth_error(crafted: tuple[RestClient, Crafted]) -> None:
    rest, _ = crafted
    with pytest.raises(AuthError) as info:
        await rest.messages("acme/forbidden")
    assert info.value.status == 403
    assert "no access" in info.value.message


async def test_bad_bodies(crafted: tuple[RestClient, Crafted], monkeypatch: Any) -> None:
    rest, _ = crafted
    with pytest.raises(ApiError, match="not valid JSON"):
        await rest.messages("acme/html")
    with pytest.raises(ApiError, match="expected a JSON list"):
        await rest.messages("acme/object")
    monkeypatch.setattr(rest_mod, "MAX_BODY_BYTES", 1000)
    with pytest.raises(ApiError, match="too large"):
        await rest.messages("acme/huge")


async def test_post_and_edit_bodies(crafted: tuple[RestClient, Crafted]) -> None:
    rest, routes = crafted
    result = await rest.post_message("acme/main", "hi", tags=["x"], thread_id="T")
    assert result == {
        "echo": {"tags": ["x"], "thread_id": "T", "event": "message", "content": "hi"}
    }
    assert routes.requests[-1].headers["x-flowdock-wait-for-message"] == "true"
    private = await rest.post_private_message("42", "psst")
    assert private == {"echo": {"event": "message", "content": "psst"}}
    assert routes.requests[-1].url.path == "/api/private/42/messages"
    edited = await rest.edit_message("acme/main", 9, content="new", tags=["a"])
    assert edited == {"echo": {"content": "new", "tags": ["a"]}}
    assert routes.requests[-1].method == "PUT"
    with pytest.raises(ValueError):
        await rest.edit_message("acme/main", 9)


async def test_argument_validation(crafted: tuple[RestClient, Crafted]) -> None:
    rest, routes = crafted
    for kwargs in ({"limit": 0}, {"limit": 101}, {"sort": "sideways"}):
        with pytest.raises(ValueError):
            await rest.messages("acme/main", **kwargs)
    with pytest.raises(ValueError):
        await rest.messages("not-a-slug")
    with pytest.raises(ValueError):
        await rest.private_messages("a/b")
    assert routes.requests == []


async def test_network_error_is_api_error_status_0() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with RestClient(f"http://127.0.0.1:{port}/api", Token(SECRET)) as rest:
        with pytest.raises(ApiError) as info:
            await rest.user()
    assert info.value.status == 0
    assert "/api/user" in str(info.value)
    assert SECRET not in str(info.value)


async def test_shared_http_client_is_not_closed() -> None:
    async with crafted_server() as (api_url, _), httpx.AsyncClient() as http:
        rest = RestClient(api_url, Token(SECRET), http=http)
        assert SECRET not in repr(rest)
        assert len(await rest.users()) == 2
        await rest.aclose()
        assert not http.is_closed


def test_constructor_refuses_credentials_in_url() -> None:
    with pytest.raises(ValueError) as info:
        RestClient(f"https://{SECRET}@api.example.com", Token(SECRET))
    assert SECRET not in str(info.value)


async def test_a_trickling_server_hits_the_overall_deadline(trickle_url: str) -> None:
    """httpx's timeouts are per read: one byte every 0.2 s never trips a 10 s read timeout.
    The call's overall deadline does."""
    loop = asyncio.get_running_loop()
    async with RestClient(trickle_url, Token("t0ken-value"), deadline=0.6) as rest:
        started = loop.time()
        with pytest.raises(ApiError, match=r"no complete answer within 0.6 s"):
            await rest.flows()
        assert 0.6 <= loop.time() - started < 3.0
