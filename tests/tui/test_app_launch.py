"""Start-up paths: saved config, corrupt config, no config, env overrides, and the demo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual import events

from flowview.config import CONFIG_DIR_ENV, Settings, save_settings, save_token
from flowview.protocol.auth import Token
from flowview.tui.app import FlowviewApp
from flowview.tui.launch import (
    DemoOptions,
    DemoSession,
    Startup,
    add_demo_arguments,
    load_startup,
)
from flowview.tui.screens.main import MainScreen
from flowview.tui.screens.setup import DEMO, SetupScreen
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(60)


def test_no_config_means_setup_without_a_notice() -> None:
    assert load_startup() == Startup(None, None)


def test_corrupt_config_gives_a_notice_not_a_traceback(isolated_config: Path) -> None:
    isolated_config.mkdir(parents=True)
    (isolated_config / "settings.toml").write_text("flows = [unclosed\n")
    start = load_startup()
    settings, token, notice = start.settings, start.token, start.notice
    assert settings is None and token is None
    assert notice is not None and "could not be used" in notice and "not valid TOML" in notice


def test_settings_without_token_asks_again() -> None:
    save_settings(Settings(flows=["acme/main"]))
    start = load_startup()
    settings, token, notice = start.settings, start.token, start.notice
    assert settings is not None and token is None
    assert notice == "No saved token: enter it again."


def test_saved_setup_with_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    save_settings(
        Settings(flows=["acme/main"], stream_url="https://s.example", api_url="https://a.example")
    )
    save_token(Token("saved-token-value"))
    monkeypatch.setenv("FLOWDOCK_API_URL", "http://127.0.0.1:9/api")
    start = load_startup()
    settings, token, notice = start.settings, start.token, start.notice
    assert notice is None and token is not None and token.value == "saved-token-value"
    assert settings is not None
    assert (settings.stream_url, settings.api_url) == (
        "https://s.example",
        "http://127.0.0.1:9/api",
    )
    monkeypatch.setenv("FLOWDOCK_TOKEN", "from-env")
    token = load_startup().token
    assert token is not None and token.value == "from-env"


def test_demo_arguments() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_demo_arguments(parser)
    args = parser.parse_args(["--hostile", "--rate", "7", "--seed", "3"])
    assert (args.hostile, args.rate, args.seed) == (True, 7.0, 3)


async def test_corrupt_config_opens_setup_with_the_message(isolated_config: Path) -> None:
    isolated_config.mkdir(parents=True)
    # Not TOML at all (one bad entry is only skipped since the model's config change).
    (isolated_config / "settings.toml").write_text("private = \n")
    start = load_startup()
    settings, token, notice = start.settings, start.token, start.notice
    app = FlowviewApp(settings, token, setup_notice=notice)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen))
        assert isinstance(app.screen, SetupScreen)
        assert app.screen.notice is not None and "is not valid TOML" in app.screen.notice
        assert app.main.status.state == "stopped"


def test_demo_session_uses_a_throwaway_profile_and_stops_the_server() -> None:
    real = os.environ[CONFIG_DIR_ENV]
    demo = DemoSession.start(DemoOptions(rate=0))
    demo.activate()
    try:
        assert os.environ[CONFIG_DIR_ENV] == demo.profile_dir != real
        assert demo.settings.stream_url.startswith("http://127.0.0.1:")
        assert demo.settings.flows == []  # every joined flow
        assert demo.process.process.poll() is None
    finally:
        demo.deactivate()
        demo.stop()
    assert demo.process.process.poll() is not None
    assert os.environ[CONFIG_DIR_ENV] == real
    assert not Path(demo.profile_dir).exists()


async def test_try_the_demo_from_setup_connects_and_quitting_stops_it() -> None:
    app = FlowviewApp(None, None)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen))
        app.screen.dismiss(DEMO)
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, MainScreen)
                and app.main.status.state == "live"
                and len(app.main.keys_in_order()) == 4
            ),
            timeout=20,
        )
        process = app.demo.process.process
        assert process.poll() is None
    assert process.poll() is not None  # quitting stopped the server
    assert app.demo is None


async def test_input_queued_behind_the_last_screen_is_dropped() -> None:
    # A key arriving while the app quits (seen at the end of a bench run) found no screen and
    # raised ScreenStackError from Textual's handler.
    app = FlowviewApp(None, None)
    async with app.run_test(size=(80, 24)):
        pass
    assert not app.screen_stack
    await app.on_event(events.Key("a", "a"))
    await app.on_event(events.MouseScrollDown(None, 0, 0, 0, 0, 0, False, False, False))
