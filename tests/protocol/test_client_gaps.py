"""Issue 8's silent-loss paths, over real HTTP against the project's server.

Virtual time (looptime): the server runs in this loop, so back-off waits, REST deadlines and
retries take no real time and are asserted exactly.

Messages are published in-process between cutting the streams and yielding to the loop, so
they fall exactly into the outage; the client then has to find them by itself.
"""

from __future__ import annotations

import asyncio

import pytest

from flowview.protocol.client import ContentType, StreamClient
from flowview.protocol.events import Event
from flowview.protocol.items import GapClosed, GapOpened, RawEvent
from flowview.protocol.rest import RestClient
from tests.protocol.harness import Collector, Env, EnvFactory, LoopTime, known_ids, private_key

pytestmark = [pytest.mark.timeout(60), pytest.mark.looptime]

BOTH: list[ContentType] = ["json", "sse"]


async def settled(col: Collector) -> None:
    """Until the client's baselines/back-fills are done (no REST work pending)."""
    async with asyncio.timeout(10):
        while col.client.history_busy:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("content_type", BOTH)
async def test_outage_longer_than_the_replay_buffer_is_back_filled(
    make_env: EnvFactory, loop_time: LoopTime, content_type: ContentType
) -> None:
    """Loss paths 1 and 3: more messages than the replay buffer holds, in a flow seen before,
    a subscribed flow never seen on the stream, and a brand-new private conversation."""
    async with make_env(replay=5) as env:
        seen, unseen = env.slugs[0], env.slugs[1]
        me = env.me()
        stranger = env.strangers()[0]
        col = Collector(
            StreamClient(
                env.config(content_type, flows=(seen, unseen), private=True),
                clock=loop_time.clock,
                sleep=loop_time.sleep,
                rng=lambda: 0.5,
            )
        ).start()
        await asyncio.wait_for(col.live.wait(), 10)
        seen_id, unseen_id = await env.flow_id(seen), await env.flow_id(unseen)
        before = env.say(seen, "before")
        await col.wait_ids(("flow", seen_id), [before])
        await settled(col)
        # Outage: the stream is cut, then refused twice (503, Retry-After 5 s).
        await env.fault(kind="status", status=503, retry_after=5, count=2)
        env.cut_streams()
        lost = [env.say(seen, f"during outage {i}") for i in range(20)]
        lost_unseen = [env.say(unseen, f"unseen flow {i}") for i in range(3)]
        first_dm = [env.whisper(stranger, f"hello {i}") for i in range(2)]
        await col.wait_ids(("flow", seen_id), lost)
        await col.wait_ids(("flow", unseen_id), lost_unseen)
        await col.wait_ids(private_key(me, stranger), first_dm)
        after = env.say(seen, "after")
        await col.wait_ids(("flow", seen_id), [after])
        await col.close()
        col.check_once_in_order()
        assert sorted(col.ids(("flow", seen_id))) == [before, *lost, after]
        assert col.ids(private_key(me, stranger)) == first_dm
        assert [s.status for s in col.reconnects()] == [None, 503, 503]
        assert not col.opened()  # REST worked: nothing had to be announced as missing


@pytest.mark.parametrize("content_type", BOTH)
async def test_failed_back_fill_is_retried_until_it_succeeds(
    make_env: EnvFactory, loop_time: LoopTime, content_type: ContentType
) -> None:
    """Loss path 2: REST answers 500 three times; the gap is announced, retried with back-off,
    and closed after the recovered events."""
    async with make_env(replay=2) as env:
        slug = env.slugs[0]
        col = Collector(
            StreamClient(
                env.config(content_type, flows=(slug,), private=False),
                clock=loop_time.clock,
                sleep=loop_time.sleep,
                rng=lambda: 0.5,
            )
        ).start()
        await asyncio.wait_for(col.live.wait(), 10)
        fid = await env.flow_id(slug)
        before = env.say(slug, "before")
        await col.wait_ids(("flow", fid), [before])
        await settled(col)
        await env.fault(kind="status", status=500, count=3, scope="rest", message="injected fault")
        env.cut_streams()
        lost = [env.say(slug, f"lost {i}") for i in range(6)]
        await col.wait_item(GapClosed)
        await col.close()
        col.check_once_in_order()
        key = ("flow", fid)
        assert col.opened() == [
            GapOpened(key, before, "history back-fill failed: HTTP 500: injected fault")
        ]
        replayed = 2 if content_type == "sse" else 0  # the SSE replay buffer holds 2
        assert col.closed() == [GapClosed(key, before, len(lost) - replayed)]
        assert sorted(col.ids(key)) == [before, *lost]
        # The recovered events come between the two notices.
        opened_at = col.items.index(col.opened()[0])
        closed_at = col.items.index(col.closed()[0])
        between = [i.id for i in col.items[opened_at:closed_at] if isinstance(i, Event | RawEvent)]
        assert sorted(known_ids(between)) == lost[: len(lost) - replayed]
        # Retried with the 5xx back-off (equal jitter from 5 s): 3.75, 7.5, 15 s.
        assert loop_time.sleeps[-3:] == [3.75, 7.5, 15.0]


