"""UI-free helpers for laying out chat lines: times, days, sizes, HTML to text, span detection
(URLs, #tags, @mentions) and word wrapping by terminal cells.

Everything here works on already-sanitised plain strings and returns plain strings or
``(start, end, role)`` character spans; the widget maps roles to styles. Nothing here parses
markup, so text such as ``[bold]x[/]`` is only ever data.

Time zone: times and day separators use :data:`DISPLAY_TZ` (None = the local zone). Tests set it
to UTC with :func:`set_display_timezone` so output is deterministic.
"""

from __future__ import annotations

import html
import locale
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from html.parser import HTMLParser
from time import struct_time
from typing import Final, Literal

from rich.cells import cell_len, chop_cells, get_character_cell_size

from flowview.model.sanitize import clean_name, clean_text

log = logging.getLogger(__name__)

__all__ = [
    "DISPLAY_TZ",
    "SpanRole",
    "absolute_file_url",
    "all_urls",
    "day_key",
    "emoji_for",
    "find_spans",
    "first_url",
    "format_day",
    "format_reactions",
    "format_time",
    "html_to_text",
    "human_size",
    "mentions_nick",
    "set_display_timezone",
    "single_cell",
    "team_mention",
    "wrap",
]

DISPLAY_TZ: tzinfo | None = None
"""Zone used to show times; None means the machine's local zone."""

SpanRole = Literal["url", "tag", "me", "team", "mention"]

_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)  # fmt: skip


def set_display_timezone(tz: tzinfo | None) -> None:
    """Set the zone for times and day separators (None: local time)."""
    global DISPLAY_TZ
    DISPLAY_TZ = tz


def _tm(ms: int) -> struct_time | None:
    """Broken-down time in the display zone (time.localtime/gmtime are much cheaper than
    datetime.astimezone, and every line's day is computed when a view lays out)."""
    try:
        seconds = ms / 1000
        if DISPLAY_TZ is None:
            return time.localtime(seconds)
        if DISPLAY_TZ is UTC:
            return time.gmtime(seconds)
        return datetime.fromtimestamp(seconds, DISPLAY_TZ).timetuple()
    except (OverflowError, OSError, ValueError):
        return None


def format_time(ms: int | None) -> str:
    """``HH:MM`` in the display zone, or ``--:--`` when unknown."""
    tm = _tm(ms) if ms is not None else None
    return f"{tm.tm_hour:02d}:{tm.tm_min:02d}" if tm else "--:--"


# (zone, lo, hi, key): ms in [lo, hi) is known to fall on day `key`. Views ask for the day of
# every line when they lay out, and consecutive lines nearly always share a day.
_day_cache: tuple[tzinfo | None, int, int, int] = (None, 0, 0, 0)
_HOUR_MS: Final = 3_600_000


def day_key(ms: int | None) -> int | None:
    """An integer identifying the calendar day of ``ms`` in the display zone."""
    global _day_cache
    if ms is None:
        return None
    zone, lo, hi, key = _day_cache
    if lo <= ms < hi and zone is DISPLAY_TZ:
        return key
    tm = _tm(ms)
    if tm is None:
        return None
    key = tm.tm_year * 1000 + tm.tm_yday
    midnight = ms - ((tm.tm_hour * 60 + tm.tm_min) * 60 + tm.tm_sec) * 1000 - ms % 1000
    # Trust the range only an hour away from both midnights, so a DST change can't fool it.
    _day_cache = (DISPLAY_TZ, midnight + _HOUR_MS, midnight + 23 * _HOUR_MS, key)
    return key


def format_day(ms: int) -> str:
    """E.g. ``Tuesday 3 March 2026`` (English names, independent of the locale)."""
    tm = _tm(ms)
    if tm is None:
        return "unknown day"
    return f"{_WEEKDAYS[tm.tm_wday]} {tm.tm_mday} {_MONTHS[tm.tm_mon - 1]} {tm.tm_year}"


