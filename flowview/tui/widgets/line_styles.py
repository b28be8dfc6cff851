"""Styles of chat lines, resolved from the theme into exact colours that stay legible.

Textual's partial component styles drop a colour's alpha: ``background: $warning 15%`` became
the full warning colour (a mention line drawn orange on orange) and ``$text-muted`` the full
foreground. Here each role's colours are blended over the colour actually under them, and the
text colour is then pushed towards black or white until it reaches a WCAG contrast of
:data:`MIN_CONTRAST` against its background, whatever the theme.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final, Protocol

from rich.style import Style
from textual.color import Color

log = logging.getLogger(__name__)

__all__ = ["MIN_CONTRAST", "RoleStyle", "contrast_ratio", "legible", "resolve_style"]

MIN_CONTRAST: Final = 4.5  # WCAG AA for body text
_WHITE: Final = Color(255, 255, 255)
_BLACK: Final = Color(0, 0, 0)


class RoleStyle(Protocol):
    """What a role contributes (Textual's ``RenderStyles`` of a component class)."""

    @property
    def color(self) -> Color: ...

    @property
    def background(self) -> Color: ...

    @property
    def text_style(self) -> Style: ...

    def has_rule(self, rule: str) -> bool: ...


def _channel(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4


def _luminance(color: Color) -> float:
    return 0.2126 * _channel(color.r) + 0.7152 * _channel(color.g) + 0.0722 * _channel(color.b)


def contrast_ratio(a: Color, b: Color) -> float:
    """WCAG 2 contrast ratio of two opaque colours (1 to 21)."""
    la, lb = _luminance(a), _luminance(b)
    if la < lb:
        la, lb = lb, la
    return (la + 0.05) / (lb + 0.05)


def legible(fg: Color, bg: Color, minimum: float = MIN_CONTRAST) -> Color:
    """``fg``, moved towards black or white (whichever ``bg`` contrasts more with) just far
    enough to reach ``minimum`` contrast against ``bg``."""
    if contrast_ratio(fg, bg) >= minimum:
        return fg
    target = _WHITE if contrast_ratio(_WHITE, bg) >= contrast_ratio(_BLACK, bg) else _BLACK
    for step in range(1, 21):
        candidate = fg.blend(target, step / 20)
        if contrast_ratio(candidate, bg) >= minimum:
            return candidate
    return target


def resolve_style(base: Style, roles: Iterable[RoleStyle]) -> Style:
    """``base`` (the widget's own style) with ``roles`` layered on it, as opaque colours.

    Backgrounds blend over the one below; the last role with a colour sets the text colour,
    blended over the final background and made legible against it.
    """
    bg = Color.from_rich_color(base.bgcolor) if base.bgcolor else _BLACK
    fg = Color.from_rich_color(base.color) if base.color else _WHITE
    text_style = Style()
    for role in roles:
        if role.has_rule("background"):
            bg = bg + role.background
        if role.has_rule("color"):
            fg = role.color
        text_style += role.text_style
    fg = legible(bg + fg, bg)
    plain = Style(bold=base.bold, italic=base.italic, underline=base.underline, strike=base.strike)
    return plain + text_style + Style(color=fg.rich_color, bgcolor=bg.rich_color)
