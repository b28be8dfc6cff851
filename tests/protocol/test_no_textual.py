"""The protocol and model layers (and `flowview tail`) must not import textual."""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys

import pytest

import flowview.model
import flowview.protocol

pytestmark = pytest.mark.timeout(60)


def _ui_free_modules() -> list[str]:
    names: list[str] = []
    for package in (flowview.protocol, flowview.model):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            names.append(info.name)
    if importlib.util.find_spec("flowview.tail") is not None:
        names.append("flowview.tail")
    return names


def test_discovery_finds_the_protocol_modules() -> None:
    names = _ui_free_modules()
    assert "flowview.protocol.events" in names
    assert "flowview.protocol.rest" in names


def test_ui_free_modules_do_not_import_textual() -> None:
    names = _ui_free_modules()
    code = "\n".join(
        [
            "import sys",
            *(f"import {name}" for name in names),
            "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))",
            "assert not bad, bad",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=50
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_check_detects_textual() -> None:
    # Guard against a vacuous pass: the same check must fail once textual is imported.
    code = (
        "import sys, textual\n"
        "assert not any(m == 'textual' or m.startswith('textual.') for m in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=50
    )
    assert result.returncode != 0
