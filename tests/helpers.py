"""Helpers shared by the tests: `from helpers import wait_until` (conftest puts tests/ on
sys.path) or `from tests.helpers import wait_until`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot


async def wait_until(
    pilot: Pilot[Any],
    predicate: Callable[[], object],
    timeout: float = 5.0,
    interval: float = 0.01,
    message: str = "",
) -> None:
    """Let the app run until `predicate()` is truthy; fail after `timeout` seconds.

    Work done by workers and servers finishes in its own time, so tests poll for the outcome
    instead of guessing a single pause.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"condition not met within {timeout} s" + (f": {message}" if message else "")
            )
        await pilot.pause(interval)
