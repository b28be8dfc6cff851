"""The reconnecting Flowdock stream client (a thin supervisor over its parts).

One HTTP connection carries every chosen flow plus private messages.  The client is an async
iterator of :data:`StreamItem` (events, state changes, skipped-input notices, back-fill and
gap notices) and hides every network fault behind the reconnect policy in ``backoff.py``:

* one HTTP attempt and how it ended: ``connection.py`` (one explicit Phase per connection);
* decoded values -> items, each (conversation, id) once, switch bookkeeping: ``accept.py``;
* the bounded hand-off to the consumer (a slow consumer slows the socket reads): ``outbox.py``;
* after every reconnect, in both content types, what the stream missed is fetched from REST
  history in the background, and gaps that cannot be filled yet are announced and retried
  until they are: ``backfill.py``;
* SSE resumes with ``Last-Event-ID`` (the id survives reconnects and parameter switches);
* reconfigure() switches parameters make-before-break, its hand-over shielded from the
  caller's cancellation.

One clock: every timeout and delay runs on the injected clock/sleep, by default the event
loop's (wall-clock jumps change nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from types import TracebackType
from typing import Any

import httpx

from flowview.protocol.accept import Acceptor, Held
from flowview.protocol.auth import redact
from flowview.protocol.backfill import Backfiller
from flowview.protocol.backoff import Backoff, BackoffPolicy
from flowview.protocol.connection import Activity, Connection, Outcome, Phase, Wiring
from flowview.protocol.dedupe import Deduper
from flowview.protocol.events import ConversationKey
from flowview.protocol.httpauth import TokenAuth
from flowview.protocol.items import (
    Gap,
    GapClosed,
    GapOpened,
    RawEvent,
    Skipped,
    StateChange,
    StreamItem,
)
from flowview.protocol.outbox import Outbox
from flowview.protocol.read_size import widen_reads
from flowview.protocol.rest import RestClient
from flowview.protocol.streamconfig import ACCEPT, ContentType, StreamConfig
from flowview.protocol.text import printable
from flowview.protocol.urls import Presence, stream_url

log = logging.getLogger(__name__)

__all__ = [
    "ContentType",
    "Gap",
    "GapClosed",
    "GapOpened",
    "RawEvent",
    "ReconfigureError",
    "Skipped",
    "StateChange",
    "StreamClient",
    "StreamConfig",
    "StreamItem",
]

_BATCH = 512  # items per queue entry; queue capacity is counted in items via this
_MAX_UNEXPECTED = 5  # consecutive 3xx/4xx/wrong-content-type answers before giving up
_TERMINAL = ("failed", "stopped")


class ReconfigureError(Exception):
    """reconfigure() could not bring the new connection up; the old one is still in use."""


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host
    except Exception:
        log.exception("cannot parse the stream URL's host")
        return ""


def _always() -> bool:
    return True


_MIN_WAKE = 0.01  # seconds: the shortest wait in _converge (see there)


class StreamClient:
    """Async iterator of :data:`StreamItem`; see the module docstring.

    ``async for item in client`` starts the connection; `aclose()` ends it, after which the
    iterator finishes with ``StateChange("stopped")``.
    """

    def __init__(
        self,
        config: StreamConfig,
        *,
        http: httpx.AsyncClient | None = None,
        rest: RestClient | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        wall: Callable[[], float] = time.time,
        queue_size: int = 10_000,
        backfill_timeout: float = 10.0,
        switch_timeout: float = 30.0,
        switch_grace: float = 0.5,
        policy: BackoffPolicy | None = None,
        raw_events: bool = False,
    ) -> None:
        if config.content_type not in ACCEPT:
            raise ValueError("content_type must be 'json' or 'sse'")
        self.config = config
        # One clock: the event loop's, unless a test injects another.
        self._clock: Callable[[], float] = clock if clock is not None else _loop_time
        self._sleep = sleep
        self._wall = wall  # only for a Retry-After HTTP-date without a Date header
        widen_reads()  # a burst in a quarter as many reads (read_size.py)
        self._owns_http = http is None
        self._http = (
            http
            if http is not None
            else httpx.AsyncClient(follow_redirects=False, timeout=self._timeout(config))
        )
        self._rest = rest
        self._owns_rest = False
        self._rest_failed = False
        self._stream_host = _host(config.stream_url)
        if rest is not None:
            rest.on_success.append(self._rest_succeeded)
        self._wake = asyncio.Event()  # ends a reconnect wait early
        self._not_before = 0.0  # clock(): a Retry-After still to be honoured
        self._auth = TokenAuth(config.token)
        self._backoff = Backoff(policy, rng)
        self._dedupe = Deduper()
        self._last_event_id = ""
        self._queue = Outbox(queue_size)
        self._raw_events = raw_events
        self._backfill_timeout = backfill_timeout
        self._switch_timeout = switch_timeout
        self._switch_grace = switch_grace
        self._current: Connection | None = None
        self._switching: asyncio.Future[None] | None = None
        self._reconf_lock = asyncio.Lock()
        self._handovers: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._ended = False  # the final state change has been queued
        self._closed = False
        self._unexpected = 0
        self._attempt = 0  # consecutive reconnects since the last live connection
        self._candidate: Connection | None = None
        self._had_live = False
        self._backfiller = Backfiller(
            get_rest=self._get_rest,
            emit=self._emit,
            dedupe=self._dedupe,
            token=config.token,
            sleep=sleep,
            rng=rng,
            raw_events=raw_events,
            policy=policy,
        )
        self._acceptor = Acceptor(self._dedupe, raw=raw_events)
        self._wiring = Wiring(
            http=self._http,
            auth=self._auth,
            build_request=self._build_request,
            describe=self._describe,
            went_live=self._went_live,
            emit=self._emit,
            acceptor=self._acceptor,
            watched=self._watched,
            resume_id=lambda: self._last_event_id,
            set_resume_id=self._set_resume_id,
            on_retry_ms=self._backoff.set_retry_ms,
            on_internal_error=self._internal_error,
            clock=self._clock,
            sleep=sleep,
            wall=wall,
            raw=raw_events,
            hold_limit=self._queue.max_items,
        )
        self.internal_errors = 0  # bugs caught by a connection (each one is logged)
        self.connections = 0  # connection attempts made (for tests and diagnostics)

    # ------------------------------------------------------------------ public API

    def __aiter__(self) -> AsyncIterator[StreamItem]:
        return self._items()

    async def _items(self) -> AsyncIterator[StreamItem]:
        async for batch in self.batches():
            for item in batch:
                yield item

    async def batches(self) -> AsyncIterator[list[StreamItem]]:
        """Like iterating the client, but hands over everything already queued at once."""
        self._start()
        queue = self._queue
        while True:
            if self._ended and not queue:
                return
            batch = await queue.get()
            yield batch
            last = batch[-1]
            if isinstance(last, StateChange) and last.state in _TERMINAL:
                return

    @property
    def skipped(self) -> int:
        """Records and values that could not be used (each also emitted as Skipped)."""
        return self._acceptor.skipped

    @property
    def last_event_id(self) -> str:
        return self._last_event_id

    @property
    def queued_items(self) -> int:
        """Items waiting for the consumer (bounded by about `queue_size`)."""
        return self._queue.items

    @property
    def open_gaps(self) -> dict[ConversationKey, int | None]:
        """Announced gaps not yet filled (conversation -> after_id), for a status line."""
        return self._backfiller.open_gaps

    @property
    def history_busy(self) -> bool:
        """True while baselines or back-fills are pending (REST work to do)."""
        return self._backfiller.busy

    @property
    def live(self) -> bool:
        return self._current is not None and self._current.live.is_set()

    async def __aenter__(self) -> StreamClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def reconfigure(
        self,
        *,
        flows: tuple[str, ...] | list[str] | None = None,
        private: bool | None = None,
        presence: Presence | None = None,
        from_start: tuple[str, ...] = (),
    ) -> None:
        """Switch parameters without losing anything (make-before-break).

        `from_start`: flows among `flows` that the user joined while running; their whole
        history is back-filled once the stream subscribes them (other new flows start at
        their newest message: what was chosen is followed from now on).

        While live, a second connection with the new parameters is opened; once it answers
        200 with the right content type the output switches to it and the old connection is
        closed.  Events seen on both during the overlap are delivered once.  If the new
        connection fails, the old one stays and ReconfigureError is raised.
        """
        changes: dict[str, Any] = {}
        if flows is not None:
            changes["flows"] = tuple(flows)
        if private is not None:
            changes["private"] = private
        if presence is not None:
            changes["presence"] = presence
        new = replace(self.config, **changes)
        if from_start:
            self._backfiller.from_start(tuple(f for f in from_start if f in new.flows))
        # The hand-over runs in its own task: a caller cancelled half-way (a worker replaced
        # by a newer one) must not leave the old connection retired with no successor.
        task = asyncio.get_running_loop().create_task(self._reconfigure(new))
        self._handovers.add(task)
        task.add_done_callback(self._handover_done)
        await asyncio.shield(task)

    def _handover_done(self, task: asyncio.Task[None]) -> None:
        self._handovers.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here too: its caller may be gone
        if exc is not None and not isinstance(exc, ReconfigureError):
            log.error("reconfigure failed", exc_info=exc)

    async def _reconfigure(self, new: StreamConfig) -> None:
        async with self._reconf_lock:
            old = self._current
            if self._supervisor is None or self._ended or old is None or not old.live.is_set():
                # Not live: the next (or current) attempt simply uses the new parameters.
                self.config = new
                if old is not None and old.task is not None and not old.live.is_set():
                    old.task.cancel()
                return
            await self._switch(old, new)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks: list[asyncio.Task[Any]] = []
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        for conn in (self._current, self._candidate):
            if conn is not None and conn.task is not None:
                tasks.append(conn.task)
        tasks.extend(self._handovers)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._backfiller.aclose()
        self._current = None
        if self._rest is not None:
            with contextlib.suppress(ValueError):
                self._rest.on_success.remove(self._rest_succeeded)
            if self._owns_rest:
                try:
                    await self._rest.aclose()
                except Exception:
                    log.exception("closing the REST client failed")
        if self._owns_http:
            try:
                await self._http.aclose()
            except Exception:
                log.exception("closing the HTTP client failed")
        if not self._ended:
            self._ended = True
            # Whatever was still queued is moot now; make room for the final state.
            self._queue.clear()
            self._queue.put_nowait([StateChange("stopped", "closed")])

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _timeout(config: StreamConfig) -> httpx.Timeout:
        return httpx.Timeout(connect=10.0, read=config.stall_timeout, write=10.0, pool=10.0)

    def _describe(self, exc: BaseException) -> str:
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.ConnectError):
            text = f"cannot connect ({detail})"
        elif isinstance(exc, httpx.HTTPError):
            text = f"network error ({detail})"
        else:
            text = f"unexpected error ({type(exc).__name__}: {detail})"
        return printable(redact(text, self.config.token))

    def _build_request(self, config: StreamConfig) -> httpx.Request:
        url = stream_url(
            config.stream_url, config.flows, private=config.private, presence=config.presence
        )
        headers = httpx.Headers(
            {
                "Accept": ACCEPT[config.content_type],
                "Cache-Control": "no-cache",
                # Compression would make the decoder wait for a compressor's block boundaries.
                "Accept-Encoding": "identity",
            }
        )
        if config.content_type == "sse" and self._last_event_id:
            # Absent (not empty) when there is no id; httpx encodes str values as UTF-8.
            headers["Last-Event-ID"] = self._last_event_id
        self.connections += 1
        return self._http.build_request("GET", url, headers=headers, timeout=self._timeout(config))

    def _start(self) -> None:
        if self._supervisor is None and not self._ended:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def _emit(
        self, items: list[StreamItem], conn: Connection | None = None, *, force: bool = False
    ) -> None:
        queue = self._queue
        urgent: Callable[[], bool] | None = None
        if force:
            urgent = _always
        elif conn is not None:
            urgent = conn.is_retiring
        for start in range(0, len(items), _BATCH):
            batch = items if len(items) <= _BATCH else items[start : start + _BATCH]
            if queue.fits(len(batch)):
                queue.put_nowait(batch)
                continue
            blocking = conn is not None and conn.activity is Activity.EMITTING
            if blocking:
                assert conn is not None
                conn.doing(Activity.BLOCKED)
            try:
                await queue.put(batch, urgent)
            finally:
                if conn is not None:
                    if blocking:
                        conn.doing(Activity.EMITTING)
                    conn.last_byte = self._clock()

    def _watched(self) -> Held | None:
        cand = self._candidate
        return cand.held if cand is not None else None

    def _set_resume_id(self, value: str) -> None:
        self._last_event_id = value

    def _internal_error(self) -> None:
        self.internal_errors += 1

    async def _went_live(self, conn: Connection) -> None:
        # Before anything of the new connection is accepted: the gap cursors are now.
        self._backfiller.went_live(
            conn.config.flows,
            conn.config.private,
            reconnect=conn.resume,
            replay_complete=conn.replay_complete,
        )
        self._backoff.on_live(self._clock())
        self._unexpected = 0
        await self._emit([StateChange("live", attempt=self._attempt)], conn)
        self._attempt = 0

    async def _supervise(self) -> None:
        final: StateChange | None = None
        try:
            while True:
                conn = self._current
                if conn is None:
                    await self._emit([StateChange("connecting", attempt=self._attempt)])
                    conn = Connection(
                        self._wiring, self.config, resume=self._had_live, candidate=False
                    )
                    self._current = conn
                    conn.start()
                assert conn.task is not None
                await asyncio.wait({conn.task})
                if self._switching is not None:
                    await asyncio.wait({self._switching})
                if self._current is not conn:
                    continue  # reconfigure() switched to a new connection
                self._current = None
                if conn.task.cancelled():
                    continue  # reconfigure() while connecting: go again with the new config
                outcome = conn.task.result()
                if conn.live.is_set():
                    self._had_live = True
                    self._backfiller.connection_lost()
                    self._backoff.on_end(self._clock())
                final = self._final_state(outcome)
                if final is not None:
                    return
                delay = self._delay(outcome, conn)
                if delay is None:
                    final = StateChange(
                        "failed", f"giving up: {outcome.reason}", status=outcome.status
                    )
                    return
                self._attempt += 1
                await self._emit(
                    [
                        StateChange(
                            "reconnecting", outcome.reason, delay, self._attempt, outcome.status
                        )
                    ]
                )
                await self._wait(delay, outcome.retry_after or 0.0)
        finally:
            if final is not None and not self._ended:
                await self._emit([final])
                self._ended = True

    async def _wait(self, delay: float, floor: float) -> None:
        """Sleep `delay` on the injected clock, or less when a REST call to the same host
        succeeded meanwhile (never less than the server's Retry-After `floor`)."""
        self._wake.clear()
        start = self._clock()
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            slept = sleeper.done() and not sleeper.cancelled()
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
        if slept:
            return
        left = start + min(floor, delay) - self._clock()  # delay holds the capped floor
        if left > 0:
            await self._sleep(left)

    def _final_state(self, outcome: Outcome) -> StateChange | None:
        if outcome.kind == "fatal":
            return StateChange("failed", outcome.reason, status=outcome.status)
        if outcome.kind == "stop":
            return StateChange("stopped", outcome.reason, status=outcome.status)
        return None

    def _delay(self, outcome: Outcome, conn: Connection) -> float | None:
        b = self._backoff
        if outcome.kind == "break":
            return b.after_break(conn.new_events > 0)
        if outcome.kind == "status":
            if outcome.bounded:
                self._unexpected += 1
                if self._unexpected >= _MAX_UNEXPECTED:
                    return None
            return b.after_status(outcome.status or 0, outcome.retry_after)
        return b.after_transport_error()

    async def _switch(self, old: Connection, new: StreamConfig) -> None:
        loop = asyncio.get_running_loop()
        cand = Connection(self._wiring, new, resume=False, candidate=True)
        self._switching = loop.create_future()
        self._candidate = cand
        try:
            cand.start()
            assert cand.task is not None
            live_wait = loop.create_task(cand.live.wait())
            timer = asyncio.ensure_future(self._sleep(self._switch_timeout))
            try:
                await asyncio.wait(
                    {cand.task, live_wait, timer}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                live_wait.cancel()
                timer.cancel()
            if not cand.live.is_set() or cand.task.done():
                reason = "timed out"
                if cand.task.done() and not cand.task.cancelled():
                    reason = cand.task.result().reason
                raise ReconfigureError(f"could not switch: {reason}")
            await self._converge(old, cand)
            if cand.task.done():
                reason = "the new connection ended"
                if not cand.task.cancelled():
                    reason = cand.task.result().reason
                raise ReconfigureError(f"could not switch: {reason}")
            self.config = new
            await self._retire(old)
            # Hand over: everything the candidate held, minus what the old one delivered.
            cand.to(Phase.LIVE)  # ends probation: what it reads is delivered from now on
            held, cand.pending = cand.pending, []
            items: list[StreamItem] = [StateChange("live", "switched to new parameters")]
            admitted, new_events = self._acceptor.admit(held)
            cand.new_events += new_events
            items.extend(admitted)
            self._current = cand
            self._backoff.on_live(self._clock())
            self._unexpected = 0
            # Forced: the consumer itself may be the one awaiting reconfigure().
            await self._emit(items, force=True)
            # New flows get their baseline (nothing was missed: make-before-break).
            self._backfiller.went_live(
                new.flows, new.private, reconnect=False, replay_complete=False
            )
        except BaseException:
            if old.phase is Phase.DRAINING:
                old.to(Phase.LIVE)  # the switch failed: the old connection stays in use
            if cand.task is not None:
                cand.task.cancel()
                await asyncio.gather(cand.task, return_exceptions=True)
            raise
        finally:
            self._candidate = None
            fut, self._switching = self._switching, None
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def _converge(self, old: Connection, cand: Connection) -> None:
        """Wait until `old` has delivered everything sent before `cand` subscribed.

        Done when the two streams overlap (see _accept_switching), when the old connection
        has gone quiet (nothing decoded for `switch_grace`: nothing is in flight), when either
        connection ends, or after `switch_timeout`.
        """
        assert old.task is not None and cand.task is not None
        if old.phase is not Phase.LIVE:
            return  # it ended meanwhile
        old.to(Phase.DRAINING)  # the consumer may be the caller: never block on output
        await self._queue.kick()
        converged = asyncio.ensure_future(cand.converged.wait())
        deadline = self._clock() + self._switch_timeout
        try:
            while not cand.converged.is_set():
                if old.task.done() or cand.task.done():
                    return
                now = self._clock()
                if now >= deadline:
                    return
                quiet_at = old.last_values + self._switch_grace
                if old.activity is Activity.READING and now >= quiet_at:
                    return
                # Until the old one could have been quiet long enough (or the deadline), on
                # the injected clock; then look again.
                wake = min(quiet_at, deadline) - now
                # Not shorter than _MIN_WAKE: a remainder left by float rounding (1e-15 s) is
                # below the clock's resolution (a virtual loop's), so such a sleep would not
                # move it and this loop would spin without end.
                wake = max(wake, _MIN_WAKE) if wake > 0 else self._switch_grace
                timer = asyncio.ensure_future(self._sleep(wake))
                try:
                    await asyncio.wait(
                        {converged, old.task, cand.task, timer}, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    timer.cancel()
        finally:
            converged.cancel()

    async def _retire(self, old: Connection) -> None:
        """Stop `old` at a chunk boundary: nothing it decoded may be lost."""
        task = old.task
        assert task is not None
        if old.phase in (Phase.LIVE, Phase.DRAINING):
            old.to(Phase.RETIRING)
        if not task.done():
            if old.activity is not Activity.READING:
                # It finishes delivering its chunk (past the queue bound if need be), then
                # returns by itself.
                await self._queue.kick()
            else:
                task.cancel()  # idle: waiting for bytes, nothing decoded is pending
        await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------------ REST

    def _get_rest(self) -> RestClient | None:
        if self._rest is None and self.config.api_url and not self._rest_failed:
            try:
                self._rest = RestClient(
                    self.config.api_url, self.config.token, deadline=self._backfill_timeout
                )
            except ValueError:
                log.warning("no history back-fill: the API URL is not usable")
                self._rest_failed = True
                return None
            self._owns_rest = True
            self._rest.on_success.append(self._rest_succeeded)
        return self._rest

    def _rest_succeeded(self, host: str) -> None:
        """A REST call to the stream's host got an answer: the host is up again, so a
        reconnect back-off grown by a burst of errors restarts from the bottom, and the
        current wait ends now (a server's Retry-After is still honoured)."""
        if host != self._stream_host:
            return
        if self._backoff.http_attempts or self._backoff.transport_attempts:
            log.info("REST call to %s succeeded: reconnect back-off reset", host)
            self._backoff.reset()
            self._wake.set()
