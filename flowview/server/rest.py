"""The REST API (Flowdock field names and answers, from the ``flowdock/api-docs``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from flowview.server.responses import (
    ApiError,
    ResetResponse,
    TrickleResponse,
    authenticate,
    error_response,
    fault_response,
    json_response,
    parse_json,
    read_json_body,
    truthy,
)
from flowview.server.state import (
    EDITABLE_EVENTS,
    Flow,
    PrivateConversation,
    ServerState,
    User,
    iso,
)
from flowview.server.uploads import Upload, parse_multipart
from flowview.server.wire import parse_event_id

log = logging.getLogger(__name__)

API_PREFIX = "/api"
MAX_CONTENT = 8096  # Flowdock's chat message limit
MAX_TAGS = 100
MAX_TAG_LENGTH = 200
MAX_UUID_LENGTH = 128
MAX_ID_LENGTH = 64  # user ids, thread ids and other path or body ids
MAX_EMOJI_LENGTH = 64


def searchable_text(content: Any) -> str:
    """The words ``search`` looks at: a message's text, a comment's text and title, a file's
    name."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return " ".join(
            str(content[k])
            for k in ("text", "title", "file_name")
            if isinstance(content.get(k), str)
        )
    return ""


def path_id(raw: str) -> int:
    """A message id from the path; 400 (not a 500 from ``int()``) for anything else."""
    value = parse_event_id(raw)
    if value is None:
        raise ApiError(400, "message id must be a non-negative integer")
    return value


