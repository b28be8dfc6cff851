"""Starlette application: Streaming API under ``/stream``, REST under ``/api``, test controls.

Routes (``{base}`` is ``http://host:port``):

* ``GET {base}/stream/flows`` and ``GET {base}/stream/flows/{org}/{flow}`` - the Streaming API.
* ``{base}/api/...`` - the REST subset (see ``_rest_routes``), Flowdock field names.
* ``GET|POST|DELETE {base}/_faults`` - fault injection and the connection log.
* ``POST {base}/_sim/burst``, ``POST {base}/_sim/step`` - publish messages on demand.

The control routes answer 403 unless the server runs with faults enabled; they need no token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from flowview.server.faults import Fault, parse_fault
from flowview.server.simulator import Simulator
from flowview.server.state import (
    EDITABLE_EVENTS,
    Flow,
    Presence,
    PrivateConversation,
    ServerState,
    Subscriber,
    User,
    dumps,
    iso,
)

log = logging.getLogger("flowview.server")

STREAM_PREFIX = "/stream"
API_PREFIX = "/api"
MAX_CONTENT = 8096  # Flowdock's chat message limit
JSON_TYPE = "application/json; charset=utf-8"
STREAM_JSON_TYPE = b"application/json"
STREAM_SSE_TYPE = b"text/event-stream; charset=utf-8"
KEEPALIVE_JSON = b"\n"
KEEPALIVE_SSE = b": keepalive\n"
REPLAY_HEADER = b"flowview-replay"


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
    """Token as HTTP Basic username (password ignored, colon optional) or as Bearer."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = ""
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            decoded = ""
        token = decoded.split(":", 1)[0]
    elif scheme.lower() == "bearer":
        token = value.strip()
    challenge = {"WWW-Authenticate": 'Basic realm="flowview"'}
    if not header:
        raise ApiError(401, "Authentication required", challenge)
    user = state.user_by_token(token)
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


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def _transport_of(receive: Receive) -> asyncio.BaseTransport | None:
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
        transport = _transport_of(receive)
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
            if remaining is not None and remaining <= 0:
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
            if remaining <= 0:
                await writer.raw(keepalive_frame)
                last_write = loop.time()
                continue
            await sub.wait(remaining)


# ---------------------------------------------------------------------- application


