"""Async client for the parts of the Flowdock REST API a viewer needs.

Responses are untrusted: list items that do not look right are skipped, not fatal, and error
text from the server is truncated, stripped of control characters and scrubbed of the token
before it is put into an exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx

from flowview.protocol.auth import Token, redact
from flowview.protocol.backoff import parse_retry_after
from flowview.protocol.events import Event, _as_int, as_id, parse_event
from flowview.protocol.httpauth import TokenAuth
from flowview.protocol.text import printable
from flowview.protocol.urls import is_slug, join_url

log = logging.getLogger(__name__)

Sort = Literal["asc", "desc"]

DEFAULT_TIMEOUT = httpx.Timeout(10.0)
# Overall time for one call, headers and body together: httpx's timeouts are per read, so a
# server trickling a byte every few seconds would otherwise hold a call forever.
DEFAULT_DEADLINE = 30.0
MAX_LIMIT = 100
MAX_ERROR_CHARS = 200
# A full page is 100 messages of at most ~8 KB; anything far beyond that is not a sane reply.
MAX_BODY_BYTES = 32 * 1024 * 1024


# --------------------------------------------------------------------------- data


@dataclass(slots=True)
class User:
    id: str
    nick: str
    name: str = ""
    email: str | None = None
    # "active" | "idle" | "offline" when the server says (the bundled server's extension
    # field); None on real Flowdock, where activity.user/presence events tell instead.
    presence: str | None = None

    @classmethod
    def from_json(cls, obj: Any) -> User | None:
        """A User from an API object, or None when it has no usable id."""
        if not isinstance(obj, dict):
            return None
        uid = as_id(obj.get("id"))
        if uid is None:
            return None
        nick = _str(obj.get("nick"))
        name = _str(obj.get("name"))
        email = obj.get("email")
        presence = obj.get("presence")
        return cls(
            id=uid,
            nick=nick or name,
            name=name,
            email=email if isinstance(email, str) and email else None,
            presence=presence if presence in ("active", "idle", "offline") else None,
        )


@dataclass(slots=True)
class Flow:
    id: str
    name: str
    parameterized_name: str
    organization: str  # the organization's parameterized name
    open: bool = True
    joined: bool = True
    url: str = ""
    organization_name: str = ""  # display name
    unread_mentions: int = 0
    users: tuple[User, ...] = ()  # only when the response embeds them

    @property
    def slug(self) -> str:
        return f"{self.organization}/{self.parameterized_name}"

    @classmethod
    def from_json(cls, obj: Any) -> Flow | None:
        """A Flow from an API object; None if id or slug cannot be determined."""
        if not isinstance(obj, dict):
            return None
        fid = as_id(obj.get("id"))
        pname = _str(obj.get("parameterized_name"))
        url = _str(obj.get("url"))
        org = obj.get("organization")
        # `organization` was a plain string before 2013-10, an object afterwards.
        if isinstance(org, dict):
            org_slug = _str(org.get("parameterized_name"))
            org_name = _str(org.get("name"))
        else:
            org_slug = org_name = _str(org)
        if not org_slug or not pname:
            url_org, url_flow = _slug_from_url(url)
            org_slug = org_slug or url_org
            pname = pname or url_flow
        if not fid or not is_slug(f"{org_slug}/{pname}"):
            return None
        users = obj.get("users")
        parsed_users = tuple(
            u for u in map(User.from_json, users if isinstance(users, list) else []) if u
        )
        open_, joined = obj.get("open"), obj.get("joined")
        return cls(
            id=fid,
            name=_str(obj.get("name")) or pname,
            parameterized_name=pname,
            organization=org_slug,
            open=open_ if isinstance(open_, bool) else True,
            joined=joined if isinstance(joined, bool) else True,
            url=url,
            organization_name=org_name or org_slug,
            unread_mentions=max(0, _as_int(obj.get("unread_mentions")) or 0),
            users=parsed_users,
        )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _slug_from_url(url: str) -> tuple[str, str]:
    """("org", "flow") from an API flow URL ".../flows/org/flow", else empty strings."""
    try:
        parts = httpx.URL(url).path.rstrip("/").split("/")
    except Exception:  # a hostile "url" field must not break flow parsing
        log.debug("unusable flow url field", exc_info=True)
        return "", ""
    if len(parts) >= 3 and parts[-3] == "flows":
        return parts[-2], parts[-1]
    return "", ""


@dataclass(slots=True)
class HistoryPage:
    """Events after a cursor; `cursor` is where the next page starts; `last` ends paging."""

    events: list[Event]
    cursor: int
    last: bool


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """A failed API call.  `status` 0 means no HTTP response (network error, timeout)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        # Seconds the server asked us to wait (Retry-After of a 429/503), else None.
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message}" if self.status else self.message


