"""One streaming HTTP attempt: connect, check the answer, read and decode the body, and say
how it ended (:class:`Outcome`).  What it needs from the client comes in a :class:`Wiring`.

A connection's life is one explicit :class:`Phase` with a table of allowed transitions
(h11's ``_state.py`` style): an impossible combination raises instead of going unnoticed.

    CONNECTING -> LIVE                 answered 200 with the right content type
    CONNECTING -> PROBATION            same, as a reconfigure() candidate (holds, delivers nothing)
    PROBATION  -> LIVE                 switched to (the hand-over)
    LIVE       -> DRAINING             a switch waits for it to catch up (never blocks on output)
    DRAINING   -> LIVE                 the switch failed: it stays in use
    LIVE/DRAINING -> RETIRING          replaced: stop after the chunk being delivered
    any        -> ENDED                the request is over (task done)

While live its :class:`Activity` says whether it is reading, handing a chunk over, or blocked
on the consumer (which is not a stall).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import httpx

from flowview.protocol.accept import Acceptor, Held
from flowview.protocol.auth import redact
from flowview.protocol.backoff import parse_retry_after
from flowview.protocol.items import StreamItem
from flowview.protocol.jsonstream import (
    JsonStreamDecoder,
    loads,
    loads_all,
    loads_utf8,
    may_hold_big_int,
)
from flowview.protocol.sse import SSEDecoder
from flowview.protocol.streamconfig import ACCEPT, StreamConfig
from flowview.protocol.text import printable

log = logging.getLogger(__name__)

# A deadline this close counts as reached.  Timers fire up to the clock's resolution early and
# float sums leave residues (0.05 + 0.162 - 0.212 = 2e-17): waiting for such a residue on a
# virtual clock, which does not move while something is ready, would spin for ever.
DUE_WITHIN = 1e-6

__all__ = ["Activity", "Connection", "IllegalTransition", "Outcome", "Phase", "Wiring"]


class IllegalTransition(RuntimeError):
    """A connection was asked to move to a phase its table does not allow (a bug)."""


class Phase(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    PROBATION = "probation"
    DRAINING = "draining"
    RETIRING = "retiring"
    ENDED = "ended"


_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.CONNECTING: frozenset({Phase.LIVE, Phase.PROBATION, Phase.ENDED}),
    Phase.PROBATION: frozenset({Phase.LIVE, Phase.ENDED}),
    Phase.LIVE: frozenset({Phase.DRAINING, Phase.RETIRING, Phase.ENDED}),
    Phase.DRAINING: frozenset({Phase.LIVE, Phase.RETIRING, Phase.ENDED}),
    Phase.RETIRING: frozenset({Phase.ENDED}),
    Phase.ENDED: frozenset(),
}


class Activity(enum.Enum):
    READING = "reading"
    EMITTING = "emitting"  # handing a decoded chunk over: cancelling now could drop it
    BLOCKED = "blocked"  # emitting, waiting for the consumer to make room


_ACTIVITY: dict[Activity, frozenset[Activity]] = {
    Activity.READING: frozenset({Activity.EMITTING}),
    Activity.EMITTING: frozenset({Activity.READING, Activity.BLOCKED}),
    Activity.BLOCKED: frozenset({Activity.EMITTING}),
}


@dataclass
class Wiring:
    """Everything a connection uses from its client, given explicitly."""

    http: httpx.AsyncClient
    auth: httpx.Auth
    build_request: Callable[[StreamConfig], httpx.Request]
    describe: Callable[[BaseException], str]
    went_live: Callable[[Connection], Awaitable[None]]
    emit: Callable[[list[StreamItem], Connection], Awaitable[None]]
    acceptor: Acceptor
    watched: Callable[[], Held | None]  # the switch candidate's held set, if any
    resume_id: Callable[[], str]  # SSE Last-Event-ID to resume from
    set_resume_id: Callable[[str], None]
    on_retry_ms: Callable[[int], None]  # SSE `retry:`
    on_internal_error: Callable[[], None]
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[Any]]
    wall: Callable[[], float]
    raw: bool
    hold_limit: int  # items a candidate holds before it stops reading


@dataclass
class Outcome:
    kind: Literal["break", "transport", "status", "fatal", "stop", "replaced"]
    reason: str
    status: int | None = None
    retry_after: float | None = None
    bounded: bool = False  # counts towards the "give up after N" limit


_STATUS_REASONS = {
    401: "token rejected (401)",
    403: "access denied (403)",
    408: "server timed out the request (408)",
    409: "server reported a conflict (409)",
    429: "rate limited (429)",
}


async def _read_some(response: httpx.Response, limit: int = 4096) -> bytes:
    """The start of an error body (enough for a message), never the whole of a huge one."""
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) >= limit:
                break
    except httpx.HTTPError as exc:
        log.info("could not read the error body: %s", type(exc).__name__)
    return bytes(data[:limit])


def _not_found(config: StreamConfig, body: bytes) -> Outcome:
    """A 404 does not fix itself: say what is wrong (a flow, or the URL) and stop."""
    message = body.decode("utf-8", "replace")
    with contextlib.suppress(ValueError, RecursionError):
        obj = loads(body)
        if isinstance(obj, dict) and isinstance(obj.get("message"), str):
            message = obj["message"]
    named = [f for f in config.flows if f and f in message]
    flows = [f for f in config.flows if f.strip()]
    if not named and "flow" in message.lower() and len(flows) == 1:
        named = flows
    if named:
        which = ", ".join(named)
        reason = f"flow not found (404): {which}: check the flow name"
    elif "flow" in message.lower() and flows:
        reason = f"a flow was not found (404): check the flow names ({', '.join(flows)})"
    else:
        reason = f"not found (404): the stream URL {config.stream_url} looks wrong"
    return Outcome("fatal", printable(redact(reason, config.token), 300), status=404)


def _status_reason(status: int) -> str:
    if status in _STATUS_REASONS:
        return _STATUS_REASONS[status]
    if 300 <= status < 400:
        return f"redirected ({status}); redirects are not followed"
    if status >= 500:
        return f"server error ({status})"
    return f"unexpected HTTP status {status}"


class Connection:
    """One streaming HTTP request: connect, check the answer, read and decode the body.

    Its life is one :class:`Phase` (changed only through :meth:`to`, which refuses what the
    table does not allow) and, while live, one :class:`Activity`.
    """

    def __init__(
        self, wiring: Wiring, config: StreamConfig, *, resume: bool, candidate: bool
    ) -> None:
        self.w = wiring
        self.config = config
        self.resume = resume  # a reconnect after a live connection: check for gaps
        self.candidate = candidate  # opened by reconfigure(): probation once live
        self.phase = Phase.CONNECTING
        self.activity = Activity.READING
        self.replay_complete = False  # SSE: the server said its replay covered the outage
        self.live = asyncio.Event()  # set on going live (LIVE or PROBATION)
        self.go = asyncio.Event()  # set when PROBATION ends (switched to)
        self.converged = asyncio.Event()  # switch bookkeeping (see accept.py)
        self.held = Held(converged=self.converged.set)  # what probation holds back
        self.pending: list[StreamItem] = []  # probation: read, held, not delivered
        self.new_events = 0
        self.last_byte = 0.0
        self.last_values = 0.0  # clock() when this connection last decoded something
        self.skips: list[str] = []
        self.texts: list[bytes] | None = None  # raw mode: record bytes aligned with values
        self.take_texts: Callable[[], list[bytes] | None] | None = None
        self.task: asyncio.Task[Outcome] | None = None

    def __repr__(self) -> str:
        return f"Connection({self.phase.name}, {self.activity.name})"

    def to(self, phase: Phase) -> None:
        """Move to `phase`; an impossible transition is a bug and raises."""
        if phase not in _TRANSITIONS[self.phase]:
            raise IllegalTransition(f"connection cannot go from {self.phase.name} to {phase.name}")
        self.phase = phase
        if phase in (Phase.LIVE, Phase.PROBATION):
            self.live.set()
        if phase is Phase.LIVE:
            self.go.set()

    def doing(self, activity: Activity) -> None:
        if activity not in _ACTIVITY[self.activity]:
            raise IllegalTransition(
                f"connection cannot go from {self.activity.name} to {activity.name}"
            )
        self.activity = activity

    @property
    def probation(self) -> bool:
        return self.phase is Phase.PROBATION

    def is_retiring(self) -> bool:
        """A switch waits for this connection: it must never block on the consumer."""
        return self.phase in (Phase.DRAINING, Phase.RETIRING)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> Outcome:
        try:
            return await self._connect_and_read()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an odd library error must not end the stream
            # Not a network fault: leave the traceback in the log and say so in the reason.
            log.exception("stream connection failed unexpectedly")
            self.w.on_internal_error()
            return Outcome("transport", "internal error: " + self.w.describe(exc))
        finally:
            self.phase = Phase.ENDED  # from any phase: the task is over

    async def _connect_and_read(self) -> Outcome:
        w = self.w
        try:
            request = w.build_request(self.config)
        except ValueError as exc:
            return Outcome("fatal", printable(f"bad stream parameters: {exc}"))
        try:
            response = await w.http.send(request, auth=w.auth, stream=True, follow_redirects=False)
        except httpx.TimeoutException:
            return Outcome("transport", "connection timed out")
        except httpx.HTTPError as exc:
            return Outcome("transport", w.describe(exc))
        try:
            if response.status_code == 404:
                return _not_found(self.config, await _read_some(response))
            outcome = self._check(response)
            if outcome is not None:
                return outcome
            self.replay_complete = (
                self.config.content_type == "sse"
                and response.headers.get("flowview-replay", "").strip().lower() == "complete"
            )
            if self.candidate:
                self.to(Phase.PROBATION)
            else:
                self.to(Phase.LIVE)
                await w.went_live(self)
            return await self._read(response)
        finally:
            # Shielded so that a cancel (switch, aclose) still closes the socket.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(response.aclose())

    def _check(self, response: httpx.Response) -> Outcome | None:
        status = response.status_code
        if status == 200:
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype == ACCEPT[self.config.content_type]:
                return None
            shown = printable(ctype, 60) or "none"
            return Outcome(
                "status", f"not a stream: content type {shown}", status=status, bounded=True
            )
        if status in (401, 403):
            return Outcome("fatal", _status_reason(status), status=status)
        if status == 204:
            return Outcome("stop", "server asked to stop (204)", status=status)
        retry_after = None
        if status in (429, 503) or status >= 500:
            retry_after = parse_retry_after(
                response.headers.get("retry-after"),
                date=response.headers.get("date"),
                now=self.w.wall(),
            )
        retryable = status >= 500 or status in (408, 409, 429)
        return Outcome(
            "status",
            _status_reason(status),
            status=status,
            retry_after=retry_after,
            bounded=not retryable,
        )

    async def _read(self, response: httpx.Response) -> Outcome:
        self.last_byte = self.w.clock()
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._pump(response))
        watchdog = loop.create_task(self._watch())
        try:
            done, _ = await asyncio.wait({reader, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                return reader.result()
            return Outcome("break", f"no data for {self.config.stall_timeout:g} s")
        finally:
            for task in (reader, watchdog):
                task.cancel()
            await asyncio.gather(reader, watchdog, return_exceptions=True)

    async def _watch(self) -> None:
        """Return when no byte arrived for stall_timeout (waiting on our consumer excepted)."""
        w = self.w
        stall = self.config.stall_timeout
        while True:
            if self.activity is Activity.BLOCKED:
                await w.sleep(stall)
                continue
            remaining = self.last_byte + stall - w.clock()
            if remaining <= DUE_WITHIN:
                return
            await w.sleep(remaining)

    async def _pump(self, response: httpx.Response) -> Outcome:
        w = self.w
        clock = w.clock
        on_skip = self.skips.append
        sse_decoder: SSEDecoder | None = None
        raw = w.raw
        feed: Callable[[bytes], list[Any]]
        if self.config.content_type == "sse":
            sse_decoder = SSEDecoder(w.resume_id(), self.config.max_record_bytes, on_skip)
            decoder = sse_decoder
            if raw:
                self.texts = []

            def feed(chunk: bytes) -> list[Any]:
                # The common events come as slices of the chunk: one digit screen for all.
                return self._from_sse(decoder.feed_data(chunk), decoder, may_hold_big_int(chunk))
        elif raw:
            keeper = JsonStreamDecoder(self.config.max_record_bytes, on_skip, keep_records=True)
            self.take_texts = keeper.take_records
            feed = keeper.feed
        else:
            feed = JsonStreamDecoder(self.config.max_record_bytes, on_skip).feed
        accept = self._accept
        try:
            async for chunk in response.aiter_bytes():
                self.last_byte = clock()
                values = feed(chunk)
                if values or self.skips:
                    self.last_values = self.last_byte
                    items = accept(values)
                    if items and self.probation:
                        self.pending.extend(items)
                        if len(self.pending) >= w.hold_limit:
                            await self.go.wait()  # full: let the socket hold the rest
                    elif items:
                        self.doing(Activity.EMITTING)
                        try:
                            await w.emit(items, self)
                        finally:
                            self.doing(Activity.READING)
                if self.phase is Phase.RETIRING:
                    return Outcome("replaced", "switched to a new connection")
        except httpx.RemoteProtocolError:
            return Outcome("break", "the stream was cut off")
        except httpx.ReadTimeout:
            return Outcome("break", f"no data for {self.config.stall_timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome("break", w.describe(exc))
        finally:
            if sse_decoder is not None:
                sse_decoder.end()
        return Outcome("break", "server closed the stream")

    def _accept(self, values: list[Any]) -> list[StreamItem]:
        texts = self.take_texts() if self.take_texts is not None else self.texts
        watch = self.w.watched()
        items, new = self.w.acceptor.accept(
            values,
            texts,
            self.skips,
            probation=self.held if self.probation else None,
            watch=watch if watch is not self.held else None,
        )
        if self.texts is not None:
            self.texts.clear()
        self.new_events += new
        return items

    def _from_sse(
        self, datas: list[str | bytes], decoder: SSEDecoder, digits_possible: bool = True
    ) -> list[Any]:
        """The values of the decoded events' data; ``digits_possible=False`` when the chunk
        the ``bytes`` items were cut from holds no run of 19 digits."""
        if decoder.reconnection_time_ms is not None:
            self.w.on_retry_ms(decoder.reconnection_time_ms)
        # Before the early return: an id-only block (no data) still moves the resume point.
        self.w.set_resume_id(decoder.last_event_id)
        if not datas:
            return []
        # The common events (bytes cut from this chunk, after a str or two from the line loop
        # at its start) are parsed in one call; anything odd goes item by item.
        head = 0
        while head < len(datas) and type(datas[head]) is not bytes:
            head += 1
        values = self._from_sse_items(datas[:head]) if head else []
        rest = datas[head:] if head else datas
        if rest:
            parsed = loads_all(rest, digits_possible, decoder.deep_possible)
            if parsed is None:
                values += self._from_sse_items(rest, digits_possible)
            else:
                values += parsed
                if self.texts is not None:
                    self.texts += cast("list[bytes]", rest)  # loads_all took bytes only
        return values

    def _from_sse_items(self, datas: list[str | bytes], digits_possible: bool = True) -> list[Any]:
        """The values of `datas`, one by one (see _from_sse)."""
        values: list[Any] = []
        texts = self.texts
        add = values.append
        keep = texts.append if texts is not None else None
        parse = loads_utf8
        for data in datas:
            if type(data) is bytes:
                # The common case: the event's data as received, parsed as it is and, in raw
                # mode, kept as the record's text (invalid UTF-8 parses as loads() would
                # parse its decoding with U+FFFD).
                if not data:
                    continue
                try:
                    add(parse(data, digits_possible))
                except (ValueError, RecursionError):
                    self._malformed_sse(data.decode("utf-8", "replace"))
                    continue
                if keep is not None:
                    keep(data)
                continue
            if not data:
                continue
            assert isinstance(data, str)
            # Encoded once: parsed as bytes and kept as the text. The decoder's text never
            # holds a lone surrogate (it decodes with errors="replace"), so the bytes parse
            # exactly as the str would.
            try:
                encoded = data.encode()
                value = parse(encoded)
            except UnicodeEncodeError:  # (a ValueError: caught first) not from our decoder
                encoded = data.encode("utf-8", "surrogatepass")
                try:
                    value = loads(data)
                except (ValueError, RecursionError):
                    self._malformed_sse(data)
                    continue
            except (ValueError, RecursionError):
                self._malformed_sse(data)
                continue
            add(value)
            if keep is not None:
                keep(encoded)
        return values

    def _malformed_sse(self, data: str) -> None:
        self.skips.append(f"malformed JSON in event-stream data ({len(data)} chars)")
