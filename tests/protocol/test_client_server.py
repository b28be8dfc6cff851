"""StreamClient against the real simulated Flowdock server (uvicorn on loopback).

Virtual time (looptime): the server runs in the test's own event loop, so the client, the
server's keep-alives and fault timers and every timeout share the loop's clock, which jumps
ahead whenever nothing is ready.  Loopback I/O between the two ends completes within looptime's
no-op cycles (both ends are in this loop; a write is readable at once), so delays are asserted
exactly: "the reconnect came 10.0 s after the 503" in loop time, without waiting 10 s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flowview.protocol.client import (
    ContentType,
    Gap,
    StateChange,
    StreamClient,
)
from flowview.protocol.events import Event
from tests.protocol.harness import Collector, Env, LoopTime

pytestmark = [pytest.mark.timeout(60), pytest.mark.looptime]


@pytest.mark.parametrize("content_type", ["json", "sse"])
async def test_end_to_end_flows_and_private(env: Env, content_type: ContentType) -> None:
    col = Collector(StreamClient(env.config(content_type))).start()
    await asyncio.wait_for(col.live.wait(), 10)
    posted = {
        slug: [await env.post(slug, f"hello {slug} {i}") for i in range(5)]
        for slug in env.slugs[:2]
    }
    for slug, ids in posted.items():
        await col.wait_for(ids, await env.flow_id(slug))
    # A private message from another user arrives on the same connection.
    me = await env.rest.user()
    other = next(u for u in await env.rest.users() if u.id != me.id)
    env.server.state.post_private_message(other.id, me.id, "message", "psst")
    async with asyncio.timeout(10):
        while not any(isinstance(i, Event) and i.is_private for i in col.items):
            await asyncio.sleep(0.01)
    await col.close()
    col.check_once_in_order()
    info = await env.connections()
    assert info["open_connections"] == 0
    assert len(info["connections"]) == 1  # one connection carries flows and private messages


FAULTS = [
    {"kind": "drop_after_messages", "n": 3},
    {"kind": "drop_after_bytes", "n": 700},
    {"kind": "cut_mid_message", "after": 2},
    {"kind": "drop_after_messages", "n": 3, "close": "clean"},
]


@pytest.mark.parametrize("content_type", ["json", "sse"])
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f"{f['kind']}-{f.get('close', 'abort')}")
async def test_stream_faults_lose_and_duplicate_nothing(
    env: Env, content_type: ContentType, fault: dict[str, Any]
) -> None:
    slug = env.slugs[0]
    fid = await env.flow_id(slug)
    first = await env.post(slug, "before")  # a last-seen id to resume/back-fill from
    await env.fault(**fault)
    t = LoopTime()
    col = Collector(
        StreamClient(
            env.config(content_type, flows=(slug,), private=False),
            clock=t.clock,
            sleep=t.sleep,
            rng=lambda: 0.5,
        )
    ).start()
    await asyncio.wait_for(col.live.wait(), 10)
    ids: list[int] = []
    for i in range(12):
        ids.append(await env.post(slug, f"message {i}"))
        await asyncio.sleep(0.005)
    await col.wait_for(ids, fid)
    await col.close()
    col.check_once_in_order()
    # Back-filled events may arrive after newer live ones: consumers place them by id.
    got = [i for i in col.messages(fid) if i > first]
    assert sorted(got) == ids
    assert len(col.reconnects()) >= 1
    if content_type == "json":
        # Whatever the first connection lost came back through REST, announced by a Gap.
        gaps = [i for i in col.items if isinstance(i, Gap)]
        assert all(g.key == ("flow", fid) for g in gaps)


@pytest.mark.parametrize("content_type", ["json", "sse"])
async def test_status_503_with_retry_after(env: Env, content_type: ContentType) -> None:
    await env.fault(kind="status", status=503, retry_after=10, count=2)
    t = LoopTime()
    col = Collector(
        StreamClient(env.config(content_type), clock=t.clock, sleep=t.sleep, rng=lambda: 0.5)
    ).start()
    await asyncio.wait_for(col.live.wait(), 60)
    await col.close()
    rec = col.reconnects()
    # Retry-After 10 floors the jittered 3.75 s / 7.5 s schedule.
    assert [(s.status, s.delay) for s in rec] == [(503, 10.0), (503, 10.0)]
    assert rec[0].reason == "server error (503)"
    # ... and the client really waited that long, on the loop's clock, no more.
    (live,) = col.states("live")
    assert col.at(live) - col.at(rec[0]) == pytest.approx(20.0, abs=1e-3)
    assert col.at(rec[1]) - col.at(rec[0]) == pytest.approx(10.0, abs=1e-3)


@pytest.mark.parametrize("content_type", ["json", "sse"])
async def test_stall_with_small_timeout_reconnects_and_recovers(
    env: Env, content_type: ContentType
) -> None:
    slug = env.slugs[0]
    fid = await env.flow_id(slug)
    first = await env.post(slug, "before")
    await env.fault(kind="stall", after=1)
    t = LoopTime()
    col = Collector(
        StreamClient(
            env.config(content_type, flows=(slug,), private=False, stall_timeout=60.0),
            clock=t.clock,
            sleep=t.sleep,
            rng=lambda: 0.5,
        )
    ).start()
    await asyncio.wait_for(col.live.wait(), 10)
    ids = [await env.post(slug, f"during stall {i}") for i in range(4)]
    await col.wait_for(ids, fid, timeout=120)
    await col.close()
    col.check_once_in_order()
    assert sorted(i for i in col.messages(fid) if i > first) == ids
    (stalled,) = col.reconnects()
    assert stalled.reason == "no data for 60 s"
    # Detected when the last byte (the stall's first message) is exactly 60 s old.
    first_live = col.states("live")[0]
    assert col.at(stalled) - col.at(first_live) == pytest.approx(60.0, abs=0.06)


@pytest.mark.parametrize("content_type", ["json", "sse"])
async def test_reconfigure_presence_make_before_break(env: Env, content_type: ContentType) -> None:
    slug = env.slugs[0]
    fid = await env.flow_id(slug)
    col = Collector(StreamClient(env.config(content_type))).start()
    await asyncio.wait_for(col.live.wait(), 10)
    posted: list[int] = []
    stop = asyncio.Event()

    async def keep_posting() -> None:
        i = 0
        while not stop.is_set():
            posted.append(await env.post(slug, f"during switch {i}"))
            i += 1
            await asyncio.sleep(0.002)

    poster = asyncio.create_task(keep_posting())
    await asyncio.sleep(0.05)
    await col.client.reconfigure(presence="idle")
    await asyncio.sleep(0.05)
    stop.set()
    await poster
    posted.append(await env.post(slug, "after switch"))
    await col.wait_for(posted, fid)
    info = await env.connections()
    await col.close()
    col.check_once_in_order()
    assert col.messages(fid) == posted  # everything exactly once, in order
    assert info["open_connections"] == 1
    assert [c["active"] for c in info["open"]] == ["idle"]
    assert [c["active"] for c in info["connections"]] == ["active", "idle"]
    assert not info["connections"][0]["open"]
    if content_type == "sse":
        assert info["connections"][1]["last_event_id_sent"]
    states = [i for i in col.items if isinstance(i, StateChange)]
    assert [s.state for s in states][-3:] == ["live", "live", "stopped"]


async def test_reconfigure_flows_adds_a_flow(env: Env) -> None:
    a, b = env.slugs[0], env.slugs[1]
    col = Collector(StreamClient(env.config("sse", flows=(a,), private=False))).start()
    await asyncio.wait_for(col.live.wait(), 10)
    await col.client.reconfigure(flows=(a, b))
    ids = [await env.post(b, "new flow")]
    await col.wait_for(ids, await env.flow_id(b))
    info = await env.connections()
    await col.close()
    assert info["open_connections"] == 1
    assert col.client.config.flows == (a, b)


async def test_reconfigure_cancelled_during_the_hand_over_still_switches(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9 §2: cancelling the caller of reconfigure() in the middle of the hand-over
    (old connection already retired) must neither drop the switch nor cause a reconnect:
    exactly 2 stream requests, the second one with the new parameters."""
    col = Collector(StreamClient(env.config("json"))).start()
    await asyncio.wait_for(col.live.wait(), 10)
    client = col.client
    retired = asyncio.Event()
    retire = client._retire

    async def retire_then_pause(old: Any) -> None:
        await retire(old)
        retired.set()
        await asyncio.sleep(0.05)  # still inside the hand-over when the caller is cancelled

    monkeypatch.setattr(client, "_retire", retire_then_pause)
    caller = asyncio.create_task(client.reconfigure(presence="idle"))
    await asyncio.wait_for(retired.wait(), 10)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await col.until(
        lambda: any(i.reason == "switched to new parameters" for i in col.states("live"))
    )
    await asyncio.sleep(60)  # a needless reconnect would have happened by now
    slug = env.slugs[0]
    ids = [await env.post(slug, "after the switch")]
    await col.wait_for(ids, await env.flow_id(slug))
    info = await env.connections()
    await col.close()
    assert [c["active"] for c in info["connections"]] == ["active", "idle"]
    assert client.config.presence == "idle"
    assert not col.reconnects()


