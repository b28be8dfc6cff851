"""Issue 9 §4: the protocol modules log, bugs are not silent, and no log line has the token."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest

from flowview.protocol.client import StreamClient
from flowview.protocol.items import GapClosed, StateChange
from tests.protocol.harness import Collector, EnvFactory, LoopTime

pytestmark = [pytest.mark.timeout(60), pytest.mark.looptime]


async def test_no_log_line_ever_contains_the_token(
    make_env: EnvFactory, loop_time: LoopTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    async with make_env(replay=2) as env:
        slug = env.slugs[0]
        secret = env.token.value
        col = Collector(
            StreamClient(
                env.config("json", flows=(slug,)),
                clock=loop_time.clock,
                sleep=loop_time.sleep,
                rng=lambda: 0.5,
            )
        ).start()
        await asyncio.wait_for(col.live.wait(), 10)
        fid = await env.flow_id(slug)
        before = env.say(slug, "before")
        await col.wait_ids(("flow", fid), [before])
        async with asyncio.timeout(10):
            while col.client.history_busy:
                await asyncio.sleep(0.01)
        # Errors that quote the request back: 500s on REST, 503 on the stream, a cut.
        await env.fault(kind="status", status=500, count=2, scope="rest", message=f"echo {secret}")
        await env.fault(kind="status", status=503, count=1, message=f"echo {secret}")
        env.cut_streams()
        env.say(slug, "lost")
        await col.wait_item(GapClosed)
        await col.close()
    texts = [r.getMessage() for r in caplog.records]
    texts += [caplog.text]
    forms = {secret, base64.b64encode(f"{secret}:".encode()).decode()}
    assert len(caplog.records) > 5  # the client does log what happens
    assert any(r.name.startswith("flowview.protocol.") for r in caplog.records)
    for text in texts:
        for form in forms:
            assert form not in text


async def test_a_bug_in_a_connection_is_logged_and_surfaced(
    make_env: EnvFactory,
    loop_time: LoopTime,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`_Connection._run` must not turn a bug into a silent "transport" reconnect."""
    async with make_env() as env:
        client = StreamClient(
            env.config("json"), clock=loop_time.clock, sleep=loop_time.sleep, rng=lambda: 0.5
        )
        calls = 0
        build = client._build_request

        def broken_once(config: object) -> object:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise KeyError("a bug")
            return build(config)  # type: ignore[arg-type]

        monkeypatch.setattr(client._wiring, "build_request", broken_once)
        col = Collector(client).start()
        await asyncio.wait_for(col.live.wait(), 10)
        await col.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and errors[0].exc_info is not None
    assert "KeyError" in caplog.text
    first = next(i for i in col.items if isinstance(i, StateChange) and i.state == "reconnecting")
    assert first.reason.startswith("internal error")
    assert client.internal_errors == 1
