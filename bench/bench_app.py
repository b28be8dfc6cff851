"""App-level benchmark: the real FlowviewApp against the real bundled server over loopback.

Run: ``uv run python bench/bench_app.py`` (all scenarios, 3 runs each; about 5 minutes)
     ``uv run python bench/bench_app.py --only burst --runs 5``
     ``uv run python bench/bench_app.py --only burst --profile /tmp/app``  (cProfile the app)
     ``uv run python bench/bench_app.py --only burst --burst-shown-only --before /tmp/old``
     (side by side with the flowview package of another tree, e.g. ``git archive main flowview``
     unpacked in /tmp/old; rounds alternate which app goes first)

Issue 5 targets in brackets.  Every figure comes from a separate app process (the benchmark
process only drives it), and the server always runs in a process of its own
(``spawn_server_process``), so app and server do not share a GIL:

1. startup [< 0.5 s]: from just before ``Popen(python -m flowview)`` (a saved throwaway
   profile pointing at a running server) or ``python -m flowview demo`` to the main screen's
   first painted frame.  The app writes that moment to the file named by
   FLOWVIEW_BENCH_FIRST_FRAME (a hook in ``flowview/tui/app.py``).  Headless (Textual's
   HeadlessDriver via TEXTUAL_DRIVER) and in a real terminal (tmux, 120x40).  "warm" runs have
   a bytecode cache (as any installed package does; kept in a private PYTHONPYCACHEPREFIX so
   the tree is not touched), "cold" runs compile every module first (as happens in a sandbox
   with PYTHONDONTWRITEBYTECODE=1 and no __pycache__).  Plus ``python -X importtime``'s top
   offenders.
2. burst [< 0.3 s, issue 9]: 10,000 events published by ``POST /_sim/burst`` into the shown
   flow, and spread over 10 flows.  The app process is stopped (SIGSTOP) while the server
   generates the burst and resumed afterwards, so the figure excludes the server's generation
   time: it runs from the first burst event reaching the app's router to the moment the shown
   FlowLog has painted the newest message of its flow *and* all 10,000 events are routed.
   ("live": the same without stopping, from the POST; it includes the server's generation.)
3. sustained [stall p99 < 50 ms, keys < 100 ms]: the server's simulator at 1,000 events/s
   (mixed event types) for two phases of 10 s: the stream alone, with a task in the app's loop
   measuring the lateness of ``asyncio.sleep(0.01)``; then ctrl+n sent through the driver
   every 0.4-0.6 s, timed until the newly shown tab has painted (its stalls reported too).
4. store [< 150 MB]: 100,000 messages (one burst over 10 flows, 10,000 each); VmRSS and VmHWM
   of the app process from /proc/self/status.
5. switch [< 100 ms]: ctrl+n to each tab holding 10,000 messages (never shown before), timed
   until that tab has painted its newest message; then a second round (already laid out).
   The table shows the slowest switch of each run (median over runs).

Apps run headless through ``App.run_test`` at 120x40 in the child processes (except startup,
which runs the real ``python -m flowview``).  Results go to bench/results/app.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "app.json"
SIZE = (120, 40)
WARM_PYCACHE = Path(tempfile.gettempdir()) / "flowview-bench-pycache"
FIRST_FRAME_ENV = "FLOWVIEW_BENCH_FIRST_FRAME"  # flowview.tui.app.FIRST_FRAME_ENV
HEADLESS_DRIVER = "textual.drivers.headless_driver:HeadlessDriver"
TMUX_SOCKET = f"flowview-bench-{os.getpid()}"
BURST_RE = re.compile(r"burst \d+/\d+:")

TARGETS = {
    "startup_s": 0.5,
    "burst_s": 0.3,  # issue 9 §5 (issue 5 asked < 0.5 s)
    "stall_p99_ms": 50.0,
    "key_ms": 100.0,
    "rss_mb": 150.0,
    "switch_ms": 100.0,
}


# ============================================================================ child side
# The app under test runs in a child process: `bench_app.py --child SCENARIO ...`.  It
# reports JSON lines on stdout; times are time.monotonic() (system-wide on Linux), so the
# parent can compare them with its own.


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB, and RSS's anonymous and file-backed parts."""
    out: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[name] = int(rest.split()[0]) / 1024
    return out


def cpu_mark() -> tuple[float, float, float]:
    """CPU seconds of this thread and of the process, and the process's minor page faults so
    far: on this VM a first touch of a page costs about 4 us of (kernel) CPU, and a burst's
    new objects take thousands of pages."""
    import resource

    return (time.thread_time(), time.process_time(), resource.getrusage(0).ru_minflt)


