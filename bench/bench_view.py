"""Measure the flow view: burst, far edit, tab switch, memory.

Run: ``uv run python bench/bench_view.py`` (headless ``App.run_test``, 120x40).

Figures printed (issue 5 targets in brackets):
* burst: 10,000 message events parsed, routed, stored and on screen [< 0.5 s];
  also spread over 10 flows (1,000 each, one shown)
* far edit: a message 5,000 lines up edited; time and how many messages re-rendered
* switch: mount a FlowLog over a 10,000-message store, time to first frame [< 100 ms]
* memory: 100,000 StoredMessages via the router (tracemalloc), and process max RSS [< 150 MB]

"A frame" is ``await pilot.pause()``, which returns after the screen has been refreshed; its
idle cost (frame pacing of the test driver) is measured and printed alongside.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import time
import tracemalloc
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import TabbedContent, TabPane

from flowview.model.router import Router
from flowview.protocol.events import parse_event
from flowview.tui.widgets.flow_log import FlowLog

SIZE = (120, 40)
T0 = 1_772_528_400_000
TEXTS = [
    "ok",
    "deploying the new build to staging now, will report back in a few minutes",
    "@alice can you look at https://ci.example.org/builds/4242 when you have a moment? #ci",
    "lunch?",
    "I think the problem is the retry loop: it never backs off and hammers the API when the "
    "upstream is down, which is exactly what we saw on Tuesday night",
]


def raw_message(i: int, flow: str = "f0") -> dict[str, Any]:
    return {
        "event": "message",
        "id": i,
        "flow": flow,
        "user": str(1 + i % 7),
        "content": TEXTS[i % len(TEXTS)],
        "sent": T0 + i * 1000,
        "tags": [],
        "uuid": f"u{i}",
        "thread_id": f"thread{i // 3}",
        "attachments": [],
        "app": "chat",
    }


def make_router(flows: int = 1) -> Router:
    router = Router(me_id="1", me_nick="alice")
    router.add_users([{"id": str(u), "nick": f"user{u}"} for u in range(1, 8)])
    router.add_flows(
        [
            {"id": f"f{n}", "name": f"Flow {n}", "organization": "o", "parameterized_name": f"f{n}"}
            for n in range(flows)
        ]
    )
    for n in range(flows):
        router.open_flow(f"f{n}")
    return router


class Host(App[None]):
    def __init__(self, router: Router, key: tuple[str, str] = ("flow", "f0")) -> None:
        super().__init__()
        self.router = router
        self.key = key

    def compose(self) -> ComposeResult:
        with Vertical(id="box"):
            yield FlowLog(self.router.stores[self.key], self.router, id="log")


async def idle_frame(pilot: Any) -> float:
    samples = []
    for _ in range(5):
        t = time.perf_counter()
        await pilot.pause()
        samples.append(time.perf_counter() - t)
    return sorted(samples)[2]


async def bench_burst(flows: int) -> dict[str, float]:
    router = make_router(flows)
    app = Host(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        idle = await idle_frame(pilot)
        log = app.query_one(FlowLog)
        shown: list[float] = []
        original = log.render_line

        def spy(y: int) -> Any:
            strip = original(y)
            if not shown and strip.text.strip():
                shown.append(time.perf_counter())
            return strip

        log.render_line = spy  # type: ignore[method-assign]
        raws = [raw_message(i, f"f{i % flows}") for i in range(1, 10_001)]
        t0 = time.perf_counter()
        for raw in raws:
            router.route(parse_event(raw))
        t1 = time.perf_counter()
        log.refresh_from_store()
        t2 = time.perf_counter()
        while not shown:
            await asyncio.sleep(0.001)
        t3 = shown[0]
        assert log.at_bottom and log.total_rows >= 10_000 // flows
        assert "user" in log.render_line(SIZE[1] - 1).text or log.render_line(0).text
        return {
            "route_ms": (t1 - t0) * 1000,
            "index_ms": (t2 - t1) * 1000,
            "frame_ms": (t3 - t2) * 1000,
            "total_ms": (t3 - t0) * 1000,
            "idle_frame_ms": idle * 1000,
        }


async def bench_far_edit() -> dict[str, float]:
    router = make_router()
    for i in range(1, 10_001):
        router.route(parse_event(raw_message(i)))
    app = Host(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        rendered: list[int] = []
        original = log._render_message

        def spy(message: Any, ctx: Any, selected: bool) -> Any:
            rendered.append(message.seq)
            return original(message, ctx, selected)

        log._render_message = spy  # type: ignore[method-assign]
        idle = await idle_frame(pilot)
        target = router.stores[("flow", "f0")][10_000 - 5_000]
        edit = {
            "event": "message-edit",
            "flow": "f0",
            "id": 20_000,
            "user": "2",
            "content": {"message": target.id, "updated_content": "edited " * 40},
        }
        t0 = time.perf_counter()
        router.route(parse_event(edit))
        log.refresh_from_store()
        t1 = time.perf_counter()
        await pilot.pause()
        t2 = time.perf_counter()
        return {
            "apply_ms": (t1 - t0) * 1000,
            "frame_ms": (t2 - t1) * 1000,
            "rerendered_messages": float(len(rendered)),
            "idle_frame_ms": idle * 1000,
        }


class TabsHost(App[None]):
    """Two tabs; the second holds a FlowLog over 10,000 messages and is not shown yet."""

    def __init__(self, router: Router) -> None:
        super().__init__()
        self.router = router

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="a"):
            with TabPane("A", id="a"):
                yield FlowLog(self.router.stores[("flow", "f0")], self.router, id="log-a")
            with TabPane("B", id="b"):
                yield FlowLog(self.router.stores[("flow", "f1")], self.router, id="log-b")


async def bench_switch() -> dict[str, float]:
    router = make_router(2)
    for i in range(1, 10_001):
        router.route(parse_event(raw_message(i, "f1")))
    app = TabsHost(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        idle = await idle_frame(pilot)
        tabs = app.query_one(TabbedContent)
        log_b = app.query_one("#log-b", FlowLog)
        shown: list[float] = []
        original = log_b.render_line

        def spy(y: int) -> Any:
            strip = original(y)
            if not shown and strip.text.strip():
                shown.append(time.perf_counter())
            return strip

        log_b.render_line = spy  # type: ignore[method-assign]
        t0 = time.perf_counter()
        tabs.active = "b"
        while not shown:
            await asyncio.sleep(0.001)
        first = (shown[0] - t0) * 1000
        await pilot.pause()
        while not log_b.layout_complete:
            await pilot.pause()
        complete = (time.perf_counter() - t0) * 1000
        assert log_b.total_rows >= 10_000 and log_b.at_bottom
        # switching away and back: the view is laid out already
        tabs.active = "a"
        await pilot.pause()
        shown.clear()
        t1 = time.perf_counter()
        tabs.active = "b"
        while not shown:
            await asyncio.sleep(0.001)
        again = (shown[0] - t1) * 1000
        return {
            "first_show_ms": first,
            "layout_complete_ms": complete,
            "switch_back_ms": again,
            "idle_frame_ms": idle * 1000,
        }


def bench_memory() -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    router = make_router(10)
    for i in range(1, 100_001):
        router.route(parse_event(raw_message(i, f"f{i % 10}")))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    stored = sum(len(s) for s in router.stores.values())
    return {"stored": float(stored), "MB": used / 1e6, "bytes_per_message": used / stored}


async def rss_app() -> float:
    """Max RSS of a fresh process holding 100,000 messages in 10 flows with one shown."""
    router = make_router(10)
    for i in range(1, 100_001):
        router.route(parse_event(raw_message(i, f"f{i % 10}")))
    gc.collect()
    app = Host(router)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        while not log.layout_complete:
            await pilot.pause()
        await pilot.press("home")
        await pilot.pause()
    return max_rss_mb()


def max_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


async def main() -> None:
    if "--rss" in sys.argv:
        print(f"{await rss_app():.1f}")
        return
    print(f"Python {sys.version.split()[0]}, terminal {SIZE[0]}x{SIZE[1]} (headless)")
    for flows in (1, 10):
        r = await bench_burst(flows)
        print(
            f"burst 10,000 events over {flows} flow(s): route {r['route_ms']:.0f} ms, "
            f"index {r['index_ms']:.1f} ms, first frame {r['frame_ms']:.1f} ms, "
            f"total {r['total_ms']:.0f} ms (idle frame {r['idle_frame_ms']:.1f} ms)"
        )
    e = await bench_far_edit()
    print(
        f"edit 5,000 lines up (10,000 stored): apply {e['apply_ms']:.2f} ms, "
        f"frame {e['frame_ms']:.1f} ms, messages re-rendered {e['rerendered_messages']:.0f} "
        f"(idle frame {e['idle_frame_ms']:.1f} ms)"
    )
    s = await bench_switch()
    print(
        f"switch to a tab of 10,000 messages: first shown {s['first_show_ms']:.1f} ms "
        f"(older lines laid out by {s['layout_complete_ms']:.0f} ms); switching back to it "
        f"later {s['switch_back_ms']:.1f} ms (idle frame {s['idle_frame_ms']:.1f} ms)"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--rss", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    app_rss = float(out.decode().strip().splitlines()[-1])
    m = bench_memory()
    print(
        f"memory: {m['stored']:.0f} stored messages in 10 flows: {m['MB']:.1f} MB traced, "
        f"{m['bytes_per_message']:.0f} B/message; a fresh process with them and the app "
        f"showing one flow: max RSS {app_rss:.0f} MB"
    )


if __name__ == "__main__":
    asyncio.run(main())