def human_size(n: int | None) -> str:
    """File sizes as people read them: ``512 B``, ``15.2 KB``, ``3.0 MB``."""
    if n is None or n < 0:
        return "unknown size"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # pragma: no cover - loop always returns


class _TextExtractor(HTMLParser):
    """Collects text content; block tags become line breaks; script/style are dropped."""

    _BLOCK: Final = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BLOCK and self.parts:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_BLANK_LINES: Final = re.compile(r"\n\s*\n\s*\n+")


def html_to_text(s: str | None, *, single_line: bool = False) -> str:
    """Strip HTML (integration titles and bodies) to sanitised plain text."""
    if not s:
        return ""
    if "<" not in s and "&" not in s:
        text = s
    else:
        parser = _TextExtractor()
        try:
            parser.feed(s)
            parser.close()
            text = "".join(parser.parts)
        except Exception:  # html.parser is lenient, but never let markup crash routing
            log.exception("HTML content could not be parsed; showing it with its tags removed")
            text = html.unescape(re.sub(r"<[^>]*>", "", s))
    if single_line:
        return clean_name(text, max_chars=200)
    return _BLANK_LINES.sub("\n\n", clean_text(text).strip())


# --------------------------------------------------------------------------- spans

_URL: Final = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING: Final = ".,;:!?)]}'\""
_TAG: Final = re.compile(r"(?<![\w#&/])#[^\W_][\w-]*")
_MENTION: Final = re.compile(r"(?<![\w@])@@?[\w][\w.-]*")
_TEAM_WORDS: Final = frozenset({"team", "everyone", "all"})


def _urls(text: str) -> Iterator[tuple[int, int]]:
    for m in _URL.finditer(text):
        start, end = m.span()
        # "see http://x.org/a)." -> keep the parenthesis only if the URL opened one
        while end > start and text[end - 1] in _URL_TRAILING:
            if text[end - 1] == ")" and text.count("(", start, end) >= text.count(")", start, end):
                break
            end -= 1
        if end - start > len("https://"):
            yield start, end


def all_urls(text: str) -> list[str]:
    """Every ``http:``/``https:`` URL in ``text``, in order, without repeats."""
    found: list[str] = []
    for start, end in _urls(text):
        url = text[start:end]
        if url not in found:
            found.append(url)
    return found


def absolute_file_url(path: str, api_url: str | None) -> str:
    """A file attachment's server-relative path (``/files/…``) as a full URL on the API host;
    unchanged when it is already absolute or no API URL is known."""
    if not api_url or not path.startswith("/") or path.startswith("//"):
        return path
    return api_url.rstrip("/") + path


def first_url(text: str) -> str | None:
    """The first ``http:``/``https:`` URL in ``text``; other schemes are never offered."""
    for start, end in _urls(text):
        return text[start:end]
    return None


def team_mention(word: str) -> bool:
    """True for ``@@team``, ``@team``, ``@everyone``, ``@@everyone``, ``@all``."""
    return word.lstrip("@").lower() in _TEAM_WORDS


def mentions_nick(text: str, nick: str | None) -> bool:
    """True when ``text`` mentions ``@nick`` (case-insensitive) or the whole team."""
    if "@" not in text:
        return False
    wanted = nick.lower() if nick else None
    for m in _MENTION.finditer(text):
        word = m.group().rstrip(".-")
        if team_mention(word):
            return True
        if wanted is not None and word.lstrip("@").lower() == wanted:
            return True
    return False


