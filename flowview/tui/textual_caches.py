"""Textual caches that keep dead widgets alive, and letting go of them.

Textual 8.2.8 memoises ``StylesCache.get_inner_outer`` with ``functools.lru_cache(1024)`` on
the method, so the key holds the *instance*: each widget's styles cache (and through it every
line that widget last rendered) stays alive after the widget is gone, until 1,024 newer
entries push it out.  Every help screen, palette, thread view or dialog the user opens leaves
some 30 of them behind.  Measured in the soak's key cycle (issue 8): +4,300 objects a cycle,
levelling off only after ~28 cycles at +122,000 objects (about 9 minutes of the cycle, most of
the soak's RSS creep).  The cached values are two small styles, cheap to compute again, so
the cache is emptied whenever widgets have just died: an overlay screen closed, and before
each complete collection (tui/gc_policy.py).

This reaches into a private Textual module; tests/tui/test_textual_canary.py names it.
"""

from __future__ import annotations

import logging

from textual._styles_cache import StylesCache

log = logging.getLogger(__name__)

__all__ = ["release_dead_widgets"]


def release_dead_widgets() -> None:
    """Drop Textual's memo entries that pin the styles caches of removed widgets."""
    StylesCache.get_inner_outer.cache_clear()