def short_str(data: dict[str, Any], key: str, limit: int) -> str | None:
    """An optional string field of bounded length."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(400, f"{key} must be a string of at most {limit} characters")
    return value


class RestApi:
    """REST handlers; ``routes()`` lists them."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

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
            "api_token": flow.api_token,
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

    def other_user(self, viewer: User, user_id: str) -> User:
        """A user ``viewer`` may see: one sharing an organisation with them (as ``/users``)."""
        other = self.state.users.get(user_id) if len(user_id) <= MAX_ID_LENGTH else None
        if other is None or not self.state.can_see(viewer, other):
            raise ApiError(404, "not found")
        return other

    @staticmethod
    def _int_param(params: dict[str, str], name: str) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        value = parse_event_id(str(raw))  # same shape: ASCII digits, at most 19 of them
        if value is None:
            raise ApiError(400, f"{name} must be a non-negative integer")
        return value

    async def list_params(self, request: Request) -> dict[str, str]:
        """List parameters: a GET's JSON body (some clients always send one) under the query
        string, which wins."""
        params: dict[str, str] = {}
        raw = await request.body()
        ctype = request.headers.get("content-type", "").lower()
        if raw.strip() and "x-www-form-urlencoded" in ctype:
            params.update(urllib.parse.parse_qsl(raw.decode("utf-8", "replace")))
        elif raw.strip():
            data = parse_json(raw)
            if isinstance(data, dict):
                for key, value in data.items():
                    if isinstance(value, list):
                        value = ",".join(str(v) for v in value)
                    if isinstance(value, str | int | float) and not isinstance(value, bool):
                        params[str(key)] = str(value)
        params.update(request.query_params)
        return params

    async def history(
        self, request: Request, target: Flow | PrivateConversation, thread_id: str | None = None
    ) -> list[dict[str, Any]]:
        params = await self.list_params(request)
        since_id = self._int_param(params, "since_id")
        until_id = self._int_param(params, "until_id")
        limit = self._int_param(params, "limit")
        limit = 30 if limit is None else max(1, min(100, limit))
        skip = self._int_param(params, "skip") or 0
        sort = params.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise ApiError(400, "sort must be asc or desc")
        events = {e for e in params.get("event", "").split(",") if e}
        members = target.member_ids if isinstance(target, Flow) else list(target.user_ids)
        raw_tags = [t.strip() for t in params.get("tags", "").split(",") if t.strip()]
        # the same mapping as posting (@nick -> :user:<id>, # dropped), minus the :unread: tags
        # that mapping adds for @nick, which the filter did not ask for
        asked = set(raw_tags)
        tags = {
            t
            for t in self.state.normalize_tags(raw_tags, members, "")
            if not t.startswith(":unread:") or t in asked
        }
        tag_mode = params.get("tag_mode", "and")
        terms = [t.lower() for t in params.get("search", "").split() if t]

        def match(msg: dict[str, Any]) -> bool:
            if thread_id is not None and msg.get("thread_id") != thread_id:
                return False
            if events and msg["event"] not in events:
                return False
            if tags:
                have = {t.lower() for t in msg.get("tags", ())}
                if not (tags <= have if tag_mode == "and" else tags & have):
                    return False
            if terms:
                text = searchable_text(msg["content"]).lower()
                return all(term in text for term in terms)
            return True

        flow = target if isinstance(target, Flow) else None
        filtered = bool(events or tags or terms or thread_id is not None)
        found = target.log.query(
            since_id=since_id,
            until_id=until_id,
            limit=limit,
            sort=sort,
            match=match if filtered else None,
            skip=skip,
        )
        return [self.rest_view(m, flow) for m in found]

    @staticmethod
    async def body(request: Request) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith("multipart/form-data"):
            return parse_multipart(ctype, await request.body())
        return await read_json_body(request)

    @staticmethod
    def _tags(value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            tags = [t.strip() for t in value.split(",") if t.strip()]
        elif isinstance(value, list) and all(isinstance(t, str) for t in value):
            tags = list(value)
        else:
            raise ApiError(400, "tags must be a list of strings")
        if len(tags) > MAX_TAGS:
            raise ApiError(400, f"at most {MAX_TAGS} tags")
        if any(len(t) > MAX_TAG_LENGTH for t in tags):
            raise ApiError(400, f"a tag is at most {MAX_TAG_LENGTH} characters")
        return tags

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
        return json_response(self.user_json(self.other_user(user, request.path_params["user_id"])))

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
        with_users = truthy(request.query_params.get("users"))
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
            return json_response(await self.history(request, flow))
        return await self._post_to_flow(request, user, flow, await self.body(request))

    async def post_messages(self, request: Request, user: User) -> Response:
        """``POST /messages``: the flow's id in the body."""
        data = await self.body(request)
        return await self._post_to_flow(request, user, self._body_flow(user, data), data)

    async def post_comments(self, request: Request, user: User) -> Response:
        """``POST /comments``: flow and parent ``message`` in the body."""
        data = await self.body(request)
        data["event"] = "comment"
        return await self._post_to_flow(request, user, self._body_flow(user, data), data)

    def _body_flow(self, user: User, data: dict[str, Any]) -> Flow:
        ref = short_str(data, "flow", MAX_ID_LENGTH)
        if not ref:
            raise ApiError(400, "flow is required")
        flow = self.state.resolve_flow(ref)
        if flow is None:
            raise ApiError(404, "not found")
        if not self.state.can_access(user, flow):
            raise ApiError(403, "You don't have access to this flow")
        return flow

    async def _post_to_flow(
        self,
        request: Request,
        user: User,
        flow: Flow,
        data: dict[str, Any],
        *,
        thread_id: str | None = None,
        parent_id: int | None = None,
    ) -> Response:
        event = data.get("event", "message")
        if event not in ("message", "status", "comment", "line", "file"):
            raise ApiError(400, "event must be message, status, comment, line or file")
        if event == "comment" and parent_id is None:
            raw = data.get("message")
            parent_id = path_id(str(raw)) if isinstance(raw, int | str) else None
            if parent_id is None:
                raise ApiError(400, "a comment needs the parent message id")
        attachments: list[dict[str, Any]] | None = None
        content: Any
        if event == "file":
            att = self.state.store_file(flow.org.id, self._upload(data))
            content, attachments = dict(att), [att]
        else:
            content = self._content(data)
        tags = self.state.normalize_tags(self._tags(data.get("tags")), flow.member_ids, user.id)
        if event == "file" and ":file" not in tags:
            tags.append(":file")
        uuid = short_str(data, "uuid", MAX_UUID_LENGTH)
        if thread_id is None:
            thread_id = short_str(data, "thread_id", MAX_ID_LENGTH)
        if thread_id is not None and thread_id not in flow.threads:
            raise ApiError(404, "thread not found")
        if parent_id is not None:
            parent = flow.log.get(parent_id)
            if parent is None:
                raise ApiError(404, "parent message not found")
            if event == "comment":
                content = {"title": self.thread_title(flow, parent), "text": content}
                tags.append(f"influx:{parent_id}")
            thread_id = parent.get("thread_id")
        msg = self.state.post_flow_message(
            flow,
            user.id,
            event,
            content,
            tags=tags,
            uuid=uuid,
            thread_id=thread_id,
            attachments=attachments,
        )
        return json_response(self.rest_view(msg, flow), 201)

    @staticmethod
    def _upload(data: dict[str, Any]) -> tuple[str, str, bytes]:
        """(file name, content type, bytes) of an upload: multipart (``content`` is the file
        part) or JSON (``content`` or the body holds base64 ``data``)."""
        part = data.get("content")
        if isinstance(part, Upload):
            return part.file_name, part.content_type, part.data
        src = part if isinstance(part, dict) else data
        raw = src.get("data")
        if not isinstance(raw, str):
            raise ApiError(400, "a file needs content (multipart) or base64 data")
        try:
            blob = base64.b64decode(raw, validate=False)
        except (ValueError, binascii.Error):
            raise ApiError(400, "data must be base64") from None
        name = src.get("file_name") if isinstance(src.get("file_name"), str) else "file"
        ctype = src.get("content_type")
        return str(name)[:200], str(ctype)[:200] if isinstance(ctype, str) else "", blob

    async def invite(self, request: Request, user: User) -> Response:
        """``POST /flows/:org/:flow/invitations``: recorded as pending (no mail is sent)."""
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        data = await self.body(request)
        email = short_str(data, "email", 254)
        if not email or "@" not in email.strip("@"):
            raise ApiError(400, "email is required")
        invitation = {
            "id": (self.state.invitations[-1]["id"] + 1) if self.state.invitations else 1,
            "state": "pending",
            "email": email,
            "flow": flow.id,
            "message": short_str(data, "message", MAX_CONTENT) or "",
            "created_at": iso(self.state.now_ms()),
        }
        self.state.invitations.append(invitation)
        return json_response(invitation, 201)

    # ------------------------------------------------------------------ reactions
    async def reactions(self, request: Request, user: User) -> Response:
        """Extension (the public docs have no reaction endpoint): ``PUT`` adds the user's
        reaction ``.../messages/:id/reactions/:emoji``, ``DELETE`` removes it; ``POST`` and
        ``DELETE`` on ``.../reactions`` take ``{"emoji": ...}``. Streams see
        ``emoji-reaction``; the answer is ``{}``."""
        p = request.path_params
        if "user_id" in p:
            other = self.other_user(user, p["user_id"])
            target: Flow | PrivateConversation = self.state.private_conversation(user.id, other.id)
        else:
            target = self.flow_for(user, p["org"], p["flow"])
        msg_id = path_id(p["id"])
        if target.log.get(msg_id) is None:
            raise ApiError(404, "not found")
        emoji = p.get("emoji")
        if emoji is None:
            emoji = short_str(await self.body(request), "emoji", MAX_EMOJI_LENGTH)
        if not emoji or len(emoji) > MAX_EMOJI_LENGTH or not emoji.isprintable() or " " in emoji:
            raise ApiError(400, "emoji must be a short name or character")
        self.state.react(target, msg_id, emoji, user.id, request.method in ("PUT", "POST"))
        return json_response({})

    # ------------------------------------------------------------------ integrations
    async def _by_flow_token(self, request: Request, token: str, status: int) -> Response:
        """A post authenticated by a flow's ``api_token`` instead of a user: shown as
        ``external_user_name`` (as the Push API and integrations posted)."""
        flow = self.state.flow_tokens.get(token) if len(token) <= MAX_ID_LENGTH else None
        if flow is None:
            raise ApiError(401, "unknown flow_token")
        data = await self.body(request)
        if data.get("event") in ("activity", "discussion"):
            self._post_thread_message(flow, data)
            return json_response({}, status)
        name = short_str(data, "external_user_name", 100)
        if not name or not name.strip():
            raise ApiError(400, "external_user_name is required")
        tags = self.state.normalize_tags(self._tags(data.get("tags")), flow.member_ids, "0")
        thread_id = short_str(data, "thread_id", MAX_ID_LENGTH)
        if thread_id is not None and thread_id not in flow.threads:
            raise ApiError(404, "thread not found")
        self.state.post_flow_message(
            flow,
            "0",
            "message",
            self._content(data),
            tags=tags,
            uuid=short_str(data, "uuid", MAX_UUID_LENGTH),
            thread_id=thread_id,
            extra={"external_user_name": name.strip()},
        )
        return json_response({}, status)

    def _post_thread_message(self, flow: Flow, data: dict[str, Any]) -> None:
        """An integration's ``activity`` or ``discussion`` (Thread-messages.md): ``author``,
        ``title``, ``body``, and ``thread_id`` or ``external_thread_id`` with the ``thread``'s
        state (required when the thread is new)."""
        author = data.get("author")
        if not isinstance(author, dict) or not isinstance(author.get("name"), str):
            raise ApiError(400, "author.name is required")
        title = short_str(data, "title", MAX_CONTENT)
        if not title:
            raise ApiError(400, "title is required")
        body = short_str(data, "body", MAX_CONTENT)
        thread = data.get("thread")
        if thread is not None and not isinstance(thread, dict):
            raise ApiError(400, "thread must be an object")
        fields = None
        if thread:
            allowed = ("title", "body", "external_url", "status", "actions", "fields", "source")
            fields = {k: thread[k] for k in allowed if k in thread}
        tid = short_str(data, "thread_id", MAX_ID_LENGTH)
        external = short_str(data, "external_thread_id", MAX_ID_LENGTH)
        if tid is not None:
            if tid not in flow.threads:
                raise ApiError(404, "thread not found")
        elif external is not None:
            tid = self.state.external_threads.get((flow.id, external))
        else:
            raise ApiError(400, "thread_id or external_thread_id is required")
        if tid is None and not (fields and isinstance(fields.get("title"), str)):
            raise ApiError(400, "a new thread needs thread.title")
        msg = self.state.post_flow_message(
            flow,
            "0",
            str(data["event"]),
            None,
            tags=self.state.normalize_tags(self._tags(data.get("tags")), flow.member_ids, "0"),
            uuid=short_str(data, "uuid", MAX_UUID_LENGTH),
            thread_id=tid,
            app="influx",
            thread_fields=fields,
            extra={
                "title": title,
                "body": body,
                "author": {
                    k: str(author[k])[:500] for k in ("name", "avatar", "email") if author.get(k)
                },
            },
        )
        if external is not None:
            self.state.external_threads[(flow.id, external)] = msg["thread_id"]

    async def push_chat(self, request: Request) -> Response:
        """Push API: ``POST /v1/messages/chat/:flow_token`` (200 ``{}``)."""
        try:
            return await self._by_flow_token(request, request.path_params["flow_token"], 200)
        except ApiError as exc:
            return error_response(exc)

    async def messages_endpoint(self, request: Request) -> Response:
        """``POST /messages``: a user's post, or an integration's with ``flow_token`` in the
        body and no user credentials (202, as the API answered integrations)."""
        if "authorization" not in request.headers:
            try:
                raw = await request.body()
                data = parse_json(raw) if raw.strip().startswith(b"{") else {}
                token = data.get("flow_token") if isinstance(data, dict) else None
                if isinstance(token, str):
                    return await self._by_flow_token(request, token, 202)
            except ApiError as exc:
                return error_response(exc)
        return await self.rest(self.post_messages)(request)

    # ------------------------------------------------------------------ threads
    def _thread_json(self, thread: dict[str, Any]) -> dict[str, Any]:
        out = dict(thread)
        created = out.get("created_at")
        if isinstance(created, int):
            out["created_at"] = iso(created)
        out["fields"] = list(out.get("fields") or ())
        out["actions"] = list(out.get("actions") or ())
        return out

    def _thread(self, flow: Flow, thread_id: str) -> dict[str, Any]:
        thread = flow.threads.get(thread_id) if len(thread_id) <= MAX_ID_LENGTH else None
        if thread is None:
            raise ApiError(404, "thread not found")
        return thread

    async def get_threads(self, request: Request, user: User) -> Response:
        """``GET /flows/:org/:flow/threads``: newest activity first."""
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        params = await self.list_params(request)
        limit = self._int_param(params, "limit")
        limit = 30 if limit is None else max(1, min(100, limit))
        threads = sorted(flow.threads.values(), key=lambda t: str(t["updated_at"]), reverse=True)
        return json_response([self._thread_json(t) for t in threads[:limit]])

    async def get_thread(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        return json_response(self._thread_json(self._thread(flow, p["thread_id"])))

    async def thread_messages(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        tid = self._thread(flow, p["thread_id"])["id"]
        if request.method == "GET":
            return json_response(await self.history(request, flow, thread_id=tid))
        data = await self.body(request)
        return await self._post_to_flow(request, user, flow, data, thread_id=tid)

    # ------------------------------------------------------------------ files
    async def get_file(self, request: Request, user: User) -> Response:
        """``GET /files/...``: an uploaded file, or a stand-in for a simulated one (the real
        API redirected to the stored file; serving it directly is equivalent for a client)."""
        path = "/files/" + request.path_params["path"]
        stored = self.state.files.get(path)
        if stored is None:
            name = path.rsplit("/", 1)[-1]
            return Response(
                f"flowview simulated file {name}\n".encode(),
                media_type="text/plain; charset=utf-8",
                headers={"Content-Disposition": "attachment"},
            )
        return Response(
            stored.data,
            media_type=stored.content_type or "application/octet-stream",
            headers={"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"},
        )

    async def comment_on(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        data = await self.body(request)
        data["event"] = "comment" if data.get("event") != "file" else "file"
        return await self._post_to_flow(request, user, flow, data, parent_id=path_id(p["id"]))

    async def flow_message(self, request: Request, user: User) -> Response:
        p = request.path_params
        flow = self.flow_for(user, p["org"], p["flow"])
        return await self._one_message(request, user, flow, path_id(p["id"]))

    async def _one_message(
        self, request: Request, user: User, target: Flow | PrivateConversation, msg_id: int
    ) -> Response:
        flow = target if isinstance(target, Flow) else None
        stored = target.log.get(msg_id)
        if stored is None:
            raise ApiError(404, "not found")
        if request.method == "GET":
            return json_response(self.rest_view(stored, flow))
        own = stored.get("user") == user.id
        if request.method == "DELETE":
            # the docs: own file messages are removed (204), own chat messages truncated (200)
            if own and stored["event"] == "file":
                self.state.remove_message(target, msg_id, user.id)
                return Response(status_code=204)
            if not own or stored["event"] not in EDITABLE_EVENTS:
                raise ApiError(403, "You can delete only your own messages, comments and files")
            self.state.edit_message(target, msg_id, "", user.id)
            return Response(b"", status_code=200)
        data = await self.body(request)
        members = target.member_ids if isinstance(target, Flow) else list(target.user_ids)
        tags = (
            self.state.normalize_tags(self._tags(data["tags"]), members, user.id)
            if "tags" in data
            else None
        )
        if "content" in data:
            if not own:
                raise ApiError(403, "You can only edit your own messages")
            if stored["event"] not in EDITABLE_EVENTS:
                raise ApiError(403, "Only chat messages and comments can be edited")
            self.state.edit_message(target, msg_id, self._content(data), user.id, tags=tags)
        elif tags is not None:
            # anyone who can see a message may change its tags (the docs)
            old = list(stored["tags"])
            add = [t for t in tags if t not in old]
            remove = [t for t in old if t not in tags]
            if add or remove:
                self.state.change_tags(target, msg_id, add, remove, user.id)
        else:
            raise ApiError(400, "nothing to change: give content or tags")
        return json_response({})

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
        other = self.other_user(user, request.path_params["user_id"])
        conv = self.state.private_conversation(user.id, other.id)
        if request.method == "PUT":
            data = await self.body(request)
            if "open" in data:
                conv.open = bool(data["open"])
        return json_response(self.private_json(request, user, conv))

    async def private_messages(self, request: Request, user: User) -> Response:
        other = self.other_user(user, request.path_params["user_id"])
        conv = self.state.private_conversation(user.id, other.id)
        if request.method == "GET":
            return json_response(await self.history(request, conv))
        data = await self.body(request)
        if data.get("event", "message") != "message":
            raise ApiError(400, "only message events can be posted privately")
        msg = self.state.post_private_message(
            user.id,
            other.id,
            "message",
            self._content(data),
            tags=self.state.normalize_tags(
                self._tags(data.get("tags")), (user.id, other.id), user.id
            ),
            uuid=short_str(data, "uuid", MAX_UUID_LENGTH),
        )
        return json_response(self.rest_view(msg), 201)

    async def private_message(self, request: Request, user: User) -> Response:
        other = self.other_user(user, request.path_params["user_id"])
        conv = self.state.private_conversation(user.id, other.id)
        return await self._one_message(request, user, conv, path_id(request.path_params["id"]))

    def routes(self) -> list[BaseRoute]:
        def r(
            path: str, handler: Callable[[Request, User], Awaitable[Response]], methods: list[str]
        ) -> Route:
            return Route(path, self.rest(handler), methods=methods)

        flow = "/flows/{org}/{flow}"
        return [
            r("/user", self.get_user, ["GET"]),
            r("/users", self.get_users, ["GET"]),
            r("/users/{user_id}", self.get_user_by_id, ["GET"]),
            r("/organizations", self.get_organizations, ["GET"]),
            r("/flows", self.get_flows, ["GET"]),
            r("/flows/all", self.get_flows, ["GET"]),
            r("/flows/find", self.find_flow, ["GET"]),
            r(flow, self.get_flow, ["GET", "PUT"]),
            r(flow + "/users", self.get_flow_users, ["GET"]),
            r(flow + "/messages", self.flow_messages, ["GET", "POST"]),
            r(flow + "/messages/{id}", self.flow_message, ["GET", "PUT", "DELETE"]),
            r(flow + "/messages/{id}/comments", self.comment_on, ["POST"]),
            r(flow + "/messages/{id}/reactions", self.reactions, ["POST", "DELETE"]),
            r(flow + "/messages/{id}/reactions/{emoji}", self.reactions, ["PUT", "DELETE"]),
            r(flow + "/threads", self.get_threads, ["GET"]),
            r(flow + "/invitations", self.invite, ["POST"]),
            r(flow + "/threads/{thread_id}", self.get_thread, ["GET"]),
            r(flow + "/threads/{thread_id}/messages", self.thread_messages, ["GET", "POST"]),
            Route("/messages", self.messages_endpoint, methods=["POST"]),
            Route("/v1/messages/chat/{flow_token}", self.push_chat, methods=["POST"]),
            r("/comments", self.post_comments, ["POST"]),
            r("/files/{path:path}", self.get_file, ["GET"]),
            r("/private", self.get_privates, ["GET"]),
            r("/private/{user_id}", self.get_private, ["GET", "PUT"]),
            r("/private/{user_id}/messages", self.private_messages, ["GET", "POST"]),
            r("/private/{user_id}/messages/{id}", self.private_message, ["GET", "PUT", "DELETE"]),
            r("/private/{user_id}/messages/{id}/reactions", self.reactions, ["POST", "DELETE"]),
            r(
                "/private/{user_id}/messages/{id}/reactions/{emoji}",
                self.reactions,
                ["PUT", "DELETE"],
            ),
        ]
