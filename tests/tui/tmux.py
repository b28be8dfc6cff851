"""A private tmux server for the end-to-end tests (fixtures in conftest.py): run a command in
a session, send keys, read the screen.  `-L <socket>` keeps the tests away from any tmux
session of the user."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

E2E_SESSION = "flowview-e2e"  # tests/tui/test_tmux_e2e.py
SEND_SESSION = "flowview-send"  # tests/tui/test_tmux_send.py


class Tmux:
    def __init__(self, socket: str, session: str, timeout: float = 10.0) -> None:
        self.socket = socket
        self.session = session
        self.timeout = timeout  # wait_for's default
        self.log_file: Path | None = None  # the app's log, quoted when a wait fails

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session, check=False).returncode == 0

    def wait_for(self, predicate: Callable[[str], bool], timeout: float | None = None) -> str:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"screen never matched; last screen:\n{text}{self._log_tail()}"
                )
            time.sleep(0.1)

    def _log_tail(self, lines: int = 40) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return "\napp log (last lines):\n" + "\n".join(tail)
