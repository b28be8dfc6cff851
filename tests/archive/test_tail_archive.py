"""`flowview tail --archive` stores users and flows too, so `flowview search` shows names
offline (no viewer ever ran against this data directory).  Real processes against the bundled
server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flowview.archive import Archive
from flowview.archive.paths import list_archives
from flowview.server.runner import ServerThread
from tests.tail_process import popen_tail

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
SLUG = "acme/main"


def _env(srv: ServerThread, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDOCK_")}
    env.update(
        FLOWDOCK_TOKEN=srv.token,
        FLOWDOCK_STREAM_URL=srv.stream_url,
        FLOWDOCK_API_URL=srv.api_url,
        FLOWVIEW_DATA_DIR=str(data),
        PYTHONPATH=str(ROOT),
    )
    return env


def _post_as_someone_else(srv: ServerThread, text: str) -> str:
    """Post `text` into SLUG as a member other than the token's user; returns the nick."""

    def post() -> str:
        state = srv.state
        flow = state.resolve_flow(SLUG)
        assert flow is not None and state.me is not None
        sender = next(uid for uid in flow.member_ids if uid != state.me.id)
        state.post_flow_message(flow, sender, "message", text)
        return state.users[sender].nick

    return srv.call(post)


def test_tail_archive_stores_names_that_search_shows_offline(
    server: ServerThread, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = _env(server, data)
    tail = popen_tail(SLUG, "--count", "1", "--archive", "--presence", "offline", env=env)
    try:
        with httpx.Client(base_url=server.base_url, headers=server.control_headers) as control:
            deadline = time.monotonic() + 60
            while control.get("/_faults").json()["open_connections"] == 0:
                assert tail.poll() is None, tail.communicate()[1]
                assert time.monotonic() < deadline, "tail never connected"
                time.sleep(0.05)
        nick = _post_as_someone_else(server, "archived pangolin sighting")
        out, err = tail.communicate(timeout=60)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait(10)
    assert tail.returncode == 0, err
    assert "pangolin" in out
    (path,) = list_archives(data)
    with Archive.open(path, writable=False) as archive:
        nicks = {nick for nick, _name in archive.users().values()}
        slugs = {flow.slug for flow in archive.flows().values()}
    assert {nick, "kenji"} <= nicks
    assert SLUG in slugs
    found = subprocess.run(
        [sys.executable, "-m", "flowview", "search", "pangolin"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    (line,) = found.stdout.splitlines()
    # YYYY-MM-DD HH:MM  org/flow  nick  text: names, not ids
    assert line.split("  ")[1:4] == [SLUG, nick, "archived pangolin sighting"]
