"""Following every flow of the user, including flows joined while running.

A stream's ``filter`` is fixed per connection, so a flow the user is added to later is not
on it.  Flowdock told the user's own channel (``user=1``) with ``flow-add``/``flow-remove``;
hubot-flowdock re-read ``/flows`` and reconnected on them.  `FlowFollower` does the same
without losing anything: on ``flow-add``/``flow-remove``, and whenever the stream goes live
(a ``flow-add`` sent during an outage may be lost with the JSON stream, or be older than the
SSE replay), it re-reads ``/flows`` and, if the joined flows differ from what the client
streams, reconfigures it (make-before-break) with the new flows fetched from their start
(`StreamClient.reconfigure(from_start=…)`), so what was posted there before the stream
subscribed them arrives by back-fill.  A flow left is dropped from the filter (a stream
naming it would be refused).

Only for consumers that follow *all* of the user's flows; an explicit choice stays as is.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from flowview.protocol.client import ReconfigureError, StreamClient
from flowview.protocol.items import RawEvent, StateChange
from flowview.protocol.rest import ApiError, Flow, RestClient

log = logging.getLogger(__name__)

__all__ = ["MEMBERSHIP_EVENTS", "FlowFollower"]

MEMBERSHIP_EVENTS = frozenset({"flow-add", "flow-remove"})
RETRY_SECONDS = 5.0  # after a failed /flows or reconfigure (on the injected clock)


class Phase(enum.Enum):
    IDLE = "idle"  # nothing to do
    SYNCING = "syncing"  # reading /flows, maybe reconfiguring
    WAITING = "waiting"  # a sync failed: retrying after RETRY_SECONDS
    CLOSED = "closed"


_ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.SYNCING, Phase.CLOSED}),
    Phase.SYNCING: frozenset({Phase.IDLE, Phase.WAITING, Phase.CLOSED}),
    Phase.WAITING: frozenset({Phase.SYNCING, Phase.CLOSED}),
    Phase.CLOSED: frozenset(),
}

Changed = Callable[[list[Flow], list[str]], None]


def _event_name(item: object) -> str | None:
    if isinstance(item, RawEvent):
        name = item.raw.get("event")
        return name if isinstance(name, str) else None
    name = getattr(item, "event", None)
    return name if isinstance(name, str) else None


class FlowFollower:
    """Keeps a StreamClient's flows equal to the user's joined flows (see the module doc).

    Feed it every stream item (`observe`); `on_change(added, removed_names)` runs after a
    successful reconfigure.  `aclose()` stops it."""

    def __init__(
        self,
        get_client: Callable[[], StreamClient | None],
        rest: RestClient,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_change: Changed | None = None,
    ) -> None:
        self._get_client = get_client
        self._rest = rest
        self._sleep = sleep
        self._on_change = on_change
        self.phase = Phase.IDLE
        self._again = False  # something happened while syncing: sync once more
        self._task: asyncio.Task[None] | None = None
        self.syncs = 0  # /flows reads done (tests, diagnostics)
        self.followed: list[str] = []  # slugs added so far, in order

    def _to(self, phase: Phase) -> None:
        if phase not in _ALLOWED[self.phase]:
            raise RuntimeError(f"follower: {self.phase.value} -> {phase.value} not allowed")
        self.phase = phase

    def observe(self, item: object) -> None:
        """A stream item: membership events and every "live" trigger a sync."""
        if isinstance(item, StateChange):
            if item.state == "live":
                self.poke()
        elif _event_name(item) in MEMBERSHIP_EVENTS:
            self.poke()

    def poke(self) -> None:
        if self.phase is Phase.CLOSED:
            return
        if self.phase is not Phase.IDLE:
            self._again = True
            return
        self._to(Phase.SYNCING)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self._sync()
            except (ApiError, httpx.HTTPError, ReconfigureError) as exc:
                log.warning("following joined flows failed (%s); retrying", type(exc).__name__)
                await self._wait()
                continue
            except Exception:
                log.exception("following joined flows failed")
                await self._wait()
                continue
            if not self._again:
                self._to(Phase.IDLE)
                return

    async def _wait(self) -> None:
        self._to(Phase.WAITING)
        await self._sleep(RETRY_SECONDS)
        self._to(Phase.SYNCING)

    async def _sync(self) -> None:
        client = self._get_client()
        if client is None:
            return
        self.syncs += 1
        joined = [f for f in await self._rest.flows() if f.joined]
        names = client.config.flows
        streamed = set(names)
        added = [f for f in joined if f.slug not in streamed and f.id not in streamed]
        known = {n for f in joined for n in (f.slug, f.id)}
        # Legacy "org:flow" names are slugs too.
        removed = [n for n in names if n not in known and n.replace(":", "/", 1) not in known]
        if not added and not removed:
            return
        flows = tuple(n for n in names if n not in removed) + tuple(f.slug for f in added)
        log.info(
            "flows joined: %s; left: %s",
            ", ".join(f.slug for f in added) or "none",
            ", ".join(removed) or "none",
        )
        await client.reconfigure(flows=flows, from_start=tuple(f.slug for f in added))
        self.followed.extend(f.slug for f in added)
        if self._on_change is not None:
            self._on_change(added, removed)

    async def aclose(self) -> None:
        if self.phase is Phase.CLOSED:
            return
        self._to(Phase.CLOSED)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
