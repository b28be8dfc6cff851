"""Schema version 3 (faster ingest again): a full-text index without a prefix index nor column
sizes, as-you-type prefixes from the fourth character, and the migration of a version 2
database in place."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from flowview.archive import Archive, rows, schema
from flowview.archive.query import parse_query
from flowview.archive.search import search
from tests.archive.samples import FLOW

Wire = Callable[..., dict[str, Any]]
KEY = ("flow", FLOW)


def _fts_ok(archive: Archive) -> None:
    check = "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
    assert archive.query(check) == []


def _typed(archive: Archive, text: str) -> list[int]:
    return sorted(h.message.id for h in search(archive, parse_query(text, prefix_last=True)))


def test_new_database_settings(data_dir: Path) -> None:
    with Archive.open(data_dir / "new.sqlite3") as archive:
        assert archive.query("PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
        assert archive.query("PRAGMA page_size") == [(8192,)]
        config = dict(archive.query("SELECT k, v FROM messages_fts_config"))
        assert config["hashsize"] == schema.FTS_HASHSIZE
        assert config["automerge"] == 0  # since version 4 (test_schema_v4.py)
        assert config["usermerge"] == schema.FTS_USERMERGE
        (sql,) = archive.query("SELECT sql FROM sqlite_master WHERE name = 'messages_fts'")[0]
        assert "prefix" not in sql
        assert "columnsize=0" in sql
        # No prefix index: nothing but whole words in the index (FTS5 keeps a prefix index
        # as terms starting with the index's number), and no per-message size table.
        names = {r[0] for r in archive.query("SELECT name FROM sqlite_master")}
        assert "messages_fts_docsize" not in names


def test_as_you_type_prefixes_start_at_four_characters(archive: Archive, wire: Wire) -> None:
    archive.ingest_many(
        [
            wire(id=1, content="go deploy"),
            wire(id=2, content="de facto"),
            wire(id=3, content="department"),
            wire(id=4, content="dep is a word here"),
        ]
    )
    archive.flush()
    assert _typed(archive, "de") == [2]  # 1-3 characters: the word itself
    assert _typed(archive, "dep") == [4]
    assert _typed(archive, "depl") == [1]  # from 4: a prefix
    assert _typed(archive, "depa") == [3]
    # Typed explicitly, a short prefix still is one (merged over the words it starts).
    assert sorted(h.message.id for h in search(archive, parse_query("de*"))) == [1, 2, 3, 4]
    _fts_ok(archive)


def test_bm25_ranks_without_column_sizes(archive: Archive, wire: Wire) -> None:
    # bm25 weighs a match by the message's length: without stored column sizes FTS5 counts
    # the tokens of each candidate itself, and the shorter message still ranks first.
    filler = " ".join(f"word{i}" for i in range(40))
    archive.ingest_many(
        [
            wire(id=1, content=f"release {filler}"),
            wire(id=2, content="release now"),
        ]
    )
    archive.flush()
    hits = search(archive, parse_query("release"))
    assert [h.message.id for h in hits] == [2, 1]
    assert hits[0].score < hits[1].score < 0


def test_edits_and_deletions_keep_the_index_in_step(archive: Archive, wire: Wire) -> None:
    archive.ingest_many([wire(id=1, content="teh typo"), wire(id=2, content="secret plans")])
    archive.ingest(wire("message-edit", 3, {"message": 1, "updated_content": "the fix"}))
    archive.ingest(wire("message-edit", 4, {"message": 2, "updated_content": ""}, deleted=True))
    archive.flush()
    assert _typed(archive, "fix") == [1]
    assert _typed(archive, "teh") == []
    assert _typed(archive, "secr") == []
    _fts_ok(archive)


# --------------------------------------------------------------------------- migration


def _make_version_2(path: Path, events: list[dict[str, Any]]) -> None:
    """A database as schema version 2's writer left it (its prefix index of 3 characters)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for migration in schema.MIGRATIONS[:2]:
        for statement in migration:
            conn.execute(statement)
    conn.execute("PRAGMA user_version=2")
    for event in events:
        params = rows.message_params(_parsed(event))
        assert params is not None
        conn.execute(
            "INSERT INTO messages (conv, id, kind, user, sent, text, tags, thread_id, uuid,"
            " deleted, raw) VALUES (?, ?, ?, nullif(?, 0), nullif(?, ''), ?, ?, nullif(?, 0),"
            " nullif(?, 0), 0, CAST(? AS BLOB))",
            params,
        )
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
    conn.execute("INSERT INTO read_positions VALUES ('flow:' || ?, 2, 1)", (FLOW,))
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'messages_fts'").fetchone()
    assert "prefix='3'" in sql  # really version 2's index
    conn.close()


def _parsed(event: dict[str, Any]) -> Any:
    from flowview.protocol.events import parse_event

    return parse_event(orjson.loads(orjson.dumps(event)))


def test_a_version_2_database_migrates_in_place(data_dir: Path, wire: Wire) -> None:
    data_dir.mkdir(mode=0o700)
    path = data_dir / "v2.sqlite3"
    sent = [
        wire(id=1, content="deploy the release"),
        wire("comment", 2, {"title": "Ticket", "text": "deployed fine"}),
        wire(id=3, content="lunch", tags=["#food"]),
    ]
    _make_version_2(path, sent)
    path.chmod(0o600)
    with Archive.open(path) as archive:
        assert archive.query("PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
        (sql,) = archive.query("SELECT sql FROM sqlite_master WHERE name = 'messages_fts'")[0]
        assert "prefix" not in sql
        assert [m.raw for m in archive.tail(KEY)] == sent  # nothing lost
        assert archive.read_positions() == {KEY: 2}
        assert _typed(archive, "depl") == [1, 2]  # the rebuilt index holds every message
        assert [h.message.id for h in search(archive, parse_query("#food"))] == [3]
        config = dict(archive.query("SELECT k, v FROM messages_fts_config"))
        assert config["hashsize"] == schema.FTS_HASHSIZE
        _fts_ok(archive)
        # The migrated database takes new messages and edits as a new one does.
        archive.ingest(wire(id=4, content="another deployment"))
        archive.ingest(wire("message-edit", 5, {"message": 1, "updated_content": "rolled back"}))
        archive.flush()
        assert _typed(archive, "depl") == [2, 4]
        assert _typed(archive, "rolled") == [1]
        _fts_ok(archive)
        assert archive.integrity_check() == "ok"
