"""StreamClient against scripted byte-level HTTP servers: fault matrix F1–F17.

Every server here is a raw ``asyncio.start_server`` on 127.0.0.1:0 that writes exact bytes
(status line, headers, chunked or close-delimited bodies), so faults are reproduced exactly.
Time is virtual (looptime): the client, the scripted servers' pauses and every timeout run on
the event loop's clock, which jumps ahead whenever nothing is ready, so backoff delays are
asserted exactly and a "90 s" stall takes no real time.  The client's sleep records every
requested delay.  Invariants checked on every run: no duplicate ids, per-conversation
order kept, and nothing lost when the server can replay.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from flowview.protocol.auth import Token
from flowview.protocol.client import (
    Gap,
    ReconfigureError,
    Skipped,
    StateChange,
    StreamClient,
    StreamConfig,
    StreamItem,
)
from flowview.protocol.events import Event, parse_event
from flowview.protocol.items import GapOpened, RawEvent
from flowview.protocol.rest import ApiError, HistoryPage
from tests.protocol.harness import LoopTime, known_ids

pytestmark = [pytest.mark.timeout(60), pytest.mark.looptime]

TOKEN = Token("s3cr3t-token-value")


# ----------------------------------------------------------------------------- time


# ----------------------------------------------------------------------------- server


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Request], Awaitable[None]]

REASONS = {
    200: "OK",
    204: "No Content",
    302: "Found",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def head(
    status: int = 200,
    ctype: str | None = "text/event-stream",
    *,
    chunked: bool = False,
    extra: tuple[str, ...] = (),
) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}"]
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif status != 200 and status != 204:
        lines.append("Content-Length: 0")
    lines.append("Connection: close")
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class ScriptedServer:
    """Serves connection i with scripts[i]; afterwards answers 204 (so the client stops)."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts = list(scripts)
        self.requests: list[Request] = []
        self.open = 0
        self.closed: list[asyncio.Event] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        # Handlers may be parked in `hold`; closing the server does not end them.
        await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.requests)
        done = asyncio.Event()
        self.closed.append(done)
        self.open += 1
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            req = Request(method, target, headers)
            self.requests.append(req)
            script = self.scripts[index] if index < len(self.scripts) else status_only(204)
            await script(reader, writer, req)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            done.set()
            writer.close()


