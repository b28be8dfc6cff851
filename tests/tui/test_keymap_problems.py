"""[keymap] mistakes are reported by name and skipped, unknown binding ids are reported, and
the help screen and the README list every binding id (issue 10, item 9)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowview.config import save_token
from flowview.protocol.auth import Token
from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.binding_ids import all_binding_ids
from flowview.tui.launch import load_startup
from flowview.tui.screens.help import GOTO_IDS, HelpScreen
from tests.helpers import wait_until
from tests.tui.app_driver import FLOW_SLUGS, wait_live

pytestmark = pytest.mark.timeout(60)

README = Path(__file__).resolve().parents[2] / "README.md"


def _write_settings(config: Path, srv: ServerThread) -> None:
    config.mkdir(parents=True, exist_ok=True)
    flows = ", ".join(f'"{slug}"' for slug in FLOW_SLUGS)
    (config / "settings.toml").write_text(
        f'stream_url = "{srv.stream_url}"\n'
        f'api_url = "{srv.api_url}"\n'
        f"flows = [{flows}]\n"
        "[keymap]\n"
        'next-flow = "ctrl+j"\n'
        'app.quit = "q"\n'  # TOML: a nested table {"app": {"quit": "q"}}
        'next-flw = "ctrl+l"\n',  # a misspelt binding id
        encoding="utf-8",
    )
    save_token(Token(srv.token))


def test_bad_and_unknown_keymap_entries_are_named_and_the_rest_loads(
    isolated_config: Path, server: ServerThread
) -> None:
    _write_settings(isolated_config, server)
    start = load_startup()
    assert start.settings is not None and start.token is not None and start.notice is None
    assert start.settings.flows == FLOW_SLUGS
    assert dict(start.settings.keymap) == {"next-flow": "ctrl+j", "next-flw": "ctrl+l"}
    assert len(start.problems) == 2, start.problems
    assert "'app'" in start.problems[0] and "app.quit" in start.problems[0]
    assert "'next-flw'" in start.problems[1] and "not a binding id" in start.problems[1]


async def test_app_shows_the_problems_at_start_and_f1_lists_them(
    isolated_config: Path, server: ServerThread
) -> None:
    _write_settings(isolated_config, server)
    start = load_startup()
    assert start.settings is not None and start.token is not None
    app = FlowviewApp(start.settings, start.token, settings_problems=start.problems)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_live(pilot, app)
        assert "settings.toml: 2 problems" in app.main.status.notice
        assert "f1" in app.main.status.notice
        await pilot.press(
            "escape", "ctrl+j"
        )  # the good entry, on the messages (typing: a new line)
        assert app.main.active_key == app.main.keys_in_order()[1]
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = str(app.screen.query_one("#help-problems").render())
        assert "'app'" in shown and "'next-flw'" in shown


async def test_help_lists_every_binding_id(server: ServerThread) -> None:
    from tests.tui.app_driver import make_app

    app = make_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_live(pilot, app)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help-keys").render())
        ids = all_binding_ids()
        assert {"next-flow", "flow_log.open_link", "search.scope", "help.close"} <= ids
        for binding_id in ids:
            if re.fullmatch(r"goto-flow-\d+", binding_id):
                assert GOTO_IDS in " ".join(text.split()), text
            else:
                assert f"[{binding_id}]" in text, (binding_id, text)
        keys = app.screen.query_one("#help-keys")
        for line in text.splitlines():
            # Wrapped by us (under the description), never again by the widget.
            assert len(line) <= keys.content_region.width, line


def test_readme_lists_every_binding_id() -> None:
    readme = README.read_text(encoding="utf-8")
    ids = all_binding_ids()
    goto = {i for i in ids if re.fullmatch(r"goto-flow-\d+", i)}
    assert goto == {f"goto-flow-{n}" for n in range(1, 11)}
    assert "`goto-flow-1` … `goto-flow-10`" in readme
    missing = [i for i in sorted(ids - goto) if f"`{i}`" not in readme]
    assert not missing, missing
