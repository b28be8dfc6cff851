"""The archive: one SQLite database of everything a viewer saw, for one server+user.

Writes go through an `ArchiveWriter` thread (`ingest`, `set_read_position`, ...): they never
block the caller's event loop.  Reads (`tail`, `before`, `around`, `search`, ...) use one
connection per calling thread; in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from flowview.archive import codec, rows, schema
from flowview.archive.operations import Flows, ReadPosition, Users
from flowview.archive.paths import (
    ArchiveError,
    archive_path,
    create_private_file,
    data_dir,
    ensure_private_dir,
)
from flowview.archive.rows import ConversationKey, conv_id, conv_key
from flowview.archive.writer import DEFAULT_MAX_BYTES, ArchiveClosed, ArchiveWriter
from flowview.protocol.events import Event, parse_event

log = logging.getLogger(__name__)

_HOLE: Final = "hole:"
_COLUMNS: Final = "conv, id, kind, user, sent, text, tags, thread_id, uuid, edited, deleted, raw"


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    """One stored line.  `text` is unsanitised (sanitise before display); `raw` is the event as
    received with later edits, tag changes and reactions applied."""

    key: ConversationKey
    id: int
    kind: str
    user: str | None
    sent: int | None
    text: str
    tags: str
    thread_id: str | None
    uuid: str | None
    edited: bool
    deleted: bool
    raw: dict[str, Any]

    def event(self) -> Event:
        """The message as an Event, as the stream would deliver it now."""
        return parse_event(self.raw)

    def to_json(self) -> dict[str, Any]:
        """The stored fields (for `flowview export` and `search --json`)."""
        return {
            "conversation": conv_id(self.key),
            "id": self.id,
            "event": self.kind,
            "user": self.user,
            "sent": self.sent,
            "text": self.text,
            "tags": self.tags.split(),
            "thread_id": self.thread_id,
            "uuid": self.uuid,
            "edited": self.edited,
            "deleted": self.deleted,
        }


def message_from_row(row: tuple[Any, ...]) -> ArchivedMessage:
    conv, mid, kind, user, sent, text, tags, thread_id, uuid, edited, deleted, raw = row
    return ArchivedMessage(
        key=conv_key(conv),
        id=mid,
        kind=kind,
        user=user,
        sent=sent,
        text=text,
        tags=tags,
        thread_id=thread_id,
        uuid=uuid,
        edited=bool(edited),
        deleted=bool(deleted),
        raw=rows.restored_raw(kind, codec.loads(raw), text),
    )


@dataclass(frozen=True, slots=True)
class FlowInfo:
    id: str
    organization: str
    parameterized_name: str
    name: str

    @property
    def slug(self) -> str:
        return f"{self.organization}/{self.parameterized_name}"


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE in the writer).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    schema.configure(conn)
    return conn


class _Rows(list[tuple[Any, ...]]):
    """A read's rows, fetched while the connection was guarded (cursor-like access)."""

    def fetchone(self) -> tuple[Any, ...] | None:
        return self[0] if self else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self)


class _Reader:
    """A thread's read connection, used only through `execute`, which runs the statement and
    fetches its rows while the archive knows a read is in progress: `Archive.close` waits
    for reads to end before it closes the connections (closing a connection that another
    thread is reading crashed the process inside SQLite)."""

    def __init__(self, archive: Archive, conn: sqlite3.Connection) -> None:
        self._archive = archive
        self._conn = conn

    def execute(self, sql: str, params: Iterable[Any] = ()) -> _Rows:
        with self._archive._reading():
            return _Rows(self._conn.execute(sql, tuple(params)).fetchall())


