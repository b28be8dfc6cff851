"""Sanitiser: hostile payloads never keep a control character; legitimate text survives."""

from __future__ import annotations

import random

import pytest

from flowview.model.sanitize import (
    BIDI_CONTROLS,
    ESC_PLACEHOLDER,
    MAX_COMBINING,
    REPLACEMENT,
    clean_name,
    clean_text,
)

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
    assert clean_name(f"nick{emoji}") == f"nick{emoji}"


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