@pytest.mark.parametrize("content_type", ["json", "sse"])
async def test_404_for_a_named_flow_fails_naming_it(env: Env, content_type: ContentType) -> None:
    col = Collector(
        StreamClient(env.config(content_type, flows=("acme/nope",), private=False))
    ).start()
    assert col.task is not None
    await asyncio.wait_for(col.task, 10)
    final = col.items[-1]
    assert isinstance(final, StateChange) and final.state == "failed"
    assert final.status == 404
    assert "acme/nope" in final.reason and "flow" in final.reason
    assert col.client.connections == 1  # a 404 is not retried


async def test_404_for_the_base_path_says_the_url_is_wrong(env: Env) -> None:
    wrong = env.server.stream_url + "/oops"
    col = Collector(StreamClient(env.config("sse", stream_url=wrong))).start()
    assert col.task is not None
    await asyncio.wait_for(col.task, 10)
    final = col.items[-1]
    assert isinstance(final, StateChange) and final.state == "failed"
    assert final.reason == f"not found (404): the stream URL {wrong} looks wrong"


async def test_switch_timers_run_on_the_injected_clock(env: Env) -> None:
    """Issue 9 §3: the switch timeout goes through the injected sleep (not asyncio.wait's
    timeout on another clock)."""
    t = LoopTime()
    col = Collector(
        StreamClient(
            env.config("sse"), clock=t.clock, sleep=t.sleep, switch_timeout=30.0, switch_grace=0.5
        )
    ).start()
    await asyncio.wait_for(col.live.wait(), 10)
    await col.client.reconfigure(presence="idle")
    await col.close()
    assert 30.0 in t.sleeps  # the switch's own timeout
