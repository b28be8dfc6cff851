"""Shared by the setup and settings screen tests: a host app that pushes one screen and records
what it is dismissed with, the loopback server, and widgets made deterministic for Pilot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Button, Input

from flowview.server.runner import ServerOptions, ServerThread

UNSET: Any = object()


class HostApp(App[None]):
    """Pushes one screen and records what it is dismissed with."""

    def __init__(self, make_screen: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.result: Any = UNSET

    def on_mount(self) -> None:
        self.push_screen(self.make_screen(), callback=self._dismissed)

    def _dismissed(self, result: Any) -> None:
        self.result = result


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerOptions(rate=0)) as running:
        yield running


@pytest.fixture(autouse=True)
def deterministic_widgets(monkeypatch: pytest.MonkeyPatch) -> None:
    # A blinking cursor makes rendering time-dependent.
    monkeypatch.setattr(Input, "cursor_blink", False)
    # A pressed button ignores clicks for this long; tests click faster than people.
    monkeypatch.setattr(Button, "_start_active_affect", lambda self: None)
