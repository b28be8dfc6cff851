"""The writer's queue: `submit_many` queues chunks of operations, still in order, within the
batch size and the queue's bound (counted in operations, not queue items)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flowview.archive import Archive
from flowview.archive.operations import CHUNK_MAX
from tests.archive.samples import FLOW

Wire = Callable[..., dict[str, Any]]
KEY = ("flow", FLOW)


def test_chunks_keep_their_order_across_batches(
    writer_archive: Callable[..., Archive], wire: Wire
) -> None:
    # Each message is followed by its edit: applied out of order, an edit finds no message
    # (it is skipped) or the original overwrites nothing: the texts show it.
    arc = writer_archive(batch_max=7)
    try:
        ops: list[dict[str, Any]] = []
        for i in range(1, 301):
            ops.append(wire(id=i, content=f"draft {i}"))
            ops.append(wire("message-edit", 10_000 + i, {"message": i, "updated_content": "ok"}))
        arc.ingest_many(ops)
        arc.flush()
        assert arc.writer is not None
        assert arc.writer.stats.batches >= len(ops) // 7  # never more than batch_max at once
        assert arc.writer.stats.skipped == 0
        assert [m.text for m in arc.tail(KEY, 1000)] == ["ok"] * 300
        assert [m.id for m in arc.tail(KEY, 1000)] == list(range(1, 301))
    finally:
        arc.close()


def test_the_queue_bound_counts_operations(
    writer_archive: Callable[..., Archive], wire: Wire
) -> None:
    arc = writer_archive(queue_max=CHUNK_MAX * 2)
    writer = arc.writer
    assert writer is not None
    gate, taken = threading.Event(), threading.Event()

    def hold(_conn: Any) -> None:
        taken.set()
        gate.wait()

    try:
        writer.call(hold)
        assert taken.wait(10)
        arc.ingest_many([wire(id=i) for i in range(1, CHUNK_MAX + 11)])
        assert writer.pending == CHUNK_MAX + 10  # operations, in two queue items
        # The queue is below its bound: one more chunk fits; then a submit has to wait.
        arc.ingest_many([wire(id=i) for i in range(CHUNK_MAX + 11, CHUNK_MAX * 2 + 1)])
        blocked = threading.Thread(target=arc.ingest, args=(wire(id=CHUNK_MAX * 2 + 1),))
        blocked.start()
        blocked.join(0.2)
        assert blocked.is_alive() and writer.stats.blocked == 1
        gate.set()
        blocked.join(10)
        arc.flush()
        assert arc.count() == CHUNK_MAX * 2 + 1
    finally:
        gate.set()
        arc.close()