class Archive:
    """See the module docstring.  Open with `Archive.open(path)` or `Archive.for_account`."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        max_age_ms: int | None = None,
        writable: bool = True,
        on_commit: Callable[[int], None] | None = None,
        batch_max: int | None = None,
    ) -> None:
        self.path = path
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        # Reads in progress, and whether close() began: it waits for the reads to end.
        self._reads = threading.Condition()
        self._active_reads = 0
        self._closing = False
        self.writer: ArchiveWriter | None = None
        if writable:
            kwargs: dict[str, Any] = {}
            if batch_max is not None:
                kwargs["batch_max"] = batch_max
            self.writer = ArchiveWriter(
                lambda: _connect(self.path),
                max_bytes=max_bytes,
                max_age_ms=max_age_ms,
                on_commit=on_commit,
                **kwargs,
            )

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        writable: bool = True,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        max_age_ms: int | None = None,
        on_commit: Callable[[int], None] | None = None,
        batch_max: int | None = None,
    ) -> Archive:
        """Open (creating and migrating if needed) the archive at `path` and start its writer.

        A read-only open (`writable=False`) never creates anything: ArchiveError if missing."""
        if writable:
            ensure_private_dir(path.parent)
            create_private_file(path)
        elif not path.is_file():
            raise ArchiveError(f"no archive at {path}")
        try:
            conn = _connect(path)
            try:
                if writable:
                    schema.migrate(conn)
                else:
                    (version,) = conn.execute("PRAGMA user_version").fetchone()
                    if version != schema.SCHEMA_VERSION:
                        raise ArchiveError(
                            f"archive {path} has schema {version}, expected "
                            f"{schema.SCHEMA_VERSION} (open it once with the viewer)"
                        )
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise ArchiveError(f"cannot open archive {path}: {exc}") from exc
        archive = cls(
            path,
            writable=writable,
            max_bytes=max_bytes,
            max_age_ms=max_age_ms,
            on_commit=on_commit,
            batch_max=batch_max,
        )
        if archive.writer is not None:
            archive.writer.start()
        return archive

    @classmethod
    def for_account(
        cls,
        api_url: str,
        user_id: str,
        *,
        directory: Path | None = None,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        max_age_ms: int | None = None,
    ) -> Archive:
        """The archive of `user_id` on the server at `api_url` (one file per pair)."""
        directory = directory or data_dir()
        archive = cls.open(
            archive_path(api_url, user_id, directory), max_bytes=max_bytes, max_age_ms=max_age_ms
        )
        archive.set_meta({"api_url": api_url, "user_id": user_id})
        return archive

    def close(self, timeout: float | None = 30.0) -> bool:
        """Write what is queued, stop the writer and close every connection.  True when all
        queued work was written."""
        ok = True
        if self.writer is not None:
            ok = self.writer.close(timeout)
        with self._reads:
            self._closing = True
            if not self._reads.wait_for(lambda: self._active_reads == 0, timeout):
                log.error("archive closed while %d read(s) still run", self._active_reads)
                return False  # leave the connections open rather than crash a reader
        with self._readers_lock:
            for conn in self._readers:
                try:
                    conn.close()
                except sqlite3.Error:
                    log.exception("closing an archive reader failed")
            self._readers.clear()
        self._local = threading.local()
        return ok

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writes

    def _writer(self) -> ArchiveWriter:
        if self.writer is None:
            raise ArchiveError("this archive was opened read-only")
        return self.writer

    def ingest(self, event: Event | dict[str, Any]) -> None:
        """Store one event (line events become messages; edits, tag changes and reactions
        change the stored message; user and flow events update names).  Non-blocking unless the
        writer is far behind."""
        self._writer().submit(event)

    def ingest_many(self, events: Iterable[Event | dict[str, Any]]) -> None:
        """Queue events in order (in chunks: cheaper than one `ingest` each)."""
        self._writer().submit_many(events if isinstance(events, list | tuple) else list(events))

    def set_users(self, users: Iterable[Any]) -> None:
        """Names for offline results: objects with id/nick/name (protocol.rest.User)."""
        self._writer().submit(
            Users(tuple((str(u.id), str(u.nick), str(u.name or "")) for u in users))
        )

    def set_flows(self, flows: Iterable[Any]) -> None:
        """Flow names: objects with id/organization/parameterized_name/name (rest.Flow)."""
        self._writer().submit(
            Flows(
                tuple(
                    (str(f.id), str(f.organization), str(f.parameterized_name), str(f.name))
                    for f in flows
                )
            )
        )

    def set_read_position(self, key: ConversationKey, message_id: int) -> None:
        """The newest message the user has seen in `key` (only ever moves forward)."""
        self._writer().submit(ReadPosition(conv_id(key), message_id, int(time.time() * 1000)))

    def set_meta(self, values: dict[str, str]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items())
            )

        self._writer().call(write)

    # Holes: ranges of a conversation the archive is known to lack (a back-fill that did not
    # reach, a latest page loaded above older archived messages).  Kept in `meta` as
    # "hole:<conversation>:<after id>" -> "<before id>" (no schema change); messages with
    # after < id < before are missing.
    def add_hole(self, key: ConversationKey, after_id: int, before_id: int) -> None:
        if before_id - after_id > 1:
            self.set_meta({f"{_HOLE}{conv_id(key)}:{after_id}": str(before_id)})

    def remove_hole(self, key: ConversationKey, after_id: int) -> None:
        name = f"{_HOLE}{conv_id(key)}:{after_id}"

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM meta WHERE key = ?", (name,))

        self._writer().call(write)

    def flush(self, timeout: float | None = 30.0) -> None:
        """Block until everything queued so far is committed (not for the UI loop)."""
        self._writer().flush(timeout)

    async def aflush(self) -> None:
        """Await until everything queued so far is committed."""
        await asyncio.wrap_future(self._writer().barrier())

    def prune(self, timeout: float | None = 60.0) -> int:
        """Apply the size and age caps now; returns the number of messages removed."""
        return self._writer().prune().result(timeout)

    # ----------------------------------------------------------------- reads

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._reads:
            if self._closing:
                raise ArchiveClosed("the archive is closed")
            self._active_reads += 1
        try:
            yield
        finally:
            with self._reads:
                self._active_reads -= 1
                self._reads.notify_all()

    def _conn(self) -> _Reader:
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            with self._reading():
                conn = _connect(self.path)
            reader = _Reader(self, conn)
            self._local.reader = reader
            with self._readers_lock:
                self._readers.append(conn)
        return reader

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Raw read access for this package's modules (search)."""
        return self._conn().execute(sql, tuple(params)).fetchall()

    def _messages(self, sql: str, params: tuple[Any, ...]) -> list[ArchivedMessage]:
        return [message_from_row(r) for r in self._conn().execute(sql, params)]

    def tail(self, key: ConversationKey, limit: int = 100) -> list[ArchivedMessage]:
        """The newest `limit` messages of a conversation, oldest first."""
        found = self._messages(
            f"SELECT {_COLUMNS} FROM messages WHERE conv = ? ORDER BY id DESC LIMIT ?",
            (conv_id(key), limit),
        )
        found.reverse()
        return found

    def before(
        self, key: ConversationKey, message_id: int, limit: int = 100
    ) -> list[ArchivedMessage]:
        """Up to `limit` messages older than `message_id`, oldest first (scrolling up)."""
        found = self._messages(
            f"SELECT {_COLUMNS} FROM messages WHERE conv = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (conv_id(key), message_id, limit),
        )
        found.reverse()
        return found

    def after(
        self, key: ConversationKey, message_id: int, limit: int = 100
    ) -> list[ArchivedMessage]:
        """Up to `limit` messages newer than `message_id`, oldest first."""
        return self._messages(
            f"SELECT {_COLUMNS} FROM messages WHERE conv = ? AND id > ? ORDER BY id LIMIT ?",
            (conv_id(key), message_id, limit),
        )

    def around(
        self, key: ConversationKey, message_id: int, before: int = 20, after: int = 20
    ) -> list[ArchivedMessage]:
        """Context for a jump: `before` older messages, the message (if held), `after` newer."""
        middle = self._messages(
            f"SELECT {_COLUMNS} FROM messages WHERE conv = ? AND id = ?",
            (conv_id(key), message_id),
        )
        return [
            *self.before(key, message_id, before),
            *middle,
            *self.after(key, message_id, after),
        ]

    def get(self, key: ConversationKey, message_id: int) -> ArchivedMessage | None:
        found = self._messages(
            f"SELECT {_COLUMNS} FROM messages WHERE conv = ? AND id = ?",
            (conv_id(key), message_id),
        )
        return found[0] if found else None

    def iter_conversation(
        self, key: ConversationKey, *, since_ms: int | None = None, chunk: int = 1000
    ) -> Iterator[ArchivedMessage]:
        """Every message of a conversation in order (for export), read in chunks."""
        last = -(1 << 62)
        while True:
            page = self._messages(
                f"SELECT {_COLUMNS} FROM messages WHERE conv = ? AND id > ?"
                " AND (? IS NULL OR sent >= ?) ORDER BY id LIMIT ?",
                (conv_id(key), last, since_ms, since_ms, chunk),
            )
            yield from page
            if len(page) < chunk:
                return
            last = page[-1].id

    def newest_id(self, key: ConversationKey) -> int | None:
        """The newest archived id of a conversation (REST `since_id` for back-fill)."""
        row = (
            self._conn()
            .execute("SELECT max(id) FROM messages WHERE conv = ?", (conv_id(key),))
            .fetchone()
        )
        return None if row is None or row[0] is None else int(row[0])

    def newest_before(self, key: ConversationKey, message_id: int) -> int | None:
        """The newest archived id older than `message_id` (None: nothing older)."""
        row = (
            self._conn()
            .execute(
                "SELECT max(id) FROM messages WHERE conv = ? AND id < ?",
                (conv_id(key), message_id),
            )
            .fetchone()
        )
        return None if row is None or row[0] is None else int(row[0])

    def holes(self, key: ConversationKey) -> list[tuple[int, int]]:
        """(after, before) ranges this conversation is known to lack, oldest first."""
        prefix = f"{_HOLE}{conv_id(key)}:"
        found: list[tuple[int, int]] = []
        for name, value in self._conn().execute(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        ):
            try:
                found.append((int(name[len(prefix) :]), int(value)))
            except ValueError:
                log.exception("a malformed hole in the archive's meta (ignored)")
        return sorted(found)

    def conversations(self) -> list[ConversationKey]:
        return [conv_key(r[0]) for r in self._conn().execute("SELECT DISTINCT conv FROM messages")]

    def count(self, key: ConversationKey | None = None) -> int:
        if key is None:
            row = self._conn().execute("SELECT count(*) FROM messages").fetchone()
        else:
            row = (
                self._conn()
                .execute("SELECT count(*) FROM messages WHERE conv = ?", (conv_id(key),))
                .fetchone()
            )
        assert row is not None  # an aggregate answers one row
        return int(row[0])

    def read_position(self, key: ConversationKey) -> int | None:
        row = (
            self._conn()
            .execute("SELECT message_id FROM read_positions WHERE conv = ?", (conv_id(key),))
            .fetchone()
        )
        return None if row is None else int(row[0])

    def read_positions(self) -> dict[ConversationKey, int]:
        return {
            conv_key(conv): int(mid)
            for conv, mid in self._conn().execute("SELECT conv, message_id FROM read_positions")
        }

    def unread_count(self, key: ConversationKey, own_user: str | None = None) -> int:
        """Messages newer than the read position (not counting one's own)."""
        position = self.read_position(key) or 0
        row = (
            self._conn()
            .execute(
                "SELECT count(*) FROM messages WHERE conv = ? AND id > ? AND deleted = 0"
                " AND (? IS NULL OR user IS NOT ?)",
                (conv_id(key), position, own_user, own_user),
            )
            .fetchone()
        )
        assert row is not None  # an aggregate answers one row
        return int(row[0])

    def users(self) -> dict[str, tuple[str, str]]:
        """user id -> (nick, name)."""
        return {
            uid: (nick, name)
            for uid, nick, name in self._conn().execute("SELECT id, nick, name FROM users")
        }

    def flows(self) -> dict[str, FlowInfo]:
        """flow id -> FlowInfo."""
        return {
            r[0]: FlowInfo(*r)
            for r in self._conn().execute(
                "SELECT id, organization, parameterized_name, name FROM flows"
            )
        }

    def meta(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT key, value FROM meta").fetchall())

    def conversation_label(self, key: ConversationKey, me: str | None = None) -> str:
        """ "org/flow" for a flow, "@nick" for a private conversation (ids when unknown)."""
        if key[0] == "flow":
            info = self.flows().get(key[1])
            return info.slug if info else key[1]
        users = self.users()
        ids = [u for u in key[1].split(":") if u != me] or key[1].split(":")[:1]
        return ", ".join("@" + users.get(u, (u, ""))[0] for u in ids)

    def integrity_check(self) -> str:
        return str(self._conn().execute("PRAGMA integrity_check")[0][0])


__all__ = ["Archive", "ArchiveError", "ArchivedMessage", "FlowInfo", "rows"]
