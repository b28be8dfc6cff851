"""The archive's writer: one thread that owns the write connection.

Callers (the Textual loop, `flowview tail`) only enqueue; the thread takes everything queued,
up to `batch_max` operations, and applies it in one transaction, in the order it was queued.
A crash loses at most the batch being written; SQLite's WAL makes every committed batch whole.

The queue is bounded.  When it is full, `submit` blocks the caller until there is room rather
than dropping anything: losing archived messages silently is worse than a short stall, and at
the measured ingest rate (see bench/bench_archive.py) the queue only fills if the disk stalls.
"""

from __future__ import annotations

import enum
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from flowview.archive import codec, rows
from flowview.archive.checkpointer import KEEP_BYTES, Checkpointer
from flowview.archive.line_runs import INSERT_SQL, LINE_CLASSES, REFRESH_SQL, LineRun, is_line
from flowview.archive.operations import (
    CHUNK_MAX,
    STOP,
    Barrier,
    Call,
    Chunk,
    Flows,
    Operation,
    OperationQueue,
    Prune,
    ReadPosition,
    Users,
)
from flowview.archive.paths import ArchiveError
from flowview.protocol.events import (
    EmojiReactionEvent,
    Event,
    FlowAddEvent,
    MessageEditEvent,
    TagChangeEvent,
    UserEditEvent,
    UserJoinEvent,
    parse_event,
)

log = logging.getLogger(__name__)

DEFAULT_QUEUE_MAX: Final = 100_000
DEFAULT_BATCH_MAX: Final = 20_000  # measured: 5,000 -> 20,000 is +15% ingest (fewer FTS segments)
DEFAULT_MAX_BYTES: Final = 1 << 30  # 1 GiB
# The writer's page cache: 32 MiB for bulk batches (the index merges and the (conv, id) index
# re-read recent pages in every batch: -15 % ingest time at 100k messages, measured), SQLite's
# default 2 MiB for the small batches of a live stream.  A 1M-message archive fills the big
# cache in seconds and it stays allocated (measured: 33 MB of the viewer's 124 MB RSS), so the
# writer goes back to the small one as soon as a small batch comes (which frees the rest).
WRITER_CACHE_KIB: Final = 32 * 1024
SMALL_CACHE_KIB: Final = 2 * 1024
BULK_BATCH: Final = 2_000  # operations in a batch from which the big cache is used
PRUNE_EVERY: Final = 20_000  # operations between two size checks
# The full-text index's segments are merged by the writer while its queue is empty, never
# inside a batch (schema version 4: automerge is off): one step merges about MERGE_PAGES
# pages (~90 us each at 1M messages, so a step holds new work back ~25 ms at most), and steps
# go on while there is work and no new operation.  A check is due after a bulk batch, or
# after MERGE_EVERY small ones (each batch writes one segment; FTS5 merges a level once it
# has schema.FTS_USERMERGE of them).
MERGE_PAGES: Final = 256
MERGE_EVERY: Final = 8
_MERGE: Final = "INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ?)"
# Checkpoints run in a thread of their own (checkpointer.py).  The WAL they leave behind while
# batches follow each other without a pause is bounded: a batch begins only once the WAL is
# back under WAL_MAX_BYTES (the writer waits for the checkpoint of its last commit; the batch
# then writes from the WAL's start).  After such a restart SQLite truncates the file to
# KEEP_BYTES (`journal_size_limit`); after a burst the checkpointer truncates it.
WAL_MAX_BYTES: Final = 128 * 1024 * 1024
# SQLite's own automatic checkpoint (pages), back on when the checkpointer cannot run.
SQLITE_AUTOCHECKPOINT: Final = 1000


class WriterState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"  # no new work accepted; the queue is being drained
    CLOSED = "closed"
    FAILED = "failed"  # the database cannot be written; nothing more is accepted


_TRANSITIONS: Final[dict[WriterState, frozenset[WriterState]]] = {
    WriterState.NEW: frozenset({WriterState.RUNNING, WriterState.CLOSED}),
    WriterState.RUNNING: frozenset({WriterState.CLOSING, WriterState.FAILED}),
    WriterState.CLOSING: frozenset({WriterState.CLOSED, WriterState.FAILED}),
    WriterState.FAILED: frozenset({WriterState.CLOSED}),
    WriterState.CLOSED: frozenset(),
}