def find_spans(text: str, me_nick: str | None = None) -> list[tuple[int, int, SpanRole]]:
    """Styled regions of a body: URLs, ``#tags``, the user's own ``@nick`` ("me"), team
    mentions ("team") and other ``@nicks`` ("mention"). Sorted, non-overlapping."""
    spans: list[tuple[int, int, SpanRole]] = []
    has_at = "@" in text
    has_hash = "#" in text
    has_url = "://" in text
    if not (has_at or has_hash or has_url):
        return spans
    taken: list[tuple[int, int]] = []
    if has_url:
        for start, end in _urls(text):
            spans.append((start, end, "url"))
            taken.append((start, end))

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    if has_hash:
        for m in _TAG.finditer(text):
            if free(*m.span()):
                spans.append((m.start(), m.end(), "tag"))
    if has_at:
        wanted = me_nick.lower() if me_nick else None
        for m in _MENTION.finditer(text):
            word = m.group().rstrip(".-")
            start, end = m.start(), m.start() + len(word)
            if not free(start, end):
                continue
            role: SpanRole
            if team_mention(word):
                role = "team"
            elif wanted is not None and word.lstrip("@").lower() == wanted:
                role = "me"
            else:
                role = "mention"
            spans.append((start, end, role))
    spans.sort()
    return spans


# --------------------------------------------------------------------------- wrapping

_TOKENS: Final = re.compile(r"[^ ]+| +")


def _single_cell_set() -> frozenset[str]:
    # Printable ranges where every character takes exactly one terminal cell (Latin, Greek,
    # Cyrillic, general punctuation, arrows, box drawing): text made only of these can be
    # wrapped by counting characters, which is much faster than measuring each word.
    ranges = [
        (0x20, 0x7E),
        (0xA0, 0xAC),
        (0xAE, 0x2FF),
        (0x370, 0x482),
        (0x2010, 0x2027),
        (0x2030, 0x205E),
        (0x2190, 0x21FF),
        (0x2500, 0x25FC),
        (0x2800, 0x28FF),
    ]
    chars = (chr(c) for start, end in ranges for c in range(start, end + 1))
    return frozenset(ch for ch in chars if get_character_cell_size(ch) == 1)


_SINGLE_CELL: Final = _single_cell_set()
single_cell = _SINGLE_CELL.issuperset
"""``single_cell(text)``: True when every character of ``text`` is one cell wide."""


def _width(s: str) -> int:
    return len(s) if s.isascii() else cell_len(s)


def wrap(text: str, first_width: int, width: int) -> list[tuple[int, int]]:
    """Word-wrap ``text`` into rows given as ``(start, end)`` character offsets.

    The first row has ``first_width`` cells, later rows ``width`` cells (hanging indent).
    Breaks at spaces (the breaking spaces are dropped), splits words longer than a row,
    honours ``\\n``. Every row holds at least one character, so this always terminates.
    ``text`` must not contain tabs or control characters (sanitise and expand tabs first).
    """
    first_width = max(first_width, 1)
    width = max(width, 1)
    rows: list[tuple[int, int]] = []
    pos = 0
    n = len(text)
    ascii_text = single_cell(text)
    while True:
        nl = text.find("\n", pos)
        end = n if nl < 0 else nl
        avail = first_width if not rows else width
        if end - pos <= avail and (ascii_text or _width(text[pos:end]) <= avail):
            rows.append((pos, end))
        elif ascii_text:
            _wrap_single(text, pos, end, avail, width, rows)
        else:
            _wrap_paragraph(text, pos, end, first_width, width, rows)
        if nl < 0:
            return rows
        pos = nl + 1


def _wrap_single(
    text: str, pos: int, end: int, avail: int, width: int, rows: list[tuple[int, int]]
) -> None:
    """Fast path for one-cell characters: jump from break to break with rfind."""
    while end - pos > avail:
        cut = text.rfind(" ", pos + 1, pos + avail + 1)
        if cut < 0:  # no space in reach: split the word
            rows.append((pos, pos + avail))
            pos += avail
        else:
            rows.append((pos, cut))
            pos = cut + 1
            while pos < end and text[pos] == " ":  # the break swallows the space run
                pos += 1
        avail = width
    if pos < end:
        rows.append((pos, end))


