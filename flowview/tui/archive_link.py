"""The viewer's link to its local archive (flowview/archive): opened once the user is known,
fed every routed event, history page, user and flow list, closed off the event loop.

The archive is a convenience: when it cannot be opened or its writer fails, the viewer logs
why and runs on without it (`archive` is None then).  Writes only queue work for the
archive's writer thread, so nothing here blocks the UI loop unless that writer is far behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from flowview.archive import Archive, ArchiveError
from flowview.protocol.events import Event

log = logging.getLogger(__name__)

__all__ = ["ArchiveLink"]


class ArchiveLink:
    """One session's archive, or nothing (see the module docstring)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory  # None: the data directory ($FLOWVIEW_DATA_DIR, platformdirs)
        self.archive: Archive | None = None
        self.problem: str | None = None  # why there is no archive, when opening failed

    async def open(self, api_url: str, user_id: str) -> bool:
        """Open the archive of `user_id` on `api_url` (in a thread); False when it failed."""
        if self.archive is not None:
            return True
        try:
            self.archive = await asyncio.to_thread(
                Archive.for_account, api_url, user_id, directory=self.directory
            )
        except (ArchiveError, OSError) as exc:
            log.exception("the archive could not be opened; running without it")
            self.problem = f"archive: {exc}"
            return False
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
