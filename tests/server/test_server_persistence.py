"""``flowview serve --data DIR``: a restart loses nothing, ids keep increasing, and a stream
resumes across the restart with a clean signal (issue 13)."""

from __future__ import annotations

import base64
import contextlib
import io
from pathlib import Path

import pytest

from flowview.server.cli import main as serve_main
from flowview.server.persist import SEQ_MARGIN, Database
from flowview.server.runner import ServerOptions, build, run_server
from tests.server.server_testkit import SSE, WireReader, basic, client, eventually, other_user

pytestmark = pytest.mark.timeout(90)

MAIN = "acme/main"


async def test_restart_between_a_post_and_a_read_keeps_everything(tmp_path: Path) -> None:
    options = ServerOptions(rate=0, data=str(tmp_path))
    async with run_server(options) as first:
        token = first.token
        friend = other_user(first, MAIN)
        h = basic(token)
        async with client(first) as http:
            r = await http.post(f"/flows/{MAIN}/messages", json={"content": "before #keep"},
                                headers=h)  # fmt: skip
            msg = r.json()
            assert first.database is not None
            first.database.flush()  # the changes below come in later batches
            url = f"/flows/{MAIN}/messages/{msg['id']}"
            await http.put(url, json={"content": "edited before"}, headers=h)
            await http.put(url, json={"tags": ["keep", "extra"]}, headers=h)
            first.state.react(first.state.flows_by_slug[MAIN], msg["id"], "+1", friend.id, True)
            reply = await http.post(
                f"/flows/{MAIN}/threads/{msg['thread_id']}/messages",
                json={"content": "in thread"},
                headers=h,
            )
            assert reply.status_code == 201
            pm = await http.post(f"/private/{friend.id}/messages", json={"content": "psst"},
                                 headers=h)  # fmt: skip
            upload = {"event": "file", "content": {
                "data": base64.b64encode(b"kept bytes").decode(), "file_name": "k.txt",
                "content_type": "text/plain"}}  # fmt: skip
            f = (await http.post(f"/flows/{MAIN}/messages", json=upload, headers=h)).json()
        first.state.external_threads[(first.state.flows_by_slug[MAIN].id, "ext:1")] = "t1"
        seq_before = first.state.seq
        users_before = {u.id: u.nick for u in first.state.users.values()}
    async with run_server(options) as second:
        assert second.token == token  # tokens are kept
        assert {u.id: u.nick for u in second.state.users.values()} == users_before
        assert second.state.seq == seq_before  # clean shutdown: ids continue exactly
        assert second.state.external_threads == {
            (second.state.flows_by_slug[MAIN].id, "ext:1"): "t1"
        }
        h = basic(token)
        async with client(second) as http:
            got = (await http.get(f"/flows/{MAIN}/messages/{msg['id']}", headers=h)).json()
            assert got["content"] == "edited before" and isinstance(got["edited"], int)
            assert {"keep", "extra"} <= set(got["tags"])
            assert got["emojiReactions"] == {"+1": [friend.id]}
            thread = (await http.get(f"/flows/{MAIN}/threads/{msg['thread_id']}",
                                     headers=h)).json()  # fmt: skip
            assert thread["internal_comments"] == 2
            in_thread = await http.get(
                f"/flows/{MAIN}/threads/{msg['thread_id']}/messages", headers=h
            )
            assert [m["content"] for m in in_thread.json()] == ["edited before", "in thread"]
            pms = (await http.get(f"/private/{friend.id}/messages", headers=h)).json()
            assert [m["id"] for m in pms] == [pm.json()["id"]]
            served = await http.get(f["attachments"][0]["path"], headers=h)
            assert served.content == b"kept bytes"
            # new messages get new ids, never reused ones
            new = (await http.post(f"/flows/{MAIN}/messages", json={"content": "after"},
                                   headers=h)).json()  # fmt: skip
            assert new["id"] > f["id"]
            assert second.state.seq > seq_before


async def test_stream_resumes_across_the_restart(tmp_path: Path) -> None:
    options = ServerOptions(rate=0, data=str(tmp_path))
    async with run_server(options) as first:
        h = basic(first.token)
        async with client(first) as http:
            async with http.stream("GET", "/stream/flows", params={"filter": MAIN},
                                   headers={**h, **SSE}) as resp:  # fmt: skip
                reader = WireReader(resp)
                await http.post(f"/flows/{MAIN}/messages", json={"content": "seen"}, headers=h)
                (seen,) = await reader.sse(1)
            assert seen.id is not None
            # posted while the client was away, just before the restart
            await http.post(f"/flows/{MAIN}/messages", json={"content": "missed"}, headers=h)
            last_before = first.state.seq
    async with run_server(options) as second:
        h = basic(second.token)
        async with client(second) as http:
            await http.post(f"/flows/{MAIN}/messages", json={"content": "after"}, headers=h)
            headers = {**h, **SSE, "Last-Event-ID": seen.id}
            async with http.stream("GET", "/stream/flows", params={"filter": MAIN},
                                   headers=headers) as resp:  # fmt: skip
                # "missed" is not in any replay buffer any more: the client is told to
                # back-fill, and REST has it
                assert resp.headers["flowview-replay"] == "truncated"
                (after,) = await WireReader(resp).sse(1)
                assert after.data["content"] == "after"
                assert after.id is not None and int(after.id) > last_before > int(seen.id)
            history = (
                await http.get(
                    f"/flows/{MAIN}/messages", params={"since_id": seen.data["id"]}, headers=h
                )
            ).json()
            assert [m["content"] for m in history] == ["missed", "after"]  # fmt: skip
            # a client that had seen everything before the restart resumes completely
            headers["Last-Event-ID"] = str(last_before)
            async with http.stream("GET", "/stream/flows", params={"filter": MAIN},
                                   headers=headers) as resp:  # fmt: skip
                assert resp.headers["flowview-replay"] == "complete"
                (again,) = await WireReader(resp).sse(1)
                assert again.data["content"] == "after"


