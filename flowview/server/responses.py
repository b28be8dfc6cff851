"""HTTP plumbing shared by the stream, REST and control routes: errors, JSON answers,
authentication, and the answers fault injection gives instead of the real one."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import logging
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from flowview.server.faults import Fault
from flowview.server.state import (
    ServerState,
    User,
    dumps,
)

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, headers=headers, media_type=JSON_TYPE)


def error_response(exc: ApiError) -> Response:
    return json_response({"message": exc.message}, exc.status, exc.headers)


def authenticate(state: ServerState, request: Request) -> User:
    """Token as HTTP Basic username (password ignored, colon optional) or as Bearer; or
    ``email:password`` Basic for a user created with a password."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = ""
    password = ""
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            decoded = ""
        token, _, password = decoded.partition(":")
    elif scheme.lower() == "bearer":
        token = value.strip()
    challenge = {"WWW-Authenticate": 'Basic realm="flowview"'}
    if not header:
        raise ApiError(401, "Authentication required", challenge)
    user = state.user_by_token(token)
    if user is None and "@" in token and password:
        user = state.user_by_password(token, password)
    if user is None:
        raise ApiError(401, "Invalid credentials", challenge)
    return user


def fault_response(fault: Fault) -> Response:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = fault.retry_after
    if fault.location is not None:
        headers["Location"] = fault.location
    if fault.status in (204, 304) or fault.status < 200:
        return Response(b"", status_code=fault.status, headers=headers)
    message = fault.message or f"simulated {fault.status}"
    return json_response({"message": message}, fault.status, headers)


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


TRANSPORT_KEY = "flowview.transport"  # set by guard.RequestGuard


def transport_of(receive: Receive) -> asyncio.BaseTransport | None:
    """The connection's transport behind uvicorn's ``receive`` (ASGI has no way to close a
    connection without answering; fault injection needs one)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    return transport if isinstance(transport, asyncio.BaseTransport) else None


class ResetResponse(Response):
    """No answer at all: the connection is closed (after waiting, for ``wait``)."""

    def __init__(
        self, state: ServerState, *, wait: bool = False, seconds: float | None = None
    ) -> None:
        super().__init__(status_code=500)
        self.state = state
        self.wait = wait
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.wait:
            await self._until_gone(receive)
        transport = scope.get(TRANSPORT_KEY) or transport_of(receive)
        if transport is None:
            log.error("cannot reset a connection on this server; answering 500 instead")
            await json_response({"message": "simulated reset"}, 500)(scope, receive, send)
            return
        if not transport.is_closing():
            transport.close()
        # wait for uvicorn to notice, so it does not try to answer 500 on a closed socket
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _until_gone(self, receive: Receive) -> None:
        async def client_left() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = [
            asyncio.ensure_future(client_left()),
            asyncio.ensure_future(self.state.shutdown_event().wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=self.seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)


class TrickleResponse(Response):
    """``inner``'s answer, one body byte every ``delay`` seconds."""

    def __init__(self, inner: Response, delay: float) -> None:
        super().__init__(status_code=inner.status_code)
        self.inner = inner
        self.delay = delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.inner.body)
        await send(
            {
                "type": "http.response.start",
                "status": self.inner.status_code,
                "headers": self.inner.raw_headers,
            }
        )
        for i in range(len(body)):
            await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": True})
            await asyncio.sleep(self.delay)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def parse_json(raw: bytes) -> Any:
    """JSON from a request body; ApiError 400 for anything else, including nesting so deep
    that it exhausts the parser's recursion (the C scanner raises RecursionError cleanly)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _split_host(value: str) -> str:
    """``host[:port]`` or ``[v6]:port`` -> the host, lower case, without brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else ""
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_host(header: str, bound: str) -> bool:
    """A ``Host`` header naming loopback, or the very address the server is bound to (an IP
    literal cannot be rebound by DNS)."""
    host = _split_host(header)
    return bool(host) and (_is_loopback(host) or host == bound.lower())


def local_origin(origin: str) -> bool:
    """An ``Origin`` header of a page served from loopback (``null`` is foreign)."""
    parsed = urllib.parse.urlsplit(origin.strip())
    return parsed.scheme in ("http", "https") and _is_loopback((parsed.hostname or "").lower())


async def read_json_body(request: Request) -> dict[str, Any]:
    """JSON or form-encoded body (Flowdock accepted both)."""
    ctype = request.headers.get("content-type", "")
    if "multipart/form-data" in ctype:
        raise ApiError(415, "multipart bodies are not supported; use JSON or a form")
    if "application/x-www-form-urlencoded" in ctype:
        text = (await request.body()).decode("utf-8", "replace")
        return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
    raw = await request.body()
    if not raw.strip():
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data
