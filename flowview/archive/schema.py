"""The archive's schema and its migrations.

The version is SQLite's ``user_version``.  Each migration is a list of statements applied in one
transaction, in order, so a database is always at exactly one version.  New tables (the outbox
of issue 12 is the next one) are added as a new entry at the end of MIGRATIONS: never edit a
migration that has shipped.

New rows are indexed by the writer in bulk at the end of each batch (an INSERT trigger per row
is ten times slower, measured); updates and deletions keep the index in step by triggers.
Prefix indexes of 2 and 3 characters make search-as-you-type on a short word one index lookup
instead of a merge over every word it starts (about 1.5x faster, for ~10 MB per 100k messages).
There is deliberately no index on `sent`: it cost a quarter of the ingest rate, and dates only
ever narrow a full-text match or an (occasional) prune.

Messages are keyed by (conversation, message id).  ``text`` and ``tags`` are what the full-text
index covers; ``raw`` is the event as received (JSON) with later edits, tag changes and
reactions applied, so the view can rebuild an Event from it.  The index is an FTS5 table over
the messages table (external content: the text is stored once) kept in step by triggers.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Final

log = logging.getLogger(__name__)

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
)

SCHEMA_VERSION: Final = len(MIGRATIONS)


def configure(conn: sqlite3.Connection) -> None:
    """Per-connection settings.  WAL lets the view read while the writer writes; NORMAL sync
    keeps every committed transaction across a process crash (kill -9), losing at most the last
    ones on a power cut, never corrupting."""
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
