"""Make untrusted text safe to show in a terminal.

Every string from the network goes through here once, when it enters the view model, so that
no control character ever reaches the terminal (Textual and Rich strip only BEL/BS/VT/FF/CR
and pass ESC through; see docs/reliability-and-security.md §4.1) and no bidi control can
reorder what follows it (Trojan Source, §4.3).  This is the project's one "make printable"
sanitiser: `clean_text` for bodies, `clean_name` for names, `printable` for any other one-line
text (error reasons, server-provided strings); nothing here imports the rest of flowview.

Rules:

* C0 controls except ``\\n`` and ``\\t``, DEL and every C1 control (U+0080–U+009F) become a
  visible placeholder; ESC becomes ``␛`` so an injected sequence shows up as harmless text
  (``␛]52;c;...``) instead of being interpreted. Sequences are never parsed, only defused.
* A lone surrogate (valid in JSON, impossible to encode as UTF-8) becomes U+FFFD.
* CR LF and lone CR become ``\\n`` (a bare CR would let one line overwrite another);
  U+2028/U+2029 (line/paragraph separator) become ``\\n`` too.
* Bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) are removed from bodies
  and names alike: removing them is the simplest choice that keeps one message from reordering
  the next line or the chrome around it. ``str.isprintable()`` is deliberately not used for
  bodies: it rejects ZWJ.
* Zero-width characters stack on the cell before them (terminals attach combining marks and
  most format characters to the previous cell), so every run of them is bounded: at most
  MAX_COMBINING marks (categories Mn/Me, in every block: Hebrew points and Thai vowels too)
  and MAX_INVISIBLE other zero-width characters per base character.  A mark with no base
  (start of a name or line) gets U+25CC ◌, so it cannot combine with the chrome before it.
* Bodies keep ZWJ/ZWNJ, variation selectors and tag characters: emoji sequences, flags and
  Persian text need them, and bodies are not identities.
* Names are identities, so nothing in them may be invisible: every default-ignorable or
  format character (U+200B, U+2060, U+FEFF, U+00AD, tag characters, Hangul fillers…) and the
  blank U+2800 become a visible U+FFFD, so ``ghost\\u200b`` shows as ``ghost�`` and cannot pass
  for ``ghost``, and no name renders blank.  The only exceptions are dropped, not shown: a ZWJ
  between two symbols and a variation selector after a symbol (emoji sequences), whose parts
  stay visible.
"""

from __future__ import annotations

import bisect
import functools
import logging
import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from flowview.model.unicode_tables import COMBINING_MARKS, DEFAULT_IGNORABLE, FORMAT_CHARS

log = logging.getLogger(__name__)

__all__ = [
    "BIDI_CONTROLS",
    "ESC_PLACEHOLDER",
    "MARK_BASE",
    "MAX_COMBINING",
    "MAX_INVISIBLE",
    "MAX_NAME_CHARS",
    "MAX_PRINTABLE_CHARS",
    "REPLACEMENT",
    "clean_name",
    "clean_text",
    "is_combining",
    "is_invisible",
    "printable",
]

ESC_PLACEHOLDER: Final = "\u241b"  # ␛ SYMBOL FOR ESCAPE
REPLACEMENT: Final = "\ufffd"
MARK_BASE: Final = "\u25cc"  # ◌ DOTTED CIRCLE, the conventional base for a lone mark
MAX_COMBINING: Final = 4
MAX_INVISIBLE: Final = 8  # a subdivision flag needs 6 tag characters
MAX_NAME_CHARS: Final = 64
MAX_PRINTABLE_CHARS: Final = 300

