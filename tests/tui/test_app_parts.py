"""The App's action mixins (tui/app_part.py and the `*_actions` modules) and Textual's message
dispatch: Textual collects `@on` decorators only on its own classes, so on a mixin one would be
silently ignored; a mixin's handlers go by name instead, and a misspelt name would be ignored as
silently.  Both are checked here against every message class the viewer can receive."""

from __future__ import annotations

import importlib
import pkgutil

from textual.app import App
from textual.message import Message

import flowview.tui.screens
import flowview.tui.widgets
from flowview.tui.app import FlowviewApp
from flowview.tui.app_part import AppPart


def _messages() -> set[type[Message]]:
    found: set[type[Message]] = set()
    todo: list[type[Message]] = [Message]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def _parts() -> list[type]:
    mixins = FlowviewApp.__mro__[1:]  # not the App itself
    return [c for c in mixins if issubclass(c, AppPart) and c is not AppPart]


def test_every_action_mixin_comes_before_app() -> None:
    mro = FlowviewApp.__mro__
    assert _parts(), "no mixins found"
    assert all(mro.index(part) < mro.index(App) for part in _parts())


def test_no_action_mixin_uses_the_on_decorator() -> None:
    for part in _parts():
        for name, value in vars(part).items():
            assert not hasattr(value, "_textual_on"), f"{part.__name__}.{name}: @on is ignored"


def test_every_handler_name_of_a_mixin_names_a_message() -> None:
    # The screens and widgets the app imports lazily define messages too.
    for package in (flowview.tui.screens, flowview.tui.widgets):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    handler_names = {message.handler_name for message in _messages()}
    for part in _parts():
        for name in vars(part):
            if name.startswith("on_"):
                assert name in handler_names, f"{part.__name__}.{name}: no message of that name"
