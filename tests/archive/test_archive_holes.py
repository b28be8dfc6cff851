"""Holes (ranges the archive is known to lack) and `newest_before`: the read side the viewer's
window over the archive uses to ask REST only for what the archive lacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowview.archive import Archive

KEY = ("flow", "f-acme-main")  # the `wire` fixture's flow


def test_holes_are_kept_per_conversation_and_removed(archive: Archive) -> None:
    archive.add_hole(KEY, 10, 50)
    archive.add_hole(KEY, 100, 101)  # nothing can be missing between neighbours: not kept
    archive.add_hole(("flow", "other"), 1, 9)
    archive.add_hole(("private", "1:2"), 3, 7)
    archive.flush()
    assert archive.holes(KEY) == [(10, 50)]
    assert archive.holes(("private", "1:2")) == [(3, 7)]
    archive.remove_hole(KEY, 10)
    archive.flush()
    assert archive.holes(KEY) == []
    assert archive.holes(("flow", "other")) == [(1, 9)]


def test_newest_before(archive: Archive, wire: Callable[..., dict[str, Any]]) -> None:
    archive.ingest_many([wire(id=i) for i in (3, 5, 9)])
    archive.flush()
    assert archive.newest_before(KEY, 9) == 5
    assert archive.newest_before(KEY, 100) == 9
    assert archive.newest_before(KEY, 3) is None
