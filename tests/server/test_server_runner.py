"""Ways to run the server: ServerThread, a child process, the command line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from flowview.server.runner import (
    ServerOptions,
    ServerThread,
    run_server,
    serve_argv,
    spawn_server_process,
)
from tests.server.server_testkit import basic

pytestmark = pytest.mark.timeout(60)


def test_server_thread_serves_while_the_test_thread_blocks() -> None:
    with ServerThread(ServerOptions(rate=0)) as srv:
        assert srv.stream_url == srv.base_url + "/stream"
        assert srv.api_url == srv.base_url + "/api"
        assert srv.token not in repr(srv)
        r = httpx.get(srv.api_url + "/user", headers=basic(srv.token))
        assert r.status_code == 200
        me = srv.state.me
        assert me is not None and r.json()["nick"] == me.nick
        # state is changed on the server's own loop
        flow = srv.state.flows_by_slug["acme/main"]
        msg = srv.call(srv.state.post_flow_message, flow, me.id, "message", "from the thread")
        r = httpx.get(f"{srv.api_url}/flows/acme/main/messages/{msg['id']}",
                      headers=basic(srv.token))  # fmt: skip
        assert r.json()["content"] == "from the thread"
        # faults from the test thread, and the headers for one's own control requests
        srv.fault(kind="reset", scope="rest")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(srv.api_url + "/user", headers=basic(srv.token))
        assert srv.control_token not in repr(srv)
        r = httpx.post(
            srv.base_url + "/_faults", json={"kind": "stall"}, headers=srv.control_headers
        )
        assert r.status_code == 201 and srv.clear_faults() == 1
        with httpx.stream("GET", srv.stream_url + "/flows", params={"filter": "acme/main"},
                          headers=basic(srv.token)) as resp:  # fmt: skip
            assert resp.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.api_url + "/user", headers=basic(srv.token), timeout=2)


def test_spawned_process_prints_three_lines_and_stops_on_ctrl_c() -> None:
    proc = spawn_server_process(ServerOptions(rate=50, keepalive=1.0, token="tok-for-test"))
    try:
        assert proc.token == "tok-for-test" and "tok-for-test" not in repr(proc)
        assert proc.stream_url.startswith("http://127.0.0.1:")
        assert proc.api_url == proc.base_url + "/api"
        assert "tok-for-test" not in " ".join(proc.process.args)  # type: ignore[arg-type]
        # the fourth line's control token drives /_faults; without it, nothing
        assert proc.control_token and proc.control_token not in repr(proc)
        assert httpx.post(proc.base_url + "/_faults", json={"kind": "status"}).status_code == 401
        (queued,) = proc.fault(kind="status", status=502, scope="rest")
        assert queued["kind"] == "status"
        assert httpx.get(proc.api_url + "/user", headers=basic(proc.token)).status_code == 502
        r = httpx.get(proc.api_url + "/user", headers=basic(proc.token))
        assert r.status_code == 200 and r.headers["flowdock-user"]
        with httpx.stream("GET", proc.stream_url + "/flows", params={"filter": "acme/main"},
                          headers=basic(proc.token), timeout=10) as resp:  # fmt: skip
            for _ in resp.iter_raw():
                break
    finally:
        code = proc.terminate()
    assert code == 0
    assert proc.process.stdout is not None and proc.process.stdout.closed


def test_module_entry_point_output_and_bind_failure() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        opts = ServerOptions(port=port, rate=0)
        done = subprocess.run(
            [sys.executable, "-m", "flowview.server", *serve_argv(opts)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "cannot listen" in done.stderr and "Traceback" not in done.stderr


def test_serve_output_is_exactly_four_lines_then_clean_exit() -> None:
    args = [sys.executable, "-m", "flowview.server", *serve_argv(ServerOptions(rate=0))]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(4)]
    assert [ln.split("=", 1)[0] for ln in lines] == [
        "FLOWDOCK_STREAM_URL",
        "FLOWDOCK_API_URL",
        "FLOWDOCK_TOKEN",
        "FLOWVIEW_CONTROL_TOKEN",
    ]
    assert lines[0].rstrip().endswith("/stream") and lines[1].rstrip().endswith("/api")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out == ""  # nothing after the four lines on stdout
    assert "Traceback" not in err and "fault injection enabled" in err
    token = lines[2].split("=", 1)[1].strip()
    control = lines[3].split("=", 1)[1].strip()
    assert len(control) >= 24 and token not in err and control not in err


def test_faults_default_follows_loopback() -> None:
    import argparse

    from flowview.server.cli import add_serve_arguments, options_from_args

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    assert options_from_args(parser.parse_args([])).faults is True
    assert options_from_args(parser.parse_args(["--host", "0.0.0.0"])).faults is False
    assert options_from_args(parser.parse_args(["--host", "0.0.0.0", "--faults"])).faults is True
    assert options_from_args(parser.parse_args(["--no-faults"])).faults is False
    opts = options_from_args(parser.parse_args(["--port", "0", "--seed", "3", "--hostile"]))
    assert (opts.port, opts.seed, opts.hostile) == (0, 3, True)


async def test_backlog_gives_backdated_history_before_serving() -> None:
    options = ServerOptions(rate=0, backlog=300, backlog_span=7200.0)
    async with run_server(options) as srv, httpx.AsyncClient(auth=(srv.token, "")) as http:
        flows = (await http.get(f"{srv.api_url}/flows")).json()
        slug = f"{flows[0]['organization']['parameterized_name']}/{flows[0]['parameterized_name']}"
        messages = (await http.get(f"{srv.api_url}/flows/{slug}/messages?limit=100")).json()
        assert len(messages) > 10
        sent = [m["sent"] for m in messages]
        now_ms = time.time() * 1000
        assert sent == sorted(sent)
        # back-dated: spread over the past two hours, none in the future
        assert min(sent) < now_ms - 600_000
        assert max(sent) <= now_ms + 1000


def test_backlog_travels_to_the_serve_command_line() -> None:
    assert serve_argv(ServerOptions(backlog=50))[-2:] == ["--backlog", "50"]
    assert "--backlog" not in serve_argv(ServerOptions())
