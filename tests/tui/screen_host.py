"""Shared by the setup and settings screen tests: a host app that pushes one screen and records
what it is dismissed with (a helper module; their fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import Screen

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
