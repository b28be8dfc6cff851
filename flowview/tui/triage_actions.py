"""The triage keys' actions (alt+u first unread, alt+m next mention, alt+r / alt+shift+r
mark read), bound in screens/main.py as `app.*` actions; the logic is in tui/triage.py.  A
mixin of `FlowviewApp` (like send_actions.py).
"""

from __future__ import annotations

import logging

from flowview.tui.app_part import AppPart
from flowview.tui.triage import next_mention, reveal, reveal_later

log = logging.getLogger(__name__)

__all__ = ["TriageActions"]


class TriageActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def action_first_unread(self) -> None:
        """alt+u: the shown conversation's first unread line (the "new" marker)."""
        app = self._app
        key = app.main.active_key
        store = app.stores().get(key) if key is not None else None
        log_widget = app.main.log_for(key) if key is not None else None
        seq = store.first_unread_seq if store is not None else None
        if key is not None and store is not None and seq is None and store.hidden_marker:
            app._jump_to(key, store.hidden_marker)  # below a detached window: go there
            return
        if log_widget is None or seq is None or not reveal(log_widget, seq):
            app.main.status.notice = "nothing unread here"

    def action_next_mention(self) -> None:
        """alt+m: the next unread mention of you, in this conversation or the next ones."""
        app = self._app
        main = app.main
        stores = [s for k in main.keys_in_order() if (s := app.stores().get(k)) is not None]
        active = main.active_key
        shown = main.log_for(active) if active is not None else None
        selected = shown.selected if shown is not None else None
        found = next_mention(stores, active, selected.seq if selected is not None else None)
        if found is None:
            # One below a detached window (not in memory): the window moves to it.
            hidden = [(s.key, s.hidden_mentions) for s in stores if s.mentions]
            for key, ids in hidden:
                if ids:
                    app._jump_to(key, ids[0])
                    return
            main.status.notice = "no unread mention"
            return
        key, seq = found
        main.show(key)
        log_widget = main.log_for(key)
        if log_widget is not None:
            reveal_later(log_widget, seq, select=True)

    def action_mark_read(self) -> None:
        """alt+r: the shown conversation is read (saved)."""
        app = self._app
        key = app.main.active_key
        store = app.stores().get(key) if key is not None else None
        if store is not None:
            app.read_state.mark_read(store)

    def action_mark_all_read(self) -> None:
        """alt+shift+r: every conversation is read (saved)."""
        app = self._app
        for store in list(app.stores().values()):
            app.read_state.mark_read(store)