def _wrap_paragraph(
    text: str, start: int, end: int, first_width: int, width: int, rows: list[tuple[int, int]]
) -> None:
    row_start = start
    used = 0
    avail = first_width if not rows else width
    for m in _TOKENS.finditer(text, start, end):
        t_start, t_end = m.span()
        token = m.group()
        w = _width(token)
        if token[0] == " ":
            if used + w <= avail:
                used += w
            else:  # break here; the spaces are swallowed by the break
                rows.append((row_start, t_start))
                row_start, used, avail = t_end, 0, width
            continue
        if used + w <= avail:
            used += w
            continue
        if used and w <= width:
            rows.append((row_start, t_start))
            row_start, used, avail = t_start, w, width
            continue
        # A word longer than the room left: fill the current row, then whole rows.
        offset = t_start
        rest = token
        while rest:
            room = avail - used
            if room < 2 and used:
                rows.append((row_start, offset))
                row_start, used, avail = offset, 0, width
                room = avail
            piece = chop_cells(rest, max(room, 2))[0] or rest[0]
            if len(piece) == len(rest):
                used += _width(piece)
                break
            offset += len(piece)
            rest = rest[len(piece) :]
            rows.append((row_start, offset))
            row_start, used, avail = offset, 0, width
    if row_start < end:  # a break on trailing spaces leaves nothing to add
        rows.append((row_start, end))


# --------------------------------------------------------------------------- reactions

# Flowdock reaction names → emoji drawn two cells wide by default (no variation selector,
# whose width terminals disagree on). Unknown names stay ``:name:``.
_EMOJI: Final = {
    "+1": "\U0001f44d", "thumbsup": "\U0001f44d", "-1": "\U0001f44e",
    "thumbsdown": "\U0001f44e", "grinning": "\U0001f600", "smile": "\U0001f604",
    "smiley": "\U0001f603", "laughing": "\U0001f606", "joy": "\U0001f602",
    "wink": "\U0001f609", "blush": "\U0001f60a", "heart_eyes": "\U0001f60d",
    "thinking": "\U0001f914", "thinking_face": "\U0001f914", "cry": "\U0001f622",
    "sob": "\U0001f62d", "scream": "\U0001f631", "confused": "\U0001f615",
    "neutral_face": "\U0001f610", "sunglasses": "\U0001f60e", "tada": "\U0001f389",
    "rocket": "\U0001f680", "eyes": "\U0001f440", "fire": "\U0001f525",
    "100": "\U0001f4af", "clap": "\U0001f44f", "pray": "\U0001f64f", "wave": "\U0001f44b",
    "ok_hand": "\U0001f44c", "muscle": "\U0001f4aa", "raised_hands": "\U0001f64c",
    "white_check_mark": "\u2705", "x": "\u274c", "heavy_plus_sign": "\u2795",
    "heart": "\U0001f496", "broken_heart": "\U0001f494", "star": "\u2b50",
    "coffee": "\u2615", "beer": "\U0001f37a", "pizza": "\U0001f355",
    "bug": "\U0001f41b",
    "see_no_evil": "\U0001f648", "party_popper": "\U0001f389", "zap": "\u26a1",
}  # fmt: skip
_EMOJI_WIDE: Final = {k: v for k, v in _EMOJI.items() if cell_len(v) == 2}


def _terminal_has_emoji() -> bool:
    """Emoji only when the locale's encoding is UTF-8 (else the terminal shows ``?``)."""
    try:
        return locale.getpreferredencoding(False).lower().replace("-", "") == "utf8"
    except Exception:
        log.exception("could not read the locale's encoding")
        return False


SHOW_EMOJI: bool = _terminal_has_emoji()
"""Whether reactions show as emoji (tests set it)."""


def emoji_for(name: str) -> str | None:
    """The emoji for a reaction name, or None (unknown, or emoji are off)."""
    return _EMOJI_WIDE.get(name.lower()) if SHOW_EMOJI else None


def format_reactions(reactions: dict[str, int]) -> str:
    """``" 👍 2 :custom: 1"``: emoji where known, ``:name:`` otherwise."""
    return "".join(f" {emoji_for(name) or f':{name}:'} {n}" for name, n in reactions.items())
