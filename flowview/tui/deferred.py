"""`deferred(fn, *args)`: a worker's work as a call not yet made.

Handing `run_worker` a coroutine object creates the coroutine at once; when the worker is
cancelled before it starts (an exclusive group replaced by a second request, the app
quitting), that coroutine is never awaited and Python warns.  A call not yet made has
nothing to leak.  Textual runs a `partial` of a coroutine function as async work; the
return type spells out which of `run_worker`'s work types it is (mypy cannot pick one from
the union for a bare callable).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, ParamSpec, TypeVar

from textual.worker import WorkType

log = logging.getLogger(__name__)

__all__ = ["deferred"]

P = ParamSpec("P")
T = TypeVar("T")


def deferred(
    fn: Callable[P, Coroutine[Any, Any, T]], /, *args: P.args, **kwargs: P.kwargs
) -> WorkType[T]:
    """`fn(*args, **kwargs)`, to be called by the worker that runs it."""
    return partial(fn, *args, **kwargs)