class FlowdockApp:
    """Holds the state and builds the Starlette app."""

    def __init__(self, state: ServerState, simulator: Simulator | None = None) -> None:
        self.state = state
        self.simulator = simulator

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def api_base(request: Request) -> str:
        host = request.headers.get("host") or "127.0.0.1"
        return f"{request.url.scheme}://{host}{API_PREFIX}"

    def user_json(self, user: User, flow: Flow | None = None) -> dict[str, Any]:
        out = user.public()
        out.update(
            {
                "status": user.status,
                "disabled": False,
                "last_activity": user.last_activity,
                "last_ping": user.last_ping,
                "team_notifications": True,
                "in_flow": flow is None or user.id in flow.member_ids,
                "flow_admin": False,
                # extension: the server's view of this user's presence
                "presence": self.state.effective_presence(user),
            }
        )
        return out

    def flow_json(
        self, request: Request, flow: Flow, user: User, *, with_users: bool = False
    ) -> dict[str, Any]:
        api = self.api_base(request)
        org = flow.org
        log_ = flow.log
        last_id = log_.ids[-1] if log_.ids else None
        unread_tag = f":unread:{user.id}"
        mentions = sum(
            1 for mid in log_.ids[-1000:] if unread_tag in log_.by_id[mid].get("tags", ())
        )
        out: dict[str, Any] = {
            "id": flow.id,
            "name": flow.name,
            "parameterized_name": flow.parameterized_name,
            "organization": {
                "id": org.id,
                "name": org.name,
                "parameterized_name": org.parameterized_name,
                "user_limit": 0,
                "user_count": len(org.member_ids),
                "active": True,
                "url": f"{api}/organizations/{org.parameterized_name}",
            },
            "unread_mentions": mentions,
            "open": flow.open,
            "joined": user.id in flow.member_ids,
            "url": f"{api}/flows/{flow.slug}",
            "web_url": f"{api[: -len(API_PREFIX)]}/app/{flow.slug}",
            "join_url": f"{api}/flows/{flow.slug}/join",
            "access_mode": "invitation",
            "email": f"{flow.parameterized_name}@{org.parameterized_name}.flowdock.invalid",
            "description": flow.description,
            "flow_admin": False,
            "last_message_at": iso(log_.by_id[last_id]["sent"]) if last_id else None,
            "last_message_id": last_id,
            "team_notifications": True,
        }
        if with_users:
            out["users"] = [self.user_json(self.state.users[uid], flow) for uid in flow.member_ids]
        return out

    @staticmethod
    def rest_view(msg: dict[str, Any], flow: Flow | None = None) -> dict[str, Any]:
        """A stored message as REST returns it: the thread's current state with ``created_at``
        and ``updated_at`` null (real-data quirk), ``emojiReactions``, ``edited`` ms or null,
        ``edited_at`` once edited."""
        out = dict(msg)
        out.setdefault("emojiReactions", {})
        tid = out.get("thread_id")
        if tid is not None:
            current = flow.threads.get(tid) if flow is not None else None
            thread = dict(current) if current is not None else {"id": tid}
            thread["created_at"] = None
            thread["updated_at"] = None
            out["thread"] = thread
        out.setdefault("edited", None)
        return out

    @staticmethod
    def thread_title(flow: Flow, msg: dict[str, Any]) -> str:
        thread = flow.threads.get(msg.get("thread_id") or "")
        if thread is not None and thread.get("title"):
            return str(thread["title"])
        return str(msg.get("title") or "")

    def flow_for(self, user: User, org: str, name: str) -> Flow:
        flow = self.state.flows_by_slug.get(f"{org}/{name}")
        if flow is None:
            raise ApiError(404, "not found")
        if not self.state.can_access(user, flow):
            raise ApiError(403, "You don't have access to this flow")
        return flow

    def other_user(self, user_id: str) -> User:
        other = self.state.users.get(user_id)
        if other is None:
            raise ApiError(404, "not found")
        return other

    @staticmethod
    def _int_param(request: Request, name: str) -> int | None:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, f"{name} must be an integer") from None

    def history(self, request: Request, target: Flow | PrivateConversation) -> list[dict[str, Any]]:
        since_id = self._int_param(request, "since_id")
        until_id = self._int_param(request, "until_id")
        limit = self._int_param(request, "limit")
        limit = 30 if limit is None else max(1, min(100, limit))
        sort = request.query_params.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise ApiError(400, "sort must be asc or desc")
        events = {e for e in request.query_params.get("event", "").split(",") if e}
        tags = {t.lower() for t in request.query_params.get("tags", "").split(",") if t}
        tag_mode = request.query_params.get("tag_mode", "and")

        def match(msg: dict[str, Any]) -> bool:
            if events and msg["event"] not in events:
                return False
            if tags:
                have = {t.lower() for t in msg.get("tags", ())}
                return tags <= have if tag_mode == "and" else bool(tags & have)
            return True

        flow = target if isinstance(target, Flow) else None
        found = target.log.query(
            since_id=since_id,
            until_id=until_id,
            limit=limit,
            sort=sort,
            match=match if events or tags else None,
        )
        return [self.rest_view(m, flow) for m in found]

    @staticmethod
    async def body(request: Request) -> dict[str, Any]:
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
        try:
            data = json.loads(raw)
        except ValueError:
            raise ApiError(400, "body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "body must be a JSON object")
        return data

    @staticmethod
    def _tags(value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            return list(value)
        raise ApiError(400, "tags must be a list of strings")

    @staticmethod
    def _content(data: dict[str, Any]) -> str:
        content = data.get("content")
        if not isinstance(content, str) or not content:
            raise ApiError(400, "content must be a non-empty string")
        if len(content) > MAX_CONTENT:
            raise ApiError(400, f"content is longer than {MAX_CONTENT} characters")
        return content

    # ------------------------------------------------------------------ REST wrapper
    def rest(
        self, handler: Callable[[Request, User], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a REST handler: REST-scoped faults, authentication, ``Flowdock-User`` header."""
        state = self.state

        async def endpoint(request: Request) -> Response:
            scope: Literal["rest", "write"] = (
                "rest" if request.method in ("GET", "HEAD") else "write"
            )
            fault = state.faults.take("request", scope) if state.faults_enabled else None
            if fault is not None:
                log.warning(
                    "fault #%d %s applied to REST %s %s",
                    fault.id,
                    fault.kind,
                    request.method,
                    request.url.path,
                )
                if fault.kind == "status":
                    return fault_response(fault)
                if fault.kind == "reset":
                    return ResetResponse(state)
                if fault.kind == "stall":
                    return ResetResponse(state, wait=True, seconds=fault.seconds)
                if fault.kind == "delay":
                    await asyncio.sleep(fault.delay)
            try:
                user = authenticate(state, request)
                response = await handler(request, user)
            except ApiError as exc:
                return error_response(exc)
            response.headers["Flowdock-User"] = user.id
            if fault is not None and fault.kind == "drop_response":
                return ResetResponse(state)
            if fault is not None and fault.kind == "trickle":
                return TrickleResponse(response, fault.delay)
            return response

        return endpoint

    # ------------------------------------------------------------------ REST handlers
    async def get_user(self, request: Request, user: User) -> Response:
        return json_response(user.public())

    async def get_users(self, request: Request, user: User) -> Response:
        my_orgs = [o for o in self.state.orgs if user.id in o.member_ids]
        visible = {uid for o in my_orgs for uid in o.member_ids}
        return json_response(
            [self.user_json(u) for u in self.state.users.values() if u.id in visible]
        )

    async def get_user_by_id(self, request: Request, user: User) -> Response:
        return json_response(self.user_json(self.other_user(request.path_params["user_id"])))

    async def get_organizations(self, request: Request, user: User) -> Response:
        api = self.api_base(request)
        return json_response(
            [
                {
                    "id": o.id,
                    "name": o.name,
                    "parameterized_name": o.parameterized_name,
                    "user_limit": 0,
                    "user_count": len(o.member_ids),
                    "active": True,
                    "url": f"{api}/organizations/{o.parameterized_name}",
                }
                for o in self.state.orgs
                if user.id in o.member_ids
            ]
        )

    async def get_flows(self, request: Request, user: User) -> Response:
        with_users = _truthy(request.query_params.get("users"))
        return json_response(
            [
                self.flow_json(request, f, user, with_users=with_users)
                for f in self.state.flows_of(user)
            ]
        )

    async def find_flow(self, request: Request, user: User) -> Response:
        flow = self.state.flows.get(request.query_params.get("id", ""))
        if flow is None:
            raise ApiError(404, "not found")
        if not self.state.can_access(user, flow):
            raise ApiError(403, "You don't have access to this flow")
        return json_response(self.flow_json(request, flow, user, with_users=True))

    async def get_flow(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        if request.method == "PUT":
            data = await self.body(request)
            if "open" in data:
                flow.open = bool(data["open"])
        return json_response(self.flow_json(request, flow, user, with_users=True))

    async def get_flow_users(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        return json_response([self.user_json(self.state.users[u], flow) for u in flow.member_ids])

    async def flow_messages(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        if request.method == "GET":
            return json_response(self.history(request, flow))
        data = await self.body(request)
        event = data.get("event", "message")
        if event not in ("message", "status", "comment", "line"):
            raise ApiError(400, "event must be message, status, comment or line")
        content: Any = self._content(data)
        tags = self._tags(data.get("tags"))
        uuid = data.get("uuid") if isinstance(data.get("uuid"), str) else None
        thread_id = data.get("thread_id") if isinstance(data.get("thread_id"), str) else None
        if thread_id is not None and thread_id not in flow.threads:
            raise ApiError(404, "thread not found")
        if event == "comment":
            try:
                parent_id = int(data.get("message"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ApiError(400, "a comment needs the parent message id") from None
            parent = flow.log.get(parent_id)
            if parent is None:
                raise ApiError(404, "parent message not found")
            content = {"title": self.thread_title(flow, parent), "text": content}
            tags.append(f"influx:{parent_id}")
            thread_id = parent.get("thread_id")
        msg = self.state.post_flow_message(
            flow, user.id, event, content, tags=tags, uuid=uuid, thread_id=thread_id
        )
        return json_response(self.rest_view(msg, flow), 201)

    async def comment_on(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        data = await self.body(request)
        text = self._content(data)
        parent = flow.log.get(int(p["id"]))
        if parent is None:
            raise ApiError(404, "not found")
        msg = self.state.post_flow_message(
            flow,
            user.id,
            "comment",
            {"title": self.thread_title(flow, parent), "text": text},
            tags=[f"influx:{parent['id']}", *self._tags(data.get("tags"))],
            uuid=data.get("uuid") if isinstance(data.get("uuid"), str) else None,
            thread_id=parent.get("thread_id"),
        )
        return json_response(self.rest_view(msg, flow), 201)

    async def flow_message(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        return await self._one_message(request, user, flow, int(p["id"]))

    async def _one_message(
        self, request: Request, user: User, target: Flow | PrivateConversation, msg_id: int
    ) -> Response:
        flow = target if isinstance(target, Flow) else None
        stored = target.log.get(msg_id)
        if stored is None:
            raise ApiError(404, "not found")
        if request.method == "GET":
            return json_response(self.rest_view(stored, flow))
        if stored.get("user") != user.id:
            raise ApiError(403, "You can only change your own messages")
        if request.method == "DELETE":
            if stored["event"] not in EDITABLE_EVENTS:
                raise ApiError(403, "Only chat messages and comments can be deleted")
            self.state.edit_message(target, msg_id, "", user.id)
            return json_response(self.rest_view(stored, flow))
        data = await self.body(request)
        if "content" in data:
            if stored["event"] not in EDITABLE_EVENTS:
                raise ApiError(403, "Only chat messages and comments can be edited")
            tags = self._tags(data["tags"]) if "tags" in data else None
            self.state.edit_message(target, msg_id, self._content(data), user.id, tags=tags)
        elif "tags" in data:
            new_tags = self._tags(data["tags"])
            old = list(stored["tags"])
            add = [t for t in new_tags if t not in old]
            remove = [t for t in old if t not in new_tags]
            if add or remove:
                self.state.change_tags(target, msg_id, add, remove, user.id)
        else:
            raise ApiError(400, "nothing to change: give content or tags")
        return json_response(self.rest_view(stored, flow))

    def private_json(self, request: Request, me: User, conv: PrivateConversation) -> dict[str, Any]:
        other = self.state.users[conv.other(me.id)]
        unread = f":unread:{me.id}"
        mentions = sum(1 for mid in conv.log.ids[-1000:] if unread in conv.log.by_id[mid]["tags"])
        return {
            "id": other.public()["id"],
            "url": f"{self.api_base(request)}/private/{other.id}",
            "name": f"@{other.nick}",
            "open": conv.open,
            "activity": {"inbox": False, "mentions": mentions, "chat": mentions > 0},
            "users": [self.user_json(me), self.user_json(other)],
        }

    async def get_privates(self, request: Request, user: User) -> Response:
        convs = [c for c in self.state.privates.values() if user.id in c.user_ids]
        return json_response([self.private_json(request, user, c) for c in convs])

    async def get_private(self, request: Request, user: User) -> Response:
        other = self.other_user(request.path_params["user_id"])
        conv = self.state.private_conversation(user.id, other.id)
        if request.method == "PUT":
            data = await self.body(request)
            if "open" in data:
                conv.open = bool(data["open"])
        return json_response(self.private_json(request, user, conv))

    async def private_messages(self, request: Request, user: User) -> Response:
        other = self.other_user(request.path_params["user_id"])
        conv = self.state.private_conversation(user.id, other.id)
        if request.method == "GET":
            return json_response(self.history(request, conv))
        data = await self.body(request)
        if data.get("event", "message") != "message":
            raise ApiError(400, "only message events can be posted privately")
        msg = self.state.post_private_message(
            user.id,
            other.id,
            "message",
            self._content(data),
            tags=self._tags(data.get("tags")),
            uuid=data.get("uuid") if isinstance(data.get("uuid"), str) else None,
        )
        return json_response(self.rest_view(msg), 201)

    async def private_message(self, request: Request, user: User) -> Response:
        other = self.other_user(request.path_params["user_id"])
        conv = self.state.private_conversation(user.id, other.id)
        return await self._one_message(request, user, conv, int(request.path_params["id"]))

    # ------------------------------------------------------------------ streaming
    async def stream(self, request: Request) -> Response:
        state = self.state
        lei = request.headers.get("last-event-id")
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
            private = _truthy(q.get("user"))
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
            presence=_truthy(q.get("presence")),
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

    # ------------------------------------------------------------------ control plane
    def _control_allowed(self) -> None:
        if not self.state.faults_enabled:
            raise ApiError(403, "fault injection and simulation controls are disabled")

    async def faults(self, request: Request) -> Response:
        state = self.state
        try:
            self._control_allowed()
            if request.method == "POST":
                try:
                    data = json.loads(await request.body() or b"null")
                except ValueError:
                    raise ApiError(400, "body is not valid JSON") from None
                items = data if isinstance(data, list) else [data]
                for item in items:  # validate all before queueing any
                    try:
                        parse_fault(item, 0)
                    except ValueError as exc:
                        raise ApiError(400, str(exc)) from None
                added = [state.faults.add(item) for item in items]
                for f in added:
                    log.warning("fault #%d queued: %s x%d", f.id, f.kind, f.count)
                return json_response({"faults": [f.describe() for f in added]}, 201)
            if request.method == "DELETE":
                dropped = state.faults.clear()
                if _truthy(request.query_params.get("log")):
                    state.connections.clear()
                    state.connections.extend(state.open_connections)
                log.warning("faults cleared (%d pending dropped)", dropped)
                return json_response({"cleared": dropped})
        except ApiError as exc:
            return error_response(exc)
        return json_response(
            {
                "enabled": True,
                "pending": state.faults.describe(),
                "open_connections": len(state.open_records),
                "open": [r.describe() for r in state.open_connections],
                "connections": [r.describe() for r in state.connections],
                "seq": state.seq,
            }
        )

    async def sim_burst(self, request: Request) -> Response:
        try:
            self._control_allowed()
            if self.simulator is None:
                raise ApiError(404, "no simulator")
            data = await self.body(request)
            count = data.get("count", 1000)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10**7:
                raise ApiError(400, "count must be an integer in 1..10000000")
            flow = None
            if data.get("flow") is not None:
                flow = self.state.resolve_flow(str(data["flow"]))
                if (
                    flow is None
                    or self.state.me is None
                    or not self.state.can_access(self.state.me, flow)
                ):
                    raise ApiError(404, "unknown flow")
        except ApiError as exc:
            return error_response(exc)
        sim = self.simulator
        started = time.perf_counter()
        if data.get("wait", True) is False:
            task = asyncio.get_running_loop().create_task(sim.burst(count, flow))
            _background.add(task)
            task.add_done_callback(_background.discard)
            return json_response({"count": count, "first_seq": self.state.seq + 1}, 202)
        first, last = await sim.burst(count, flow)
        seconds = time.perf_counter() - started
        log.info("burst of %d messages published in %.3f s", count, seconds)
        return json_response(
            {"count": count, "first_seq": first, "last_seq": last, "seconds": seconds}
        )

    async def sim_step(self, request: Request) -> Response:
        try:
            self._control_allowed()
            if self.simulator is None:
                raise ApiError(404, "no simulator")
            data = await self.body(request)
            n = data.get("events", 1)
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
                raise ApiError(400, "events must be an integer in 1..100000")
        except ApiError as exc:
            return error_response(exc)
        first = self.state.seq + 1
        done = self.simulator.run_events(n)
        return json_response({"events": done, "first_seq": first, "last_seq": self.state.seq})

    # ------------------------------------------------------------------ assembly
    def _rest_routes(self) -> list[BaseRoute]:
        def r(
            path: str, handler: Callable[[Request, User], Awaitable[Response]], methods: list[str]
        ) -> Route:
            return Route(path, self.rest(handler), methods=methods)

        return [
            r("/user", self.get_user, ["GET"]),
            r("/users", self.get_users, ["GET"]),
            r("/users/{user_id}", self.get_user_by_id, ["GET"]),
            r("/organizations", self.get_organizations, ["GET"]),
            r("/flows", self.get_flows, ["GET"]),
            r("/flows/all", self.get_flows, ["GET"]),
            r("/flows/find", self.find_flow, ["GET"]),
            r("/flows/{org}/{flow}", self.get_flow, ["GET", "PUT"]),
            r("/flows/{org}/{flow}/users", self.get_flow_users, ["GET"]),
            r("/flows/{org}/{flow}/messages", self.flow_messages, ["GET", "POST"]),
            r("/flows/{org}/{flow}/messages/{id:int}", self.flow_message, ["GET", "PUT", "DELETE"]),
            r("/flows/{org}/{flow}/messages/{id:int}/comments", self.comment_on, ["POST"]),
            r("/private", self.get_privates, ["GET"]),
            r("/private/{user_id}", self.get_private, ["GET", "PUT"]),
            r("/private/{user_id}/messages", self.private_messages, ["GET", "POST"]),
            r(
                "/private/{user_id}/messages/{id:int}",
                self.private_message,
                ["GET", "PUT", "DELETE"],
            ),
        ]

    def build(self) -> Starlette:
        routes: list[BaseRoute] = [
            Mount(
                STREAM_PREFIX,
                routes=[
                    Route("/flows", self.stream, methods=["GET"]),
                    Route("/flows/{org}/{flow}", self.stream, methods=["GET"]),
                ],
            ),
            Mount(API_PREFIX, routes=self._rest_routes()),
            Route("/_faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/burst", self.sim_burst, methods=["POST"]),
            Route("/_sim/step", self.sim_step, methods=["POST"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
            message = "not found" if status == 404 else str(detail)
            return json_response({"message": message}, status)

        return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


_background: set[asyncio.Task[Any]] = set()


def create_app(state: ServerState, simulator: Simulator | None = None) -> Starlette:
    """The ASGI app serving ``state`` (and driving ``simulator`` for ``/_sim``)."""
    return FlowdockApp(state, simulator).build()
