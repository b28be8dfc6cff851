"""The archive package is UI-free: importing all of it never imports Textual."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import flowview.archive

ROOT = Path(__file__).resolve().parents[2]


def test_archive_modules_do_not_import_textual() -> None:
    names = ["flowview.archive"] + [
        info.name
        for info in pkgutil.walk_packages(flowview.archive.__path__, prefix="flowview.archive.")
    ]
    assert "flowview.archive.search" in names and "flowview.archive.commands" in names
    code = "\n".join(
        ["import sys", *(f"import {n}" for n in names), "assert 'textual' not in sys.modules"]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
