"""Values the writer binds: NULLs stay NULL (and empty strings stay empty) through the fast
binding of rows.message_params, `raw` stays a BLOB, hostile text (lone surrogates) is stored
instead of stopping the writer, and work queued as the writer stops never waits forever."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowview.archive import Archive, ArchiveClosed, WriterState
from flowview.archive.writer import SMALL_CACHE_KIB, WRITER_CACHE_KIB
from flowview.protocol.events import parse_event
from tests.archive.samples import FLOW

Wire = Callable[..., dict[str, Any]]
KEY = ("flow", FLOW)


def _stored(archive: Archive, mid: int) -> tuple[Any, ...]:
    return archive.query(
        "SELECT user, typeof(user), sent, typeof(sent), thread_id, typeof(thread_id), uuid,"
        " typeof(uuid), typeof(raw) FROM messages WHERE id = ?",
        (mid,),
    )[0]


def test_missing_values_are_null_and_empty_ones_empty(archive: Archive, wire: Wire) -> None:
    bare = wire(id=1, content="no extras")
    del bare["user"]
    bare["sent"] = None
    empty = wire(id=2, content="empty strings", user="", uuid="", thread_id="")
    zero = wire(id=3, content="zeros", user="0", uuid="0", thread_id="0", sent=0)
    archive.ingest_many([parse_event(bare), parse_event(empty), parse_event(zero)])
    archive.flush()
    null = (None, "null")
    assert _stored(archive, 1) == (*null, *null, *null, *null, "blob")
    # The parser makes an empty user or thread id None (ids); an empty uuid stays "".
    assert _stored(archive, 2)[6:] == ("", "text", "blob")
    assert _stored(archive, 3) == ("0", "text", 0, "integer", "0", "text", "0", "text", "blob")
    assert [m.user for m in archive.tail(KEY)] == [None, None, "0"]
    assert [m.uuid for m in archive.tail(KEY)] == [None, "", "0"]


def test_a_second_copy_refreshes_through_the_same_binding(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1, content="first", uuid="u-1"))
    archive.flush()
    second = wire(id=1, content="first, corrected by history")
    archive.ingest(second)
    archive.flush()
    (msg,) = archive.tail(KEY)
    assert msg.text == "first, corrected by history"
    assert msg.uuid is None  # the copy has none: NULL again, not the sentinel
    assert _stored(archive, 1)[6:] == (None, "null", "blob")


def test_lone_surrogates_are_stored_and_the_writer_goes_on(archive: Archive) -> None:
    # A "\ud800" escape decodes to a lone surrogate (protocol.jsonstream does so too: orjson
    # refuses it and the stdlib takes it); SQLite cannot store it as UTF-8.  Before, the
    # writer thread died on it and every later message was lost.
    flow = json.dumps(FLOW)
    hostile = json.loads(
        f'{{"event": "message", "id": 1, "flow": {flow}, "user": "u1", "sent": 1,'
        ' "content": "bad \\ud800 text", "huge": 123456789012345678901234567890}'
    )
    archive.ingest(hostile)
    archive.ingest(
        json.loads(
            f'{{"event": "message-edit", "id": 2, "flow": {flow}, "user": "u1", "sent": 2,'
            ' "content": {"message": 1, "updated_content": "edited \\udfff"}}'
        )
    )
    archive.ingest({"event": "message", "id": 3, "flow": FLOW, "user": "u1", "content": "ok"})
    archive.flush(timeout=10)
    assert archive.writer is not None
    assert archive.writer.state is WriterState.RUNNING
    assert [m.text for m in archive.tail(KEY)] == ["edited \ufffd", "ok"]
    assert archive.integrity_check() == "ok"


def test_work_queued_as_the_writer_stops_fails_instead_of_waiting(
    archive: Archive, data_dir: Path
) -> None:
    writer = archive.writer
    assert writer is not None
    put = writer._queue.put_nowait

    def stop_then_put(item: Any) -> None:
        # The writer stops between _put's state check and the put itself.
        writer.close()
        put(item)

    writer._queue.put_nowait = stop_then_put  # type: ignore[method-assign]
    done = writer.barrier()
    with pytest.raises(ArchiveClosed):
        done.result(timeout=10)


def _sqlite_memory() -> Callable[[], int] | None:
    """sqlite3_memory_used() of the library Python's sqlite3 runs on, when it can be found."""
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    try:
        used = ctypes.CDLL(name).sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return lambda: int(used())


def _cache_kib(connection: sqlite3.Connection) -> int:
    return -int(connection.execute("PRAGMA cache_size").fetchone()[0])


def test_the_bulk_cache_is_given_back_once_batches_are_small(archive: Archive, wire: Wire) -> None:
    writer = archive.writer
    assert writer is not None
    memory = _sqlite_memory() or (lambda: 0)
    # Long enough messages that the bulk batch fills well over the small cache (schema 3's
    # index, without prefixes nor column sizes, touches fewer pages per message).
    words = " ".join(f"w{i}" for i in range(100))
    # One bulk batch: the writer waits on a gate while the messages and a probe queue up.
    gate = threading.Event()
    writer.call(lambda _c: gate.wait(10))
    archive.ingest_many([parse_event(wire(id=i, content=f"{words} {i}")) for i in range(1, 20_000)])
    in_bulk = writer.call(lambda c: (_cache_kib(c), memory()))
    gate.set()
    bulk_kib, bulk_memory = in_bulk.result(60)
    assert bulk_kib == WRITER_CACHE_KIB
    archive.ingest(wire(id=20_001, content="one more"))
    small_kib = writer.call(_cache_kib).result(10)
    assert small_kib == SMALL_CACHE_KIB
    if _sqlite_memory() is not None:  # the pages beyond the small cache were freed
        assert memory() < bulk_memory - 8 * 1024 * 1024
