"""`flowview tail` as a real process against a spawned `flowview serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowview.server.runner import ServerOptions, ServerProcess, spawn_server_process
from flowview.tail import add_tail_arguments, build_tail_parser
from tests.tail_process import popen_tail

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    proc = spawn_server_process(ServerOptions(rate=0, keepalive=0.5, activity_interval=3600))
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture
def srv(server: ServerProcess) -> ServerProcess:
    httpx.delete(server.base_url + "/_faults", headers=server.control_headers).raise_for_status()
    return server


def tail_env(server: ServerProcess, token: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["FLOWDOCK_TOKEN"] = server.token if token is None else token
    env["FLOWDOCK_STREAM_URL"] = server.stream_url
    env["FLOWDOCK_API_URL"] = server.api_url
    env["PYTHONUNBUFFERED"] = "0"
    return env


def start_tail(
    server: ServerProcess, *argv: str, token: str | None = None
) -> subprocess.Popen[str]:
    return popen_tail(*argv, env=tail_env(server, token))


def wait_live(server: ServerProcess, count: int = 1, timeout: float = 15.0) -> None:
    """Until the server sees `count` open stream connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = httpx.get(server.base_url + "/_faults", headers=server.control_headers).json()
        if info["open_connections"] >= count:
            return
        time.sleep(0.05)
    raise AssertionError("tail never connected")


def post(server: ServerProcess, slug: str, text: str) -> dict[str, Any]:
    r = httpx.post(
        f"{server.api_url}/flows/{slug}/messages",
        auth=(server.token, ""),
        json={"event": "message", "content": text},
    )
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def flows(server: ServerProcess) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.api_url}/flows", auth=(server.token, ""))
    r.raise_for_status()
    data: list[dict[str, Any]] = r.json()
    return data


def slug_of(flow: dict[str, Any]) -> str:
    org = flow["organization"]
    org_name = org["parameterized_name"] if isinstance(org, dict) else org
    return f"{org_name}/{flow['parameterized_name']}"


def ident(obj: dict[str, Any]) -> tuple[Any, ...]:
    return (obj.get("event"), obj.get("flow"), obj.get("id"), obj.get("content"))


def printed(out: str) -> list[tuple[Any, ...]]:
    return [ident(json.loads(line)) for line in out.splitlines()]


