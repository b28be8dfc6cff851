"""One connected run: settings, token, router, the flows, and the one REST client.

Everything the app's REST calls share lives here, so `/flows` is fetched once per session and
one `RestClient` serves the stream client's back-fill, the loaders and the settings screen.
Nothing here touches widgets: `load_identity_and_flows` / `load_users` return what went wrong
as short, token-free lines for the status bar.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from flowview.config import Settings
from flowview.model.budget import MessageBudget
from flowview.model.router import Router
from flowview.model.sanitize import clean_name
from flowview.protocol.auth import Token, redact
from flowview.tui.archive_link import ArchiveLink

if TYPE_CHECKING:
    from flowview.protocol.rest import Flow, RestClient

log = logging.getLogger(__name__)

__all__ = [
    "NETWORK_MODULES",
    "TOKEN_REJECTED",
    "Session",
    "describe_error",
    "load_network",
    "network_error_types",
]

# What talks to the server.  Importing these costs ~0.15 s (httpx also loads its command-line
# interface: click, pygments), so they are not imported with the app: the first frame does
# not wait for them.  Once it is painted, the bootstrap imports them in a thread.
NETWORK_MODULES = ("httpx", "flowview.protocol.rest", "flowview.protocol.client")


def _import_network() -> None:
    for name in NETWORK_MODULES:
        importlib.import_module(name)


async def load_network() -> None:
    """Import NETWORK_MODULES without blocking the event loop (a no-op once loaded)."""
    if not all(name in sys.modules for name in NETWORK_MODULES):
        await asyncio.to_thread(_import_network)


# What a 401 tells the user, in one line that fits the status bar (issue 10 item 8).
TOKEN_REJECTED = "token rejected: f3 to change it, or `flowview logout`"


def network_error_types() -> tuple[type[BaseException], ...]:
    """The errors a REST call raises (ApiError, httpx.HTTPError), for `except` clauses."""
    import httpx

    from flowview.protocol.rest import ApiError

    return (ApiError, httpx.HTTPError)


def describe_error(exc: BaseException, token: Token | None) -> str:
    """One sanitised, token-free line about a failed call."""
    import httpx

    from flowview.protocol.rest import ApiError, AuthError

    if isinstance(exc, AuthError):
        return TOKEN_REJECTED
    if isinstance(exc, ApiError):
        text = f"HTTP {exc.status}: {exc.message}" if exc.status else str(exc.message)
    elif isinstance(exc, httpx.HTTPError):
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
    return clean_name(redact(text, token) if token is not None else text)


@dataclass
class Session:
    """What one connected run needs: settings, token and the clients made from them."""

    settings: Settings
    token: Token
    router: Router
    flows_by_slug: dict[str, Flow] = field(default_factory=dict)
    flows_by_id: dict[str, Flow] = field(default_factory=dict)
    # Every flow /flows listed (None: not fetched yet); the settings screen shows these.
    flows: list[Flow] | None = None
    # No flows chosen (the demo, or setup saved with none ticked): every joined flow,
    # including flows joined while running (tui/joined_flows.py).
    follow_all: bool = False
    _rest: RestClient | None = field(default=None, repr=False)
    # The local archive, opened once /user answers (runs without it when that fails).
    archive: ArchiveLink = field(default_factory=ArchiveLink, repr=False)
    # Messages all stores may hold together (model/budget.py).
    budget: MessageBudget = field(
        default_factory=lambda: MessageBudget(Settings.memory_messages), repr=False
    )

    @classmethod
    def create(cls, settings: Settings, token: Token) -> Session:
        router = Router(settings.me_id or "", settings.me_nick or "", settings.scrollback)
        budget = MessageBudget(settings.memory_messages)
        return cls(settings=settings, token=token, router=router, budget=budget)

    @property
    def rest(self) -> RestClient:
        """The one REST client of this session, made on first use (see NETWORK_MODULES)."""
        if self._rest is None:
            from flowview.protocol.rest import RestClient

            self._rest = RestClient(self.settings.api_url, self.token)
        return self._rest

    async def aclose(self) -> None:
        rest, self._rest = self._rest, None
        if rest is not None:
            await rest.aclose()
        await self.archive.aclose()

    def remember_flow(self, flow: Flow) -> None:
        self.flows_by_slug[flow.slug] = flow
        self.flows_by_id[flow.id] = flow
        self.router.add_flows([flow])

    async def flow(self, slug: str) -> Flow | None:
        """The flow named `slug` (REST only when /flows did not list it); None on failure."""
        flow = self.flows_by_slug.get(slug)
        if flow is not None:
            return flow
        try:
            flow = await self.rest.flow(slug)
        except network_error_types() as exc:
            log.warning("flow %s: %s", slug, describe_error(exc, self.token))
            return None
        self.remember_flow(flow)
        return flow

    async def load_identity_and_flows(self) -> list[str]:
        """`/user` and `/flows`; returns the problems (empty when both answered)."""
        problems: list[str] = []
        errors = network_error_types()
        rest, router = self.rest, self.router
        try:
            me = await rest.user()
            router.set_me(me.id, me.nick)
        except errors as exc:
            problems.append(f"user: {describe_error(exc, self.token)}")
        else:
            await self.archive.open(self.settings.api_url, str(me.id))
        flows: list[Flow] = []
        try:
            flows = await rest.flows()
            self.flows = list(flows)
        except errors as exc:
            problems.append(f"flows: {describe_error(exc, self.token)}")
        router.add_flows(flows)
        self.archive.flows(flows)
        self.flows_by_slug = {f.slug: f for f in flows}
        self.flows_by_id = {f.id: f for f in flows}
        if not self.settings.flows:
            # No choice saved (the demo): every joined flow, now and later (also when /flows
            # failed here: the follower re-reads it once the stream is live).
            self.follow_all = True
            if flows:
                self.settings = replace(self.settings, flows=[f.slug for f in flows if f.joined])
        for problem in problems:
            log.warning("bootstrap: %s", problem)
        return problems

    async def load_users(self) -> list[str]:
        try:
            users = await self.rest.users()
            self.router.add_users(users)
            self.archive.users(users)
        except network_error_types() as exc:
            problem = f"users: {describe_error(exc, self.token)}"
            log.warning("bootstrap: %s", problem)
            return [problem]
        return []
