"""Limits every request passes before routing: repeated slashes collapsed, bodies capped before
they are read, and a header timeout for the HTTP protocol.

Flowdock clients build paths like ``{base}//flows``; the real API tolerated that, so the path is
normalised here. A body above the cap is refused with 413 without reading it into memory
(uploads, ``multipart/form-data``, get a larger cap of their own).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from flowview.server.responses import TRANSPORT_KEY, json_response, transport_of

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # 1 MiB: far above any Flowdock request but a file upload
MAX_UPLOAD = 10 << 20  # multipart uploads
MAX_DRAIN = 64 << 20  # an oversized body up to this is read and dropped so the 413 arrives
_SLASHES = re.compile(r"//+")
_SLASHES_B = re.compile(rb"//+")


class RequestGuard:
    """ASGI middleware: path normalisation and the body cap."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY, max_upload: int = MAX_UPLOAD):
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        scope.setdefault(TRANSPORT_KEY, transport_of(receive))
        if "//" in scope["path"]:
            scope["path"] = _SLASHES.sub("/", scope["path"])
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = _SLASHES_B.sub(b"/", raw)
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").lower()
        cap = self.max_upload if ctype.startswith(b"multipart/") else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None:
            if not (declared.isdigit() and len(declared) <= 15):
                await self._refuse(scope, receive, send, 400, "invalid Content-Length")
                return
            if int(declared) > MAX_DRAIN:
                await self._refuse(scope, receive, send, 413, f"body larger than {cap} bytes")
                return
        body = bytearray()
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen <= cap:
                body += chunk
            elif seen > MAX_DRAIN:
                break
            if not message.get("more_body", False):
                break
        if seen > cap:
            # read to the end but kept nothing: the client, still sending, gets to see the 413
            # instead of a reset connection
            await self._refuse(scope, receive, send, 413, f"body larger than {cap} bytes")
            return
        await self.app(scope, _Replay(bytes(body), receive), send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
        log.warning("refused %s %s: %s", scope.get("method"), scope.get("path", "")[:200], text)
        response = json_response({"message": text}, status, {"Connection": "close"})
        await response(scope, receive, send)


class _Replay:
    """``receive`` for the app: the body read by the guard, then the real channel (which
    reports the client's disconnect)."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.body: bytes | None = body
        self.receive = receive

    async def __call__(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self.receive()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a header timeout: a connection that has not sent a complete
    request head within ``header_timeout`` seconds of connecting, or of its previous answer, is
    closed (uvicorn alone lets a slow client hold a connection for ever)."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        waiting_for = self.cycle
        self.loop.call_later(self.header_timeout, self._header_timeout, waiting_for)

    def _header_timeout(self, waiting_for: Any) -> None:
        if self.cycle is waiting_for and not self.transport.is_closing():
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                return  # a request is being answered (a stream, say)
            log.info(
                "closing a connection that sent no request head in %.0f s", self.header_timeout
            )
            self.transport.close()
