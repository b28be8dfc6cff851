"""Runs of line events in a batch: events and wire dicts alike go into one INSERT, in order; a
line without an id is counted as skipped, and anything else between two runs (an edit) is
applied in its place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowview.archive import Archive
from flowview.protocol.events import parse_event
from tests.archive.samples import FLOW

Wire = Callable[..., dict[str, Any]]
KEY = ("flow", FLOW)


def test_a_mixed_run_keeps_its_order_and_counts_what_it_skips(archive: Archive, wire: Wire) -> None:
    writer = archive.writer
    assert writer is not None
    ops: list[Any] = [
        parse_event(wire(id=1, content="one")),
        wire(id=2, content="two"),  # a wire dict in the same run
        wire(id=None, content="no id"),  # no row: skipped
        parse_event(wire(id=None, content="no id either")),
        wire("message-edit", 100, {"message": 1, "updated_content": "one, edited"}),
        parse_event(wire(id=3, content="three")),
        wire(id=2, content="two"),  # a second copy: refreshed, not duplicated
    ]
    archive.ingest_many(ops)
    archive.flush()
    assert [(m.id, m.text) for m in archive.tail(KEY, 10)] == [
        (1, "one, edited"),
        (2, "two"),
        (3, "three"),
    ]
    assert writer.stats.skipped == 2
    assert writer.stats.messages == 4  # the stored copy counts as written
    assert writer.stats.failed == 0


class _NoWalk(list[Any]):
    """A batch that fails when walked from its start (iter); slices are plain lists."""

    def __iter__(self) -> Any:
        raise AssertionError("a run walked the batch from its start")


def test_a_run_reads_only_its_own_operations(wire: Wire) -> None:
    """Each run of a batch reads its slice, not every operation before it: a batch of many
    short runs (lines between edits) costs O(n) in all, not O(n) per run."""
    from flowview.archive.line_runs import LineRun

    batch = _NoWalk(parse_event(wire(id=n, content=f"line {n}")) for n in range(1, 101))
    run = LineRun(batch, 90, 100)
    assert [params[1] for params in run] == list(range(91, 101))
    assert run.skipped == 0
