"""Drive the whole app against the bundled server over loopback HTTP: build the app
(make_app, settings_for), post as other users (post, post_private), queue server faults, wait for
the app to go live, and read tabs and logs back.  Shared by the app tests (a helper module, no
fixtures: those are in conftest.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from flowview.config import Settings
from flowview.protocol.auth import Token
from flowview.protocol.client import StreamClient, StreamConfig
from flowview.protocol.rest import RestClient
from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.screens.main import PRIVATE_MARK
from flowview.tui.widgets.flow_log import FlowLog
from tests.helpers import wait_until
from tests.tui.apphttp import http

log = logging.getLogger(__name__)

SIZE = (120, 40)
FLOW_SLUGS = ["acme/main", "globex/dev-ops", "acme/random", "globex/releases"]
FLOW_NAMES = ["Main", "Dev Ops", "Random", "Releases"]


def user_token(srv: ServerThread, nick: str) -> str:
    for user in srv.state.users.values():
        if user.nick == nick:
            return user.token
    raise KeyError(nick)


def me_id(srv: ServerThread) -> str:
    assert srv.state.me is not None
    return srv.state.me.id


def post(srv: ServerThread, slug: str, text: str, *, as_nick: str = "kenji", **fields: Any) -> int:
    """Post a message into a flow as another user (REST, real HTTP); returns its id."""
    response = http(srv).post(
        f"{srv.api_url}/flows/{slug}/messages",
        json={"event": "message", "content": text, **fields},
        auth=(user_token(srv, as_nick), ""),
    )
    response.raise_for_status()
    return int(response.json()["id"])


def post_private(srv: ServerThread, text: str, *, as_nick: str = "ngozi") -> int:
    response = http(srv).post(
        f"{srv.api_url}/private/{me_id(srv)}/messages",
        json={"event": "message", "content": text},
        auth=(user_token(srv, as_nick), ""),
    )
    response.raise_for_status()
    return int(response.json()["id"])


def fault(srv: ServerThread, **spec: Any) -> None:
    http(srv).post(
        f"{srv.base_url}/_faults", json=spec, headers=srv.control_headers
    ).raise_for_status()


def connections(srv: ServerThread) -> list[dict[str, Any]]:
    data = http(srv).get(f"{srv.base_url}/_faults", headers=srv.control_headers).json()
    return list(data["open"])


def settings_for(srv: ServerThread, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "stream_url": srv.stream_url,
        "api_url": srv.api_url,
        "flows": list(FLOW_SLUGS),
        "private": True,
    }
    values.update(changes)
    return Settings(**values)


def make_app(srv: ServerThread, token: str | None = None, **kw: Any) -> FlowviewApp:
    settings = kw.pop("settings", None) or settings_for(srv)
    app = FlowviewApp(settings, Token(token or srv.token), **kw)
    app.animation_level = "none"  # Pilot waits for animations; tests need not
    return app


async def wait_live(pilot: Pilot[Any], app: FlowviewApp, tabs: int = 4) -> None:
    await wait_until(
        pilot,
        lambda: app.main.status.state == "live" and len(app.main.keys_in_order()) >= tabs,
        timeout=15.0,
        message="app did not go live",
    )


def label(app: FlowviewApp, index: int) -> str:
    main = app.main
    key = main.keys_in_order()[index]
    pane = main.pane_id(key)
    assert pane is not None
    return bare(main.tabbed.get_tab(pane).label.plain)


def bare(text: str) -> str:
    """A tab label without its "org/" or "✉ " prefix (tests/tui/test_tab_bar.py checks those)."""
    text = text.removeprefix(PRIVATE_MARK)
    head, sep, rest = text.partition("/")
    return rest if sep and " " not in head else text


def labels(app: FlowviewApp) -> list[str]:
    return [label(app, i) for i in range(len(app.main.keys_in_order()))]


def active_index(app: FlowviewApp) -> int:
    main = app.main
    active = main.active_key
    assert active is not None
    return main.keys_in_order().index(active)


def log_text(log: FlowLog) -> str:
    return "\n".join(log.row_text(y).rstrip() for y in range(log.total_rows))


def store_ids(app: FlowviewApp, index: int) -> list[int]:
    key = app.main.keys_in_order()[index]
    return [m.id for m in app.stores()[key] if m.id is not None]


class Gate:
    """An injectable sleep for the stream client: backoff waits until the test opens it."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.event = asyncio.Event()

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await self.event.wait()
        self.event.clear()

    def factory(self) -> Callable[[StreamConfig, RestClient], StreamClient]:
        return lambda config, rest: StreamClient(config, sleep=self.sleep, rest=rest)
