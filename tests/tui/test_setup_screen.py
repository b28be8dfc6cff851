"""The first-run setup screen, driven with Pilot against the bundled server over loopback."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until
from textual.widgets import Button, Checkbox, Input, SelectionList, Static

from flowview.config import Settings, load_settings, load_token
from flowview.protocol.auth import Token
from flowview.protocol.rest import Flow
from flowview.server.runner import ServerThread
from flowview.tui.screens.setup import (
    DEMO,
    SetupResult,
    SetupScreen,
    check_base_url,
    flow_label,
)
from tests.tui.screen_host import UNSET, HostApp

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("deterministic_widgets")]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def fill_form(
    pilot: Any, server: ServerThread, token: str, *, type_token: bool = False
) -> SetupScreen:
    screen = pilot.app.screen
    assert isinstance(screen, SetupScreen)
    screen.query_one("#stream-url", Input).value = server.stream_url
    screen.query_one("#api-url", Input).value = server.api_url
    await pilot.click("#token")
    if type_token:
        await pilot.press(*token)  # key by key, like a person (about 0.1 s a key under Pilot)
    else:
        screen.query_one("#token", Input).value = token
    return screen


def status(screen: SetupScreen) -> str:
    return screen.status_text


async def test_check_pick_two_flows_and_save(server: ServerThread, isolated_config: Path) -> None:
    app = HostApp(SetupScreen)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = await fill_form(pilot, server, server.token, type_token=True)
        token_input = screen.query_one("#token", Input)
        assert token_input.password is True
        assert token_input.value == server.token
        assert screen.query_one("#save", Button).disabled

        await pilot.click("#check")
        await wait_until(pilot, lambda: "Signed in" in status(screen), message=status(screen))
        flows: SelectionList[str] = screen.query_one("#flows", SelectionList)
        assert not flows.disabled and flows.option_count >= 2
        prompts = [str(flows.get_option_at_index(i).prompt) for i in range(flows.option_count)]
        values = [flows.get_option_at_index(i).value for i in range(flows.option_count)]
        # Names "Org / Flow", values slugs; never the opaque ids.
        assert all(" / " in p for p in prompts)
        assert all("/" in v and " " not in v for v in values)
        assert set(flows.selected) == set()

        flows.focus()
        await pilot.pause()
        flows.highlighted = 0
        await pilot.press("space", "down", "space")
        assert flows.selected == values[:2]
        await pilot.click("#private")  # turn private messages off
        assert screen.query_one("#private", Checkbox).value is False
        assert not screen.query_one("#save", Button).disabled
        await pilot.click("#save")
        await wait_until(pilot, lambda: app.result is not UNSET)

    result = app.result
    assert isinstance(result, SetupResult)
    assert result.token == Token(server.token)
    assert result.settings.flows == values[:2]
    assert result.settings.private is False
    assert (result.settings.stream_url, result.settings.api_url) == (
        server.stream_url,
        server.api_url,
    )
    assert result.settings.me_id  # learned from /user

    settings_file = isolated_config / "settings.toml"
    token_file = isolated_config / "token"
    assert mode(isolated_config) == 0o700
    assert mode(token_file) == 0o600
    assert token_file.read_text().strip() == server.token
    saved = tomllib.loads(settings_file.read_text())
    assert saved["flows"] == values[:2]
    assert saved["private"] is False
    assert saved["api_url"] == server.api_url
    assert server.token not in settings_file.read_text()
    assert load_settings() == result.settings
    assert load_token() == Token(server.token)


async def test_wrong_token_shows_error_and_saves_nothing(
    server: ServerThread, isolated_config: Path
) -> None:
    app = HostApp(SetupScreen)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = await fill_form(pilot, server, "not-the-right-token")
        await pilot.press("enter")  # submitting the token field checks it too
        await wait_until(pilot, lambda: "rejected" in status(screen), message=status(screen))
        assert "HTTP 401" in status(screen)
        assert "not-the-right-token" not in status(screen)
        assert screen.query_one("#setup-status", Static).has_class("-error")
        assert screen.query_one("#save", Button).disabled
        assert screen.query_one("#flows", SelectionList).disabled
        await pilot.click("#save")
        assert app.result is UNSET
    assert not isolated_config.exists() or list(isolated_config.iterdir()) == []


async def test_unreachable_api_is_reported(isolated_config: Path) -> None:
    app = HostApp(SetupScreen)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        screen.query_one("#api-url", Input).value = "http://127.0.0.1:9/api"
        screen.query_one("#token", Input).value = "sometoken"
        await pilot.click("#check")
        await wait_until(pilot, lambda: "Could not reach" in status(screen), message=status(screen))
        assert screen.query_one("#save", Button).disabled
    assert not isolated_config.exists()


async def test_changing_the_token_after_a_check_requires_a_new_check(
    server: ServerThread, isolated_config: Path
) -> None:
    app = HostApp(SetupScreen)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = await fill_form(pilot, server, server.token)
        await pilot.click("#check")
        await wait_until(pilot, lambda: "Signed in" in status(screen), message=status(screen))
        assert not screen.query_one("#save", Button).disabled
        await pilot.click("#token")
        await pilot.press("x")
        assert screen.query_one("#save", Button).disabled
        assert "check the token again" in status(screen)
        screen.save()
        assert app.result is UNSET
    assert not (isolated_config / "token").exists()


async def test_nothing_chosen_is_refused(server: ServerThread, isolated_config: Path) -> None:
    app = HostApp(SetupScreen)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = await fill_form(pilot, server, server.token)
        await pilot.click("#check")
        await wait_until(pilot, lambda: "Signed in" in status(screen), message=status(screen))
        await pilot.click("#private")
        await pilot.click("#save")
        assert "at least one flow" in status(screen)
        assert app.result is UNSET
    assert not (isolated_config / "token").exists()


async def test_bad_inputs_are_explained_before_any_request(isolated_config: Path) -> None:
    app = HostApp(SetupScreen)
    async with app.run_test(size=(100, 60)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await pilot.click("#check")
        assert "Enter your API token" in status(screen)
        screen.query_one("#token", Input).value = "tok"
        screen.query_one("#api-url", Input).value = "ftp://example.invalid/"
        await pilot.click("#check")
        assert "API URL" in status(screen) and "https://" in status(screen)
        screen.query_one("#api-url", Input).value = "https://user:pw@api.example.invalid"
        await pilot.click("#check")
        assert "must not contain a user name" in status(screen)
        assert not screen.workers  # nothing was sent anywhere


async def test_demo_button_dismisses_with_demo_sentinel(isolated_config: Path) -> None:
    app = HostApp(SetupScreen)
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.click("#demo")
        await wait_until(pilot, lambda: app.result is not UNSET)
    assert app.result is DEMO
    assert not isolated_config.exists()


async def test_notice_is_shown_literally(isolated_config: Path) -> None:
    notice = "/cfg/settings.toml is not valid TOML [bold]x[/bold]\x1b]2;pwned\x07"
    app = HostApp(lambda: SetupScreen(notice=notice))
    async with app.run_test(size=(100, 60)):
        shown = str(app.screen.query_one("#setup-notice", Static).visual)
    assert "[bold]x[/bold]" in shown
    assert "\x1b" not in shown and "\x07" not in shown


async def test_saved_settings_prefill_the_form(server: ServerThread, isolated_config: Path) -> None:
    previous = Settings(
        stream_url=server.stream_url,
        api_url=server.api_url,
        flows=[],
        private=False,
        token_kind="personal",
        bell=True,
    )
    app = HostApp(lambda: SetupScreen(settings=previous))
    async with app.run_test(size=(100, 60)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        assert screen.query_one("#api-url", Input).value == server.api_url
        assert screen.query_one("#private", Checkbox).value is False
        screen.query_one("#token", Input).value = server.token
        await pilot.click("#check")
        await wait_until(pilot, lambda: "Signed in" in status(screen), message=status(screen))
        flows: SelectionList[str] = screen.query_one("#flows", SelectionList)
        flows.select(flows.get_option_at_index(0).value)
        await pilot.click("#save")
        await wait_until(pilot, lambda: app.result is not UNSET)
    assert isinstance(app.result, SetupResult)
    # Fields the form does not show survive.
    assert app.result.settings.bell is True


def test_flow_label_uses_names_and_is_literal() -> None:
    flow = Flow(
        id="0123abcd",
        name="[red]Ops[/red]\u202e\x1b[2J",
        parameterized_name="ops",
        organization="acme",
        organization_name="Acme\nInc",
    )
    label = str(flow_label(flow))
    assert label.startswith("Acme Inc / [red]Ops[/red]")
    assert "\x1b" not in label and "\u202e" not in label and "\n" not in label
    assert "0123abcd" not in label


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.flowdock.com", True),
        ("http://127.0.0.1:8080/api", True),
        ("api.flowdock.com", False),
        ("", False),
        ("https://a.example/?access_token=x", False),
    ],
)
def test_check_base_url(url: str, ok: bool) -> None:
    assert (check_base_url(url, "API URL") is None) is ok


def test_setup_screen_snapshot(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Input, "cursor_blink", False)
    notice = "Could not read /home/me/.config/flowview/settings.toml: not valid TOML"
    assert snap_compare(HostApp(lambda: SetupScreen(notice=notice)), terminal_size=(100, 44))
