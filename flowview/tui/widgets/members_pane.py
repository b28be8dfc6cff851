"""Who is in the shown conversation, and whether they are active, idle or offline.

A view of the router's directory: `activity.user` and `presence` events (and REST user lists)
change `Router.presence_version`, and the app calls `show()` again when it moves.

Focused (Tab from the messages, or a click), up/down choose a person and Enter asks the app
for a private conversation with them (`PrivateRequested`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

if TYPE_CHECKING:
    from flowview.model.directory import UserInfo

log = logging.getLogger(__name__)

# (marker, style) per presence; active first, then idle, then offline.
PRESENCE_LOOK: dict[str, tuple[str, str]] = {
    "active": ("●", "$success"),
    "idle": ("◐", "$warning"),
    "offline": ("○", "$text-muted"),
}
_ORDER = {"active": 0, "idle": 1, "offline": 2}
MAX_NICK_CHARS = 20


HEADER_LINES = 3  # title, counts, blank


def sorted_members(members: Iterable[UserInfo]) -> list[UserInfo]:
    """Active first, then idle, then offline; by nick within each."""
    return sorted(members, key=lambda u: (_ORDER.get(u.presence, 3), u.nick.lower()))


def members_content(title: str, members: Iterable[UserInfo], cursor: int | None = None) -> Content:
    """The pane's text: a heading and one line per member (`cursor`: the chosen one, shown
    reversed). Nicks are already sanitised by the router; they still go in as plain text,
    never as markup."""
    people = sorted_members(members)
    counts = {state: sum(1 for u in people if u.presence == state) for state in _ORDER}
    lines: list[Content] = [
        Content.assemble((title, "bold")),
        Content.assemble(
            (f"{counts['active']} active", PRESENCE_LOOK["active"][1]),
            " · ",
            (f"{counts['idle']} idle", PRESENCE_LOOK["idle"][1]),
        ),
        Content(""),
    ]
    for index, user in enumerate(people):
        marker, style = PRESENCE_LOOK.get(user.presence, PRESENCE_LOOK["offline"])
        nick = user.nick if len(user.nick) <= MAX_NICK_CHARS else user.nick[:19] + "…"
        if index == cursor:
            lines.append(Content.assemble((marker, style), " ", (nick, "reverse")))
        else:
            lines.append(Content.assemble((marker, style), " ", nick))
    if not people:
        lines.append(Content.assemble(("nobody known yet", "$text-muted")))
    return Content("\n").join(lines)


class MembersPane(Widget, can_focus=True):
    """A narrow column listing the shown conversation's members by presence."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "previous", show=False, id="members.up"),
        Binding("down", "move(1)", "next", show=False, id="members.down"),
        Binding("enter", "private", "private chat", id="members.private"),
    ]

    class PrivateRequested(Message):
        """Enter on a person: open (or show) the private conversation with `user_id`."""

        def __init__(self, user_id: str) -> None:
            super().__init__()
            self.user_id = user_id

    DEFAULT_CSS = """
    MembersPane {
        width: 26;
        height: 1fr;
        padding: 0 1;
        border-left: vkey $foreground 20%;
        overflow-y: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._title = "Members"
        self._people: list[UserInfo] = []
        self.cursor = 0
        self._content = members_content("Members", [])

    def show(self, title: str, members: Iterable[UserInfo]) -> None:
        chosen = self.chosen
        self._title = title
        self._people = sorted_members(members)
        # The same person stays chosen while presence reorders the list.
        ids = [u.id for u in self._people]
        self.cursor = ids.index(chosen.id) if chosen is not None and chosen.id in ids else 0
        self._redraw()

    @property
    def chosen(self) -> UserInfo | None:
        return self._people[self.cursor] if 0 <= self.cursor < len(self._people) else None

    def _redraw(self) -> None:
        cursor = self.cursor if self.has_focus else None
        self._content = members_content(self._title, self._people, cursor)
        self.refresh(layout=True)

    def on_focus(self, event: events.Focus) -> None:
        self._redraw()

    def on_blur(self, event: events.Blur) -> None:
        self._redraw()

    def on_click(self, event: events.Click) -> None:
        row = event.y + int(self.scroll_offset.y) - HEADER_LINES
        if 0 <= row < len(self._people):
            self.cursor = row
            self._redraw()

    def action_move(self, delta: int) -> None:
        if self._people:
            self.cursor = max(0, min(len(self._people) - 1, self.cursor + delta))
            self._redraw()

    def action_private(self) -> None:
        chosen = self.chosen
        if chosen is not None:
            self.post_message(self.PrivateRequested(chosen.id))

    @property
    def text(self) -> str:
        """What the pane shows, as plain text (tests)."""
        return self._content.plain

    def render(self) -> Content:
        return self._content