class Probe:
    """Instrumentation around one FlowviewApp: burst arrival, routing and painted rows."""

    def __init__(self, app: Any) -> None:
        from flowview.protocol.events import MessageEvent

        self.app = app
        self.expect = 0
        self.burst_seen = 0
        self.first: float | None = None
        self.all_routed: float | None = None
        self.painted: dict[str, float] = {}  # "burst k/n:" -> first time a row showed it
        # CPU seconds (main thread, whole process) at those moments: on a busy machine the
        # wall-clock figure mostly measures the neighbours; CPU time much less.
        self.cpu: dict[str, tuple[float, float, float]] = {}
        self.spied: set[int] = set()
        self.paint_hooks: list[Callable[[Any, str], None]] = []
        # CPU seconds spent in: routing (handle_item), flushes (labels, FlowLog index), and
        # Textual's layout + compositor (the paint); the rest is the client and the loop.
        self.spent = {"route": 0.0, "flush": 0.0, "paint": 0.0, "gc": 0.0}
        self.counts = {"flushes": 0, "frames": 0, "collections": 0, "full_collections": 0}
        counts = self.counts
        self._gc_started = 0.0
        # The cyclic GC's pauses in CPU time of the collecting thread (they hold the GIL),
        # also counted inside whichever share above was running.
        import gc

        gc.callbacks.append(self._gc_callback)
        # The app's stream pump routes and flushes; one app per child process, so the pump's
        # class is instrumented (the pump itself is made when the session starts).
        from flowview.tui.stream_pump import StreamPump

        original = StreamPump.handle_item
        spent = self.spent
        clock = time.perf_counter

        def handle_item(pump: StreamPump, item: object) -> None:
            start = clock()
            original(pump, item)
            spent["route"] += clock() - start
            if (
                type(item) is MessageEvent
                and item.content.__class__ is str
                and item.content.startswith("burst ")
            ):
                now = time.monotonic()
                self.burst_seen += 1
                if self.first is None:
                    self.first = now
                    self.cpu["first"] = cpu_mark()
                if self.burst_seen == self.expect:
                    self.all_routed = now
                    self.cpu["all_routed"] = cpu_mark()

        StreamPump.handle_item = handle_item  # type: ignore[method-assign]
        batched = getattr(StreamPump, "handle_batch", None)
        if batched is not None:
            # A pump that routes runs of events (handle_batch): the run is timed, and the
            # burst's first event counts from the start of its run (a little early).
            def handle_batch(pump: StreamPump, items: Any) -> None:
                began = (time.monotonic(), *cpu_mark())
                start = clock()
                batched(pump, items)
                spent["route"] += clock() - start
                for item in items:
                    if (
                        type(item) is MessageEvent
                        and item.content.__class__ is str
                        and item.content.startswith("burst ")
                    ):
                        self.burst_seen += 1
                        if self.first is None:
                            self.first = began[0]
                            self.cpu["first"] = began[1:]
                if self.burst_seen == self.expect and self.all_routed is None:
                    self.all_routed = time.monotonic()
                    self.cpu["all_routed"] = cpu_mark()

            StreamPump.handle_batch = handle_batch  # type: ignore[method-assign,assignment]
        flush = StreamPump.flush_now

        async def flush_updates(pump: StreamPump, **kw: Any) -> None:
            start = clock()
            await flush(pump, **kw)
            spent["flush"] += clock() - start
            counts["flushes"] += 1

        StreamPump.flush_now = flush_updates  # type: ignore[method-assign]
        self._time_client(clock)
        self.renders: dict[str, list[float]] = {}
        self._count_renders(clock)
        from textual.screen import Screen

        depth = [0]  # _refresh_layout calls _compositor_refresh: count the outer call only

        for name in ("_compositor_refresh", "_refresh_layout"):
            method = getattr(Screen, name)

            def timed(screen: Any, *a: Any, _method: Any = method, **k: Any) -> Any:
                depth[0] += 1
                start = clock()
                try:
                    return _method(screen, *a, **k)
                finally:
                    depth[0] -= 1
                    if not depth[0]:
                        spent["paint"] += clock() - start
                        counts["frames"] += 1

            setattr(Screen, name, timed)

    def _time_client(self, clock: Callable[[], float]) -> None:
        """The stream client's shares, timed per chunk (about 110 calls a burst, so the timing
        costs little): "frame" the event-stream framing (SSEDecoder.feed_data), "decode" the
        JSON (Connection._from_sse less the framing it does not do), "accept" typed events and
        dedupe (Connection._accept).  What is left of the main thread's CPU is the HTTP stack
        (httpx, httpcore, h11), the queue and the event loop.  Trees without these methods
        (older ones) are not timed: their figures stay 0."""
        spent = self.spent
        for name in ("frame", "decode", "accept"):
            spent[name] = 0.0
        try:
            from flowview.protocol.connection import Connection
            from flowview.protocol.sse import SSEDecoder
        except ImportError:
            return

        def timed(owner: Any, method: str, share: str) -> None:
            original = getattr(owner, method, None)
            if original is None:
                return

            def wrapper(*a: Any, **k: Any) -> Any:
                start = clock()
                try:
                    return original(*a, **k)
                finally:
                    spent[share] += clock() - start

            setattr(owner, method, wrapper)

        timed(SSEDecoder, "feed_data", "frame")
        timed(Connection, "_from_sse", "decode")
        timed(Connection, "_accept", "accept")

    def _count_renders(self, clock: Callable[[], float]) -> None:
        """Which widgets render during the burst, and their CPU (render_lines: the
        compositor's call per widget and frame): anything besides the shown FlowLog and its
        scrollbar is what the flushes touched."""
        from textual.widget import Widget

        render_lines = Widget.render_lines
        renders = self.renders

        def counted(widget: Any, crop: Any) -> Any:
            start = clock()
            try:
                return render_lines(widget, crop)
            finally:
                row = renders.setdefault(type(widget).__name__, [0, 0.0])
                row[0] += 1
                row[1] += clock() - start

        Widget.render_lines = counted  # type: ignore[method-assign]

    def _gc_callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
            return
        self.spent["gc"] += time.thread_time() - self._gc_started
        self.counts["collections"] += 1
        if info.get("generation") == 2:
            self.counts["full_collections"] += 1

    def spy(self, log: Any) -> None:
        """Record when `log` paints rows (every FlowLog of the main screen gets one)."""
        if id(log) in self.spied:
            return
        self.spied.add(id(log))
        original = log.render_line

        def render_line(y: int) -> Any:
            strip = original(y)
            text = strip.text
            if "burst " in text:
                match = BURST_RE.search(text)
                if match is not None and match.group() not in self.painted:
                    self.painted[match.group()] = time.monotonic()
                    self.cpu[match.group()] = cpu_mark()
            for hook in self.paint_hooks:
                hook(log, text)
            return strip

        log.render_line = render_line

    def spy_all(self) -> None:
        main = self.app.main
        for key in main.keys_in_order():
            log = main.log_for(key)
            if log is not None:
                self.spy(log)

    def reset(self, expect: int) -> None:
        for name in self.spent:
            self.spent[name] = 0.0
        for name in self.counts:
            self.counts[name] = 0
        self.renders.clear()
        self.expect = expect
        self.burst_seen = 0
        self.first = None
        self.all_routed = None
        self.painted.clear()
        self.cpu.clear()


class LagMonitor:
    """Lateness of asyncio.sleep(0.01) ticks in the app's own event loop."""

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.ticks: list[tuple[float, float]] = []  # (monotonic start, lateness in s)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        clock = time.monotonic
        while True:
            start = clock()
            await asyncio.sleep(self.tick)
            self.ticks.append((start, max(0.0, clock() - start - self.tick)))

    def start(self) -> None:
        self.ticks = []
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> list[tuple[float, float]]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.ticks


