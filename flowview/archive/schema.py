"""The archive's schema and its migrations.

The version is SQLite's ``user_version``.  Each migration is a list of statements applied in one
transaction, in order, so a database is always at exactly one version.  New tables (the outbox
of issue 12 is the next one) are added as a new entry at the end of MIGRATIONS: never edit a
migration that has shipped.

New rows are indexed by the writer in bulk at the end of each batch (an INSERT trigger per row
is ten times slower, measured); updates and deletions keep the index in step by triggers.
Since version 3 there is no prefix index (version 2 had one of 3 characters, version 1 also
one of 2): each one costs as much as indexing every word a second time.  A prefix query merges
over every word it starts instead, so search-as-you-type searches a word of 1-3 characters as a
whole word and only longer ones as prefixes (query.py), and search.py reads a common prefix's
newest matches through the word as typed first.  Nor does the index keep each message's column
sizes (`columnsize=0`, a row per message in a table of its own): bm25 tokenizes the few
candidates it ranks instead.
There is deliberately no index on `sent`: it cost a quarter of the ingest rate, and dates only
ever narrow a full-text match or an (occasional) prune.

Messages are keyed by (conversation, message id).  ``text`` and ``tags`` are what the full-text
index covers; ``raw`` is the event as received (JSON) with later edits, tag changes and
reactions applied, so the view can rebuild an Event from it -- without the ``content`` of a
message, status or line, which is ``text`` (stored once since version 2).  The index is an
FTS5 table over the messages table (external content: it holds no copy of the text) kept in
step by triggers.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Final

log = logging.getLogger(__name__)

# Kinds whose searchable text is exactly their `content` string: that string is stored once,
# in `text`, and put back into the event when it is read (rows.py).
CONTENT_IS_TEXT: Final = frozenset({"message", "status", "line"})

# FTS5 flushes its in-memory terms to a new segment whenever they reach `hashsize` bytes
# (1 MiB by default).  A batch of 20,000 messages fills ~16 MiB: one segment per batch instead
# of ~16 to merge later.  Measured: index time per message 18.9 -> 13.5 us (prefix='3').
FTS_HASHSIZE: Final = 16 * 1024 * 1024

# Segments are merged when 8 of a size exist instead of 4: half the merge work while ingesting,
# a few more segments for a query to read.  Measured at 1M messages (one run each): writer CPU
# per message -9 %, search CPU p95 +5 % (26.6 ms, within the 50 ms target).
FTS_AUTOMERGE: Final = 8

# Since version 4 the writer merges segments itself, only while it has nothing else to do
# (writer.py), `usermerge` segments of a level at a time: the same fan-out as automerge 8 had,
# with the merge work off the ingest path.  While batches keep coming, segments pile up at
# level 0 until FTS5's own `crisismerge` (16, its default) merges them within the write.
FTS_USERMERGE: Final = 8

_FTS_V2: Final = """CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, tags,
    content='messages', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2',
    prefix='3'
)"""

# Version 3: no prefix index, no column sizes (see the module docstring).
_FTS_V3: Final = """CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, tags,
    content='messages', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2',
    columnsize=0
)"""

_FTS_TRIGGERS: Final = (
    """CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text, tags)
            VALUES ('delete', old.rowid, old.text, old.tags);
    END""",
    """CREATE TRIGGER messages_au AFTER UPDATE OF text, tags ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text, tags)
            VALUES ('delete', old.rowid, old.text, old.tags);
        INSERT INTO messages_fts (rowid, text, tags) VALUES (new.rowid, new.text, new.tags);
    END""",
)

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: messages, their index, users, flows, read positions, metadata.
    (
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE messages (
            rowid INTEGER PRIMARY KEY,
            conv TEXT NOT NULL,
            id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            user TEXT,
            sent INTEGER,
            text TEXT NOT NULL,
            tags TEXT NOT NULL,
            thread_id TEXT,
            uuid TEXT,
            edited INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            raw BLOB NOT NULL,
            UNIQUE (conv, id)
        )""",
        """CREATE VIRTUAL TABLE messages_fts USING fts5 (
            text, tags,
            content='messages', content_rowid='rowid',
            tokenize='unicode61 remove_diacritics 2',
            prefix='2 3'
        )""",
        """CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text, tags)
                VALUES ('delete', old.rowid, old.text, old.tags);
        END""",
        """CREATE TRIGGER messages_au AFTER UPDATE OF text, tags ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, text, tags)
                VALUES ('delete', old.rowid, old.text, old.tags);
            INSERT INTO messages_fts (rowid, text, tags) VALUES (new.rowid, new.text, new.tags);
        END""",
        """CREATE TABLE users (
            id TEXT PRIMARY KEY,
            nick TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX users_nick ON users (nick COLLATE NOCASE)",
        """CREATE TABLE flows (
            id TEXT PRIMARY KEY,
            organization TEXT NOT NULL,
            parameterized_name TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT ''
        )""",
        # Never pruned: the unread counts after a restart depend on them.
        """CREATE TABLE read_positions (
            conv TEXT PRIMARY KEY,
            message_id INTEGER NOT NULL,
            updated INTEGER NOT NULL
        )""",
    ),
    # 2: faster ingest (issue 11's 50k msg/s), migrated in place, nothing lost:
    # - the text of a message, status or line is stored once: its `raw` no longer holds the
    #   `content` that `text` already has (rows.stored_raw / rows.restored_raw);
    # - the full-text index keeps a prefix index of 3 characters only (as-you-type search
    #   treats words under 3 characters as whole words, query.py), and flushes its pending
    #   terms every 16 MiB instead of every 1 MiB (fewer, larger segments: -40 % index time)
    #   and merges them 8 at a time instead of 4.
    (
        "DROP TRIGGER messages_ad",
        "DROP TRIGGER messages_au",
        "DROP TABLE messages_fts",
        f"""UPDATE messages SET raw = CAST(json_remove(CAST(raw AS TEXT), '$.content') AS BLOB)
            WHERE kind IN ({", ".join(repr(k) for k in sorted(CONTENT_IS_TEXT))})
            AND json_valid(CAST(raw AS TEXT))
            AND json_type(CAST(raw AS TEXT), '$.content') = 'text'
            AND json_extract(CAST(raw AS TEXT), '$.content') = text""",
        _FTS_V2,
        f"INSERT INTO messages_fts (messages_fts, rank) VALUES ('hashsize', {FTS_HASHSIZE})",
        f"INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', {FTS_AUTOMERGE})",
        "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
        *_FTS_TRIGGERS,
    ),
    # 3: faster ingest again (issue 11's 50k msg/s; measured side by side, writer CPU per
    # message -15 to -20 %, bench/bench_archive_fts.py): the index is rebuilt without its
    # prefix index and without column sizes.  Rebuilding takes 20-45 s at 1M messages, once.
    (
        "DROP TRIGGER messages_ad",
        "DROP TRIGGER messages_au",
        "DROP TABLE messages_fts",
        _FTS_V3,
        f"INSERT INTO messages_fts (messages_fts, rank) VALUES ('hashsize', {FTS_HASHSIZE})",
        f"INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', {FTS_AUTOMERGE})",
        "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
        *_FTS_TRIGGERS,
    ),
    # 4: faster ingest (issue 11's 50k msg/s): no automatic merge inside a write.  FTS5's
    # automerge does merge work in every transaction that writes the index, as many leaves
    # per leaf written as the index has levels (3-5 at 1M messages): at 1M that was 4-5 us of
    # the 11-14 us the index cost per message.  The writer now runs the same merges with the
    # 'merge' command when its queue is empty (writer.ArchiveWriter._merge_step).
    (
        "INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0)",
        f"INSERT INTO messages_fts (messages_fts, rank) VALUES ('usermerge', {FTS_USERMERGE})",
    ),
)

SCHEMA_VERSION: Final = len(MIGRATIONS)


def configure(conn: sqlite3.Connection) -> None:
    """Per-connection settings.  WAL lets the view read while the writer writes; NORMAL sync
    keeps every committed transaction across a process crash (kill -9), losing at most the last
    ones on a power cut, never corrupting.  Pages of 8 KiB (only a new database takes them;
    one made with 4 KiB keeps them): the full-text index's segments and the message rows fit
    them better (measured: -10 % ingest time)."""
    conn.execute("PRAGMA page_size=8192")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to SCHEMA_VERSION; returns the version found before.

    Raises sqlite3.DatabaseError for a database newer than this code (never downgraded)."""
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    if found > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"archive schema version {found} is newer than this flowview ({SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("archive schema migrated to version %d", version + 1)
    return int(found)
