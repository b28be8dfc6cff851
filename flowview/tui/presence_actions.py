"""Presence: the user's wish (active, idle, auto-idle after `auto_idle_minutes` without
input) and the stream switches that follow it.  A mixin of `FlowviewApp` (like
send_actions.py): app.py routes input events to `note_input` and ticks `_idle_tick`; f2 and the
palette call `action_toggle_presence`.
"""

from __future__ import annotations

import logging
from typing import Literal

from textual import work

from flowview.tui.app_part import AppPart

log = logging.getLogger(__name__)

__all__ = ["PresenceActions", "PresenceMode"]

# The user's wish; the stream itself is only ever active or idle.
PresenceMode = Literal["active", "idle", "auto-idle"]


class PresenceActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def note_input(self) -> None:
        app = self._app
        app.last_input = app.clock()
        if app.presence_mode == "auto-idle":
            app._set_presence("active")

    def _idle_tick(self) -> None:
        app = self._app
        app.check_auto_idle()
        app.gc_policy.tick()

    def check_auto_idle(self) -> None:
        """Go auto-idle after settings.auto_idle_minutes without a key, click or wheel."""
        app = self._app
        session = app.session
        if session is None or app.presence_mode != "active":
            return
        minutes = session.settings.auto_idle_minutes
        if minutes > 0 and app.clock() - app.last_input >= minutes * 60:
            app._set_presence("auto-idle")

    def action_toggle_presence(self) -> None:
        app = self._app
        app._set_presence("active" if app.presence_mode != "active" else "idle")

    def _set_presence(self, mode: PresenceMode) -> None:
        app = self._app
        app.presence_mode = mode
        app.main.status.presence = mode
        if app.client is not None:
            app.apply_presence()

    # Not exclusive: cancelling a make-before-break switch half-way (a key pressed while the
    # switch to idle hands over) could drop the events it holds and leave the stream on the
    # old presence. Switches run one at a time instead, each heading for the latest wish.
    @work(group="presence", exit_on_error=False)
    async def apply_presence(self) -> None:
        from flowview.protocol.client import ReconfigureError

        app = self._app

        async with app._presence_lock:
            while True:
                client = app.client
                wanted: Literal["active", "idle"] = (
                    "active" if app.presence_mode == "active" else "idle"
                )
                if client is None or client.config.presence == wanted:
                    app.main.status.notice = ""  # whatever failed before, this is settled
                    return
                try:
                    await client.reconfigure(presence=wanted)
                except ReconfigureError as exc:
                    # The old connection (old presence) is still streaming: show what the
                    # server has, and say calmly that the switch did not happen.
                    log.warning("presence not changed: %s", exc)
                    app._show_server_presence(client.config.presence)
                    app.main.status.notice = f"presence not changed: {exc}"
                    return
                app.main.status.notice = ""

    def _show_server_presence(self, presence: str) -> None:
        app = self._app
        mode: PresenceMode = "active" if presence == "active" else "idle"
        app.presence_mode = mode
        app.main.status.presence = mode
