"""Checkpoints in a thread of their own (archive/checkpointer.py): the writer no longer copies
the WAL into the database inside its commits, the WAL stays bounded while batches follow each
other without a pause, and when the checkpointer cannot run the writer checkpoints itself."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowview.archive import Archive
from flowview.archive.checkpointer import Checkpointer, CheckpointerState
from flowview.archive.writer import ArchiveWriter
from tests.archive.samples import FLOW

Wire = Callable[..., dict[str, Any]]
MakeArchive = Callable[..., Archive]
KEY = ("flow", FLOW)
WAIT = 30.0  # a bound on waiting for another thread, never a pause


def _setting(arc: Archive, pragma: str) -> Any:
    assert arc.writer is not None
    return arc.writer.call(lambda conn: conn.execute(f"PRAGMA {pragma}").fetchone()[0]).result(WAIT)


def _wal_frames(path: Path) -> int:
    """Frames in the live WAL (a PASSIVE checkpoint copies what it can and says so)."""
    conn = sqlite3.connect(path)
    try:
        busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        conn.close()
    assert busy == 0
    return int(frames)


def _checkpointer(arc: Archive) -> Checkpointer:
    assert arc.writer is not None and arc.writer.checkpointer is not None
    return arc.writer.checkpointer


def test_the_writer_leaves_checkpoints_to_the_checkpointer(archive: Archive, wire: Wire) -> None:
    archive.ingest_many([wire(id=i, content=f"message {i}") for i in range(1, 2001)])
    archive.flush()
    checkpointer = _checkpointer(archive)
    checkpointer.caught_up()
    assert _setting(archive, "wal_autocheckpoint") == 0  # SQLite's own is off in the writer
    assert checkpointer.running
    assert checkpointer.stats.checkpoints >= 1
    assert checkpointer.stats.failed == 0
    assert checkpointer.stats.wal_frames_max > 0
    assert archive.count(KEY) == 2000


def test_caught_up_waits_for_the_newest_request(wal_db: tuple[Path, sqlite3.Connection]) -> None:
    path, writer = wal_db
    checkpointer = Checkpointer(lambda: sqlite3.connect(path, check_same_thread=False))
    assert checkpointer.start()
    try:
        checkpointer.caught_up()  # nothing requested: at once
        assert checkpointer.stats.waits == 0
        writer.execute("BEGIN")
        writer.executemany("INSERT INTO t VALUES (?)", ((i,) for i in range(20_000)))
        writer.execute("COMMIT")
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size > 100_000
        checkpointer.request()
        checkpointer.caught_up()
        assert checkpointer.stats.checkpoints == 1
        # Every frame was copied, so the next write starts the WAL over from its beginning.
        writer.execute("INSERT INTO t VALUES (-1)")
        assert wal.stat().st_size < 50_000
    finally:
        assert checkpointer.close(WAIT)
    assert checkpointer.state is CheckpointerState.CLOSED
    checkpointer.caught_up()  # a closed checkpointer never makes anyone wait


def test_close_runs_the_last_request(wal_db: tuple[Path, sqlite3.Connection]) -> None:
    path, writer = wal_db
    checkpointer = Checkpointer(lambda: sqlite3.connect(path, check_same_thread=False))
    entered, gate = threading.Event(), threading.Event()
    run = checkpointer._checkpoint

    def held(conn: sqlite3.Connection, target: int) -> None:
        entered.set()
        gate.wait(WAIT)
        run(conn, target)

    checkpointer._checkpoint = held  # type: ignore[method-assign]
    assert checkpointer.start()
    try:
        writer.executemany("INSERT INTO t VALUES (?)", ((i,) for i in range(100)))
        checkpointer.request()
        assert entered.wait(WAIT)  # the first checkpoint has begun (and is held)
        writer.executemany("INSERT INTO t VALUES (?)", ((i,) for i in range(100)))
        checkpointer.request()  # a commit after the first checkpoint began
        closing = threading.Thread(target=checkpointer.close, args=(WAIT,))
        closing.start()
        gate.set()
        closing.join(WAIT)
        assert checkpointer.state is CheckpointerState.CLOSED
        assert checkpointer.stats.checkpoints == 2
    finally:
        gate.set()


def test_the_wal_stays_bounded_while_batches_follow_each_other(
    writer_archive: MakeArchive, wire: Wire
) -> None:
    # The checkpointer is held back until the writer waits for it: without the bound the
    # writer would write every batch into one ever longer WAL.
    bound = 256 * 1024
    arc = writer_archive(batch_max=300, wal_max_bytes=bound)
    writer = arc.writer
    assert writer is not None
    checkpointer = _checkpointer(arc)
    release, waiting = threading.Event(), threading.Event()
    run, wait = checkpointer._checkpoint, checkpointer.caught_up
    written_when_waiting: list[int] = []

    def held(conn: sqlite3.Connection, target: int) -> None:
        release.wait(WAIT)
        run(conn, target)

    def caught_up() -> None:
        written_when_waiting.append(writer.stats.messages)
        waiting.set()
        wait()

    checkpointer._checkpoint = held  # type: ignore[method-assign]
    checkpointer.caught_up = caught_up  # type: ignore[method-assign]
    gate = threading.Event()
    writer.call(lambda conn: gate.wait(WAIT))
    total = 12_000
    arc.ingest_many([wire(id=i, content=f"message {i} " + "word " * 30) for i in range(1, total)])
    gate.set()
    assert waiting.wait(WAIT), "the writer never waited for a checkpoint"
    assert written_when_waiting[0] < total - 1  # it stopped mid-burst
    release.set()
    arc.flush()
    checkpointer.caught_up()
    assert arc.count(KEY) == total - 1
    assert len(written_when_waiting) >= 2  # the bound held again after the WAL started over
    page = _setting(arc, "page_size")
    batch_bytes = 3 * 1024 * 1024  # far more than one batch of 300 writes
    assert _wal_frames(arc.path) * page <= bound + batch_bytes
    assert checkpointer.stats.waits >= 1


def test_a_burst_leaves_no_long_wal_behind(writer_archive: MakeArchive, wire: Wire) -> None:
    # One batch below the bulk size (no index merge follows it: its commit is the last), far
    # longer than the 64 KiB kept: once the writer is idle the file is cut back.
    keep = 64 * 1024
    arc = writer_archive(wal_keep_bytes=keep)
    arc.ingest_many([wire(id=i, content=f"message {i} " + "word " * 80) for i in range(1, 1500)])
    arc.flush()
    checkpointer = _checkpointer(arc)
    checkpointer.caught_up()
    assert checkpointer.stats.wal_frames_max * _setting(arc, "page_size") > keep
    assert checkpointer.stats.truncated == 1
    assert arc.path.with_name(arc.path.name + "-wal").stat().st_size <= keep
    assert arc.count(KEY) == 1499


def test_without_a_checkpointer_the_writer_checkpoints_itself(
    writer_archive: MakeArchive, wire: Wire
) -> None:
    arc = writer_archive(start=False)
    writer = arc.writer
    assert writer is not None
    connect = writer._connect
    calls = [0]

    def connect_once() -> sqlite3.Connection:
        calls[0] += 1
        if calls[0] > 1:  # the checkpointer's connection
            raise sqlite3.OperationalError("unable to open database file")
        return connect()

    arc.writer = ArchiveWriter(connect_once)
    arc.writer.start()
    arc.ingest_many([wire(id=i) for i in range(1, 101)])
    arc.flush()
    assert _checkpointer(arc).state is CheckpointerState.FAILED
    assert _setting(arc, "wal_autocheckpoint") == 1000
    assert arc.count(KEY) == 100


def test_a_checkpointer_that_stops_hands_checkpoints_back(
    archive: Archive, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer = _checkpointer(archive)

    def broken(conn: sqlite3.Connection, target: int) -> None:
        raise RuntimeError("checkpointer bug")

    checkpointer._checkpoint = broken  # type: ignore[method-assign]
    archive.ingest_many([wire(id=i) for i in range(1, 51)])
    archive.flush()
    checkpointer.caught_up()  # returns: the thread is gone, nobody waits for it
    assert checkpointer.state is CheckpointerState.FAILED
    archive.ingest_many([wire(id=i) for i in range(51, 101)])
    archive.flush()
    assert _setting(archive, "wal_autocheckpoint") == 1000
    assert archive.count(KEY) == 100
    assert "archive checkpointer failed" in caplog.text


def test_closing_the_archive_stops_the_checkpointer(data_dir: Path, wire: Wire) -> None:
    before = threading.active_count()
    arc = Archive.open(data_dir / "c.sqlite3")
    arc.ingest_many([wire(id=i) for i in range(1, 101)])
    checkpointer = _checkpointer(arc)
    assert arc.close()
    assert checkpointer.state is CheckpointerState.CLOSED
    assert threading.active_count() == before
