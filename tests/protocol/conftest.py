"""Fixtures for the stream-client tests: the project's server on loopback and a clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from flowview.protocol.auth import Token
from flowview.protocol.rest import RestClient
from flowview.server.runner import ServerOptions, run_server
from tests.protocol.harness import Env, ScaledTime

EnvFactory = Callable[..., AbstractAsyncContextManager[Env]]


@asynccontextmanager
async def _env(**options: Any) -> AsyncIterator[Env]:
    base: dict[str, Any] = {"rate": 0, "keepalive": 0.05, "activity_interval": 3600}
    base.update(options)
    async with run_server(ServerOptions(**base)) as srv:
        token = Token(srv.token)
        rest = RestClient(srv.api_url, token)
        try:
            slugs = [f.slug for f in await rest.flows()]
            async with httpx.AsyncClient() as control:
                yield Env(srv, token, rest, slugs, control)
        finally:
            await rest.aclose()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """The project's server with no simulator traffic and fast keep-alives."""
    async with _env() as e:
        yield e


@pytest.fixture
def make_env() -> EnvFactory:
    """`async with make_env(replay=5) as env:` for non-default server options."""
    return _env


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
def scaled() -> ScaledTime:
    """Client time at 100x real time (for the fault tests still on scaled wall time)."""
    return ScaledTime(100.0)
