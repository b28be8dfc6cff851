"""Command palette (ctrl+k): jump to any flow or conversation, plus a few app commands.

Flow names and nicks come from the network, and Textual's fuzzy `Matcher.highlight` parses
its candidate as markup, so hits are built here as plain `Content` with the matched
characters styled by offset.  Help strings are fixed text of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.style import Style

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PaletteEntry:
    """One palette command: what to show, its help, and what to do."""

    text: str  # sanitised plain text
    help: str  # fixed text of ours (the palette parses help as markup)
    run: Callable[[], object]


class PaletteSource(Protocol):
    """What the app offers the palette (the provider needs no more of the app)."""

    def palette_entries(self) -> list[PaletteEntry]: ...


def highlighted(text: str, offsets: list[int] | tuple[int, ...], style: Style) -> Content:
    """`text` as plain Content with the characters at `offsets` styled (never markup)."""
    content = Content(text)
    for offset in offsets:
        if 0 <= offset < len(text) and not text[offset].isspace():
            content = content.stylize(style, offset, offset + 1)
    return content


class FlowviewCommands(Provider):
    """Every open flow and conversation, then Settings, Toggle presence and Help."""

    def _entries(self) -> list[PaletteEntry]:
        return cast(PaletteSource, self.app).palette_entries()

    async def discover(self) -> Hits:
        for entry in self._entries():
            yield DiscoveryHit(Content(entry.text), entry.run, text=entry.text, help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score, offsets = matcher.fuzzy_search.match(query, entry.text)
            if score > 0:
                yield Hit(
                    score,
                    highlighted(entry.text, list(offsets), matcher.match_style),
                    entry.run,
                    text=entry.text,
                    help=entry.help,
                )
