"""Issue 13 hardening, over real HTTP: the control endpoints' guards, body and field caps, 400s
instead of tracebacks, visibility of users, connection limits and log flooding."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from flowview.server.entities import User
from flowview.server.logfilter import RepeatFilter
from flowview.server.runner import RunningServer, ServerOptions, raise_fd_limit, run_server
from tests.server.server_testkit import SSE, basic, client

pytestmark = pytest.mark.timeout(60)

MAIN = "acme/main"
FAULT = {"kind": "status", "status": 503}


async def test_control_endpoints_need_token_json_loopback_host_and_no_foreign_origin(
    server: RunningServer,
) -> None:
    good = server.control_headers
    async with client(server, control=False) as http:
        for path in ("/_faults", "/_sim/step"):
            assert (await http.post(path, json=FAULT)).status_code == 401
        assert (await http.get("/_faults")).status_code == 401
        assert (await http.delete("/_faults")).status_code == 401
        bad = {**good, "Authorization": "Bearer not-the-token"}
        assert (await http.post("/_faults", json=FAULT, headers=bad)).status_code == 401
        # the user's own stream token is not the control token
        r = await http.post("/_faults", json=FAULT, headers=basic(server.token))
        assert r.status_code == 401
        # a cross-site "simple" request: text/plain body
        plain = {**good, "Content-Type": "text/plain"}
        r = await http.post("/_faults", content=json.dumps(FAULT), headers=plain)
        assert r.status_code == 415
        # DNS rebinding: the page's own name in Host
        r = await http.get("/_faults", headers={**good, "Host": "evil.example:80"})
        assert r.status_code == 403
        r = await http.post(
            "/_faults", json=FAULT, headers={**good, "Origin": "https://evil.example"}
        )
        assert r.status_code == 403
        r = await http.post("/_faults", json=FAULT, headers={**good, "Origin": "null"})
        assert r.status_code == 403
        assert server.state.faults.pending == []  # none of that queued anything
        r = await http.post(
            "/_faults", json=FAULT, headers={**good, "Origin": "http://localhost:1234"}
        )
        assert r.status_code == 201
        r = await http.get("/_faults", headers={**good, "Host": "localhost"})
        assert r.status_code == 200 and len(r.json()["pending"]) == 1
        r = await http.post("/_faults", json=[FAULT] * 101, headers=good)
        assert r.status_code == 400


async def test_running_server_fault_helper_queues_like_the_endpoint(server: RunningServer) -> None:
    (added,) = server.fault(kind="status", status=502, scope="rest")
    assert added["status"] == 502
    async with client(server) as http:
        assert (await http.get("/api/user", headers=basic(server.token))).status_code == 502
    with pytest.raises(ValueError):
        server.fault(kind="nope")
    async with run_server(ServerOptions(rate=0, faults=False)) as quiet:
        with pytest.raises(RuntimeError):
            quiet.fault(kind="status")


async def test_bodies_are_capped_before_reading(server: RunningServer) -> None:
    h = basic(server.token)
    url = f"/api/flows/{MAIN}/messages"
    big = json.dumps({"content": "x", "pad": "y" * (2 << 20)}).encode()
    async with client(server) as http:
        r = await http.post(url, content=big, headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 413

        async def chunks() -> object:  # no Content-Length: counted while reading
            for _ in range(40):
                yield b"y" * 65536

        r = await http.post(url, content=chunks(), headers=h)  # type: ignore[arg-type]
        assert r.status_code == 413
        assert (await http.post(url, json={"content": "small"}, headers=h)).status_code == 201


async def test_tag_uuid_and_thread_id_caps(server: RunningServer) -> None:
    h = basic(server.token)
    url = f"/api/flows/{MAIN}/messages"
    async with client(server) as http:
        for extra in (
            {"tags": [f"t{i}" for i in range(101)]},
            {"tags": ["x" * 201]},
            {"uuid": "u" * 5000},
            {"thread_id": "t" * 5000},
        ):
            r = await http.post(url, json={"content": "hi", **extra}, headers=h)
            assert r.status_code == 400, extra
            assert r.json()["message"]
        r = await http.post(url, json={"content": "hi", "tags": ["a"] * 100}, headers=h)
        assert r.status_code == 201


async def test_400_not_500_for_nested_json_odd_ids_and_huge_path_ids(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = basic(server.token)
    async with client(server) as http:
        nested = b"[" * 100_000 + b"]" * 100_000
        r = await http.post(
            f"/api/flows/{MAIN}/messages",
            content=nested,
            headers={**h, "Content-Type": "application/json"},
        )
        assert r.status_code == 400
        r = await http.post("/_faults", content=nested, headers=server.control_headers)
        assert r.status_code == 400
        for lei in ("9" * 5000, "²", "12x", "-1"):
            r = await http.get(
                "/stream/flows",
                params={"filter": MAIN},
                headers={
                    **{k.encode(): v.encode() for k, v in {**h, **SSE}.items()},
                    b"Last-Event-ID": lei.encode(),
                },
            )
            assert r.status_code == 400, lei
        assert not server.state.open_records  # no phantom open connection
        assert not server.state.connections  # nor any record of one
        for path in (
            f"/api/flows/{MAIN}/messages/{'9' * 5000}",
            f"/api/flows/{MAIN}/messages/²",
            f"/api/flows/{MAIN}/messages?since_id={'9' * 5000}",
        ):
            assert (await http.get(path, headers=h)).status_code == 400, path[:60]
        r = await http.get(f"/api/users/{'9' * 5000}", headers=h)
        assert r.status_code == 404
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


async def test_users_of_other_organisations_are_invisible(server: RunningServer) -> None:
    stranger = server.state.add_user(
        User(id="424242", nick="stranger", name="S", email="s@x.invalid", token="tok-stranger")
    )
    h = basic(server.token)
    async with client(server) as http:
        listed = {str(u["id"]) for u in (await http.get("/api/users", headers=h)).json()}
        assert stranger.id not in listed
        assert (await http.get(f"/api/users/{stranger.id}", headers=h)).status_code == 404
        some = next(iter(listed - {server.state.me.id if server.state.me else ""}))
        assert (await http.get(f"/api/users/{some}", headers=h)).status_code == 200
        r = await http.post(
            f"/api/private/{stranger.id}/messages", json={"content": "psst"}, headers=h
        )
        assert r.status_code == 404
        assert not any(stranger.id in key for key in server.state.privates)


async def test_header_timeout_closes_slow_connections() -> None:
    async with run_server(ServerOptions(rate=0, header_timeout=0.2)) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/user HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        writer.close()


async def test_concurrency_limit_answers_503() -> None:
    async with run_server(ServerOptions(rate=0, max_connections=3)) as server:
        h = basic(server.token)
        q = {"filter": MAIN}
        async with (
            client(server) as http,
            http.stream("GET", "/stream/flows", params=q, headers=h) as a,
            http.stream("GET", "/stream/flows", params=q, headers=h) as b,
        ):
            assert a.status_code == b.status_code == 200
            async with httpx.AsyncClient(base_url=server.base_url) as other:
                statuses = set()
                for _ in range(3):
                    r = await other.get("/api/user", headers=h)
                    statuses.add(r.status_code)
                assert 503 in statuses


def test_fd_soft_limit_is_raised() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_fd_limit(1024) == min(1024, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == min(1024, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_repeated_log_lines_are_rate_limited() -> None:
    flt = RepeatFilter(burst=3, window=10.0)

    def record(t: float, msg: str = "accept failed: %s") -> logging.LogRecord:
        rec = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, msg, ("EMFILE",), None)
        rec.created = t
        return rec

    passed = [flt.filter(record(i * 0.001)) for i in range(1000)]
    assert passed.count(True) == 3
    assert flt.filter(record(0.5, "another line: %s"))  # other lines are not affected
    later = record(11.0)
    assert flt.filter(later)
    assert "997 identical lines suppressed" in later.getMessage()
