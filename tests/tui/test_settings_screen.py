"""The in-app settings screen, driven with Pilot against the bundled server over loopback."""

from __future__ import annotations

import gc
import tomllib
import warnings
from pathlib import Path

import pytest
from helpers import wait_until
from textual.widgets import Button, Checkbox, Input, RadioButton, SelectionList

from flowview.config import Settings, load_settings, save_settings
from flowview.protocol.auth import Token
from flowview.server.runner import ServerThread
from flowview.tui.screens.settings import SettingsScreen, parse_minutes
from tests.tui.screen_host import UNSET, HostApp

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("deterministic_widgets")]


def server_settings(server: ServerThread, flows: list[str]) -> Settings:
    return Settings(
        stream_url=server.stream_url,
        api_url=server.api_url,
        flows=flows,
        keymap={"quit": "ctrl+q"},
        me_id="1",
    )


def options(screen: SettingsScreen) -> list[tuple[str, str]]:
    flows: SelectionList[str] = screen.query_one("#flows", SelectionList)
    return [
        (str(flows.get_option_at_index(i).prompt), flows.get_option_at_index(i).value)
        for i in range(flows.option_count)
    ]


async def all_slugs(server: ServerThread) -> list[str]:
    from flowview.protocol.rest import RestClient

    async with RestClient(server.api_url, Token(server.token)) as client:
        return sorted(f.slug for f in await client.flows())


