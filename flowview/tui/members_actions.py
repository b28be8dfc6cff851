"""The members pane (f4): who is in the shown conversation, refreshed when the pane opens,
when another tab is shown and after each flush (cheap when nothing changed); a flow's member
list is read over REST once (tui/loaders.py, MembersLoader).  A mixin of `FlowviewApp` (like
send_actions.py); handlers are found by name (see tab_actions.py).
"""

from __future__ import annotations

import logging

from flowview.protocol.events import ConversationKey
from flowview.tui.app_part import AppPart
from flowview.tui.deferred import deferred
from flowview.tui.loaders import MembersLoader

log = logging.getLogger(__name__)

__all__ = ["MembersActions"]


class MembersActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def on_main_screen_members_toggled(self) -> None:
        self._app.refresh_members(force=True)

    def refresh_members(self, force: bool = False) -> None:
        """Show who is in the shown conversation, when the pane is open (f4). Cheap when
        nothing changed: activity.user/presence events bump the router's presence_version."""
        app = self._app
        session, loader = app.session, app.members_loader
        if session is None or loader is None:
            return
        try:
            main = app.main
        except LookupError:
            return
        pane = main.members
        key = main.active_key
        if not pane.display or key is None:
            return
        router = session.router
        shown = (key, router.presence_version, router.users_version)
        if not force and shown == app._members_shown:
            return
        app._members_shown = shown
        store = router.stores.get(key)
        pane.show(store.title if store is not None else "Members", router.members_for(key))
        if loader.wants(key):
            app.run_worker(
                deferred(app._load_members, loader, key),
                group="members",
                exit_on_error=False,
                description="flow members",
            )

    async def _load_members(self, loader: MembersLoader, key: ConversationKey) -> None:
        if await loader.load(key):
            self._app.refresh_members(force=True)
