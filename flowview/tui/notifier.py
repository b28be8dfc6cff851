"""Mention and private-message alerts: a Textual toast, an optional bell, an optional command.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual.app import App

from flowview.model.sanitize import clean_name, clean_text
from flowview.protocol.events import ConversationKey

log = logging.getLogger(__name__)

MAX_BODY_CHARS = 200
MAX_ALERTS_PER_FLUSH = 3
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
    """Raises alerts on behalf of the app; stateless apart from running commands."""

    def __init__(
        self,
        app: App[Any],
        *,
        bell: bool = False,
        command: Sequence[str] | None = None,
    ) -> None:
        self.app = app
        self.bell = bell
        self.command = tuple(command) if command else None
        self._tasks: set[asyncio.Task[None]] = set()
        self.command_failed = False
        self.sent: list[Alert] = []  # what was raised, newest last (bounded; for the UI and tests)

    def configure(self, *, bell: bool, command: Sequence[str] | None) -> None:
        self.bell = bell
        self.command = tuple(command) if command else None

    def alert(self, alert: Alert) -> None:
        self.sent.append(alert)
        del self.sent[:-50]
        # markup=False: a nick or text with "[b]" shows literally (the title is never markup).
        self.app.notify(
            alert.body,
            title=alert.title,
            markup=False,
            timeout=6,
        )
        if self.bell:
            self.app.bell()
        if self.command:
            # `--`: what follows came from the network and is never an option.
            self._run_command([*self.command, "--", f"flowview: {alert.title}", alert.body])

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        """Alerts of one flush: the first few, then one summary for the rest."""
        for alert in alerts[:MAX_ALERTS_PER_FLUSH]:
            self.alert(alert)
        if len(alerts) > MAX_ALERTS_PER_FLUSH:
            self.summary(len(alerts) - MAX_ALERTS_PER_FLUSH)

    def summary(self, extra: int) -> None:
        """One toast for alerts beyond the per-batch limit (a replay must not flood the screen)."""
        self.app.notify(f"… and {extra} more mentions or private messages", markup=False)

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
                self.app.notify(
                    f"notify_command failed: {clean_name(str(exc.strerror or exc))}",
                    severity="warning",
                    markup=False,
                )

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