async def test_change_flows_and_options_then_save(
    server: ServerThread, isolated_config: Path
) -> None:
    slugs = await all_slugs(server)
    assert len(slugs) >= 3
    current = server_settings(server, [slugs[0]])
    save_settings(current)
    app = HostApp(lambda: SettingsScreen(current, Token(server.token)))
    async with app.run_test(size=(100, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        await wait_until(pilot, lambda: screen.flows_loaded, message=screen.status_text)
        shown = options(screen)
        assert sorted(v for _, v in shown) == slugs
        assert all(" / " in prompt for prompt, _ in shown)  # names, not slugs or ids
        flows: SelectionList[str] = screen.query_one("#flows", SelectionList)
        assert flows.selected == [slugs[0]]  # the current choice is pre-selected

        # Swap the choice: deselect the current flow, select two others.
        flows.deselect(slugs[0])
        flows.select(slugs[1])
        flows.select(slugs[2])
        await pilot.click("#private")
        await pilot.click("#json")
        await pilot.click("#bell")
        idle = screen.query_one("#auto-idle", Input)
        idle.value = ""
        await pilot.click("#auto-idle")
        await pilot.press("2", ".", "5")
        await pilot.click("#save")
        await wait_until(pilot, lambda: app.result is not UNSET)

    new = app.result
    assert isinstance(new, Settings)
    assert sorted(new.flows) == [slugs[1], slugs[2]]
    assert new.private is False
    assert new.content_type == "json"
    assert new.bell is True
    assert new.auto_idle_minutes == 2.5
    # Untouched fields survive.
    assert new.keymap == {"quit": "ctrl+q"} and new.me_id == "1"
    assert load_settings() == new
    saved = tomllib.loads((isolated_config / "settings.toml").read_text())
    assert saved["content_type"] == "json"
    # The settings screen never writes the token.
    assert not (isolated_config / "token").exists()


async def test_escape_cancels_without_saving(server: ServerThread, isolated_config: Path) -> None:
    slugs = await all_slugs(server)
    current = server_settings(server, [slugs[0]])
    app = HostApp(lambda: SettingsScreen(current, Token(server.token)))
    async with app.run_test(size=(100, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        await wait_until(pilot, lambda: screen.flows_loaded, message=screen.status_text)
        screen.query_one("#flows", SelectionList).select(slugs[1])
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.result is not UNSET)
    assert app.result is None
    assert not (isolated_config / "settings.toml").exists()


async def test_cancel_button(isolated_config: Path) -> None:
    app = HostApp(lambda: SettingsScreen(Settings(flows=["a/b"]), None))
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.click("#cancel")
        await wait_until(pilot, lambda: app.result is not UNSET)
    assert app.result is None


async def test_a_second_save_replaces_the_first_without_leaking_it(isolated_config: Path) -> None:
    # Two saves in one tick: the exclusive group cancels the first worker before it starts.
    # Its work must be a call not yet made, or an un-awaited coroutine is left to the GC.
    app = HostApp(lambda: SettingsScreen(Settings(flows=["a/b"]), None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with app.run_test(size=(100, 50)) as pilot:
            screen = app.screen
            assert isinstance(screen, SettingsScreen)
            screen.action_save()
            screen.action_save()
            await wait_until(pilot, lambda: app.result is not UNSET)
        gc.collect()
    assert isinstance(app.result, Settings) and app.result.flows == ["a/b"]
    saved = load_settings()
    assert saved is not None and saved.flows == ["a/b"]
    leaked = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert leaked == []


async def test_saved_flow_missing_on_server_stays_listed(
    server: ServerThread, isolated_config: Path
) -> None:
    slugs = await all_slugs(server)
    current = server_settings(server, [slugs[0], "gone/away"])
    app = HostApp(lambda: SettingsScreen(current, Token(server.token)))
    async with app.run_test(size=(100, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        await wait_until(pilot, lambda: screen.flows_loaded, message=screen.status_text)
        shown = dict((v, p) for p, v in options(screen))
        assert "not among your flows" in shown["gone/away"]
        flows: SelectionList[str] = screen.query_one("#flows", SelectionList)
        assert set(flows.selected) == {slugs[0], "gone/away"}


async def test_rejected_token_keeps_saved_choice_and_still_saves(
    server: ServerThread, isolated_config: Path
) -> None:
    current = server_settings(server, ["acme/one", "acme/two"])
    app = HostApp(lambda: SettingsScreen(current, Token("wrong-token")))
    async with app.run_test(size=(100, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        await wait_until(
            pilot, lambda: "rejected" in screen.status_text, message=screen.status_text
        )
        assert [v for _, v in options(screen)] == ["acme/one", "acme/two"]
        screen.query_one("#flows", SelectionList).deselect("acme/two")
        await pilot.click("#save")
        await wait_until(pilot, lambda: app.result is not UNSET)
    assert isinstance(app.result, Settings)
    assert app.result.flows == ["acme/one"]


async def test_invalid_minutes_and_empty_choice_are_refused(isolated_config: Path) -> None:
    app = HostApp(lambda: SettingsScreen(Settings(flows=["a/b"], private=False), None))
    async with app.run_test(size=(100, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        screen.query_one("#auto-idle", Input).value = "-3"
        await pilot.click("#save")
        assert "Auto-idle" in screen.status_text
        screen.query_one("#auto-idle", Input).value = "5"
        screen.query_one("#flows", SelectionList).deselect_all()
        await pilot.click("#save")
        assert "at least one flow" in screen.status_text
        assert app.result is UNSET
        assert screen.query_one("#save", Button).display
    assert not (isolated_config / "settings.toml").exists()


async def test_initial_values_reflect_settings(isolated_config: Path) -> None:
    current = Settings(
        flows=["a/b"], private=False, content_type="json", auto_idle_minutes=7, bell=True
    )
    app = HostApp(lambda: SettingsScreen(current, None))
    async with app.run_test(size=(100, 50)):
        screen = app.screen
        assert screen.query_one("#private", Checkbox).value is False
        assert screen.query_one("#json", RadioButton).value is True
        assert screen.query_one("#sse", RadioButton).value is False
        assert screen.query_one("#auto-idle", Input).value == "7"
        assert screen.query_one("#bell", Checkbox).value is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", 10.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("x", None),
    ],
)
def test_parse_minutes(text: str, expected: float | None) -> None:
    assert parse_minutes(text) == expected
