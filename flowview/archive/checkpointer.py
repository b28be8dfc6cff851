"""The archive's checkpointer: copies the WAL into the database file in a thread of its own.

In WAL mode every commit appends pages to the `-wal` file; a checkpoint copies them into the
database file and syncs both (the only syncs `synchronous=NORMAL` makes).  SQLite's automatic
checkpoint runs inside the commit that crosses `wal_autocheckpoint` pages, so the writer paid
for the copy and waited for the syncs: at 1M messages that was the difference between the
writer's CPU rate and its wall rate (measured: 15.7 us of CPU a message, 23 us of wall).  Here
the writer turns its automatic checkpoint off and, after each commit, asks this thread for a
PASSIVE checkpoint, which runs beside the next batch (SQLite lets one checkpoint run while one
writer appends) and releases the GIL while it copies and syncs.

A PASSIVE checkpoint never waits for anyone, and the WAL starts over from its beginning only
when a write transaction begins with every frame already copied.  While batches follow each
other without a pause the checkpoint is always a batch behind, so the WAL keeps growing: the
writer bounds it (`ArchiveWriter`, WAL_MAX_BYTES) by waiting with `caught_up` for the
checkpoint of its last commit before it begins the next batch.  When a checkpoint has copied
a WAL longer than `keep_bytes` and no commit came meanwhile (the burst is over), the file is
truncated (a TRUNCATE checkpoint that gives way at once if the writer has begun again), so a
burst leaves no big file behind.

If this thread cannot open its connection the writer keeps SQLite's automatic checkpoint.
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

# The checkpoint reads WAL frames and writes database pages one at a time: it needs no cache.
CACHE_KIB: Final = 256
KEEP_BYTES: Final = 32 * 1024 * 1024


class CheckpointerState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"  # the last requested checkpoint runs, then the connection closes
    CLOSED = "closed"
    FAILED = "failed"  # no connection: the writer checkpoints itself (SQLite's automatic one)


_TRANSITIONS: Final[dict[CheckpointerState, frozenset[CheckpointerState]]] = {
    CheckpointerState.NEW: frozenset({CheckpointerState.RUNNING, CheckpointerState.FAILED}),
    CheckpointerState.RUNNING: frozenset({CheckpointerState.CLOSING, CheckpointerState.FAILED}),
    CheckpointerState.CLOSING: frozenset({CheckpointerState.CLOSED, CheckpointerState.FAILED}),
    CheckpointerState.FAILED: frozenset(),
    CheckpointerState.CLOSED: frozenset(),
}


@dataclass
class CheckpointStats:
    checkpoints: int = 0  # checkpoints run (one may cover several commits)
    wal_frames_max: int = 0  # the longest WAL a checkpoint found (frames of one page each)
    busy: int = 0  # checkpoints that could not copy every frame (a reader on an old snapshot)
    truncated: int = 0  # times the WAL file was cut back to nothing after a burst
    failed: int = 0  # checkpoints SQLite refused (logged with their traceback)
    cpu_seconds: float = 0.0  # this thread's CPU time in checkpoints
    seconds: float = 0.0  # wall time in checkpoints (the syncs included)
    waits: int = 0  # times the writer waited for a checkpoint (the WAL was too long)
    wait_seconds: float = 0.0


class Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection whenever asked."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, keep_bytes: int = KEEP_BYTES
    ) -> None:
        self._connect = connect
        self._keep_bytes = keep_bytes
        self._page_size = 0
        self._state = CheckpointerState.NEW
        self._cond = threading.Condition()
        # Requests and completions are numbered: `caught_up` waits for the completion of the
        # newest request, so it covers every commit made before it was called.
        self._requested = 0
        self._done = 0
        self._thread: threading.Thread | None = None
        self.stats = CheckpointStats()

    @property
    def state(self) -> CheckpointerState:
        return self._state

    @property
    def running(self) -> bool:
        return self._state is CheckpointerState.RUNNING

    def _move(self, new: CheckpointerState) -> bool:
        """Call with the condition held."""
        if new not in _TRANSITIONS[self._state]:
            return False
        log.debug("archive checkpointer %s -> %s", self._state.value, new.value)
        self._state = new
        self._cond.notify_all()
        return True

    def start(self) -> bool:
        """Open the connection (in the caller's thread, so the caller knows at once whether
        to rely on it) and start the thread.  False when it cannot run."""
        try:
            conn = self._connect()
            conn.execute(f"PRAGMA cache_size={-CACHE_KIB}")
            # Never wait for the writer: a PASSIVE checkpoint does not, and the TRUNCATE one
            # after a burst gives way to it (busy) rather than hold its next batch back.
            conn.execute("PRAGMA busy_timeout=0")
            (self._page_size,) = conn.execute("PRAGMA page_size").fetchone()
        except sqlite3.Error:
            log.exception("archive checkpointer cannot open the database")
            with self._cond:
                self._move(CheckpointerState.FAILED)
            return False
        with self._cond:
            if not self._move(CheckpointerState.RUNNING):
                conn.close()
                return False
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="flowview-archive-checkpoint", daemon=True
        )
        self._thread.start()
        return True

    def request(self) -> None:
        """Ask for a checkpoint of everything committed so far (returns at once)."""
        with self._cond:
            self._requested += 1
            self._cond.notify_all()

    def caught_up(self) -> None:
        """Wait until the checkpoint of the newest request has run (at once if none is due or
        the thread no longer runs)."""
        started = time.perf_counter()
        with self._cond:
            target = self._requested
            if self._done >= target or self._state is not CheckpointerState.RUNNING:
                return
            self._cond.wait_for(
                lambda: self._done >= target or self._state is not CheckpointerState.RUNNING
            )
        self.stats.waits += 1
        self.stats.wait_seconds += time.perf_counter() - started

    def close(self, timeout: float | None = 30.0) -> bool:
        """Run what was requested, close the connection and stop; True once stopped."""
        with self._cond:
            self._move(CheckpointerState.CLOSING)
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.error("archive checkpointer did not finish within %s s", timeout)
                return False
        return True

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(
                        lambda: (
                            self._requested > self._done
                            or self._state is not CheckpointerState.RUNNING
                        )
                    )
                    target = self._requested
                    if target == self._done:  # closing, nothing left to do
                        break
                self._checkpoint(conn, target)
                with self._cond:
                    self._done = target
                    self._cond.notify_all()
        except Exception:
            log.exception("archive checkpointer failed")
            with self._cond:
                self._move(CheckpointerState.FAILED)
        finally:
            try:
                conn.close()
            except sqlite3.Error:
                log.exception("closing the archive checkpointer's connection failed")
            with self._cond:
                self._move(CheckpointerState.CLOSED)

    def _checkpoint(self, conn: sqlite3.Connection, target: int) -> None:
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            busy, frames, copied = row
            if (
                not busy
                and copied == frames
                and frames * self._page_size > self._keep_bytes
                # No commit since (read without the lock: a stale answer only means the
                # TRUNCATE gives way, busy, or runs between two batches).
                and self._requested == target
            ):
                (busy_now, _, _) = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                self.stats.truncated += not busy_now
        except sqlite3.Error:
            # The WAL keeps its frames (nothing is lost); the next request tries again.
            log.exception("archive checkpoint failed")
            self.stats.failed += 1
            return
        finally:
            self.stats.checkpoints += 1
            self.stats.cpu_seconds += time.thread_time() - cpu_started
            self.stats.seconds += time.perf_counter() - started
        self.stats.wal_frames_max = max(self.stats.wal_frames_max, frames)
        if busy or copied < frames:
            self.stats.busy += 1
