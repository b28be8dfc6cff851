"""Token masking, Authorization header forms, redaction."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flowview.protocol.auth import Token, redact
from flowview.protocol.httpauth import TokenAuth

pytestmark = pytest.mark.timeout(60)

SECRET = "deadbeefdeadbeef0123456789abcdef"


def test_repr_and_str_are_masked() -> None:
    for kind in ("personal", "oauth"):
        token = Token(SECRET, kind)
        for text in (repr(token), str(token), f"{token}", f"{[token]}", repr(TokenAuth(token))):
            assert SECRET not in text
            assert "****" in text
    assert repr(Token(SECRET)) == "Token(personal, ****)"
    assert str(Token(SECRET, "oauth")) == "Token(oauth, ****)"


def test_personal_token_is_basic_username_with_empty_password() -> None:
    header = Token(SECRET).authorization()
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{SECRET}:"


def test_oauth_token_is_bearer() -> None:
    assert Token(SECRET, "oauth").authorization() == f"Bearer {SECRET}"


def test_token_strips_surrounding_whitespace_and_rejects_bad_values() -> None:
    assert Token(f"  {SECRET}\n").value == SECRET
    for bad in ("", "   ", "a b", "tok\x00en", "tok\ren", "tökén"):
        with pytest.raises(ValueError) as info:
            Token(bad)
        assert bad.strip() == "" or bad not in str(info.value)
    with pytest.raises(ValueError):
        Token(SECRET, "password")  # type: ignore[arg-type]


def test_redact_replaces_raw_and_basic_forms() -> None:
    basic = Token(SECRET).authorization().split()[1]
    text = f"token={SECRET} header=Basic {basic} again {SECRET}"
    out = redact(text, SECRET)
    assert SECRET not in out
    assert basic not in out
    assert out == "token=**** header=Basic **** again ****"


def test_redact_accepts_tokens_and_ignores_empty_secrets() -> None:
    token = Token(SECRET, "oauth")
    assert redact(f"Bearer {SECRET}", token) == "Bearer ****"
    assert redact("nothing here", "", SECRET) == "nothing here"
    # an unpadded base64 form (as some libraries print it) is also caught
    unpadded = base64.b64encode(f"{SECRET}:".encode()).decode().rstrip("=")
    assert SECRET not in redact(f"x {unpadded} y", SECRET)
    assert unpadded not in redact(f"x {unpadded} y", SECRET)


def test_redact_longest_secret_first() -> None:
    assert redact("abcdef", "abc", "abcdef") == "****"


# --------------------------------------------------------------------------- over loopback


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "authorization": request.headers.get("authorization"),
            "url": str(request.url),
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


@pytest.mark.parametrize("kind", ["personal", "oauth"])
async def test_token_auth_sends_header_only(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    token = Token(SECRET, kind)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    async with echo_server() as base, httpx.AsyncClient(auth=TokenAuth(token)) as http:
        resp = await http.get(f"{base}/user")
    seen = resp.json()
    assert seen["authorization"] == token.authorization()
    assert SECRET not in seen["url"]
    # httpx logs every request URL at INFO; nothing logged may carry the token
    assert SECRET not in caplog.text
