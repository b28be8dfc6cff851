"""Starting without a session: the setup screen (no settings or no token yet: the user types
them, or picks the demo) and the bundled demo server (`--demo`, or the setup's choice),
started in a subprocess and stopped with the app (see launch.DemoSession).  Either way the
session then starts as usual (`start_session` in app.py).  A mixin of `FlowviewApp` (like
send_actions.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from textual import work

from flowview.tui.app_part import AppPart

log = logging.getLogger(__name__)

__all__ = ["SetupActions"]


class SetupActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def show_setup(self, notice: str | None = None) -> None:
        from flowview.tui.screens.setup import DEMO, SetupResult, SetupScreen

        app = self._app

        def done(outcome: object) -> None:
            if outcome is DEMO:
                from flowview.tui.launch import DemoOptions

                app.start_demo(DemoOptions())
            elif isinstance(outcome, SetupResult):
                app.start_session(outcome.settings, outcome.token)

        app.main.status.set_connection("stopped", "not configured")
        app._first_frame.set()  # nothing to hold back: the network waits for the user
        from flowview.config import env_connection

        env = env_connection() if app.initial_settings is None else None
        app.push_screen(SetupScreen(notice, app.initial_settings, env=env), done)

    @work(group="demo", exclusive=True, exit_on_error=False)
    async def start_demo(self, options: Any) -> None:
        """Start the bundled server (a subprocess) and connect to it; see launch.DemoSession."""
        from flowview.tui.launch import DemoSession

        app = self._app
        app.main.status.set_connection("connecting", "starting the demo server")
        demo = await asyncio.to_thread(DemoSession.start, options)
        demo.activate()  # here, on the event loop's thread: the environment is process-wide
        app.demo = demo
        app.start_session(demo.settings, demo.token)

    async def stop_demo(self) -> None:
        """The demo server, if one runs, goes with the app (from on_unmount)."""
        app = self._app
        if app.demo is not None:
            demo, app.demo = app.demo, None
            demo.deactivate()
            await asyncio.to_thread(demo.stop)
