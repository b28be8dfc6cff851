"""kill -9 while sending: the next start sends what was left, exactly once.

A separate process (a flowview outbox of the same account) submits two messages; the first
reaches the server but its answer is lost (the `drop_response` write fault), the second waits
behind it.  The process is killed with SIGKILL.  The app then starts on the same data
directory: it finds the first message in history instead of posting it again, and sends the
second.  Real HTTP on loopback, a real process and a real SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import wait_until

from flowview.server.runner import ServerThread
from flowview.tui.outbox_link import outbox_dir
from tests.tui.app_driver import SIZE, fault, make_app, me_id, post, wait_live
from tests.tui.apphttp import close_http, http

pytestmark = pytest.mark.timeout(60)

SCRIPT = """
import asyncio, sys
from flowview.protocol.auth import Token
from flowview.protocol.datadir import data_dir, ensure_private_dir
from flowview.protocol.outbox_store import OutboxStore
from flowview.protocol.rest import RestClient
from flowview.protocol.sender import Destination, Sender, SenderPolicy
from flowview.tui.outbox_link import outbox_dir

async def main() -> None:
    api, token, me, slug = sys.argv[1:5]
    ensure_private_dir(data_dir())
    sender = Sender(
        RestClient(api, Token(token)),
        OutboxStore(outbox_dir(api, me)),
        policy=SenderPolicy(base_delay=3600, max_delay=3600, timeout_grace=3600),
    )
    sender.start()
    sender.submit(Destination.flow(slug), "reached the server before the kill")
    sender.submit(Destination.flow(slug), "still queued at the kill")
    print("submitted", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def copies(srv: ServerThread, text: str) -> int:
    response = http(srv).get(
        f"{srv.api_url}/flows/acme/main/messages", params={"limit": 100}, auth=(srv.token, "")
    )
    response.raise_for_status()
    return sum(1 for m in response.json() if m.get("content") == text)


async def test_kill_9_while_sending_then_the_next_start_sends_each_message_once(
    server: ServerThread,
) -> None:
    fault(server, scope="write", kind="drop_response", count=1)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, server.api_url, server.token, me_id(server), "acme/main"],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"submitted"
        deadline = time.monotonic() + 20
        while copies(server, "reached the server before the kill") == 0:
            assert time.monotonic() < deadline, "the first message never reached the server"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    outbox_file = outbox_dir(server.api_url, me_id(server)) / "outbox.json"
    assert outbox_file.exists() and (outbox_file.stat().st_mode & 0o777) == 0o600
    assert "still queued at the kill" in outbox_file.read_text(encoding="utf-8")

    app = make_app(server)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_live(pilot, app)
            await wait_until(
                pilot,
                lambda: app.outbox is not None and app.outbox.waiting == 0,
                timeout=20,
                message="the outbox was not emptied",
            )
            post(server, "acme/main", "after the resend")  # the stream is ordered: a fence
            key = app.main.keys_in_order()[0]

            def texts() -> list[str]:
                return [m.text for m in app.stores()[key]]

            await wait_until(pilot, lambda: "after the resend" in texts())
            for text in ("reached the server before the kill", "still queued at the kill"):
                assert copies(server, text) == 1
                assert texts().count(text) == 1
            assert all(m.outbox is None for m in app.stores()[key])
    finally:
        close_http(server)