async def wait_eof(reader: asyncio.StreamReader) -> None:
    """Park until the client closes its side."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


def status_only(status: int, *extra: str, ctype: str | None = None, body: bytes = b"") -> Script:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: Request
    ) -> None:
        if body:
            hdr = head(status, ctype, extra=(*extra, f"Content-Length: {len(body)}"))
            hdr = hdr.replace(b"Content-Length: 0\r\n", b"")
        else:
            hdr = head(status, ctype, extra=extra)
        writer.write(hdr + body)
        await writer.drain()

    return script


def body(
    parts: list[bytes | float],
    *,
    ctype: str = "text/event-stream",
    chunked: bool = True,
    end: str = "clean",
    extra: tuple[str, ...] = (),
) -> Script:
    """200 with `parts` (bytes are written, floats are real pauses); then end the body.

    end: "clean" (terminating chunk / EOF), "truncate" (close inside a chunked body) or
    "hold" (stay open until the client leaves).
    """

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: Request
    ) -> None:
        writer.write(head(200, ctype, chunked=chunked, extra=extra))
        for part in parts:
            if isinstance(part, float):
                await writer.drain()
                await asyncio.sleep(part)
                continue
            writer.write(chunk(part) if chunked else part)
            await writer.drain()
        if end == "clean" and chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        elif end == "hold":
            await wait_eof(reader)

    return script


# ----------------------------------------------------------------------------- data


def msg(i: int, flow: str = "f1", **extra: Any) -> dict[str, Any]:
    return {
        "event": "message",
        "id": i,
        "flow": flow,
        "content": f"m{i}",
        "user": "7",
        "sent": 1_700_000_000_000 + i,
        **extra,
    }


def sse(i: int, obj: dict[str, Any] | None = None) -> bytes:
    return f"id: {i}\ndata: {json.dumps(obj or msg(i))}\n\n".encode()


def rec(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\r\n"


def config(url: str, **kw: Any) -> StreamConfig:
    defaults: dict[str, Any] = {"flows": ("org/f1",), "private": False}
    defaults.update(kw)
    return StreamConfig(stream_url=url, token=TOKEN, **defaults)


@dataclass
class Run:
    items: list[StreamItem]
    client: StreamClient
    time: LoopTime
    max_queued: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> list[Event]:
        return [i for i in self.items if isinstance(i, Event)]

    @property
    def ids(self) -> list[int | None]:
        return [e.id for e in self.events]

    @property
    def states(self) -> list[StateChange]:
        return [i for i in self.items if isinstance(i, StateChange)]

    def reconnects(self) -> list[StateChange]:
        return [s for s in self.states if s.state == "reconnecting"]

    @property
    def delays(self) -> list[float | None]:
        return [s.delay for s in self.reconnects()]

    @property
    def skipped(self) -> list[Skipped]:
        return [i for i in self.items if isinstance(i, Skipped)]


async def run_client(
    cfg: StreamConfig,
    *,
    rng: float = 0.5,
    until: Callable[[list[StreamItem]], bool] | None = None,
    timeout: float = 1e6,  # virtual seconds; a real hang is caught by pytest-timeout
    **kw: Any,
) -> Run:
    t = LoopTime()
    client = StreamClient(cfg, clock=t.clock, sleep=t.sleep, rng=lambda: rng, **kw)
    items: list[StreamItem] = []
    max_queued = 0
    try:
        async with asyncio.timeout(timeout):
            async for item in client:
                items.append(item)
                max_queued = max(max_queued, client.queued_items)
                if until is not None and until(items):
                    break
    finally:
        await client.aclose()
    run = Run(items, client, t, max_queued)
    check_invariants(run)
    return run


def check_invariants(run: Run) -> None:
    seen: set[tuple[Any, int]] = set()
    last: dict[Any, int] = {}
    backfilled = 0  # events announced by the last Gap: they may be older than live ones
    for item in run.items:
        if isinstance(item, Gap):
            backfilled = item.backfilled
            continue
        if not isinstance(item, Event):
            continue
        key = item.dedupe_key
        if key is None:
            continue
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        if backfilled:
            backfilled -= 1
            continue
        conv, ident = key
        assert ident > last.get(conv, -1), f"order broken at {key}"
        last[conv] = ident
    # Every backoff delay the client announced is one it actually slept.
    for delay in run.delays:
        assert delay is not None
        if delay > 0:
            assert delay in run.time.sleeps
    assert run.max_queued <= 10_000


def final_state(run: Run) -> StateChange:
    return run.states[-1]


# ----------------------------------------------------------------------------- F1–F4


async def test_f1_sse_drop_mid_event_resumes_with_last_event_id() -> None:
    first = body([sse(1) + b'id: 2\ndata: {"event":"message","id":2,'], chunked=False)
    # The server replays from Last-Event-ID 1 and also repeats id 1: delivered once.
    second = body([sse(1) + sse(2) + sse(3)], chunked=False)
    async with ScriptedServer(first, second) as srv:
        run = await run_client(config(srv.url, content_type="sse"))
    assert run.ids == [1, 2, 3]
    assert "last-event-id" not in srv.requests[0].headers  # absent, not empty
    assert srv.requests[1].headers["last-event-id"] == "1"
    assert srv.requests[2].headers["last-event-id"] == "3"
    assert srv.requests[0].headers["accept"] == "text/event-stream"
    assert srv.requests[0].headers["cache-control"] == "no-cache"
    expected_auth = "Basic " + base64.b64encode(f"{TOKEN.value}:".encode()).decode()
    assert srv.requests[0].headers["authorization"] == expected_auth
    assert TOKEN.value not in srv.requests[0].target
    assert run.delays == [0.0, 0.0]  # both connections delivered new events
    assert [s.state for s in run.states] == [
        "connecting",
        "live",
        "reconnecting",
        "connecting",
        "live",
        "reconnecting",
        "connecting",
        "stopped",
    ]
    assert run.client.last_event_id == "3"


async def test_f1_last_event_id_survives_events_without_ids() -> None:
    # An id-less event on the new connection must not wipe the cursor.
    first = body([sse(5)], chunked=False)
    second = body([b"data: " + json.dumps(msg(6)).encode() + b"\n\n"], chunked=False)
    async with ScriptedServer(first, second) as srv:
        run = await run_client(config(srv.url, content_type="sse"))
    assert run.ids == [5, 6]
    assert srv.requests[2].headers["last-event-id"] == "5"


async def test_f1_id_only_block_moves_the_resume_point() -> None:
    # A block with an id and no data dispatches nothing but still sets the last event id.
    first = body([sse(5), 0.05, b"id: 9\n\n"], chunked=False)  # separate reads
    async with ScriptedServer(first) as srv:
        run = await run_client(config(srv.url, content_type="sse"))
    assert run.ids == [5]
    assert srv.requests[1].headers["last-event-id"] == "9"


async def test_f2_json_drop_mid_record_and_repeat_is_deduplicated() -> None:
    first = body(
        [rec(msg(1)) + b'{"event":"message","id":'], ctype="application/json", chunked=False
    )
    second = body([rec(msg(1)) + rec(msg(2))], ctype="application/json", chunked=False)
    async with ScriptedServer(first, second) as srv:
        run = await run_client(config(srv.url, content_type="json"))
    assert run.ids == [1, 2]
    assert run.skipped == []  # a partial record at EOF is not "malformed input"
    assert srv.requests[0].headers["accept"] == "application/json"
    assert "last-event-id" not in srv.requests[1].headers
    assert final_state(run).state == "stopped"


async def test_f3_truncated_chunked_body_is_a_transient_break() -> None:
    first = body([sse(1)], end="truncate")
    again = body([sse(1)], end="truncate")  # nothing new: backoff grows
    async with ScriptedServer(first, again, again) as srv:
        run = await run_client(config(srv.url))
    assert run.ids == [1]
    reasons = [s.reason for s in run.reconnects()]
    assert reasons[:3] == ["the stream was cut off"] * 3
    # Immediate once, then Full Jitter 1 s x2 (rng 0.5).
    assert run.delays == [0.0, 0.5, 1.0]


async def test_f4_clean_eof_reconnects() -> None:
    async with ScriptedServer(body([sse(1)]), body([sse(2)], chunked=False)) as srv:
        run = await run_client(config(srv.url))
    assert run.ids == [1, 2]
    assert [s.reason for s in run.reconnects()] == ["server closed the stream"] * 2
    assert len(srv.requests) == 3  # not "done" after the first clean end


# ----------------------------------------------------------------------------- F5, F6


async def test_f5_stall_triggers_reconnect() -> None:
    async with ScriptedServer(body([sse(1)], end="hold")) as srv:
        started = time.monotonic()
        run = await run_client(config(srv.url, stall_timeout=90.0))
        await asyncio.wait_for(srv.closed[0].wait(), 5)  # the stalled socket was closed
    assert run.ids == [1]
    assert run.reconnects()[0].reason == "no data for 90 s"
    assert run.reconnects()[0].delay == 0.0
    # The watchdog slept on the loop's (virtual) clock: 90 s exactly, not real ones.
    assert time.monotonic() - started < 5
    assert 90.0 in run.time.sleeps


@pytest.mark.parametrize(
    ("ctype", "keepalive", "payload"),
    [
        ("application/json", b"\n", rec),
        ("text/event-stream", b":\n", None),
    ],
)
async def test_f5_keepalives_alone_do_not_stall(ctype: str, keepalive: bytes, payload: Any) -> None:
    enc = payload or (lambda obj: sse(obj["id"], obj))
    # 30 keep-alives 60 s apart: 30 minutes of silence but for keep-alives (virtual time).
    parts: list[bytes | float] = [enc(msg(1))]
    for _ in range(30):
        parts += [60.0, keepalive]
    parts.append(enc(msg(2)))
    content = "json" if ctype == "application/json" else "sse"
    async with ScriptedServer(body(parts, ctype=ctype)) as srv:
        run = await run_client(config(srv.url, content_type=content, stall_timeout=90.0))
    assert run.ids == [1, 2]
    assert [s.reason for s in run.reconnects()] == ["server closed the stream"]


def drip(data: bytes, size: int = 1) -> list[bytes | float]:
    parts: list[bytes | float] = []
    for i in range(0, len(data), size):
        parts += [data[i : i + size], 0.0005]
    return parts


SSE_TRICKY = (
    "\ufeff".encode()
    + b"id: 1\r\ndata: "
    + json.dumps(msg(1, content="äö€𝄞 \u2028 line")).encode("utf-8")
    + b"\r\n\r\n"
    + b":comment\rid: 2\rdata: "
    + json.dumps(msg(2), ensure_ascii=False).encode()
    + b"\r\r"
    + b"id: 3\ndata: "
    + json.dumps(msg(3, content="ünïcödé\u0085")).encode()
    + b"\n\n"
)
JSON_TRICKY = (
    b"\n\n"
    + json.dumps(msg(1, content="äö€𝄞 \u2028 line"), ensure_ascii=False).encode()
    + b"\r\n\n"
    + json.dumps(msg(2), indent=2).encode()
    + b"\r"
    + json.dumps(msg(3, content="ünïcödé\u0085"), ensure_ascii=False).encode()
    + b"\r\n"
)


@pytest.mark.parametrize(
    ("content", "ctype", "data"),
    [
        ("sse", "text/event-stream", SSE_TRICKY),
        ("json", "application/json", JSON_TRICKY),
    ],
)
async def test_f6_slow_drip_equals_one_chunk(content: str, ctype: str, data: bytes) -> None:
    async with ScriptedServer(body([data], ctype=ctype)) as srv:
        whole = await run_client(config(srv.url, content_type=content))
    async with ScriptedServer(body(drip(data), ctype=ctype)) as srv:
        dripped = await run_client(config(srv.url, content_type=content))
    assert whole.ids == [1, 2, 3]
    assert [e.raw for e in dripped.events] == [e.raw for e in whole.events]
    assert whole.events[0].content == "äö€𝄞 \u2028 line"
    assert whole.events[2].content == "ünïcödé\u0085"
    assert dripped.skipped == whole.skipped == []


# ----------------------------------------------------------------------------- F7–F12


@pytest.mark.parametrize(
    ("status", "reason"), [(401, "token rejected (401)"), (403, "access denied (403)")]
)
async def test_f7_auth_errors_are_fatal_without_retry(status: int, reason: str) -> None:
    echo = f'{{"message": "bad token {TOKEN.value}"}}'.encode()
    async with ScriptedServer(status_only(status, ctype="application/json", body=echo)) as srv:
        run = await run_client(config(srv.url))
    assert len(srv.requests) == 1
    last = final_state(run)
    assert last.state == "failed"
    assert last.reason == reason
    assert last.status == status
    assert run.reconnects() == []
    for state in run.states:
        assert TOKEN.value not in state.reason and TOKEN.value not in repr(state)


async def test_f8_retry_after_seconds_and_http_date() -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    later = "Wed, 21 Oct 2015 07:28:30 GMT"
    scripts = [
        status_only(429, "Retry-After: 7"),
        status_only(503, f"Retry-After: {later}", f"Date: {date}"),
        status_only(503),  # no Retry-After: exponential schedule
        status_only(503, "Retry-After: 99999999"),  # hostile: capped
    ]
    async with ScriptedServer(*scripts) as srv:
        # The wall clock is nonsense on purpose: the Date header is the reference.
        run = await run_client(config(srv.url), wall=lambda: 0.0)
    # rng 0.5, Equal Jitter on 5 s x2: 3.75, 7.5, 15, 30 -> floors 7 and 30; cap 3600.
    assert run.delays == [7.0, 30.0, 15.0, 3600.0]
    assert [s.status for s in run.reconnects()] == [429, 503, 503, 503]
    assert run.reconnects()[0].reason == "rate limited (429)"
    assert final_state(run).state == "stopped"


async def test_f8_http_date_without_date_header_uses_injected_wall_clock() -> None:
    later = "Wed, 21 Oct 2015 07:28:30 GMT"
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    async with ScriptedServer(status_only(503, f"Retry-After: {later}")) as srv:
        run = await run_client(config(srv.url), wall=lambda: now)
    assert run.delays == [30.0]


async def test_f9_5xx_backoff_sequence_and_cap() -> None:
    async with ScriptedServer(*[status_only(500)] * 9) as srv:
        run = await run_client(config(srv.url), rng=1.0)
    assert run.delays == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 320.0, 320.0]
    assert all(s.reason == "server error (500)" for s in run.reconnects())


async def test_f9_backoff_resets_only_after_sixty_healthy_seconds() -> None:
    healthy: list[bytes | float] = [sse(2)]
    for _ in range(16):  # 16 x 5 s = 80 s of keep-alives (virtual time)
        healthy += [5.0, b":\n"]
    scripts = [
        status_only(500),
        status_only(500),
        body([sse(1)]),  # live, but only briefly: no reset
        status_only(500),
        body(healthy),  # live for 80 s: reset
        status_only(500),
    ]
    async with ScriptedServer(*scripts) as srv:
        run = await run_client(config(srv.url))
    # 3.75, 7.5, (break: 0), 15 (continues), (break: 0), 3.75 (reset)
    assert run.delays == [3.75, 7.5, 0.0, 15.0, 0.0, 3.75]


async def test_f10_html_200_is_never_parsed_and_retry_is_bounded() -> None:
    html = b'<html><body>{"event":"message","id":1,"flow":"f1"}\r\n</body></html>\r\n'
    page = status_only(200, ctype="text/html; charset=utf-8", body=html)
    async with ScriptedServer(*[page] * 10) as srv:
        run = await run_client(config(srv.url, content_type="json"))
    assert run.events == []
    assert len(srv.requests) == 5
    assert run.reconnects()[0].reason == "not a stream: content type text/html"
    assert run.delays == [3.75, 7.5, 15.0, 30.0]
    last = final_state(run)
    assert last.state == "failed"
    assert last.reason == "giving up: not a stream: content type text/html"


async def test_f10_sse_requested_but_json_served_is_refused() -> None:
    page = body([rec(msg(1))], ctype="application/json")
    async with ScriptedServer(*[page] * 5) as srv:
        run = await run_client(config(srv.url, content_type="sse"))
    assert run.events == []
    assert final_state(run).state == "failed"


async def test_f11_204_stops() -> None:
    async with ScriptedServer(status_only(204)) as srv:
        run = await run_client(config(srv.url))
        await asyncio.sleep(0.05)
    assert len(srv.requests) == 1
    assert final_state(run) == StateChange("stopped", "server asked to stop (204)", status=204)
    assert run.reconnects() == []


@pytest.mark.parametrize("location", ["elsewhere", "", "self"])
async def test_f12_redirects_are_not_followed(location: str) -> None:
    async with ScriptedServer(body([sse(1)])) as other:
        target = {"elsewhere": other.url + "/stream/flows", "": "", "self": "/flows"}[location]
        redirect = status_only(302, f"Location: {target}")
        async with ScriptedServer(*[redirect] * 10) as srv:
            run = await run_client(config(srv.url))
    assert other.requests == []  # the token never went cross-origin
    assert len(srv.requests) == 5  # bounded, no infinite loop
    assert run.reconnects()[0].reason == "redirected (302); redirects are not followed"
    assert final_state(run).state == "failed"


# ----------------------------------------------------------------------------- F13–F17


@pytest.mark.parametrize("content", ["json", "sse"])
async def test_f13_huge_record_is_skipped_with_bounded_memory(content: str) -> None:
    piece = b"x" * 65536
    if content == "json":
        ctype, start, resume = "application/json", b'{"event":"message","content":"', b"\r"
        after = rec(msg(2))
    else:
        ctype, start, resume = "text/event-stream", b"data: ", b"\n\n"
        after = sse(2)
    parts: list[bytes | float] = [rec(msg(1)) if content == "json" else sse(1), start]
    parts += [piece] * 160  # 10 MiB without a delimiter
    parts += [resume + after]
    tracemalloc.start()
    try:
        async with ScriptedServer(body(parts, ctype=ctype)) as srv:
            run = await run_client(
                config(srv.url, content_type=content, max_record_bytes=256 * 1024)
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert run.ids == [1, 2]
    assert len(run.skipped) == 1
    assert "exceeds" in run.skipped[0].reason or "over" in run.skipped[0].reason
    assert peak < 4 * 1024 * 1024, peak  # 10 MiB went through; never held


async def test_f14_flood_is_bounded_and_lossless() -> None:
    n = 30_000
    blob = b"".join(rec(msg(i)) for i in range(1, n + 1))
    parts: list[bytes | float] = [blob[i : i + 65536] for i in range(0, len(blob), 65536)]
    samples: list[int] = []
    async with ScriptedServer(body(parts, ctype="application/json")) as srv:
        t = LoopTime()
        client = StreamClient(
            config(srv.url, content_type="json"),
            clock=t.clock,
            sleep=t.sleep,
            rng=lambda: 0.5,
            queue_size=1000,
        )
        ids: list[int | None] = []
        async with asyncio.timeout(30):
            async for item in client:
                if isinstance(item, Event):
                    if not ids:
                        # A consumer that stalls: the reader must stop, not buffer.
                        for _ in range(20):
                            await asyncio.sleep(0.01)
                            samples.append(client.queued_items)
                    ids.append(item.id)
                    if len(ids) == n:
                        break
        await client.aclose()
    assert ids == list(range(1, n + 1))
    assert max(samples) <= 1000
    assert samples[-1] > 0  # it really was saturated


HOSTILE = [
    "\x1b]0;owned\x07\x1b[2J\x1b[31mred",
    "\x9b31m C1 CSI \x85 NEL",
    "\u202eevil\u202c \u2066isolate\u2069 \u200b",
    '[@click=app.quit]click me[/] [link="file:///etc/passwd"]x[/link] [bold]',
    "\x00\x07\x08\x7f",
]


@pytest.mark.parametrize("content", ["json", "sse"])
async def test_f15_hostile_content_passes_through_unchanged(content: str) -> None:
    objs = [msg(i + 1, content=text) for i, text in enumerate(HOSTILE)]
    objs.append(msg(len(objs) + 1, content="A" * 1_000_000))
    if content == "json":
        data, ctype = b"".join(rec(o) for o in objs), "application/json"
    else:
        data, ctype = b"".join(sse(o["id"], o) for o in objs), "text/event-stream"
    async with ScriptedServer(body([data], ctype=ctype)) as srv:
        run = await run_client(config(srv.url, content_type=content))
    assert [e.raw for e in run.events] == objs
    assert [e.content for e in run.events] == [o["content"] for o in objs]


async def test_f16_retry_field_abuse_is_clamped() -> None:
    first = body([b"retry: 0\n\n" + sse(1)])
    second = body([b"retry: 99999999999\n\n" + sse(2)])
    async with ScriptedServer(first, second) as srv:
        run = await run_client(config(srv.url))
    assert run.ids == [1, 2]
    assert run.delays == [0.5, 300.0]


async def test_f16_retry_sets_base_delay() -> None:
    async with ScriptedServer(body([b"retry: 2500\n" + sse(1)])) as srv:
        run = await run_client(config(srv.url))
    assert run.delays == [2.5]


async def test_f17_wall_clock_jumps_do_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    jumps = iter([0.0, 1e10, -1e9, 5.0] * 100_000)
    monkeypatch.setattr(time, "time", lambda: next(jumps))
    healthy: list[bytes | float] = [sse(1)]
    for _ in range(10):
        healthy += [0.01, b":\n"]
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    later = "Wed, 21 Oct 2015 07:28:07 GMT"
    scripts = [body(healthy), status_only(503, f"Retry-After: {later}", f"Date: {date}")]
    async with ScriptedServer(*scripts) as srv:
        run = await run_client(config(srv.url), wall=lambda: next(jumps))
    assert run.ids == [1]
    assert run.delays == [0.0, 7.0]
    assert run.reconnects()[0].reason == "server closed the stream"


# ----------------------------------------------------------------------------- extras


async def test_malformed_records_are_skipped_and_counted() -> None:
    data = (
        rec(msg(1)) + b"{not json}\r\n" + b'["a list"]\r\n' + b'{"no": "event"}\r\n' + rec(msg(2))
    )
    async with ScriptedServer(body([data], ctype="application/json")) as srv:
        run = await run_client(config(srv.url, content_type="json"))
    assert run.ids == [1, 2]
    assert len(run.skipped) == 3
    assert run.client.skipped == 3
    assert final_state(run).state == "stopped"


async def test_request_url_and_presence() -> None:
    async with ScriptedServer() as srv:
        await run_client(config(srv.url, flows=("org/a", "org/b"), private=True, presence="idle"))
        await run_client(config(srv.url, flows=("org/a",), private=False, presence="offline"))
    assert srv.requests[0].target == "/flows?filter=org/a,org/b&user=1&active=idle"
    assert srv.requests[1].target == "/flows/org/a"


async def test_connection_refused_backs_off_with_reason() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    run = await run_client(
        config(f"http://127.0.0.1:{port}"),
        until=lambda items: (
            sum(isinstance(i, StateChange) and i.state == "reconnecting" for i in items) >= 3
        ),
    )
    assert run.delays == [0.5, 1.0, 2.0]
    assert run.reconnects()[0].reason.startswith("cannot connect")


async def test_aclose_ends_iteration_with_stopped() -> None:
    async with ScriptedServer(body([sse(1)], end="hold")) as srv:
        t = LoopTime()
        client = StreamClient(config(srv.url), clock=t.clock, sleep=t.sleep)
        items: list[StreamItem] = []

        async def consume() -> None:
            async for item in client:
                items.append(item)

        task = asyncio.create_task(consume())
        while not any(isinstance(i, Event) for i in items):
            await asyncio.sleep(0.01)
        await client.aclose()
        await asyncio.wait_for(task, 5)
        await asyncio.wait_for(srv.closed[0].wait(), 5)
    assert items[-1] == StateChange("stopped", "closed")
    assert srv.open == 0


# ----------------------------------------------------------------------------- reconfigure


def keepalive_forever(*first: bytes, ctype: str = "text/event-stream") -> Script:
    keepalive = b":\n" if ctype == "text/event-stream" else b"\n"

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: Request
    ) -> None:
        writer.write(head(200, ctype, chunked=True))
        for data in first:
            writer.write(chunk(data))
        await writer.drain()
        eof = asyncio.create_task(wait_eof(reader))
        while not eof.done():
            writer.write(chunk(keepalive))
            await writer.drain()
            await asyncio.wait({eof}, timeout=0.02)

    return script


async def test_reconfigure_make_before_break_sse() -> None:
    old = keepalive_forever(sse(1) + sse(2) + sse(3))
    new = keepalive_forever(sse(3) + sse(4) + sse(5))  # replay overlaps with old
    async with ScriptedServer(old, new) as srv:
        t = LoopTime()
        client = StreamClient(config(srv.url), clock=t.clock, sleep=t.sleep)
        ids: list[int | None] = []
        states: list[StateChange] = []
        async with asyncio.timeout(10):
            async for item in client:
                if isinstance(item, Event):
                    ids.append(item.id)
                    if item.id == 3:
                        await client.reconfigure(presence="idle", flows=("org/f1", "org/f2"))
                        await asyncio.wait_for(srv.closed[0].wait(), 5)
                        assert srv.open == 1  # at most one live connection after the switch
                elif isinstance(item, StateChange):
                    states.append(item)
                if len(ids) == 5:
                    break
        await client.aclose()
    assert ids == [1, 2, 3, 4, 5]
    assert srv.requests[1].headers["last-event-id"] == "3"
    assert srv.requests[1].target == "/flows?filter=org/f1,org/f2&active=idle"
    assert client.config.presence == "idle"
    assert [s.state for s in states] == ["connecting", "live", "live"]
    assert states[-1].reason == "switched to new parameters"


async def test_reconfigure_failure_keeps_old_connection() -> None:
    more = asyncio.Event()

    async def old(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: Request) -> None:
        writer.write(head(200, chunked=True) + chunk(sse(1)))
        await writer.drain()
        await more.wait()
        writer.write(chunk(sse(2)))
        await writer.drain()
        await wait_eof(reader)

    async with ScriptedServer(old, status_only(500)) as srv:
        client = StreamClient(config(srv.url))
        ids: list[int | None] = []
        async with asyncio.timeout(10):
            async for item in client:
                if isinstance(item, Event):
                    ids.append(item.id)
                    if item.id == 1:
                        with pytest.raises(ReconfigureError, match=r"server error \(500\)"):
                            await client.reconfigure(presence="idle")
                        more.set()
                    if item.id == 2:
                        break
        await client.aclose()
    assert ids == [1, 2]
    assert client.config.presence == "active"
    assert len(srv.requests) == 2


async def test_reconfigure_before_start_just_changes_config() -> None:
    async with ScriptedServer() as srv:
        client = StreamClient(config(srv.url))
        await client.reconfigure(presence="offline")
        items = [item async for item in client]
    assert srv.requests[0].target == "/flows/org/f1"
    assert isinstance(items[-1], StateChange) and items[-1].state == "stopped"


# ----------------------------------------------------------------------------- back-fill


class FakeRest:
    """Duck-typed stand-in for the RestClient calls the back-fill makes (no sockets)."""

    def __init__(
        self, history: dict[str, list[dict[str, Any]]], *, delay: float = 0.0, fail: bool = False
    ) -> None:
        self.history = history
        self.delay = delay
        self.fail = fail
        self.calls: list[tuple[str, int]] = []  # history pages asked for: (target, since)
        self.me_id: str | None = "7"
        self.on_success: list[Callable[[str], None]] = []

    async def flows(self) -> list[Any]:
        @dataclass
        class F:
            id: str
            slug: str

        return [F("f1", "org/f1"), F("f2", "org/f2")]

    async def private(self) -> list[dict[str, Any]]:
        return [{"id": key.split(":", 1)[1]} for key in self.history if key.startswith("priv")]

    async def newest_id(self, slug: str | None = None, *, user_id: str | None = None) -> int:
        return 0  # only baselines for conversations never seen: none in these tests

    async def _page(self, target: str, since_id: int) -> HistoryPage:
        self.calls.append((target, since_id))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise ApiError(500, f"boom {TOKEN.value}")
        events = [parse_event(o) for o in self.history.get(target, []) if o["id"] > since_id]
        return HistoryPage(events, max((e.id or 0 for e in events), default=since_id), True)

    async def flow_page(self, slug: str, since_id: int) -> HistoryPage:
        return await self._page(slug, since_id)

    async def private_page(self, user_id: str, since_id: int) -> HistoryPage:
        return await self._page(f"private:{user_id}", since_id)

    async def aclose(self) -> None:
        return None


def pm(i: int, frm: str, to: str) -> dict[str, Any]:
    return {"event": "message", "id": i, "user": frm, "to": to, "content": f"pm{i}"}


def has(*wanted: int) -> Callable[[list[StreamItem]], bool]:
    """`until` for run_client: every id in `wanted` has been delivered."""

    def check(items: list[StreamItem]) -> bool:
        got = {getattr(i, "id", None) for i in items if isinstance(i, Event | RawEvent)}
        return set(wanted) <= got

    return check


async def test_json_reconnect_backfills_via_rest_with_gap() -> None:
    first = body(
        [rec(msg(1)) + rec(msg(10, flow="f2")) + rec(pm(100, "9", "7"))],
        ctype="application/json",
        end="truncate",
    )
    second = body([rec(msg(4)) + rec(msg(5))], ctype="application/json", end="hold")
    history = {
        "org/f1": [msg(i) for i in range(1, 5)],  # 2, 3, 4 missed; 4 also arrives live
        "org/f2": [msg(10, flow="f2")],  # nothing missed here
        "private:9": [pm(100, "9", "7"), pm(101, "7", "9")],
    }
    rest = FakeRest(history)
    async with ScriptedServer(first, second) as srv:
        run = await run_client(
            config(srv.url, content_type="json", flows=("org/f1", "org/f2"), private=True),
            rest=rest,
            until=has(2, 3, 5, 101),
        )
    assert sorted(rest.calls) == [("org/f1", 1), ("org/f2", 10), ("private:9", 100)]
    gaps = [i for i in run.items if isinstance(i, Gap)]
    assert sorted(gaps, key=str) == sorted(
        [Gap(("flow", "f1"), 2), Gap(("private", "7:9"), 1)], key=str
    )
    # Placed by id, f1 is complete and has no duplicate (4 came live and from history).
    f1 = [e.id for e in run.events if e.flow == "f1"]
    assert sorted(known_ids(f1)) == [1, 2, 3, 4, 5] and len(f1) == 5
    # The Gap comes right before its back-filled events, and after the second "live".
    idx = run.items.index(Gap(("flow", "f1"), 2))
    assert [getattr(i, "id", None) for i in run.items[idx + 1 : idx + 3]] == [2, 3]
    live = [k for k, i in enumerate(run.items) if isinstance(i, StateChange) and i.state == "live"]
    assert live[1] < idx


@pytest.mark.parametrize("replay", ["", "truncated", "complete"])
async def test_sse_reconnect_backfills_unless_the_replay_was_complete(replay: str) -> None:
    rest = FakeRest({"org/f1": [msg(1), msg(2), msg(3)]})
    extra = (f"Flowview-Replay: {replay}",) if replay else ()
    async with ScriptedServer(
        body([sse(1)], end="truncate"), body([sse(3)], extra=extra, end="hold")
    ) as srv:
        run = await run_client(
            config(srv.url, content_type="sse"),
            rest=rest,
            until=has(3) if replay == "complete" else has(2, 3),
        )
    if replay == "complete":
        assert rest.calls == []
        assert run.ids == [1, 3]
    else:
        # No header (a real Flowdock) or a truncated replay: history fills the hole.
        assert rest.calls == [("org/f1", 1)]
        assert sorted(known_ids(run.ids)) == [1, 2, 3]


@pytest.mark.parametrize("mode", ["slow", "failing"])
async def test_backfill_problems_never_block_the_stream(mode: str) -> None:
    rest = FakeRest({}, delay=5.0 if mode == "slow" else 0.0, fail=mode == "failing")
    first = body([rec(msg(1))], ctype="application/json")
    second = body([rec(msg(5))], ctype="application/json", end="hold")

    def done(items: list[StreamItem]) -> bool:
        return has(5)(items) and (mode == "slow" or any(isinstance(i, GapOpened) for i in items))

    async with ScriptedServer(first, second) as srv:
        started = time.monotonic()
        run = await run_client(config(srv.url, content_type="json"), rest=rest, until=done)
    assert run.ids == [1, 5]
    assert time.monotonic() - started < 3
    opened = [i for i in run.items if isinstance(i, GapOpened)]
    if mode == "failing":
        assert [(g.key, g.after_id) for g in opened] == [(("flow", "f1"), 1)]
        assert "back-fill failed" in opened[0].reason
        assert TOKEN.value not in opened[0].reason
    else:
        assert opened == []  # still waiting on a slow answer: the stream went on meanwhile


# ----------------------------------------------------------------------------- raw mode


RAW_CASES = [
    msg(1),
    msg(2, content="non-ASCII: äö€ \u202e"),
    msg(1),  # duplicate
    pm(5, "9", "7"),
    {"event": "message", "id": 3, "flow": {"id": "f1"}, "content": "flow as object"},
    {"event": "message", "id": "4", "flow": "f1", "content": "id as string"},
    {"event": "message", "id": 4, "flow": "f1", "content": "same id as int: duplicate"},
    {"event": "activity.user", "flow": "f1", "content": {"last_activity": 1}},  # no id
    msg(6),
]


@pytest.mark.parametrize("content", ["json", "sse"])
async def test_raw_mode_matches_parsed_mode(content: str) -> None:
    from flowview.protocol.client import RawEvent

    if content == "json":
        records = [json.dumps(o, separators=(",", ":")).encode() for o in RAW_CASES]
        records[-1] = json.dumps(RAW_CASES[-1], indent=1).encode()  # multi-line record
        data, ctype = b"".join(r + b"\r\n" for r in records), "application/json"
    else:
        records = [json.dumps(o).encode() for o in RAW_CASES]
        data = b"".join(b"id: %d\ndata: %b\n\n" % (i, r) for i, r in enumerate(records))
        ctype = "text/event-stream"
    async with ScriptedServer(body([data], ctype=ctype)) as srv:
        parsed = await run_client(config(srv.url, content_type=content))
    async with ScriptedServer(body(drip(data, 7), ctype=ctype)) as srv:
        raw = await run_client(config(srv.url, content_type=content), raw_events=True)
    raws = [i for i in raw.items if isinstance(i, RawEvent)]
    assert [(e.key, e.id, e.raw) for e in raws] == [(e.key, e.id, e.raw) for e in parsed.events]
    assert len(raws) == 7  # two duplicates dropped
    kept = [records[i] for i in (0, 1, 3, 4, 5, 7, 8)]
    assert [e.text for e in raws] == kept  # the record bytes exactly as received
    assert raws[0].parse().raw == RAW_CASES[0]


async def test_raw_mode_backfill_yields_raw_events() -> None:
    from flowview.protocol.client import RawEvent

    first = body([rec(msg(1))], ctype="application/json", end="truncate")
    second = body([rec(msg(4))], ctype="application/json", end="hold")
    rest = FakeRest({"org/f1": [msg(i) for i in range(1, 4)]})
    async with ScriptedServer(first, second) as srv:
        run = await run_client(
            config(srv.url, content_type="json"), rest=rest, raw_events=True, until=has(2, 3, 4)
        )
    raws = {e.id: e for e in run.items if isinstance(e, RawEvent)}
    assert sorted(known_ids(raws)) == [1, 2, 3, 4]
    # Streamed records keep their bytes; back-filled ones have none to keep.
    assert [raws[i].text is None for i in (1, 2, 3, 4)] == [False, True, True, False]
    assert Gap(("flow", "f1"), 2) in run.items


async def test_raw_mode_malformed_record_drops_only_the_pairing() -> None:
    from flowview.protocol.client import RawEvent

    good = [json.dumps(msg(i)).encode() for i in (1, 2)]
    later = json.dumps(msg(3)).encode()
    data: list[bytes | float] = [
        good[0] + b"\r\n{bad json}\r\n" + good[1] + b"\r\n",
        0.05,
        later + b"\r\n",
    ]
    async with ScriptedServer(body(data, ctype="application/json")) as srv:
        run = await run_client(config(srv.url, content_type="json"), raw_events=True)
    raws = [i for i in run.items if isinstance(i, RawEvent)]
    assert [e.raw for e in raws] == [msg(1), msg(2), msg(3)]
    # The chunk with the bad record cannot be paired safely; the next one can.
    assert [e.text for e in raws] == [None, None, later]
    assert len(run.skipped) == 1


async def test_reconfigure_json_with_backlog_loses_nothing() -> None:
    """The old connection is far behind (slow consumer) when the switch starts: everything it
    still has in flight, up to where the new connection's stream begins, must come out."""
    n = 20_000
    backlog = b"".join(rec(msg(i)) for i in range(1, n + 1))
    old = keepalive_forever(
        *[backlog[i : i + 65536] for i in range(0, len(backlog), 65536)], ctype="application/json"
    )
    # The new connection subscribed when the server was at n - 10: no JSON replay.
    new = keepalive_forever(
        b"".join(rec(msg(i)) for i in range(n - 10, n + 6)), ctype="application/json"
    )
    async with ScriptedServer(old, new) as srv:
        client = StreamClient(config(srv.url, content_type="json"), queue_size=500)
        ids: list[int | None] = []
        async with asyncio.timeout(30):
            async for item in client:
                if isinstance(item, Event):
                    ids.append(item.id)
                    if item.id == 1:
                        # The consumer itself waits for the switch: no deadlock allowed.
                        await client.reconfigure(presence="idle")
                    if item.id == n + 5:
                        break
        await client.aclose()
        await asyncio.wait_for(srv.closed[0].wait(), 5)
    assert ids == list(range(1, n + 6))
    assert srv.requests[1].target.endswith("active=idle")
