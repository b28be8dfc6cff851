"""Warm start, read ahead: the archive is opened and the first tab read in a thread from the
moment the app is made, while Textual starts (≈0.25 s of CSS, compose and the first layout),
instead of after its first frame.  warm_start.py takes the result when it runs; the first frame
with archived lines then waits for the UI work alone (issue 11: < 0.5 s from the app's start).

Only when the settings name the user (a restart: `me_id` is saved after the first connection):
without it the archive to open is found by its meta, which warm_start.py does as before.  What
is read here is what warm_start.py would read first (`read_plan`, then `read_tab` of the first
chosen flow), by the same functions, so the two paths show the same lines.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Final

from flowview.archive import Archive
from flowview.config import Settings
from flowview.tui.warm_start import WarmPlan, WarmTab, read_plan, read_tab

log = logging.getLogger(__name__)

__all__ = ["PrefetchState", "Prefetched", "WarmPrefetch"]

ENABLED = True  # bench/bench_warm.py turns it off to measure before/after side by side


@dataclass(frozen=True, slots=True)
class Prefetched:
    archive: Archive
    user_id: str
    plan: WarmPlan
    first: WarmTab | None  # the first chosen flow's tab (None: the archive knows none)


class PrefetchState(enum.Enum):
    READING = "reading"  # the thread is opening and reading the archive
    READY = "ready"  # read; waiting to be taken
    TAKEN = "taken"  # warm_start.py owns the archive now
    DISCARDED = "discarded"  # not wanted (or failed): the archive, if any, is closed


_TRANSITIONS: Final[dict[PrefetchState, frozenset[PrefetchState]]] = {
    PrefetchState.READING: frozenset({PrefetchState.READY, PrefetchState.DISCARDED}),
    PrefetchState.READY: frozenset({PrefetchState.TAKEN, PrefetchState.DISCARDED}),
    PrefetchState.TAKEN: frozenset(),
    PrefetchState.DISCARDED: frozenset(),
}


class WarmPrefetch:
    """One read-ahead of the archive (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = PrefetchState.READING
        self._lock = threading.Lock()
        self._result: Prefetched | None = None
        self._done: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="flowview-warm-read", daemon=True)

    @classmethod
    def start(cls, settings: Settings | None) -> WarmPrefetch | None:
        """A running read-ahead for `settings`, or None when there is nothing to read ahead
        (no saved user id, or read-ahead turned off)."""
        if not ENABLED or settings is None or not settings.me_id or not settings.flows:
            return None
        prefetch = cls(settings)
        prefetch._thread.start()
        return prefetch

    def _move(self, new: PrefetchState) -> bool:
        """Move to `new` when allowed from the current state; False otherwise (lock held)."""
        if new not in _TRANSITIONS[self.state]:
            return False
        self.state = new
        return True

    def _run(self) -> None:
        settings = self.settings
        result: Prefetched | None = None
        try:
            archive = Archive.for_account(settings.api_url, str(settings.me_id))
        except Exception:  # no archive yet, or a damaged one: warm_start.py reports it
            log.exception("warm read-ahead: the archive could not be opened")
        else:
            try:
                plan = read_plan(archive, settings.flows)
                first = (
                    read_tab(archive, plan.flow_keys[0], str(settings.me_id))
                    if plan.flow_keys
                    else None
                )
                result = Prefetched(archive, str(settings.me_id), plan, first)
            except Exception:
                log.exception("warm read-ahead: reading the archive failed")
                archive.close(timeout=0)
        with self._lock:
            if result is not None and self._move(PrefetchState.READY):
                self._result = result
            else:
                self._move(PrefetchState.DISCARDED)
                if result is not None:  # discarded while reading
                    result.archive.close(timeout=0)
        self._done.set_result(None)

    async def take(self) -> Prefetched | None:
        """The read-ahead once done (None when it failed or was discarded); the caller owns
        its archive from then on."""
        await asyncio.wrap_future(self._done)
        with self._lock:
            if self._move(PrefetchState.TAKEN):
                return self._result
            return None

    def discard(self) -> None:
        """Not wanted after all: close the archive (now, or when the read ends)."""
        with self._lock:
            result = self._result if self.state is PrefetchState.READY else None
            self._move(PrefetchState.DISCARDED)
            self._result = None
        if result is not None:
            result.archive.close(timeout=0)
