"""The demo's throwaway profile and server: the environment is changed only on the caller's
thread (never from the worker thread that spawns the server), and faults are off unless asked."""

from __future__ import annotations

import os
import threading

import httpx
import pytest

from flowview.config import CONFIG_DIR_ENV
from flowview.protocol.datadir import DATA_DIR_ENV
from flowview.tui.launch import DemoOptions, DemoSession


def _start_in_thread(options: DemoOptions) -> DemoSession:
    box: list[DemoSession] = []
    worker = threading.Thread(target=lambda: box.append(DemoSession.start(options)))
    worker.start()
    worker.join(60)
    assert box, "the demo server did not start"
    return box[0]


def test_start_leaves_the_environment_alone_until_activated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv(CONFIG_DIR_ENV, "/nonexistent/mine")
    monkeypatch.setenv(DATA_DIR_ENV, "/nonexistent/my-data")
    demo = _start_in_thread(DemoOptions(rate=0))
    try:
        assert os.environ[CONFIG_DIR_ENV] == "/nonexistent/mine"
        demo.activate()
        assert os.environ[CONFIG_DIR_ENV] == demo.profile_dir
        # The demo's archive and outbox stay in the throwaway profile too.
        assert os.environ[DATA_DIR_ENV].startswith(demo.profile_dir)
        demo.deactivate()
        assert os.environ[CONFIG_DIR_ENV] == "/nonexistent/mine"
        assert os.environ[DATA_DIR_ENV] == "/nonexistent/my-data"
    finally:
        demo.stop()
    assert not os.path.exists(demo.profile_dir)


@pytest.mark.parametrize("asked", [False, True])
def test_demo_server_faults_only_when_asked(asked: bool) -> None:
    demo = _start_in_thread(DemoOptions(rate=0, faults=asked))
    try:
        base = demo.process.base_url
        answer = httpx.get(f"{base}/_faults", headers=demo.process.control_headers, timeout=10)
        assert (answer.status_code == 200) is asked
    finally:
        demo.stop()
