"""A scripted loopback Flowdock REST subset for the outbox tests.

Real HTTP on 127.0.0.1 (so RestClient, httpx and the sockets are the real ones), with writes
answered according to a script: an error status (with Retry-After), "store then drop the
connection", "store then never answer", or a delay.  Everything it stored is kept in order, so
tests count what the server really has.  Runs in the test's event loop, so looptime's virtual
clock covers its delays too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Fault:
    """What to do with one write request (POST/PUT/DELETE)."""

    status: int | None = None  # answer this status instead of processing
    retry_after: str | None = None
    store: bool = False  # with `status`: store the message first anyway
    drop: bool = False  # store, then close the connection without an answer
    hang: bool = False  # store, then never answer
    delay: float = 0.0  # wait (loop time) before processing normally
    message: str = "scripted failure"


@dataclass
class Received:
    method: str
    path: str
    body: dict[str, Any]
    at: float  # loop time when it arrived


@dataclass
class ScriptedApi:
    write_faults: list[Fault] = field(default_factory=list)
    read_faults: list[Fault] = field(default_factory=list)
    stored: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    next_id: int = 1
    me: str = "1"
    base_url: str = ""
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()

    # ------------------------------------------------------------------ queries for tests

    def posts(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    def reads(self) -> list[Received]:
        return [r for r in self.received if r.method == "GET"]

    def all_messages(self) -> list[dict[str, Any]]:
        return sorted((m for ms in self.stored.values() for m in ms), key=lambda m: m["id"])

    def add_history(self, conv: str, count: int, *, sent: int | None = None) -> None:
        """Messages from someone else (for history paging), sent now or at `sent` (ms)."""
        for _ in range(count):
            self._store(conv, {"event": "message", "content": "other"}, user="2", sent=sent)

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            length = int(headers.get("content-length", "0"))
            raw = await reader.readexactly(length) if length else b""
            body = json.loads(raw) if raw else {}
            url = urllib.parse.urlsplit(target)
            path = url.path.removeprefix("/api")
            query = dict(urllib.parse.parse_qsl(url.query))
            loop = asyncio.get_running_loop()
            self.received.append(Received(method, path, body, loop.time()))
            faults = self.read_faults if method == "GET" else self.write_faults
            fault = faults.pop(0) if faults else Fault()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None and not fault.store:
                await self._respond(writer, fault.status, {"message": fault.message}, fault)
                return
            status, answer = self._route(method, path, query, body)
            if fault.drop:
                writer.transport.abort()
                return
            if fault.hang:
                await asyncio.Event().wait()
            if fault.status is not None:
                status, answer = fault.status, {"message": fault.message}
            await self._respond(writer, status, answer, fault)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.debug("client went away")
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(
        self, writer: asyncio.StreamWriter, status: int, answer: Any, fault: Fault
    ) -> None:
        data = json.dumps(answer).encode()
        extra = f"Retry-After: {fault.retry_after}\r\n" if fault.retry_after else ""
        writer.write(
            (
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n{extra}Connection: close\r\n\r\n"
            ).encode()
            + data
        )
        await writer.drain()

    # ------------------------------------------------------------------ the REST subset

    def _store(
        self, conv: str, body: dict[str, Any], user: str | None = None, sent: int | None = None
    ) -> dict[str, Any]:
        msg = {
            "id": self.next_id,
            "event": body.get("event", "message"),
            "content": body.get("content"),
            "uuid": body.get("uuid"),
            "tags": body.get("tags", []),
            "user": user or self.me,
            "sent": int(time.time() * 1000) if sent is None else sent,
            **({"flow": conv} if conv.startswith("flows/") else {"to": conv}),
        }
        if body.get("thread_id"):
            msg["thread_id"] = body["thread_id"]
        self.next_id += 1
        self.stored.setdefault(conv, []).append(msg)
        return msg

    def _route(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        m = re.fullmatch(
            r"/(flows/[^/]+/[^/]+|private/[^/]+)/messages(?:/(\d+)(/comments)?)?", path
        )
        if m is None:
            return 404, {"message": "not found"}
        conv, msg_id, comments = m.group(1), m.group(2), m.group(3)
        if method == "GET" and msg_id is None:
            return 200, self._history(conv, query)
        if method == "POST" and msg_id is None:
            return 201, self._store(conv, body)
        if method == "POST" and comments:
            return 201, self._store(conv, {**body, "event": "comment"})
        target = next((x for x in self.stored.get(conv, []) if x["id"] == int(msg_id or 0)), None)
        if target is None:
            return 404, {"message": "not found"}
        if method == "PUT":
            target["content"] = body.get("content", target["content"])
            return 200, target
        if method == "DELETE":
            target["content"] = ""
            return 200, target
        return 405, {"message": "method not allowed"}

    def _history(self, conv: str, query: dict[str, str]) -> list[dict[str, Any]]:
        msgs = self.stored.get(conv, [])
        if "since_id" in query:
            msgs = [x for x in msgs if x["id"] > int(query["since_id"])]
        if "until_id" in query:
            msgs = [x for x in msgs if x["id"] < int(query["until_id"])]
        limit = int(query.get("limit", "30"))
        page = msgs[-limit:] if query.get("sort", "desc") == "desc" else msgs[:limit]
        return sorted(page, key=lambda x: x["id"])  # Flowdock answers ascending either way
