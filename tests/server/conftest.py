from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from flowview.server.runner import RunningServer, ServerOptions, run_server


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    """A quiet server (no simulated traffic) on a free loopback port."""
    async with run_server(ServerOptions(rate=0)) as running:
        yield running
