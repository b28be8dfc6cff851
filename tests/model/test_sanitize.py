"""Sanitiser: hostile payloads never keep a control character; legitimate text survives."""

from __future__ import annotations

import random
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.model import unicode_tables
from flowview.model.sanitize import (
    BIDI_CONTROLS,
    ESC_PLACEHOLDER,
    MARK_BASE,
    MAX_COMBINING,
    MAX_INVISIBLE,
    MAX_NAME_CHARS,
    MAX_PRINTABLE_CHARS,
    REPLACEMENT,
    clean_name,
    clean_text,
    is_combining,
    is_invisible,
    printable,
)
from tests.model import unicode_tables_gen
from tests.terminal_safe import invisible

HOSTILE = {
    "osc52": "copy \x1b]52;c;ZWNobyBwd25lZA==\x07 done",
    "osc52_st": "copy \x1b]52;c;ZWNobyBwd25lZA==\x1b\\ done",
    "osc0": "\x1b]0;pwned title\x07after",
    "osc2_st": "hi\x1b]2;PWNED_TITLE\x1b\\ there",
    "osc8": "\x1b]8;;https://evil.example\x1b\\click me\x1b]8;;\x1b\\",
    "csi": "\x1b[2J\x1b[H\x1b[31mred\x1b[0m",
    "c1_csi": "\x9b31mred\x9b0m",
    "c1_osc": "\x9d0;title\x9c",
    "nel": "a\x85b",
    "c0": "".join(chr(c) for c in range(32)),
    "del": "a\x7fb",
    "decrqss": "\x1bP$q q\x1b\\",
}


def assert_safe(s: str) -> None:
    for ch in s:
        cp = ord(ch)
        assert not (cp < 32 and ch not in "\n\t"), repr(s)
        assert not (0x7F <= cp <= 0x9F), repr(s)
        assert cp not in BIDI_CONTROLS, repr(s)
        assert ch not in "\u2028\u2029"
        assert not 0xD800 <= cp <= 0xDFFF, repr(s)  # cannot be encoded for the terminal


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bodies_lose_every_control(name: str) -> None:
    out = clean_text(HOSTILE[name])
    assert_safe(out)
    assert "\x1b" not in out


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_names_are_single_line_and_safe(name: str) -> None:
    out = clean_name(HOSTILE[name])
    assert_safe(out)
    assert "\n" not in out and "\t" not in out


def test_esc_becomes_a_visible_placeholder_and_the_rest_stays_as_text() -> None:
    out = clean_text(HOSTILE["osc52"])
    assert out == f"copy {ESC_PLACEHOLDER}]52;c;ZWNobyBwd25lZA=={REPLACEMENT} done"


def test_c1_csi_is_replaced() -> None:
    assert clean_text("\x9b31mred") == f"{REPLACEMENT}31mred"


def test_newlines_tabs_kept_cr_and_separators_become_newlines() -> None:
    assert clean_text("a\tb\nc") == "a\tb\nc"
    assert clean_text("a\r\nb") == "a\nb"
    assert clean_text("a\rb") == "a\nb"  # a bare CR could overwrite the line
    assert clean_text("a\u2028b\u2029c") == "a\nb\nc"


def test_bidi_controls_are_removed_from_bodies_and_names() -> None:
    trojan = "access\u202e\u2066 level = 'user'\u2069\u2066// admin\u2069\u202c"
    for out in (clean_text(trojan), clean_name(trojan)):
        assert not any(ord(c) in BIDI_CONTROLS for c in out)
        assert "access" in out and "admin" in out
    assert clean_name("evil\u202egnp.exe") == "evilgnp.exe"
    assert clean_text("\u061cx\u200ey\u200fz") == "xyz"


@pytest.mark.parametrize(
    "emoji",
    [
        "👩\u200d💻",  # woman technologist
        "👨\u200d👩\u200d👧\u200d👦",  # family
        "🏳\ufe0f\u200d🌈",  # rainbow flag (VS16 + ZWJ)
        "👍🏽",  # skin tone modifier
    ],
)
def test_emoji_sequences_survive(emoji: str) -> None:
    assert clean_text(f"hi {emoji}!") == f"hi {emoji}!"
    # Names lose the joiners and selectors (invisible), never the emoji themselves.
    visible = "".join(ch for ch in emoji if ch not in "\u200d\ufe0f")
    assert clean_name(f"nick{emoji}") == f"nick{visible}"


def test_zwnj_kept_for_persian() -> None:
    word = "می\u200cخواهم"
    assert clean_text(word) == word


