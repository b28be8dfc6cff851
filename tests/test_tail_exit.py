"""How `flowview tail` ends its process and reads the stream (its whole-process settings).

Run from its own command line, tail exits without the interpreter's teardown once everything
is delivered (atexit handlers run, stdout is flushed); called in process it returns instead.
It reads the stream 256 KiB at a time (httpcore's default is 64 KiB).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowview import cli, tail
from flowview.protocol import read_size
from flowview.server.runner import ServerThread

log = logging.getLogger(__name__)

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent

# `flowview tail` as its console script runs it (cli.main() on the process's own argv), with a
# module-level object that says when the interpreter tears the module down, and an atexit
# handler that says it ran.
PROBE = textwrap.dedent(
    """
    import atexit, os, sys
    from flowview import cli

    class Probe:
        def __del__(self, write=os.write):  # bound now: teardown clears the module's names
            write(2, b"probe: torn down\\n")

    sys.flowview_probe = Probe()  # on sys: cleared at teardown even after gc.freeze()
    atexit.register(lambda: os.write(2, b"probe: atexit ran\\n"))
    sys.argv = ["flowview", *sys.argv[1:]]
    raise SystemExit(cli.main())
    """
)


def _slug(server: ServerThread) -> str:
    r = httpx.get(f"{server.api_url}/flows", auth=(server.token, ""))
    r.raise_for_status()
    flow: dict[str, Any] = r.json()[0]
    return f"{flow['organization']['parameterized_name']}/{flow['parameterized_name']}"


def _open_streams(server: ServerThread) -> int:
    return server.call(lambda: len(server.state.open_records))


def _run_probe(
    server: ServerThread, count: int, log_file: Path
) -> subprocess.CompletedProcess[str]:
    slug = _slug(server)
    env = dict(
        os.environ,
        FLOWDOCK_TOKEN=server.token,
        FLOWDOCK_STREAM_URL=server.stream_url,
        FLOWDOCK_API_URL=server.api_url,
    )
    argv = ["tail", slug, "--count", str(count), "--presence", "offline", "--log", str(log_file)]
    before = _open_streams(server)
    proc = subprocess.Popen(
        [sys.executable, "-c", PROBE, *argv],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while _open_streams(server) <= before:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "tail never connected"
            time.sleep(0.05)
        for i in range(count):
            httpx.post(
                f"{server.api_url}/flows/{slug}/messages",
                auth=(server.token, ""),
                json={"event": "message", "content": f"exit probe {i} " + "x" * 3000},
            ).raise_for_status()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_process_ends_without_teardown_and_loses_nothing(
    server: ServerThread, tmp_path: Path
) -> None:
    count = 40
    done = _run_probe(server, count, tmp_path / "tail.log")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == count  # every event printed and flushed before the process ended
    assert [f"exit probe {i} " in line for i, line in enumerate(lines)] == [True] * count
    assert "probe: atexit ran" in done.stderr  # atexit handlers (logging's too) still ran
    assert "probe: torn down" not in done.stderr  # the interpreter's teardown was skipped
    assert "live" in done.stderr


def test_in_process_call_returns_instead_of_exiting(monkeypatch: pytest.MonkeyPatch) -> None:
    # cli.main with an explicit argv is a caller in this process: tail's code comes back.
    monkeypatch.setattr(tail, "main_tail", lambda args: 7)
    assert cli.main(["tail", "acme/main"]) == 7


def test_end_process_keeps_the_ordinary_exit_while_another_thread_runs() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="still-working")
    other.start()
    try:
        with pytest.raises(SystemExit) as exited:
            tail.end_process(3)
        assert exited.value.code == 3
    finally:
        release.set()
        other.join()


def test_stream_reads_are_widened_by_the_stream_client() -> None:
    # In a process of its own: the setting is httpcore's, for the whole process.
    code = textwrap.dedent(
        """
        import httpcore
        from flowview.protocol.client import StreamClient, StreamConfig
        before = httpcore.AsyncHTTP11Connection.READ_NUM_BYTES
        from flowview.protocol.auth import Token
        StreamClient(StreamConfig("http://127.0.0.1:9/flows", Token("t" * 32), flows=("a/b",)))
        print(before, httpcore.AsyncHTTP11Connection.READ_NUM_BYTES)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    before, after = map(int, done.stdout.split())
    assert before == 64 * 1024  # httpcore's own read size: a canary for an upgrade
    assert after == read_size.READ_SIZE == 256 * 1024
