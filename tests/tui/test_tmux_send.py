"""End to end in a real terminal: in `flowview demo` under tmux, type a message, press Enter,
and see it exactly once (shown at once, then confirmed in place by the server's echo)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SESSION = "flowview-send"


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", SESSION).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", SESSION, *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", SESSION, check=False).returncode == 0

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never matched; last screen:\n{text}")
            time.sleep(0.1)


@pytest.fixture
def tmux_send() -> Iterator[Tmux]:
    tm = Tmux(f"flowview-send-{os.getpid()}")
    yield tm
    tm.run("kill-server", check=False)


def test_a_message_typed_in_the_demo_is_shown_exactly_once(tmux_send: Tmux, tmp_path: Path) -> None:
    tmux = tmux_send
    repo = Path(__file__).resolve().parents[2]
    command = (
        f"cd {repo} && exec env -u COLUMNS -u LINES "
        f"{sys.executable} -m flowview demo --rate 1 --seed 3"
    )
    tmux.run(
        "new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40",
        "-e", f"FLOWVIEW_CONFIG_DIR={tmp_path / 'config'}",
        "-e", "TERM=xterm-256color",
        command,
    )  # fmt: skip
    tmux.wait_for(lambda s: "● live" in s and "Releases" in s, timeout=40)
    text = f"typed in tmux {os.getpid()}"
    tmux.keys("-l", text)  # literally, as typed
    tmux.wait_for(lambda s: text in s)  # in the input line
    tmux.keys("Enter")
    # In the log, confirmed: no "[sending]" after it, and the input line is empty again.
    screen = tmux.wait_for(lambda s: s.count(text) == 1 and f"{text}  [" not in s, timeout=15)
    time.sleep(1.5)  # an echo arriving late would show a second copy now
    screen = tmux.screen()
    assert screen.count(text) == 1, screen
    tmux.keys("C-q")
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), "ctrl+q did not end the program (nothing is left to send)"
