"""Helpers for the server tests: auth headers and a small byte-level stream reader.

The reader parses the wire format itself (not via flowview.protocol) so these tests check the
server's framing independently of the client's decoders.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from flowview.server.runner import RunningServer


def basic(token: str, password: str | None = "") -> dict[str, str]:
    raw = token if password is None else f"{token}:{password}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SSE = {"Accept": "text/event-stream"}


@dataclass
class SSEItem:
    id: str | None
    data: dict[str, Any]


class WireReader:
    """Reads a streaming response's raw bytes and splits records/events."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._it: AsyncIterator[bytes] = response.aiter_raw()
        self.buf = b""
        self.raw = bytearray()
        self.chunks: list[bytes] = []
        self.comments = 0
        self.keepalives = 0
        self._sse: list[SSEItem] = []
        self._records: list[dict[str, Any]] = []

    async def more(self, timeout: float = 5.0) -> bool:
        """Read one chunk; False at a clean end of stream."""
        try:
            chunk = await asyncio.wait_for(self._it.__anext__(), timeout)
        except StopAsyncIteration:
            return False
        self.chunks.append(chunk)
        self.buf += chunk
        self.raw += chunk
        return True

    def _parse_block(self, block: bytes) -> SSEItem | None:
        ev_id: str | None = None
        data: list[str] = []
        for line in block.decode("utf-8").split("\n"):
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("id: "):
                ev_id = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
        return SSEItem(ev_id, json.loads("\n".join(data))) if data else None

    async def sse(self, n: int, timeout: float = 5.0) -> list[SSEItem]:
        """The next ``n`` SSE events that carry data."""
        deadline = time.monotonic() + timeout
        while len(self._sse) < n:
            if b"\n\n" not in self.buf and not await self.more(deadline - time.monotonic()):
                raise EOFError(f"stream ended after {len(self._sse)} events")
            *blocks, self.buf = self.buf.split(b"\n\n")  # all complete blocks at once
            for block in blocks:
                item = self._parse_block(block)
                if item is not None:
                    self._sse.append(item)
        out, self._sse = self._sse[:n], self._sse[n:]
        return out

    async def records(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The next ``n`` JSON-stream records (terminated by CR LF; bare LF = keep-alive)."""
        deadline = time.monotonic() + timeout
        while len(self._records) < n:
            if b"\r\n" not in self.buf and not await self.more(deadline - time.monotonic()):
                raise EOFError(f"stream ended after {len(self._records)} records")
            *records, self.buf = self.buf.split(b"\r\n")
            for record in records:
                stripped = record.lstrip(b"\n")
                self.keepalives += len(record) - len(stripped)
                self._records.append(json.loads(stripped.decode("utf-8")))
        out, self._records = self._records[:n], self._records[n:]
        return out

    async def sse_until(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> list[SSEItem]:
        """SSE events up to and including the first whose data matches ``pred``."""
        got: list[SSEItem] = []
        deadline = time.monotonic() + timeout
        while True:
            (item,) = await self.sse(1, deadline - time.monotonic())
            got.append(item)
            if pred(item.data):
                return got

    async def records_until(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            (item,) = await self.records(1, deadline - time.monotonic())
            got.append(item)
            if pred(item):
                return got


def client(server: RunningServer, *, control: bool = True, **kw: Any) -> httpx.AsyncClient:
    """A client for ``server``; with ``control`` its requests to ``/_faults`` and ``/_sim``
    carry the control token."""
    hooks: dict[str, list[Any]] = {"request": []}
    if control:

        async def add_control(request: httpx.Request) -> None:
            if request.url.path.startswith(("/_faults", "/_sim")):
                request.headers["Authorization"] = f"Bearer {server.control_token}"

        hooks["request"].append(add_control)
    return httpx.AsyncClient(
        base_url=server.base_url, timeout=kw.pop("timeout", 10.0), event_hooks=hooks, **kw
    )


async def post(
    http: httpx.AsyncClient, token: str, slug: str, content: str, **fields: Any
) -> dict[str, Any]:
    r = await http.post(
        f"/api/flows/{slug}/messages", json={"content": content, **fields}, headers=basic(token)
    )
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def eventually(pred: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``pred`` (the server runs in this loop, so yield between polls)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def other_user(server: RunningServer, flow_slug: str | None = None) -> Any:
    """A simulated user other than 'me' (a member of ``flow_slug`` if given)."""
    state = server.state
    flow = state.flows_by_slug[flow_slug] if flow_slug else None
    for user in state.users.values():
        if user is state.me:
            continue
        if flow is None or user.id in flow.member_ids:
            return user
    raise AssertionError("no other user")
