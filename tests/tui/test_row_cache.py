"""The log's row cache: bounded, least recently used out first, and a row that leaves it leaves
no strip in a reference cycle (Textual's strips cache themselves; see widgets/row_cache.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from flowview.tui.widgets.row_cache import RowCache, let_go


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _row(text: str) -> list[Strip]:
    """A rendered row as the compositor leaves it: the memos it fills, some holding the strip
    itself (`crop_extend` to the row's own width returns and memoises the strip)."""
    strip = Strip([Segment(text, Style(bold=True))], len(text))
    strip.crop_extend(0, len(text), None)  # the whole of it: the strip itself, memoised in it
    wider = strip.crop_extend(0, len(text) + 4, None)
    wider.crop_extend(0, len(text) + 4, None)  # the same, one memo down
    strip.apply_style(Style(italic=True))
    return [strip]


def _unreachable_after(action: object) -> int:
    assert callable(action)
    action()
    return gc.collect()


@pytest.mark.usefixtures("no_automatic_gc")
def test_rows_evicted_or_cleared_leave_nothing_for_the_cyclic_collector() -> None:
    cache = RowCache(3)

    def fill() -> None:
        for n in range(50):
            cache.put(("row", n), _row(f"message {n}"))

    assert _unreachable_after(fill) == 0  # 47 evicted as the rows went in
    assert len(cache) == 3
    assert _unreachable_after(cache.clear) == 0 and len(cache) == 0


@pytest.mark.usefixtures("no_automatic_gc")
def test_without_letting_go_the_same_rows_are_cycles() -> None:
    """What the cache guards against: dropped without `let_go`, each row is garbage only the
    collector frees (if Textual stops caching strips in themselves, this test says so)."""

    def drop() -> None:
        rows = [_row(f"message {n}") for n in range(50)]
        del rows

    assert _unreachable_after(drop) >= 50


def test_the_cache_is_least_recently_used_and_rows_stay_usable_after_let_go() -> None:
    cache = RowCache(2)
    a, b, c = _row("a"), _row("b"), _row("c")
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # a is now the most recent
    cache.put("c", c)
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    let_go(a)
    assert a[0].text == "a" and a[0].adjust_cell_length(3).cell_length == 3
    cache.put("a", a)  # the same rows again: kept, not let go
    assert cache.get("a") is a and len(cache) == 2
