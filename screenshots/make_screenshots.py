"""Write the README screenshots (SVG) from the demo app, headless, against the bundled server.

    uv run python screenshots/make_screenshots.py

Each picture runs the real app over loopback HTTP against the bundled server (in a thread)
with simulated traffic from a fixed seed; the server's clock is frozen and times are shown
in UTC, so re-running the script gives the same pictures unless the UI changed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from textual.pilot import Pilot  # noqa: E402

from flowview.config import Settings  # noqa: E402
from flowview.model import render  # noqa: E402
from flowview.protocol.auth import Token  # noqa: E402
from flowview.protocol.client import StreamClient, StreamConfig  # noqa: E402
from flowview.protocol.rest import RestClient  # noqa: E402
from flowview.server.runner import ServerOptions, ServerThread  # noqa: E402
from flowview.tui.app import FlowviewApp  # noqa: E402

SIZE = (120, 40)
FROZEN = datetime(2026, 3, 2, 9, 41, 0, tzinfo=UTC)

Prepare = Callable[[Pilot[Any], FlowviewApp, ServerThread], Awaitable[None]]


async def until(pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the demo never reached the state to photograph")
        await pilot.pause(0.05)


def control(srv: ServerThread, path: str, body: dict[str, Any]) -> None:
    httpx.post(
        f"{srv.base_url}{path}", json=body, headers=srv.control_headers, timeout=30
    ).raise_for_status()


async def live_with_traffic(
    pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread, events: int = 80
) -> None:
    await until(pilot, lambda: app.main.status.state == "live" and app.main.keys_in_order())
    # The simulator publishes `events` events of its seeded script, as if they streamed in.
    await asyncio.to_thread(control, srv, "/_sim/step", {"events": events})
    await until(pilot, lambda: app.events_routed >= events // 2)
    await pilot.pause(0.5)
    await app.flush_now()
    await pilot.pause(0.2)


async def main_screen(pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread) -> None:
    await live_with_traffic(pilot, app, srv)


async def hostile(pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread) -> None:
    from flowview.server.hostile import HOSTILE_PAYLOADS

    await until(pilot, lambda: app.main.status.state == "live" and app.main.keys_in_order())
    assert srv.state.me is not None
    sender = next(u for u in srv.state.users.values() if u.id != srv.state.me.id)
    with httpx.Client(timeout=10) as http:
        for payload in HOSTILE_PAYLOADS:
            http.post(
                f"{srv.api_url}/flows/acme/main/messages",
                json={"event": "message", "content": payload},
                auth=(sender.token, ""),
            ).raise_for_status()
    await until(pilot, lambda: app.events_routed >= len(HOSTILE_PAYLOADS))
    await pilot.pause(0.3)
    await app.flush_now()
    app.clear_notifications()
    await pilot.pause(0.2)


async def reconnecting(pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread) -> None:
    await until(pilot, lambda: app.main.status.state == "reconnecting")
    await pilot.pause(0.5)


async def help_screen(pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread) -> None:
    await live_with_traffic(pilot, app, srv)
    await pilot.press("f1")
    await pilot.pause(0.3)


async def thread(pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread) -> None:
    from flowview.tui.screens.thread import ThreadScreen

    await live_with_traffic(pilot, app, srv, events=200)
    assert app.session is not None
    router = app.session.router
    best: tuple[int, Any, str] | None = None
    for key, store in router.stores.items():
        counts: dict[str, int] = {}
        for message in store:
            if message.thread_id:
                counts[message.thread_id] = counts.get(message.thread_id, 0) + 1
        for thread_id, count in counts.items():
            if best is None or count > best[0]:
                best = (count, key, thread_id)
    assert best is not None, "the simulated traffic had no threads"
    _, key, thread_id = best
    app.main.show(key)
    await pilot.pause(0.2)
    app.push_screen(ThreadScreen(router, key, thread_id))
    await pilot.pause(0.5)


async def sending(pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread) -> None:
    """The input line: a message sent (shown once, by the echo) and a draft being typed."""
    await live_with_traffic(pilot, app, srv)
    key = app.main.active_key
    assert key is not None
    store = app.stores()[key]
    await pilot.press(*"Deploy of 4.2 is done, thanks all")
    await pilot.press("enter")
    await until(pilot, lambda: any("4.2 is done" in m.text and m.id is not None for m in store))
    await pilot.press(*"Release notes next, in the thread of #release")
    await app.flush_now()
    await pilot.pause(0.3)


async def search(pilot: Pilot[Any], app: FlowviewApp, srv: ServerThread) -> None:
    """ctrl+f over the local archive: results as you type, the match highlighted."""
    await live_with_traffic(pilot, app, srv, events=200)
    assert app.session is not None
    archive = app.session.archive.archive
    assert archive is not None
    await archive.aflush()
    words = [
        word
        for store in app.stores().values()
        for message in store
        if message.kind == "message"
        for word in message.text.split()
        if word.isalpha() and len(word) >= 6
    ]
    assert words, "the simulated traffic had no words to search for"
    common = max(sorted(set(words)), key=words.count)
    await pilot.press("ctrl+f")
    await pilot.pause(0.2)
    await pilot.press("ctrl+t")  # every flow
    await pilot.press(*common.lower())
    await pilot.pause(1.0)


async def shoot(name: str, prepare: Prepare | None, **server: Any) -> None:
    # A throwaway profile per picture: no archive, outbox or draft of a real account (or of
    # another picture) shows up.
    scratch = Path(tempfile.mkdtemp(prefix=f"flowview-shot-{name}-"))
    os.environ["FLOWVIEW_DATA_DIR"] = str(scratch / "data")
    os.environ["FLOWVIEW_CONFIG_DIR"] = str(scratch / "config")
    options = ServerOptions(rate=0, seed=1, clock=lambda: FROZEN.timestamp(), **server)
    with ServerThread(options) as srv:
        settings = Settings(stream_url=srv.stream_url, api_url=srv.api_url, flows=[])
        factory = None
        if name == "reconnecting":
            control(
                srv, "/_faults", {"kind": "status", "status": 503, "retry_after": 4, "count": 9}
            )

            async def never(_delay: float) -> None:
                await asyncio.Event().wait()

            def factory(config: StreamConfig, rest: RestClient) -> StreamClient:
                return StreamClient(config, sleep=never, rng=lambda: 0.5, rest=rest)

        if prepare is None:  # the first-run setup screen
            app = FlowviewApp(None, None)
        elif factory is not None:
            app = FlowviewApp(
                settings, Token(srv.token), clock=lambda: 0.0, wall_clock=lambda: FROZEN,
                stream_factory=factory,
            )  # fmt: skip
        else:
            app = FlowviewApp(settings, Token(srv.token), wall_clock=lambda: FROZEN)
        app.animation_level = "none"
        async with app.run_test(size=SIZE) as pilot:
            if prepare is not None:
                await prepare(pilot, app, srv)
            else:
                await pilot.pause(0.5)
            path = app.save_screenshot(filename=f"{name}.svg", path=str(ROOT))
            print(f"wrote {path}")


async def main() -> None:
    render.set_display_timezone(UTC)
    await shoot("main", main_screen)
    await shoot("hostile", hostile)
    await shoot("reconnecting", reconnecting)
    await shoot("setup", None)
    await shoot("help", help_screen)
    await shoot("thread", thread)
    await shoot("sending", sending)
    await shoot("search", search)


if __name__ == "__main__":
    asyncio.run(main())