async def test_gap_survives_further_reconnects(make_env: EnvFactory, loop_time: LoopTime) -> None:
    """A gap still open when the stream breaks again is kept (from its first cursor)."""
    async with make_env(replay=2) as env:
        slug = env.slugs[0]
        col = Collector(
            StreamClient(
                env.config("json", flows=(slug,), private=False),
                clock=loop_time.clock,
                sleep=loop_time.sleep,
                rng=lambda: 0.5,
            )
        ).start()
        await asyncio.wait_for(col.live.wait(), 10)
        fid = await env.flow_id(slug)
        before = env.say(slug, "before")
        await col.wait_ids(("flow", fid), [before])
        await settled(col)
        await env.fault(kind="status", status=503, count=4, scope="rest")
        env.cut_streams()
        first = [env.say(slug, f"first outage {i}") for i in range(3)]
        await col.wait_item(GapOpened)
        # Break again while the gap is open, with more messages lost.
        async with asyncio.timeout(10):
            while len(col.reconnects()) < 1 or not col.client.live:
                await asyncio.sleep(0.01)
        env.cut_streams()
        second = [env.say(slug, f"second outage {i}") for i in range(3)]
        await col.wait_item(GapClosed)
        await col.close()
        col.check_once_in_order()
        key = ("flow", fid)
        assert [(g.key, g.after_id) for g in col.opened()] == [(key, before)]
        assert [(g.key, g.after_id, g.recovered) for g in col.closed()] == [(key, before, 6)]
        assert sorted(col.ids(key)) == [before, *first, *second]


@pytest.mark.parametrize("content_type", BOTH)
async def test_rest_success_resets_the_reconnect_back_off(
    env: Env, content_type: ContentType
) -> None:
    """After a burst of 5xx the back-off grows; a successful REST call to the same host
    resets it and cuts the current wait short."""
    loop_time = LoopTime()
    rest = RestClient(env.server.api_url, env.token)
    col = Collector(
        StreamClient(
            env.config(content_type),
            rest=rest,
            clock=loop_time.clock,
            sleep=loop_time.sleep,
            rng=lambda: 0.5,
        )
    ).start()
    try:
        await env.fault(kind="status", status=500, count=4)
        await col.until(lambda: len(col.reconnects()) >= 3)
        waiting_since = loop_time.clock()  # the third wait (15 s) has just begun
        await rest.user()  # the viewer's loaders share this client
        await col.until(lambda: len(col.reconnects()) >= 4)
        cut_short = loop_time.clock() - waiting_since
        await asyncio.wait_for(col.live.wait(), 60)
    finally:
        await col.close()
        await rest.aclose()
    delays = [s.delay for s in col.reconnects()]
    # Grown 3.75, 7.5, 15; then reset: the next one starts from the bottom again.
    assert delays == [3.75, 7.5, 15.0, 3.75]
    # The 15 s wait ended with the REST answer, at once (virtual time: I/O takes none).
    assert cut_short == pytest.approx(0.0, abs=0.01)
    assert loop_time.sleeps[:3] == [3.75, 7.5, 15.0]


