"""The command palette (ctrl+k) and the help (f1): the palette's entries (go to a
conversation, settings, presence, members, search, help, quit; tui/commands.py lists them),
Textual's system commands without its own Quit, and the help screen.  A mixin of
`FlowviewApp` (like send_actions.py) that overrides App.get_system_commands: it comes before
App in FlowviewApp's bases.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flowview.model.sanitize import clean_name
from flowview.tui.app_part import AppPart
from flowview.tui.commands import PaletteEntry

log = logging.getLogger(__name__)

__all__ = ["PaletteActions"]


class PaletteActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def action_help(self) -> None:
        from flowview.tui.screens.help import HelpScreen  # not needed before F1

        app = self._app
        if not isinstance(app.screen, HelpScreen):
            keymap = dict(app.session.settings.keymap) if app.session else {}
            app.push_screen(HelpScreen(keymap, app.settings_problems))

    def palette_entries(self) -> list[PaletteEntry]:
        app = self._app
        entries: list[PaletteEntry] = []
        main = app.main
        stores = app.stores()
        for key in main.keys_in_order():
            store = stores.get(key)
            if store is None:
                continue
            kind = "private conversation" if key[0] == "private" else "flow"
            entries.append(
                PaletteEntry(
                    f"Go to {clean_name(store.title)}",
                    f"Show this {kind}",
                    lambda key=key: main.show(key),  # type: ignore[misc]
                )
            )
        entries += [
            PaletteEntry("Settings", "Flows, private messages, stream format", app.action_settings),
            PaletteEntry(
                "Toggle presence", "Switch between active and idle", app.action_toggle_presence
            ),
            PaletteEntry(
                "Members",
                "Show or hide who is active, idle or offline (f4)",
                lambda: app.main.action_toggle_members(),
            ),
            PaletteEntry("Search", "Search the archive of every flow (ctrl+f)", app.action_search),
            PaletteEntry("Help", "List the keys", app.action_help),
            PaletteEntry("Quit", "Leave flowview", lambda: app.call_later(app.action_quit)),
        ]
        return entries

    def get_system_commands(self, screen: Any) -> Iterable[Any]:
        # Keep Textual's theme and screenshot commands, drop its own Quit (ours is above).
        # super() spelt out: the type checker sees only AppPart here (see crash_actions.py).
        for command in super(PaletteActions, self._app).get_system_commands(screen):
            if command.title != "Quit":
                yield command
