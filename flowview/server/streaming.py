"""The Streaming API: ``GET /stream/flows`` and ``/stream/flows/{org}/{flow}`` as live responses
(replay, events, keep-alives) with stream-phase faults applied by ``_Writer``."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from flowview.server.faults import Fault
from flowview.server.responses import (
    ApiError,
    authenticate,
    error_response,
    fault_response,
    truthy,
)
from flowview.server.state import (
    Flow,
    Presence,
    ServerState,
    Subscriber,
    User,
)
from flowview.server.wire import parse_event_id

log = logging.getLogger(__name__)

# A deadline this close counts as reached: timers fire up to the clock's resolution early and
# float sums leave residues (2e-17); on a virtual clock (tests) waiting for one spins for ever.
DUE_WITHIN = 1e-6

STREAM_JSON_TYPE = b"application/json"
STREAM_SSE_TYPE = b"text/event-stream; charset=utf-8"
KEEPALIVE_JSON = b"\n"
KEEPALIVE_SSE = b": keepalive\n"
REPLAY_HEADER = b"flowview-replay"


def _presence_param(value: str | None) -> Presence:
    if value == "true":
        return "active"
    if value == "idle":
        return "idle"
    return "offline"


def _redact_query(query: str) -> str:
    """The query for the connection log, minus credentials a client should not have put there
    (Flowdock accepted ``access_token``/``token`` parameters; this server does not)."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if not any(k in ("token", "access_token") for k, _ in pairs):
        return query
    return urllib.parse.urlencode(
        [(k, "<redacted>" if k in ("token", "access_token") else v) for k, v in pairs]
    )


class _Cut(Exception):
    """End the stream now: ``abort`` leaves the chunked body unterminated."""

    def __init__(self, mode: str, reason: str) -> None:
        super().__init__(reason)
        self.mode = mode
        self.reason = reason


