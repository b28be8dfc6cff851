"""Helpers shared by the tests: `from helpers import wait_until` (conftest puts tests/ on
sys.path) or `from tests.helpers import wait_until`."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from types import FunctionType, ModuleType
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


def deep_size(root: object) -> int:
    """Bytes held by `root` and everything reachable from it (each object once).

    Exact and independent of what else the process allocated (caches, other tests), unlike a
    tracemalloc total."""
    seen: set[int] = set()
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | ModuleType | FunctionType):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total
