"""UI-free layout helpers: times, days, sizes, HTML, spans and wrapping."""

from __future__ import annotations

import random
from datetime import timedelta, timezone

import pytest
from rich.cells import cell_len

from flowview.model import render
from flowview.model.render import (
    day_key,
    find_spans,
    first_url,
    format_day,
    format_time,
    html_to_text,
    human_size,
    mentions_nick,
    wrap,
)

# 2026-03-03 14:05:00 UTC, a Tuesday
MS = 1772546700000


pytestmark = pytest.mark.usefixtures("utc")  # tests/conftest.py


def test_times_and_days_in_the_display_zone() -> None:
    assert format_time(MS) == "14:05"
    assert format_day(MS) == "Tuesday 3 March 2026"
    render.set_display_timezone(timezone(timedelta(hours=10)))
    assert format_time(MS) == "00:05"
    assert format_day(MS) == "Wednesday 4 March 2026"
    assert day_key(MS) == day_key(MS + 3600_000)


def test_unknown_times() -> None:
    assert format_time(None) == "--:--"
    assert day_key(None) is None
    assert format_time(10**30) == "--:--"  # overflow is not a crash
    assert isinstance(format_time(10**18), str)


def test_human_size() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(15557) == "15.2 KB"
    assert human_size(3 * 1024 * 1024) == "3.0 MB"
    assert human_size(None) == "unknown size"


def test_html_to_text() -> None:
    assert html_to_text('<a href="https://x.org">Build</a> <b>failed</b> &amp; ok') == (
        "Build failed & ok"
    )
    assert html_to_text("<p>one</p><p>two</p>") == "one\ntwo"
    assert html_to_text("<script>alert(1)</script>text") == "text"
    assert html_to_text("x\x1b]0;t\x07<br>y") == "x␛]0;t\ufffd\ny"
    assert html_to_text("line\nbreak", single_line=True) == "line break"
    assert html_to_text(None) == ""


def test_spans_for_urls_tags_and_mentions() -> None:
    text = "see https://x.org/a_(b). #Deploy @me @@team @bob and @everyone"
    spans = {(text[a:b], role) for a, b, role in find_spans(text, "Me")}
    assert spans == {
        ("https://x.org/a_(b)", "url"),
        ("#Deploy", "tag"),
        ("@me", "me"),
        ("@@team", "team"),
        ("@bob", "mention"),
        ("@everyone", "team"),
    }


def test_spans_do_not_overlap_urls() -> None:
    text = "https://x.org/#anchor@host"
    assert find_spans(text) == [(0, len(text), "url")]


def test_first_url_only_http_and_https() -> None:
    assert first_url("javascript:alert(1) file:///etc/passwd ftp://x.org") is None
    assert first_url("a http://x.org/p, then https://y.org") == "http://x.org/p"
    assert first_url("(https://x.org/q)") == "https://x.org/q"


def test_mentions_nick() -> None:
    assert mentions_nick("hi @Alice.", "alice")
    assert mentions_nick("ping @@team", None)
    assert not mentions_nick("hi @alicex", "alice")
    assert not mentions_nick("mail alice@example.com", "example")
    assert not mentions_nick("no at sign", "alice")


def test_wrap_breaks_at_spaces_with_hanging_indent() -> None:
    text = "the quick brown fox jumps over the lazy dog"
    rows = wrap(text, 12, 8)
    pieces = [text[a:b] for a, b in rows]
    assert pieces == ["the quick", "brown", "fox", "jumps", "over the", "lazy dog"]


def test_wrap_honours_newlines_and_splits_long_words() -> None:
    text = "a\n\n" + "x" * 25
    pieces = [text[a:b] for a, b in wrap(text, 10, 10)]
    assert pieces == ["a", "", "x" * 10, "x" * 10, "x" * 5]


def test_wrap_fuzz_rows_fit_and_cover_all_visible_text() -> None:
    rng = random.Random(7)
    alphabet = ["a", "b", " ", " ", "\n", "日", "é", "👩\u200d💻", "x" * 30]
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        first, rest = rng.randint(1, 30), rng.randint(2, 30)
        rows = wrap(text, first, rest)
        assert rows
        for i, (a, b) in enumerate(rows):
            limit = first if i == 0 else rest
            assert cell_len(text[a:b].rstrip(" ")) <= max(limit, 2)
        covered = "".join(text[a:b] for a, b in rows)
        assert covered.replace(" ", "") == text.replace(" ", "").replace("\n", "")


def test_absolute_file_url_joins_only_server_relative_paths() -> None:
    api = "https://api.example.org/"
    assert (
        render.absolute_file_url("/files/1/a b.pdf", api)
        == "https://api.example.org/files/1/a b.pdf"
    )
    assert render.absolute_file_url("/files/x", None) == "/files/x"
    assert render.absolute_file_url("https://cdn.example/x", api) == "https://cdn.example/x"
    assert render.absolute_file_url("//evil.example/x", api) == "//evil.example/x"


def test_all_urls_in_order_without_repeats() -> None:
    text = "a https://x.example/1, b http://y.example/2 and https://x.example/1 ftp://z"
    assert render.all_urls(text) == ["https://x.example/1", "http://y.example/2"]


def test_reactions_as_emoji_or_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "SHOW_EMOJI", True)
    assert render.format_reactions({"+1": 2, "nope": 1}) == " \U0001f44d 2 :nope: 1"
    for name in ("+1", "heart", "tada", "rocket", "eyes"):  # what the simulator sends
        emoji = render.emoji_for(name)
        assert emoji is not None and cell_len(emoji) == 2
    monkeypatch.setattr(render, "SHOW_EMOJI", False)
    assert render.format_reactions({"+1": 2}) == " :+1: 2"
