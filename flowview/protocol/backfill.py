"""Gaps in the stream and their REST back-fill, retried until they are filled.

After every reconnect (either content type) each subscribed conversation may have missed
messages: the JSON stream cannot resume at all, and an SSE replay only covers what the
server's buffer still held.  The tracker snapshots, at the moment the new connection goes
live, the newest id delivered per conversation (the *cursor*), then fetches everything after
it from REST history in the background, so the stream never waits for REST.

Conversations never seen on the stream need a cursor too.  For each subscribed flow and each
private conversation listed by ``/private``, the tracker fetches the newest id (``limit=1``)
right after the stream first went live with it subscribed: everything at or below that
*baseline* predates the subscription, everything above it was either streamed or is a gap.
A private conversation missing from that listing did not exist yet, so its cursor is 0.
When no baseline could be fetched before a reconnect, the cursor is 0 too (whole history:
never a loss, at worst older messages the consumer places by id).

A baseline is asked for after the stream went live, so it may count messages published
after the subscription that the stream had not delivered yet; if the connection then dies,
they are in neither.  So a baseline stays *tentative* until the same connection delivers a
message newer than a baseline asked for at the same time or later (the server sends one
connection's events in publish order: everything older was delivered before it).  A
connection that ends first leaves its tentative baselines unusable: cursor 0, as above.

A gap that cannot be filled now is announced with :class:`GapOpened` and retried with the
back-off policy on the injected clock, surviving further reconnects, until the recovered
events and a :class:`GapClosed` can be emitted.  Back-filled events go through the same
"delivered once" memory as streamed ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from flowview.protocol.auth import Token, redact
from flowview.protocol.backoff import Backoff, BackoffPolicy
from flowview.protocol.dedupe import Deduper
from flowview.protocol.events import ConversationKey, Event, as_id
from flowview.protocol.items import Gap, GapClosed, GapOpened, RawEvent, StreamItem
from flowview.protocol.rest import ApiError, RestClient
from flowview.protocol.text import printable
from flowview.protocol.urls import is_slug

log = logging.getLogger(__name__)

__all__ = ["Backfiller"]

_CONCURRENCY = 4  # REST calls in flight at once
_MAX_PAGES_PER_ATTEMPT = 200  # 20k messages per conversation before yielding to the others


@dataclass
class _Gap:
    key: ConversationKey
    after_id: int | None  # as announced (None: nothing delivered before the hole)
    cursor: int  # fetched up to here
    target: str  # flow slug, or the other party's user id
    opened: bool = False
    recovered: int = 0


@dataclass
class _Scan:
    """A reconnect whose conversations still have to be listed (flows resolved, /private)."""

    flows: tuple[str, ...]
    private: bool
    latest: dict[ConversationKey, int]  # newest id delivered per conversation at the reconnect
    # Flows joined while running: their whole history (baseline 0), see from_start().
    from_start: bool = False


@dataclass
class _Baseline:
    flows: tuple[str, ...]
    private: bool
    generation: int  # reconnects seen when the stream went live with these subscriptions


@dataclass
class _Names:
    """Flow names as configured ("org/flow" or id) -> (id, slug)."""

    known: dict[str, tuple[str, str]] = field(default_factory=dict)


class Backfiller:
    """Tracks baselines and pending gaps; one background task does all REST work."""

    def __init__(
        self,
        *,
        get_rest: Callable[[], RestClient | None],
        emit: Callable[[list[StreamItem]], Awaitable[None]],
        dedupe: Deduper,
        token: Token,
        sleep: Callable[[float], Awaitable[Any]],
        rng: Callable[[], float],
        raw_events: bool = False,
        policy: BackoffPolicy | None = None,
    ) -> None:
        self._get_rest = get_rest
        self._emit = emit
        self._dedupe = dedupe
        self._token = token
        self._sleep = sleep
        self._raw = raw_events
        self._backoff = Backoff(policy, rng)
        self._names = _Names()
        self._baselines: dict[ConversationKey, int] = {}
        # Baselines not yet confirmed by the stream: key -> (generation, order asked in).
        self._tentative: dict[ConversationKey, tuple[int, int]] = {}
        self._asked = 0  # baselines asked for so far (their order)
        self._filled_top: dict[ConversationKey, int] = {}  # newest id back-filled per key
        self._private_listed: set[ConversationKey] | None = None  # at the first live
        self._baseline_jobs: list[_Baseline] = []
        self._scans: list[_Scan] = []
        self._from_start: set[str] = set()  # flow names to fetch whole once subscribed
        self._gaps: dict[ConversationKey, _Gap] = {}
        self._generation = 0  # reconnects so far
        self._me: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error = ""
        self._last_status = 0
        self.attempts = 0  # REST rounds tried (diagnostics and tests)

    # ------------------------------------------------------------------ state for consumers

    @property
    def open_gaps(self) -> dict[ConversationKey, int | None]:
        """Gaps announced and not yet filled: key -> after_id."""
        return {k: g.after_id for k, g in self._gaps.items() if g.opened}

    @property
    def busy(self) -> bool:
        return bool(self._gaps or self._scans or self._baseline_jobs)

    # ------------------------------------------------------------------ events from the client

    def went_live(
        self, flows: tuple[str, ...], private: bool, *, reconnect: bool, replay_complete: bool
    ) -> None:
        """A connection went live.  Call before it delivers anything (the cursors are now)."""
        if reconnect and not replay_complete:
            log.info(
                "reconnected: checking %d flow(s)%s for missed messages",
                len(flows),
                " and private conversations" if private else "",
            )
            scan = _Scan(flows, private, dict(self._latest()))
            self._gaps_known_now(scan)
            self._scans.append(scan)
        joined = tuple(f for f in flows if f in self._from_start)
        if joined:
            self._from_start.difference_update(joined)
            self._scans.append(_Scan(joined, False, {}, from_start=True))
        new_flows = tuple(
            f
            for f in flows
            if f not in joined
            and (
                f not in self._names.known
                or ("flow", self._names.known[f][0]) not in self._baselines
            )
        )
        want_private = private and self._private_listed is None
        if new_flows or want_private:
            self._baseline_jobs.append(_Baseline(new_flows, want_private, self._generation))
        self._kick()

    def from_start(self, flows: tuple[str, ...]) -> None:
        """`flows` (names as configured) were joined while running: once the stream goes
        live with them, fetch their whole history instead of taking a baseline, so what was
        posted there before the stream subscribed them is not lost."""
        self._from_start.update(flows)

    def connection_lost(self) -> None:
        """A live connection ended: baselines still being fetched may now be too new, and
        those it did not confirm are unusable."""
        self._settle_baselines(self._generation)
        self._generation += 1

    def _settle_baselines(self, generation: int) -> None:
        """Confirm the tentative baselines of the connection that ended (see the module
        docstring); the others fall back to 0."""
        mine = {k: order for k, (gen, order) in self._tentative.items() if gen == generation}
        latest = self._latest()
        confirmed = 0  # every baseline asked for up to this order is confirmed
        for key, order in mine.items():
            top = latest.get(key)
            streamed = top is not None and top > self._filled_top.get(key, 0)
            if streamed and top is not None and top > self._baselines.get(key, 0):
                confirmed = max(confirmed, order)
        for key, order in mine.items():
            del self._tentative[key]
            if order > confirmed and self._baselines.get(key):
                log.info("baseline of %s not confirmed by the stream: whole history", key)
                self._baselines[key] = 0

    def _gaps_known_now(self, scan: _Scan) -> None:
        """Gaps that need no REST call to name: conversations seen before the break, and
        subscribed flows with a baseline.  They can be announced even while REST is down."""
        ids: dict[str, str] = {}  # flow id -> configured name
        unresolved = False
        for name in scan.flows:
            known = self._names.known.get(name)
            ids[known[0] if known is not None else name] = name
            unresolved = unresolved or known is None
        for key, top in scan.latest.items():
            if key[0] == "flow" and key[1] in ids:
                self._add_gap(key, top, top, ids[key[1]])
            elif key[0] == "flow" and unresolved:
                # Cannot tell yet whether this flow is subscribed: one flow too many is
                # harmless (the consumer sees a flow it just left), one too few is a loss.
                self._add_gap(key, top, top, key[1])
            elif key[0] == "private" and scan.private:
                other = self._other(key)
                if other is not None:
                    self._add_gap(key, top, top, other)
        for fid, name in ids.items():
            key = ("flow", fid)
            if key not in scan.latest and key in self._baselines:
                self._add_gap(key, None, self._baselines[key], name)

    def _latest(self) -> dict[ConversationKey, int]:
        return self._dedupe.latest()  # type: ignore[return-value]

    def _kick(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------------ the worker

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.busy:
                rest = self._get_rest()
                if rest is None:
                    await self._announce("no REST API to fetch history from")
                    break
                self.attempts += 1
                error = await self._round(rest)
                if error is None:
                    self._backoff.reset()
                    continue
                self.last_error = error
                await self._announce(error)
                delay = self._delay()
                log.info("back-fill failed (%s); retrying in %.1f s", error, delay)
                await self._pause(delay)

    def _delay(self) -> float:
        status = self._last_status
        if status == 429 or status >= 500:
            return self._backoff.after_status(status)
        return self._backoff.after_transport_error()

    async def _pause(self, delay: float) -> None:
        """Sleep on the injected clock; new work (a reconnect) does not cut it short."""
        await self._sleep(delay)

    async def _round(self, rest: RestClient) -> str | None:
        """One pass over all pending work; the first error text, or None when all is done."""
        try:
            while self._baseline_jobs:
                await self._take_baseline(rest, self._baseline_jobs[0])
                self._baseline_jobs.pop(0)
            while self._scans:
                await self._resolve(rest, self._scans[0])
                self._scans.pop(0)
        except ApiError as exc:
            return self._failed(exc)
        limit = asyncio.Semaphore(_CONCURRENCY)
        errors: list[str] = []

        async def one(gap: _Gap) -> None:
            async with limit:
                try:
                    await self._fill(rest, gap)
                except ApiError as exc:
                    errors.append(self._failed(exc))

        await asyncio.gather(*(one(g) for g in list(self._gaps.values())))
        return errors[0] if errors else None

    def _failed(self, exc: ApiError) -> str:
        self._last_status = exc.status
        return printable(redact(f"history back-fill failed: {exc}", self._token))

    async def _announce(self, reason: str) -> None:
        fresh = [g for g in self._gaps.values() if not g.opened]
        for gap in fresh:
            gap.opened = True
        if fresh:
            await self._emit([GapOpened(g.key, g.after_id, reason) for g in fresh])

    # ------------------------------------------------------------------ REST steps

    async def _flow(self, rest: RestClient, name: str) -> tuple[str, str]:
        """(id, slug) of a configured flow name."""
        known = self._names.known.get(name)
        if known is not None:
            return known
        for flow in await rest.flows():
            self._names.known.setdefault(flow.slug, (flow.id, flow.slug))
            self._names.known.setdefault(flow.id, (flow.id, flow.slug))
        known = self._names.known.get(name)
        if known is None:
            flow = await (rest.flow(name) if is_slug(name) else rest.find_flow(name))
            known = self._names.known[name] = (flow.id, flow.slug)
        return known

    async def _me_id(self, rest: RestClient) -> str:
        if self._me is None:
            self._me = rest.me_id or (await rest.user()).id
        return self._me

    async def _private_list(self, rest: RestClient) -> dict[ConversationKey, str]:
        """Private conversations: key -> the other party's id."""
        me = await self._me_id(rest)
        out: dict[ConversationKey, str] = {}
        for obj in await rest.private():
            other = as_id(obj.get("id"))
            if other is None:
                continue
            low, high = sorted((me, other))
            out[("private", f"{low}:{high}")] = other
        return out

    def _other(self, key: ConversationKey) -> str | None:
        rest = self._get_rest()
        me = self._me or (rest.me_id if rest is not None else None)
        if me is None:
            return None
        low, _, high = key[1].partition(":")
        return high if low == me else low if high == me else None

    async def _take_baseline(self, rest: RestClient, job: _Baseline) -> None:
        """Newest ids at the time the stream went live.  An answer that arrives after the
        stream broke may include messages the stream never delivered: such a baseline is
        not usable, and 0 (the whole history) is taken instead.  Private conversations
        first: any flow's later message (or activity event) then confirms them too."""
        if job.private and self._private_listed is None:
            listed = await self._private_list(rest)
            late = job.generation != self._generation
            for key, other in listed.items():
                if key not in self._baselines:
                    newest = 0 if late else await rest.newest_id(user_id=other)
                    self._set_baseline(key, newest, job.generation)
            self._private_listed = set(listed)
        for name in job.flows:
            fid, slug = await self._flow(rest, name)
            key = ("flow", fid)
            if key not in self._baselines:
                newest = await rest.newest_id(slug)
                self._set_baseline(key, newest, job.generation)

    def _set_baseline(self, key: ConversationKey, newest: int, generation: int) -> None:
        """`newest`, asked for while connection `generation` was live: tentative (see the
        module docstring), or 0 when that connection has ended meanwhile."""
        self._asked += 1
        if generation != self._generation:
            self._baselines[key] = 0
            return
        self._baselines[key] = newest
        self._tentative[key] = (generation, self._asked)

    async def _resolve(self, rest: RestClient, scan: _Scan) -> None:
        """Turn a reconnect into one pending gap per subscribed conversation."""
        targets: dict[ConversationKey, str] = {}
        for name in scan.flows:
            fid, slug = await self._flow(rest, name)
            targets[("flow", fid)] = slug
            if scan.from_start:
                # Baseline 0: later reconnects too count everything in it as expected.
                self._baselines[("flow", fid)] = 0
                self._tentative.pop(("flow", fid), None)
        if scan.private:
            listed = await self._private_list(rest)
            targets.update(listed)
            for key in scan.latest:
                if key[0] == "private" and key not in targets:
                    other = self._other(key)
                    if other is not None:
                        targets[key] = other
        for key, target in targets.items():
            after = scan.latest.get(key)
            cursor = after if after is not None else self._baselines.get(key, 0)
            self._add_gap(key, after, cursor, target)

    def _add_gap(self, key: ConversationKey, after: int | None, cursor: int, target: str) -> None:
        gap = self._gaps.get(key)
        if gap is None:
            self._gaps[key] = _Gap(key, after, cursor, target)
        elif cursor < gap.cursor:
            gap.cursor = cursor  # never skip past an older hole

    async def _fill(self, rest: RestClient, gap: _Gap) -> None:
        for _ in range(_MAX_PAGES_PER_ATTEMPT):
            if gap.key[0] == "flow":
                _, slug = await self._flow(rest, gap.target)
                page = await rest.flow_page(slug, gap.cursor)
            else:
                page = await rest.private_page(gap.target, gap.cursor)
            fresh = self._accept([ev for ev in page.events if ev.key == gap.key])
            gap.cursor = page.cursor
            if fresh:
                gap.recovered += len(fresh)
                await self._emit([Gap(gap.key, len(fresh)), *fresh])
            if page.last:
                break
        else:
            return  # more to fetch: the next round goes on from the cursor
        del self._gaps[gap.key]
        if gap.opened:
            log.info(
                "gap in %s after %s filled: %d recovered", gap.key, gap.after_id, gap.recovered
            )
            await self._emit([GapClosed(gap.key, gap.after_id, gap.recovered)])

    def _accept(self, events: list[Event]) -> list[StreamItem]:
        first_time = self._dedupe.first_time
        out: list[StreamItem] = []
        for ev in events:
            key, ident = ev.key, ev.id
            if key is not None and ident is not None and not first_time(key, ident):
                continue
            if key is not None and ident is not None:
                self._filled_top[key] = max(ident, self._filled_top.get(key, 0))
            out.append(RawEvent(ev.raw, None, key, ident) if self._raw else ev)
        return out
