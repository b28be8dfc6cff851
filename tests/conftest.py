"""Shared fixtures: every test runs with its configuration directory under tmp_path; the bundled
server on loopback in its own thread (`server`) or on the test's loop (`project_server`); display
times in UTC (`utc`).

FLOWVIEW_CONFIG_DIR (honoured by flowview.config.config_dir) and XDG_CONFIG_HOME are pointed at
the test's tmp_path, and a guard fails any test that changed the real user configuration
directory anyway (toot's TOOT_TESTING idea, checked after the fact).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC
from pathlib import Path

import platformdirs
import pytest

from flowview.model import render
from flowview.server.runner import RunningServer, ServerOptions, ServerThread, run_server
from tests.tui.apphttp import close_http

# `from helpers import wait_until` works whether or not tests/ is a package.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

# Computed before any test can alter the environment.
REAL_CONFIG_DIRS: tuple[Path, ...] = tuple(
    {
        platformdirs.user_config_path("flowview", appauthor=False),
        *(
            [Path(os.environ["FLOWVIEW_CONFIG_DIR"]).expanduser()]
            if os.environ.get("FLOWVIEW_CONFIG_DIR")
            else []
        ),
    }
)

CREDENTIAL_ENV = (
    "FLOWDOCK_TOKEN",
    "FLOWDOCK_TOKEN_KIND",
    "FLOWDOCK_STREAM_URL",
    "FLOWDOCK_API_URL",
)


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...] | None:
    """What a test could have changed in a directory: entries, sizes, mtimes (None: absent)."""
    if not directory.exists():
        return None
    entries: list[tuple[str, int, int]] = []
    for path in sorted(directory.rglob("*")):
        try:
            st = path.lstat()
        except OSError:
            continue
        entries.append((str(path), st.st_size, st.st_mtime_ns))
    st = directory.stat()
    entries.append((str(directory), st.st_mode, st.st_mtime_ns))
    return tuple(entries)


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point flowview's config directory (and XDG's) at tmp_path for every test."""
    before = {d: _fingerprint(d) for d in REAL_CONFIG_DIRS}
    config = tmp_path / "flowview-config"
    monkeypatch.setenv("FLOWVIEW_CONFIG_DIR", str(config))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    # Credentials from the developer's shell must never leak into a test.
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    yield config
    for directory, fingerprint in before.items():
        if _fingerprint(directory) != fingerprint:
            pytest.fail(f"test changed the real configuration directory {directory}")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data directory (archives, outbox) under tmp_path/data, via FLOWVIEW_DATA_DIR
    (tests/protocol/conftest.py has its own, one level deeper)."""
    directory = tmp_path / "data"
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(directory))
    return directory


@pytest.fixture
def server() -> Iterator[ServerThread]:
    """The bundled server on loopback in its own thread, quiet (rate=0): tests post what they
    need (tests/server calls `project_server` by this name; test_tail.py runs one as a process)."""
    with ServerThread(ServerOptions(rate=0, seed=1)) as srv:
        yield srv
        close_http(srv)  # the keep-alive client tests/tui/apphttp.py made for it, if any


@pytest.fixture
async def project_server() -> AsyncIterator[RunningServer]:
    """The project's own server on the test's loop, quiet (no simulated traffic), faults
    enabled: for tests that drive it from the loop (protocol, server)."""
    async with run_server(ServerOptions(rate=0)) as running:
        yield running


@pytest.fixture
def utc() -> Iterator[None]:
    """Times and day separators in UTC, so rows are the same on every machine."""
    render.set_display_timezone(UTC)
    yield
    render.set_display_timezone(None)
