"""Schema version 4 (faster ingest): no FTS5 automerge inside a write; the writer merges the
index's segments itself while its queue is empty, and a version 3 database migrates in place."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from flowview.archive import Archive, rows, schema, writer
from flowview.archive.query import parse_query
from flowview.archive.search import search
from flowview.protocol.events import parse_event
from tests.archive.samples import FLOW

Wire = Callable[..., dict[str, Any]]
KEY = ("flow", FLOW)
WAIT = 30.0  # seconds; a safety net for a hung writer, never reached when the test passes


def _segments(conn: sqlite3.Connection) -> int:
    """How many segments the full-text index has (each has rows in its b-tree table)."""
    (count,) = conn.execute("SELECT count(DISTINCT segid) FROM messages_fts_idx").fetchone()
    return int(count)


def _hold(w: writer.ArchiveWriter) -> threading.Event:
    """Hold the writer inside a batch of its own until the returned event is set (work queued
    meanwhile forms the next batches, none of which is written before)."""
    entered, gate = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        entered.set()
        gate.wait(WAIT)

    w.call(hold)
    assert entered.wait(WAIT)
    return gate


def _words(i: int) -> str:
    return " ".join(f"t{i}x{j}" for j in range(60))


def _ids(archive: Archive, text: str) -> list[int]:
    return sorted(h.message.id for h in search(archive, parse_query(text)))


def test_batches_leave_merging_to_the_idle_writer(data_dir: Path, wire: Wire) -> None:
    # Fifteen batches written back to back (queued while the writer waits): with FTS5's
    # automerge 8 the index merged level 0 within the writes (5 segments left, measured);
    # under its crisis merge (16 segments) nothing is merged inside a write now.
    archive = Archive.open(data_dir / "test.sqlite3", batch_max=100)
    w = archive.writer
    assert w is not None
    gate = _hold(w)
    # Many distinct words: each batch's segment fills some leaves (FTS5 only merges once 64
    # leaves were written since its last merge, so tiny segments would prove nothing).
    archive.ingest_many(
        [wire(id=i, content=_words(i) + f" word{i} common") for i in range(1, 1501)]
    )
    # Runs in the sixteenth batch, before any idle time.
    seen = w.call(lambda conn: (_segments(conn), w.stats.merge_steps))
    gate.set()
    assert seen.result(WAIT) == (15, 0)
    # Idle now: the writer merges the fifteen segments (FTS_USERMERGE of a level or more).
    assert w.merged(WAIT)
    assert w.stats.merge_steps >= 1
    assert archive.query("SELECT count(DISTINCT segid) FROM messages_fts_idx") == [(1,)]
    matched = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'common'"
    assert archive.query(matched) == [(1500,)]
    assert _ids(archive, "word500") == [500]
    check = "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
    assert archive.query(check) == []
    assert archive.close()


def test_new_work_waits_for_one_merge_step_at_most(
    data_dir: Path, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A merge runs in steps; between two steps the writer looks at its queue, so a message
    # queued during a merge is written after the step in progress, before the merge ends.
    monkeypatch.setattr(writer, "MERGE_PAGES", 1)  # many steps for this small index
    in_step, go_on = threading.Event(), threading.Event()
    original = writer.ArchiveWriter._merge_step

    def held_step(self: writer.ArchiveWriter, conn: sqlite3.Connection) -> None:
        in_step.set()
        go_on.wait(WAIT)
        original(self, conn)

    monkeypatch.setattr(writer.ArchiveWriter, "_merge_step", held_step)
    archive = Archive.open(data_dir / "test.sqlite3", batch_max=100)
    w = archive.writer
    assert w is not None
    gate = _hold(w)
    words = " ".join(f"w{j}" for j in range(40))
    archive.ingest_many([wire(id=i, content=f"{words} n{i}") for i in range(1, 1001)])
    gate.set()
    assert in_step.wait(WAIT)  # the writer is idle and in its first merge step
    archive.ingest(wire(id=5000, content="arrived while merging"))
    during = w.call(lambda conn: (w.stats.merge_steps, w.merged(0)))
    go_on.set()
    assert during.result(WAIT) == (1, False)  # one step, then the message; more to merge
    assert _ids(archive, "arrived") == [5000]
    assert w.merged(WAIT)
    assert w.stats.merge_steps > 2
    # The ten merged into one; the late message's segment waits for seven more.
    assert archive.query("SELECT count(DISTINCT segid) FROM messages_fts_idx") == [(2,)]
    assert archive.close()


def test_a_failed_merge_is_logged_and_the_writer_goes_on(
    data_dir: Path, wire: Wire, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(writer, "_MERGE", "INSERT INTO no_such_table VALUES (?)")
    archive = Archive.open(data_dir / "test.sqlite3", batch_max=10)
    w = archive.writer
    assert w is not None
    gate = _hold(w)
    archive.ingest_many([wire(id=i, content=f"m{i} common") for i in range(1, 101)])
    gate.set()
    archive.flush()
    assert w.merged(WAIT)  # not retried in a loop: due again after the next batches
    assert "archive index merge failed" in caplog.text
    archive.ingest(wire(id=500, content="after the failure"))
    archive.flush()
    assert _ids(archive, "failure") == [500]
    assert archive.close()


def test_a_closed_writer_is_never_waited_for(data_dir: Path, wire: Wire) -> None:
    archive = Archive.open(data_dir / "test.sqlite3", batch_max=10)
    w = archive.writer
    assert w is not None
    archive.ingest_many([wire(id=i, content=f"m{i}") for i in range(1, 200)])
    assert archive.close()
    assert w.merged(0)


# --------------------------------------------------------------------------- migration


def _make_version_3(path: Path, events: list[dict[str, Any]]) -> None:
    """A database as schema version 3's writer left it (automerge 8)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for migration in schema.MIGRATIONS[:3]:
        for statement in migration:
            conn.execute(statement)
    conn.execute("PRAGMA user_version=3")
    for event in events:
        params = rows.message_params(parse_event(orjson.loads(orjson.dumps(event))))
        assert params is not None
        conn.execute(
            "INSERT INTO messages (conv, id, kind, user, sent, text, tags, thread_id, uuid,"
            " deleted, raw) VALUES (?, ?, ?, nullif(?, 0), nullif(?, ''), ?, ?, nullif(?, 0),"
            " nullif(?, 0), 0, CAST(? AS BLOB))",
            params,
        )
    conn.execute(
        "INSERT INTO messages_fts (rowid, text, tags) SELECT rowid, text, tags FROM messages"
    )
    conn.execute("INSERT INTO read_positions VALUES ('flow:' || ?, 2, 1)", (FLOW,))
    config = dict(conn.execute("SELECT k, v FROM messages_fts_config").fetchall())
    assert config["automerge"] == schema.FTS_AUTOMERGE  # really version 3's settings
    conn.close()


