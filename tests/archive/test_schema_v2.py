"""Schema version 2 (faster ingest): text stored once, and the migration of a version 1
database in place (through version 3, test_schema_v3.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from flowview.archive import Archive, schema
from flowview.archive.query import parse_query
from flowview.archive.search import search
from tests.archive.samples import FLOW

Wire = Callable[..., dict[str, Any]]
KEY = ("flow", FLOW)


def _stored_raw(archive: Archive, message_id: int) -> dict[str, Any]:
    (row,) = archive.query("SELECT raw FROM messages WHERE id = ?", (message_id,))
    value: dict[str, Any] = orjson.loads(row[0])
    return value


def _fts_ok(archive: Archive) -> None:
    check = "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
    assert archive.query(check) == []


# --------------------------------------------------------------------------- text stored once


def test_text_is_stored_once_and_the_event_comes_back_whole(archive: Archive, wire: Wire) -> None:
    sent = [
        wire("message", 1, "only in the text column", thread_id="t1", uuid="u-1"),
        wire("status", 2, "out for lunch"),
        wire("line", 3, "waves"),
        wire("comment", 4, {"title": "Ticket", "text": "looks good"}),
    ]
    archive.ingest_many(sent)
    archive.flush()
    assert "content" not in _stored_raw(archive, 1)
    assert "content" not in _stored_raw(archive, 2)
    assert "content" not in _stored_raw(archive, 3)
    assert _stored_raw(archive, 4)["content"] == {"title": "Ticket", "text": "looks good"}
    # What the view gets back is the event as received.
    assert [m.raw for m in archive.tail(KEY)] == sent
    assert archive.tail(KEY)[0].event().content == "only in the text column"


def test_content_that_is_not_the_text_is_kept(archive: Archive, wire: Wire) -> None:
    # Odd content (not a string) gives an empty text: the raw keeps it as received.
    archive.ingest(wire("message", 1, {"not": "text"}))
    archive.flush()
    assert _stored_raw(archive, 1)["content"] == {"not": "text"}
    assert archive.tail(KEY)[0].raw["content"] == {"not": "text"}


def test_tags_and_reactions_keep_the_text_stored_once(archive: Archive, wire: Wire) -> None:
    # A change rebuilds the row from the raw event: its content must be put back first, or
    # the text (and the index) would be emptied.
    archive.ingest(wire(id=1, content="release candidate ready"))
    archive.ingest(wire("tag-change", 2, {"message": 1, "add": ["#ship"], "remove": []}))
    archive.ingest(wire("emoji-reaction", 3, {"message": 1, "type": "add", "emoji": "+1"}))
    archive.flush()
    (msg,) = archive.tail(KEY)
    assert msg.text == "release candidate ready"
    assert msg.raw["content"] == "release candidate ready"
    assert msg.tags == "ship"
    assert "content" not in _stored_raw(archive, 1)
    assert [h.message.id for h in search(archive, parse_query("candidate"))] == [1]
    _fts_ok(archive)


def test_edit_of_a_message_stored_once(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1, content="teh typo"))
    archive.ingest(wire("message-edit", 2, {"message": 1, "updated_content": "the fix"}))
    archive.flush()
    (msg,) = archive.tail(KEY)
    assert (msg.text, msg.raw["content"]) == ("the fix", "the fix")
    assert "content" not in _stored_raw(archive, 1)
    _fts_ok(archive)


# --------------------------------------------------------------------------- migration


def _make_version_1(path: Path, rows: list[tuple[Any, ...]]) -> None:
    """A database as schema version 1's writer left it: raw with its content, both prefix
    indexes."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in schema.MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.executemany(
        "INSERT INTO messages (conv, id, kind, user, sent, text, tags, thread_id, uuid,"
        " deleted, raw) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
        rows,
    )
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
    conn.execute("INSERT INTO read_positions VALUES ('flow:' || ?, 2, 1)", (FLOW,))
    conn.close()


def test_a_version_1_database_migrates_in_place(data_dir: Path, wire: Wire) -> None:
    data_dir.mkdir(mode=0o700)
    path = data_dir / "v1.sqlite3"
    message = wire(id=1, content="deploy the release")
    comment = wire("comment", 2, {"title": "Ticket", "text": "deployed fine"})
    deleted = {**wire(id=3, content=""), "deleted": True}
    conv = f"flow:{FLOW}"
    _make_version_1(
        path,
        [
            (conv, 1, "message", "u1", message["sent"], "deploy the release", "", 0,
             orjson.dumps(message)),
            (conv, 2, "comment", "u1", comment["sent"], "Ticket\ndeployed fine", "", 0,
             orjson.dumps(comment)),
            (conv, 3, "message", "u1", deleted["sent"], "", "", 1, orjson.dumps(deleted)),
        ],
    )  # fmt: skip
    path.chmod(0o600)
    with Archive.open(path) as archive:
        assert archive.query("PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
        assert [m.raw for m in archive.tail(KEY)] == [message, comment, deleted]
        assert "content" not in _stored_raw(archive, 1)
        assert _stored_raw(archive, 2)["content"] == comment["content"]
        assert archive.read_positions() == {KEY: 2}
        found = search(archive, parse_query("depl", prefix_last=True))
        assert sorted(h.message.id for h in found) == [1, 2]
        _fts_ok(archive)
        # The migrated database takes new messages and edits as a new one does.
        archive.ingest(wire("message-edit", 4, {"message": 1, "updated_content": "rolled back"}))
        archive.flush()
        assert [h.message.id for h in search(archive, parse_query("rolled"))] == [1]
        assert [h.message.id for h in search(archive, parse_query("release"))] == []
        assert archive.integrity_check() == "ok"
