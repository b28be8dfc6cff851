"""Mention and private-message alerts: one line in the status bar, an optional bell, an
optional desktop command.

Alerts never cover the conversation (issue 10): no toasts.  The newest alert is shown in the
status bar for ALERT_SECONDS, one at a time; alerts that arrive meanwhile replace it and are
counted ("+2 more").  Nothing is raised when notifications are off (settings.notify) or the
conversation is muted (settings.muted: a flow slug, a flow id or a private key's user id),
and the status line says nothing about the conversation on screen.

The desktop command (settings.notify_command) is an argv list run without a shell; `--` and
then the title and the message are appended as separate arguments, so no text from the network
is ever interpreted by a shell, nor taken as an option of the notifier (`--help`, `-u critical`).
The child gets our environment minus anything holding the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from textual.app import App

from flowview.model.sanitize import clean_name, clean_text
from flowview.protocol.events import ConversationKey

log = logging.getLogger(__name__)

MAX_BODY_CHARS = 200
MAX_ALERTS_PER_FLUSH = 3
ALERT_SECONDS = 8.0
# Environment variables a child process must never inherit (the token lives in one).
_SECRET_ENV = ("FLOWDOCK_TOKEN",)


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing worth telling the user about."""

    where: str  # flow name or "private"
    sender: str
    text: str
    private: bool = False
    key: ConversationKey | None = None

    @property
    def title(self) -> str:
        where = clean_name(self.where)
        return f"{clean_name(self.sender)} (private)" if self.private else where

    @property
    def body(self) -> str:
        text = " ".join(clean_text(self.text).split())
        if len(text) > MAX_BODY_CHARS:
            text = text[: MAX_BODY_CHARS - 1] + "…"
        return text if self.private else f"{clean_name(self.sender)}: {text}"


def child_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}


class Notifier:
    """Raises alerts on behalf of the app; `show` puts one line in the status bar."""

    def __init__(
        self,
        app: App[Any],
        *,
        bell: bool = False,
        command: Sequence[str] | None = None,
        show: Callable[[str], None] | None = None,
        show_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        # Where a failing desktop command is reported once (the app: the status bar's notice).
        self.show_problem = show_problem
        self.bell = bell
        self.command = tuple(command) if command else None
        self.enabled = True
        self.muted: frozenset[str] = frozenset()
        self.show = show
        self._tasks: set[asyncio.Task[None]] = set()
        self.command_failed = False
        self.sent: list[Alert] = []  # what was raised, newest last (bounded; for the UI and tests)
        self.line = ""  # what the status bar shows now ("" when nothing)
        self._coalesced = 0
        self._latest: Alert | None = None
        self._clear_timer: Any = None

    def configure(
        self,
        *,
        bell: bool,
        command: Sequence[str] | None,
        enabled: bool = True,
        muted: Collection[str] = (),
    ) -> None:
        self.bell = bell
        self.command = tuple(command) if command else None
        self.enabled = enabled
        self.muted = frozenset(muted)

    def is_muted(self, key: ConversationKey | None, where: str = "") -> bool:
        if key is None or not self.muted:
            return False
        kind, ident = key
        names = {ident, *ident.split(":")} if kind == "private" else {ident}
        return bool(names & self.muted) or (where != "" and where in self.muted)

    def raise_alerts(
        self,
        alerts: Sequence[Alert],
        shown: ConversationKey | None = None,
        slug_of: Callable[[ConversationKey], str] | None = None,
    ) -> None:
        """Alerts of one flush.  `shown`: the conversation on screen (no status line for it);
        `slug_of`: a flow's "org/flow" slug, for mutes saved by slug."""
        if not self.enabled:
            return
        wanted = [
            a
            for a in alerts
            if not self.is_muted(a.key, slug_of(a.key) if slug_of and a.key else "")
        ]
        if not wanted:
            return
        self.sent.extend(wanted)
        del self.sent[:-50]
        # The bell and the desktop command: the first few of a burst only.
        for alert in wanted[:MAX_ALERTS_PER_FLUSH]:
            self._signal(alert)
        # The status line: the newest, with a count of what it replaced.
        in_line = [a for a in wanted if a.key is None or a.key != shown]
        if in_line:
            self._coalesced += len(in_line) - 1 + (1 if self.line else 0)
            self._latest = in_line[-1]
            self._show_line()

    def alert(self, alert: Alert) -> None:
        """One alert, outside a flush (shown in the line, bell, command)."""
        self.raise_alerts([alert])

    def _signal(self, alert: Alert) -> None:
        if self.bell:
            self.app.bell()
        if self.command:
            # `--`: what follows came from the network and is never an option.
            self._run_command([*self.command, "--", f"flowview: {alert.title}", alert.body])

    def _show_line(self) -> None:
        alert = self._latest
        if alert is None:
            return
        text = f"{alert.title}: {alert.body}"
        if self._coalesced:
            text = f"(+{self._coalesced}) {text}"
        self.line = text
        if self.show is not None:
            self.show(text)
        if self._clear_timer is not None:
            self._clear_timer.stop()
        self._clear_timer = self.app.set_timer(ALERT_SECONDS, self.clear)

    @property
    def latest_key(self) -> ConversationKey | None:
        """The conversation of the alert shown now, if any."""
        return self._latest.key if self.line and self._latest is not None else None

    def clear(self) -> None:
        """The alert line has been shown long enough (or the user went to it)."""
        self.line = ""
        self._coalesced = 0
        if self._clear_timer is not None:
            self._clear_timer.stop()
            self._clear_timer = None
        if self.show is not None:
            self.show("")

    def _run_command(self, argv: list[str]) -> None:
        task = asyncio.create_task(self._spawn(argv))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _spawn(self, argv: list[str]) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=child_environment(),
                start_new_session=True,
            )
            await proc.wait()
        except OSError as exc:
            log.warning("notify_command failed: %s", exc)
            if not self.command_failed:
                # Say it once; a broken command must not turn every mention into an error.
                self.command_failed = True
                problem = f"notify_command failed: {clean_name(str(exc.strerror or exc))}"
                if self.show_problem is not None:
                    self.show_problem(problem)  # the status bar: a toast would cover the log
                else:
                    self.app.notify(problem, severity="warning", markup=False)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
