"""The writer makes a batch's INSERT parameters one at a time as SQLite binds them: a batch
holds no list of thousands of tuples, so writing it does not set off the cyclic GC (whose
collections ran in the writer thread every ~700 messages, ~0.5 us a message) and Python's
heap does not grow by the batch's rows (~0.5 KB a message: 9.7 MB for 20,000)."""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from flowview.archive import Archive
from flowview.protocol.events import parse_event
from tests.archive.samples import FLOW

Wire = Callable[..., dict[str, Any]]
COUNT = 5_000


def test_a_bulk_batch_sets_off_no_cyclic_collection_in_the_writer(
    archive: Archive, wire: Wire
) -> None:
    if not gc.isenabled():
        pytest.skip("the cyclic GC is disabled in this process")
    writer = archive.writer
    assert writer is not None
    events = [parse_event(wire(id=i, content=f"word{i} and more")) for i in range(1, COUNT + 1)]
    ident = writer.call(lambda _conn: threading.get_ident()).result(10)
    gate = threading.Event()
    writer.call(lambda _conn: gate.wait())
    archive.ingest_many(events)  # one batch, written once the gate opens
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and threading.get_ident() == ident:
            collections.append(info["generation"])

    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults (the app raises them)
    gc.callbacks.append(seen)
    try:
        gate.set()
        archive.flush()
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*thresholds)
    assert writer.stats.messages == COUNT
    assert [m.id for m in archive.tail(("flow", FLOW), 3)] == [COUNT - 2, COUNT - 1, COUNT]
    # Holding the batch's tuples set off one collection per ~700 messages (7 here).
    assert len(collections) <= 1, collections


def test_a_bulk_batch_holds_no_copy_of_its_rows_in_python(archive: Archive, wire: Wire) -> None:
    writer = archive.writer
    assert writer is not None
    events = [parse_event(wire(id=i, content=f"word{i} and more")) for i in range(1, COUNT + 1)]
    gate = threading.Event()
    writer.call(lambda _conn: gate.wait())
    archive.ingest_many(events)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        gate.set()
        archive.flush()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert writer.stats.messages == COUNT
    # All the rows' parameters at once were ~300 bytes a message here (1.5 MB).
    assert peak < 500_000, peak
