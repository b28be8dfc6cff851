"""Durable storage of unsent messages: one JSON file in flowview's data directory.

Every change rewrites the whole file atomically (temp file, fsync, rename, fsync of the
directory), so after a crash or kill -9 the file holds the state before or after the change,
never a torn mix.  The outbox is small (what the user typed and the server has not confirmed),
so a rewrite per change costs little and keeps the format trivially checkable.

The directory is ours alone: created 0700, and refused when someone else owns it or can write
to it (they could swap the file and make us post their text).  The file is 0600.  An exclusive
advisory lock keeps two flowview processes from sending the same outbox twice; the kernel drops
it when the process dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flowview.protocol.datadir import (
    DATA_DIR_ENV,
    UnsafeDirectory,
    data_dir,
    ensure_private_dir,
)

log = logging.getLogger(__name__)

__all__ = [
    "DATA_DIR_ENV",
    "OUTBOX_FILE",
    "OutboxLockedError",
    "OutboxStore",
    "OutboxStoreError",
    "data_dir",
    "write_private_file",
]

OUTBOX_FILE = "outbox.json"
FORMAT_VERSION = 1
_FILE_MODE = 0o600
# A sane outbox is a few KB; a huge file is not ours or is corrupt, and must not eat memory.
MAX_FILE_BYTES = 64 * 1024 * 1024


class OutboxStoreError(Exception):
    """The outbox cannot be used safely (permissions, ownership, unreadable file)."""


class OutboxLockedError(OutboxStoreError):
    """Another flowview process holds this outbox."""


def _ensure_private_dir(directory: Path) -> None:
    """Create `directory` 0700, or check that an existing one is ours and closed to others."""
    try:
        ensure_private_dir(directory)
    except UnsafeDirectory as exc:
        raise OutboxStoreError(str(exc)) from exc


def _fsync_dir(directory: Path) -> None:
    # Makes a rename durable.  Not possible everywhere (some filesystems refuse), hence
    # best effort: the data itself was already fsynced.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        log.debug("cannot open %s to fsync it", directory)
        return
    try:
        os.fsync(fd)
    except OSError:
        log.debug("fsync of directory %s not supported", directory)
    finally:
        os.close(fd)


class OutboxStore:
    """The outbox file.  Records are JSON objects with a unique string ``uuid``.

    `open()` takes the lock and must be paired with `close()` (or use ``with``).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else data_dir()
        self.path = self.directory / OUTBOX_FILE
        self._lock_fd: int | None = None
        self._records: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> OutboxStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> list[dict[str, Any]]:
        """Check the directory, take the lock, and return the stored records in file order."""
        _ensure_private_dir(self.directory)
        lock_path = self.directory / (OUTBOX_FILE + ".lock")
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(lock_path, flags, _FILE_MODE)
        except OSError as exc:
            raise OutboxStoreError(f"cannot open {lock_path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutboxLockedError(
                f"another flowview is sending from {self.path}; close it first"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise OutboxStoreError(f"cannot lock {lock_path}: {exc.strerror}") from exc
        self._lock_fd = fd
        try:
            records = self._read()
        except BaseException:
            self.close()
            raise
        self._records = {r["uuid"]: r for r in records}
        return list(self._records.values())

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    @property
    def is_open(self) -> bool:
        return self._lock_fd is not None

    # ------------------------------------------------------------------ records

    def records(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._records.values()]

    def put(self, record: dict[str, Any]) -> None:
        """Insert or replace the record with this uuid; durable when this returns."""
        uid = record.get("uuid")
        if not isinstance(uid, str) or not uid:
            raise ValueError("an outbox record needs a string uuid")
        self._require_open()
        previous = self._records.get(uid)
        self._records[uid] = dict(record)
        try:
            self._write(self._records.values())
        except BaseException:
            # Memory must not claim durability the disk does not have.
            if previous is None:
                del self._records[uid]
            else:
                self._records[uid] = previous
            raise

    def remove(self, uid: str) -> None:
        """Forget a record (sent or discarded); durable when this returns."""
        self._require_open()
        previous = self._records.pop(uid, None)
        if previous is None:
            return
        try:
            self._write(self._records.values())
        except BaseException:
            self._records[uid] = previous
            raise

    # ------------------------------------------------------------------ file I/O

    def _require_open(self) -> None:
        if self._lock_fd is None:
            raise OutboxStoreError("the outbox is not open")

    def _read(self) -> list[dict[str, Any]]:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise OutboxStoreError(f"cannot read {self.path}: {exc.strerror}") from exc
        try:
            st = os.fstat(fd)
            if st.st_uid != os.getuid() or not stat.S_ISREG(st.st_mode):
                raise OutboxStoreError(f"{self.path} is not a file of ours; refusing to use it")
            if st.st_size > MAX_FILE_BYTES:
                raise OutboxStoreError(f"{self.path} is too large to be an outbox")
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return self._quarantine("is not valid JSON")
        items = doc.get("items") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            return self._quarantine("has no item list")
        good = [i for i in items if isinstance(i, dict) and isinstance(i.get("uuid"), str)]
        if len(good) != len(items):
            log.warning(
                "outbox %s: %d malformed entries ignored", self.path, len(items) - len(good)
            )
        return good

    def _quarantine(self, why: str) -> list[dict[str, Any]]:
        # Never delete what might be someone's unsent text: move it aside for inspection.
        aside = self.path.with_name(f"{OUTBOX_FILE}.corrupt-{secrets.token_hex(4)}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            raise OutboxStoreError(f"{self.path} {why} and cannot be moved aside") from exc
        log.error("outbox %s %s; moved to %s, starting empty", self.path, why, aside)
        return []

    def _write(self, records: Iterable[dict[str, Any]]) -> None:
        doc = {"version": FORMAT_VERSION, "items": list(records)}
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        write_private_file(self.path, data)


def write_private_file(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (temp file, fsync, rename, fsync of the
    directory), at 0600: after a crash it holds the old or the new bytes, never a mix."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, _FILE_MODE)
    try:
        try:
            os.fchmod(fd, _FILE_MODE)  # the umask may have removed bits or left others
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
