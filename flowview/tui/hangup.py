"""A lost terminal ends the program within :data:`EXIT_WITHIN` seconds, demo server included.

Why: when the terminal goes away (SSH drop, ``tmux kill-session``) the process gets SIGHUP and
its stdin reaches end of input. Textual 8.2.8's Linux driver input thread then loops on
``read() == 0`` (100% CPU) and writes to the dead terminal can kill its writer thread, after
which the main thread blocks on the writer's full queue: one try in ~12 never exited.

:class:`HangupGuard` watches for both signs from its own thread, using public APIs only:

* SIGHUP/SIGTERM: the signal handler only writes a byte to a self-pipe (async-signal-safe);
* end of input: ``poll()`` on stdin reports ``POLLHUP``/``POLLERR``/``POLLNVAL`` (a poll with
  no requested events reads nothing, so Textual's own input thread loses no key).

On either it stops the demo server (and any ``flowview.server`` child still starting), asks the
app to exit (``App.call_from_thread(app.exit)``), and if the app has not returned by the
deadline, ends the process with ``os._exit`` — a hung Textual shutdown cannot keep it alive.

Clock: the guard measures its deadline on the monotonic wall clock, not the event loop's: it
exists for when that loop may be wedged.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Final

log = logging.getLogger(__name__)

__all__ = ["EXIT_WITHIN", "GuardState", "HangupGuard", "own_server_children"]

EXIT_WITHIN: Final = 2.0  # seconds from the hang-up to a gone process (issue 10 item 3)
_GRACE: Final = 1.0  # of which the app gets this long to exit cleanly
_SERVER_STOP: Final = 0.5  # SIGINT, then SIGKILL after this long
_HUP_MASK: Final = select.POLLHUP | select.POLLERR | select.POLLNVAL


class GuardState(enum.Enum):
    """Life of a guard: WATCHING → HANGING_UP → DONE, or WATCHING → DONE (normal exit)."""

    IDLE = "idle"
    WATCHING = "watching"
    HANGING_UP = "hanging up"
    DONE = "done"


_TRANSITIONS: Final[dict[GuardState, frozenset[GuardState]]] = {
    GuardState.IDLE: frozenset({GuardState.WATCHING, GuardState.DONE}),
    GuardState.WATCHING: frozenset({GuardState.HANGING_UP, GuardState.DONE}),
    GuardState.HANGING_UP: frozenset({GuardState.DONE}),
    GuardState.DONE: frozenset(),
}


def own_server_children() -> list[int]:
    """Pids of this process's ``flowview.server`` children (Linux ``/proc``; else none).

    A demo server still starting (its handle not yet returned to the app) is only found here.
    """
    me = os.getpid()
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != me:
                continue
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if b"flowview.server" in cmdline:
            found.append(int(entry.name))
    return found


def _stop_pids(pids: list[int], within: float) -> None:
    """SIGINT (the server's clean shutdown), then SIGKILL whatever remains after ``within``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + within
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        remaining = [pid for pid in remaining if _alive(pid)]
        time.sleep(0.02)
    for pid in remaining:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        _alive(pid)  # reap


def _alive(pid: int) -> bool:
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0


class HangupGuard:
    """Watches for a lost terminal while ``app.run()`` runs (see the module docstring).

    ``stop_demo`` stops the app's demo server if it has one (called from the guard's thread);
    ``exit_process`` is ``os._exit`` except in tests.
    """

    def __init__(
        self,
        app: Any,
        stop_demo: Callable[[], None],
        *,
        stdin_fd: int | None = 0,
        exit_process: Callable[[int], None] = os._exit,
        signals: tuple[signal.Signals, ...] = (signal.SIGHUP, signal.SIGTERM),
    ) -> None:
        self.app = app
        self.stop_demo = stop_demo
        self.stdin_fd = stdin_fd
        self.exit_process = exit_process
        self.signals = signals
        self.state = GuardState.IDLE
        self.reason: str | None = None
        self.signum: int | None = None
        self._lock = threading.Lock()
        self._app_returned = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._previous: dict[signal.Signals, Any] = {}
        self._thread = threading.Thread(target=self._watch, name="flowview-hangup", daemon=True)

    def _move(self, new: GuardState) -> bool:
        """Change state if allowed from the current one; False (and no change) otherwise."""
        with self._lock:
            if new not in _TRANSITIONS[self.state]:
                return False
            self.state = new
            return True

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> HangupGuard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not self._move(GuardState.WATCHING):
            raise RuntimeError(f"cannot start a guard that is {self.state.value}")
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        self._thread.start()

    def stop(self) -> None:
        """The app returned: stop watching (waits for a hang-up in progress to finish)."""
        self._app_returned.set()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        self._move(GuardState.DONE)
        self._wake()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(EXIT_WITHIN)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # ------------------------------------------------------------------ detection

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only async-signal-safe work here: the guard's thread does the rest.
        self.signum = signum
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    def _watch(self) -> None:
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        if self.stdin_fd is not None:
            poller.register(self.stdin_fd, 0)  # hang-up and errors are always reported
        while True:
            try:
                ready = poller.poll(1000)
            except InterruptedError:
                continue
            if self._app_returned.is_set():
                return
            reason = None
            for fd, mask in ready:
                if fd == self._wake_r and self.signum is not None:
                    reason = signal.Signals(self.signum).name
                elif fd == self.stdin_fd and mask & _HUP_MASK:
                    reason = "end of input"
            if reason is not None:
                self._hang_up(reason)
                return

    # ------------------------------------------------------------------ reaction

    def _hang_up(self, reason: str) -> None:
        if not self._move(GuardState.HANGING_UP):
            return
        started = time.monotonic()
        self.reason = reason
        code = 128 + (self.signum or signal.SIGHUP)
        log.warning("terminal lost (%s): exiting", reason)
        threading.Thread(target=self._ask_app_to_exit, args=(code,), daemon=True).start()
        try:
            self.stop_demo()
        except Exception:
            log.exception("stopping the demo server after a hang-up failed")
        _stop_pids(own_server_children(), _SERVER_STOP)
        if not self._app_returned.wait(max(_GRACE - (time.monotonic() - started), 0.0)):
            log.warning("the app did not exit within %.1f s of the hang-up: ending", _GRACE)
            _stop_pids(own_server_children(), 0.1)  # one may have started meanwhile
            self._move(GuardState.DONE)
            self.exit_process(code)

    def _ask_app_to_exit(self, code: int) -> None:
        try:
            self.app.call_from_thread(self.app.exit, None, code)
        except RuntimeError:
            log.debug("the app was not running when the terminal was lost")
        except Exception:
            log.exception("asking the app to exit after a hang-up failed")
