"""SearchScreen over a seeded archive: search as you type, highlights, scope, jump, escape."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until
from textual.app import App
from textual.content import Content
from textual.widgets import Input, OptionList, Static

from flowview.archive import Archive
from flowview.protocol.rest import Flow, User
from flowview.tui.screens import search as search_module
from flowview.tui.screens.search import MATCH_STYLE, SearchScreen

MAIN, OPS = "f-main", "f-ops"
BASE_MS = 1_780_000_000_000


class SearchHost(App[None]):
    """Pushes a SearchScreen; records JumpTo messages and the dismissal."""

    def __init__(self, archive: Archive, conversation: Any = None) -> None:
        super().__init__()
        self.archive = archive
        self.conversation = conversation
        self.jumps: list[tuple[Any, int]] = []
        self.was_dismissed = False

    def on_mount(self) -> None:
        self.push_screen(
            SearchScreen(self.archive, self.conversation), callback=self._record_dismissal
        )

    def _record_dismissal(self, _result: None) -> None:
        self.was_dismissed = True

    def on_search_screen_jump_to(self, message: SearchScreen.JumpTo) -> None:
        self.jumps.append((message.key, message.message_id))


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    """An archive with two flows, two users and some hostile text."""
    arc = Archive.open(tmp_path / "data" / "a.sqlite3")
    arc.set_users([User(id="u1", nick="robin"), User(id="u2", nick="sam")])
    arc.set_flows(
        [
            Flow(id=MAIN, name="Main", parameterized_name="main", organization="acme"),
            Flow(id=OPS, name="Ops", parameterized_name="ops", organization="acme"),
        ]
    )

    def msg(i: int, text: str, flow: str = MAIN, user: str = "u1") -> dict[str, Any]:
        return {
            "event": "message",
            "id": i,
            "flow": flow,
            "user": user,
            "sent": BASE_MS + i * 60_000,
            "content": text,
        }

    arc.ingest_many(
        [
            msg(1, "the deploy is done"),
            msg(2, "lunch anyone?", user="u2"),
            msg(3, "deploy [b]bold[/b] \x1b[31mred\x1b[0m \u202eevil", flow=OPS, user="u2"),
            *(msg(100 + i, f"filler {i}") for i in range(20)),
        ]
    )
    arc.flush()
    yield arc
    arc.close()


def _screen(app: App[Any]) -> SearchScreen:
    screen = app.screen
    assert isinstance(screen, SearchScreen)
    return screen


def _prompts(screen: SearchScreen) -> list[Content]:
    results = screen.query_one(OptionList)
    prompts = []
    for i in range(results.option_count):
        prompt = results.get_option_at_index(i).prompt
        assert isinstance(prompt, Content)
        prompts.append(prompt)
    return prompts


async def _type(pilot: Any, screen: SearchScreen, text: str) -> None:
    """Type `text` and wait for the results of the whole of it."""
    await pilot.press(*text)
    typed = screen.query_one(Input).value
    await wait_until(pilot, lambda: screen.shown_query == typed, message="no search finished")
    await pilot.pause()


async def test_results_appear_as_you_type_with_matches_highlighted(archive: Archive) -> None:
    app = SearchHost(archive)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = _screen(app)
        await _type(pilot, screen, "depl")  # a prefix: the query runs before the word ends
        prompts = _prompts(screen)
        assert len(prompts) == 2
        by_flow = {("acme/ops" in p.plain): p for p in prompts}
        ops = by_flow[True]
        assert "sam" in ops.plain and "2026" in ops.plain
        assert "robin" in by_flow[False].plain
        styled = [ops.plain[s.start : s.end] for s in ops.spans if s.style == MATCH_STYLE]
        assert styled == ["deploy"]
        status = screen.query_one("#search-status", Static).render()
        assert "2 hits" in str(status)


async def test_hostile_archived_text_is_shown_literally(archive: Archive) -> None:
    app = SearchHost(archive)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = _screen(app)
        await _type(pilot, screen, "bold")
        (prompt,) = _prompts(screen)
        assert "[b]bold[/b]" in prompt.plain  # not parsed as markup
        assert "\x1b" not in prompt.plain and "\u202e" not in prompt.plain


async def test_enter_posts_jump_to_the_highlighted_hit(archive: Archive) -> None:
    app = SearchHost(archive)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = _screen(app)
        await _type(pilot, screen, "deploy")
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.jumps, message="no JumpTo")
        second = screen.hits[1].message
        assert app.jumps == [(second.key, second.id)]


async def test_this_flow_scope_and_switching(archive: Archive) -> None:
    app = SearchHost(archive, conversation=("flow", MAIN))
    async with app.run_test(size=(120, 30)) as pilot:
        screen = _screen(app)
        await _type(pilot, screen, "deploy")
        assert len(_prompts(screen)) == 1
        before = screen.searches
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: screen.searches > before)
        await pilot.pause()
        assert len(_prompts(screen)) == 2


async def test_bad_query_is_reported_in_place(archive: Archive) -> None:
    app = SearchHost(archive)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = _screen(app)
        await _type(pilot, screen, "since:never x")
        assert _prompts(screen) == []
        assert "cannot read the date" in str(screen.query_one("#search-status", Static).render())
        await pilot.press(*["backspace"] * len("since:never x"))
        await _type(pilot, screen, "lunch")  # still alive and searching
        assert len(_prompts(screen)) == 1


async def test_typing_fast_runs_one_search(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_module, "DEBOUNCE_SECONDS", 0.5)
    app = SearchHost(archive)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = _screen(app)
        await _type(pilot, screen, "lunch")
        assert screen.searches == 1
        assert screen.query_one(Input).value == "lunch"


async def test_escape_dismisses(archive: Archive) -> None:
    app = SearchHost(archive)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.was_dismissed)


class PaletteOnCtrlK(SearchHost):
    COMMAND_PALETTE_BINDING = "ctrl+k"  # as FlowviewApp has it


async def test_the_footer_never_offers_the_inputs_ctrl_k_as_the_palette(
    archive: Archive,
) -> None:
    # The search field binds ctrl+k itself (delete to the end); the footer's palette slot
    # showed that description although ctrl+k opens flowview's palette.
    app = PaletteOnCtrlK(archive)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        shown = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert "^t This flow / all" in shown or "This flow / all" in shown
        assert "Delete all to the right" not in shown
