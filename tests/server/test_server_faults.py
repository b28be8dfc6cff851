"""Fault injection: each kind, seen from a real HTTP client."""

from __future__ import annotations

import logging

import httpx
import pytest

from flowview.server.runner import RunningServer, ServerOptions, run_server
from tests.server.server_testkit import SSE, WireReader, basic, client, eventually, post

pytestmark = pytest.mark.timeout(60)

MAIN = "acme/main"
Q = {"filter": MAIN}
HTTP_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


async def add_fault(http: httpx.AsyncClient, **fault: object) -> dict[str, object]:
    r = await http.post("/_faults", json=fault)
    assert r.status_code == 201, r.text
    created: dict[str, object] = r.json()["faults"][0]
    return created


async def test_status_faults_with_retry_after_for_next_k_connects(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flowview.server")
    async with client(server) as http:
        h = basic(server.token)
        await add_fault(http, kind="status", status=503, retry_after=2, count=2)
        await add_fault(
            http, kind="status", status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"
        )
        await add_fault(http, kind="status", status=401)
        for expected in (503, 503, 429, 401):
            r = await http.get("/stream/flows", params=Q, headers=h)
            assert r.status_code == expected
            assert r.json()["message"]
        assert r.headers.get("retry-after") is None
        async with http.stream("GET", "/stream/flows", params=Q, headers=h) as resp:
            assert resp.status_code == 200
        log = (await http.get("/_faults")).json()
        assert log["pending"] == []
        statuses = [c["status"] for c in log["connections"]]
        assert statuses[:4] == [503, 503, 429, 401]
        assert all(c["fault"] for c in log["connections"][:4])
        # REST is not affected by stream faults; scope="rest" targets it
        await add_fault(http, kind="status", status=500, scope="rest")
        async with http.stream("GET", "/stream/flows", params=Q, headers=h) as resp:
            assert resp.status_code == 200
        assert (await http.get("/api/user", headers=h)).status_code == 500
        assert (await http.get("/api/user", headers=h)).status_code == 200
    assert any("fault #1 status applied" in m for m in caplog.messages)
    assert any("queued" in m for m in caplog.messages)


async def test_retry_after_header_values(server: RunningServer) -> None:
    async with client(server) as http:
        await add_fault(http, kind="status", status=503, retry_after=7)
        await add_fault(
            http, kind="status", status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"
        )
        await add_fault(http, kind="status", status=302, location="/stream/flows?filter=acme/main")
        await add_fault(http, kind="status", status=204)
        h = basic(server.token)
        r = await http.get("/stream/flows", params=Q, headers=h)
        assert r.headers["retry-after"] == "7"
        r = await http.get("/stream/flows", params=Q, headers=h)
        assert r.headers["retry-after"] == HTTP_DATE
        r = await http.get("/stream/flows", params=Q, headers=h)
        assert r.status_code == 302 and r.headers["location"].startswith("/stream/flows")
        r = await http.get("/stream/flows", params=Q, headers=h)
        assert r.status_code == 204 and r.content == b""


async def test_drop_after_bytes_truncates_chunked_body(server: RunningServer) -> None:
    async with client(server) as http:
        h = basic(server.token)
        await post(http, server.token, MAIN, "replayed one")
        await add_fault(http, kind="drop_after_bytes", n=150)
        async with http.stream(
            "GET", "/stream/flows", params=Q, headers={**h, **SSE, "Last-Event-ID": "0"}
        ) as resp:
            reader = WireReader(resp)
            with pytest.raises(httpx.RemoteProtocolError):
                while await reader.more():
                    pass
            assert len(reader.raw) == 150
            assert reader.raw.startswith(b"id: ")


async def test_drop_after_messages_clean_and_abort(server: RunningServer) -> None:
    async with client(server) as http:
        tok = server.token
        for i in range(3):
            await post(http, tok, MAIN, f"m{i}")
        headers = {**basic(tok), **SSE, "Last-Event-ID": "0"}
        await add_fault(http, kind="drop_after_messages", n=2, close="clean")
        async with http.stream("GET", "/stream/flows", params=Q, headers=headers) as resp:
            reader = WireReader(resp)
            items = await reader.sse(2)
            assert [i.data["content"] for i in items] == ["m0", "m1"]
            assert await reader.more() is False  # clean end of stream, no error
        await add_fault(http, kind="drop_after_messages", n=1)
        async with http.stream("GET", "/stream/flows", params=Q, headers=headers) as resp:
            reader = WireReader(resp)
            await reader.sse(1)
            with pytest.raises(httpx.RemoteProtocolError):
                await reader.more()
        await add_fault(http, kind="drop_after_messages", n=0, close="clean")
        async with http.stream("GET", "/stream/flows", params=Q, headers=headers) as resp:
            assert resp.status_code == 200
            assert await WireReader(resp).more() is False


async def test_cut_mid_message(server: RunningServer) -> None:
    async with client(server) as http:
        tok = server.token
        await add_fault(http, kind="cut_mid_message", after=1)
        async with http.stream("GET", "/stream/flows", params=Q, headers=basic(tok)) as resp:
            reader = WireReader(resp)
            await post(http, tok, MAIN, "complete")
            await post(http, tok, MAIN, "cut in half please")
            (rec,) = await reader.records(1)
            assert rec["content"] == "complete"
            with pytest.raises(httpx.RemoteProtocolError):
                while await reader.more():
                    pass
            assert reader.buf.startswith(b'{"event":"message"') and b"\r" not in reader.buf
        log = (await http.get("/_faults")).json()["connections"][-1]
        assert log["events"] == 1 and log["fault"].startswith("cut_mid_message")


async def test_stall_sends_headers_then_silence() -> None:
    async with run_server(ServerOptions(rate=0, keepalive=0.05)) as srv, client(srv) as http:
        await add_fault(http, kind="stall")
        tok = srv.token
        timeout = httpx.Timeout(10.0, read=0.5)
        async with http.stream(
            "GET", "/stream/flows", params=Q, headers=basic(tok), timeout=timeout
        ) as resp:
            assert resp.status_code == 200
            await post(http, tok, MAIN, "never delivered")
            info = (await http.get("/_faults")).json()
            assert info["open_connections"] == 1
            with pytest.raises(httpx.ReadTimeout):
                async for _ in resp.aiter_raw():
                    pytest.fail("a stalled stream sent bytes")
        await eventually(lambda: not srv.state.open_records)
        # a timed stall ends by aborting the connection
        await add_fault(http, kind="stall", seconds=0.1, after=1)
        async with http.stream("GET", "/stream/flows", params=Q, headers=basic(tok)) as resp:
            reader = WireReader(resp)
            await post(http, tok, MAIN, "one")
            await reader.records(1)
            await post(http, tok, MAIN, "swallowed")
            with pytest.raises(httpx.RemoteProtocolError):
                while await reader.more():
                    pass
            assert b"swallowed" not in reader.raw


async def test_drip_sends_tiny_chunks(server: RunningServer) -> None:
    async with client(server) as http:
        tok = server.token
        await add_fault(http, kind="drip", delay=0.0005, chunk=1)
        async with http.stream(
            "GET", "/stream/flows", params=Q, headers={**basic(tok), **SSE}
        ) as resp:
            reader = WireReader(resp)
            msg = await post(http, tok, MAIN, "drip ✓")
            (item,) = await reader.sse(1, timeout=20)
            assert item.data["id"] == msg["id"] and item.data["content"] == "drip ✓"
            # TCP may coalesce a few, but it arrives in many small pieces
            assert len(reader.chunks) > len(reader.raw) // 4
            assert max(len(c) for c in reader.chunks) < 50


async def test_wrong_content_type_huge_record_retry_and_inject(server: RunningServer) -> None:
    async with client(server) as http:
        h = basic(server.token)
        await add_fault(http, kind="wrong_content_type")
        r = await http.get("/stream/flows", params=Q, headers={**h, **SSE})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert b"<html>" in r.content

        await add_fault(http, kind="huge_record", n=300_000)
        async with http.stream("GET", "/stream/flows", params=Q, headers=h) as resp:
            reader = WireReader(resp)
            with pytest.raises(httpx.RemoteProtocolError):
                while await reader.more():
                    pass
            assert len(reader.raw) == 300_000 and b"\r" not in reader.raw

        await add_fault(http, kind="retry", value="0")
        async with http.stream("GET", "/stream/flows", params=Q, headers={**h, **SSE}) as resp:
            reader = WireReader(resp)
            await post(http, server.token, MAIN, "after retry")
            await reader.sse(1)
            assert reader.raw.startswith(b"retry: 0\n\n")

        await add_fault(http, kind="inject", data_hex="efbbbf0a7b2262726f6b656e0d0a")
        async with http.stream("GET", "/stream/flows", params=Q, headers=h) as resp:
            reader = WireReader(resp)
            await post(http, server.token, MAIN, "after junk")
            while b"after junk" not in reader.raw:
                await reader.more()
            assert reader.raw.startswith(b'\xef\xbb\xbf\n{"broken\r\n{"event"')


async def test_fault_api_validation_listing_and_clear(server: RunningServer) -> None:
    async with client(server) as http:
        for bad in (
            {"kind": "explode"},
            {"kind": "status", "status": 200},
            {"kind": "drop_after_bytes"},
            {"kind": "drip", "delay": "slow"},
            {"kind": "drip", "scope": "rest"},
            {"kind": "reset", "scope": "write"},
            {"kind": "drop_response", "scope": "rest"},
            {"kind": "stall", "scope": "any"},
            [{"kind": "stall"}, {"kind": "nope"}],
            "not an object",
        ):
            r = await http.post("/_faults", json=bad)
            assert r.status_code == 400, bad
            assert r.json()["message"]
        assert server.state.faults.pending == []  # nothing queued by a bad batch
        r = await http.post("/_faults", json=[{"kind": "stall"}, {"kind": "status", "count": 3}])
        assert r.status_code == 201 and len(r.json()["faults"]) == 2
        pending = (await http.get("/_faults")).json()["pending"]
        assert [(p["kind"], p["count"]) for p in pending] == [("stall", 1), ("status", 3)]
        r = await http.delete("/_faults")
        assert r.json() == {"cleared": 2}
        assert (await http.get("/_faults")).json()["pending"] == []
        async with http.stream("GET", "/stream/flows", params=Q, headers=basic(server.token)):
            pass
        await eventually(lambda: not server.state.open_records)
        assert (await http.get("/_faults")).json()["connections"]
        await http.delete("/_faults", params={"log": "1"})
        assert (await http.get("/_faults")).json()["connections"] == []
