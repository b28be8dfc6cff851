"""Settings from the viewer: f3 (and the palette) opens the settings screen; a saved change
is applied to the running session (tabs diffed against the tabs shown, the stream against what
the client actually streams), a new token starts the session over.  A theme picked with the
palette or the keys is saved in the settings too.  A mixin of `FlowviewApp` (like
send_actions.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from textual import work
from textual.theme import Theme

from flowview.config import Settings, save_settings
from flowview.protocol.auth import Token
from flowview.protocol.events import ConversationKey
from flowview.tui.app_part import AppPart

log = logging.getLogger(__name__)

__all__ = ["SettingsActions"]


class SettingsActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def action_settings(self) -> None:
        from flowview.tui.screens.settings import SettingsScreen  # not needed before f3

        app = self._app
        session = app.session
        if session is None or isinstance(app.screen, SettingsScreen):
            return

        screen = SettingsScreen(
            session.settings, session.token, rest=session.rest, flows=session.flows
        )

        def done(new: Settings | None) -> None:
            if new is None:
                return
            if screen.new_token is not None:
                app.restart_session(new, screen.new_token)
            else:
                app.apply_settings(new)

        app.push_screen(screen, done)

    @work(group="settings", exclusive=True, exit_on_error=False)
    async def restart_session(self, settings: Settings, token: Token) -> None:
        """A new token: everything made with the old one goes, and the session starts over."""
        app = self._app
        await app._stop_session()
        main = app.main
        for key in main.keys_in_order():
            await main.remove_conversation(key)
        main.status.notice = ""
        app.start_session(settings, token)

    # Exclusive: a second Save cancels the first mid-way.  So nothing here diffs against the
    # previous settings (the first Save may have replaced them and then been cancelled before
    # reconfiguring): tabs are diffed against the tabs shown, the stream against what the
    # client is actually streaming.
    @work(group="settings", exclusive=True, exit_on_error=False)
    async def apply_settings(self, new: Settings) -> None:
        app = self._app
        session = app.session
        if session is None:
            return
        if list(new.flows) != list(session.settings.flows):
            session.follow_all = False  # flows chosen in settings: an explicit choice now
        session.settings = new
        app.set_keymap(dict(new.keymap))
        app._configure_notifier(new)
        router = session.router
        main = app.main
        wanted: set[ConversationKey] = set()
        for slug in new.flows:
            flow = await session.flow(slug)
            if flow is not None:
                wanted.add(("flow", flow.id))
        main.set_flow_order(app._chosen_flow_keys(session))
        for key in app._chosen_flow_keys(session):
            await main.add_conversation(router.open_flow(key[1]), router)
        for key in main.keys_in_order():
            if key[0] == "flow" and key not in wanted and key[1] in session.flows_by_id:
                await main.remove_conversation(key)
        client = app.client
        if client is None or client.config.content_type != new.content_type:
            app.run_stream(app.stream_config(new, session.token))
        elif client.config.flows != tuple(new.flows) or client.config.private != new.private:
            await client.reconfigure(flows=tuple(new.flows), private=new.private)

    def _theme_changed(self, theme: Theme) -> None:
        """Remember the theme the user picked (palette or keys) in the saved settings."""
        app = self._app
        session = app.session
        if session is None or session.settings.theme == theme.name:
            return
        session.settings = replace(session.settings, theme=theme.name)
        app.save_theme(session.settings)

    @work(group="save-theme", exclusive=True, exit_on_error=False)
    async def save_theme(self, settings: Settings) -> None:
        # Off the loop: saving fsyncs.  Exclusive: only the latest choice matters.
        await asyncio.to_thread(save_settings, settings)
