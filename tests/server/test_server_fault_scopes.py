"""REST and write fault scopes, and the Flowview-Replay header, seen from a real HTTP client."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from flowview.server.runner import RunningServer, ServerOptions, run_server
from tests.server.server_testkit import SSE, WireReader, basic, client, post

pytestmark = pytest.mark.timeout(60)

MAIN = "acme/main"
Q = {"filter": MAIN}


async def add_fault(http: httpx.AsyncClient, **fault: object) -> None:
    r = await http.post("/_faults", json=fault)
    assert r.status_code == 201, r.text


async def test_rest_status_hits_gets_only_and_write_status_hits_writes_only(
    server: RunningServer,
) -> None:
    h = basic(server.token)
    async with client(server) as http:
        await add_fault(http, kind="status", status=503, retry_after=7, scope="rest")
        await add_fault(http, kind="status", status=429, retry_after=3, scope="write", count=2)
        # a write is not a GET: the rest fault waits, the write fault answers
        r = await http.post(f"/api/flows/{MAIN}/messages", json={"content": "a"}, headers=h)
        assert (r.status_code, r.headers["retry-after"]) == (429, "3")
        r = await http.get("/api/user", headers=h)
        assert (r.status_code, r.headers["retry-after"]) == (503, "7")
        assert (await http.get("/api/user", headers=h)).status_code == 200
        r = await http.put(f"/api/flows/{MAIN}", json={"open": True}, headers=h)
        assert r.status_code == 429
        # a rejected write stored nothing
        msgs = (await http.get(f"/api/flows/{MAIN}/messages", headers=h)).json()
        assert [m for m in msgs if m.get("content") == "a"] == []
        # streams are not REST
        await add_fault(http, kind="status", status=500, scope="rest")
        async with http.stream("GET", "/stream/flows", params=Q, headers=h) as resp:
            assert resp.status_code == 200
        assert (await http.get("/api/user", headers=h)).status_code == 500


async def test_rest_reset_closes_without_an_answer(server: RunningServer) -> None:
    h = basic(server.token)
    async with client(server) as http:
        await add_fault(http, kind="reset", scope="rest")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/api/flows", headers=h)
        assert (await http.get("/api/flows", headers=h)).status_code == 200


async def test_rest_stall_answers_nothing_until_seconds_pass(server: RunningServer) -> None:
    h = basic(server.token)
    async with client(server) as http:
        await add_fault(http, kind="stall", scope="rest")
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/api/flows", headers=h, timeout=0.3)
        await add_fault(http, kind="stall", scope="rest", seconds=0.05)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/api/flows", headers=h)
        assert (await http.get("/api/flows", headers=h)).status_code == 200


async def test_rest_trickle_sends_the_real_answer_byte_by_byte(server: RunningServer) -> None:
    h = basic(server.token)
    async with client(server) as http:
        expected = (await http.get("/api/user", headers=h)).content
        await add_fault(http, kind="trickle", scope="rest", delay=0.001)
        chunks: list[bytes] = []
        async with http.stream("GET", "/api/user", headers=h) as resp:
            assert resp.status_code == 200
            async for chunk in resp.aiter_raw():
                chunks.append(chunk)
        assert b"".join(chunks) == expected
        assert len(chunks) > len(expected) // 2  # arrived in tiny pieces, not at once


async def test_write_drop_response_stores_the_change_but_never_answers(
    server: RunningServer,
) -> None:
    h = basic(server.token)
    async with client(server) as http:
        await add_fault(http, kind="drop_response", scope="write")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(
                f"/api/flows/{MAIN}/messages", json={"content": "lost answer"}, headers=h
            )
        msgs = (await http.get(f"/api/flows/{MAIN}/messages", headers=h)).json()
        assert [m["content"] for m in msgs if m["content"] == "lost answer"] == ["lost answer"]


async def test_write_delay_answers_after_the_delay(server: RunningServer) -> None:
    h = basic(server.token)
    loop = asyncio.get_running_loop()
    async with client(server) as http:
        await add_fault(http, kind="delay", scope="write", delay=0.3)
        started = loop.time()
        await post(http, server.token, MAIN, "slow")
        assert loop.time() - started >= 0.3
        started = loop.time()
        await post(http, server.token, MAIN, "fast")
        assert loop.time() - started < 0.3
        r = await http.get("/api/user", headers=h)
        assert r.status_code == 200


async def test_replay_header_says_complete_or_truncated() -> None:
    async with run_server(ServerOptions(rate=0, replay=5)) as server:
        h = basic(server.token)
        async with client(server) as http:
            await post(http, server.token, MAIN, "m0")
            start = server.state.seq
            for i in range(3):
                await post(http, server.token, MAIN, f"m{i + 1}")
            headers = {**h, **SSE, "Last-Event-ID": str(start)}
            async with http.stream("GET", "/stream/flows", params=Q, headers=headers) as resp:
                assert resp.headers["flowview-replay"] == "complete"
                got = await WireReader(resp).sse(3)
                assert [i.data["content"] for i in got] == ["m1", "m2", "m3"]
            for i in range(5):
                await post(http, server.token, MAIN, f"n{i}")
            headers["Last-Event-ID"] = str(start)
            async with http.stream("GET", "/stream/flows", params=Q, headers=headers) as resp:
                assert resp.headers["flowview-replay"] == "truncated"
            headers["Last-Event-ID"] = str(server.state.seq - 2)
            async with http.stream("GET", "/stream/flows", params=Q, headers=headers) as resp:
                assert resp.headers["flowview-replay"] == "complete"
            # an id from the future (an earlier server process) cannot be vouched for
            headers["Last-Event-ID"] = str(server.state.seq + 100)
            async with http.stream("GET", "/stream/flows", params=Q, headers=headers) as resp:
                assert resp.headers["flowview-replay"] == "truncated"
            # no Last-Event-ID, or the JSON stream: no header at all
            async with http.stream("GET", "/stream/flows", params=Q, headers={**h, **SSE}) as resp:
                assert "flowview-replay" not in resp.headers
            headers = {**h, "Last-Event-ID": "1"}
            async with http.stream("GET", "/stream/flows", params=Q, headers=headers) as resp:
                assert "flowview-replay" not in resp.headers
