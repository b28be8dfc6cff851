"""Entry points of the viewer: `flowview` (saved setup) and `flowview demo` (bundled server).

The demo runs the bundled Flowdock-compatible server as a subprocess on a free loopback port
and points the app at it over real HTTP, with a throwaway profile: FLOWVIEW_CONFIG_DIR is set
to a temporary directory for as long as the demo runs, so nothing the app or its settings
screen saves can reach the user's real configuration.  Quitting stops the server.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, replace
from typing import Any

from flowview.config import (
    CONFIG_DIR_ENV,
    ConfigError,
    Settings,
    check_keymap,
    load_settings_report,
    resolve_connection,
)
from flowview.protocol.auth import Token
from flowview.protocol.datadir import DATA_DIR_ENV
from flowview.tui.hangup import HangupGuard

log = logging.getLogger(__name__)

__all__ = [
    "DemoOptions",
    "DemoSession",
    "add_demo_arguments",
    "main_demo",
    "main_tui",
]

DEMO_FLOWS = 4
DEMO_USERS = 8
DEMO_BACKLOG = 600  # back-dated events, so each flow opens with history
HANGUP_SERVER_STOP = 0.5  # seconds the demo server gets to stop after a hang-up


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hostile", action="store_true", help="mix in hostile content")
    parser.add_argument(
        "--rate", type=float, default=2.0, help="simulated messages per second (default 2)"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument(
        "--faults",
        action="store_true",
        help="enable the server's fault-injection endpoint (off by default)",
    )


@dataclass(frozen=True)
class DemoOptions:
    hostile: bool = False
    rate: float = 2.0
    seed: int = 1
    faults: bool = False  # the server's /_faults endpoint: only when asked for


@dataclass
class DemoSession:
    """A running demo server plus the throwaway profile the app uses meanwhile."""

    process: Any  # flowview.server.runner.ServerProcess
    settings: Settings
    token: Token
    profile_dir: str
    previous_config_dir: str | None
    previous_data_dir: str | None = None

    @classmethod
    def start(cls, options: DemoOptions) -> DemoSession:
        """Blocking (spawns a process and waits for its address): call from a thread."""
        from flowview.server.runner import ServerOptions, spawn_server_process

        profile_dir = tempfile.mkdtemp(prefix="flowview-demo-")
        try:
            process = spawn_server_process(
                ServerOptions(
                    host="127.0.0.1",
                    port=0,
                    seed=options.seed,
                    rate=options.rate,
                    flows=DEMO_FLOWS,
                    users=DEMO_USERS,
                    hostile=options.hostile,
                    backlog=DEMO_BACKLOG,
                    faults=options.faults,
                ),
                # Its log lines would land on top of the TUI.
                stderr=subprocess.DEVNULL,
            )
        except BaseException:
            shutil.rmtree(profile_dir, ignore_errors=True)
            raise
        settings = Settings(
            stream_url=process.stream_url,
            api_url=process.api_url,
            flows=[],  # empty: the app streams every flow the demo user has joined
            private=True,
            auto_idle_minutes=10,
        )
        session = cls(process, settings, Token(process.token), profile_dir, None)
        # The app's worker awaiting this thread may be cancelled while the server starts (the
        # app is exiting): a session started then is stopped here, never orphaned.
        with _live_lock:
            closing = _live.closing
            if not closing:
                _live.sessions.append(session)
        if closing:
            session.stop(HANGUP_SERVER_STOP)
            raise RuntimeError("flowview is exiting: demo server stopped")
        return session

    def activate(self) -> None:
        """Point the config and data directories at the throwaway profile, so the demo's
        settings, archive and outbox never mix with the user's.  Call on the main thread (the
        environment is process-wide; ``start`` runs in a worker thread and must not touch it)."""
        self.previous_config_dir = os.environ.get(CONFIG_DIR_ENV)
        self.previous_data_dir = os.environ.get(DATA_DIR_ENV)
        os.environ[CONFIG_DIR_ENV] = self.profile_dir
        os.environ[DATA_DIR_ENV] = os.path.join(self.profile_dir, "data")

    def deactivate(self) -> None:
        """Undo :meth:`activate` (main thread)."""
        _restore_env(CONFIG_DIR_ENV, self.previous_config_dir)
        _restore_env(DATA_DIR_ENV, self.previous_data_dir)

    def stop(self, within: float = 10.0) -> None:
        """Stop the server (killed if not gone ``within`` seconds) and drop the profile.

        Safe from any thread: the environment is left to :meth:`deactivate`."""
        with _live_lock:
            _live.sessions = [other for other in _live.sessions if other is not self]
        try:
            self.process.terminate(within)
        except Exception:
            log.exception("stopping the demo server failed")
        shutil.rmtree(self.profile_dir, ignore_errors=True)


@dataclass
class _LiveDemos:
    """Demo sessions started and not stopped; ``closing`` once the app has returned."""

    sessions: list[DemoSession]
    closing: bool = False


_live_lock = threading.Lock()
_live = _LiveDemos([])


def _stop_every_demo(within: float) -> None:
    """The app returned: stop every demo session, including one that started too late for
    the app to know of it, and refuse new ones."""
    with _live_lock:
        _live.closing = True
        sessions = list(_live.sessions)
    for session in sessions:
        session.stop(within)


def _restore_env(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


def _run(app: Any) -> int:
    """Run the app; the demo server never outlives it (quit, crash, hang-up or SIGTERM).

    A lost terminal (SIGHUP, SIGTERM or end of input) ends the program within
    :data:`~flowview.tui.hangup.EXIT_WITHIN` seconds: see :class:`~flowview.tui.hangup.HangupGuard`.
    """

    def stop_demo(within: float = 10.0) -> None:
        demo, app.demo = app.demo, None
        if demo is not None:
            demo.stop(within)

    stdin_fd = 0 if os.isatty(0) else None
    with HangupGuard(app, lambda: stop_demo(HANGUP_SERVER_STOP), stdin_fd=stdin_fd) as guard:
        with _live_lock:
            _live.closing = False
        try:
            app.run()
        finally:
            guard.stop()
            stop_demo()
            _stop_every_demo(HANGUP_SERVER_STOP if guard.reason else 10.0)
    if guard.reason is not None:
        return 128 + (guard.signum or signal.SIGHUP)
    return int(app.return_code or 0)


def main_demo(args: argparse.Namespace) -> int:
    """`flowview demo`: the viewer on the bundled server with simulated traffic."""
    from flowview.tui.app import FlowviewApp

    options = DemoOptions(
        hostile=bool(getattr(args, "hostile", False)),
        rate=float(getattr(args, "rate", 2.0)),
        seed=int(getattr(args, "seed", 1)),
        faults=bool(getattr(args, "faults", False)),
    )
    # The server starts inside the app (a worker), so the first frame does not wait for it.
    return _run(FlowviewApp(None, None, demo_options=options))


@dataclass(frozen=True)
class Startup:
    """What `flowview` starts with: settings, token, a notice for the setup screen, and one
    line per settings entry that was skipped (shown at start and by f1)."""

    settings: Settings | None
    token: Token | None
    notice: str | None = None
    problems: tuple[str, ...] = ()


def load_startup() -> Startup:
    """The saved settings and token.  Never raises for a config problem."""
    try:
        report = load_settings_report()
    except ConfigError as exc:
        return Startup(None, None, f"Your saved configuration could not be used: {exc}")
    settings = report.settings
    if settings is None:
        return Startup(None, None)
    problems = report.problems
    if settings.keymap:
        # Only then: listing every binding imports every screen.
        from flowview.config import settings_path
        from flowview.tui.binding_ids import all_binding_ids

        unknown = check_keymap(settings.keymap, all_binding_ids())
        for problem in unknown:
            log.warning("%s", problem)
        problems += tuple(f"{settings_path()}: {p}" for p in unknown)
    try:
        token, stream, api = resolve_connection()
    except ConfigError as exc:
        return Startup(settings, None, f"Your saved token could not be used: {exc}", problems)
    if token is None:
        return Startup(settings, None, "No saved token: enter it again.", problems)
    # FLOWDOCK_STREAM_URL / FLOWDOCK_API_URL override what is saved (as for `flowview tail`).
    return Startup(replace(settings, stream_url=stream, api_url=api), token, None, problems)


def main_tui(args: argparse.Namespace) -> int:
    """`flowview`: saved setup straight to the flows, otherwise the setup screen first."""
    start = load_startup()
    prelude = None
    if start.settings is not None and start.token is not None:
        # Warm start's first tab is read while Textual is imported (tui/warm_prelude.py).
        from flowview.tui.warm_prelude import Prelude

        prelude = Prelude.early(start.settings, start.token)
    from flowview.tui.app import FlowviewApp

    # The setup screen's "Try the demo" can start a demo server too.
    return _run(
        FlowviewApp(
            start.settings,
            start.token,
            setup_notice=start.notice,
            settings_problems=start.problems,
            prelude=prelude,
        )
    )
