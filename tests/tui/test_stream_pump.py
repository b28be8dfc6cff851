"""StreamPump: routed events reach `on_events` (the archive) exactly once and in order; during
a burst they are held back for at most HOLD_SECONDS, so the archive's writer thread does not
compete with the loop that routes and paints the burst.  Time is virtual (looptime)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from flowview.model.router import Router
from flowview.protocol.events import Event, parse_event
from flowview.protocol.items import Gap, Skipped
from flowview.tui.stream_pump import (
    AFTER_PAINT_SECONDS,
    BURST_EVENTS,
    BURST_FLUSH_SECONDS,
    BURST_QUIET_SECONDS,
    FIRST_FLUSH_SECONDS,
    HOLD_SECONDS,
    ROUTE_CHUNK,
    ROUTE_SLICE_SECONDS,
    FlushBatch,
    StreamPump,
)

pytestmark = [
    pytest.mark.looptime,
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("burst_pacing_on_loop_clock"),
]

FLOW = "f0000000-0000-0000-0000-000000000001"


def message(mid: int) -> Event:
    return parse_event(
        {
            "event": "message",
            "id": mid,
            "flow": FLOW,
            "user": "2",
            "content": f"line {mid}",
            "sent": 1_700_000_000_000 + mid,
        }
    )


class Batches:
    """A stream client that hands over the given batches, one `gap` seconds apart, then
    stays open until closed."""

    def __init__(self, batches: list[list[Event]], gap: float = 0.0) -> None:
        self.items = batches
        self.gap = gap
        self.delivered = asyncio.Event()
        self.closed = False

    async def _batches(self) -> AsyncIterator[list[Any]]:
        for batch in self.items:
            yield list(batch)
            await asyncio.sleep(self.gap)
        self.delivered.set()
        await asyncio.Event().wait()

    def batches(self) -> AsyncIterator[list[Any]]:
        return self._batches()

    async def aclose(self) -> None:
        self.closed = True


class Timer:
    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self.handle = handle

    def stop(self) -> None:
        self.handle.cancel()


class Harness:
    """A pump on the running loop's clock; records what `on_events` got and when."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.handed: list[tuple[float, list[int]]] = []
        self.flushes = 0
        self.flushed_at: list[float] = []  # loop times of the repaints
        self.pump = StreamPump(
            Router(me_id="1"),
            clock=self.loop.time,
            wall_clock=lambda: datetime.now(UTC),
            set_timer=self.set_timer,
            on_flush=self.on_flush,
            wants_alert=lambda key: False,
            on_state=lambda change: None,
            on_events=self.on_events,
        )

    def set_timer(self, delay: float, callback: Callable[[], Awaitable[None]]) -> Timer:
        def fire() -> None:
            self.loop.create_task(callback())  # type: ignore[arg-type]

        return Timer(self.loop.call_later(delay, fire))

    async def on_flush(self, batch: FlushBatch) -> None:
        self.flushes += 1
        self.flushed_at.append(self.loop.time())

    def on_events(self, events: list[Event]) -> None:
        self.handed.append((self.loop.time(), [e.id for e in events if e.id is not None]))

    @property
    def ids(self) -> list[int]:
        return [mid for _, ids in self.handed for mid in ids]


async def test_a_burst_reaches_the_archive_once_in_order_after_a_bounded_hold() -> None:
    harness = Harness()
    burst = [[message(mid) for mid in range(start, start + 1000)] for start in range(1, 5001, 1000)]
    client = Batches(burst)
    start = harness.loop.time()
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    assert len(burst[0]) >= BURST_EVENTS
    # The whole burst is routed, and none of it went to the archive yet: it is held.
    assert harness.pump.events_routed == 5000
    assert harness.handed == []
    await asyncio.sleep(HOLD_SECONDS)
    assert harness.ids == list(range(1, 5001))  # every event once, in order
    assert harness.handed[0][0] - start <= HOLD_SECONDS + 0.01
    harness.pump.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_trickle_goes_to_the_archive_at_once() -> None:
    harness = Harness()
    client = Batches([[message(1)], [message(2), message(3)]], gap=1.0)
    task = asyncio.create_task(harness.pump.run(client))
    await asyncio.sleep(0.01)
    assert harness.ids == [1]  # no burst: no hold
    await client.delivered.wait()
    assert harness.ids == [1, 2, 3]
    harness.pump.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_held_events_are_handed_over_on_flush_now_and_on_close() -> None:
    harness = Harness()
    client = Batches([[message(mid) for mid in range(1, 1001)]])
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    assert harness.handed == []
    await harness.pump.flush_now()  # what the app calls before a snapshot, and tests
    assert harness.ids == list(range(1, 1001))

    harness2 = Harness()
    client2 = Batches([[message(mid) for mid in range(1, 1001)]])
    task2 = asyncio.create_task(harness2.pump.run(client2))
    await client2.delivered.wait()
    assert harness2.handed == []
    harness2.pump.close()  # the session closes the archive right after this
    assert harness2.ids == list(range(1, 1001))
    for t in (task, task2):
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t


