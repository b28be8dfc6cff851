"""Default hosts and request URL builders (stream and REST).

Credentials never go into a URL: URLs end up in logs (httpx logs them at INFO) and follow
redirects, unlike the Authorization header.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import quote

import httpx

from flowview.protocol.defaults import DEFAULT_API_URL, DEFAULT_STREAM_URL, Presence

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_API_URL", "DEFAULT_STREAM_URL", "Presence"]

_ACTIVE_PARAM: dict[str, str | None] = {"active": "true", "idle": "idle", "offline": None}


def is_slug(flow: str) -> bool:
    """True for an "org/flow" parameterized-name pair (as opposed to a flow id)."""
    org, sep, name = flow.partition("/")
    return bool(sep and org and name and "/" not in name)


def _check_base(base: str) -> httpx.URL:
    url = httpx.URL(base)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("base URL must be an absolute http(s) URL")
    # Refuse rather than silently forward credentials embedded in configuration.
    if url.userinfo:
        raise ValueError("base URL must not contain credentials")
    if url.query:
        raise ValueError("base URL must not contain a query string")
    return url


def join_url(base: str, *segments: str, params: Sequence[tuple[str, str]] = ()) -> httpx.URL:
    """`base` + "/" + percent-encoded path segments (+ query).  Segments may not be empty."""
    url = _check_base(base)
    parts = []
    for seg in segments:
        if not seg:
            raise ValueError("empty path segment")
        parts.append(quote(seg, safe=""))
    path = url.raw_path.decode("ascii").rstrip("/")
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
    raw = path + ("/" + "/".join(parts) if parts else "")
    return url.copy_with(raw_path=(raw + ("?" + query if query else "")).encode("ascii"))


def stream_base(base: str) -> str:
    """The stream's base URL, whichever convention the user gave.

    flowview's own convention is a base (``https://stream.flowdock.com``); Flowdock's client
    libraries use the resource URL (``FLOWDOCK_STREAM_URL=https://stream.flowdock.com/flows``).
    Both are accepted: a trailing ``/flows`` is dropped here, so requests never go to
    ``/flows/flows``.
    """
    trimmed = base.rstrip("/")
    return trimmed[: -len("/flows")] if trimmed.endswith("/flows") else base


def stream_url(
    base: str,
    flows: Sequence[str],
    *,
    private: bool,
    presence: Presence,
    presence_events: bool = False,
) -> httpx.URL:
    """The streaming request URL.

    One flow given as a slug and no private messages -> ``{base}/flows/org/flow?active=...``;
    anything else -> ``{base}/flows?filter=a,b&user=1&active=...``.  `filter` keeps ``/``, ``:``
    and ``,`` literal like Flowdock's own examples (servers split it after decoding either way).
    `presence="offline"` omits `active`.  `presence_events` adds the undocumented ``presence=1``.
    """
    if presence not in _ACTIVE_PARAM:
        raise ValueError("presence must be 'active', 'idle' or 'offline'")
    items: list[str] = []
    for flow in flows:
        flow = flow.strip()
        if not flow:
            continue
        if "," in flow:
            raise ValueError("a flow name or id cannot contain ','")
        if flow not in items:
            items.append(flow)
    if not items and not private:
        raise ValueError("need at least one flow or private=True")

    params: list[tuple[str, str]] = []
    segments: tuple[str, ...] = ("flows",)
    if len(items) == 1 and not private and is_slug(items[0]):
        segments = ("flows", *items[0].split("/"))
    elif items:
        params.append(("filter", ",".join(quote(f, safe="/:") for f in items)))
    if private:
        params.append(("user", "1"))
    active = _ACTIVE_PARAM[presence]
    if active is not None:
        params.append(("active", active))
    if presence_events:
        params.append(("presence", "1"))

    url = join_url(stream_base(base), *segments)
    query = "&".join(f"{k}={v}" for k, v in params)  # values already encoded above
    return url.copy_with(query=query.encode("ascii")) if query else url