def lag_summary(ticks: list[tuple[float, float]], since: float = 0.0) -> dict[str, float]:
    """p50/p99/max of the ticks that started at or after `since` (a tick spanning a SIGSTOP
    would measure the stop, not the app)."""
    ordered = sorted(lag for start, lag in ticks if start >= since)
    if not ordered:
        return {"ticks": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    return {
        "ticks": len(ordered),
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


async def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def settle(app: Any, quiet: float = 0.5, timeout: float = 60.0) -> None:
    """Wait until no event has been routed for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last = -1
    since = time.monotonic()
    while time.monotonic() < deadline:
        if app.events_routed != last:
            last, since = app.events_routed, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(0.02)


async def press_and_time(
    app: Any, probe: Probe, key: str = "ctrl+n", newest_row: bool = True
) -> dict[str, Any]:
    """Send `key` through the driver (as a terminal would); time until the next tab painted.

    Returns the times from sending to the first row the newly shown FlowLog paints, and
    (`newest_row`) to it painting a row with the newest message's text."""
    from textual import events

    main = app.main
    keys = main.keys_in_order()
    current = main.active_key
    target = keys[(keys.index(current) + 1) % len(keys)] if current in keys else keys[0]
    log = main.log_for(target)
    probe.spy(log)
    store = app.stores().get(target)
    newest = store.messages[-1].text[:30] if newest_row and store is not None and store else None
    marks: dict[str, float] = {}

    def on_paint(painted_log: Any, text: str) -> None:
        if painted_log is not log or "t0" not in marks:
            return
        marks.setdefault("first_row", time.monotonic())
        if newest is None or newest in text:
            marks.setdefault("newest", time.monotonic())

    probe.paint_hooks.append(on_paint)
    try:
        marks["t0"] = time.monotonic()
        event = events.Key(key, None)
        event.set_sender(app)
        app._driver.send_message(event)
        await wait_for(lambda: "newest" in marks, 10.0, f"tab {target} to paint")
    finally:
        probe.paint_hooks.remove(on_paint)
    assert main.active_key == target
    t0 = marks["t0"]
    return {
        "first_row_ms": (marks["first_row"] - t0) * 1000,
        "newest_ms": (marks["newest"] - t0) * 1000,
        "messages": len(store) if store is not None else 0,
        "layout_complete": bool(log.layout_complete),
    }


async def child_burst(app: Any, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    probe.reset(args.count)
    monitor = LagMonitor()
    monitor.start()
    import flowview

    emit({"ready": True, "pid": os.getpid(), "flowview": str(Path(flowview.__file__).parent)})
    await wait_for(lambda: probe.all_routed is not None, 120.0, "the burst to be routed")
    key = app.main.active_key
    store = app.stores()[key]
    newest = BURST_RE.search(store.messages[-1].text)
    assert newest is not None, "the shown flow got no burst message"
    await wait_for(lambda: newest.group() in probe.painted, 30.0, "the newest row to paint")
    ticks = await monitor.stop()
    shown = max(probe.painted[newest.group()], probe.all_routed or 0.0)
    cpu_end = max(probe.cpu[newest.group()], probe.cpu["all_routed"])
    return {
        "cpu_main_s": cpu_end[0] - probe.cpu["first"][0],
        "cpu_process_s": cpu_end[1] - probe.cpu["first"][1],
        "page_faults": cpu_end[2] - probe.cpu["first"][2],
        "first": probe.first,
        "all_routed": probe.all_routed,
        "shown": shown,
        "stored_in_shown": len(store),
        "ticks": ticks,
        "spent": dict(probe.spent),
        "counts": dict(probe.counts),
        "renders": {name: list(row) for name, row in probe.renders.items()},
    }


async def child_sustained(app: Any, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    """Two phases of `args.seconds` each under the server's sustained traffic: the stream
    alone (the loop-stall figure), then with ctrl+n every 0.4-0.6 s (key latency; the loop
    stalls of that phase are reported too: each switch lays out and repaints the screen)."""
    import random

    rng = random.Random(1)
    emit({"ready": True, "pid": os.getpid()})
    phases: dict[str, Any] = {}
    for phase in ("stream", "keys"):
        monitor = LagMonitor()
        routed0 = app.events_routed
        cpu0 = time.process_time()
        presses: list[dict[str, Any]] = []
        start = time.monotonic()
        monitor.start()
        while time.monotonic() - start < args.seconds:
            if phase == "stream":
                await asyncio.sleep(0.1)
                continue
            await asyncio.sleep(rng.uniform(0.4, 0.6))
            presses.append(await press_and_time(app, probe, newest_row=False))
        elapsed = time.monotonic() - start
        result: dict[str, Any] = {
            "seconds": elapsed,
            "events_per_s": (app.events_routed - routed0) / elapsed,
            "cpu_percent": (time.process_time() - cpu0) / elapsed * 100,
            "stall": lag_summary(await monitor.stop()),
        }
        if presses:
            key_ms = sorted(p["first_row_ms"] for p in presses)
            result |= {
                "keys": len(key_ms),
                "key_p50_ms": key_ms[len(key_ms) // 2],
                "key_p99_ms": key_ms[min(len(key_ms) - 1, int(len(key_ms) * 0.99))],
                "key_max_ms": key_ms[-1],
            }
        phases[phase] = result
    return phases | {"tabs": len(app.main.keys_in_order())}


async def child_store(app: Any, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    import gc

    probe.reset(args.count)
    before = proc_status()
    emit({"ready": True, "pid": os.getpid()})
    await wait_for(lambda: probe.all_routed is not None, 300.0, "the burst to be routed")
    await settle(app, quiet=0.5)
    gc.collect()
    stores = app.stores()
    loaded = proc_status()
    flows = [k for k in app.main.keys_in_order() if k[0] == "flow"]
    counts = [len(stores[k]) for k in flows]
    first_round = []
    for _ in range(len(flows) - 1):
        first_round.append(await press_and_time(app, probe))
        await asyncio.sleep(0.3)  # let the lazy layout of older lines and history finish
    second_round = []
    for _ in range(len(flows)):
        second_round.append(await press_and_time(app, probe))
        await asyncio.sleep(0.1)
    await settle(app, quiet=0.5)
    gc.collect()
    after = proc_status()
    return {
        "stored": sum(len(s) for s in stores.values()),
        "per_flow": counts,
        "rss_before_mb": before["VmRSS"],
        "rss_loaded_mb": loaded["VmRSS"],
        "rss_after_switches_mb": after["VmRSS"],
        "hwm_mb": after["VmHWM"],
        "switch_first": first_round,
        "switch_again": second_round,
    }


# The key cycle of issue 8's memory report: thread view, help, palette, presence, next flow,
# members; each opened thing is closed again.
SOAK_KEYS = ("t", "escape", "f1", "escape", "ctrl+k", "escape", "f2", "ctrl+n", "f4", "f4")


async def child_soak(app: Any, probe: Probe, args: argparse.Namespace) -> dict[str, Any]:
    """The server's simulator at `--rate` for `args.seconds`, the key cycle every `--cycle`
    seconds, RSS sampled every 10 s (with toasts shown: run_test(notifications=True))."""
    from textual import events

    emit({"ready": True, "pid": os.getpid()})
    if args.writer_cache_kib:
        # An experiment for the archive's owner, not the app's setting: the archive writer's
        # page cache (32 MiB in flowview/archive/writer.py) set smaller on its connection.
        session = app.session
        archive = session.archive.archive if session is not None else None
        if archive is not None and archive.writer is not None:
            pragma = f"PRAGMA cache_size=-{int(args.writer_cache_kib)}"
            archive.writer.call(lambda conn: conn.execute(pragma)).result(30)
    tracer = MemoryTracer([int(n) for n in args.trace.split(",")]) if args.trace else None
    samples: list[dict[str, float]] = []
    start = time.monotonic()
    next_sample = start
    next_cycle = start + 5.0
    cycles = 0
    while (now := time.monotonic()) - start < args.seconds:
        if now >= next_cycle:
            next_cycle += args.cycle
            cycles += 1
            for key in SOAK_KEYS:
                event = events.Key(key, None)
                event.set_sender(app)
                app._driver.send_message(event)
                await asyncio.sleep(0.3)
        if now >= next_sample:
            next_sample += 10.0
            status = proc_status()
            samples.append(
                {
                    "t": now - start,
                    "rss_mb": status["VmRSS"],
                    "stored": float(sum(len(s) for s in app.stores().values())),
                    # every message held at some point (the archive has them all); the
                    # memory budget (model/budget.py) keeps `stored` near its total
                    "received": float(sum(len(s) + s.dropped for s in app.stores().values())),
                    "trimmed": float(app.session.budget.trimmed),
                    "cached_rows": float(
                        sum(w.cached_messages for w in app.main.query("FlowLog"))  # type: ignore[attr-defined]
                    ),
                    "widgets": float(len(list(app.screen.walk_children()))),
                    "budget": float(app.session.budget.total),
                    "toasts": float(len(app.screen.query("Toast"))),
                    "screens": float(len(app.screen_stack)),
                    "routed": float(app.events_routed),
                    **native_memory(app),
                }
            )
        if tracer is not None:
            tracer.maybe_snapshot(app)
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # let the last cycle's keys be handled before the app stops
    result = {"samples": samples, "cycles": cycles, "hwm_mb": proc_status()["VmHWM"]}
    result["census"] = census(app)
    if tracer is not None:
        result["trace"] = tracer.report()
    return result


def sqlite_memory_mb() -> float:
    """Bytes SQLite holds in this process (page caches, FTS buffers), in MB; NaN when the
    sqlite3 module's library cannot be asked (it is the system's libsqlite3 on Linux)."""
    import ctypes

    try:
        lib = ctypes.CDLL("libsqlite3.so.0")
    except OSError:
        return float("nan")
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return float(lib.sqlite3_memory_used()) / 2**20


def native_memory(app: Any) -> dict[str, float]:
    """What the archive holds beside the Python heap: SQLite's memory and the writer queue."""
    session = app.session
    archive = session.archive.archive if session is not None else None
    writer = archive.writer if archive is not None else None
    return {
        "sqlite_mb": sqlite_memory_mb(),
        "archive_queue": float(writer.pending if writer is not None else -1),
    }


def deep_size(root: object, seen: set[int]) -> int:
    """Bytes held by `root` and what it reaches that `seen` does not hold yet (types, modules
    and functions are not followed: they are shared)."""
    import gc
    import types

    skip = (type, types.ModuleType, types.FunctionType, types.MethodType)
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def census(app: Any) -> dict[str, float]:
    """MB held by the app's big structures at the end of a soak, each counted once in this
    order (a message held by the stores is not counted again by a view), and pymalloc's
    arena totals (how much of the Python heap is free space inside arenas)."""
    import gc

    from flowview.tui.widgets.flow_log import FlowLog

    session = app.session
    if session is None:
        return {}
    router = session.router
    seen: set[int] = set()
    # Shared, long-lived objects first, so that no figure below counts them.
    deep_size(router.users, seen)
    deep_size(router.flows, seen)
    out: dict[str, float] = {}
    out["stores"] = deep_size(router.stores, seen) / 2**20
    logs = [w for w in app.main.query(FlowLog)]
    out["flow_logs"] = float(len(logs))
    out["line_indexes"] = sum(deep_size(w._index, seen) for w in logs) / 2**20
    out["strip_caches"] = sum(deep_size(w._cache, seen) for w in logs) / 2**20
    client = app.client
    dedupe = getattr(client, "_dedupe", None)
    out["deduper"] = deep_size(dedupe, seen) / 2**20 if dedupe is not None else -1.0
    gc.collect()
    out["gc_objects"] = float(len(gc.get_objects()))
    out["sqlite"] = sqlite_memory_mb()
    out.update(pymalloc_stats())
    out["rss"] = proc_status()["VmRSS"]
    return out


def pymalloc_stats() -> dict[str, float]:
    """Arena totals from sys._debugmallocstats() (it writes to the C stderr)."""

    with tempfile.TemporaryFile(mode="w+") as capture:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read()
    keys = {
        "# arenas allocated current": "pymalloc_arenas",
        "# bytes in allocated blocks": "pymalloc_used_mb",
        "# bytes in available blocks": "pymalloc_free_mb",
    }
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        key = keys.get(name.strip())
        if key is not None:
            number = float(value.strip().replace(",", ""))
            out[key] = number if key == "pymalloc_arenas" else number / 2**20
    return out


class MemoryTracer:
    """Where memory goes while the stores fill (`--trace A,B`): tracemalloc runs from A to B
    messages stored (tracing the whole run would slow the app several times over), so the
    snapshot at B holds what was allocated in between and is still alive, by source line;
    gc object counts by type at A and B.  `report()` gives both per stored message added."""

    def __init__(self, at: list[int]) -> None:
        self.at = sorted(at)[:2]
        self.snapshot: Any = None
        self.types: list[dict[str, int]] = []
        self.sizes: list[dict[str, int]] = []
        self.stored: list[int] = []

    def maybe_snapshot(self, app: Any) -> None:
        import gc
        import tracemalloc

        step = len(self.stored)
        if step >= len(self.at):
            return
        # Messages received (held now or let go by the caps and the memory budget), so
        # that a trace can start after the budget is full.
        stored = sum(len(s) + s.dropped for s in app.stores().values())
        if stored < self.at[step]:
            return
        # The app's GcPolicy freezes survivors, and gc.get_objects() skips frozen objects:
        # unfreeze to count them (the collection below freezes the survivors again).
        # Count what is alive, not garbage waiting for a collection; then unfreeze, since
        # the app's GcPolicy freezes the survivors of a full collection and gc.get_objects()
        # skips frozen objects.
        gc.unfreeze()
        gc.collect()
        gc.unfreeze()
        counts: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for obj in gc.get_objects():
            name = type(obj).__qualname__
            counts[name] = counts.get(name, 0) + 1
            sizes[name] = sizes.get(name, 0) + sys.getsizeof(obj)
        self.sizes.append(sizes)
        self.types.append(counts)
        self.stored.append(stored)
        if os.environ.get("BENCH_TRACE_TYPES_ONLY"):
            # Object counts only: tracemalloc's own bookkeeping grows with what it traces
            # and would hide a slow growth.
            self.snapshot = step != 0
        elif step == 0:
            tracemalloc.start(1)
        else:
            self.snapshot = tracemalloc.take_snapshot()
            tracemalloc.stop()

    def report(self, top: int = 40) -> dict[str, Any]:
        if self.snapshot is None:
            return {"error": f"stored {self.stored}: the second count was never reached"}
        grown = self.stored[1] - self.stored[0]
        if self.snapshot is True:
            t0, t1 = self.types
            b0, b1 = self.sizes
            return {
                "stored": self.stored,
                "gc_types": sorted(
                    (f"{t1.get(k, 0) - t0.get(k, 0):+8d} {k}" for k in set(t0) | set(t1)),
                    key=lambda line: -int(line.split()[0]),
                )[:top],
                "gc_bytes": sorted(
                    (
                        f"{(b1.get(k, 0) - b0.get(k, 0)) / 2**20:+8.2f} MB {k}"
                        for k in set(b0) | set(b1)
                    ),
                    key=lambda line: -float(line.split()[0]),
                )[:top],
            }
        by_line = self.snapshot.statistics("lineno")
        by_file = self.snapshot.statistics("filename")
        total = sum(s.size for s in by_line)
        t0, t1 = self.types
        type_growth = sorted(
            ((t1.get(k, 0) - t0.get(k, 0), k) for k in set(t0) | set(t1)), reverse=True
        )
        return {
            "stored": self.stored,
            "traced_bytes": total,
            "bytes_per_stored": total / grown if grown else float("nan"),
            "by_line": [
                f"{s.size / grown:8.1f} B/msg {s.count:8d} {s.traceback}" for s in by_line[:top]
            ],
            "by_file": [f"{s.size / grown:8.1f} B/msg {s.traceback}" for s in by_file[:top]],
            "gc_types": [f"{n:+8d} {k}" for n, k in type_growth[:top]],
            "gc_bytes": [
                f"{n / 2**20:+8.2f} MB {k}"
                for n, k in sorted(
                    (
                        (self.sizes[1].get(k, 0) - self.sizes[0].get(k, 0), k)
                        for k in set(self.sizes[0]) | set(self.sizes[1])
                    ),
                    reverse=True,
                )[:top]
            ],
        }


CHILD_SCENARIOS = {
    "burst": child_burst,
    "sustained": child_sustained,
    "store": child_store,
    "soak": child_soak,
}


def child_settings(args: argparse.Namespace) -> Any:
    """A child app's Settings: the parent's server (child_env) and flows, no auto-idle;
    BENCH_MEMORY_MESSAGES sets the memory budget for comparison runs."""
    from flowview.config import Settings

    return Settings(
        stream_url=os.environ["FLOWDOCK_STREAM_URL"],
        api_url=os.environ["FLOWDOCK_API_URL"],
        flows=args.flows.split(","),
        private=True,
        auto_idle_minutes=0,
        memory_messages=int(os.environ.get("BENCH_MEMORY_MESSAGES", Settings.memory_messages)),
    )


async def child_main(args: argparse.Namespace) -> None:
    from flowview.protocol.auth import Token
    from flowview.tui.app import FlowviewApp

    settings = child_settings(args)
    app = FlowviewApp(settings, Token(os.environ["FLOWDOCK_TOKEN"]))
    probe = Probe(app)
    profiler = None
    # Toasts are part of what the soak measures; the other scenarios run without them.
    async with app.run_test(size=SIZE, notifications=args.child == "soak") as pilot:
        await wait_for(
            lambda: (
                app.session is not None
                and app.main.status.state == "live"
                and len(app.main.keys_in_order()) >= len(settings.flows)
                and app.main.active_key in app._history_loaded
            ),
            60.0,
            "the app to go live",
        )
        await settle(app, quiet=0.3, timeout=3.0)  # never quiet under sustained traffic
        await pilot.pause()
        probe.spy_all()
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        result = await CHILD_SCENARIOS[args.child](app, probe, args)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        emit({"result": result})


# ============================================================================ parent side


def child_env(*, warm: bool = True, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(FIRST_FRAME_ENV, None)
    env.pop("TEXTUAL_DRIVER", None)
    if warm:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(WARM_PYCACHE)
    else:
        # An empty private cache and no writing: every module is compiled from source.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="flowview-bench-cold-")
    env.update(extra)
    return env


class Server:
    """The bundled server in its own process."""

    def __init__(self, *, flows: int, rate: float) -> None:
        from flowview.server.runner import ServerOptions, spawn_server_process

        self.process = spawn_server_process(
            ServerOptions(flows=flows, rate=rate, users=8, seed=1, keepalive=30.0),
            stderr=subprocess.DEVNULL,
        )
        self.slugs = asyncio.run(self._joined_flows())

    async def _joined_flows(self) -> list[str]:
        from flowview.protocol.auth import Token
        from flowview.protocol.rest import RestClient

        rest = RestClient(self.process.api_url, Token(self.process.token))
        try:
            return [f.slug for f in await rest.flows() if f.joined]
        finally:
            await rest.aclose()

    def env(self) -> dict[str, str]:
        return {
            "FLOWDOCK_STREAM_URL": self.process.stream_url,
            "FLOWDOCK_API_URL": self.process.api_url,
            "FLOWDOCK_TOKEN": self.process.token,
        }

    def burst(self, count: int, flow: str | None = None) -> dict[str, Any]:
        import httpx

        body: dict[str, Any] = {"count": count}
        if flow is not None:
            body["flow"] = flow
        response = httpx.post(
            f"{self.process.base_url}/_sim/burst",
            json=body,
            headers=self.process.control_headers,
            timeout=300,
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def stop(self) -> None:
        self.process.terminate()


class Child:
    """One app process running a CHILD_SCENARIOS entry."""

    def __init__(
        self, scenario: str, server: Server, *extra: str, profile: str = "", tree: str = ""
    ) -> None:
        """`tree`: import flowview from this source tree instead (a before/after comparison)."""
        argv = [sys.executable, __file__, "--child", scenario, "--flows", ",".join(server.slugs)]
        if profile:
            argv += ["--profile", profile]
        # The app writes its archive as it does for a user, but into a throwaway directory.
        self.data_dir = tempfile.mkdtemp(prefix="flowview-bench-data-")
        extra_env = {"PYTHONPATH": tree} if tree else {}
        self.proc = subprocess.Popen(
            [*argv, *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=child_env(warm=True, FLOWVIEW_DATA_DIR=self.data_dir, **server.env(), **extra_env),
            cwd=ROOT,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"child exited ({self.proc.wait()}) without reporting")
            line = line.strip()
            if line.startswith("{"):
                data: dict[str, Any] = json.loads(line)
                return data

    def close(self) -> None:
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------------- 1. startup


def write_profile(directory: Path, server: Server) -> None:
    """A saved setup (settings + 0600 token) in `directory`, pointing at `server`."""
    from flowview.config import CONFIG_DIR_ENV, Settings, save_settings, save_token
    from flowview.protocol.auth import Token

    previous = os.environ.get(CONFIG_DIR_ENV)
    os.environ[CONFIG_DIR_ENV] = str(directory)
    try:
        save_settings(
            Settings(
                stream_url=server.process.stream_url,
                api_url=server.process.api_url,
                flows=server.slugs,
            )
        )
        save_token(Token(server.process.token))
    finally:
        if previous is None:
            os.environ.pop(CONFIG_DIR_ENV, None)
        else:
            os.environ[CONFIG_DIR_ENV] = previous


def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                found += [int(p) for p in f.read().split()]
    return found


def _wait_file(path: Path, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            text = path.read_text()
            if text:
                return float(text)
        time.sleep(0.002)
    raise TimeoutError(f"no first frame within {timeout} s")


def _stop_app(pid: int, grace: float) -> None:
    """SIGTERM the app (it stops its demo server itself), then reap anything it left."""
    time.sleep(grace)
    children = _children_of(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
        time.sleep(0.01)
    for child in children:  # a demo server whose parent died before stopping it
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGINT)


def startup_once(argv: list[str], env: dict[str, str], where: str, grace: float) -> float:
    with tempfile.TemporaryDirectory(prefix="flowview-bench-ff-") as tmp:
        mark = Path(tmp) / "first-frame"
        env = dict(env, **{FIRST_FRAME_ENV: str(mark)})
        if where == "headless":
            env["TEXTUAL_DRIVER"] = HEADLESS_DRIVER
            t0 = time.time()
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                shown = _wait_file(mark, 30)
            finally:
                _stop_app(proc.pid, grace)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            return shown - t0
        # tmux: a real terminal (120x40).  The tmux server is already running, so only the
        # session (a fork) is added to the app's own start-up.
        unset = ["-u", "PYTHONDONTWRITEBYTECODE"] if "PYTHONDONTWRITEBYTECODE" not in env else []
        keep = [
            f"{k}={env[k]}"
            for k in (
                FIRST_FRAME_ENV,
                "PYTHONPYCACHEPREFIX",
                "PYTHONDONTWRITEBYTECODE",
                "FLOWVIEW_CONFIG_DIR",
                "TERM",
            )
            if k in env
        ]
        command = shlex.join(["env", *unset, *keep, *argv])
        session = f"app{int(time.time() * 1000) % 100000}"
        t0 = time.time()
        subprocess.run(
            [
                "tmux",
                "-L",
                TMUX_SOCKET,
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "120",
                "-y",
                "40",
                command,
            ],
            check=True,
            cwd=ROOT,
        )
        try:
            shown = _wait_file(mark, 30)
        finally:
            time.sleep(grace)
            subprocess.run(
                ["tmux", "-L", TMUX_SOCKET, "send-keys", "-t", session, "C-q"], check=False
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                alive = subprocess.run(
                    ["tmux", "-L", TMUX_SOCKET, "has-session", "-t", session],
                    capture_output=True,
                    check=False,
                )
                if alive.returncode != 0:
                    break
                time.sleep(0.05)
            else:
                subprocess.run(
                    ["tmux", "-L", TMUX_SOCKET, "kill-session", "-t", session], check=False
                )
        return shown - t0


def import_offenders(limit: int = 12) -> list[dict[str, Any]]:
    """`python -X importtime` of what `python -m flowview` imports before the first frame."""
    code = "import flowview.cli, flowview.tui.launch, flowview.tui.app"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    rows: list[dict[str, Any]] = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        rows.append(
            {
                "module": name.strip(),
                "self_ms": int(self_us.strip()) / 1000,
                "cumulative_ms": int(cumulative_us.strip()) / 1000,
                "depth": (len(name) - len(name.lstrip()) - 1) // 2,
            }
        )
    rows.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return rows[:limit]


def bench_startup(runs: int) -> dict[str, Any]:
    server = Server(flows=4, rate=2.0)
    profile = Path(tempfile.mkdtemp(prefix="flowview-bench-profile-"))
    write_profile(profile, server)
    results: dict[str, Any] = {}
    tmux = shutil.which("tmux") is not None
    try:
        if tmux:
            subprocess.run(
                [
                    "tmux",
                    "-L",
                    TMUX_SOCKET,
                    "new-session",
                    "-d",
                    "-s",
                    "keep",
                    "-x",
                    "120",
                    "-y",
                    "40",
                    "sleep 100000",
                ],
                check=True,
            )
        saved = [sys.executable, "-m", "flowview"]
        demo = [sys.executable, "-m", "flowview", "demo"]
        # Warm the private bytecode cache once (untimed).
        startup_once(saved, child_env(FLOWVIEW_CONFIG_DIR=str(profile)), "headless", 0.2)
        cases = [
            ("saved profile, headless, warm", saved, True, "headless"),
            ("demo, headless, warm", demo, True, "headless"),
            ("saved profile, headless, cold", saved, False, "headless"),
        ]
        if tmux:
            cases.insert(2, ("saved profile, tmux, warm", saved, True, "tmux"))
            cases.insert(3, ("demo, tmux, warm", demo, True, "tmux"))
        for label, argv, warm, where in cases:
            grace = 1.5 if argv is demo else 0.1
            times = []
            for _ in range(runs):
                env = child_env(warm=warm, FLOWVIEW_CONFIG_DIR=str(profile))
                times.append(startup_once(argv, env, where, grace))
                if not warm:
                    shutil.rmtree(env["PYTHONPYCACHEPREFIX"], ignore_errors=True)
            results[label] = {"median_s": median(times), "runs_s": times}
            print(f"  startup {label}: median {median(times):.3f} s  {fmt_runs(times, 's')}")
        results["importtime_top"] = import_offenders()
    finally:
        if tmux:
            subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-server"], check=False)
        server.stop()
        shutil.rmtree(profile, ignore_errors=True)
    return results


# ---------------------------------------------------------------------------- 2. burst


def burst_once(
    server: Server, spread: bool, paused: bool, profile: str = "", tree: str = ""
) -> dict[str, Any]:
    count = 10_000
    child = Child("burst", server, "--count", str(count), profile=profile, tree=tree)
    try:
        ready = child.read()
        pid = int(ready["pid"])
        imported = ready.get("flowview", "")
        flow = None if spread else server.slugs[0]  # the first tab is the shown one
        if paused:
            os.kill(pid, signal.SIGSTOP)
            t_post = time.monotonic()
            published = server.burst(count, flow)
            t_resume = time.monotonic()
            os.kill(pid, signal.SIGCONT)
        else:
            t_post = time.monotonic()
            published = server.burst(count, flow)
            t_resume = t_post
        result = child.read()["result"]
    finally:
        child.close()
    return {
        "flowview": imported,
        "cpu_main_s": result["cpu_main_s"],
        "cpu_process_s": result["cpu_process_s"],
        "page_faults": result.get("page_faults", 0),
        "total_s": result["shown"] - result["first"],
        "route_s": result["all_routed"] - result["first"],
        "from_resume_s": result["shown"] - t_resume,
        "from_post_s": result["shown"] - t_post,
        "server_generation_s": published.get("seconds"),
        "stored_in_shown": result["stored_in_shown"],
        "stall_max_ms": lag_summary(result["ticks"], since=t_resume)["max_ms"],
        "spent_s": result["spent"],
        "counts": result["counts"],
        "renders": result.get("renders", {}),
    }


def summarize_burst(label: str, rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Medians of burst runs, printed."""
    figures = [r[key] for r in rows]
    summary: dict[str, Any] = {
        "median_cpu_main_s": median([r["cpu_main_s"] for r in rows]),
        "median_cpu_process_s": median([r["cpu_process_s"] for r in rows]),
        "median_s": median(figures),
        "runs_s": figures,
        "median_route_s": median([r["route_s"] for r in rows]),
        "median_stall_max_ms": median([r["stall_max_ms"] for r in rows]),
        "runs": rows,
    }
    print(
        f"  burst 10,000 {label}: median {median(figures):.3f} s "
        f"(routing {median([r['route_s'] for r in rows]):.3f} s, longest stall "
        f"{median([r['stall_max_ms'] for r in rows]):.0f} ms)  {fmt_runs(figures, 's')}"
    )
    print(
        f"    CPU from the first event to the last row painted: main thread "
        f"{summary['median_cpu_main_s']:.3f} s, whole process "
        f"{summary['median_cpu_process_s']:.3f} s (medians); "
        f"{median([r.get('page_faults', 0) for r in rows]):.0f} page faults"
    )
    spent = {k: median([r["spent_s"][k] for r in rows]) for k in rows[0]["spent_s"]}
    summary["median_spent_s"] = spent
    counts = {k: median([r["counts"][k] for r in rows]) for k in rows[0]["counts"]}
    print(
        "    in the app: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in spent.items())
        + f" (the rest: stream client and event loop; gc inside the others); "
        f"{counts['flushes']:.0f} flushes (calls, incl. deferred), {counts['frames']:.0f} "
        f"frames, {counts.get('collections', 0):.0f} collections "
        f"({counts.get('full_collections', 0):.0f} full)"
    )
    return summary


def bench_burst(
    runs: int, profile: str = "", shown_only: bool = False, before: str = ""
) -> dict[str, Any]:
    """`before`: a source tree of flowview to compare with, side by side: each round runs
    both apps, alternating which goes first, so both see the same machine (its speed
    drifts); the results then hold "before" and "after" medians for each figure."""
    server = Server(flows=10, rate=0.0)
    results: dict[str, Any] = {}
    trees = [("before", before), ("after", "")] if before else [("", "")]
    try:
        for spread in (False,) if shown_only else (False, True):
            for paused in (True,) if shown_only else (True, False):
                label = ("spread over 10 flows" if spread else "into the shown flow") + (
                    "" if paused else " (live, incl. generation)"
                )
                rows: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
                for i in range(runs):
                    order = trees if i % 2 == 0 else trees[::-1]
                    for name, tree in order:
                        prof = (
                            f"{profile}.burst-{'spread' if spread else 'one'}-{name}{i}.prof"
                            if profile and paused
                            else ""
                        )
                        rows[name].append(burst_once(server, spread, paused, prof, tree))
                key = "total_s" if paused else "from_post_s"
                if not before:
                    results[label] = summarize_burst(label, rows[""], key)
                    continue
                results[label] = {
                    name: summarize_burst(f"{label} [{name}]", rows[name], key) for name, _ in trees
                }
                results[label]["before_tree"] = before
    finally:
        server.stop()
    return results


# ---------------------------------------------------------------------------- 3. sustained


def bench_sustained(runs: int, seconds: float, profile: str = "") -> dict[str, Any]:
    server = Server(flows=10, rate=1000.0)
    rows = []
    try:
        for i in range(runs):
            prof = f"{profile}.sustained-{i}.prof" if profile else ""
            child = Child("sustained", server, "--seconds", str(seconds), profile=prof)
            try:
                child.read()
                rows.append(child.read()["result"])
            finally:
                child.close()
            s, k = rows[-1]["stream"], rows[-1]["keys"]
            print(
                f"  sustained run {i + 1}: {s['events_per_s']:.0f} events/s, app CPU "
                f"{s['cpu_percent']:.0f} %; stream only: stall p99 {s['stall']['p99_ms']:.1f} "
                f"ms (max {s['stall']['max_ms']:.0f}); with ctrl+n every ~0.5 s: key p50 "
                f"{k['key_p50_ms']:.0f} ms, p99 {k['key_p99_ms']:.0f} ms ({k['keys']} presses), "
                f"stall p99 {k['stall']['p99_ms']:.1f} ms (max {k['stall']['max_ms']:.0f}), "
                f"{rows[-1]['tabs']} tabs"
            )
    finally:
        server.stop()

    def med(phase: str, *path: str) -> float:
        values = []
        for row in rows:
            value: Any = row[phase]
            for part in path:
                value = value[part]
            values.append(float(value))
        return median(values)

    return {
        "median_events_per_s": med("stream", "events_per_s"),
        "median_cpu_percent": med("stream", "cpu_percent"),
        "median_stall_p99_ms": med("stream", "stall", "p99_ms"),
        "median_stall_max_ms": med("stream", "stall", "max_ms"),
        "median_key_p50_ms": med("keys", "key_p50_ms"),
        "median_key_p99_ms": med("keys", "key_p99_ms"),
        "median_key_max_ms": med("keys", "key_max_ms"),
        "median_stall_p99_with_keys_ms": med("keys", "stall", "p99_ms"),
        "median_stall_max_with_keys_ms": med("keys", "stall", "max_ms"),
        "runs": rows,
    }


# ---------------------------------------------------------------------------- 4+5. store


def bench_store(runs: int, profile: str = "") -> dict[str, Any]:
    server = Server(flows=10, rate=0.0)
    rows = []
    try:
        for i in range(runs):
            prof = f"{profile}.store-{i}.prof" if profile else ""
            child = Child("store", server, "--count", "100000", profile=prof)
            try:
                child.read()
                server.burst(100_000)
                rows.append(child.read()["result"])
            finally:
                child.close()
            r = rows[-1]
            first = [s["newest_ms"] for s in r["switch_first"]]
            again = [s["newest_ms"] for s in r["switch_again"]]
            print(
                f"  store run {i + 1}: {r['stored']} stored, RSS {r['rss_loaded_mb']:.0f} MB "
                f"loaded, {r['rss_after_switches_mb']:.0f} MB after visiting every tab, peak "
                f"{r['hwm_mb']:.0f} MB; switch to a 10k tab: median {median(first):.0f} ms, "
                f"max {max(first):.0f} ms; again: median {median(again):.0f} ms, "
                f"max {max(again):.0f} ms"
            )
    finally:
        server.stop()
    first_all = [s["newest_ms"] for r in rows for s in r["switch_first"]]
    again_all = [s["newest_ms"] for r in rows for s in r["switch_again"]]
    return {
        "median_stored": median([r["stored"] for r in rows]),
        "median_rss_loaded_mb": median([r["rss_loaded_mb"] for r in rows]),
        "median_rss_after_switches_mb": median([r["rss_after_switches_mb"] for r in rows]),
        "median_hwm_mb": median([r["hwm_mb"] for r in rows]),
        "switch_first_median_ms": median(first_all),
        # the slowest switch of each run, median over runs (and the slowest of all)
        "switch_first_max_ms": median(
            [max(s["newest_ms"] for s in r["switch_first"]) for r in rows]
        ),
        "switch_first_worst_ms": max(first_all) if first_all else float("nan"),
        "switch_again_median_ms": median(again_all),
        "switch_again_max_ms": median(
            [max(s["newest_ms"] for s in r["switch_again"]) for r in rows]
        ),
        "switch_again_worst_ms": max(again_all) if again_all else float("nan"),
        "runs": rows,
    }


# ---------------------------------------------------------------------------- 6. soak


def soak_summary(samples: list[dict[str, float]], capacity: float) -> dict[str, float]:
    """RSS once the stores are full (`capacity` messages): its spread (max/min - 1) over the
    samples after that; NaN when they never filled.  Also MB per 10k stored messages (the
    slope while filling) and the spread over the last half, for context."""
    # Full: the memory budget has started trimming (or, for runs without one, the stores
    # hold `capacity` messages).
    full = [s for s in samples if s.get("trimmed", 0) > 0 or s["stored"] >= 0.98 * capacity]
    after = full[1:] if len(full) > 1 else []
    half = samples[len(samples) // 2 :] or samples
    first, last = samples[0], samples[-1]
    grown = last["stored"] - first["stored"]

    def spread(rows: list[dict[str, float]]) -> float:
        rss = [r["rss_mb"] for r in rows]
        return (max(rss) / min(rss) - 1) * 100 if rss else float("nan")

    end = last["t"]
    return {
        "capacity": capacity,
        "last_5min_spread_percent": spread([s for s in samples if s["t"] >= end - 300]),
        "filled_at_s": full[0]["t"] if full else float("nan"),
        "full_spread_percent": spread(after),
        "tail_spread_percent": spread(half),
        "mb_per_10k_stored": (last["rss_mb"] - first["rss_mb"]) / grown * 10_000
        if grown
        else float("nan"),
        "final_stored": last["stored"],
        "final_received": last.get("received", float("nan")),
        "received_at_peak_rss": max(samples, key=lambda r: r["rss_mb"]).get("received", 0.0),
        "max_toasts": max(s["toasts"] for s in samples),
    }


def bench_soak(
    seconds: float, rate: float, cycle: float, trace: str = "", writer_cache_kib: int = 0
) -> dict[str, Any]:
    server = Server(flows=10, rate=rate)
    extra = ["--trace", trace] if trace else []
    if writer_cache_kib:
        extra += ["--writer-cache-kib", str(writer_cache_kib)]
    try:
        child = Child(
            "soak",
            server,
            "--seconds",
            str(seconds),
            "--rate",
            str(rate),
            "--cycle",
            str(cycle),
            *extra,
        )
        try:
            child.read()
            result = child.read()["result"]
        finally:
            child.close()
    finally:
        server.stop()
    samples = result["samples"]
    for name, value in result.get("trace", {}).items():
        if isinstance(value, list):
            print(f"  trace {name}:")
            for line in value:
                print(f"    {line}")
        else:
            print(f"  trace {name}: {value}")
    for sample in samples:
        print(
            f"  t={sample['t']:5.0f} s  RSS {sample['rss_mb']:6.1f} MB  stored "
            f"{sample['stored']:7.0f}  received {sample.get('received', 0):7.0f}  toasts "
            f"{sample['toasts']:.0f}  screens "
            f"{sample['screens']:.0f}  SQLite {sample.get('sqlite_mb', float('nan')):5.1f} MB"
            f"  archive queue {sample.get('archive_queue', float('nan')):.0f}"
            f"  cached rows {sample.get('cached_rows', float('nan')):.0f}"
            f"  widgets {sample.get('widgets', float('nan')):.0f}"
        )
    for name, value in result.get("census", {}).items():
        print(f"  census {name}: {value:.1f}")
    # Without a memory budget the stores would fill at 10 flows x default scrollback.
    summary = soak_summary(samples, capacity=samples[-1].get("budget", 10 * 10_000))
    print(
        f"  stores full at {summary['filled_at_s']:.0f} s, RSS spread after that "
        f"{summary['full_spread_percent']:.1f} % (last half {summary['tail_spread_percent']:.1f}"
        f" %, last 5 minutes {summary['last_5min_spread_percent']:.1f} %); "
        f"{summary['mb_per_10k_stored']:.1f} MB per 10k stored; "
        f"{summary['final_stored']:.0f} stored of {summary['final_received']:.0f} received, "
        f"peak {result['hwm_mb']:.0f} MB, "
        f"{result['cycles']} key cycles, at most {summary['max_toasts']:.0f} toasts"
    )
    return {"seconds": seconds, "rate": rate, "cycle": cycle, **summary, **result}


# ---------------------------------------------------------------------------- report


def fmt_runs(values: list[float], unit: str) -> str:
    return "[" + ", ".join(f"{v:.3f}" if unit == "s" else f"{v:.0f}" for v in values) + "]"


def table(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, value: float, target: float | None, unit: str) -> None:
        """A row; `target` None marks a figure reported for context only."""
        shown = f"{value:.3f} s" if unit == "s" else f"{value:.0f} {unit}"
        if target is None:
            rows.append((name, shown, "(info)", "-"))
        else:
            rows.append((name, shown, f"< {target:g} {unit}", "yes" if value < target else "NO"))

    startup = results.get("startup", {})
    for label, data in startup.items():
        if isinstance(data, dict) and "median_s" in data:
            target = None if "cold" in label else TARGETS["startup_s"]
            add(f"startup to first frame ({label})", data["median_s"], target, "s")
    for label, data in results.get("burst", {}).items():
        target = None if "live" in label else TARGETS["burst_s"]
        if "after" in data:  # a side-by-side run (--before)
            add(f"burst 10,000 {label} [before]", data["before"]["median_s"], None, "s")
            data = data["after"]
        add(f"burst 10,000 {label}", data["median_s"], target, "s")
    sustained = results.get("sustained")
    if sustained:
        add(
            "1,000 msg/s: loop stall p99",
            sustained["median_stall_p99_ms"],
            TARGETS["stall_p99_ms"],
            "ms",
        )
        add(
            "1,000 msg/s + a tab switch every ~0.5 s: loop stall p99",
            sustained["median_stall_p99_with_keys_ms"],
            None,
            "ms",
        )
        add("1,000 msg/s: key press p99", sustained["median_key_p99_ms"], TARGETS["key_ms"], "ms")
    store = results.get("store")
    if store:
        add("100,000 stored: peak RSS", store["median_hwm_mb"], TARGETS["rss_mb"], "MB")
        add(
            "switch to a 10k tab (first time, slowest of a run)",
            store["switch_first_max_ms"],
            TARGETS["switch_ms"],
            "ms",
        )
        add(
            "switch to a 10k tab (again, slowest of a run)",
            store["switch_again_max_ms"],
            TARGETS["switch_ms"],
            "ms",
        )
    soak = results.get("soak")
    if soak:
        rate = f"{soak['rate']:.0f} msg/s + key cycle"
        # Issue 8's criterion: flat over the last 5 minutes once the stores are full.
        if soak.get("full_spread_percent", float("nan")) == soak.get("full_spread_percent"):
            add(f"soak {rate}: RSS spread, last 5 min", soak["last_5min_spread_percent"], 10.0, "%")
            add(f"soak {rate}: RSS spread once full", soak["full_spread_percent"], None, "%")
        else:
            rows.append(
                (f"soak {rate}: RSS spread, last 5 min", "stores never full", "< 10 %", "-")
            )
        add(f"soak {rate}: MB per 10k stored", soak["mb_per_10k_stored"], None, "MB")
        add(f"soak {rate}: messages received", soak["final_received"], None, "")
        add(f"soak {rate}: peak RSS", soak["hwm_mb"], TARGETS["rss_mb"], "MB")
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("figure", "median", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))


@contextlib.contextmanager
def section(name: str) -> Iterator[None]:
    print(f"{name} …", flush=True)
    start = time.monotonic()
    yield
    print(f"  ({time.monotonic() - start:.0f} s)", flush=True)


def calibrate() -> float:
    """Milliseconds for a fixed pure-Python loop (median of 3): how fast this machine is right
    now.  On a shared VM it drifts by ±25 % between runs; compare figures with it in mind."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


def parent_main(args: argparse.Namespace) -> None:
    only = set(args.only.split(",")) if args.only else {"startup", "burst", "sustained", "store"}
    results: dict[str, Any] = {
        "benchmark": "flowview app against the bundled server (bench/bench_app.py)",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": args.runs,
        "terminal": f"{SIZE[0]}x{SIZE[1]}",
        "targets": TARGETS,
        "calibration_loop_ms": calibrate(),
        "load_average": os.getloadavg(),  # 1, 5, 15 min: how busy the box was
    }
    print(
        f"Python {results['python']}, {results['cpus']} CPUs, {args.runs} runs per figure; "
        f"calibration loop {results['calibration_loop_ms']:.0f} ms, load average "
        f"{results['load_average'][0]:.1f}"
    )
    if "startup" in only:
        with section("startup"):
            results["startup"] = bench_startup(args.runs)
        print("  python -X importtime, top cumulative (warm):")
        for row in results["startup"]["importtime_top"]:
            print(f"    {row['cumulative_ms']:7.1f} ms  {'  ' * row['depth']}{row['module']}")
    if "burst" in only:
        with section("burst"):
            results["burst"] = bench_burst(
                args.runs, args.profile, args.burst_shown_only, args.before
            )
    if "sustained" in only:
        with section("sustained 1,000 events/s"):
            results["sustained"] = bench_sustained(args.runs, args.seconds, args.profile)
    if "store" in only:
        with section("100,000 stored messages, tab switches"):
            results["store"] = bench_store(args.runs, args.profile)
    if "soak" in only:
        with section(f"soak: {args.rate:.0f} msg/s, key cycle every {args.cycle:.0f} s"):
            results["soak"] = bench_soak(
                args.soak_seconds, args.rate, args.cycle, args.trace, args.writer_cache_kib
            )
    results["calibration_loop_ms_after"] = calibrate()
    results["load_average_after"] = os.getloadavg()
    rows = table(results)
    results["table"] = [
        dict(zip(("figure", "median", "target", "met"), r, strict=True)) for r in rows
    ]
    print()
    print_table(rows)
    output = Path(args.output)
    if args.only and output.exists():  # a partial run updates its sections only
        previous = json.loads(output.read_text())
        previous.update({k: v for k, v in results.items() if k != "table"})
        previous["table"] = [
            dict(zip(("figure", "median", "target", "met"), r, strict=True))
            for r in table(previous)
        ]
        results = previous
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--only", default="", help="comma list of startup,burst,sustained,store,soak"
    )
    parser.add_argument("--soak-seconds", type=float, default=600.0, help="soak duration")
    parser.add_argument("--rate", type=float, default=200.0, help="soak: simulator msg/s")
    parser.add_argument("--cycle", type=float, default=20.0, help="soak: key cycle period (s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="sustained duration")
    parser.add_argument(
        "--writer-cache-kib",
        type=int,
        default=0,
        help="soak, experiment: the archive writer's SQLite page cache in KiB (0: as shipped)",
    )
    parser.add_argument(
        "--burst-shown-only",
        action="store_true",
        help="burst: only the 10,000 events into the shown flow (app stopped meanwhile)",
    )
    parser.add_argument(
        "--before",
        default="",
        help="burst: a flowview source tree (the directory holding flowview/) to run side by "
        "side with this one, alternating rounds",
    )
    parser.add_argument(
        "--trace",
        default="",
        help="soak: tracemalloc snapshots at these received counts (e.g. 30000,60000); the "
        "growth between them by source line and type goes into the result (slows the app)",
    )
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--profile", default="", help="cProfile the app: path prefix of .prof")
    # internal: the app side
    parser.add_argument("--child", choices=sorted(CHILD_SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--flows", default="", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=10_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child_main(args))
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
