"""Input line semantics: commands, escapes, errors, and Tab completion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowview.model.compose import (
    COMMANDS,
    EMOJI,
    MAX_MESSAGE_CHARS,
    Action,
    Completion,
    ComposeError,
    DeleteSelected,
    EditLast,
    Join,
    PrivateMessage,
    React,
    Retag,
    SendText,
    ShowHelp,
    complete,
    help_lines,
    parse,
)

FLOWS = ["acme/main", "acme/dev-ops", "other/main", "Random"]


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("hello", SendText("hello")),
        ("two\nlines", SendText("two\nlines")),
        ("  padded  ", SendText("  padded  ")),
        ("//etc/hosts is here", SendText("/etc/hosts is here")),
        ("//me", SendText("/me")),
        ("/me waves", SendText("waves", "line")),
        ("/me waves\nand smiles", SendText("waves\nand smiles", "line")),
        ("/ME shouts", SendText("shouts", "line")),
        ("/status in a meeting", SendText("in a meeting", "status")),
        ("/msg bob hi there", PrivateMessage("bob", "hi there")),
        ("/msg @bob hi\nsecond line", PrivateMessage("bob", "hi\nsecond line")),
        ("/react :tada:", React("tada")),
        ("/react +1", React("+1")),
        ("/unreact :tada:", React("tada", add=False)),
        ("/tag #release urgent", Retag(("release", "urgent"))),
        ("/untag #release #release", Retag(("release",), remove=True)),
        ("/edit", EditLast(None)),
        ("/edit fixed text", EditLast("fixed text")),
        ("/delete", DeleteSelected()),
        ("/help", ShowHelp(None)),
        ("/help /msg", ShowHelp("msg")),
        ("/join dev-ops", Join("acme/dev-ops")),
        ("/join ACME/MAIN", Join("acme/main")),
        ("/join #random", Join("Random")),
    ],
)
def test_parse(text: str, action: Action) -> None:
    assert parse(text, flows=FLOWS) == action


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "nothing to send"),
        ("   \n ", "nothing to send"),
        ("/frobnicate now", "unknown command /frobnicate"),
        ("/usr/bin/env", "unknown command /usr/bin/env"),
        ("/", "unknown command //"),
        ("/me", "usage: /me text"),
        ("/me   ", "usage: /me text"),
        ("/status", "usage: /status text"),
        ("/msg bob", "usage: /msg nick text"),
        ("/msg", "usage: /msg nick text"),
        ("/react", "usage: /react :emoji:"),
        ("/unreact", "usage: /unreact :emoji:"),
        ("/tag", "usage: /tag #tag [#tag …]"),
        ("/tag :thread", "usage: /tag #tag [#tag …]"),
        ("/react <b>", "usage: /react :emoji:"),
        ("/delete now", "usage: /delete"),
        ("/help nope", "no command /nope"),
        ("/join", "usage: /join flow"),
        ("/join main", "no flow named main"),  # ambiguous: acme/main and other/main
        ("/join nowhere", "no flow named nowhere"),
        ("x" * (MAX_MESSAGE_CHARS + 1), "message too long"),
        ("/me " + "x" * (MAX_MESSAGE_CHARS + 1), "message too long"),
    ],
)
def test_errors_are_never_sent_as_text(text: str, error: str) -> None:
    action = parse(text, flows=FLOWS)
    assert isinstance(action, ComposeError)
    assert action.message.startswith(error)


def test_longest_allowed_message_is_sent() -> None:
    assert parse("x" * MAX_MESSAGE_CHARS) == SendText("x" * MAX_MESSAGE_CHARS)


def test_help_lists_every_command() -> None:
    text = "\n".join(help_lines())
    assert all(c.usage in text for c in COMMANDS.values())
    assert help_lines("me") == [f"{COMMANDS['me'].usage:<18} {COMMANDS['me'].summary}"]


NICKS = ["alice", "Alan", "bob", "alfred"]
TAGS = ["bug", "build", ":unread:5", "influx:12", "#backlog"]


@pytest.mark.parametrize(
    ("text", "cursor", "expected"),
    [
        ("hi @al", None, Completion(3, 6, ("@alfred", "@alice", "@Alan"))),
        ("hi @AL", None, Completion(3, 6, ("@Alan", "@alfred", "@alice"))),
        ("@ev", None, Completion(0, 3, ("@everyone",))),
        ("@t", None, Completion(0, 2, ("@team",))),
        ("fix #bu", None, Completion(4, 7, ("#bug", "#build"))),
        ("#ba", None, Completion(0, 3, ("#backlog",))),
        ("nice :ta", None, Completion(5, 8, (":tada:",))),
        (":thumbs", None, Completion(0, 7, (":thumbsdown:", ":thumbsup:"))),
        ("/j", None, Completion(0, 2, ("/join",))),
        ("/join ac", None, Completion(6, 8, ("acme/dev-ops", "acme/main"))),
        ("/msg b", None, Completion(5, 6, ("bob",))),
        ("hi @al and more", 6, Completion(3, 6, ("@alfred", "@alice", "@Alan"))),
    ],
)
def test_complete(text: str, cursor: int | None, expected: Completion) -> None:
    got = complete(
        text,
        len(text) if cursor is None else cursor,
        nicks=NICKS,
        tags=TAGS,
        flows=FLOWS,
    )
    assert got == expected


@pytest.mark.parametrize("text", ["", "hello ", "plain", "@zz", "#:un", "#inf", ":x:", ":a", "a:b"])
def test_nothing_to_complete(text: str) -> None:
    assert complete(text, len(text), nicks=NICKS, tags=TAGS, flows=FLOWS) is None


def test_emoji_table_is_shortcodes_to_single_graphemes() -> None:
    assert all(" " not in code and code == code.lower() for code in EMOJI)
    assert all(1 <= len(char) <= 2 for char in EMOJI.values())


@given(st.text(max_size=200))
def test_a_single_leading_slash_is_never_posted_as_plain_text(rest: str) -> None:
    action = parse("/" + rest.lstrip("/"), flows=FLOWS)
    assert not (isinstance(action, SendText) and action.event == "message")


@given(st.text(max_size=200).filter(lambda t: not t.startswith("/")))
def test_text_without_a_slash_is_sent_verbatim_or_refused(text: str) -> None:
    action = parse(text)
    assert action == SendText(text) or isinstance(action, ComposeError)


@given(st.text(max_size=60), st.integers(min_value=0, max_value=60))
def test_completion_replaces_a_span_that_ends_at_the_cursor(text: str, cursor: int) -> None:
    got = complete(text, cursor, nicks=NICKS, tags=TAGS, flows=FLOWS)
    if got is not None:
        assert 0 <= got.start < got.end == min(cursor, len(text))
        assert got.candidates
