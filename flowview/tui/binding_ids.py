"""Every key binding flowview defines, by id: what `[keymap]` in settings.toml may name.

Textual's keymap applies to any widget's or screen's BINDINGS by id, so the registry is read
from the classes themselves (every DOM node class of a flowview.tui module), not from a list
kept by hand that a new binding would silently miss.  Importing every screen costs start-up
time, so this runs only when a keymap is set or the help screen is opened.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode

log = logging.getLogger(__name__)

_PACKAGE = "flowview.tui"


@dataclass(frozen=True, slots=True)
class BindingInfo:
    """One binding: where it is defined (class), its id, keys and footer description."""

    owner: str  # the class defining it, e.g. "MainScreen"
    module: str
    id: str
    key: str
    description: str


def _import_all() -> None:
    import flowview.tui as package

    for info in pkgutil.walk_packages(package.__path__, f"{_PACKAGE}."):
        try:
            importlib.import_module(info.name)
        except Exception:
            # One module that cannot be imported must not hide the others' ids.
            log.exception("importing %s to list its key bindings", info.name)


def _subclasses(cls: type[DOMNode]) -> Iterator[type[DOMNode]]:
    seen: set[type[DOMNode]] = set()
    todo = [cls]
    while todo:
        current = todo.pop()
        for sub in current.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
                yield sub


def all_bindings() -> list[BindingInfo]:
    """Every binding with an id defined by a flowview class, sorted by module and class."""
    _import_all()
    found: dict[str, BindingInfo] = {}
    for cls in _subclasses(DOMNode):
        if not cls.__module__.startswith(f"{_PACKAGE}."):
            continue
        for binding in cls.__dict__.get("BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id and binding.id not in found:
                found[binding.id] = BindingInfo(
                    cls.__name__, cls.__module__, binding.id, binding.key, binding.description
                )
    return sorted(found.values(), key=lambda b: (b.module, b.owner))


def all_binding_ids() -> set[str]:
    return {b.id for b in all_bindings()}


def problems_notice(problems: Sequence[str]) -> str:
    """One short status-bar line for what loading the settings skipped (f1 lists them)."""
    if not problems:
        return ""
    count = len(problems)
    what = "1 problem" if count == 1 else f"{count} problems"
    return f"settings.toml: {what}, skipped (f1 lists them)"
