"""The viewer's "all flows" mode: flows the user joins while it runs are followed.

The settings' flows list is the user's choice; an empty list (the demo, or setup saved with
no flow ticked) means every joined flow, expanded from `/flows` at startup
(`Session.follow_all`).  Only then does a `FlowFollower` (protocol/follow.py) keep the stream
on every joined flow: a flow joined later is streamed and back-filled from its start, and
joins the session's flows list (in memory: the saved settings keep meaning "all").  With an
explicit choice a joined flow only gets the router's "you were added to X" notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from flowview.tui.session import Session

if TYPE_CHECKING:
    from flowview.protocol.client import StreamClient
    from flowview.protocol.events import Event
    from flowview.protocol.follow import FlowFollower
    from flowview.protocol.rest import Flow

log = logging.getLogger(__name__)

__all__ = ["JoinedFlows"]


class JoinedFlows:
    """Feeds stream items to a FlowFollower while the session follows all flows."""

    def __init__(
        self,
        session: Session,
        get_client: Callable[[], StreamClient | None],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.session = session
        self._get_client = get_client
        self._on_change = on_change
        self.follower: FlowFollower | None = None

    def observe(self, item: object) -> None:
        """A stream item (state change or event)."""
        if not self.session.follow_all:
            return
        if self.follower is None:
            from flowview.protocol.follow import FlowFollower  # the network modules are late

            self.follower = FlowFollower(
                self._get_client, self.session.rest, on_change=self._changed
            )
        self.follower.observe(item)

    def events(self, events: Sequence[Event]) -> None:
        """Routed events (the pump's `on_events`): flow-add/flow-remove among them."""
        for event in events:
            if event.event in ("flow-add", "flow-remove"):
                self.observe(event)

    def _changed(self, added: list[Flow], removed: list[str]) -> None:
        session = self.session
        for flow in added:
            session.remember_flow(flow)
        flows = [s for s in session.settings.flows if s not in removed]
        flows += [f.slug for f in added if f.slug not in flows]
        session.settings = replace(session.settings, flows=flows)
        self._on_change()

    async def aclose(self) -> None:
        follower, self.follower = self.follower, None
        if follower is not None:
            await follower.aclose()
