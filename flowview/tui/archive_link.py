"""The viewer's link to its local archive (flowview/archive): opened once the user is known,
fed every routed event, history page, user and flow list, closed off the event loop.

The archive is a convenience: when it cannot be opened or its writer fails, the viewer logs
why and runs on without it (`archive` is None then).  Writes only queue work for the
archive's writer thread, so nothing here blocks the UI loop unless that writer is far behind.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from flowview.archive import Archive, ArchiveError
from flowview.archive.paths import data_dir, list_archives
from flowview.protocol.events import ConversationKey, Event

log = logging.getLogger(__name__)

__all__ = ["ArchiveLink"]


class ArchiveLink:
    """One session's archive, or nothing (see the module docstring)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory  # None: the data directory ($FLOWVIEW_DATA_DIR, platformdirs)
        self.archive: Archive | None = None
        self.problem: str | None = None  # why there is no archive, when opening failed
        self.user_id: str | None = None  # whose archive is open
        # True once `open` found a different user than the one a warm start guessed.
        self.switched = False

    async def open_known(self, api_url: str, user_id: str | None) -> bool:
        """Open the archive before the server answers (warm start): the saved user id's, else
        the one archive whose meta names `api_url` (none when several users share it)."""
        if self.archive is not None:
            return True
        if not user_id:
            user_id = await asyncio.to_thread(self._last_user, api_url)
            if user_id is None:
                return False
        return await self.open(api_url, user_id)

    def _last_user(self, api_url: str) -> str | None:
        users: set[str] = set()
        for path in list_archives(self.directory or data_dir()):
            try:
                with Archive.open(path, writable=False) as archive:
                    meta = archive.meta()
            except (ArchiveError, OSError, sqlite3.Error):
                log.exception("reading the meta of %s failed", path.name)
                continue
            if meta.get("api_url") == api_url and meta.get("user_id"):
                users.add(meta["user_id"])
        return users.pop() if len(users) == 1 else None

    async def open(self, api_url: str, user_id: str) -> bool:
        """Open the archive of `user_id` on `api_url` (in a thread); False when it failed.

        When another user's archive is open (a warm start guessed wrong), it is closed first
        and `switched` says so: what it showed belongs to someone else."""
        if self.archive is not None:
            if self.user_id == user_id:
                return True
            log.warning("the archive opened at start is another user's; switching")
            self.switched = True
            await self.aclose()
        try:
            self.archive = await asyncio.to_thread(
                Archive.for_account, api_url, user_id, directory=self.directory
            )
        except (ArchiveError, OSError) as exc:
            log.exception("the archive could not be opened; running without it")
            self.problem = f"archive: {exc}"
            return False
        self.user_id = user_id
        return True

    def events(self, events: Sequence[Event]) -> None:
        """Queue a batch of events (stream batch or history page), in order."""
        if events and self.archive is not None:
            self._write(self.archive.ingest_many, events)

    def users(self, users: Iterable[Any]) -> None:
        if self.archive is not None:
            self._write(self.archive.set_users, users)

    def flows(self, flows: Iterable[Any]) -> None:
        if self.archive is not None:
            self._write(self.archive.set_flows, flows)

    def read_position(self, key: ConversationKey, message_id: int) -> None:
        """The user has read `key` up to `message_id` (kept across restarts)."""
        if self.archive is not None:
            archive = self.archive
            self._write(lambda mid: archive.set_read_position(key, mid), message_id)

    def _write(self, method: Any, value: Any) -> None:
        try:
            method(value)
        except Exception:  # a failed writer must not take the viewer down with it
            log.exception("archive write failed; the archive is closed for this session")
            self.problem = "archive: writing failed"
            self._drop()

    def _drop(self) -> None:
        archive, self.archive = self.archive, None
        if archive is not None:
            try:
                archive.close(timeout=0)
            except Exception:
                log.exception("closing the failed archive failed")

    async def aclose(self) -> None:
        """Write what is queued and close (in a thread: it waits for the writer)."""
        archive, self.archive = self.archive, None
        if archive is None:
            return
        try:
            if not await asyncio.to_thread(archive.close):
                log.error("the archive closed before writing everything queued")
        except Exception:
            log.exception("closing the archive failed")
