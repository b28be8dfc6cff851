"""Behaviour behind the app's performance work (bench/bench_app.py measures the figures):

* the start-up path imports no network stack (httpx is loaded after the first frame);
* a tab shown for the first time paints its newest lines in its very first frame;
* a replay burst (repaints held back while it streams in) still ends up on screen;
* messages per minute count only the last minute (per-second buckets, not a timestamp a line).

The garbage-collector policy's tests are in test_gc_policy.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from textual.strip import Strip

from flowview.server.runner import ServerThread
from flowview.tui.widgets.flow_log import FlowLog
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, make_app, post, wait_live
from tests.tui.apphttp import http

pytestmark = pytest.mark.timeout(60)


def burst(srv: ServerThread, count: int, slug: str) -> None:
    response = http(srv).post(
        f"{srv.base_url}/_sim/burst",
        json={"count": count, "flow": slug},
        headers=srv.control_headers,
    )
    response.raise_for_status()


def test_start_up_path_imports_no_network_stack() -> None:
    code = (
        "import sys\n"
        "import flowview.cli, flowview.config, flowview.tui.launch, flowview.tui.app\n"
        "from flowview.protocol.auth import Token, redact\n"
        "bad = [m for m in ('httpx', 'httpcore', 'flowview.protocol.client',"
        " 'flowview.protocol.rest', 'flowview.protocol.urls') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_one_definition_of_the_public_hosts() -> None:
    from flowview import config, tail
    from flowview.protocol import defaults, urls
    from flowview.protocol.auth import Token
    from flowview.protocol.httpauth import TokenAuth

    for module in (config, urls, tail):
        assert module.DEFAULT_STREAM_URL is defaults.DEFAULT_STREAM_URL
        assert module.DEFAULT_API_URL is defaults.DEFAULT_API_URL
    settings = config.Settings()
    assert (settings.stream_url, settings.api_url) == (
        defaults.DEFAULT_STREAM_URL,
        defaults.DEFAULT_API_URL,
    )
    assert "****" in repr(TokenAuth(Token("secret-token-value")))


async def test_first_frame_of_a_newly_shown_tab_has_its_newest_lines(
    server: ServerThread,
) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        main = app.main
        key = main.keys_in_order()[2]  # acme/random, never shown yet
        burst(server, 400, "acme/random")
        await wait_until(pilot, lambda: len(app.stores()[key]) >= 400)
        log = main.log_for(key)
        assert isinstance(log, FlowLog)
        painted: list[tuple[int, str]] = []
        original = log.render_line

        def spy(y: int) -> Strip:
            strip = original(y)
            painted.append((y, strip.text))
            return strip

        log.render_line = spy  # type: ignore[method-assign]
        main.show(key)

        def first_frame() -> list[str] | None:
            # A frame paints each row once, top to bottom: it ends where a row repeats.
            seen: set[int] = set()
            rows: list[str] = []
            for y, text in painted:
                if y in seen:
                    return rows
                seen.add(y)
                rows.append(text)
            return rows if len(rows) >= log.size.height > 0 else None

        await wait_until(pilot, lambda: first_frame() is not None)
        rows = first_frame()
        assert rows is not None
        # Before, the first frame of a never-shown view was blank (laid out one frame later).
        # Every line is unread, so the tab opens at its first unread line (issue 10 item 4),
        # or at the newest when the marker is already gone.
        assert any("burst 1/400" in row or "burst 400/400" in row for row in rows), rows
        assert all(row.strip() for row in rows)


async def test_a_replay_burst_ends_up_on_screen(server: ServerThread) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        log = app.main.active_log
        assert log is not None
        burst(server, 3000, "acme/main")

        def newest_shown() -> bool:
            rows = [log.render_line(y).text for y in range(log.size.height)]
            return any("burst 3000/3000" in row for row in rows)

        await wait_until(pilot, newest_shown, timeout=20, message="burst not shown")
        # Every burst message is in the shown flow exactly once and in order, whether it came
        # over the stream or through the start-up seam's history fetch (which may get the newest
        # ones first: only lines new to the store count towards msg/min).
        store = log.store
        expected = [f"burst {i}/3000" for i in range(1, 3001)]  # the text before ": word"

        def burst_texts() -> list[str]:
            return [m.text.partition(":")[0] for m in store if m.text.startswith("burst ")]

        await wait_until(pilot, lambda: burst_texts() == expected, timeout=30)
        await wait_until(pilot, lambda: app.main.status.rate > 0)


async def test_messages_per_minute_counts_the_last_minute(server: ServerThread) -> None:
    now = [1000.0]
    app = make_app(server, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        for text in ("one", "two", "three"):
            post(server, "acme/main", text)
        await wait_until(pilot, lambda: app.main.status.rate == 3)
        now[0] += 30.5
        post(server, "acme/main", "four")
        await wait_until(pilot, lambda: app.main.status.rate == 4)
        now[0] += 30  # the first three are now 60.5 s old
        await app.flush_now()
        assert app.main.status.rate == 1
        now[0] += 31
        await app.flush_now()
        assert app.main.status.rate == 0
