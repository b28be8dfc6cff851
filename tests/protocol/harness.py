"""Helpers for stream-client tests against the project's server (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from flowview.protocol.auth import Token
from flowview.protocol.client import ContentType, StreamClient, StreamConfig
from flowview.protocol.events import ConversationKey, Event
from flowview.protocol.items import Gap, GapClosed, GapOpened, RawEvent, StateChange, StreamItem
from flowview.protocol.rest import RestClient
from flowview.server.runner import RunningServer, ServerOptions, run_server
from flowview.server.simulator import add_flow


def known_ids(ids: Iterable[int | None]) -> list[int]:
    """`ids`, each asserted present (an event without an id cannot be sorted among the rest)."""
    out: list[int] = []
    for i in ids:
        assert i is not None
        out.append(i)
    return out


class LoopTime:
    """The event loop's own clock (virtual under looptime); sleep records what was asked,
    and when (`slept_at`: the loop time each sleep started)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.slept_at: list[float] = []

    def clock(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.slept_at.append(self.clock())
        await asyncio.sleep(delay)


@dataclass
class Env:
    """A running project server plus what tests need to drive it."""

    server: RunningServer
    token: Token
    rest: RestClient
    slugs: list[str]
    control: httpx.AsyncClient

    def config(self, content_type: ContentType, **kw: Any) -> StreamConfig:
        base: dict[str, Any] = {
            "flows": tuple(self.slugs),
            "private": True,
            "api_url": self.server.api_url,
        }
        base.update(kw)
        url = base.pop("stream_url", self.server.stream_url)
        return StreamConfig(url, self.token, content_type=content_type, **base)

    async def fault(self, **spec: Any) -> None:
        """The one place that posts faults (the control endpoint may start wanting a token)."""
        headers: dict[str, str] = {}
        control_token = getattr(self.server, "control_token", None)
        if control_token:
            headers["Authorization"] = f"Bearer {control_token}"
        r = await self.control.post(self.server.base_url + "/_faults", json=spec, headers=headers)
        assert r.status_code == 201, r.text

    async def connections(self) -> dict[str, Any]:
        headers: dict[str, str] = {}
        control_token = getattr(self.server, "control_token", None)
        if control_token:
            headers["Authorization"] = f"Bearer {control_token}"
        r = await self.control.get(self.server.base_url + "/_faults", headers=headers)
        data: dict[str, Any] = r.json()
        return data

    async def post(self, slug: str, text: str) -> int:
        msg = await self.rest.post_message(slug, text)
        return int(msg["id"])

    # In-process helpers: synchronous, so nothing else runs on the loop in between.
    def me(self) -> str:
        me = self.server.state.me
        assert me is not None
        return me.id

    def say(self, slug: str, text: str, user: str | None = None) -> int:
        state = self.server.state
        flow = state.resolve_flow(slug)
        assert flow is not None
        sender = user or next(u for u in flow.member_ids if u != self.me())
        return int(state.post_flow_message(flow, sender, "message", text)["id"])

    def whisper(self, sender: str, text: str) -> int:
        """A private message from `sender` to the streaming user."""
        msg = self.server.state.post_private_message(sender, self.me(), "message", text)
        return int(msg["id"])

    def strangers(self) -> list[str]:
        """Users who never had a private conversation with the streaming user."""
        state = self.server.state
        me = self.me()
        talked = {
            uid for conv in state.privates.values() if me in conv.user_ids for uid in conv.user_ids
        }
        return [uid for uid in state.users if uid != me and uid not in talked]

    def join_new_flow(self, name: str) -> str:
        """Create a flow in the streaming user's first organisation (every member of it
        joins, the streaming user too); its slug."""
        state = self.server.state
        me = self.me()
        org = next(o for o in state.orgs if me in o.member_ids)
        return add_flow(state, org.parameterized_name, name).slug

    def cut_streams(self) -> None:
        """End every open stream connection server-side (a clean end of stream)."""
        for sub in self.server.state.all_subscribers():
            sub.close("cut by the test")

    def sever_streams(self) -> None:
        """End every open stream connection as a network cut would: what each one had
        queued and not yet sent is lost, and nothing published from now on reaches it (a
        closed subscriber still sends what is queued, and stays subscribed until its
        response ends, so after `cut_streams` the messages of an "outage" published at once
        would still arrive on the dying connection)."""
        state = self.server.state
        for sub in state.all_subscribers():
            state.unsubscribe(sub)
            sub.queue.clear()
            sub.close("severed by the test")

    async def flow_id(self, slug: str) -> str:
        return next(f.id for f in await self.rest.flows() if f.slug == slug)


EnvFactory = Callable[..., AbstractAsyncContextManager[Env]]


@asynccontextmanager
async def open_env(**options: Any) -> AsyncIterator[Env]:
    """The project's server (quiet, fast keep-alives unless `options` say otherwise) and an
    Env over it; the `env`/`make_env` fixtures and bench/bench_chaos.py use it."""
    base: dict[str, Any] = {"rate": 0, "keepalive": 0.05, "activity_interval": 3600}
    base.update(options)
    async with run_server(ServerOptions(**base)) as srv:
        token = Token(srv.token)
        rest = RestClient(srv.api_url, token)
        try:
            slugs = [f.slug for f in await rest.flows()]
            async with httpx.AsyncClient() as control:
                yield Env(srv, token, rest, slugs, control)
        finally:
            await rest.aclose()


def private_key(a: str, b: str) -> ConversationKey:
    low, high = sorted((a, b))
    return ("private", f"{low}:{high}")


@dataclass
class Collector:
    """Runs a StreamClient and records every item."""

    client: StreamClient
    items: list[StreamItem] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)  # the loop time each item arrived
    live: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    # Set on every item: waits wake on arrival instead of polling (each poll would be one
    # more timer for looptime to step through).
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # Shown every item first (a FlowFollower's observe, for instance).
    on_item: Callable[[StreamItem], None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        async for item in self.client:
            if self.on_item is not None:
                self.on_item(item)
            self.items.append(item)
            self.stamps.append(loop.time())
            self._arrived.set()
            if isinstance(item, StateChange) and item.state == "live":
                self.live.set()

    def start(self) -> Collector:
        self.task = asyncio.create_task(self._run())
        return self

    def events(self) -> list[Event | RawEvent]:
        return [i for i in self.items if isinstance(i, Event | RawEvent)]

    def ids(self, key: ConversationKey, *, messages_only: bool = True) -> list[int]:
        out: list[int] = []
        for item in self.events():
            if item.key != key or item.id is None:
                continue
            event = item.event if isinstance(item, Event) else item.raw.get("event")
            if messages_only and event != "message":
                continue
            out.append(item.id)
        return out

    def messages(self, flow_id: str | None = None) -> list[int]:
        return [
            i.id
            for i in self.items
            if isinstance(i, Event)
            and i.event == "message"
            and i.id is not None
            and (flow_id is None or i.flow == flow_id)
        ]

    async def wait_for(self, ids: list[int], flow_id: str, timeout: float = 120.0) -> None:
        await self.wait_ids(("flow", flow_id), ids, timeout)

    async def until(self, done: Callable[[], bool], timeout: float = 120.0) -> None:
        """Until `done()` holds, checked after each item; at most `timeout` s (loop time)."""
        async with asyncio.timeout(timeout):
            while not done():
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_ids(self, key: ConversationKey, ids: list[int], timeout: float = 120.0) -> None:
        await self.until(lambda: set(ids) <= set(self.ids(key)), timeout)

    async def wait_item(self, kind: type, timeout: float = 120.0, count: int = 1) -> None:
        await self.until(lambda: sum(isinstance(i, kind) for i in self.items) >= count, timeout)

    async def close(self) -> None:
        await self.client.aclose()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)

    def check_once_in_order(self) -> None:
        """Each (conversation, id) once; ids ascend per conversation, except the events a
        Gap announces (back-filled: they may be older than live ones, and ascend among
        themselves)."""
        seen: set[tuple[Any, int]] = set()
        last: dict[Any, int] = {}
        last_backfill: dict[Any, int] = {}
        backfill_left = 0
        for item in self.items:
            if isinstance(item, Gap):
                backfill_left = item.backfilled
                continue
            if not isinstance(item, Event | RawEvent) or item.key is None or item.id is None:
                continue
            key, ident = item.key, item.id
            assert (key, ident) not in seen, f"duplicate {key} {ident}"
            seen.add((key, ident))
            event = item.event if isinstance(item, Event) else item.raw.get("event")
            if backfill_left:
                backfill_left -= 1
                assert ident > last_backfill.get(key, -1), f"back-fill order broken {key}"
                last_backfill[key] = ident
                continue
            if event != "message":
                # Transient events (activity.user at subscribe time) take ids too but are
                # not in the REST history, so after a back-fill they may trail newer ids.
                continue
            assert ident > last.get(key, -1), f"order broken at {key} {ident}"
            last[key] = ident

    def at(self, item: StreamItem) -> float:
        """The loop time `item` arrived at."""
        return self.stamps[next(n for n, i in enumerate(self.items) if i is item)]

    def states(self, state: str) -> list[StateChange]:
        return [i for i in self.items if isinstance(i, StateChange) and i.state == state]

    def reconnects(self) -> list[StateChange]:
        return [i for i in self.items if isinstance(i, StateChange) and i.state == "reconnecting"]

    def opened(self) -> list[GapOpened]:
        return [i for i in self.items if isinstance(i, GapOpened)]

    def closed(self) -> list[GapClosed]:
        return [i for i in self.items if isinstance(i, GapClosed)]


def chunked_sse_client(
    chunks: list[bytes], *, raw_events: bool, token: str = "sse-chunks-token"
) -> tuple[StreamClient, httpx.AsyncClient]:
    """A stream client whose event-stream body is exactly `chunks` (an `httpx.MockTransport`:
    over a socket the chunk boundaries depend on timing), and its HTTP client to close."""

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Body())

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    config = StreamConfig(
        stream_url="http://stream.invalid",
        token=Token(token),
        flows=("org/flow",),
        content_type="sse",
    )
    return StreamClient(config, http=http, raw_events=raw_events), http
