"""`flowview tail` as a real process, for the tests that run it (tests/test_tail.py,
tests/archive/test_tail_archive.py): started from the repository root, no stdin, stdout and
stderr as text pipes."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


def popen_tail(*argv: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """`python -m flowview tail <argv>` with exactly the environment `env`."""
    return subprocess.Popen(
        [sys.executable, "-m", "flowview", "tail", *argv],
        cwd=ROOT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
