"""Warm start read ahead (issue 11's < 0.5 s to the first archived frame): the archive is opened
and the first tab read in a thread from the app's construction, before Textual has started;
the warm start shows exactly what it would have read itself, and an archive read ahead for
nothing is closed."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until

from flowview.archive import Archive
from flowview.archive.writer import WriterState
from flowview.config import Settings
from flowview.protocol.auth import Token
from flowview.tui import warm_prefetch
from flowview.tui.app import FlowviewApp
from flowview.tui.warm_prefetch import PrefetchState, WarmPrefetch
from flowview.tui.warm_start import read_plan, read_tab

pytestmark = pytest.mark.timeout(60)

DOWN_API = "http://127.0.0.1:9/api"  # the discard port: nothing answers there
DOWN_STREAM = "http://127.0.0.1:9/stream"
KEY = ("flow", "f1")


def _wire(mid: int, text: str) -> dict[str, Any]:
    return {
        "event": "message",
        "id": mid,
        "flow": "f1",
        "user": "u2",
        "content": text,
        "tags": [],
        "sent": 1_780_000_000_000 + mid * 1000,
    }


@pytest.fixture
def archived(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory whose archive (user u1, server down) holds 300 lines of acme/main."""
    data = tmp_path / "data"
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(data))
    monkeypatch.setenv("FLOWVIEW_CONFIG_DIR", str(tmp_path / "config"))
    with Archive.for_account(DOWN_API, "u1", directory=data) as archive:
        flow = type(
            "F", (), {"id": "f1", "organization": "acme", "parameterized_name": "main", "name": "M"}
        )()
        archive.set_flows([flow])
        archive.ingest_many([_wire(i, f"archived line {i}") for i in range(1, 301)])
        archive.set_read_position(KEY, 250)
        archive.flush()
    return data


def _settings(me_id: str | None = "u1") -> Settings:
    return Settings(
        stream_url=DOWN_STREAM, api_url=DOWN_API, flows=["acme/main"], me_id=me_id, me_nick="robin"
    )


async def test_the_first_tab_is_read_from_the_apps_construction(
    archived: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = threading.Event()
    threads: list[str] = []
    real_read_tab = read_tab

    def recording_read_tab(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        tab = real_read_tab(*args, **kwargs)
        read.set()
        return tab

    monkeypatch.setattr(warm_prefetch, "read_tab", recording_read_tab)
    app = FlowviewApp(_settings(), Token("t0k3n"))
    app.animation_level = "none"
    # Before Textual runs at all, the first tab is being read (or read) in its own thread.
    assert read.wait(10), "the archive was not read ahead"
    assert threads == ["flowview-warm-read"]
    prefetch = app.warm_prefetch
    assert prefetch is not None
    async with app.run_test(size=(120, 40)) as pilot:
        log_widget = None

        def shown() -> bool:
            nonlocal log_widget
            log_widget = app.main.log_for(KEY)
            return log_widget is not None and log_widget.total_rows > 0

        await wait_until(pilot, shown, timeout=15, message="nothing shown")
        assert prefetch.state is PrefetchState.TAKEN
        session = app.session
        assert session is not None and session.archive.archive is not None
        store = app.stores()[KEY]
        # What a warm start without read-ahead shows: the tail from the read position's
        # context on, and the unread count from the archive.
        with Archive.for_account(DOWN_API, "u1") as archive:
            expected = read_tab(archive, KEY, "u1")
        assert [m.id for m in store] == [e.id for e in expected.events]
        assert store.unread == 50
        assert threads == ["flowview-warm-read"]  # read once, not again by the warm start
        await wait_until(
            pilot, lambda: not any(w.group == "bootstrap" for w in app.workers), timeout=15
        )
        adopted = session.archive.archive
    assert adopted.writer is not None and adopted.writer.state is WriterState.CLOSED


def test_the_read_ahead_reads_what_the_warm_start_would(archived: Path) -> None:
    prefetch = WarmPrefetch.start(_settings())
    assert prefetch is not None

    ahead = asyncio.run(prefetch.take())
    assert ahead is not None and prefetch.state is PrefetchState.TAKEN
    try:
        plan = read_plan(ahead.archive, ["acme/main"])
        assert ahead.plan.flow_keys == plan.flow_keys == [KEY]
        assert ahead.first is not None
        again = read_tab(ahead.archive, KEY, "u1")
        assert [e.raw for e in ahead.first.events] == [e.raw for e in again.events]
        assert (ahead.first.key, ahead.first.newest_id, ahead.first.unread) == (KEY, 300, 50)
        assert ahead.first.read_position == again.read_position == 250
    finally:
        ahead.archive.close()
    assert asyncio.run(prefetch.take()) is None  # taken once only


def test_a_read_ahead_not_taken_is_closed(archived: Path) -> None:
    prefetch = WarmPrefetch.start(_settings())
    assert prefetch is not None
    prefetch._done.result(10)
    ahead = prefetch._result
    assert ahead is not None
    prefetch.discard()
    assert prefetch.state is PrefetchState.DISCARDED
    writer = ahead.archive.writer
    assert writer is not None
    deadline = time.monotonic() + 10  # closed without waiting (discard runs on the UI loop)
    while writer.state is not WriterState.CLOSED and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.state is WriterState.CLOSED

    assert asyncio.run(prefetch.take()) is None


def test_no_read_ahead_without_a_saved_user(archived: Path) -> None:
    # The archive to open is then found by its meta, after the app starts (warm_start.py).
    assert WarmPrefetch.start(_settings(me_id=None)) is None
    assert FlowviewApp(_settings(me_id=None), Token("t0k3n")).warm_prefetch is None
    assert FlowviewApp(None, None).warm_prefetch is None


def test_a_damaged_archive_is_no_read_ahead(archived: Path) -> None:
    for path in archived.glob("*.sqlite3*"):
        path.write_bytes(b"not a database" * 100)
    prefetch = WarmPrefetch.start(_settings())
    assert prefetch is not None

    assert asyncio.run(prefetch.take()) is None
    assert prefetch.state is PrefetchState.DISCARDED