BIDI_CONTROLS: Final = frozenset(
    [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
_ZWJ: Final = "\u200d"
_VARIATION_SELECTORS: Final = frozenset("\ufe0e\ufe0f")
# Not default-ignorable, but renders as nothing: a name of it would look blank.
_BLANKS: Final = "\u2800"


def _cls(ranges: Iterable[tuple[int, int]]) -> str:
    """A regex character-class body for code point ranges."""
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


def _bmp_cls(ranges: Iterable[tuple[int, int]]) -> str:
    """The BMP part of `ranges` exactly, the astral part coarsely, as a class body.

    Python's re compiles a BMP-only class to a bitmap (one lookup per character) but tests
    astral ranges one by one, ~30x slower on every character.  So the astral ranges are merged
    into a few spans (gaps under 4096 code points are bridged: emoji, 1F000–1FBFF, stay
    outside every span) and callbacks check what a span matched with `_member`.
    """
    bmp: list[tuple[int, int]] = []
    spans: list[tuple[int, int]] = []
    for a, b in ranges:
        if a <= 0xFFFF:
            bmp.append((a, min(b, 0xFFFF)))
        if b > 0xFFFF:
            a = max(a, 0x10000)
            if spans and a - spans[-1][1] < 0x1000:
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
    return _cls(bmp) + _cls(spans)


def _merge(*tables: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(r for table in tables for r in table):
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return tuple(merged)


_MARK_RANGES: Final = _merge(COMBINING_MARKS)
_INVISIBLE_RANGES: Final = _merge(FORMAT_CHARS, DEFAULT_IGNORABLE)
_ZERO_WIDTH_RANGES: Final = _merge(COMBINING_MARKS, FORMAT_CHARS, DEFAULT_IGNORABLE)
_MARK_STARTS: Final = [a for a, _ in _MARK_RANGES]
_INVISIBLE_STARTS: Final = [a for a, _ in _INVISIBLE_RANGES]


def _member(cp: int, starts: list[int], ranges: tuple[tuple[int, int], ...]) -> bool:
    i = bisect.bisect_right(starts, cp) - 1
    return i >= 0 and cp <= ranges[i][1]


def is_combining(ch: str) -> bool:
    """True for a combining mark (general category Mn or Me)."""
    return _member(ord(ch), _MARK_STARTS, _MARK_RANGES)


def is_invisible(ch: str) -> bool:
    """True for a format (Cf) or default-ignorable character."""
    return _member(ord(ch), _INVISIBLE_STARTS, _INVISIBLE_RANGES)


_MARK_CLS: Final = _bmp_cls(_MARK_RANGES)
_INVISIBLE_CLS: Final = _bmp_cls(_INVISIBLE_RANGES)
_ZERO_WIDTH_CLS: Final = _bmp_cls(_ZERO_WIDTH_RANGES)


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
    # A lone surrogate (JSON "\\ud800" decodes to one) cannot be encoded to the terminal.
    for cp in range(0xD800, 0xE000):
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

# A run of (possibly) zero-width characters longer than the smaller cap: only such runs can
# need cutting.  Coarse for astral code points (see _bmp_cls); _cap_run decides exactly.
_ZERO_WIDTH_RUN: Final = re.compile(f"[{_ZERO_WIDTH_CLS}]{{{MAX_COMBINING + 1},}}")
# A mark right after a space or line break, or at the start: it has no base of its own.  Exact:
# the astral branch (ranges tested one by one) runs only where an astral character follows.
_ASTRAL_MARK_CLS: Final = _cls((max(a, 0x10000), b) for a, b in _MARK_RANGES if b > 0xFFFF)
_BMP_MARK_CLS: Final = _cls((a, min(b, 0xFFFF)) for a, b in _MARK_RANGES if a <= 0xFFFF)
_EXACT_MARK: Final = f"(?:[{_BMP_MARK_CLS}]|(?=[\\U00010000-\\U0010ffff])[{_ASTRAL_MARK_CLS}])"


@functools.cache
def _baseless_mark() -> re.Pattern[str]:
    # Compiled on first use: ~6 ms, and most sessions never need it.
    return re.compile(f"[\\n\\t ](?={_EXACT_MARK})")


# The same, coarse for astral marks (see _bmp_cls) and so cheap to search: a space before an
# emoji does not match it.  Only a hit needs the exact pattern.
_MAYBE_BASELESS_MARK: Final = re.compile(f"[\\n\\t ][{_MARK_CLS}]")
_SPACES: Final = re.compile(r"\s+")
_ASCII_CONTROL: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
# What str.translate(_BODY_TABLE) would change.
_BODY_CONTROL: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
# Text without any (possibly) zero-width character needs no run capping.  One class, not an
# alternation: re tries every branch at every position.
_ZERO_WIDTH: Final = re.compile(f"[{_ZERO_WIDTH_CLS}]")
# Either of the two: one scan clears most non-ASCII lines.
_BODY_ANY: Final = re.compile(
    f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
    f"{_ZERO_WIDTH_CLS}]"
)
# Characters clean_name changes in non-ASCII text: controls, invisible ones, and whitespace
# other than the plain space (re's \s, but \S alone cannot be mixed into a class).
_NAME_SUSPECT: Final = re.compile(
    f"[\x00-\x1f\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff"
    f"{_INVISIBLE_CLS}{_BLANKS}]"
)


@functools.cache
def _name_invisible_re() -> re.Pattern[str]:
    # Compiled on first use (~4 ms): only names holding an invisible character need it.
    return re.compile(f"[{_INVISIBLE_CLS}{_BLANKS}]")


def _cap_run(match: re.Match[str]) -> str:
    """Keep at most MAX_COMBINING marks and MAX_INVISIBLE other zero-width characters after
    each base character (a character that is neither resets both counts)."""
    kept: list[str] = []
    marks = others = 0
    for ch in match.group():
        cp = ord(ch)
        if _member(cp, _MARK_STARTS, _MARK_RANGES):
            marks += 1
            if marks <= MAX_COMBINING:
                kept.append(ch)
        elif _member(cp, _INVISIBLE_STARTS, _INVISIBLE_RANGES):
            others += 1
            if others <= MAX_INVISIBLE:
                kept.append(ch)
        else:
            marks = others = 0
            kept.append(ch)
    return "".join(kept)


def _add_base(match: re.Match[str]) -> str:
    return match.group() + MARK_BASE


def _bound_zero_width(out: str) -> str:
    # search before sub: a sub with a callback costs microseconds even when nothing changes.
    if _ZERO_WIDTH_RUN.search(out) is not None:
        out = _ZERO_WIDTH_RUN.sub(_cap_run, out)
    if _MAYBE_BASELESS_MARK.search(out) is not None:
        out = _baseless_mark().sub(_add_base, out)
    return MARK_BASE + out if out and is_combining(out[0]) else out


def clean_text(s: str, max_chars: int | None = None) -> str:
    """Sanitise a message body for display (multi-line; see the module docstring).

    Args:
        s: Untrusted text. Non-str values are treated as empty.
        max_chars: If given, truncate the result to about this many characters and append
            ``"… (N more characters)"`` so one message cannot monopolise memory or the screen.
    """
    if not isinstance(s, str) or not s:
        return ""
    out = s
    if s.isascii():
        if _ASCII_CONTROL.search(s) is not None:
            out = s.replace("\r\n", "\n").translate(_BODY_TABLE)
    elif _BODY_ANY.search(s) is not None:
        if _BODY_CONTROL.search(s) is not None:
            out = s.replace("\r\n", "\n").translate(_BODY_TABLE)
        if _ZERO_WIDTH.search(out) is not None:
            out = _bound_zero_width(out)
    if max_chars is not None and len(out) > max_chars:
        extra = len(out) - max_chars
        out = f"{out[:max_chars]}… ({extra} more characters)"
    return out


def _is_symbol(ch: str) -> bool:
    # Emoji are So (pictographs) or Sk (skin-tone modifiers).
    return unicodedata.category(ch) in ("So", "Sk")


def _name_invisible(match: re.Match[str]) -> str:
    ch = match.group()
    if ch not in _BLANKS and not is_invisible(ch):
        return ch  # an astral code point matched coarsely
    text, at = match.string, match.start()
    before = text[at - 1] if at > 0 else ""
    after = text[at + 1] if at + 1 < len(text) else ""
    if before and before in _VARIATION_SELECTORS and at > 1:
        before = text[at - 2]  # "❤️‍🔥": the ZWJ follows a variation selector
    if ch == _ZWJ and before and after and _is_symbol(before) and _is_symbol(after):
        return ""
    if ch in _VARIATION_SELECTORS and before and _is_symbol(before):
        return ""
    return REPLACEMENT


def clean_name(s: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """Sanitise a nick, flow name, title or error text: one line, stripped, at most
    ``max_chars`` characters (longer ones end in "…"), no controls, no bidi controls, nothing
    invisible (shown as U+FFFD), bounded combining marks."""
    if not isinstance(s, str) or not s:
        return ""
    if s.isascii():
        # isprintable: no ASCII control (tab and newline included), in C
        plain = s.isprintable() and "  " not in s and s[0] != " " and s[-1] != " "
    else:
        plain = _NAME_SUSPECT.search(s) is None and "  " not in s and s[0] != " " != s[-1]
        plain = plain and not is_combining(s[0])
        plain = plain and (
            _ZERO_WIDTH.search(s) is None
            or (
                _ZERO_WIDTH_RUN.search(s) is None
                and (_MAYBE_BASELESS_MARK.search(s) is None or _baseless_mark().search(s) is None)
            )
        )
    if plain:
        out = s
    else:
        out = s.translate(_NAME_TABLE)
        if not out.isascii():
            out = _name_invisible_re().sub(_name_invisible, out)
        out = _SPACES.sub(" ", out).strip()
        if not out.isascii():
            out = _bound_zero_width(out)
    if len(out) > max_chars:
        out = out[: max(max_chars - 1, 0)].rstrip() + "…"
    return out


def printable(text: object, max_chars: int = MAX_PRINTABLE_CHARS) -> str:
    """Any value as one printable, bounded line (error reasons, server-provided strings).

    The same rules as `clean_name`, with a longer default bound; use it wherever text that
    may hold network bytes is shown or logged outside the view model.
    """
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:
            log.exception("str() of a %s failed", type(text).__name__)
            return f"<unprintable {type(text).__name__}>"
    return clean_name(text, max_chars)
