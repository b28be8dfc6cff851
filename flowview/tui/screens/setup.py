"""First-run setup: token, hosts, a token check through REST, then the flows to show.

Every string that comes from the server (names, nicks, error text) is sanitised with
`clean_name` and shown as `Content` built from plain text, never parsed as markup.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

import httpx
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Collapsible,
    Input,
    Label,
    Static,
)

from flowview.config import ConfigError, EnvConnection, Settings, save_settings, save_token
from flowview.model.sanitize import clean_name
from flowview.protocol.auth import Token, TokenKind, redact
from flowview.protocol.rest import ApiError, AuthError, Flow, RestClient, User
from flowview.protocol.urls import DEFAULT_API_URL, DEFAULT_STREAM_URL
from flowview.tui.deferred import deferred
from flowview.tui.widgets.flow_picker import FlowPicker, flow_label, sorted_flows
from flowview.tui.widgets.status_line import StatusKind, StatusLine, status_content
from flowview.tui.widgets.toggles import TickBox

log = logging.getLogger(__name__)

__all__ = [
    "DEMO",
    "SetupChoice",
    "SetupOutcome",
    "SetupResult",
    "SetupScreen",
    "check_base_url",
    "flow_label",
    "sorted_flows",
    "status_content",
]


class SetupChoice(enum.Enum):
    """Sentinel results of the setup screen other than a saved configuration."""

    DEMO = "demo"


DEMO = SetupChoice.DEMO


@dataclass(frozen=True)
class SetupResult:
    """What "Save and open" hands back to the app (both are already saved)."""

    settings: Settings
    token: Token


SetupOutcome: TypeAlias = SetupResult | Literal[SetupChoice.DEMO]


def check_base_url(text: str, what: str) -> str | None:
    """An error message when `text` is not a usable absolute http(s) base URL, else None."""
    if not text.strip():
        return f"The {what} is empty."
    try:
        url = httpx.URL(text.strip())
    except (httpx.InvalidURL, ValueError):
        return f"The {what} is not a valid URL."
    if url.scheme not in ("http", "https") or not url.host:
        return f"The {what} must start with https:// (or http:// for a local server)."
    if url.userinfo:
        return f"The {what} must not contain a user name or password; use the token field."
    if url.query:
        return f"The {what} must not contain a query string."
    return None


def describe_failure(exc: BaseException, token: Token) -> str:
    """A one-line, token-free explanation of a failed check."""
    if isinstance(exc, AuthError):
        return (
            f"The server rejected this token (HTTP {exc.status}). Check the token, and whether "
            "it is a personal API token or an OAuth access token."
        )
    if isinstance(exc, ApiError):
        if exc.status == 0:
            return redact(f"Could not reach the API: {exc.message}", token)
        return redact(f"The API answered with an error: {exc}", token)
    if isinstance(exc, ValueError):
        return redact(f"Cannot use these settings: {exc}", token)
    return redact(f"Unexpected error while checking the token ({type(exc).__name__}).", token)


class SetupScreen(Screen[SetupOutcome]):
    """Asks for a token and the flows to show, checks them, saves them and dismisses."""

    CSS_PATH = "setup.tcss"
    # The token field is focused by on_mount, without Textual's scroll-into-view: done before
    # the first layout, that scrolled the form past its title at 24 rows.
    AUTO_FOCUS = None

    def __init__(
        self,
        notice: str | None = None,
        settings: Settings | None = None,
        *,
        env: EnvConnection | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.notice = notice
        # Previously saved settings (e.g. after `flowview logout`) pre-fill the form.
        self.initial = settings
        # FLOWDOCK_TOKEN / FLOWDOCK_STREAM_URL / FLOWDOCK_API_URL: pre-fill, and check at once
        # when all three are given (e.g. exported from `flowview serve`).
        self.env = env or EnvConnection()
        self._checked_user: User | None = None
        self._checked_token: Token | None = None
        self._checked_urls: tuple[str, str] | None = None
        self._checking: tuple[str, str, str, str] | None = None  # the form being checked

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        initial = self.initial or Settings()
        env = self.env
        if env.stream_url or env.api_url:
            initial = replace(
                initial,
                stream_url=env.stream_url or initial.stream_url,
                api_url=env.api_url or initial.api_url,
            )
        if env.token is not None:
            initial = replace(initial, token_kind=env.token.kind)
        with VerticalScroll(id="setup-body"):
            yield Static("Set up flowview", id="setup-title")
            if self.notice:
                yield Static(status_content(self.notice), id="setup-notice")
            yield Static(
                "Paste your Flowdock API token (Account → API tokens). It is stored only "
                "in a file that only you can read.",
                id="setup-intro",
                markup=False,
            )
            yield Label("API token")
            yield Input(
                value=env.token.value if env.token is not None else "",
                password=True,
                placeholder="personal API token",
                id="token",
            )
            yield TickBox(
                "This is an OAuth access token (sent as Bearer)",
                value=initial.token_kind == "oauth",
                id="oauth",
                compact=True,
            )
            custom_hosts = (initial.stream_url, initial.api_url) != (
                DEFAULT_STREAM_URL,
                DEFAULT_API_URL,
            )
            # Most people use the public hosts, so the URLs stay folded away unless changed.
            with Collapsible(
                title="Servers (default: the public Flowdock hosts)",
                collapsed=not custom_hosts,
                id="servers",
            ):
                yield Label("Stream URL")
                yield Input(
                    value=initial.stream_url, placeholder=DEFAULT_STREAM_URL, id="stream-url"
                )
                yield Label("API URL")
                yield Input(value=initial.api_url, placeholder=DEFAULT_API_URL, id="api-url")
            with Horizontal(classes="setup-row"):
                yield Button("Check token", id="check", variant="primary")
                yield StatusLine(
                    "Enter a token, then check it to choose your flows.", id="setup-status"
                )
            yield Label("Flows to show", id="flows-label")
            yield FlowPicker(id="flows", disabled=True)
            yield TickBox(
                "Show private messages", value=initial.private, id="private", compact=True
            )
            with Horizontal(classes="setup-row"):
                yield Button("Save and open", id="save", variant="success", disabled=True)
                yield Button("Try the demo", id="demo")

    # ------------------------------------------------------------------ helpers

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#token", Input), scroll_visible=False)
        if self.env.problem:
            self.set_status(self.env.problem, "error")
        elif self.env.complete:
            self.start_check()

    def set_status(self, text: str, kind: StatusKind = "info") -> None:
        self.query_one("#setup-status", StatusLine).show(text, kind)

    @property
    def status_text(self) -> str:
        """The plain text of the status line (for the app and tests)."""
        return self.query_one("#setup-status", StatusLine).text

    def _token_kind(self) -> TokenKind:
        return "oauth" if self.query_one("#oauth", Checkbox).value else "personal"

    def _urls(self) -> tuple[str, str]:
        stream = self.query_one("#stream-url", Input).value.strip()
        api = self.query_one("#api-url", Input).value.strip()
        return stream, api

    def _invalidate_check(self) -> None:
        self.workers.cancel_group(self, "setup")
        if self._checked_user is None:
            return
        self._checked_user = None
        self._checked_token = None
        self._checked_urls = None
        self.query_one("#save", Button).disabled = True
        self.set_status("The token or a URL changed: check the token again.")

    # ------------------------------------------------------------------ events

    @on(Input.Changed, "#token, #stream-url, #api-url")
    @on(Checkbox.Changed, "#oauth")
    def _inputs_changed(self) -> None:
        # Fields announce their initial (pre-filled) values after mount: only a real edit,
        # one that makes the form differ from what is being checked, cancels the check.
        if self._form() != self._checking:
            self._invalidate_check()

    def _form(self) -> tuple[str, str, str, str]:
        # A digest, not the token: no second copy of the secret kept on this screen.
        token = hashlib.sha256(self.query_one("#token", Input).value.encode()).hexdigest()
        return (token, *self._urls(), self._token_kind())

    @on(Input.Submitted, "#token, #stream-url, #api-url")
    @on(Button.Pressed, "#check")
    def _check_pressed(self) -> None:
        self.start_check()

    @on(Button.Pressed, "#demo")
    def _demo_pressed(self) -> None:
        self.workers.cancel_group(self, "setup")
        self.dismiss(DEMO)

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.save()

    # ------------------------------------------------------------------ actions

    def start_check(self) -> None:
        """Validate the form, then check the token through REST in a worker."""
        raw = self.query_one("#token", Input).value
        if not raw.strip():
            self.set_status("Enter your API token first.", "error")
            return
        try:
            token = Token(raw, self._token_kind())
        except ValueError as exc:
            # Token's messages never contain the value.
            self.set_status(f"That does not look like a token: {exc}.", "error")
            return
        stream, api = self._urls()
        for text, what in ((stream, "stream URL"), (api, "API URL")):
            problem = check_base_url(text, what)
            if problem:
                self.set_status(problem, "error")
                return
        from flowview.logs import register_secret

        register_secret(token)  # typed here: never in a log line from now on
        self._checking = self._form()
        self.set_status(f"Checking the token with {api} …")
        self.query_one("#check", Button).disabled = True
        self.run_worker(
            deferred(self._check, token, stream, api),
            name="check-token",
            group="setup",
            exclusive=True,
            exit_on_error=False,
        )

    async def _check(self, token: Token, stream: str, api: str) -> None:
        try:
            async with RestClient(api, token) as client:
                user = await client.user()
                flows = await client.flows()
        except Exception as exc:
            # ApiError/httpx errors are expected; anything else is a bug: keep its traceback.
            if not isinstance(exc, (ApiError, httpx.HTTPError, ValueError)):
                log.exception("token check failed")
            else:
                log.warning("token check failed: %s", describe_failure(exc, token))
            self.set_status(describe_failure(exc, token), "error")
            return
        finally:
            self.query_one("#check", Button).disabled = False
        self._checked_user = user
        self._checked_token = token
        self._checked_urls = (stream, api)
        self._show_flows(flows)
        who = clean_name(user.nick or user.name or user.id)
        if flows:
            self.set_status(f"Signed in as {who}. Choose the flows to show, then save.", "ok")
        else:
            self.set_status(
                f"Signed in as {who}, but you are in no flows; private messages can still "
                "be shown.",
                "ok",
            )
        self.query_one("#save", Button).disabled = False

    def _show_flows(self, flows: list[Flow]) -> None:
        selection = self.query_one("#flows", FlowPicker)
        # Keep what the user (or saved settings) had chosen across a re-check.
        chosen = set(selection.selected) or set(self.initial.flows if self.initial else [])
        selection.show_flows(flows, chosen)
        selection.disabled = False
        if flows:
            selection.focus()

    def selected_flows(self) -> list[str]:
        """Chosen slugs in the order shown."""
        return self.query_one("#flows", FlowPicker).selected_flows()

    def save(self) -> None:
        """Save settings and token, then dismiss with them."""
        user, token, urls = self._checked_user, self._checked_token, self._checked_urls
        if user is None or token is None or urls is None:
            self.set_status("Check the token first.", "error")
            return
        flows = self.selected_flows()
        private = self.query_one("#private", Checkbox).value
        if not flows and not private:
            self.set_status("Choose at least one flow, or show private messages.", "error")
            return
        stream, api = urls
        settings = replace(
            self.initial or Settings(),
            stream_url=stream,
            api_url=api,
            flows=flows,
            private=private,
            token_kind=token.kind,
            me_id=user.id,
            me_nick=user.nick,
        )
        self.run_worker(deferred(self._save, settings, token), group="setup-save", exclusive=True)

    async def _save(self, settings: Settings, token: Token) -> None:
        # Writing and fsyncing the files blocks: never on the event loop.
        def write() -> None:
            save_settings(settings)
            save_token(token)

        try:
            await asyncio.to_thread(write)
        except ConfigError as exc:
            log.warning("setup not saved: %s", exc)
            self.set_status(f"Could not save: {exc}", "error")
            return
        self.dismiss(SetupResult(settings, token))
