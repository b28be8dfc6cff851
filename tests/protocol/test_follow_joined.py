"""Flows joined while running are followed (issue 8 loss path 3, `protocol/follow.py`):
everything posted in them, before and after the stream subscribes them, arrives once.

Virtual time (looptime), real HTTP against the project's server.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from flowview.protocol.client import ContentType, StreamClient
from flowview.protocol.follow import RETRY_SECONDS, FlowFollower
from flowview.protocol.rest import Flow
from tests.protocol.harness import Collector, Env, EnvFactory, LoopTime

log = logging.getLogger(__name__)

pytestmark = [pytest.mark.timeout(60), pytest.mark.looptime]


async def following(
    env: Env, loop_time: LoopTime, content_type: ContentType, flows: tuple[str, ...]
) -> tuple[Collector, FlowFollower, list[tuple[list[Flow], list[str]]]]:
    """A live StreamClient (private messages on: flow-add comes on the user's channel) with
    a FlowFollower fed every item; the follower's reported changes."""
    client = StreamClient(
        env.config(content_type, flows=flows, private=True, presence="offline"),
        clock=loop_time.clock,
        sleep=loop_time.sleep,
        rng=lambda: 0.5,
    )
    changes: list[tuple[list[Flow], list[str]]] = []
    follower = FlowFollower(
        lambda: client,
        env.rest,
        sleep=loop_time.sleep,
        on_change=lambda added, removed: changes.append((added, removed)),
    )
    col = Collector(client, on_item=follower.observe).start()
    await asyncio.wait_for(col.live.wait(), 10)
    return col, follower, changes


async def idle(col: Collector, follower: FlowFollower) -> None:
    async with asyncio.timeout(60):
        while col.client.history_busy or follower.phase.value != "idle":
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("content_type", ["json", "sse"])
async def test_a_flow_joined_while_live_is_followed_from_its_start(
    env: Env, loop_time: LoopTime, content_type: ContentType
) -> None:
    """The flow is created with messages in it before the client could subscribe it (they
    are published in the same step as the flow-add); later messages come live."""
    col, follower, changes = await following(env, loop_time, content_type, tuple(env.slugs))
    await idle(col, follower)
    slug = env.join_new_flow("Joined Live")
    before = [env.say(slug, f"before {n}") for n in range(3)]
    fid = await env.flow_id(slug)
    await col.wait_ids(("flow", fid), before)
    await idle(col, follower)
    assert slug in col.client.config.flows
    assert [[f.slug for f in added] for added, _ in changes] == [[slug]]
    after = [env.say(slug, f"after {n}") for n in range(3)]
    await col.wait_ids(("flow", fid), before + after)
    assert col.ids(("flow", fid)) == before + after  # once each, in order
    col.check_once_in_order()
    await follower.aclose()
    await col.close()


@pytest.mark.parametrize("content_type", ["json", "sse"])
async def test_a_flow_joined_during_an_outage_is_followed(
    make_env: EnvFactory, loop_time: LoopTime, content_type: ContentType
) -> None:
    """The flow-add is published while the client is down and, with a replay buffer this
    small, is lost for SSE too (JSON never replays): the reconnect's /flows re-read finds
    the flow, and its whole history arrives."""
    async with make_env(replay=2) as env:
        col, follower, _ = await following(env, loop_time, content_type, tuple(env.slugs))
        await idle(col, follower)
        await env.fault(kind="status", status=503, count=2, retry_after=5)
        env.sever_streams()
        slug = env.join_new_flow("Joined Dark")
        posted = [env.say(slug, f"in the dark {n}") for n in range(4)]
        for n in range(5):  # pushes the flow-add out of the user's replay buffer
            env.whisper(next(u for u in env.strangers()), f"noise {n}")
        fid = await env.flow_id(slug)
        await col.wait_ids(("flow", fid), posted)
        await idle(col, follower)
        assert col.ids(("flow", fid)) == posted
        col.check_once_in_order()
        await follower.aclose()
        await col.close()


async def test_a_flow_left_is_dropped_from_the_stream(env: Env, loop_time: LoopTime) -> None:
    """flow-remove: the stream stops naming the flow (a reconnect naming it would be 403)."""
    col, follower, changes = await following(env, loop_time, "sse", tuple(env.slugs))
    await idle(col, follower)
    state = env.server.state
    gone = state.resolve_flow(env.slugs[0])
    assert gone is not None
    state.remove_member(gone, env.me())
    async with asyncio.timeout(30):
        while env.slugs[0] in col.client.config.flows:
            await asyncio.sleep(0.05)
    assert changes[-1][1] == [env.slugs[0]]
    env.sever_streams()  # the reconnect must succeed without the flow
    await col.wait_item(type(col.states("live")[0]), count=3)
    assert col.client.live
    await follower.aclose()
    await col.close()


async def test_a_failed_flows_read_is_retried_on_the_loop_clock(
    env: Env, loop_time: LoopTime
) -> None:
    """/flows answers 500 twice: the follower waits RETRY_SECONDS (virtual) and tries again
    until it can follow the joined flow."""
    col, follower, changes = await following(env, loop_time, "json", tuple(env.slugs))
    await idle(col, follower)
    await env.fault(kind="status", status=500, count=2, scope="rest")
    started = loop_time.clock()
    slug = env.join_new_flow("Joined Despite 500")
    posted = [env.say(slug, "hello")]
    flow = env.server.state.resolve_flow(slug)  # in-process: the REST faults are the follower's
    assert flow is not None
    fid = flow.id
    await col.wait_ids(("flow", fid), posted)
    await idle(col, follower)
    assert [f.slug for f in changes[-1][0]] == [slug]
    assert follower.syncs >= 2
    assert loop_time.clock() - started >= RETRY_SECONDS
    await follower.aclose()
    await col.close()
