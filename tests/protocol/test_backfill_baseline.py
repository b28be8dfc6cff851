"""A baseline asked for after the stream went live can count a message the stream never
delivered (found by the chaos run, seed 8 of bench/bench_chaos.py, appearing offline).

Virtual time (looptime), real HTTP against the project's server.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from flowview.protocol.client import ContentType, StreamClient
from tests.protocol.harness import Collector, Env, EnvFactory, LoopTime, private_key

log = logging.getLogger(__name__)

pytestmark = [pytest.mark.timeout(60), pytest.mark.looptime]


async def live_client(
    env: Env,
    loop_time: LoopTime,
    content_type: ContentType,
    flows: tuple[str, ...],
    *,
    private: bool,
) -> Collector:
    """A StreamClient appearing offline (no activity event marks any flow as seen), live."""
    col = Collector(
        StreamClient(
            env.config(content_type, flows=flows, private=private, presence="offline"),
            clock=loop_time.clock,
            sleep=loop_time.sleep,
            rng=lambda: 0.5,
        )
    ).start()
    await asyncio.wait_for(col.live.wait(), 10)
    return col


async def settled(col: Collector) -> None:
    """Until the baselines are taken (no REST work pending)."""
    async with asyncio.timeout(30):
        while col.client.history_busy:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("content_type", ["json", "sse"])
async def test_a_baseline_newer_than_what_the_stream_delivered_is_not_trusted(
    make_env: EnvFactory, loop_time: LoopTime, content_type: ContentType
) -> None:
    """The stream goes live and stalls; a message is published in a flow the client has
    never seen (appearing offline: no activity event either); the baseline (newest id) is
    fetched and counts it; then the connection dies without having delivered it.  The
    message must still arrive: the baseline was never confirmed by the stream."""
    async with make_env(replay=0) as env:
        slug = env.slugs[0]
        # Live, then silent: what is published from now on stays queued on the server.
        await env.fault(kind="stall", after=0, seconds=3600)
        col = await live_client(env, loop_time, content_type, (slug,), private=False)
        first = env.say(slug, "published after the subscription")
        flow_id = await env.flow_id(slug)
        await settled(col)  # the baseline is taken: it counts `first`
        env.sever_streams()  # the stalled connection dies; `first` was never sent
        await col.wait_ids(("flow", flow_id), [first], timeout=120)
        col.check_once_in_order()
        await col.close()


async def test_a_baseline_confirmed_by_the_stream_keeps_older_history_out(
    make_env: EnvFactory, loop_time: LoopTime
) -> None:
    """A newer message in a flow whose baseline was asked for later confirms the baselines
    asked before it: after a reconnect, the quiet flow is back-filled from its baseline, not
    from the start of its history."""
    async with make_env() as env:
        quiet, busy = env.slugs[0], env.slugs[1]
        old = env.say(quiet, "before the client started")
        col = await live_client(env, loop_time, "json", (quiet, busy), private=False)
        await settled(col)
        quiet_id, busy_id = await env.flow_id(quiet), await env.flow_id(busy)
        confirming = env.say(busy, "newer than every baseline")
        await col.wait_ids(("flow", busy_id), [confirming])
        env.sever_streams()
        missed = env.say(quiet, "during the outage")
        await col.wait_ids(("flow", quiet_id), [missed], timeout=120)
        assert old not in col.ids(("flow", quiet_id))
        await col.close()


async def test_a_flow_message_confirms_the_private_conversations_baselines(
    make_env: EnvFactory, loop_time: LoopTime
) -> None:
    """Private baselines are asked for before the flows', so traffic in any flow confirms
    them: a quiet private conversation is not back-filled from its start after a reconnect."""
    async with make_env() as env:
        slug = env.slugs[0]
        partner = env.strangers()[0]
        old = env.whisper(partner, "before the client started")
        col = await live_client(env, loop_time, "json", (slug,), private=True)
        await settled(col)
        flow_id = await env.flow_id(slug)
        confirming = env.say(slug, "newer than every baseline")
        await col.wait_ids(("flow", flow_id), [confirming])
        env.sever_streams()
        missed = env.whisper(partner, "during the outage")
        key = private_key(env.me(), partner)
        await col.wait_ids(key, [missed], timeout=120)
        assert old not in col.ids(key)
        await col.close()
