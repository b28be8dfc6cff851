"""Fixtures for the outbox sender tests: a scripted loopback API, a RestClient on it, a store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowview.protocol.auth import Token
from flowview.protocol.outbox_store import OutboxStore
from flowview.protocol.rest import RestClient
from flowview.protocol.sender import Sender, Transport, retry_after_hook
from flowview.server.runner import RunningServer, ServerOptions, run_server
from tests.protocol.sender_testkit import ScriptedApi


@pytest.fixture
async def api() -> AsyncIterator[ScriptedApi]:
    server = ScriptedApi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def rest(api: ScriptedApi) -> AsyncIterator[RestClient]:
    async with httpx.AsyncClient(event_hooks={"response": [retry_after_hook]}) as http:
        yield RestClient(api.base_url, Token("sender-test-token"), http=http)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "data" / "flowview"
    monkeypatch.setenv("FLOWVIEW_DATA_DIR", str(directory))
    return directory


@pytest.fixture
def make_sender(data_dir: Path) -> Iterator[Callable[..., Sender]]:
    """Senders over the test's store directory (jitter off); stores closed at the end."""
    made: list[Sender] = []

    def make(transport: Transport, **kw: Any) -> Sender:
        kw.setdefault("rng", lambda: 0.0)
        sender = Sender(transport, OutboxStore(data_dir), **kw)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        sender.close_store()


@pytest.fixture
async def project_server() -> AsyncIterator[RunningServer]:
    """The project's own server, quiet (no simulated traffic), faults enabled."""
    async with run_server(ServerOptions(rate=0)) as running:
        yield running


@pytest.fixture
async def server_rest(project_server: RunningServer) -> AsyncIterator[RestClient]:
    async with httpx.AsyncClient(event_hooks={"response": [retry_after_hook]}) as http:
        yield RestClient(project_server.api_url, Token(project_server.token), http=http)


@pytest.fixture
async def add_fault(project_server: RunningServer) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    """Queue a fault on the project server (``POST /_faults``)."""
    async with httpx.AsyncClient(
        base_url=project_server.base_url, headers=project_server.control_headers
    ) as http:

        async def add(**fault: object) -> None:
            r = await http.post("/_faults", json=fault)
            assert r.status_code == 201, r.text

        yield add