class _Writer:
    """Writes stream bytes, applying the connection's stream-phase fault if any."""

    def __init__(self, send: Send, sub: Subscriber, fault: Fault | None) -> None:
        self.send = send
        self.sub = sub
        self.fault = fault
        self.rec = sub.record

    async def _send(self, data: bytes) -> None:
        if data:
            await self.send({"type": "http.response.body", "body": data, "more_body": True})
            self.rec.bytes += len(data)

    async def raw(self, data: bytes) -> None:
        f = self.fault
        if f is not None:
            if f.kind == "drop_after_bytes":
                room = f.n - self.rec.bytes
                if len(data) >= room:
                    await self._send(data[:room])
                    raise _Cut(f.close, f"fault drop_after_bytes n={f.n}")
            elif f.kind == "drip":
                for i in range(0, len(data), f.chunk):
                    if self.sub.closed_reason is not None:
                        raise _Cut("abort", self.sub.closed_reason)
                    await self._send(data[i : i + f.chunk])
                    await asyncio.sleep(f.delay)
                return
        await self._send(data)

    async def start(self, sse: bool) -> None:
        f = self.fault
        if f is None:
            return
        if f.kind == "inject":
            await self.raw(f.data)
        elif f.kind == "retry" and sse:
            await self.raw(b"retry: " + f.value.encode("utf-8") + b"\n\n")
        elif f.kind == "huge_record":
            head = b"data: " if sse else b'{"event":"message","content":"'
            await self._send(head)
            left = f.n - len(head)
            block = b"x" * 65536
            while left > 0:
                await self._send(block[: min(left, len(block))])
                left -= len(block)
            raise _Cut("abort", f"fault huge_record n={f.n}")
        elif f.kind == "stall" and f.after == 0:
            await self.stall()
        elif f.kind in ("drop_after_messages", "drop_after_bytes") and f.n == 0:
            raise _Cut(f.close, f"fault {f.kind} n=0")

    async def events(self, frames: list[bytes]) -> None:
        f = self.fault
        kind = f.kind if f is not None else None
        if f is not None and kind in ("drop_after_messages", "cut_mid_message", "stall"):
            limit = f.n if kind == "drop_after_messages" else f.after
            room = limit - self.rec.events
            if kind == "cut_mid_message" and len(frames) > room:
                part = frames[room][: max(1, len(frames[room]) // 2)]
                await self.raw(b"".join(frames[:room]) + part)
                self.rec.events += room
                raise _Cut(f.close, f"fault cut_mid_message after={f.after}")
            if kind != "cut_mid_message" and len(frames) >= room:
                await self.raw(b"".join(frames[:room]))
                self.rec.events += room
                if kind == "stall":
                    await self.stall()
                raise _Cut(f.close, f"fault drop_after_messages n={f.n}")
        await self.raw(b"".join(frames))
        self.rec.events += len(frames)

    async def stall(self) -> None:
        """Silence: no events, no keep-alives, until the client leaves or time is up."""
        assert self.fault is not None
        sub = self.sub
        sub.discard = True
        sub.queue.clear()
        loop = asyncio.get_running_loop()
        deadline = None if self.fault.seconds is None else loop.time() + self.fault.seconds
        while sub.closed_reason is None:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= DUE_WITHIN:
                break
            await sub.wait(remaining)
        raise _Cut(self.fault.close, sub.closed_reason or "fault stall ended")


class StreamResponse(Response):
    """A live stream: replay (SSE with Last-Event-ID), then events and keep-alives."""

    def __init__(
        self,
        state: ServerState,
        sub: Subscriber,
        fault: Fault | None,
        last_event_id: str | None,
    ) -> None:
        super().__init__(status_code=200)
        self.state = state
        self.sub = sub
        self.fault = fault
        self.last_event_id = last_event_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state, sub = self.state, self.sub
        rec = sub.record
        state.subscribe(sub, self.last_event_id)
        if self.fault is not None:
            rec.fault = f"{self.fault.kind}#{self.fault.id}"
            log.warning(
                "fault #%d %s applied to stream connection #%d",
                self.fault.id,
                self.fault.kind,
                rec.id,
            )
        watcher = asyncio.get_running_loop().create_task(self._watch(receive))
        outcome, reason = "clean", ""
        try:
            ctype = STREAM_SSE_TYPE if sub.sse else STREAM_JSON_TYPE
            headers = [
                (b"content-type", ctype),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
            ]
            if sub.replay_complete is not None:
                # extension: tells a resuming client whether it must back-fill over REST
                replay = b"complete" if sub.replay_complete else b"truncated"
                headers.append((REPLAY_HEADER, replay))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._pump(_Writer(send, sub, self.fault))
        except _Cut as cut:
            outcome, reason = cut.mode, cut.reason
        finally:
            watcher.cancel()
            state.unsubscribe(sub)
            state.close_record(rec, sub.closed_reason or reason or "ended")
        if sub.closed_reason == "client disconnected":
            return
        if outcome == "clean":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            # Returning without the final empty chunk makes uvicorn drop the socket: the client
            # sees a truncated chunked body (httpx: RemoteProtocolError), not a clean EOF.
            log.info("stream connection #%d aborted (%s)", rec.id, reason)

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.sub.close("client disconnected")
                return

    async def _pump(self, writer: _Writer) -> None:
        sub, state = self.sub, self.state
        loop = asyncio.get_running_loop()
        sse = sub.sse
        keepalive_frame = KEEPALIVE_SSE if sse else KEEPALIVE_JSON
        await writer.start(sse)
        last_write = loop.time()
        while True:
            items = sub.take(500)
            if items:
                if sse:
                    await writer.events([p.sse_frame for p in items])
                else:
                    await writer.events([p.json_frame for p in items])
                last_write = loop.time()
                continue
            if sub.closed_reason is not None:
                return
            if state.keepalive <= 0:
                await sub.wait(None)
                continue
            remaining = state.keepalive - (loop.time() - last_write)
            if remaining <= DUE_WITHIN:
                await writer.raw(keepalive_frame)
                last_write = loop.time()
                continue
            await sub.wait(remaining)


class StreamingApi:
    """The stream endpoint."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def stream(self, request: Request) -> Response:
        state = self.state
        lei = request.headers.get("last-event-id")
        if lei is not None and lei.strip() and parse_event_id(lei) is None:
            # before the connection log: a refused request leaves no phantom open connection
            return error_response(ApiError(400, "Last-Event-ID must be an id this server sent"))
        q = request.query_params
        active = _presence_param(q.get("active"))
        accept = q.get("accept") or request.headers.get("accept", "")
        sse = "text/event-stream" in accept.lower()
        rec = state.open_record(
            path=request.url.path,
            query=_redact_query(request.url.query),
            user_id=None,
            active=active,
            content_type="text/event-stream" if sse else "application/json",
            last_event_id=lei,
        )
        if state.faults_enabled:
            fault = state.faults.take("connect", "stream")
            if fault is not None:
                rec.fault = f"{fault.kind}#{fault.id}"
                log.warning(
                    "fault #%d %s applied to stream connection #%d", fault.id, fault.kind, rec.id
                )
                if fault.kind == "wrong_content_type":
                    state.close_record(rec, "fault wrong_content_type", 200)
                    return Response(
                        b"<html><body><h1>Service temporarily unavailable</h1></body></html>",
                        media_type="text/html; charset=utf-8",
                    )
                state.close_record(rec, f"fault status {fault.status}", fault.status)
                return fault_response(fault)
        try:
            user = authenticate(state, request)
            rec.user_id = user.id
            flows = self._stream_flows(request, user)
            private = truthy(q.get("user"))
            if not flows and not private:
                raise ApiError(400, "Either filter or user parameter is required")
        except ApiError as exc:
            state.close_record(rec, exc.message, exc.status)
            return error_response(exc)
        fault = state.faults.take("stream", "stream") if state.faults_enabled else None
        sub = Subscriber(
            user=user,
            flows=flows,
            private=private,
            presence=truthy(q.get("presence")),
            active=active,
            sse=sse,
            record=rec,
            queue_max=state.queue_max,
        )
        return StreamResponse(state, sub, fault, lei if sse else None)

    def _stream_flows(self, request: Request, user: User) -> list[Flow]:
        p = request.path_params
        if "org" in p:
            refs = [f"{p['org']}/{p['flow']}"]
        else:
            refs = [r.strip() for r in request.query_params.get("filter", "").split(",")]
        flows: dict[str, Flow] = {}
        for ref in refs:
            if not ref:
                continue
            flow = self.state.resolve_flow(ref)
            if flow is None:
                raise ApiError(404, f"Flow not found: {ref[:200]}")
            if not self.state.can_access(user, flow):
                raise ApiError(403, f"You don't have access to {ref[:200]}")
            flows.setdefault(flow.id, flow)
        return list(flows.values())

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.stream, methods=["GET"]),
            Route("/flows", self.stream, methods=["GET"]),
            Route("/flows/{org}/{flow}", self.stream, methods=["GET"]),
        ]
