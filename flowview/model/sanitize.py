"""Make untrusted text safe to show in a terminal.

Every string from the network goes through here once, when it enters the view model, so that
no control character ever reaches the terminal (Textual and Rich strip only BEL/BS/VT/FF/CR
and pass ESC through; see docs/reliability-and-security.md §4.1) and no bidi control can
reorder what follows it (Trojan Source, §4.3).

Rules:

* C0 controls except ``\\n`` and ``\\t``, DEL and every C1 control (U+0080–U+009F) become a
  visible placeholder; ESC becomes ``␛`` so an injected sequence shows up as harmless text
  (``␛]52;c;...``) instead of being interpreted. Sequences are never parsed, only defused.
* CR LF and lone CR become ``\\n`` (a bare CR would let one line overwrite another);
  U+2028/U+2029 (line/paragraph separator) become ``\\n`` too.
* Bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) are removed from bodies
  and names alike: removing them is the simplest choice that keeps one message from reordering
  the next line or the chrome around it. ZWJ/ZWNJ (U+200D/U+200C) stay, so emoji sequences and
  Persian text survive. ``str.isprintable()`` is deliberately not used: it rejects ZWJ.
* Runs of combining marks are capped per base character (zalgo floods stress terminals).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "BIDI_CONTROLS",
    "ESC_PLACEHOLDER",
    "MAX_COMBINING",
    "MAX_NAME_CHARS",
    "REPLACEMENT",
    "clean_name",
    "clean_text",
]

ESC_PLACEHOLDER: Final = "\u241b"  # ␛ SYMBOL FOR ESCAPE
REPLACEMENT: Final = "\ufffd"
MAX_COMBINING: Final = 4
MAX_NAME_CHARS: Final = 64

BIDI_CONTROLS: Final = frozenset(
    [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def _body_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for cp in range(0x20):
        if cp not in (0x09, 0x0A):
            table[cp] = REPLACEMENT
    table[0x1B] = ESC_PLACEHOLDER
    table[0x0D] = "\n"  # CR LF is collapsed to LF before translate; a lone CR is a break too
    table[0x7F] = REPLACEMENT
    for cp in range(0x80, 0xA0):
        table[cp] = REPLACEMENT
    table[0x2028] = "\n"
    table[0x2029] = "\n"
    for cp in BIDI_CONTROLS:
        table[cp] = None
    return table


_BODY_TABLE: Final = _body_table()
# Names are single-line: the line breaks of bodies become spaces.
_NAME_TABLE: Final = {
    **_BODY_TABLE,
    0x09: " ",
    0x0A: " ",
    0x0D: " ",
    0x2028: " ",
    0x2029: " ",
}

# Combining diacritical blocks (the ones zalgo text is made of). Variation selectors and emoji
# modifiers are not in these ranges, so emoji sequences are untouched.
_COMBINING_CLASS: Final = (
    "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_COMBINING_RUN: Final = re.compile(
    f"([{_COMBINING_CLASS}]{{{MAX_COMBINING}}})[{_COMBINING_CLASS}]+"
)
_SPACES: Final = re.compile(r"\s+")
# Anything clean_text would change; most chat lines contain none of it, and a regex search is
# far cheaper than str.translate with a dict table.
_BODY_SUSPECT: Final = re.compile(
    f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069{_COMBINING_CLASS}]"
)
_NAME_SUSPECT: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
    rf"{_COMBINING_CLASS}]|\s\s|^\s|\s$|[^\S ]"
)


def clean_text(s: str, max_chars: int | None = None) -> str:
    """Sanitise a message body for display (multi-line; see the module docstring).

    Args:
        s: Untrusted text. Non-str values are treated as empty.
        max_chars: If given, truncate the result to about this many characters and append
            ``"… (N more characters)"`` so one message cannot monopolise memory or the screen.
    """
    if not isinstance(s, str) or not s:
        return ""
    if _BODY_SUSPECT.search(s) is None:
        out = s
    else:
        if "\r" in s:
            s = s.replace("\r\n", "\n")
        out = s.translate(_BODY_TABLE)
        if not out.isascii():
            out = _COMBINING_RUN.sub(r"\1", out)
    if max_chars is not None and len(out) > max_chars:
        extra = len(out) - max_chars
        out = f"{out[:max_chars]}… ({extra} more characters)"
    return out


def clean_name(s: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """Sanitise a nick, flow name, title or error text: one line, stripped, at most
    ``max_chars`` characters (longer ones end in "…"), no controls, no bidi controls."""
    if not isinstance(s, str) or not s:
        return ""
    if _NAME_SUSPECT.search(s) is None:
        out = s
    else:
        out = s.translate(_NAME_TABLE)
        if not out.isascii():
            out = _COMBINING_RUN.sub(r"\1", out)
        out = _SPACES.sub(" ", out).strip()
    if len(out) > max_chars:
        out = out[: max(max_chars - 1, 0)].rstrip() + "…"
    return out