def test_combining_marks_are_capped_per_base_character() -> None:
    zalgo = "Z" + "\u0301\u0302\u0303\u0304\u0305\u0306\u0307" * 20 + "a"
    out = clean_text(zalgo)
    assert out == "Z\u0301\u0302\u0303\u0304a"
    assert len(out) == 2 + MAX_COMBINING
    assert clean_text("e\u0301") == "e\u0301"  # an ordinary accent is untouched


def test_markup_looking_text_is_kept_literally() -> None:
    for s in (
        "[bold]x[/]",
        "[@click=app.quit]press[/]",
        "[link='file:///etc/passwd']x[/link]",
        "[/]",
    ):
        assert clean_text(s) == s
        assert clean_name(s) == s


def test_clean_name_single_line_stripped_and_truncated() -> None:
    assert clean_name("  alice\n\tsmith  ") == "alice smith"
    long = "x" * 100
    out = clean_name(long)
    assert len(out) == 64 and out.endswith("…")
    assert clean_name("abc", max_chars=2) == "a…"


def test_clean_text_cap() -> None:
    out = clean_text("a" * 50, max_chars=10)
    assert out == "a" * 10 + "… (40 more characters)"


def test_non_strings_and_empty() -> None:
    assert clean_text("") == ""
    assert clean_name("") == ""
    assert clean_text(None) == ""  # type: ignore[arg-type]
    assert clean_name(42) == ""  # type: ignore[arg-type]


def test_random_fuzz_keeps_invariants() -> None:
    rng = random.Random(1234)
    pool = [chr(c) for c in range(0, 0x300)] + [chr(c) for c in range(0x2000, 0x2070)]
    for _ in range(300):
        s = "".join(rng.choice(pool) for _ in range(rng.randint(0, 80)))
        assert_safe(clean_text(s))
        name = clean_name(s)
        assert_safe(name)
        assert "\n" not in name and len(name) <= 64
        # idempotent: cleaning twice changes nothing
        assert clean_text(clean_text(s)) == clean_text(s)


# ------------------------------------------------------------------ every block, every invisible


@pytest.mark.parametrize(
    ("base", "mark"),
    [
        ("\u05e9", "\u05b0"),  # Hebrew point sheva
        ("\u0e01", "\u0e31"),  # Thai vowel sign mai han-akat
        ("\u0915", "\u094d"),  # Devanagari virama
        ("a", "\u20dd"),  # enclosing circle (Me)
        ("a", "\U0001d167"),  # musical symbol combining tremolo (astral Mn)
        ("a", "\ufe0f"),  # variation selector (Mn)
    ],
)
def test_marks_of_every_block_are_capped(base: str, mark: str) -> None:
    out = clean_text(base + mark * 2000 + " next")
    assert out == base + mark * MAX_COMBINING + " next"


def test_marks_interleaved_with_invisible_characters_are_still_capped() -> None:
    # ZWJ between marks must not restart the count: a terminal stacks all of them on "a".
    out = clean_text("a" + "\u0301\u200d" * 500 + "b")
    assert sum(is_combining(c) for c in out) == MAX_COMBINING
    assert sum(is_invisible(c) for c in out) == MAX_INVISIBLE
    assert out.endswith("b")


def test_a_mark_without_a_base_gets_a_dotted_circle() -> None:
    assert clean_text("\u0301x") == f"{MARK_BASE}\u0301x"
    assert clean_text("a\n\u0301b \u0302") == f"a\n{MARK_BASE}\u0301b {MARK_BASE}\u0302"
    assert clean_name("\u0301x") == f"{MARK_BASE}\u0301x"
    assert clean_name("a \u0301") == f"a {MARK_BASE}\u0301"


def test_bodies_keep_zwj_zwnj_and_flag_tags() -> None:
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    for body in (england, "a\u200cb", "👩\u200d💻", "1\ufe0f\u20e3"):
        assert clean_text(body) == body


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero width space
        "\u2060",  # word joiner
        "\ufeff",  # BOM / zero width no-break space
        "\u00ad",  # soft hyphen
        "\U000e0041",  # tag latin capital A
        "\U000e0001",  # language tag
        "\u3164",  # Hangul filler
        "\u115f",  # Hangul choseong filler
        "\uffa0",  # halfwidth Hangul filler
        "\u180e",  # Mongolian vowel separator
        "\u034f",  # combining grapheme joiner
        "\u2800",  # braille blank
        "\u200d",  # ZWJ outside an emoji sequence
        "\u200c",  # ZWNJ
        "\ufe0f",  # variation selector after a letter
        "\u2064",  # invisible plus
    ],
)
def test_invisible_characters_in_names_are_shown(invisible: str) -> None:
    out = clean_name(f"ghost{invisible}")
    assert out != "ghost"
    assert out == f"ghost{REPLACEMENT}"
    # ...and a name made of them alone is not blank.
    assert clean_name(invisible * 3) == REPLACEMENT * 3


