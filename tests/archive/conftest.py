"""Fixtures of the archive tests: an open archive in the test's data directory and a maker of
wire-format events (`server` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowview.archive import Archive
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