async def test_held_events_go_over_as_soon_as_the_burst_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness = Harness()
    flushed_at = harness.flushed_at
    client = Batches([[message(mid) for mid in range(start, start + 500)] for start in (1, 501)])
    start = harness.loop.time()
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    assert harness.handed == []
    # the stream has been quiet for longer than BURST_QUIET_SECONDS: the last lines are
    # repainted, and AFTER_PAINT_SECONDS later the held events go to the archive
    await asyncio.sleep(0.1 + AFTER_PAINT_SECONDS)
    assert harness.ids == list(range(1, 1001))
    assert harness.handed[0][0] - start < 0.1 + AFTER_PAINT_SECONDS < HOLD_SECONDS
    assert harness.handed[0][0] - flushed_at[-1] == pytest.approx(AFTER_PAINT_SECONDS)
    harness.pump.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_long_burst_repaints_at_most_every_burst_flush_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each repaint of a burst costs the routing time of hundreds of events: 2 s of batches
    10 ms apart repaint at most twice a second, and once more right after the end."""
    harness = Harness()
    flushed_at = harness.flushed_at
    batches = [[message(mid) for mid in range(start, start + 50)] for start in range(1, 10_001, 50)]
    client = Batches(batches, gap=0.01)
    start = harness.loop.time()
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    end = harness.loop.time()
    await asyncio.sleep(0.2)
    assert harness.pump.events_routed == 10_000
    during = [t for t in flushed_at if t < end]
    assert end - start >= 2.0
    # the first flush comes before the burst is recognised (BURST_EVENTS), then the pacing
    assert len(during) <= 1 + (end - start) * 2 + 1
    assert all(b - a >= 0.5 - 0.01 for a, b in pairwise(during[1:]))
    # the last lines are painted as soon as the stream is quiet (5 ms: the shortest timer)
    assert flushed_at[-1] - end <= BURST_QUIET_SECONDS + 0.005 + 1e-6
    harness.pump.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_hold_lasts_until_the_burst_is_over_not_until_the_next_repaint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """0.6 s of batches 10 ms apart: the first BURST_EVENTS go over as they come, the rest
    in one hand-over when the burst is over, none after the repaints in between."""
    harness = Harness()
    batches = [[message(mid) for mid in range(start, start + 100)] for start in range(1, 6001, 100)]
    client = Batches(batches, gap=0.01)
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    await asyncio.sleep(0.1 + AFTER_PAINT_SECONDS)
    assert harness.flushes >= 2  # repaints during the burst and after it
    assert harness.ids == list(range(1, 6001))
    assert [len(ids) for _, ids in harness.handed] == [100, 100, 5800]
    harness.pump.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_batch_routes_in_order_with_its_other_items_and_alerts() -> None:
    """One stream batch mixing chat lines, a gap, a skipped record, a mention, a private
    line and an event the router fails on: each lands as if handled one at a time."""
    harness = Harness()
    harness.pump.wants_alert = lambda key: True
    batches: list[FlushBatch] = []

    async def on_flush(batch: FlushBatch) -> None:
        batches.append(batch)

    harness.pump.on_flush = on_flush
    mention = message(3)
    mention.tags = (":user:1",)
    private = parse_event(
        {"event": "message", "id": 4, "to": "1", "user": "2", "content": "psst", "sent": 1}
    )
    broken = message(5)
    broken.raw = None  # type: ignore[assignment]  # the router fails on it
    # a Gap marker goes after the newest line present when it is handled: order matters
    items: list[object] = [message(1), Gap(("flow", FLOW), 3)]
    items += [message(2), Skipped("bad record"), mention, private, broken, message(6)]
    harness.pump.handle_batch(items)
    await harness.pump.flush_now()
    store = harness.pump.router.stores[("flow", FLOW)]
    assert [(m.kind, m.id) for m in store] == [
        ("message", 1),
        ("gap", None),
        ("message", 2),
        ("message", 3),
        ("message", 6),
    ]
    assert harness.pump.events_routed == 6
    assert harness.ids == [1, 2, 3, 4, 5, 6]  # every event reaches the archive, once
    [batch] = batches
    assert [(a.text, a.private) for a in batch.alerts] == [("line 3", False), ("psst", True)]
    assert batch.dirty == {("flow", FLOW), ("private", "1:2")}
    assert batch.rate == 5  # new lines: 1, 2, 3, 6 and the private one
    assert batch.problems == 2  # the skipped record and the failed event


async def test_a_long_batch_gives_the_loop_back_between_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Routing a big batch yields to the loop once ROUTE_SLICE_SECONDS have passed (here
    each look at the clock is one slice later), so keys are handled during a replay."""
    harness = Harness()
    ticks = iter(range(1_000_000))
    harness.pump.clock = lambda: next(ticks) * ROUTE_SLICE_SECONDS * 2
    seen: list[int] = []

    async def watch() -> None:
        while True:
            seen.append(harness.pump.events_routed)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    client = Batches([[message(mid) for mid in range(1, 5 * ROUTE_CHUNK + 1)]])
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    assert harness.pump.events_routed == 5 * ROUTE_CHUNK
    assert {ROUTE_CHUNK, 2 * ROUTE_CHUNK, 4 * ROUTE_CHUNK} <= set(seen)  # mid-batch turns
    harness.pump.close()
    for t in (task, watcher):
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t