def test_after_a_crash_ids_jump_ahead(tmp_path: Path) -> None:
    database = Database(tmp_path)
    state, _ = build(ServerOptions(rate=0), database)
    flow = state.flows_by_slug[MAIN]
    me = state.me
    assert me is not None
    msg = state.post_flow_message(flow, me.id, "message", "saved")
    database.flush()  # saved, but the process dies without a clean close
    seq, last_id = state.seq, flow.log.last_id
    database.conn.close()
    again = Database(tmp_path)
    state2, _ = build(ServerOptions(rate=0), again)
    flow2 = state2.flows_by_slug[MAIN]
    assert flow2.log.get(msg["id"]) is not None
    assert state2.seq == seq + SEQ_MARGIN
    assert flow2.log.allocate() > last_id + 1
    again.close()


def test_add_user_and_add_flow_manage_a_data_directory(tmp_path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert serve_main(["--data", str(tmp_path), "--add-user", "alice"]) == 0
        assert serve_main(["--data", str(tmp_path), "--add-flow", "Acme Corp/Ops Room"]) == 0
        assert serve_main(["--data", str(tmp_path), "--add-user", "bob"]) == 0
    lines = out.getvalue().splitlines()
    tokens = [ln.split("=", 1)[1] for ln in lines if ln.startswith("FLOWDOCK_TOKEN=")]
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert "FLOWDOCK_FLOW=acme-corp/ops-room" in lines
    with contextlib.redirect_stdout(io.StringIO()):
        assert serve_main(["--data", str(tmp_path), "--add-user", "alice"]) == 2  # taken
        assert serve_main(["--add-user", "carol"]) == 2  # needs --data
    database = Database(tmp_path)
    state, _ = build(ServerOptions(rate=0), database)
    flow = state.flows_by_slug["acme-corp/ops-room"]
    alice = state.user_by_token(tokens[0])
    bob = state.user_by_token(tokens[1])
    assert alice is not None and bob is not None
    assert {alice.id, bob.id} <= set(flow.member_ids)
    assert state.me is alice
    database.close()


async def test_add_user_token_works_on_the_served_data(tmp_path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        serve_main(["--data", str(tmp_path), "--add-flow", "team/general"])
        serve_main(["--data", str(tmp_path), "--add-user", "dana"])
    token = out.getvalue().split("FLOWDOCK_TOKEN=", 1)[1].split()[0]
    async with (
        run_server(ServerOptions(rate=5, data=str(tmp_path))) as server,
        client(server) as http,
    ):
        r = await http.post("/flows/team/general/messages", json={"content": "hello"},
                                headers=basic(token))  # fmt: skip
        assert r.status_code == 201
        assert (await http.get("/user", headers=basic(token))).json()["nick"] == "dana"


async def test_user_created_with_a_password_logs_in_with_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass\n"))
    with contextlib.redirect_stdout(io.StringIO()):
        args = ["--data", str(tmp_path), "--add-user", "erin", "--email", "erin@corp.example"]
        assert serve_main([*args, "--password-stdin"]) == 0
    async with (
        run_server(ServerOptions(rate=0, data=str(tmp_path))) as server,
        client(server) as http,
    ):
        r = await http.get("/user", auth=("erin@corp.example", "s3cret pass"))
        assert r.status_code == 200 and r.json()["nick"] == "erin"
        assert (await http.get("/user", auth=("erin@corp.example", "wrong"))).status_code == 401
        assert (
            await http.get("/user", auth=("other@corp.example", "s3cret pass"))
        ).status_code == 401
        assert "password" not in repr(server.state.users)


async def test_a_failed_save_is_retried_and_serving_goes_on(tmp_path: Path) -> None:
    async with run_server(ServerOptions(rate=0, data=str(tmp_path))) as server:
        database = server.database
        assert database is not None
        real_flush = database.flush
        calls: list[int] = []

        def flaky(*, clean: bool = False) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("disk full")
            real_flush(clean=clean)

        database.flush = flaky  # type: ignore[method-assign]
        async with client(server) as http:
            await http.post(f"/flows/{MAIN}/messages", json={"content": "survives"},
                            headers=basic(server.token))  # fmt: skip
            await eventually(lambda: len(calls) >= 2, timeout=10)
            r = await http.get("/user", headers=basic(server.token))
            assert r.status_code == 200
        rows = database.conn.execute(
            "SELECT count(*) FROM messages WHERE json LIKE '%survives%'"
        ).fetchone()
        assert rows[0] == 1