async def test_the_stream_never_waits_for_a_slow_rest_api(
    env: Env, loop_time: LoopTime, trickle_url: str
) -> None:
    """JSON reconnect while the history API trickles: live events flow at once, and the gap
    is announced when the REST call's overall deadline (1 s here) expires."""
    slug = env.slugs[0]
    col = Collector(
        StreamClient(
            env.config("json", flows=(slug,), private=False, api_url=trickle_url),
            clock=loop_time.clock,
            sleep=loop_time.sleep,
            rng=lambda: 0.5,
            backfill_timeout=1.0,
        )
    ).start()
    await asyncio.wait_for(col.live.wait(), 10)
    fid = await env.flow_id(slug)
    before = env.say(slug, "before")
    await col.wait_ids(("flow", fid), [before])
    env.cut_streams()
    env.say(slug, "lost while cut")
    async with asyncio.timeout(10):
        while len(col.reconnects()) < 1 or not col.client.live:
            await asyncio.sleep(0.01)
    live = env.say(slug, "live after the reconnect")
    await col.wait_ids(("flow", fid), [live], timeout=0.5)  # not behind the stuck REST call
    await col.wait_item(GapOpened, timeout=10)
    await col.close()
    assert col.opened()[0].key == ("flow", fid)
    assert "no complete answer within 1 s" in col.opened()[0].reason


async def test_sse_skips_the_back_fill_when_the_server_says_the_replay_was_complete(
    env: Env, loop_time: LoopTime
) -> None:
    """`Flowview-Replay: complete` (our server's header) means the replay covered the break:
    no REST call is made (the REST faults queued here stay unused)."""
    slug = env.slugs[0]
    col = Collector(
        StreamClient(
            env.config("sse", flows=(slug,), private=True),
            clock=loop_time.clock,
            sleep=loop_time.sleep,
            rng=lambda: 0.5,
        )
    ).start()
    await asyncio.wait_for(col.live.wait(), 10)
    fid = await env.flow_id(slug)
    before = env.say(slug, "before")
    await col.wait_ids(("flow", fid), [before])
    await settled(col)
    await env.fault(kind="status", status=500, count=5, scope="rest")
    env.cut_streams()
    missed = [env.say(slug, f"replayed {i}") for i in range(3)]
    await col.wait_ids(("flow", fid), missed)
    after = env.say(slug, "after")
    await col.wait_ids(("flow", fid), [after])
    await asyncio.sleep(0.2)
    info = await env.connections()
    await col.close()
    assert col.ids(("flow", fid)) == [before, *missed, after]
    assert not col.opened()
    pending = [f for f in info["pending"] if f.get("scope") == "rest"]
    assert pending and pending[0]["count"] == 5  # untouched: no back-fill was attempted


@pytest.mark.parametrize("kind", ["trickle", "stall", "reset"])
async def test_rest_trickle_stall_and_reset_end_in_a_gap_then_recovery(
    make_env: EnvFactory, loop_time: LoopTime, kind: str
) -> None:
    """The project server's REST faults: a trickling or silent answer hits the call's overall
    deadline (1 s here), a reset fails at once; either way the gap is announced, retried and
    filled, and the stream kept going meanwhile."""
    async with make_env(replay=2) as env:
        slug = env.slugs[0]
        col = Collector(
            StreamClient(
                env.config("json", flows=(slug,), private=False),
                clock=loop_time.clock,
                sleep=loop_time.sleep,
                rng=lambda: 0.5,
                backfill_timeout=1.0,
            )
        ).start()
        await asyncio.wait_for(col.live.wait(), 10)
        fid = await env.flow_id(slug)
        before = env.say(slug, "before")
        await col.wait_ids(("flow", fid), [before])
        await settled(col)
        await env.fault(kind=kind, scope="rest", count=1, delay=0.5)
        env.cut_streams()
        lost = [env.say(slug, f"lost {i}") for i in range(3)]
        await col.wait_item(GapClosed)
        await col.close()
        col.check_once_in_order()
        key = ("flow", fid)
        assert [(g.key, g.after_id) for g in col.opened()] == [(key, before)]
        assert col.closed() == [GapClosed(key, before, 3)]
        assert sorted(col.ids(key)) == [before, *lost]