def finish(proc: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.mark.parametrize("content_type", ["json", "sse"])
def test_count_prints_n_json_lines_and_exits_0(srv: ServerProcess, content_type: str) -> None:
    slug = slug_of(flows(srv)[0])
    proc = start_tail(
        srv, slug, "--count", "5", "--content-type", content_type, "--presence", "offline"
    )
    wait_live(srv)
    sent = [post(srv, slug, f"tail test {i}") for i in range(7)]
    code, out, err = finish(proc)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 5
    assert printed(out) == [ident(m) for m in sent[:5]]
    for line in lines:  # compact, ASCII-only JSON objects
        assert line.isascii() and line.startswith("{") and ", " not in line[:20]
    assert "flowview: connecting" in err
    assert "flowview: live" in err
    assert "Traceback" not in err


def test_flows_and_options_in_any_order(srv: ServerProcess) -> None:
    all_flows = flows(srv)
    a, b = slug_of(all_flows[0]), slug_of(all_flows[1])
    proc = start_tail(srv, a, "--count", "2", b, "--presence", "offline")
    wait_live(srv)
    sent = [post(srv, b, "in b"), post(srv, a, "in a")]
    code, out, err = finish(proc)
    assert code == 0, err
    assert printed(out) == [ident(m) for m in sent]


def test_rejected_token_exits_fast_without_leaking_it(srv: ServerProcess) -> None:
    bad = "WrongTokenValue0123456789"
    started = time.monotonic()
    proc = start_tail(srv, "--private", "--token", bad)
    code, out, err = finish(proc)
    assert time.monotonic() - started < 15
    assert code == 2
    assert out == ""
    assert "token rejected (401)" in err
    assert bad not in err and bad not in out
    assert srv.token not in err
    assert "Traceback" not in err


def test_duplicates_are_printed_once(srv: ServerProcess) -> None:
    flow = flows(srv)[0]
    slug = slug_of(flow)
    first, second = post(srv, slug, "dup one"), post(srv, slug, "dup two")
    frames = "".join(json.dumps(m) + "\r\n" for m in (first, second, first, first, second))
    srv.fault(kind="inject", data=frames)
    proc = start_tail(srv, slug, "--count", "3", "--presence", "offline")
    wait_live(srv)
    third = post(srv, slug, "after the duplicates")
    code, out, err = finish(proc)
    assert code == 0, err
    assert printed(out) == [ident(first), ident(second), ident(third)]
    # The injected duplicates were printed once, and exactly as the server sent them.
    assert json.loads(out.splitlines()[0]) == first


def test_usage_error_without_flows_or_private(srv: ServerProcess) -> None:
    code, out, err = finish(start_tail(srv))
    assert code == 2
    assert "FLOW" in err and "--private" in err
    assert out == ""


def test_sigint_exits_cleanly(srv: ServerProcess) -> None:
    proc = start_tail(srv, "--private", "--presence", "offline")
    wait_live(srv)
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err


def test_broken_pipe_is_quiet(srv: ServerProcess) -> None:
    slug = slug_of(flows(srv)[0])
    proc = start_tail(srv, slug, "--count", "50", "--presence", "offline")
    assert proc.stdout is not None
    wait_live(srv)
    post(srv, slug, "first")
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    for i in range(5):
        post(srv, slug, f"more {i}")
    assert proc.stderr is not None
    proc.wait(timeout=20)
    err = proc.stderr.read()
    assert "Traceback" not in err
    assert proc.returncode == 0


def test_tail_module_imports_neither_textual_nor_httpx() -> None:
    code = (
        "import sys, flowview.tail; "
        "print(sorted(m for m in ('textual', 'httpx', 'rich') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_tail_help_does_not_import_textual() -> None:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flowview", "tail", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0
    assert "--content-type" in res.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines()]
    assert not any(name == "textual" or name.startswith("textual.") for name in imported)


def test_argument_parsing_intermixed() -> None:
    args = build_tail_parser().parse_intermixed_args(
        [
            "org/a",
            "--private",
            "org/b",
            "--count",
            "3",
            "--content-type",
            "sse",
            "--stall-timeout",
            "2.5",
            "--presence",
            "idle",
        ]
    )
    assert args.flows == ["org/a", "org/b"]
    assert args.private and args.count == 3 and args.content_type == "sse"
    assert args.stall_timeout == 2.5 and args.presence == "idle"
    import argparse

    parser = argparse.ArgumentParser()
    add_tail_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--count", "0"])
    defaults = parser.parse_args([])
    assert defaults.content_type == "json" and defaults.stall_timeout == 90.0


def test_hostile_content_is_printed_ascii_escaped(srv: ServerProcess) -> None:
    flow = flows(srv)[0]
    hostile = "\x1b]0;owned\x07 \x9b31m \u202eevil\u202c ünï 🙂 [@click=app.quit]"
    obj = {"event": "message", "id": 10**6, "flow": flow["id"], "content": hostile}
    # Raw UTF-8 on the wire (not \\u escapes), the worst case for a terminal.
    frame = json.dumps(obj, ensure_ascii=False) + "\r\n"
    srv.fault(kind="inject", data=frame)
    proc = start_tail(srv, slug_of(flow), "--count", "1", "--presence", "offline")
    code, out, err = finish(proc)
    assert code == 0, err
    assert out.isascii()
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out
    assert json.loads(out) == obj


def test_gap_line_then_recovered_events_then_gap_filled(srv: ServerProcess) -> None:
    """Issue 8 loss path 2 through `tail`: the back-fill fails once, tail says so on stderr,
    then prints the recovered events and a "gap filled" line."""
    flow = flows(srv)[2]
    slug = slug_of(flow)
    # The first connection goes silent after one event; what is posted meanwhile is lost
    # to it, and the stall timeout (2 s) reconnects.
    srv.fault(kind="stall", after=1)
    proc = start_tail(srv, slug, "--count", "7", "--presence", "offline", "--stall-timeout", "2")
    assert proc.stdout is not None
    wait_live(srv)
    first = post(srv, slug, "before the stall")
    assert json.loads(proc.stdout.readline())["id"] == first["id"]
    lost = [post(srv, slug, f"during the stall {i}") for i in range(5)]
    # Queued within the stall timeout, so tail's back-fill is the next REST request.
    srv.fault(kind="status", status=500, count=1, scope="rest")
    assert proc.stderr is not None
    err_lines: list[str] = []
    while not err_lines or "gap filled" not in err_lines[-1]:
        line = proc.stderr.readline()
        assert line, "".join(err_lines)
        err_lines.append(line)
    last = post(srv, slug, "after the gap")
    code, out, rest = finish(proc, timeout=30)
    err = "".join(err_lines) + rest
    assert code == 0, err
    assert sorted(m[2] for m in printed(out)) == [m["id"] for m in [*lost, last]]
    gap_line = f"flowview: gap: flow {flow['id']}: messages after id {first['id']} may be missing"
    filled = f"flowview: gap filled: flow {flow['id']}: after id {first['id']}, 5 message(s)"
    assert gap_line in err and filled in err
    assert err.index(gap_line) < err.index(filled)


def test_404_for_a_named_flow_exits_non_zero_naming_it(srv: ServerProcess) -> None:
    """Issue 10 item 12: not retried forever."""
    code, out, err = finish(start_tail(srv, "acme/nope", "--presence", "offline"))
    assert code == 1
    assert "acme/nope" in err and "not found (404)" in err
    assert out == ""


def test_archive_stores_what_it_prints_and_search_finds_it(
    srv: ServerProcess, tmp_path: Path
) -> None:
    slug = slug_of(flows(srv)[0])
    env = tail_env(srv)
    env["FLOWVIEW_DATA_DIR"] = str(tmp_path / "data")
    proc = popen_tail(slug, "--count", "2", "--archive", "--presence", "offline", env=env)
    wait_live(srv)
    sent = [post(srv, slug, "archived zebrafish one"), post(srv, slug, "archived quokka two")]
    code, out, err = finish(proc)
    assert code == 0, err
    assert printed(out) == [ident(m) for m in sent]
    found = subprocess.run(
        [sys.executable, "-m", "flowview", "search", "quokka"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert found.returncode == 0, found.stderr
    assert "archived quokka two" in found.stdout
    assert "zebrafish" not in found.stdout
    archive_files = list((tmp_path / "data").glob("*.sqlite3"))
    assert len(archive_files) == 1


def test_without_archive_flag_nothing_is_written(srv: ServerProcess, tmp_path: Path) -> None:
    slug = slug_of(flows(srv)[0])
    env = tail_env(srv)
    env["FLOWVIEW_DATA_DIR"] = str(tmp_path / "data")
    proc = popen_tail(slug, "--count", "1", "--presence", "offline", env=env)
    wait_live(srv)
    post(srv, slug, "not archived")
    code, _, err = finish(proc)
    assert code == 0, err
    assert not list((tmp_path / "data").glob("*.sqlite3"))
