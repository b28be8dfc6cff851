"""Applying the stream's flushes to the screen: what the pump (tui/stream_pump.py) routed
since its last flush becomes tabs, repainted logs and labels, the status bar's figures and
the alerts; then the memory budget trims the conversations not shown.  Also the pump's
callbacks (which conversations are dirty, which get an alert) and `flush_now` for tests and
snapshots.  A mixin of `FlowviewApp` (like send_actions.py).
"""

from __future__ import annotations

import contextlib
import logging

from flowview.protocol.events import ConversationKey
from flowview.tui.app_part import AppPart
from flowview.tui.session import Session
from flowview.tui.stream_pump import FlushBatch

log = logging.getLogger(__name__)

__all__ = ["FlushActions"]


class FlushActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    @staticmethod
    def _wants_tab(session: Session, key: ConversationKey) -> bool:
        """Whether events of `key` may open a tab: private conversations, and flows that are
        chosen or that /flows did not list (a flow just joined).  A flow just unticked in
        settings may still have events in flight: they must not bring its tab back."""
        if key[0] != "flow":
            return True
        flow = session.flows_by_id.get(key[1])
        chosen = session.settings.flows
        return flow is None or not chosen or flow.slug in chosen or flow.id in chosen

    def _slug_of(self, key: ConversationKey) -> str:
        session = self._app.session
        flow = session.flows_by_id.get(key[1]) if session is not None else None
        return flow.slug if flow is not None and key[0] == "flow" else ""

    def _wants_alert(self, key: ConversationKey) -> bool:
        app = self._app
        try:
            shown = app.main.active_key
        except LookupError:
            shown = None
        return key != shown or not app.app_focus

    def _mark_dirty(self, key: ConversationKey) -> None:
        pump = self._app.pump
        if pump is not None:
            pump.mark_dirty(key)

    async def _apply_flush(self, batch: FlushBatch) -> None:
        """Apply what the pump routed since its last flush to the screen."""
        app = self._app
        session = app.session
        if session is None or not app.is_running:
            return
        try:
            main = app.main
        except LookupError:  # shutting down
            return
        router = session.router
        dirty = batch.dirty
        stores = [
            store
            for key in sorted(dirty, key=lambda k: (k[0] != "flow", k))
            if (store := router.stores.get(key)) is not None
            and (main.has(key) or app._wants_tab(session, key))
        ]
        added = await main.apply_changes(stores, router)
        active = main.active_key
        if active is not None and active in added:
            app._on_tab_shown(active)
        if active is not None and active in dirty:
            # Before the labels: when the shown flow is read, its label never flickers
            # through an unread count (each label change of width re-lays out the screen).
            app._refresh_shown(active)
        for store in stores:
            main.update_label(store)
        app.refresh_members()
        status = main.status
        status.rate = batch.rate
        if batch.last_event is not None:
            status.last_event = batch.last_event.strftime("%H:%M:%S")
        status.gaps = batch.gaps_open
        status.problems = batch.problems
        app.notifier.raise_alerts(batch.alerts, shown=active, slug_of=app._slug_of)
        # Bounded memory whatever arrives (model/budget.py): conversations not shown keep
        # their newest lines; the rest is in the archive, one scroll away.
        session.budget.enforce(router.stores, keep=() if active is None else (active,))

    async def flush_now(self) -> None:
        """Apply pending updates immediately (tests, and before a snapshot)."""
        app = self._app
        if app.pump is not None:
            await app.pump.flush_now()
        with contextlib.suppress(LookupError):
            app.main.flush_labels()

    def refresh_rate(self) -> None:
        app = self._app
        pump = app.pump
        if pump is not None:
            with contextlib.suppress(LookupError):
                app.main.status.rate = pump.rate.total(app.clock())