async def test_the_pump_says_when_a_burst_hold_begins_and_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`on_burst` (the GC policy defers young collections meanwhile) is told True when a
    burst's hold begins and False once when it ends, however it ends: the burst is over,
    HOLD_SECONDS passed, flush_now, close.  A trickle never starts one."""

    async def run(batches: list[list[Event]], end: str, gap: float = 0.0) -> list[tuple[bool, int]]:
        harness = Harness()
        told: list[tuple[bool, int]] = []  # (on, events handed over so far)
        harness.pump.on_burst = lambda on: told.append((on, len(harness.ids)))
        if end == "bound":  # pacing always finds a burst: only the hold's bound ends it
            monkeypatch.setattr(harness.pump, "_in_burst", lambda: True)
        client = Batches(batches, gap)
        task = asyncio.create_task(harness.pump.run(client))
        await client.delivered.wait()
        if end == "flush_now":
            await harness.pump.flush_now()
        elif end == "close":
            harness.pump.close()
        elif end == "bound":
            assert told == [(True, 0)]
            await asyncio.sleep(HOLD_SECONDS)
        else:
            await asyncio.sleep(0.1 + AFTER_PAINT_SECONDS)
        harness.pump.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert harness.ids == [e.id for batch in batches for e in batch]
        return told

    burst = [[message(mid) for mid in range(start, start + 500)] for start in (1, 501)]
    # every end: True before anything was handed over, False after all of it was
    for end in ("quiet", "bound", "flush_now", "close"):
        told = await run(burst, end)
        assert told == [(True, 0), (False, 1000)], (end, told)
    assert await run([[message(1)], [message(2)]], "quiet", gap=1.0) == []


async def test_a_failing_on_burst_is_logged_and_the_burst_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()

    def broken(on: bool) -> None:
        raise RuntimeError("policy bug")

    harness.pump.on_burst = broken
    client = Batches([[message(mid) for mid in range(1, 1001)]])
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    harness.pump.close()
    assert harness.ids == list(range(1, 1001))  # nothing lost
    assert [r.message for r in caplog.records if r.exc_info] == [
        "on_burst(True) failed",
        "on_burst(False) failed",
    ]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_bursts_first_repaint_waits_burst_flush_seconds_from_its_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A burst after a quiet stream: no repaint in its first BURST_FLUSH_SECONDS (the one
    that came 5 ms in cost a whole frame, painted over right after), then at most twice a
    second, and its last lines as soon as it is over."""
    harness = Harness()
    flushed_at = harness.flushed_at
    await asyncio.sleep(5.0)  # long after the last repaint
    batches = [
        [message(mid) for mid in range(start, start + 200)] for start in range(1, 20_001, 200)
    ]
    client = Batches(batches, gap=0.01)
    start = harness.loop.time()
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    end = harness.loop.time()
    await asyncio.sleep(0.2)
    assert harness.pump.events_routed == 20_000
    during = [t - start for t in flushed_at if t < end]
    assert during, "a 1 s burst repaints while it lasts"
    assert during[0] >= BURST_FLUSH_SECONDS - 0.01
    assert all(b - a >= BURST_FLUSH_SECONDS - 0.01 for a, b in pairwise(during))
    assert flushed_at[-1] - end <= BURST_QUIET_SECONDS + 0.005 + 1e-6
    harness.pump.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_single_line_after_a_quiet_stream_is_flushed_within_first_flush_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness = Harness()
    flushed_at = harness.flushed_at
    await asyncio.sleep(5.0)  # long after the last repaint
    client = Batches([[message(1)], [message(2)]], gap=1.0)
    start = harness.loop.time()
    task = asyncio.create_task(harness.pump.run(client))
    await client.delivered.wait()
    await asyncio.sleep(0.1)
    assert [round(t - start, 3) for t in flushed_at] == [
        FIRST_FLUSH_SECONDS,
        1 + FIRST_FLUSH_SECONDS,
    ]
    harness.pump.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
