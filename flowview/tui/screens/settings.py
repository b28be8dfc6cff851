"""In-app settings: the flow choice, private messages, stream format, auto-idle and bell.

Opened by the app from a key and from the command palette.  Save writes settings.toml (never
the token) and dismisses with the new Settings; Escape or Cancel dismisses with None.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import replace
from typing import ClassVar

import httpx
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    RadioSet,
    Static,
)

from flowview.config import ConfigError, ContentType, Settings, save_settings, save_token
from flowview.model.sanitize import clean_name
from flowview.protocol.auth import Token
from flowview.protocol.rest import ApiError, Flow, RestClient
from flowview.tui.deferred import deferred
from flowview.tui.screens.setup import describe_failure
from flowview.tui.widgets.flow_picker import FlowPicker
from flowview.tui.widgets.status_line import StatusKind, StatusLine
from flowview.tui.widgets.toggles import RadioChoice, TickBox

log = logging.getLogger(__name__)

__all__ = ["SettingsScreen", "parse_minutes"]


def parse_minutes(text: str) -> float | None:
    """Auto-idle minutes from the input, or None when it is not a finite number >= 0."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def _format_minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class SettingsScreen(ModalScreen[Settings | None]):
    """Edit the saved settings; the flow list is fetched again from `/flows`."""

    CSS_PATH = "settings.tcss"
    AUTO_FOCUS = "#flows"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="settings.cancel")
    ]

    def __init__(
        self,
        settings: Settings,
        token: Token | None,
        api_url: str | None = None,
        *,
        rest: RestClient | None = None,
        flows: list[Flow] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.settings = settings
        self.token = token
        # The app passes the effective URL (flags/env may override the saved one).
        self.api_url = api_url or settings.api_url
        # The app's REST client and its /flows answer: nothing is fetched twice.
        self.rest = rest
        self.known_flows = flows
        self.flows_loaded = False
        # A new token typed here, checked through /user and saved (None: unchanged).
        self.new_token: Token | None = None

    def compose(self) -> ComposeResult:
        s = self.settings
        with VerticalScroll(id="settings-body"):
            yield Static("Settings", id="settings-title")
            yield Label("Flows to show")
            # Until /flows answers, the saved choice is listed by slug, all selected.
            yield FlowPicker(
                *[(Content(clean_name(slug)), slug, True) for slug in s.flows], id="flows"
            )
            yield StatusLine("Loading your flows …", id="settings-status")
            yield TickBox("Show private messages", value=s.private, id="private", compact=True)
            yield Label("Stream format")
            with RadioSet(id="content-type", compact=True):
                yield RadioChoice(
                    "Event-Stream (resumes after a drop)", value=s.content_type == "sse", id="sse"
                )
                yield RadioChoice("JSON stream", value=s.content_type == "json", id="json")
            with Horizontal(id="auto-idle-row"):
                yield Label("Go idle after")
                yield Input(
                    value=_format_minutes(s.auto_idle_minutes),
                    type="number",
                    id="auto-idle",
                    compact=True,
                )
                yield Label("minutes without a key press (0: never)")
            yield TickBox(
                "Ring the terminal bell on mentions", value=s.bell, id="bell", compact=True
            )
            yield Label("New API token (leave empty to keep the current one)")
            yield Input(
                password=True,
                placeholder="checked with the server before saving",
                id="token",
                compact=True,
            )
            with Horizontal(id="settings-buttons"):
                yield Button("Save", id="save", variant="success")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        if self.known_flows is not None:
            self._flows_arrived(self.known_flows)
            return
        if self.token is None:
            self.set_status("No token available: showing the saved flow choice only.", "error")
            return
        self.run_worker(
            deferred(self._fetch_flows, self.token),
            name="settings-flows",
            group="settings",
            exclusive=True,
            exit_on_error=False,
        )

    # ------------------------------------------------------------------ helpers

    def set_status(self, text: str, kind: StatusKind = "info") -> None:
        self.query_one("#settings-status", StatusLine).show(text, kind)

    @property
    def status_text(self) -> str:
        return self.query_one("#settings-status", StatusLine).text

    async def _fetch_flows(self, token: Token) -> None:
        try:
            if self.rest is not None:
                flows = await self.rest.flows()
            else:
                async with RestClient(self.api_url, token) as client:
                    flows = await client.flows()
        except Exception as exc:
            if not isinstance(exc, (ApiError, httpx.HTTPError)):
                log.exception("loading the flow list failed")
            else:
                log.warning("loading the flow list failed: %s", describe_failure(exc, token))
            self.set_status(describe_failure(exc, token), "error")
            return
        self._flows_arrived(flows)

    def _flows_arrived(self, flows: list[Flow]) -> None:
        self._show_flows(flows)
        self.flows_loaded = True
        self.set_status("Choose the flows to show.")

    def _show_flows(self, flows: list[Flow]) -> None:
        selection = self.query_one("#flows", FlowPicker)
        chosen = set(selection.selected)  # may differ from the saved choice by now
        selection.show_flows(flows, chosen, keep=self.settings.flows)

    def selected_flows(self) -> list[str]:
        return self.query_one("#flows", FlowPicker).selected_flows()

    def _content_type(self) -> ContentType:
        pressed = self.query_one("#content-type", RadioSet).pressed_button
        return "json" if pressed is not None and pressed.id == "json" else "sse"

    # ------------------------------------------------------------------ actions

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        minutes = parse_minutes(self.query_one("#auto-idle", Input).value)
        if minutes is None:
            self.set_status("Auto-idle minutes must be a number, 0 or more.", "error")
            return
        flows = self.selected_flows()
        private = self.query_one("#private", Checkbox).value
        if not flows and not private:
            self.set_status("Choose at least one flow, or show private messages.", "error")
            return
        new = replace(
            self.settings,
            flows=flows,
            private=private,
            content_type=self._content_type(),
            auto_idle_minutes=minutes,
            bell=self.query_one("#bell", Checkbox).value,
        )
        token: Token | None = None
        raw = self.query_one("#token", Input).value.strip()
        if raw:
            try:
                token = Token(raw, self.settings.token_kind)
            except ValueError as exc:
                self.set_status(f"That does not look like a token: {exc}.", "error")
                return
        self.workers.cancel_group(self, "settings")
        self.run_worker(deferred(self._save, new, token), group="settings-save", exclusive=True)

    async def _check_token(self, token: Token) -> bool:
        """The new token works (`/user` answers); says why not in the status line."""
        from flowview.logs import register_secret

        register_secret(token)
        self.set_status("Checking the new token …")
        try:
            async with RestClient(self.api_url, token) as client:
                await client.user()
        except Exception as exc:
            if not isinstance(exc, (ApiError, httpx.HTTPError)):
                log.exception("checking the new token failed")
            else:
                log.warning("new token refused: %s", describe_failure(exc, token))
            self.set_status(describe_failure(exc, token), "error")
            return False
        return True

    async def _save(self, new: Settings, token: Token | None) -> None:
        if token is not None and not await self._check_token(token):
            return

        # Writing and fsyncing the files blocks: never on the event loop.
        def write() -> None:
            save_settings(new)
            if token is not None:
                save_token(token)

        try:
            await asyncio.to_thread(write)
        except ConfigError as exc:
            log.warning("settings not saved: %s", exc)
            self.set_status(f"Could not save: {exc}", "error")
            return
        self.new_token = token
        self.dismiss(new)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "settings")
        self.dismiss(None)
