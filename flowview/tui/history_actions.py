"""History paging from the logs: a tab's latest page when first shown, older pages when its
log reaches the top, and below a detached window (tui/loaders.py) the next archived page when
it reaches the bottom (End: the live end at once).  Each tab's loads run in its own worker
group, "history-<pane>", cancelled when the tab is left (tab_actions.py).  A mixin of
`FlowviewApp` (like send_actions.py); handlers are found by name (see tab_actions.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from flowview.protocol.events import ConversationKey
from flowview.tui.app_part import AppPart
from flowview.tui.deferred import deferred
from flowview.tui.widgets.flow_log import FlowLog

log = logging.getLogger(__name__)

__all__ = ["HistoryActions"]


class HistoryActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    @property
    def _history_loaded(self) -> set[ConversationKey]:
        history = self._app.history
        return history.loaded if history is not None else set()

    def load_history(self, key: ConversationKey, older: bool = False) -> None:
        app = self._app
        history = app.history
        try:
            pane = app.main.pane_id(key)
        except LookupError:  # a log reached its top while the app shuts down
            return
        if history is None or pane is None or key in history.busy:
            return
        self._history_worker(
            key,
            pane,
            lambda: history.load(key, older),
            exclusive=True,
            description=f"history {'older' if older else 'latest'}",
        )

    def on_flow_log_reached_top(self, message: FlowLog.ReachedTop) -> None:
        app = self._app
        key = app._key_of_log(message)
        if key is None:
            return
        store = app.stores().get(key)
        if store is not None and not store.history_complete:
            app.load_history(key, older=True)

    def on_flow_log_scrolled_to_end(self, message: FlowLog.ScrolledToEnd) -> None:
        app = self._app
        key = app._key_of_log(message)
        store = app.stores().get(key) if key is not None else None
        if key is not None and store is not None and store.detached:
            app._read_below(key, message.flow_log, jump=message.jump)
            return
        if key is not None and store is not None and app._is_reading(key):
            app.read_state.saw_end(store)

    def _read_below(self, key: ConversationKey, log_widget: FlowLog, *, jump: bool) -> None:
        """The bottom of a detached window: the next archived page below it (End: the live
        end at once); see HistoryLoader.load_newer / jump_to_end."""
        app = self._app
        history, pane = app.history, app.main.pane_id(key)
        if history is None or pane is None or key in history.busy:
            return
        if not jump:
            log_widget._following = False  # stay on the line read: the page comes below it

        async def below() -> None:
            if jump and await history.jump_to_end(key):
                log_widget.scroll_to_end()  # follow the live end again
            elif not jump:
                await history.load_newer(key)  # the lines come in below the one read

        self._history_worker(key, pane, below, exclusive=False, description="history newer")

    def _history_worker(
        self,
        key: ConversationKey,
        pane: str,
        load: Callable[[], Awaitable[Any]],
        *,
        exclusive: bool,
        description: str,
    ) -> None:
        """Run `load` in the tab's history group with `key` marked busy until it ends (one
        load per conversation at a time: a page that reached the top twice loads once)."""
        history = self._app.history
        assert history is not None
        history.busy.add(key)

        async def run() -> None:
            try:
                await load()
            finally:
                history.busy.discard(key)

        self._app.run_worker(
            deferred(run),
            group=f"history-{pane}",
            exclusive=exclusive,
            exit_on_error=False,
            description=description,
        )

    def _key_of_log(self, message: Any) -> ConversationKey | None:
        log_widget = getattr(message, "flow_log", None) or getattr(message, "control", None)
        if isinstance(log_widget, FlowLog):
            return log_widget.store.key
        return self._app.main.active_key
