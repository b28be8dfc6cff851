"""Search from the viewer: ctrl+f opens the search screen, a chosen hit is shown in its
conversation with context around it (tui/search_jump.py, loaders.window_at), and escape right
after a jump goes back to the results (only then: `check_action`, an override of App's).  A
mixin of `FlowviewApp` (like send_actions.py).
"""

from __future__ import annotations

import logging
from typing import Any

from flowview.protocol.events import ConversationKey
from flowview.tui.app_part import AppPart
from flowview.tui.deferred import deferred
from flowview.tui.loaders import jump_needs_window
from flowview.tui.triage import reveal_later

log = logging.getLogger(__name__)

__all__ = ["SearchActions"]


class SearchActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def action_search(self) -> None:
        """ctrl+f: search the archive (this conversation first; ctrl+t for all of them)."""
        from flowview.tui.screens.search import SearchScreen  # not needed before ctrl+f

        app = self._app

        session = app.session
        archive = session.archive.archive if session is not None else None
        if session is None or archive is None or isinstance(app.screen, SearchScreen):
            if archive is None:
                problem = session.archive.problem if session is not None else None
                app.main.status.notice = problem or "no archive to search yet"
            return
        app.push_screen(SearchScreen(archive, app.main.active_key, me=session.router.me_id))

    def on_search_screen_jump_to(self, message: Any) -> None:
        """A search hit chosen: its conversation's tab, the message selected with context
        around it (read from the archive when not in memory; tui/search_jump.py)."""
        from flowview.tui.screens.search import SearchScreen

        app = self._app

        screen = app.screen
        if isinstance(screen, SearchScreen):
            app._search_return = screen.return_point()
            screen.dismiss(None)
        app._jump_to(message.key, message.message_id)

    def _jump_to(self, key: ConversationKey, message_id: int) -> None:
        app = self._app
        app.run_worker(
            deferred(app._jump, key, message_id),
            group="jump",
            exclusive=True,
            exit_on_error=False,
            description="search jump",
        )

    async def _jump(self, key: ConversationKey, message_id: int) -> None:
        from flowview.tui.search_jump import BRIDGE_MAX, CONTEXT, load_context

        app = self._app

        session, main = app.session, app.main
        if session is None:
            return
        router = session.router
        store, _ = router.open(key)
        if not main.has(key):
            await main.add_conversation(store, router)
        archive = session.archive.archive
        history = app.history
        if (
            archive is not None
            and history is not None
            and jump_needs_window(store, message_id, 2 * CONTEXT + BRIDGE_MAX)
        ):
            found = await history.window_at(key, message_id)  # the window moves there
        elif archive is not None:
            found = await load_context(archive, router, key, message_id)
        else:
            found = store.get(message_id)
        main.show(key)
        log_widget = main.log_for(key)
        if found is None or log_widget is None:
            main.status.notice = "that message is no longer in the archive"
            return
        reveal_later(log_widget, found.seq, select=True, centre=True)

    # Overrides App.check_action (this mixin comes before App in FlowviewApp's bases).
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape is bound twice on the main screen: back to the search results right after a
        # search jump, else from the input line to the messages (the next binding in line).
        if action == "back_to_search":
            return self._app._search_return is not None
        # super() spelt out: the type checker sees only AppPart here (see crash_actions.py).
        return super(SearchActions, self._app).check_action(action, parameters)

    def action_back_to_search(self) -> None:
        """Escape after a search jump: the results again, same query and position."""
        from flowview.tui.screens.search import SearchScreen

        app = self._app

        back, app._search_return = app._search_return, None
        session = app.session
        archive = session.archive.archive if session is not None else None
        if back is None or archive is None or session is None or app.screen is not app.main:
            return
        app.push_screen(
            SearchScreen(
                archive,
                back.conversation,
                me=session.router.me_id,
                query=back.query,
                this_only=back.this_only,
                position=back.position,
            )
        )
