"""One-line status bar: connection state, presence, message rate and the time of the last event.

Every value is a reactive, so the app only assigns and the bar re-renders once per frame.
Text that came from the network (the reason of a reconnect) is sanitised and rendered as
plain Content, never parsed as markup.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from flowview.model.sanitize import clean_name

log = logging.getLogger(__name__)

# state -> (symbol, style of the state word)
_STATE_STYLE: dict[str, tuple[str, str]] = {
    "connecting": ("◌", "$warning"),
    "live": ("●", "$success"),
    "reconnecting": ("◌", "$warning"),
    "failed": ("✖", "$error bold"),
    "stopped": ("○", "$text-muted"),
}

_PRESENCE_STYLE: dict[str, str] = {
    "active": "$success",
    "idle": "$warning",
    "auto-idle": "$warning",
}

SEPARATOR = ("  │  ", "$text-muted")

MAX_REASON_CHARS = 80
MAX_ALERT_CHARS = 120
GAP_TEXT = "messages may be missing — fetching"


class StatusBar(Widget):
    """Connection, presence, rate and last-event time, in one line at the bottom."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    """

    state: reactive[str] = reactive("connecting")
    reason: reactive[str] = reactive("")
    retry_at: reactive[float | None] = reactive(None)
    presence: reactive[str] = reactive("active")
    rate: reactive[int] = reactive(0)
    last_event: reactive[str] = reactive("")
    notice: reactive[str] = reactive("")
    # The newest mention or private message elsewhere (the notifier clears it after a while).
    alert: reactive[str] = reactive("")
    # Conversations with messages that may be missing (the client is fetching them).
    gaps: reactive[int] = reactive(0)
    # Events the client skipped plus events the router could not apply (see the log).
    problems: reactive[int] = reactive(0)

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.clock = clock
        self._ticker: Timer | None = None

    # Whoever assigns these, what is shown is one sanitised line.
    def validate_reason(self, value: str) -> str:
        return clean_name(value)[:MAX_REASON_CHARS]

    def validate_notice(self, value: str) -> str:
        return clean_name(value)[:MAX_REASON_CHARS]

    def validate_alert(self, value: str) -> str:
        return clean_name(value)[:MAX_ALERT_CHARS]

    # ------------------------------------------------------------------ updates

    def set_connection(self, state: str, reason: str = "", delay: float | None = None) -> None:
        """Show a connection state; `delay` starts a visible countdown to the next attempt."""
        self.state = state
        self.reason = reason
        self.retry_at = self.clock() + delay if delay is not None else None
        self._update_ticker()

    def _update_ticker(self) -> None:
        # A countdown needs a repaint every second; nothing else does.
        counting = self.state == "reconnecting" and self.retry_at is not None
        if counting and self._ticker is None and self.is_mounted:
            self._ticker = self.set_interval(1.0, self.refresh)
        elif not counting and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def on_mount(self) -> None:
        self._update_ticker()

    # ------------------------------------------------------------------ rendering

    def connection_text(self) -> str:
        """The connection part as plain text (also what tests assert on)."""
        state = self.state
        if state == "reconnecting":
            text = "reconnecting"
            if self.retry_at is not None:
                remaining = max(0, math.ceil(self.retry_at - self.clock()))
                text += f" in {remaining} s"
            if self.reason:
                text += f" — {self.reason}"
            return text
        if state == "failed":
            return f"failed — {self.reason}" if self.reason else "failed"
        if state == "connecting" and self.reason:
            return f"connecting — {self.reason}"
        return state

    def shown_presence(self) -> str:
        """What the server has: nothing is streamed while not connected, so "offline"."""
        if self.state in ("reconnecting", "failed", "stopped"):
            return "offline"
        return self.presence

    def _presence_part(self) -> tuple[str, str]:
        shown = self.shown_presence()
        return (shown, _PRESENCE_STYLE.get(shown, "$text-muted"))

    def render(self) -> RenderResult:
        symbol, style = _STATE_STYLE.get(self.state, ("?", ""))
        parts: list[str | tuple[str, str]] = [
            (f"{symbol} {self.connection_text()}", style),
            SEPARATOR,
            self._presence_part(),
            SEPARATOR,
        ]
        if self.alert:
            # Before the rate: at 80 columns the end of the line is what gets cut.
            parts += [("✉ " + self.alert, "$text-accent bold"), SEPARATOR]
        parts += [
            f"{self.rate} msg/min",
        ]
        if self.last_event:
            parts += [SEPARATOR, f"last {self.last_event}"]
        if self.gaps:
            parts += [SEPARATOR, (GAP_TEXT, "$text-warning")]
        if self.problems:
            parts += [SEPARATOR, (f"{self.problems} events skipped", "$text-warning")]
        if self.notice:
            parts += [SEPARATOR, (self.notice, "$text-warning")]
        return Content.assemble(*parts)
