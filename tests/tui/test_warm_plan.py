"""What the warm start reads from the archive (no UI): chosen flows by slug or id in the saved
order, the most recent private conversations, and a tab starting just above its first unread
line when the read position is older than the tail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowview.archive import Archive
from flowview.tui import warm_start
from flowview.tui.warm_start import read_plan, read_tab, recent_private


class _Flow:
    def __init__(self, fid: str, slug: str) -> None:
        self.id, self.name = fid, slug.upper()
        self.organization, self.parameterized_name = slug.split("/")


def wire(mid: int, *, flow: str | None = "f1", to: str | None = None, user: str = "u2") -> Any:
    event: dict[str, Any] = {"event": "message", "id": mid, "user": user, "content": f"m{mid}"}
    if flow is not None:
        event["flow"] = flow
    if to is not None:
        event["to"] = to
    return event


def test_plan_follows_the_saved_order_and_private_conversations_come_newest_first(
    tmp_path: Path,
) -> None:
    with Archive.open(tmp_path / "a.sqlite3") as archive:
        archive.set_flows([_Flow("f1", "acme/main"), _Flow("f2", "acme/ops")])
        archive.ingest_many([wire(1), wire(2, flow="f2")])
        archive.ingest_many(
            [wire(10, flow=None, to="u1", user="u3"), wire(20, flow=None, to="u1", user="u4")]
        )
        archive.flush()
        plan = read_plan(archive, ["acme/ops", "f1", "acme/gone", "acme/ops"])
        assert plan.flow_keys == [("flow", "f2"), ("flow", "f1")]
        privates = recent_private(archive)
        assert privates == [("private", "u1:u4"), ("private", "u1:u3")]
        assert recent_private(archive, limit=1) == [("private", "u1:u4")]


def test_a_tab_starts_above_its_first_unread_line_when_the_tail_is_too_short(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(warm_start, "WARM_CONTEXT", 2)
    with Archive.open(tmp_path / "a.sqlite3") as archive:
        archive.ingest_many([wire(i) for i in range(1, 101)])
        archive.set_read_position(("flow", "f1"), 50)
        archive.flush()
        tab = read_tab(archive, ("flow", "f1"), "u1", tail=10)
        assert [e.id for e in tab.events] == list(range(49, 101))  # two read, then unread
        assert tab.read_position == 50 and tab.unread == 50 and tab.newest_id == 100
        monkeypatch.setattr(warm_start, "WARM_UNREAD_MAX", 20)  # too many unread: the tail
        tab = read_tab(archive, ("flow", "f1"), "u1", tail=10)
        assert [e.id for e in tab.events] == list(range(91, 101)) and tab.unread == 50
