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
from dataclasses import dataclass, replace

from rich.cells import cell_len
from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from flowview.model.router import GAP_TEXT
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

    def parts(self) -> list[Part]:
        """What the bar would show with room for everything, in display order."""
        symbol, style = _STATE_STYLE.get(self.state, ("?", ""))
        connection = self.connection_text()
        head, _, reason = connection.partition(" — ")
        parts = [Part("state", f"{symbol} {head}", style, joined=True)]
        if reason:
            parts.append(Part("reason", f" — {reason}", style, joined=True))
        presence, presence_style = self._presence_part()
        parts.append(Part("presence", presence, presence_style))
        if self.alert:
            # Before the rate: the newest mention is what the user most needs to see.
            parts.append(Part("alert", "✉ " + self.alert, "$text-accent bold"))
        if self.state not in ("failed", "stopped"):
            # Nothing streams in these states: an old rate would only mislead.
            parts.append(Part("rate", f"{self.rate} msg/min", ""))
        if self.last_event:
            parts.append(Part("last", f"last {self.last_event}", ""))
        if self.gaps:
            parts.append(Part("gaps", GAP_TEXT, "$text-warning"))
        if self.problems:
            parts.append(Part("problems", f"{self.problems} events skipped", "$text-warning"))
        if self.notice:
            parts.append(Part("notice", self.notice, "$text-warning"))
        return parts

    def render(self) -> RenderResult:
        width = self.content_region.width if self.is_mounted else 0
        parts = self.parts()
        separator = SEPARATOR
        if width > 0:
            parts, separator = fit_parts(parts, width)
        pieces: list[str | tuple[str, str]] = []
        for part in parts:
            if pieces and not part.joined:
                pieces.append(separator)
            pieces.append((part.text, part.style) if part.style else part.text)
        return Content.assemble(*pieces)


@dataclass(frozen=True, slots=True)
class Part:
    """One item of the bar. `joined`: no separator before it (the reason after the state)."""

    name: str
    text: str
    style: str
    joined: bool = False


# When the line is too long, these steps are taken in order until it fits (see README,
# "Status bar"): the separators narrow, the time of the last event goes, long texts are
# shortened at a word, then whole items go, least needed first.  msg/min stays as long as
# anything but the state, the reason and the presence can give way for it.
FIT_STEPS: tuple[tuple[str, str], ...] = (
    ("narrow", ""),
    ("drop", "last"),
    ("shorten", "notice"),
    ("shorten", "alert"),
    ("shorten", "reason"),
    ("drop", "problems"),
    ("drop", "gaps"),
    ("drop", "notice"),
    ("drop", "rate"),
    ("drop", "alert"),
    ("drop", "reason"),
    ("drop", "presence"),
)
NARROW_SEPARATOR = (" │ ", "$text-muted")
MIN_SHORTENED = 12  # cells: a shortened text keeps at least this much, or goes


def _width(parts: list[Part], separator: tuple[str, str]) -> int:
    gap = cell_len(separator[0])
    return sum(cell_len(p.text) + (0 if p.joined or i == 0 else gap) for i, p in enumerate(parts))


def shorten(text: str, cells: int) -> str:
    """`text` in at most `cells` cells, ending in "…", cut after a whole word when one ends in
    the second half (CJK text has no spaces: it is cut between characters, never inside one)."""
    if cell_len(text) <= cells:
        return text
    room = cells - 1  # the ellipsis
    used = 0
    end = 0
    for i, char in enumerate(text):
        used += cell_len(char)
        if used > room:
            break
        end = i + 1
    cut = text[:end]
    after = text[end : end + 1]
    # Inside a word of a spaced script: back to the word's start.  Wide (CJK) characters are
    # words of their own, so a cut next to one is already a clean cut.
    mid_word = after.strip() != "" and cut[-1:].strip() != ""
    wide = cell_len(after) > 1 or cell_len(cut[-1:]) > 1
    space = cut.rfind(" ")
    if mid_word and not wide and space > len(cut) // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def fit_parts(parts: list[Part], width: int) -> tuple[list[Part], tuple[str, str]]:
    """`parts` made to fit `width` cells by FIT_STEPS; what cannot fit is left out whole."""
    separator = SEPARATOR
    parts = list(parts)
    for action, name in FIT_STEPS:
        over = _width(parts, separator) - width
        if over <= 0:
            break
        if action == "narrow":
            separator = NARROW_SEPARATOR
            continue
        index = next((i for i, p in enumerate(parts) if p.name == name), None)
        if index is None:
            continue
        part = parts[index]
        if action == "drop":
            del parts[index]
            continue
        lead = " — " if part.name == "reason" else ""
        room = cell_len(part.text) - over - cell_len(lead)
        if room >= MIN_SHORTENED:
            parts[index] = replace(part, text=lead + shorten(part.text[len(lead) :], room))
    if _width(parts, separator) > width and parts:
        # Only the state is left and it is still too long: shorten it too.
        parts = [replace(parts[0], text=shorten(parts[0].text, width))]
    return parts, separator