class AuthError(ApiError):
    """401/403: the credentials were refused."""


def _clean(text: str, token: Token) -> str:
    """Error text safe to show: no token, single line, no control chars, bounded."""
    return printable(redact(text, token), MAX_ERROR_CHARS)


# --------------------------------------------------------------------------- client


class RestClient:
    """Flowdock REST API over httpx.  Pass `http` to share a client (it is then not closed)."""

    def __init__(
        self,
        api_url: str,
        token: Token,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        join_url(api_url)  # validates: absolute http(s), no credentials, no query
        self.api_url = api_url.rstrip("/")
        self.host = httpx.URL(self.api_url).host
        self._token = token
        self._auth = TokenAuth(token)
        self._timeout = timeout
        self.deadline = deadline
        # Called with the API host after each call that got an HTTP answer below 500: the
        # stream client uses it to end a reconnect back-off early (the host is reachable).
        self.on_success: list[Callable[[str], None]] = []
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(follow_redirects=False)
        self._flow_slugs: dict[str, str] = {}
        self.me_id: str | None = None  # learned from the Flowdock-User response header

    def __repr__(self) -> str:
        return f"RestClient({self.api_url!r}, {self._token!r})"

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ----------------------------------------------------------------- transport

    async def _call(
        self,
        method: str,
        segments: Sequence[str],
        *,
        params: Sequence[tuple[str, str]] = (),
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Perform one request; return decoded JSON (None for an empty body)."""
        url = join_url(self.api_url, *segments, params=params)
        req_headers = {"Accept": "application/json", **(headers or {})}
        try:
            # The deadline runs on the event loop's clock, like every other client timeout.
            async with asyncio.timeout(self.deadline):
                resp, data = await self._fetch(method, url, body, req_headers)
        except TimeoutError:
            log.warning("%s %s: no complete answer within %g s", method, url.path, self.deadline)
            raise ApiError(
                0, f"{method} {url.path} failed: no complete answer within {self.deadline:g} s"
            ) from None
        except httpx.HTTPError as exc:
            detail = _clean(f"{type(exc).__name__}: {exc}", self._token)
            log.info("%s %s failed: %s", method, url.path, detail)
            raise ApiError(0, f"{method} {url.path} failed: {detail}") from exc

        me = resp.headers.get("Flowdock-User")
        if me and me.strip():
            self.me_id = _clean(me, self._token)
        status = resp.status_code
        if status < 500:
            self._succeeded()
        if status in (401, 403):
            detail = _error_detail(bytes(data), self._token)
            raise AuthError(status, "authentication failed" + (f": {detail}" if detail else ""))
        if not 200 <= status < 300:
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(
                    resp.headers.get("retry-after"), date=resp.headers.get("date"), now=time.time()
                )
            raise ApiError(
                status,
                _error_detail(bytes(data), self._token) or resp.reason_phrase,
                retry_after=retry_after,
            )
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise ApiError(status, "response is not valid JSON") from None

    async def _fetch(
        self, method: str, url: httpx.URL, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> tuple[httpx.Response, bytearray]:
        async with self._http.stream(
            method, url, json=body, headers=headers, auth=self._auth, timeout=self._timeout
        ) as resp:
            data = bytearray()
            async for chunk in resp.aiter_bytes():
                data += chunk
                if len(data) > MAX_BODY_BYTES:
                    raise ApiError(resp.status_code, "response too large")
        return resp, data

    def _succeeded(self) -> None:
        for callback in list(self.on_success):
            try:
                callback(self.host)
            except Exception:
                log.exception("REST success callback failed")

    async def _get_list(self, segments: Sequence[str], **kw: Any) -> list[Any]:
        result = await self._call("GET", segments, **kw)
        if not isinstance(result, list):
            raise ApiError(200, "expected a JSON list")
        return result

    async def _get_object(self, segments: Sequence[str], **kw: Any) -> dict[str, Any]:
        result = await self._call("GET", segments, **kw)
        if not isinstance(result, dict):
            raise ApiError(200, "expected a JSON object")
        return result

    # ----------------------------------------------------------------- users & flows

    async def user(self) -> User:
        """The authenticated user (`GET /user`); also sets `me_id`."""
        obj = await self._get_object(["user"])
        if obj.get("id") is None and self.me_id:
            obj = {**obj, "id": self.me_id}
        user = User.from_json(obj)
        if user is None:
            raise ApiError(200, "malformed user object")
        self.me_id = self.me_id or user.id
        return user

    async def users(self) -> list[User]:
        return _users(await self._get_list(["users"]))

    async def flows(self) -> list[Flow]:
        """Joined flows (`GET /flows`)."""
        return self._remember(_flows(await self._get_list(["flows"])))

    async def flow(self, slug: str) -> Flow:
        flow = Flow.from_json(await self._get_object(["flows", *_split_slug(slug)]))
        if flow is None:
            raise ApiError(200, "malformed flow object")
        return self._remember([flow])[0]

    async def find_flow(self, flow_id: str) -> Flow:
        """A flow by id (stream events carry only the id)."""
        obj = await self._get_object(["flows", "find"], params=[("id", flow_id)])
        flow = Flow.from_json(obj)
        if flow is None:
            raise ApiError(200, "malformed flow object")
        return self._remember([flow])[0]

    async def flow_users(self, slug: str) -> list[User]:
        return _users(await self._get_list(["flows", *_split_slug(slug), "users"]))

    async def private(self) -> list[dict[str, Any]]:
        """Private conversations (`GET /private`), as raw objects."""
        return [item for item in await self._get_list(["private"]) if isinstance(item, dict)]

    def _remember(self, flows: list[Flow]) -> list[Flow]:
        for flow in flows:
            self._flow_slugs[flow.id] = flow.slug
        return flows

    # ----------------------------------------------------------------- messages

    async def messages(
        self,
        slug: str,
        *,
        since_id: int | None = None,
        until_id: int | None = None,
        limit: int = MAX_LIMIT,
        sort: Sort = "asc",
        event: str | Sequence[str] | None = None,
    ) -> list[Event]:
        """Flow history; `since_id`/`until_id` are exclusive.  Unparseable items are skipped."""
        params = _history_params(since_id, until_id, limit, sort, event)
        path = ["flows", *_split_slug(slug), "messages"]
        return _events(await self._get_list(path, params=params))

    async def private_messages(
        self,
        user_id: str,
        *,
        since_id: int | None = None,
        until_id: int | None = None,
        limit: int = MAX_LIMIT,
        sort: Sort = "asc",
        event: str | Sequence[str] | None = None,
    ) -> list[Event]:
        params = _history_params(since_id, until_id, limit, sort, event)
        return _events(await self._get_list(_private_messages_path(user_id), params=params))

    async def message(self, slug: str, message_id: int) -> Event:
        obj = await self._get_object(["flows", *_split_slug(slug), "messages", str(message_id)])
        try:
            return parse_event(obj)
        except ValueError:
            raise ApiError(200, "malformed message") from None

    async def history_since(
        self, flow: str, since_id: int, *, limit: int = MAX_LIMIT, max_pages: int = 50
    ) -> list[Event]:
        """Everything after `since_id` in ascending order, paging until a short page.

        `flow` is an "org/flow" slug or a flow id (resolved once via `find_flow`).
        At most `max_pages` requests are made, so a busy flow cannot make this unbounded.
        """
        slug = flow if is_slug(flow) else await self._slug_for(flow)
        return await self._page_since(
            ["flows", *_split_slug(slug), "messages"], since_id, limit, max_pages
        )

    async def private_history_since(
        self, user_id: str, since_id: int, *, limit: int = MAX_LIMIT, max_pages: int = 50
    ) -> list[Event]:
        return await self._page_since(_private_messages_path(user_id), since_id, limit, max_pages)

    async def flow_page(self, slug: str, since_id: int, *, limit: int = MAX_LIMIT) -> HistoryPage:
        """One ascending page of flow history after `since_id` (see :class:`HistoryPage`)."""
        return await self._page(["flows", *_split_slug(slug), "messages"], since_id, limit)

    async def private_page(
        self, user_id: str, since_id: int, *, limit: int = MAX_LIMIT
    ) -> HistoryPage:
        """One ascending page of the private conversation with `user_id` after `since_id`."""
        return await self._page(_private_messages_path(user_id), since_id, limit)

    async def _page(self, path: list[str], since_id: int, limit: int) -> HistoryPage:
        params = _history_params(int(since_id), None, limit, "asc", None)
        items = await self._get_list(path, params=params)
        ids = [i for i in (_as_int(_item_id(item)) for item in items) if i is not None]
        top = max(ids, default=None)
        # Page on the raw items so a skipped malformed one does not look like the end; a page
        # without forward progress is the end too (it would loop forever).
        last = len(items) < limit or top is None or top <= since_id
        events = [ev for ev in _events(items) if ev.id is None or ev.id > since_id]
        return HistoryPage(events, top if top is not None and top > since_id else since_id, last)

    async def newest_id(self, slug: str | None = None, *, user_id: str | None = None) -> int:
        """The id of the newest message of a flow (or private conversation); 0 when empty."""
        params = _history_params(None, None, 1, "desc", None)
        path = (
            ["flows", *_split_slug(slug), "messages"]
            if slug is not None
            else _private_messages_path(user_id or "")
        )
        items = await self._get_list(path, params=params)
        ids = [i for i in (_as_int(_item_id(item)) for item in items) if i is not None]
        return max(ids, default=0)

    async def _slug_for(self, flow_id: str) -> str:
        slug = self._flow_slugs.get(flow_id)
        if slug is None:
            slug = (await self.find_flow(flow_id)).slug
        return slug

    async def _page_since(
        self, path: list[str], since_id: int, limit: int, max_pages: int
    ) -> list[Event]:
        out: list[Event] = []
        cursor = int(since_id)
        for _ in range(max(1, max_pages)):
            params = _history_params(cursor, None, limit, "asc", None)
            items = await self._get_list(path, params=params)
            # Page on the raw items so a skipped malformed one does not look like the end.
            out.extend(ev for ev in _events(items) if ev.id is None or ev.id > since_id)
            ids = [i for i in (_as_int(_item_id(item)) for item in items) if i is not None]
            # A short page is the end; no forward progress would loop forever.
            if len(items) < limit or not ids or max(ids) <= cursor:
                break
            cursor = max(ids)
        return out

    # ----------------------------------------------------------------- sending

    async def post_message(
        self, slug: str, content: Any, *, event: str = "message", **fields: Any
    ) -> dict[str, Any]:
        """Post to a flow; returns the created message (empty dict on a bare 202)."""
        body = {**fields, "event": event, "content": content}
        result = await self._call(
            "POST",
            ["flows", *_split_slug(slug), "messages"],
            body=body,
            headers={"X-flowdock-wait-for-message": "true"},
        )
        return result if isinstance(result, dict) else {}

    async def post_comment(
        self, slug: str, parent_id: int, text: str, **fields: Any
    ) -> dict[str, Any]:
        """Comment on message `parent_id` (`POST .../messages/:id/comments`)."""
        result = await self._call(
            "POST",
            ["flows", *_split_slug(slug), "messages", str(int(parent_id)), "comments"],
            body={**fields, "content": text},
            headers={"X-flowdock-wait-for-message": "true"},
        )
        return result if isinstance(result, dict) else {}

    async def post_private_message(
        self, user_id: str, content: Any, *, event: str = "message", **fields: Any
    ) -> dict[str, Any]:
        body = {**fields, "event": event, "content": content}
        result = await self._call(
            "POST",
            ["private", _user_segment(user_id), "messages"],
            body=body,
            headers={"X-flowdock-wait-for-message": "true"},
        )
        return result if isinstance(result, dict) else {}

    async def edit_message(
        self,
        slug: str,
        message_id: int,
        *,
        content: Any = None,
        tags: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if content is not None:
            body["content"] = content
        if tags is not None:
            body["tags"] = list(tags)
        if not body:
            raise ValueError("nothing to edit")
        result = await self._call(
            "PUT", ["flows", *_split_slug(slug), "messages", str(int(message_id))], body=body
        )
        return result if isinstance(result, dict) else {}

    async def delete_message(self, slug: str, message_id: int) -> None:
        await self._call("DELETE", ["flows", *_split_slug(slug), "messages", str(int(message_id))])

    async def edit_private_message(self, user_id: str, message_id: int, content: Any) -> None:
        """Change the text of one's private message (`PUT /private/:user/messages/:id`)."""
        path = [*_private_messages_path(user_id), str(int(message_id))]
        await self._call("PUT", path, body={"content": content})

    async def delete_private_message(self, user_id: str, message_id: int) -> None:
        await self._call("DELETE", [*_private_messages_path(user_id), str(int(message_id))])

    async def react(
        self, slug: str, message_id: int, emoji: str, *, add: bool, private: bool = False
    ) -> None:
        """Add (PUT) or remove (DELETE) the user's `emoji` reaction on a message; `slug` is the
        other user's id when `private`."""
        base = (
            _private_messages_path(slug) if private else ["flows", *_split_slug(slug), "messages"]
        )
        path = [*base, str(int(message_id)), "reactions", emoji]
        await self._call("PUT" if add else "DELETE", path)


# --------------------------------------------------------------------------- helpers


def _split_slug(slug: str) -> tuple[str, str]:
    if not is_slug(slug):
        raise ValueError("flow must be given as 'organization/flow'")
    org, _, name = slug.partition("/")
    return org, name


def _item_id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def _private_messages_path(user_id: str) -> list[str]:
    return ["private", _user_segment(user_id), "messages"]


def _user_segment(user_id: str) -> str:
    uid = str(user_id).strip()
    if not uid or "/" in uid:
        raise ValueError("invalid user id")
    return uid


def _history_params(
    since_id: int | None,
    until_id: int | None,
    limit: int,
    sort: str,
    event: str | Sequence[str] | None,
) -> list[tuple[str, str]]:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    if sort not in ("asc", "desc"):
        raise ValueError("sort must be 'asc' or 'desc'")
    params = [("limit", str(limit)), ("sort", sort)]
    if since_id is not None:
        params.append(("since_id", str(int(since_id))))
    if until_id is not None:
        params.append(("until_id", str(int(until_id))))
    if event:
        params.append(("event", event if isinstance(event, str) else ",".join(event)))
    return params


def _error_detail(body: bytes, token: Token) -> str:
    """The server's explanation: JSON {"message": ...} if present, else the body text."""
    # Decode and redact the whole body before truncating, so no token prefix survives a cut.
    text = body.decode("utf-8", errors="replace")
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("message"), str):
        text = obj["message"]
    return _clean(text, token)


def _users(items: list[Any]) -> list[User]:
    return [u for u in map(User.from_json, items) if u is not None]


def _flows(items: list[Any]) -> list[Flow]:
    return [f for f in map(Flow.from_json, items) if f is not None]


def _events(items: list[Any]) -> list[Event]:
    out: list[Event] = []
    for item in items:
        try:
            out.append(parse_event(item))
        except ValueError:
            continue
    return out
