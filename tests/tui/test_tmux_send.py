"""End to end in a real terminal: in `flowview demo` under tmux, type a message, press Enter,
and see it exactly once (shown at once, then confirmed in place by the server's echo)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.tui.tmux import SEND_SESSION as SESSION
from tests.tui.tmux import Tmux

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


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
