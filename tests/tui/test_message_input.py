"""The input line in a small host app driven by Pilot: send, new lines, paste, history, edit,
draft, and Tab completion."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.message import Message

from flowview.tui.widgets.message_input import CompletionSource, MessageInput, clean_paste


class Host(App[None]):
    """Two conversation tabs' input lines; records what they post."""

    BINDINGS: ClassVar[list[BindingType]] = [
        ("pageup", "log('up')"),
        ("pagedown", "log('down')"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.posted: list[Message] = []
        self.paged: list[str] = []
        self.nicks: tuple[str, ...] = ("alice", "Alan", "alfred", "bob")

    def compose(self) -> ComposeResult:
        source = lambda: CompletionSource(nicks=self.nicks, tags=("bug",), flows=("acme/main",))  # noqa: E731
        yield MessageInput("flow:a", completion_source=source, id="a")
        yield MessageInput("flow:b", completion_source=source, id="b")

    def action_log(self, direction: str) -> None:
        self.paged.append(direction)

    def on_message_input_submitted(self, message: MessageInput.Submitted) -> None:
        self.posted.append(message)

    def on_message_input_edit_last_requested(self, message: MessageInput.EditLastRequested) -> None:
        self.posted.append(message)
        message.input.begin_edit(42, "old text")

    @property
    def a(self) -> MessageInput:
        return self.query_one("#a", MessageInput)

    @property
    def b(self) -> MessageInput:
        return self.query_one("#b", MessageInput)


def sent(app: Host) -> list[tuple[str, str, int | None]]:
    return [(m.key, m.text, m.edit_of) for m in app.posted if isinstance(m, MessageInput.Submitted)]


async def type_text(pilot: object, text: str) -> None:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await pilot.press(*("space" if ch == " " else ch for ch in text))


async def test_enter_sends_with_the_tab_key_and_clears() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        await type_text(pilot, "hello")
        await pilot.press("enter")
        await pilot.press("enter")  # blank: nothing
        app.b.focus()
        await type_text(pilot, "hi b")
        await pilot.press("enter")
        await pilot.pause()
        assert sent(app) == [("flow:a", "hello", None), ("flow:b", "hi b", None)]
        assert app.a.text == "" and app.b.text == ""


async def test_shift_and_alt_enter_add_lines() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        await type_text(pilot, "one")
        await pilot.press("shift+enter")
        await type_text(pilot, "two")
        await pilot.press("alt+enter")
        await type_text(pilot, "three")
        await pilot.press("ctrl+j")
        await type_text(pilot, "four")
        await pilot.press("enter")
        await pilot.pause()
        assert sent(app) == [("flow:a", "one\ntwo\nthree\nfour", None)]


async def test_a_pasted_block_stays_one_message_without_control_characters() -> None:
    from textual import events

    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        await type_text(pilot, ">")
        app.a.post_message(events.Paste("line 1\r\nline 2\rline 3\x1b[31m red\u202e\x07"))
        await pilot.pause()
        assert sent(app) == []
        assert app.a.text == ">line 1\nline 2\nline 3[31m red"
        await pilot.press("enter")
        await pilot.pause()
        assert sent(app) == [("flow:a", ">line 1\nline 2\nline 3[31m red", None)]


def test_clean_paste_keeps_tabs_and_emoji_joiners() -> None:
    family = "👩\u200d👩\u200d👧"
    assert clean_paste(f"a\tb {family}\u200b\u2066x") == f"a\tb {family}x"


async def test_history_is_per_tab_and_restores_the_draft() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        for text in ("a1", "a2"):
            await type_text(pilot, text)
            await pilot.press("enter")
        app.b.focus()
        await type_text(pilot, "b1")
        await pilot.press("enter")
        app.a.focus()
        await type_text(pilot, "draft")
        await pilot.press("ctrl+up")
        assert app.a.text == "a2"
        await pilot.press("up")  # while browsing, plain up goes on
        assert app.a.text == "a1"
        await pilot.press("up")
        assert app.a.text == "a1"  # the oldest stays
        await pilot.press("down")
        assert app.a.text == "a2"
        await pilot.press("down")
        assert app.a.text == "draft"
        app.b.focus()
        await pilot.press("ctrl+up")
        assert app.b.text == "b1"
        assert app.a.input_history == ["a1", "a2"]
        assert app.b.input_history == ["b1"]


async def test_up_on_an_empty_line_asks_to_edit_the_last_message() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        await pilot.press("up")
        await pilot.pause()
        (request,) = app.posted
        assert isinstance(request, MessageInput.EditLastRequested)
        assert request.key == "flow:a"
        assert app.a.text == "old text" and app.a.editing == 42
        assert app.a.has_class("-editing")
        await type_text(pilot, "!")
        await pilot.press("enter")
        await pilot.pause()
        assert sent(app) == [("flow:a", "old text!", 42)]
        assert app.a.editing is None and not app.a.has_class("-editing")


async def test_escape_cancels_an_edit_and_brings_the_draft_back() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        app.a.draft = "half typed"
        app.a.begin_edit(7, "older")
        await pilot.press("escape")
        assert (app.a.text, app.a.editing) == ("half typed", None)


async def test_draft_can_be_saved_and_restored() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        await type_text(pilot, "unfinished")
        saved = app.a.draft
        app.a.draft = ""
        assert app.a.text == ""
        app.a.draft = saved
        await type_text(pilot, "!")
        assert app.a.draft == "unfinished!"


async def test_tab_completes_and_cycles_and_otherwise_moves_focus() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        await type_text(pilot, "hi @al")
        await pilot.press("tab")
        assert app.a.text == "hi @alfred "
        await pilot.press("tab")
        assert app.a.text == "hi @alice "
        await pilot.press("tab", "tab")
        assert app.a.text == "hi @alfred "  # wrapped around
        await type_text(pilot, ":ta")
        await pilot.press("tab")
        assert app.a.text == "hi @alfred :tada: "
        await type_text(pilot, "x")
        await pilot.press("tab")  # nothing to complete: focus moves on
        assert app.focused is app.b


async def test_page_keys_reach_the_log_while_typing() -> None:
    app = Host()
    async with app.run_test() as pilot:
        app.a.focus()
        await type_text(pilot, "reading back")
        await pilot.press("pageup", "pageup", "pagedown")
        assert app.paged == ["up", "up", "down"]
        assert app.focused is app.a and app.a.text == "reading back"