# States in which the thread no longer takes work from the queue.
_STOPPED: Final = frozenset({WriterState.FAILED, WriterState.CLOSED})


class ArchiveClosed(ArchiveError):
    """Work was submitted to a writer that is not running."""


@dataclass
class WriterStats:
    batches: int = 0
    operations: int = 0
    messages: int = 0
    skipped: int = 0  # events that are not archived (presence, typing, ... or no id)
    failed: int = 0  # operations SQLite refused (logged with their traceback)
    retried: int = 0  # batches that failed whole and were redone one operation at a time
    pruned: int = 0
    blocked: int = 0  # submits that waited for room in the queue
    busy_seconds: float = 0.0  # wall time spent writing batches
    cpu_seconds: float = 0.0  # CPU time of the writer thread spent writing batches
    merge_steps: int = 0  # index merge steps run while idle (see MERGE_PAGES)
    merge_cpu_seconds: float = 0.0  # CPU time of those steps (not in cpu_seconds)


class ArchiveWriter:
    """Owns the write connection in its own thread.  See the module docstring."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        queue_max: int = DEFAULT_QUEUE_MAX,
        batch_max: int = DEFAULT_BATCH_MAX,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        max_age_ms: int | None = None,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        on_commit: Callable[[int], None] | None = None,
        background_checkpoints: bool = True,
        wal_max_bytes: int = WAL_MAX_BYTES,
        wal_keep_bytes: int = KEEP_BYTES,
    ) -> None:
        self._connect = connect
        self.checkpointer = (
            Checkpointer(connect, keep_bytes=wal_keep_bytes) if background_checkpoints else None
        )
        self._wal_max_bytes = wal_max_bytes
        self._wal_keep_bytes = wal_keep_bytes
        self._wal_path = ""  # the database's -wal file, known once connected
        self._auto_checkpoint_off = False
        self._queue: queue.Queue[Any] = OperationQueue(maxsize=queue_max)
        self._batch_max = batch_max
        self._chunk_max = max(1, min(CHUNK_MAX, queue_max))
        self.max_bytes = max_bytes
        self.max_age_ms = max_age_ms
        self._now_ms = now_ms
        self._on_commit = on_commit
        self._state = WriterState.NEW
        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._since_prune = 0
        self._cache_kib = 0  # the writer connection's cache_size now (0: not set yet)
        # First rowid inserted in this batch and not yet in the full-text index (new rows are
        # indexed together, see schema.py); rowids only grow, so ">= it" is exactly them.
        self._unindexed_from: int | None = None
        # Index merging while idle: due after enough batches, set while none is due.
        self._merge_due = False
        self._batches_since_merge = 0
        self._merged = threading.Event()
        self._merged.set()
        self.stats = WriterStats()
        self.failure: BaseException | None = None  # why the writer stopped early, if it did

    # ----------------------------------------------------------------- lifecycle

    @property
    def state(self) -> WriterState:
        return self._state

    def _move(self, new: WriterState) -> bool:
        with self._state_lock:
            if new not in _TRANSITIONS[self._state]:
                return False
            log.debug("archive writer %s -> %s", self._state.value, new.value)
            self._state = new
            return True

    def start(self) -> None:
        if not self._move(WriterState.RUNNING):
            raise ArchiveClosed(f"archive writer cannot start from {self._state.value}")
        self._thread = threading.Thread(target=self._run, name="flowview-archive", daemon=True)
        self._thread.start()

    def close(self, timeout: float | None = 30.0) -> bool:
        """Write everything queued, then stop.  True when everything queued was written."""
        if self._state is WriterState.NEW:
            self._move(WriterState.CLOSED)
            return True
        if self._move(WriterState.CLOSING):
            self._queue.put(STOP)
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.error("archive writer did not finish within %s s", timeout)
                return False
        return self._state is WriterState.CLOSED and self.failure is None

    # ----------------------------------------------------------------- submitting

    def submit(self, op: Operation) -> None:
        """Queue one operation (blocks while the queue is full, see the module docstring)."""
        self._put(op)

    def submit_many(self, ops: Sequence[Operation]) -> None:
        """Queue operations in order, up to CHUNK_MAX of them per queue item."""
        if len(ops) == 1:
            self._put(ops[0])
            return
        size = self._chunk_max
        for start in range(0, len(ops), size):
            self._put(Chunk(ops[start : start + size]))

    def _put(self, item: Any) -> None:
        if self._state is not WriterState.RUNNING:
            raise ArchiveClosed(f"archive writer is {self._state.value}")
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.stats.blocked += 1
            if self.stats.blocked % 1000 == 1:  # once per stall, not once per message
                log.warning("archive queue full: waiting for the writer")
            self._queue.put(item)
        if self._state in _STOPPED:
            # The writer stopped between the check above and the put, after its last look at
            # the queue: nobody else will take this item, so fail it here (a Barrier must not
            # wait forever).  Items are taken from the queue once, so none is failed twice.
            self._fail_queued(ArchiveClosed(f"archive writer is {self._state.value}"))

    def barrier(self) -> Future[None]:
        """A future done once everything queued before it is committed."""
        done: Future[None] = Future()
        self.submit(Barrier(done))
        return done

    def flush(self, timeout: float | None = 30.0) -> None:
        self.barrier().result(timeout)

    def prune(self) -> Future[int]:
        done: Future[int] = Future()
        self.submit(Prune(done))
        return done

    def call(self, fn: Callable[[sqlite3.Connection], Any]) -> Future[Any]:
        done: Future[Any] = Future()
        self.submit(Call(fn, done))
        return done

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def merged(self, timeout: float | None = None) -> bool:
        """Wait until the writer has no index merge left to do (it merges while idle, see
        MERGE_PAGES); True unless `timeout` passed first."""
        return self._merged.wait(timeout)

    # ----------------------------------------------------------------- the thread

    def _run(self) -> None:
        try:
            conn = self._connect()
        except Exception as exc:
            log.exception("archive writer cannot open the database")
            self.failure = exc
            self._move(WriterState.FAILED)
            self._fail_queued(ArchiveClosed("archive database cannot be opened"))
            self._move(WriterState.CLOSED)
            return
        try:
            self._start_checkpointer(conn)
            self._loop(conn)
        except Exception as exc:
            log.exception("archive writer failed")
            self.failure = exc
            self._move(WriterState.FAILED)
            self._fail_queued(ArchiveClosed("archive writer failed"))
        finally:
            try:
                conn.execute("PRAGMA optimize")
                conn.close()
            except sqlite3.Error:
                log.exception("closing the archive database failed")
            if self.checkpointer is not None:
                self.checkpointer.close(None)
            self._move(WriterState.CLOSED)
            self._merged.set()  # nothing more will be merged: nobody waits for it
            # Anything that slipped in after the stop (see _put) is failed, never left waiting.
            self._fail_queued(ArchiveClosed("archive writer is closed"))

    def _start_checkpointer(self, conn: sqlite3.Connection) -> None:
        """Hand checkpoints to the checkpointer's thread; SQLite's automatic checkpoint stays
        on if it cannot run."""
        if self.checkpointer is None or not self.checkpointer.start():
            return
        (file,) = [row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
        self._wal_path = f"{file}-wal"
        conn.execute(f"PRAGMA journal_size_limit={self._wal_keep_bytes}")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._auto_checkpoint_off = True

    def _before_write(self, conn: sqlite3.Connection) -> None:
        """Keep the WAL bounded (see WAL_MAX_BYTES) before a transaction begins."""
        if not self._auto_checkpoint_off:
            return
        checkpointer = self.checkpointer
        assert checkpointer is not None
        if not checkpointer.running:
            log.warning("archive checkpointer stopped: the writer checkpoints again")
            conn.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT}")
            self._auto_checkpoint_off = False
            return
        try:
            size = os.stat(self._wal_path).st_size
        except OSError:
            return  # no WAL file yet (or it was just removed): nothing to bound
        if size > self._wal_max_bytes:
            checkpointer.caught_up()

    def _after_write(self) -> None:
        if self._auto_checkpoint_off and self.checkpointer is not None:
            self.checkpointer.request()

    def _loop(self, conn: sqlite3.Connection) -> None:
        stop = False
        carry: tuple[Any, ...] = ()  # what did not fit in the last batch, of a chunk
        while not stop:
            batch: list[Any] = []
            item = carry if carry else self._next(conn)
            carry = ()
            while True:
                if type(item) is Chunk:
                    room = self._batch_max - len(batch)
                    batch.extend(item[:room])
                    if len(item) > room:  # the rest starts the next batch
                        carry = Chunk(item[room:])
                        break
                else:
                    batch.append(item)
                if len(batch) >= self._batch_max:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch[-1] is STOP:
                batch.pop()
                stop = True
            elif STOP in batch:  # only ever last: nothing is accepted after it
                batch.remove(STOP)
                stop = True
            if batch:
                self._write_batch(conn, batch)

    def _next(self, conn: sqlite3.Connection) -> Any:
        """The next queued item; while none is queued and merge work is due, a merge step at a
        time (new work waits for one step at most)."""
        while self._merge_due:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                self._merge_step(conn)
        return self._queue.get()

    def _merge_step(self, conn: sqlite3.Connection) -> None:
        cpu_started = time.thread_time()
        self._before_write(conn)
        before = conn.total_changes
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(_MERGE, (MERGE_PAGES,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error:
            # The index stays as it is (unmerged, still whole); the next batches retry.
            log.exception("archive index merge failed")
            done = True
        else:
            # FTS5 rewrites only its structure record (one change) when nothing was merged.
            done = conn.total_changes - before < 2
            self._after_write()
        self.stats.merge_steps += 1
        self.stats.merge_cpu_seconds += time.thread_time() - cpu_started
        if done:
            self._merge_due = False
            self._merged.set()

    def _schedule_merge(self, operations: int) -> None:
        self._batches_since_merge += 1
        if operations >= BULK_BATCH or self._batches_since_merge >= MERGE_EVERY:
            self._batches_since_merge = 0
            self._merged.clear()
            self._merge_due = True

    def _fail_queued(self, exc: BaseException) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            for op in item if type(item) is Chunk else (item,):
                if isinstance(op, Barrier | Prune | Call):
                    op.done.set_exception(exc)
                elif op is not STOP:
                    log.error("archive writer stopped: an operation was not written")

    def _size_cache(self, conn: sqlite3.Connection, operations: int) -> None:
        """The big cache for a bulk batch, the small one otherwise (see WRITER_CACHE_KIB)."""
        kib = WRITER_CACHE_KIB if operations >= BULK_BATCH else SMALL_CACHE_KIB
        if kib != self._cache_kib:
            # Lowering cache_size frees the pages beyond it at once.
            conn.execute(f"PRAGMA cache_size={-kib}")
            self._cache_kib = kib

    def _write_batch(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        started, cpu_started = time.perf_counter(), time.thread_time()
        self._before_write(conn)
        self._size_cache(conn, len(batch))
        futures: list[tuple[Future[Any], Any]] = []
        try:
            self._apply(conn, batch, futures, isolate=False)
        except (sqlite3.Error, ValueError):  # ValueError: a value SQLite cannot take
            log.exception("archive batch failed: retrying it one operation at a time")
            self.stats.retried += 1
            futures.clear()
            try:
                self._apply(conn, batch, futures, isolate=True)
            except BaseException as exc:
                for op in batch:
                    if isinstance(op, Barrier | Prune | Call) and not op.done.done():
                        op.done.set_exception(exc)
                raise
        self.stats.batches += 1
        self.stats.operations += len(batch)
        self.stats.busy_seconds += time.perf_counter() - started
        self.stats.cpu_seconds += time.thread_time() - cpu_started
        self._schedule_merge(len(batch))
        for future, result in futures:
            if not future.done():
                future.set_result(result)
        if self._on_commit is not None:
            try:
                self._on_commit(len(batch))
            except Exception:
                log.exception("archive on_commit callback failed")
        self._since_prune += len(batch)
        if self._since_prune >= PRUNE_EVERY:
            self._since_prune = 0
            self._prune(conn)
        self._after_write()

    def _apply(
        self,
        conn: sqlite3.Connection,
        batch: list[Any],
        futures: list[tuple[Future[Any], Any]],
        *,
        isolate: bool,
    ) -> None:
        # Consecutive messages are inserted together, in order: one executemany over a run of
        # line events, their parameters made one at a time as it binds them (LineRun).
        size = len(batch)
        conn.execute("BEGIN IMMEDIATE")
        try:
            i = 0
            while i < size:
                op = batch[i]
                if not isolate and is_line(op):
                    end = i + 1
                    # The set lookup first: a call per operation costs ~0.1 us (measured).
                    while end < size and (type(batch[end]) in LINE_CLASSES or is_line(batch[end])):
                        end += 1
                    self._insert_run(conn, LineRun(batch, i, end))
                    i = end
                    continue
                i += 1
                if isinstance(op, Barrier):
                    futures.append((op.done, None))
                    continue
                if isinstance(op, Prune):
                    continue  # run after the commit, below
                if not isolate:
                    self._apply_one(conn, op, futures)
                    continue
                conn.execute("SAVEPOINT op")
                try:
                    self._apply_one(conn, op, futures)
                    self._index_new_rows(conn)
                except (sqlite3.Error, ValueError) as exc:
                    self._unindexed_from = None
                    log.exception("archive could not store one operation; it is skipped")
                    self.stats.failed += 1
                    conn.execute("ROLLBACK TO op")
                    if isinstance(op, Call):
                        op.done.set_exception(exc)
                conn.execute("RELEASE op")
            self._index_new_rows(conn)
            conn.execute("COMMIT")
        except BaseException:
            self._unindexed_from = None
            conn.execute("ROLLBACK")
            raise
        # Prunes run after the batch, each in its own transaction.
        for op in batch:
            if isinstance(op, Prune):
                try:
                    op.done.set_result(self._prune(conn))
                except sqlite3.Error as exc:
                    log.exception("archive prune failed")
                    op.done.set_exception(exc)

    def _apply_one(
        self, conn: sqlite3.Connection, op: Any, futures: list[tuple[Future[Any], Any]]
    ) -> None:
        if isinstance(op, dict):
            try:
                op = parse_event(op)
            except ValueError:
                log.warning("archive skipped a value that is not an event")
                self.stats.skipped += 1
                return
        if isinstance(op, Event):
            self._apply_event(conn, op)
        elif isinstance(op, Users):
            conn.executemany(
                "INSERT INTO users (id, nick, name) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE"
                " SET nick = excluded.nick, name = excluded.name",
                op.users,
            )
        elif isinstance(op, Flows):
            conn.executemany(
                "INSERT INTO flows (id, organization, parameterized_name, name)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " organization = excluded.organization,"
                " parameterized_name = excluded.parameterized_name, name = excluded.name",
                op.flows,
            )
        elif isinstance(op, ReadPosition):
            # Read positions only move forward (a late duplicate must not raise the count).
            conn.execute(
                "INSERT INTO read_positions (conv, message_id, updated) VALUES (?, ?, ?)"
                " ON CONFLICT (conv) DO UPDATE SET message_id = excluded.message_id,"
                " updated = excluded.updated WHERE excluded.message_id > message_id",
                (op.conv, op.message_id, op.updated),
            )
        elif isinstance(op, Call):
            self._index_new_rows(conn)
            futures.append((op.done, op.fn(conn)))
        else:
            log.error("archive writer got an unknown operation %r", type(op).__name__)
            self.stats.skipped += 1

    def _apply_event(self, conn: sqlite3.Connection, event: Event) -> None:
        if event.event in rows.LINE_KINDS:
            self._insert_run(conn, LineRun((event,), 0, 1))
        elif isinstance(event, MessageEditEvent | TagChangeEvent | EmojiReactionEvent):
            self._apply_change(conn, event)
        elif isinstance(event, UserEditEvent | UserJoinEvent):
            user_id = event.user_id
            if user_id and event.nick:
                name = event.name if isinstance(event, UserEditEvent) else ""
                conn.execute(
                    "INSERT INTO users (id, nick, name) VALUES (?, ?, ?) ON CONFLICT (id)"
                    " DO UPDATE SET nick = excluded.nick,"
                    " name = CASE WHEN excluded.name = '' THEN name ELSE excluded.name END",
                    (user_id, event.nick, name),
                )
        elif isinstance(event, FlowAddEvent):
            if event.flow_id and event.parameterized_name:
                conn.execute(
                    "INSERT OR REPLACE INTO flows (id, organization, parameterized_name, name)"
                    " VALUES (?, ?, ?, ?)",
                    (event.flow_id, event.organization, event.parameterized_name, event.name),
                )
        else:
            self.stats.skipped += 1

    def _apply_change(
        self,
        conn: sqlite3.Connection,
        event: MessageEditEvent | TagChangeEvent | EmojiReactionEvent,
    ) -> None:
        self._index_new_rows(conn)
        key, target = event.key, event.message_id
        if key is None or target is None:
            self.stats.skipped += 1
            return
        conv = rows.conv_id(key)
        found = conn.execute(
            "SELECT raw, deleted, kind, text FROM messages WHERE conv = ? AND id = ?",
            (conv, target),
        ).fetchone()
        if found is None:
            # The message itself was never archived (older than the archive); nothing to change.
            log.debug("archive: %s for a message it does not hold", event.event)
            self.stats.skipped += 1
            return
        raw_blob, deleted, kind, old_text = found
        if deleted:
            return
        raw = rows.restored_raw(kind, codec.loads(raw_blob), old_text)
        now_deleted = False
        edited = 0
        if isinstance(event, MessageEditEvent):
            raw, now_deleted = rows.apply_edit(raw, event)
            edited = 1
        elif isinstance(event, TagChangeEvent):
            raw = rows.apply_tags(raw, event)
        else:
            raw = rows.apply_reaction(raw, event)
        row = rows.rebuild(raw)
        text = "" if now_deleted or row is None else row.text
        tags = "" if now_deleted or row is None else row.tags
        params = (
            text,
            tags,
            codec.dumps(rows.stored_raw(kind, raw, text)),
            int(now_deleted),
            edited,
            conv,
            target,
        )
        sql = (
            "UPDATE messages SET text = ?, tags = ?, raw = ?, deleted = ?,"
            " edited = max(edited, ?) WHERE conv = ? AND id = ?"
        )
        try:
            conn.execute(sql, params)
        except UnicodeEncodeError:  # a lone surrogate, see _insert_run
            conn.execute(sql, rows.scrubbed(params))

    def _insert_run(self, conn: sqlite3.Connection, run: LineRun) -> None:
        """Insert a run of line events.  When some were already stored, refresh those copies
        (the update trigger re-indexes them, so index the new rows first)."""
        first = conn.execute("SELECT coalesce(max(rowid), 0) + 1 FROM messages").fetchone()[0]
        before = conn.total_changes
        try:
            conn.executemany(INSERT_SQL, run)
        except UnicodeEncodeError:
            # A lone surrogate (JSON "\\ud800") is not UTF-8: store U+FFFD in its place.  Rows
            # inserted before the failure are kept; the conflict clause skips them now.
            log.warning("archive: replacing lone surrogates in a run of %d", len(run))
            run.scrub = True
            conn.executemany(INSERT_SQL, run)
        inserted = conn.total_changes - before
        if inserted and self._unindexed_from is None:
            self._unindexed_from = first
        stored = len(run) - run.skipped
        if inserted < stored:
            self._index_new_rows(conn)
            # Rows inserted just now have the same raw, so the WHERE skips them.  The run makes
            # its parameters again (this path is rare: a replay, REST and stream overlapping).
            conn.executemany(REFRESH_SQL, ((*p[2:], p[0], p[1], p[9], p[5]) for p in run))
        self.stats.messages += stored
        self.stats.skipped += run.skipped

    def _index_new_rows(self, conn: sqlite3.Connection) -> None:
        if self._unindexed_from is None:
            return
        conn.execute(
            "INSERT INTO messages_fts (rowid, text, tags)"
            " SELECT rowid, text, tags FROM messages WHERE rowid >= ?",
            (self._unindexed_from,),
        )
        self._unindexed_from = None

    # ----------------------------------------------------------------- pruning

    def _prune(self, conn: sqlite3.Connection) -> int:
        """Delete the oldest messages beyond the age cap and the size cap (never read
        positions, users or flows).  Returns how many messages went."""
        removed = 0
        if self.max_age_ms is not None:
            cutoff = self._now_ms() - self.max_age_ms
            removed += self._delete(conn, "DELETE FROM messages WHERE sent < ?", (cutoff,))
        if self.max_bytes is not None:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            used = (pages - free) * page_size
            if used > self.max_bytes:
                (count,) = conn.execute("SELECT count(*) FROM messages").fetchone()
                # Aim 10% under the cap so pruning does not run on every batch after.
                share = (used - self.max_bytes * 0.9) / used
                n = max(1, int(count * share))
                removed += self._delete(
                    conn,
                    "DELETE FROM messages WHERE rowid IN"
                    " (SELECT rowid FROM messages ORDER BY sent LIMIT ?)",
                    (n,),
                )
        if removed:
            self.stats.pruned += removed
            log.info("archive pruned %d old messages", removed)
        return removed

    @staticmethod
    def _delete(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return max(cursor.rowcount, 0)
