"""Fixtures of the protocol tests: the project's server on loopback (stream-client and outbox
tests; `project_server` itself is in tests/conftest.py), a scripted loopback API and a store for
the outbox sender, and the loop's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowview.protocol.auth import Token
from flowview.protocol.outbox_store import OutboxStore
from flowview.protocol.rest import RestClient
from flowview.protocol.sender import Sender, Transport
from flowview.server.runner import RunningServer
from tests.protocol.harness import Env, EnvFactory, LoopTime, open_env
from tests.protocol.sender_testkit import ScriptedApi


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """The project's server with no simulator traffic and fast keep-alives."""
    async with open_env() as e:
        yield e


@pytest.fixture
def make_env() -> EnvFactory:
    """`async with make_env(replay=5) as env:` for non-default server options."""
    return open_env


@pytest.fixture
async def trickle_url() -> AsyncIterator[str]:
    """An HTTP server on loopback that answers every request with headers and then one body
    byte every 0.2 s, forever (a per-read timeout never fires on it)."""

    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000\r\n\r\n["
            )
            while True:
                await writer.drain()
                await asyncio.sleep(0.2)
                writer.write(b" ")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api"
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        await server.wait_closed()


@pytest.fixture
def loop_time() -> LoopTime:
    """The loop's clock for a StreamClient (virtual under looptime), recording its sleeps."""
    return LoopTime()


@pytest.fixture
async def api() -> AsyncIterator[ScriptedApi]:
    server = ScriptedApi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def rest(api: ScriptedApi) -> AsyncIterator[RestClient]:
    async with httpx.AsyncClient() as http:
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
async def server_rest(project_server: RunningServer) -> AsyncIterator[RestClient]:
    async with httpx.AsyncClient() as http:
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
