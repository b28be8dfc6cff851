"""Stream URL builder: path vs filter form, presence, encoding seen by a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flowview.protocol.auth import Token
from flowview.protocol.httpauth import TokenAuth
from flowview.protocol.urls import (
    DEFAULT_API_URL,
    DEFAULT_STREAM_URL,
    is_slug,
    join_url,
    stream_url,
)

pytestmark = pytest.mark.timeout(60)

SECRET = "cafebabecafebabecafebabe"


def test_defaults() -> None:
    assert DEFAULT_STREAM_URL == "https://stream.flowdock.com"
    assert DEFAULT_API_URL == "https://api.flowdock.com"


def test_single_slug_without_private_uses_path_form() -> None:
    url = stream_url(DEFAULT_STREAM_URL, ["example/main"], private=False, presence="active")
    assert str(url) == "https://stream.flowdock.com/flows/example/main?active=true"


def test_several_flows_use_filter() -> None:
    url = stream_url(
        "http://127.0.0.1:8/stream/", ["org/a", "org/b"], private=True, presence="idle"
    )
    assert str(url) == "http://127.0.0.1:8/stream/flows?filter=org/a,org/b&user=1&active=idle"


def test_private_makes_one_flow_use_filter() -> None:
    url = stream_url(DEFAULT_STREAM_URL, ["org/a"], private=True, presence="active")
    assert url.path == "/flows"
    assert url.params["filter"] == "org/a"
    assert url.params["user"] == "1"


def test_private_only() -> None:
    url = stream_url(DEFAULT_STREAM_URL, [], private=True, presence="active")
    assert url.path == "/flows"
    assert "filter" not in url.params
    assert url.params["user"] == "1"


def test_flow_ids_always_go_in_filter() -> None:
    for flow_id in ("0adc400f-ca1c-434b-81ee-c932f4fba2dd", "irc:ottotest"):
        url = stream_url(DEFAULT_STREAM_URL, [flow_id], private=False, presence="active")
        assert url.path == "/flows"
        assert url.params["filter"] == flow_id


def test_offline_omits_active_and_presence_events_flag() -> None:
    url = stream_url(DEFAULT_STREAM_URL, ["o/f", "o/g"], private=False, presence="offline")
    assert "active" not in url.params
    assert "presence" not in url.params
    url = stream_url(
        DEFAULT_STREAM_URL, ["o/f"], private=False, presence="offline", presence_events=True
    )
    assert url.params["presence"] == "1"


def test_duplicates_and_blanks_are_dropped() -> None:
    url = stream_url(
        DEFAULT_STREAM_URL, ["o/a", " o/a ", "", "o/b"], private=False, presence="active"
    )
    assert url.params["filter"] == "o/a,o/b"


def test_invalid_input() -> None:
    with pytest.raises(ValueError):
        stream_url(DEFAULT_STREAM_URL, [], private=False, presence="active")
    with pytest.raises(ValueError):
        stream_url(DEFAULT_STREAM_URL, ["a,b"], private=False, presence="active")
    with pytest.raises(ValueError):
        stream_url(DEFAULT_STREAM_URL, ["o/f"], private=False, presence="away")  # type: ignore[arg-type]
    for base in (
        f"https://{SECRET}@stream.example",
        f"https://{SECRET}:x@h",
        "h/x",
        f"https://h/?token={SECRET}",
    ):
        with pytest.raises(ValueError) as info:
            stream_url(base, ["o/f"], private=False, presence="active")
        assert SECRET not in str(info.value)


def test_special_characters_are_encoded() -> None:
    url = stream_url(DEFAULT_STREAM_URL, ["o/a b", "x&y=z"], private=False, presence="active")
    assert url.params["filter"] == "o/a b,x&y=z"
    assert "&y=" not in url.raw_path.decode()
    one = stream_url(DEFAULT_STREAM_URL, ["my org/the flow"], private=False, presence="active")
    assert one.raw_path.startswith(b"/flows/my%20org/the%20flow")


def test_is_slug() -> None:
    assert is_slug("org/flow")
    for not_slug in ("org:flow", "0adc400f-ca1c", "/flow", "org/", "a/b/c", ""):
        assert not is_slug(not_slug)


def test_join_url_quotes_segments() -> None:
    url = join_url("http://h/api/", "flows", "a/b", params=[("id", "x:y/z")])
    assert url.raw_path == b"/api/flows/a%2Fb?id=x%3Ay%2Fz"
    with pytest.raises(ValueError):
        join_url("http://h/api", "flows", "")


# --------------------------------------------------------------------------- real server


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "path": request.url.path,
            "raw_query": request.scope["query_string"].decode(),
            "params": dict(request.query_params),
            "authorization": request.headers.get("authorization"),
        }
    )


@asynccontextmanager
async def echo_server() -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/{path:path}", _echo)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _seen(url: httpx.URL, token: Token) -> dict[str, Any]:
    async with httpx.AsyncClient(auth=TokenAuth(token)) as http:
        resp = await http.get(url)
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result


async def test_server_sees_literal_filter_and_no_token_in_url() -> None:
    token = Token(SECRET)
    async with echo_server() as base:
        seen = await _seen(
            stream_url(
                f"{base}/stream", ["org/a", "org/b", "irc:x"], private=True, presence="active"
            ),
            token,
        )
        assert seen["path"] == "/stream/flows"
        assert seen["raw_query"] == "filter=org/a,org/b,irc:x&user=1&active=true"
        assert seen["params"] == {"filter": "org/a,org/b,irc:x", "user": "1", "active": "true"}
        assert seen["params"]["filter"].split(",") == ["org/a", "org/b", "irc:x"]
        assert seen["authorization"] == token.authorization()
        assert SECRET not in seen["raw_query"] and SECRET not in seen["path"]

        one = await _seen(
            stream_url(f"{base}/stream", ["org/main"], private=False, presence="idle"), token
        )
        assert one["path"] == "/stream/flows/org/main"
        assert one["params"] == {"active": "idle"}

        odd = await _seen(
            stream_url(f"{base}/stream", ["o/a b", "x&y=z"], private=False, presence="offline"),
            token,
        )
        assert odd["params"] == {"filter": "o/a b,x&y=z"}


async def test_flowview_server_subscribes_to_the_requested_flows() -> None:
    from flowview.protocol.rest import RestClient
    from flowview.server.runner import ServerOptions, run_server

    async with run_server(ServerOptions(rate=0)) as server:
        token = Token(server.token)
        async with RestClient(server.api_url, token) as rest:
            flows = await rest.flows()
        assert len(flows) >= 2
        cases = [
            # (flows requested, private, expected subscribed flow ids)
            ([flows[0].slug, flows[1].slug], True, {flows[0].id, flows[1].id}),
            ([flows[0].slug, flows[1].id], False, {flows[0].id, flows[1].id}),
            ([flows[0].slug], False, {flows[0].id}),
        ]
        async with httpx.AsyncClient(auth=TokenAuth(token)) as http:
            for requested, private, expected in cases:
                url = stream_url(server.stream_url, requested, private=private, presence="idle")
                headers = {"Accept": "text/event-stream"}
                async with http.stream("GET", url, headers=headers) as resp:
                    assert resp.status_code == 200
                    subs = [s for s in server.state.all_subscribers() if s.closed_reason is None]
                    assert len(subs) == 1
                    assert {f.id for f in subs[0].flows} == expected
                    assert subs[0].private is private
                    assert subs[0].active == "idle"
                    assert SECRET not in str(url) and server.token not in str(url)
                # let the server notice the disconnect before the next case
                for _ in range(200):
                    if not [s for s in server.state.all_subscribers() if s.closed_reason is None]:
                        break
                    await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "base",
    [
        "https://stream.example.com",
        "https://stream.example.com/",
        "https://stream.example.com/flows",
        "https://stream.example.com/flows/",
    ],
)
def test_stream_url_accepts_a_base_or_the_flows_resource(base: str) -> None:
    many = stream_url(base, ["acme/main", "acme/dev"], private=True, presence="active")
    assert many.path == "/flows"
    one = stream_url(base, ["acme/main"], private=False, presence="idle")
    assert one.path == "/flows/acme/main"


def test_stream_base_keeps_a_path_prefix_that_is_not_flows() -> None:
    url = stream_url("http://127.0.0.1:9/stream", ["acme/main"], private=False, presence="idle")
    assert url.path == "/stream/flows/acme/main"
    url = stream_url(
        "http://127.0.0.1:9/stream/flows", ["a/b", "c/d"], private=True, presence="idle"
    )
    assert url.path == "/stream/flows"