def test_a_version_3_database_migrates_in_place(data_dir: Path, wire: Wire) -> None:
    data_dir.mkdir(mode=0o700)
    path = data_dir / "v3.sqlite3"
    sent = [
        wire(id=1, content="deploy the release"),
        wire("comment", 2, {"title": "Ticket", "text": "deployed fine"}),
        wire(id=3, content="lunch", tags=["#food"]),
    ]
    _make_version_3(path, sent)
    path.chmod(0o600)
    with Archive.open(path) as archive:
        assert archive.query("PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
        config = dict(archive.query("SELECT k, v FROM messages_fts_config"))
        assert config["automerge"] == 0
        assert config["usermerge"] == schema.FTS_USERMERGE
        assert config["hashsize"] == schema.FTS_HASHSIZE
        assert [m.raw for m in archive.tail(KEY)] == sent  # nothing lost
        assert archive.read_positions() == {KEY: 2}
        assert _ids(archive, "deploy") == [1]
        assert [h.message.id for h in search(archive, parse_query("#food"))] == [3]
        archive.ingest(wire(id=4, content="another deploy"))
        archive.ingest(wire("message-edit", 5, {"message": 1, "updated_content": "rolled back"}))
        archive.flush()
        assert _ids(archive, "deploy") == [4]
        assert _ids(archive, "rolled") == [1]
        assert archive.integrity_check() == "ok"


def test_merge_constants_are_sane() -> None:
    # A step must make progress and the fan-out must merge something.
    assert writer.MERGE_PAGES > 0
    assert schema.FTS_USERMERGE >= 2
