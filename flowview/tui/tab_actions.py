"""The shown tab: what happens when a conversation is shown (the one left gets its "new"
marker armed and its caches and history worker let go; the one shown opens at its first
unread line, takes the input, loads its history), when it counts as read, and a thread
requested from a log.  A mixin of `FlowviewApp` (like send_actions.py).

Handlers are found by name (`on_tabbed_content_tab_activated`): an `@on` decorator is only
collected on Textual classes, never on a mixin such as this.
"""

from __future__ import annotations

import contextlib
import logging

from textual.widgets import TabbedContent

from flowview.model.store import ConversationStore
from flowview.protocol.events import ConversationKey
from flowview.tui.app_part import AppPart
from flowview.tui.widgets.flow_log import FlowLog

log = logging.getLogger(__name__)

__all__ = ["TabActions"]


class TabActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def on_tabbed_content_tab_activated(self, message: TabbedContent.TabActivated) -> None:
        app = self._app
        app._on_tab_shown(app.main.key_of(message.pane.id))

    def _on_tab_shown(self, key: ConversationKey | None) -> None:
        app = self._app
        previous, app._shown_key = app._shown_key, key
        session, history = app.session, app.history
        if session is None or history is None:
            return
        if previous is not None and previous != key:
            old = session.router.stores.get(previous)
            if old is not None:
                old.arm_marker()  # the next unread message there gets the "new" line
            pane = app.main.pane_id(previous)
            if pane is not None:
                app.workers.cancel_group(app, f"history-{pane}")
                history.busy.discard(previous)
            old_log = app.main.log_for(previous)
            if old_log is not None:
                old_log.release_caches()  # memory: only the shown log keeps rendered rows
            session.budget.shown(previous)  # on screen until now: trimmed last
        if key is None:
            return
        session.budget.shown(key)
        if app.notifier.latest_key == key:
            app.notifier.clear()  # the user went where the alert pointed
        store = session.router.stores.get(key)
        if store is not None and not store.unread:
            # Nothing unread: no "new" line now, and none for lines arriving while shown.
            store.clear_marker()
        app.input_tab_shown(key)  # the input line takes focus (Tab or Escape: the log)
        log_widget = app.main.log_for(key)
        if store is not None and log_widget is not None and previous != key:
            app.read_state.open_at_first_unread(store, log_widget)
        app._refresh_shown(key)
        app.refresh_members()
        if key not in history.loaded:
            app.load_history(key)

    def _refresh_shown(self, key: ConversationKey) -> None:
        """Repaint the shown conversation; it counts as read when scrolled to the bottom."""
        app = self._app
        main = app.main
        log_widget = main.log_for(key)
        session = app.session
        if log_widget is None or session is None:
            return
        log_widget.refresh_from_store()
        store = session.router.stores.get(key)
        if (
            store is not None
            and log_widget.at_bottom
            and app._is_reading(key)
            and not store.detached  # the window's bottom is not the live end
        ):
            app.read_state.saw_end(store)

    def _read_changed(self, store: ConversationStore) -> None:
        app = self._app
        with contextlib.suppress(LookupError):
            app.main.update_label(store)

    def _is_reading(self, key: ConversationKey) -> bool:
        # `_shown_key`, not only the tabs' active key: between `show()` and the handling of
        # its TabActivated, a flush must not count a tab as read before it opened at its
        # first unread line (seen under load: the tab then opened at the bottom, read).
        app = self._app
        try:
            main = app.main
        except LookupError:  # shutting down
            return False
        return app._shown_key == key and main.active_key == key and app.screen is main

    def on_flow_log_thread_requested(self, message: FlowLog.ThreadRequested) -> None:
        app = self._app
        if app.session is not None:
            app.open_thread(message.key, message.thread_id)
