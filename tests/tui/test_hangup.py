"""A lost terminal ends the program: HangupGuard on its own, and `flowview demo` on a real pty.

The pty test closes the terminal without a SIGHUP (the child is in its own session, so the pty
is not its controlling terminal): only end of input tells it the terminal is gone. Textual
8.2.8 alone loops on read() == 0 forever there; the tmux tests (test_tmux_e2e.py) cover the
SIGHUP path.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from flowview.tui import launch
from flowview.tui.hangup import EXIT_WITHIN, GuardState, HangupGuard, own_server_children

pytestmark = pytest.mark.timeout(90)


class FakeApp:
    """Records exit requests; ``hangs`` makes it ignore them (a stuck Textual shutdown)."""

    def __init__(self, *, hangs: bool = False) -> None:
        self.hangs = hangs
        self.exit_codes: list[int] = []
        self.exited = threading.Event()

    def call_from_thread(self, callback: Any, *args: Any) -> None:
        callback(*args)

    def exit(self, result: object = None, return_code: int = 0) -> None:
        self.exit_codes.append(return_code)
        if not self.hangs:
            self.exited.set()


def run_guarded(app: FakeApp, trigger: Any, stdin_fd: int | None) -> tuple[HangupGuard, float]:
    """Start a guard, fire ``trigger``, play the app's part; (guard, seconds to the end)."""
    exits: list[int] = []
    done = threading.Event()
    stopped: list[bool] = []

    def exit_process(code: int) -> None:
        exits.append(code)
        done.set()

    guard = HangupGuard(
        app, lambda: stopped.append(True), stdin_fd=stdin_fd, exit_process=exit_process
    )
    guard.start()
    started = time.monotonic()
    trigger()
    while not (app.exited.is_set() or done.is_set()):
        if time.monotonic() - started > 5:
            break
        time.sleep(0.01)  # the app's main loop, in real time: the guard works on wall time
    elapsed = time.monotonic() - started
    guard.stop()  # what _run does when app.run() returns
    assert stopped == [True], "the demo server was not stopped"
    if app.hangs:
        assert exits == [129]
    else:
        assert exits == []
    return guard, elapsed


def test_end_of_input_asks_the_app_to_exit() -> None:
    read_end, write_end = os.pipe()
    try:
        app = FakeApp()
        guard, elapsed = run_guarded(app, lambda: os.close(write_end), read_end)
        assert app.exit_codes == [128 + signal.SIGHUP]
        assert guard.reason == "end of input" and guard.state is GuardState.DONE
        assert elapsed < 1.0
    finally:
        os.close(read_end)


def test_sighup_asks_the_app_to_exit_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGHUP)
    app = FakeApp()
    guard, elapsed = run_guarded(app, lambda: os.kill(os.getpid(), signal.SIGHUP), None)
    assert guard.reason == "SIGHUP" and app.exit_codes == [129]
    assert elapsed < 1.0
    assert signal.getsignal(signal.SIGHUP) == before


def test_an_app_that_does_not_exit_is_ended_within_the_deadline() -> None:
    app = FakeApp(hangs=True)
    _guard, elapsed = run_guarded(app, lambda: os.kill(os.getpid(), signal.SIGHUP), None)
    assert app.exit_codes == [129]
    assert elapsed < EXIT_WITHIN


def test_a_normal_exit_stops_watching_and_a_guard_runs_once() -> None:
    read_end, write_end = os.pipe()
    guard = HangupGuard(FakeApp(), lambda: None, stdin_fd=read_end)
    guard.start()
    guard.stop()
    assert guard.state is GuardState.DONE and guard.reason is None
    with pytest.raises(RuntimeError):
        guard.start()
    os.close(read_end)
    os.close(write_end)


# ---------------------------------------------------------------- the real program on a pty


def marked_processes(mark: str) -> list[int]:
    """Pids of processes whose environment carries ``mark`` (the app and its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_demo_exits_when_its_terminal_reaches_end_of_input(tmp_path: Path) -> None:
    mark = f"FLOWVIEW_TEST_MARK=eof-{os.getpid()}"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", FLOWVIEW_CONFIG_DIR=str(tmp_path / "config"))
    env["FLOWVIEW_TEST_MARK"] = mark.split("=", 1)[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowview", "demo", "--rate", "1"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,  # no controlling terminal: closing it sends no SIGHUP
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    os.close(slave)
    try:
        screen = b""
        deadline = time.monotonic() + 60
        while b"live" not in screen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                screen += os.read(master, 65536)
        assert b"live" in screen, "the demo never connected"
        assert len(marked_processes(mark)) == 2  # the app and its demo server
        os.close(master)
        closed = time.monotonic()
        while marked_processes(mark) and time.monotonic() - closed < 10:
            time.sleep(0.02)
        gone_after = time.monotonic() - closed
        print(f"gone {gone_after:.2f} s after end of input")
        assert not marked_processes(mark), "a flowview process survived end of input"
        assert proc.wait(1) == 128 + signal.SIGHUP
        assert gone_after < EXIT_WITHIN + 0.5  # scheduling slack on a loaded machine
    finally:
        for pid in marked_processes(mark):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- demo sessions at exit


@pytest.fixture
def live_demos(monkeypatch: pytest.MonkeyPatch) -> launch._LiveDemos:
    fresh = launch._LiveDemos([])
    monkeypatch.setattr(launch, "_live", fresh)
    return fresh


def test_a_demo_started_after_the_app_returned_is_stopped(live_demos: launch._LiveDemos) -> None:
    """The app's worker was cancelled while the server started: nobody would stop it."""
    live_demos.closing = True
    with pytest.raises(RuntimeError, match="exiting"):
        launch.DemoSession.start(launch.DemoOptions())
    assert own_server_children() == [] and live_demos.sessions == []


def test_every_demo_still_running_is_stopped_when_the_app_returns(
    live_demos: launch._LiveDemos,
) -> None:
    session = launch.DemoSession.start(launch.DemoOptions())
    try:
        assert live_demos.sessions == [session]
        assert session.process.process.pid in own_server_children()
    finally:
        launch._stop_every_demo(1.0)
    assert own_server_children() == [] and live_demos.sessions == []
    assert session.process.process.poll() is not None