def test_lone_surrogates_become_replacement_characters() -> None:
    # The decoder accepts JSON's "\ud800"; writing it to the terminal would raise.
    for out in (clean_text("a\ud800b"), clean_name("a\ud800b"), printable("a\ud800b")):
        assert out == f"a{REPLACEMENT}b"
        out.encode("utf-8")
    assert clean_text("é\udfff") == f"é{REPLACEMENT}"


def test_printable_is_one_bounded_line_of_any_value() -> None:
    assert printable("bad\x1b[31m\nthing\u202e") == f"bad{ESC_PLACEHOLDER}[31m thing"
    assert printable(ValueError("x\u200by")) == f"x{REPLACEMENT}y"
    assert len(printable("x" * 1000)) == MAX_PRINTABLE_CHARS
    assert printable("abc", 2) == "a…"


def test_unicode_tables_match_this_python() -> None:
    """The committed tables are what unicodedata says (regenerate after a Python upgrade)."""
    assert unicodedata.unidata_version == unicode_tables.UNICODE_VERSION
    assert tuple(unicode_tables_gen.category_ranges("Mn", "Me")) == unicode_tables.COMBINING_MARKS
    assert tuple(unicode_tables_gen.category_ranges("Cf")) == unicode_tables.FORMAT_CHARS
    assert unicode_tables.DEFAULT_IGNORABLE == unicode_tables_gen.DEFAULT_IGNORABLE


# ------------------------------------------------------------------ properties


def _default_ignorable(ch: str) -> bool:
    return invisible(ord(ch))


def _zero_width(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Me", "Cf") or _default_ignorable(ch)


# Hostile material weighted far above its natural frequency, plus anything at all.
_NASTY = st.sampled_from(
    [
        *"\x00\x1b\x07\r\n\t\x7f\x85\x9b \u00a0\u3000\u2028\u2029",
        *(chr(c) for c in BIDI_CONTROLS),
        *"\u200b\u200c\u200d\u2060\ufeff\u00ad\u3164\u115f\uffa0\u2800\u034f\ufe0f\ufe0e",
        *"\U000e0041\U000e007f\U000e0100",
        *"\u0301\u0336\u05b0\u05bc\u0e31\u0e48\u094d\u20dd\u0489\U0001d167",
        *"aZ \u05e9\u0e01👩💻🏳🌈👍🏽",
        *"\ud800\udfff\udc80",  # lone surrogates: JSON "\ud800" decodes to one
    ]
)
_TEXT = st.text(st.one_of(_NASTY, _NASTY, st.characters()), max_size=120)


def _zero_width_runs(s: str) -> list[str]:
    runs: list[str] = []
    current = ""
    for ch in s:
        if _zero_width(ch):
            current += ch
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_property_names_hold_nothing_invisible(s: str) -> None:
    out = clean_name(s)
    for ch in out:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp"), repr(out)
        assert not _default_ignorable(ch), repr(out)
        assert ch != "\u2800"
    assert len(out) <= MAX_NAME_CHARS
    assert out == out.strip() and "  " not in out
    for at, ch in enumerate(out):
        if unicodedata.category(ch) in ("Mn", "Me"):
            assert at > 0 and out[at - 1] != " ", repr(out)
    assert clean_name(out) == out  # idempotent
    if s.strip():
        # Something visible is left: a name never renders blank.
        assert any(not ch.isspace() and not _zero_width(ch) for ch in out), repr(s)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_property_bodies_bound_every_stack(s: str) -> None:
    out = clean_text(s)
    assert_safe(out)
    for run in _zero_width_runs(out):
        assert sum(unicodedata.category(c) in ("Mn", "Me") for c in run) <= MAX_COMBINING
        assert sum(unicodedata.category(c) not in ("Mn", "Me") for c in run) <= MAX_INVISIBLE
    for at, ch in enumerate(out):
        if unicodedata.category(ch) in ("Mn", "Me"):
            assert at > 0 and out[at - 1] not in "\n\t ", repr(out)
    assert clean_text(out) == out  # idempotent


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_property_printable_is_one_line(s: str) -> None:
    out = printable(s)
    assert "\n" not in out and "\r" not in out and len(out) <= MAX_PRINTABLE_CHARS
    assert all(unicodedata.category(ch) not in ("Cc", "Cs") for ch in out)
