"""Fixtures of the archive tests: an open archive in the test's data directory and a maker of
wire-format events (`server` is in tests/conftest.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowview.archive import Archive
from flowview.archive.writer import ArchiveWriter
from tests.archive.samples import BASE_MS, FLOW


@pytest.fixture
def archive(data_dir: Path) -> Iterator[Archive]:
    arc = Archive.open(data_dir / "test.sqlite3")
    yield arc
    arc.close()


@pytest.fixture
def wire() -> Callable[..., dict[str, Any]]:
    """A wire-format event dict, as the stream or REST history delivers it."""

    def make(
        event: str = "message",
        id: int | None = 1,
        content: Any = "hello",
        *,
        flow: str | None = FLOW,
        user: str = "u1",
        sent: int | None = None,
        tags: list[str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "event": event,
            "flow": flow,
            "user": user,
            "content": content,
            "tags": tags or [],
            "sent": BASE_MS + (id or 0) * 1000 if sent is None else sent,
        }
        if id is not None:
            obj["id"] = id
        obj.update(extra)
        return obj

    return make


@pytest.fixture
def writer_archive(data_dir: Path) -> Iterator[Callable[..., Archive]]:
    """A maker of archives whose writer takes the given ArchiveWriter keywords (closed at the
    end of the test; the writer is started unless `start=False`)."""
    made: list[Archive] = []

    def make(name: str = "w.sqlite3", *, start: bool = True, **kwargs: Any) -> Archive:
        path = data_dir / name
        Archive.open(path).close()  # created and migrated
        arc = Archive(path)
        assert arc.writer is not None
        arc.writer = ArchiveWriter(arc.writer._connect, **kwargs)
        if start:
            arc.writer.start()
        made.append(arc)
        return arc

    yield make
    for arc in made:
        arc.close()


@pytest.fixture
def wal_db(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A plain SQLite database in WAL mode with a table `t (x)` and a connection that writes
    it with SQLite's automatic checkpoint off (as the archive's writer does) and the WAL file
    truncated whenever it starts over (so its size shows whether it did)."""
    path = tmp_path / "plain.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("PRAGMA journal_size_limit=0")
    conn.execute("CREATE TABLE t (x)")
    yield path, conn
    conn.close()
