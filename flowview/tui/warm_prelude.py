"""Warm start's first tab, read while Textual starts and composed into the main screen.

Without it the main screen's first frame is empty ("Waiting for flows …"); the archive is read
after that frame and the first tab is mounted into a screen already laid out, which restyles
and lays out everything once more before its lines show (the second frame).  Here the read
starts when the app loads (before the terminal driver, before any CSS is parsed), the app
waits for it (bounded by PRELUDE_WAIT) before composing the main screen, and the screen is
composed with the first chosen flow's tab holding its archived tail: one layout, and the first
frame shows archived lines.  The other tabs are added after that frame (warm_start.py).

The session made here is the one the app then runs (`take_session`), so the archive opened and
the store filled are the ones the stream and back-fill use.  When the read is slow, fails, or
the archive is missing, the screen composes empty and warm start runs as before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING, Final

from flowview.protocol.auth import Token
from flowview.tui.session import Session
from flowview.tui.warm_start import WarmPlan, WarmTab, fill_store, read_plan, read_tab

if TYPE_CHECKING:  # (no Textual at import: `early` runs before Textual is imported)
    from flowview.archive import Archive
    from flowview.config import Settings
    from flowview.tui.screens.main import FirstTab

log = logging.getLogger(__name__)

__all__ = ["PRELUDE_WAIT", "Prelude"]

# Seconds the main screen's compose waits for the read at most (cold page cache: ≈0.1 s).
PRELUDE_WAIT: Final = 0.4


def _read_first(archive: Archive, chosen: list[str], me: str | None) -> WarmPlan:
    """The plan and the first chosen flow's tab, in one thread hop."""
    plan = read_plan(archive, chosen)
    if plan.flow_keys:
        plan.tabs.append(read_tab(archive, plan.flow_keys[0], me))
    return plan


class Prelude:
    """The session of the initial settings, made at load, and its first warm tab."""

    def __init__(self, settings: Settings, token: Token) -> None:
        self.session = Session.create(settings, token)
        self.plan: WarmPlan | None = None
        self.first: FirstTab | None = None  # the tab composed into the main screen
        self.tab: WarmTab | None = None  # what the archive said of it
        self._task: asyncio.Future[WarmPlan | None] | None = None
        self._early: concurrent.futures.Future[WarmPlan | None] | None = None
        self._taken = False

    @classmethod
    def early(cls, settings: Settings, token: Token) -> Prelude:
        """Start reading before the app exists, in a thread with its own event loop: while
        Textual is imported (≈0.5 s of CPU) the archive is opened and read (SQLite's reads
        release the GIL), so the main screen's compose need not wait for them."""
        prelude = cls(settings, token)
        future: concurrent.futures.Future[WarmPlan | None] = concurrent.futures.Future()

        def read() -> None:
            try:
                future.set_result(asyncio.run(prelude._read()))
            except BaseException as exc:  # _read logs its own failures; this is the loop's
                log.exception("warm start: the early read failed")
                future.set_exception(exc)

        prelude._early = future
        threading.Thread(target=read, name="warm-prelude", daemon=True).start()
        return prelude

    def start(self) -> None:
        """Start reading on the running loop (unless `early` already did)."""
        if self._early is None and self._task is None:
            self._task = asyncio.create_task(self._read(), name="warm-prelude")

    def _pending(self) -> asyncio.Future[WarmPlan | None] | None:
        if self._task is None and self._early is not None:
            self._task = asyncio.wrap_future(self._early)
        return self._task

    async def _read(self) -> WarmPlan | None:
        session = self.session
        link = session.archive
        settings = session.settings
        try:
            if not await link.open_known(settings.api_url, settings.me_id):
                return None
            archive = link.archive
            if archive is None:
                return None
            return await asyncio.to_thread(_read_first, archive, settings.flows, link.user_id)
        except Exception:  # a damaged archive must not stop the viewer: it starts cold
            log.exception("warm start: reading the archive failed")
            return None

    async def wait(self, timeout: float) -> FirstTab | None:
        """Wait (at most `timeout`) for the read; fill the first tab's store when it came."""
        task = self._pending()
        if task is None:
            return None
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            log.info("warm start: the archive took over %.2f s; the first frame is empty", timeout)
            return None
        self.plan = task.result()
        if self.plan is None or not self.plan.tabs:
            return None
        session = self.session
        router = session.router
        if session.archive.user_id and not router.me_id:
            router.set_me(session.archive.user_id)
        router.add_flows(self.plan.flows)
        router.add_users(self.plan.users)
        from flowview.tui.screens.main import FirstTab

        self.tab = self.plan.tabs[0]
        store = fill_store(session, self.tab)
        self.first = FirstTab(store, router, tuple(self.plan.flow_keys))
        return self.first

    async def result(self) -> WarmPlan | None:
        """The plan once read (None: no archive), for warm start's other tabs."""
        task = self._pending()
        if self.plan is None and task is not None:
            self.plan = await task
        return self.plan

    def take_session(self, settings: Settings, token: Token) -> Session | None:
        """This session, once, if it was made for these settings and token."""
        if self._taken or settings is not self.session.settings or token != self.session.token:
            return None
        self._taken = True
        return self.session

    async def aclose(self) -> None:
        """The session was never taken (the app stopped first): close its archive."""
        task = self._pending()
        if task is not None and not task.done():
            if self._early is not None:  # a thread cannot be cancelled: let it finish
                await asyncio.wait({task})
            else:
                task.cancel()
        if not self._taken:
            self._taken = True
            await self.session.aclose()
