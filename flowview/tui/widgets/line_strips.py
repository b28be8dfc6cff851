"""Styled rows of one laid-out message: a :class:`~flowview.model.line_layout.Layout` → Strips.

Every row is built from already-sanitised plain strings as rich ``Segment`` objects with
styles — no markup is ever parsed, so ``[bold]x[/]`` or ``[@click=app.quit]`` stay text.
Styles come from a lookup by role names (the widget resolves them from its theme-aware
component classes), so this module holds no colours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from flowview.model.line_layout import Layout, fit, width_of
from flowview.model.stored_message import StoredMessage

log = logging.getLogger(__name__)

__all__ = ["StyleLookup", "line_roles", "render_layout"]

StyleLookup = Callable[..., Style]
"""``style(*roles)``: the widget's base style combined with the styles of ``roles``."""


def line_roles(message: StoredMessage, layout: Layout, selected: bool) -> tuple[str, ...]:
    """Roles styling the whole of a message's rows (background tint, line kind)."""
    base: tuple[str, ...] = ()
    if message.mention and message.kind != "gap":
        base += ("mention-line",)
    if selected:
        base += ("selected",)
    if layout.line_role:
        base += (layout.line_role,)
    return base


def render_layout(
    layout: Layout,
    message: StoredMessage,
    width: int,
    selected: bool,
    style: StyleLookup,
    nick_role: str,
) -> list[Strip]:
    """The rows of ``layout`` at ``width``; ``nick_role`` names the sender's colour."""
    strips: list[Strip] = []
    for text, role in layout.headers:
        label = f"── {text} "
        fill = max(width - width_of(label), 0)
        line = fit(label, width) + "─" * fill
        strips.append(Strip([Segment(line, style(role))], width_of(line)))
    if not layout.rows:
        return strips

    base = line_roles(message, layout, selected)
    nick_style = style(*base, nick_role, "title")
    row_style = style(*base)

    body = layout.body
    spans = layout.spans
    for row_index, (start, end) in enumerate(layout.rows):
        segments: list[Segment] = []
        if row_index == 0:
            for text, role in layout.prefix:
                if role == "nick":
                    segments.append(Segment(text, nick_style))
                else:
                    segments.append(Segment(text, style(*base, role)))
        else:
            segments.append(Segment(" " * layout.indent, row_style))
        pos = start
        for s_start, s_end, role in spans:
            if s_end <= pos or s_start >= end:
                continue
            if s_start > pos:
                segments.append(Segment(body[pos:s_start], row_style))
            seg_end = min(s_end, end)
            segments.append(Segment(body[max(s_start, pos) : seg_end], style(*base, role)))
            pos = seg_end
        if pos < end:
            segments.append(Segment(body[pos:end], row_style))
        strip = Strip(segments)
        strips.append(strip.extend_cell_length(width, row_style).crop(0, width))
    if layout.truncated:
        note = " " * layout.indent + f"… ({layout.truncated} more lines)"
        strips.append(
            Strip([Segment(note, style(*base, "meta"))])
            .extend_cell_length(width, row_style)
            .crop(0, width)
        )
    return strips
