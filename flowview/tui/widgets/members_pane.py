"""Who is in the shown conversation, and whether they are active, idle or offline.

A view of the router's directory: `activity.user` and `presence` events (and REST user lists)
change `Router.presence_version`, and the app calls `show()` again when it moves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widget import Widget

if TYPE_CHECKING:
    from flowview.model.router import UserInfo

log = logging.getLogger(__name__)

# (marker, style) per presence; active first, then idle, then offline.
PRESENCE_LOOK: dict[str, tuple[str, str]] = {
    "active": ("●", "$success"),
    "idle": ("◐", "$warning"),
    "offline": ("○", "$text-muted"),
}
_ORDER = {"active": 0, "idle": 1, "offline": 2}
MAX_NICK_CHARS = 20


def members_content(title: str, members: Iterable[UserInfo]) -> Content:
    """The pane's text: a heading and one line per member. Nicks are already sanitised by the
    router; they still go in as plain text, never as markup."""
    people = sorted(members, key=lambda u: (_ORDER.get(u.presence, 3), u.nick.lower()))
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
    for user in people:
        marker, style = PRESENCE_LOOK.get(user.presence, PRESENCE_LOOK["offline"])
        nick = user.nick if len(user.nick) <= MAX_NICK_CHARS else user.nick[:19] + "…"
        lines.append(Content.assemble((marker, style), " ", nick))
    if not people:
        lines.append(Content.assemble(("nobody known yet", "$text-muted")))
    return Content("\n").join(lines)


class MembersPane(Widget):
    """A narrow column listing the shown conversation's members by presence."""

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
        self._content = members_content("Members", [])

    def show(self, title: str, members: Iterable[UserInfo]) -> None:
        self._content = members_content(title, members)
        self.refresh(layout=True)

    @property
    def text(self) -> str:
        """What the pane shows, as plain text (tests)."""
        return self._content.plain

    def render(self) -> Content:
        return self._content
