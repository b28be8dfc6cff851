"""Fixtures of the server tests: `server` is tests/conftest.py's `project_server` (the server on
the test's loop) by the name these tests use."""

from __future__ import annotations

import pytest

from flowview.server.runner import RunningServer


@pytest.fixture
def server(project_server: RunningServer) -> RunningServer:
    """A quiet server (no simulated traffic) on a free loopback port, on the test's loop."""
    return project_server
