"""Keep-alive HTTP clients of the app tests, one per server (a helper module, no fixtures)."""

from __future__ import annotations

import httpx

from flowview.server.runner import ServerThread

_clients: dict[str, httpx.Client] = {}


def http(srv: ServerThread) -> httpx.Client:
    """One keep-alive client per server: posting hundreds of messages stays quick."""
    client = _clients.get(srv.base_url)
    if client is None:
        client = _clients[srv.base_url] = httpx.Client(timeout=10)
    return client


def close_http(srv: ServerThread) -> None:
    client = _clients.pop(srv.base_url, None)
    if client is not None:
        client.close()
