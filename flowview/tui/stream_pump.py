"""The stream pump: runs the StreamClient, routes every item into the Router, and decides
when the screen is repainted.

Routing is cheap and UI-free: it only marks conversations dirty and collects alerts.  A flush
scheduled at most `flush_interval` apart hands them to the app (`on_flush`), which adds tabs,
updates labels and refreshes the one FlowLog that is shown.  During a replay burst the pump
repaints less often (see BURST_EVENTS) so the last line arrives sooner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from flowview.model.rate import RateCounter
from flowview.model.routed import RouteResult
from flowview.model.router import Router
from flowview.protocol.events import ConversationKey, Event
from flowview.protocol.items import Gap, GapClosed, GapOpened, Skipped, StateChange
from flowview.tui.notifier import Alert

log = logging.getLogger(__name__)

__all__ = ["FlushBatch", "StreamPump"]

# Give the event loop back this often while routing a burst, so keys stay responsive.
ROUTE_SLICE_SECONDS = 0.02
# Items routed between two looks at the clock: a run of events goes to the router in one
# call (Router.route_batch), not one call chain per event; 100 chat lines take 0.3-2 ms.
ROUTE_CHUNK = 100
# A replay burst (this many events routed since the last repaint, and more still coming):
# repaint at most every BURST_FLUSH_SECONDS, and as soon as the stream has paused for
# BURST_QUIET_SECONDS, instead of every flush_interval: each repaint costs the routing time
# of hundreds of events, so a 10,000-event replay reaches its last line sooner.  Twice a
# second still shows the replay moving; 4 a second cost 17 % more CPU per 10,000-event burst
# (bench_app.py, side by side).
BURST_EVENTS = 300
BURST_FLUSH_SECONDS = 0.5
BURST_QUIET_SECONDS = 0.02
# A burst's first repaint too waits BURST_FLUSH_SECONDS, counted from the burst's first batch
# (a run of batches after the stream was quiet), not from the last repaint, which was long
# before: that repaint, 5-50 ms into a 10,000-event burst, cost a flush and a whole frame
# (a tenth of the burst's CPU) only to be painted over a quarter of a second later.  So that
# the burst is recognised by then, the first flush after routed events waits FIRST_FLUSH_SECONDS
# (was 5 ms): a single line still shows within a frame or two.
FIRST_FLUSH_SECONDS = BURST_QUIET_SECONDS
# Textual timers cannot have a zero interval: this is "as soon as possible".
SOONEST_SECONDS = 0.005
# During a burst, routed events wait until it is over (the stream quiet for
# BURST_QUIET_SECONDS at a flush) before they go to `on_events` (the archive): its writer
# thread turns each event into a row in Python, and while it has work it takes about half of
# the interpreter (the GIL) from the loop that is routing and painting the burst.  They are
# handed over at the latest HOLD_SECONDS after the hold began, at once when HOLD_MAX_EVENTS
# are waiting, and on `flush_now()` and `close()`: delay and memory are bounded, nothing is
# dropped.
# 0.8 s: below the archive's promise that a kill -9 loses nothing older than a second.
# A hold lasts until the burst is over (not only until the next repaint: handing over a few
# batches after each repaint kept the writer busy through the whole burst), and when it is
# over the held events go AFTER_PAINT_SECONDS after the repaint of its last lines, so the
# writer does not slow that paint either: at most HOLD_SECONDS + AFTER_PAINT_SECONDS.
HOLD_SECONDS = 0.8
HOLD_MAX_EVENTS = 20_000
AFTER_PAINT_SECONDS = 0.05


class _Client(Protocol):
    def batches(self) -> AsyncIterator[list[Any]]: ...

    async def aclose(self) -> None: ...


class _TimerHandle(Protocol):
    def stop(self) -> None: ...


SetTimer = Callable[[float, Callable[[], Awaitable[None]]], _TimerHandle]


@dataclass
class FlushBatch:
    """What changed since the last flush."""

    dirty: set[ConversationKey]
    alerts: list[Alert]
    rate: int  # new lines in the last minute
    last_event: datetime | None
    problems: int  # events skipped by the client plus events the router failed to apply
    gaps_open: int


class StreamPump:
    def __init__(
        self,
        router: Router,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        set_timer: SetTimer,
        on_flush: Callable[[FlushBatch], Awaitable[None]],
        wants_alert: Callable[[ConversationKey], bool],
        on_state: Callable[[StateChange], None],
        flush_interval: float = 1 / 15,
        on_events: Callable[[list[Event]], None] | None = None,
        on_burst: Callable[[bool], None] | None = None,
    ) -> None:
        self.router = router
        # Handed every routed event, one list per stream batch (the archive's ingest_many).
        self.on_events = on_events
        # Told True when a burst's hold begins and False when it ends (the GC policy defers
        # young collections meanwhile: GcPolicy.defer_young).
        self.on_burst = on_burst
        self._routed: list[Event] = []
        self.clock = clock
        self.wall_clock = wall_clock
        self.set_timer = set_timer
        self.on_flush = on_flush
        self.wants_alert = wants_alert
        self.on_state = on_state
        self.flush_interval = flush_interval
        self.events_routed = 0
        self.skipped = 0
        self.rate = RateCounter(60.0)
        self._dirty: set[ConversationKey] = set()
        self._alerts: list[Alert] = []
        self._timer: _TimerHandle | None = None
        self._hold_timer: _TimerHandle | None = None  # set while routed events are held
        self._last_flush = 0.0
        # Burst pacing uses real time (tests may freeze `clock`); see BURST_EVENTS.
        self._last_flush_real = 0.0
        self._last_batch_real = 0.0
        self._run_began_real = 0.0  # the first batch after the stream was quiet
        self._routed_at_flush = 0
        self._lines_pending = 0
        self._routed_at_status = 0
        self._last_event_wall: datetime | None = None
        self.closed = False

    # ------------------------------------------------------------------ running

    async def run(self, client: _Client) -> None:
        """Route everything `client` yields until it ends or this task is cancelled."""
        try:
            # batches() hands over everything already queued at once: route it all, then
            # let the (rate-limited) flush repaint.
            async for batch in client.batches():
                now = time.monotonic()
                if now - self._last_batch_real >= BURST_QUIET_SECONDS:
                    self._run_began_real = now
                slice_start = self.clock()
                for start in range(0, len(batch), ROUTE_CHUNK):
                    if start and self.clock() - slice_start > ROUTE_SLICE_SECONDS:
                        self._last_batch_real = time.monotonic()
                        await asyncio.sleep(0)  # keep keys responsive during a replay
                        slice_start = self.clock()
                    self.handle_batch(batch[start : start + ROUTE_CHUNK])
                self._after_batch()
                self._last_batch_real = time.monotonic()
        finally:
            await client.aclose()

    def handle_batch(self, items: Sequence[object]) -> None:
        """`handle_item` for each of `items`, in order: runs of events go to the router
        together."""
        run: list[Event] = []
        for item in items:
            if isinstance(item, Event):
                run.append(item)
                continue
            if run:
                self._route(run)
                run = []
            self.handle_item(item)
        if run:
            self._route(run)

    def handle_item(self, item: object) -> None:
        """Route one stream item; UI work is deferred to the next flush."""
        if isinstance(item, Event):
            self._route([item])
        elif isinstance(item, StateChange):
            log.info("stream %s %s", item.state, item.reason)
            self.on_state(item)
        elif isinstance(item, GapOpened):
            self._gap_opened(item)
        elif isinstance(item, GapClosed):
            self._gap_closed(item)
        elif isinstance(item, Gap):
            self.router.insert_gap(item.key, item.backfilled)
            self.mark_dirty(item.key)
        elif isinstance(item, Skipped):
            self.skipped += 1
            log.warning("stream input skipped: %s", item.reason)
            self._schedule()
        else:
            log.warning("unknown stream item %s", type(item).__name__)

    def _route(self, events: list[Event]) -> None:
        # Runs for every streamed event: the router sums a run up (RoutedBatch); only
        # failures and lines that may alert are looked at one by one.
        router = self.router
        done = router.route_batch(events)
        self.events_routed += done.routed
        if self.on_events is not None:
            self._routed.extend(events)
        for event_id, error in done.failed:
            log.error("event %s not routed: %s", event_id, error)
        self._lines_pending += done.appended  # messages per minute: new lines only
        if done.changed:
            self._dirty |= done.changed
        if done.changed or done.ignored:
            self._schedule(FIRST_FLUSH_SECONDS)
        for result in done.notable:
            self._alert(result)

    def _alert(self, result: RouteResult) -> None:
        """An appended line that mentions the user, or a private one: a notification?"""
        key, message = result.key, result.message
        if key is None or message is None:
            return
        private = key[0] == "private"
        router = self.router
        from_other = message.user_id is not None and message.user_id != router.me_id
        if (result.mention or (private and from_other)) and self.wants_alert(key):
            store = router.stores.get(key)
            where = store.title if store is not None else "?"
            sender = router.sender_of(message)
            self._alerts.append(Alert(where, sender, message.text, private=private, key=key))

    # ------------------------------------------------------------------ gaps

    def _gap_opened(self, item: GapOpened) -> None:
        log.warning("gap opened in %s after %s: %s", item.key, item.after_id, item.reason)
        self.router.open_gap(item.key, item.after_id, item.reason)
        self.mark_dirty(item.key)

    def _gap_closed(self, item: GapClosed) -> None:
        log.info("gap closed in %s after %s: %d recovered", item.key, item.after_id, item.recovered)
        self.router.close_gap(item.key, item.after_id, item.recovered)
        self.mark_dirty(item.key)

    # ------------------------------------------------------------------ flushing

    def mark_dirty(self, key: ConversationKey) -> None:
        self._dirty.add(key)
        self._schedule()

    def mark_all_dirty(self, keys: Iterable[ConversationKey]) -> None:
        self._dirty.update(keys)
        self._schedule()

    def _schedule(self, soonest: float = SOONEST_SECONDS) -> None:
        """A flush at most `flush_interval` after the last one, and not before `soonest`."""
        if self._timer is not None or self.closed:
            return
        delay = max(soonest, self._last_flush + self.flush_interval - self.clock())
        self._timer = self.set_timer(delay, self._flush)

    def _last_paint_real(self) -> float:
        """What burst pacing counts BURST_FLUSH_SECONDS from: the last repaint, or the start
        of the run of batches when that is later (a burst's first repaint)."""
        return max(self._last_flush_real, self._run_began_real)

    def _in_burst(self) -> bool:
        if self.events_routed - self._routed_at_flush < BURST_EVENTS:
            return False
        now = time.monotonic()
        return (
            now - self._last_batch_real < BURST_QUIET_SECONDS
            and now - self._last_paint_real() < BURST_FLUSH_SECONDS
        )

    async def _flush(self) -> None:
        self._timer = None
        if self._in_burst():
            # Check again when it may be over: the stream quiet for BURST_QUIET_SECONDS
            # since its last batch, or BURST_FLUSH_SECONDS since the last repaint (not a
            # fixed step later, which left the last lines unpainted up to twice as long).
            now = time.monotonic()
            due = min(
                self._last_batch_real + BURST_QUIET_SECONDS,
                self._last_paint_real() + BURST_FLUSH_SECONDS,
            )
            self._timer = self.set_timer(max(SOONEST_SECONDS, due - now), self._flush)
            return
        quiet = time.monotonic() - self._last_batch_real >= BURST_QUIET_SECONDS
        if self._hold_timer is None or not quiet:
            await self.flush_now(hand_over=self._hold_timer is None)
            return
        # The burst is over: paint its last lines, then hand its events over.
        await self.flush_now(hand_over=False)
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = self.set_timer(AFTER_PAINT_SECONDS, self._hold_expired)

    def _after_batch(self) -> None:
        """A stream batch is routed: hand its events over, or hold them during a burst."""
        if not self._routed:
            return
        holding = self._hold_timer is not None  # a burst goes on until a flush finds it over
        bursting = holding or self.events_routed - self._routed_at_flush >= BURST_EVENTS
        if not bursting or len(self._routed) >= HOLD_MAX_EVENTS or self.closed:
            self.hand_over_routed()
        elif not holding:
            self._hold_timer = self.set_timer(HOLD_SECONDS, self._hold_expired)
            self._tell_burst(True)

    async def _hold_expired(self) -> None:
        if self._hold_timer is None:
            return  # ended between the timer firing and this call (flush_now, close)
        self._hold_timer = None
        self.hand_over_routed()
        self._tell_burst(False)

    async def flush_now(self, *, hand_over: bool = True) -> None:
        """Apply everything routed since the last flush (`on_flush`) now; `hand_over`: give
        held events to `on_events` too (the rate-limited flush of a burst leaves them held)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.closed:
            return
        if hand_over:
            self.hand_over_routed()
        now = self.clock()
        self._last_flush = now
        self._last_flush_real = time.monotonic()
        self._routed_at_flush = self.events_routed
        if self._lines_pending:
            self.rate.add(now, self._lines_pending)
            self._lines_pending = 0
        if self.events_routed != self._routed_at_status:
            # the time of the last event, to the flush (at most BURST_FLUSH_SECONDS later)
            self._routed_at_status = self.events_routed
            self._last_event_wall = self.wall_clock()
        dirty, self._dirty = self._dirty, set()
        alerts, self._alerts = self._alerts, []
        batch = FlushBatch(
            dirty=dirty,
            alerts=alerts,
            rate=self.rate.total(now),
            last_event=self._last_event_wall,
            problems=self.skipped + self.router.errors,
            gaps_open=len(self.router.open_gaps),
        )
        await self.on_flush(batch)

    def hand_over_routed(self) -> None:
        """Give `on_events` what was routed since the last call (also done by every flush,
        for items fed through `handle_item` directly)."""
        held = self._hold_timer is not None
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        routed = self._routed
        if routed and self.on_events is not None:
            self._routed = []
            try:
                self.on_events(routed)
            except Exception:
                log.exception("handing %d routed events over failed", len(routed))
        if held:
            self._tell_burst(False)

    def _tell_burst(self, on: bool) -> None:
        if self.on_burst is not None:
            try:
                self.on_burst(on)
            except Exception:
                log.exception("on_burst(%s) failed", on)

    def close(self) -> None:
        self.hand_over_routed()  # before the session closes the archive
        self.closed = True
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
