"""The archive's storage rules: what is kept, how changes apply, reads for the view."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowview.archive import Archive, ArchiveClosed, ArchiveError, archive_path, schema
from flowview.archive.operations import Flows
from flowview.protocol.events import parse_event
from tests.archive.samples import FLOW, OTHER_FLOW

Wire = Callable[..., dict[str, Any]]
KEY = ("flow", FLOW)


def _fts_hits(archive: Archive, word: str) -> list[int]:
    return [
        r[0]
        for r in archive.query(
            "SELECT m.id FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid"
            " WHERE messages_fts MATCH ?",
            (f'"{word}"',),
        )
    ]


# --------------------------------------------------------------------------- files


def test_directory_0700_file_0600_including_wal(data_dir: Path, wire: Wire) -> None:
    arc = Archive.open(data_dir / "a.sqlite3")
    try:
        arc.ingest(wire())
        arc.flush()
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        for name in ("a.sqlite3", "a.sqlite3-wal", "a.sqlite3-shm"):
            assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    finally:
        arc.close()


def test_refuses_a_directory_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ArchiveError, match="others can write"):
        Archive.open(shared / "a.sqlite3")
    assert not (shared / "a.sqlite3").exists()


def test_tightens_a_readable_directory_of_ours(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    Archive.open(mine / "a.sqlite3").close()
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700


def test_refuses_a_symlinked_file(data_dir: Path, tmp_path: Path) -> None:
    data_dir.mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    os.symlink(target, data_dir / "a.sqlite3")
    with pytest.raises(ArchiveError):
        Archive.open(data_dir / "a.sqlite3")


def test_one_file_per_server_and_user(data_dir: Path) -> None:
    names = {
        archive_path("https://api.flowdock.com", "1").name,
        archive_path("https://api.flowdock.com", "2").name,
        archive_path("http://127.0.0.1:8080/api", "1").name,
        archive_path("http://127.0.0.1:8081/api", "1").name,
    }
    assert len(names) == 4
    assert archive_path("https://api.flowdock.com", "1").parent == data_dir


def test_for_account_records_server_and_user(data_dir: Path) -> None:
    arc = Archive.for_account("http://127.0.0.1:9/api", "42")
    try:
        arc.flush()
        assert arc.meta() == {"api_url": "http://127.0.0.1:9/api", "user_id": "42"}
        assert arc.path.parent == data_dir
    finally:
        arc.close()


def test_schema_version_and_newer_schema_refused(data_dir: Path) -> None:
    path = data_dir / "a.sqlite3"
    Archive.open(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    conn.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ArchiveError, match="newer"):
        Archive.open(path)


def test_read_only_open_creates_nothing(data_dir: Path) -> None:
    with pytest.raises(ArchiveError, match="no archive"):
        Archive.open(data_dir / "missing.sqlite3", writable=False)
    assert not data_dir.exists()


# --------------------------------------------------------------------------- kinds


def test_every_line_kind_is_stored_with_its_text(archive: Archive, wire: Wire) -> None:
    archive.ingest_many(
        [
            wire("message", 1, "plain words"),
            wire("comment", 2, {"title": "Build failed", "text": "looking"}, tags=["influx:9"]),
            wire("status", 3, "at lunch"),
            wire("line", 4, "waves"),
            wire("file", 5, {"file_name": "report.pdf", "path": "/files/r"}),
            wire("action", 6, {"type": "add_people", "description": "alice, bob"}),
            wire("activity", 7, {}, title="Deploy", body="shipped v2"),
            wire("discussion", 8, {}, title="Review", body="ok"),
            wire("presence", None, {"state": 1}),
            wire("activity.user", None, {"last_activity": 1}),
        ]
    )
    archive.flush()
    stored = {m.id: (m.kind, m.text) for m in archive.tail(KEY)}
    assert stored == {
        1: ("message", "plain words"),
        2: ("comment", "Build failed\nlooking"),
        3: ("status", "at lunch"),
        4: ("line", "waves"),
        5: ("file", "report.pdf"),
        6: ("action", "alice, bob"),
        7: ("activity", "Deploy\nshipped v2"),
        8: ("discussion", "Review\nok"),
    }


def test_accepts_events_and_raw_dicts_alike(archive: Archive, wire: Wire) -> None:
    archive.ingest(parse_event(wire(id=1, content="from an event")))
    archive.ingest(wire(id=2, content="from a dict"))
    archive.ingest({"not": "an event"})
    archive.flush()
    assert [m.text for m in archive.tail(KEY)] == ["from an event", "from a dict"]
    assert archive.writer is not None and archive.writer.stats.skipped == 1


def test_private_conversations_share_one_key(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1, flow=None, user="7", to="3", content="hi"))
    archive.ingest(wire(id=2, flow=None, user="3", to="7", content="hey"))
    archive.flush()
    assert [m.text for m in archive.tail(("private", "3:7"))] == ["hi", "hey"]
    assert archive.tail(("private", "3:7"))[0].event().is_private


# --------------------------------------------------------------------------- changes


def test_edit_changes_text_and_index(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1, content="teh typo"))
    archive.ingest(wire("message-edit", 2, {"message": 1, "updated_content": "the fix"}))
    archive.flush()
    (msg,) = archive.tail(KEY)
    assert (msg.text, msg.edited) == ("the fix", True)
    assert msg.event().content == "the fix"
    assert _fts_hits(archive, "fix") == [1]
    assert _fts_hits(archive, "typo") == []


def test_deleted_message_leaves_text_and_index(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1, content="secret plans"))
    archive.ingest(wire("message-edit", 2, {"message": 1, "updated_content": ""}))
    archive.flush()
    (msg,) = archive.tail(KEY)
    assert msg.deleted and msg.text == ""
    assert "secret" not in str(msg.raw)
    assert _fts_hits(archive, "secret") == []
    # A later copy of the original (replay, old REST page) does not bring it back.
    archive.ingest(wire(id=1, content="secret plans"))
    archive.flush()
    assert _fts_hits(archive, "secret") == []
    assert archive.tail(KEY)[0].deleted


def test_replayed_original_does_not_revert_an_edit(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1, content="old"))
    archive.ingest(wire("message-edit", 2, {"message": 1, "updated_content": "new"}))
    archive.ingest(wire(id=1, content="old"))
    archive.flush()
    assert archive.tail(KEY)[0].text == "new"


def test_comment_edit_keeps_title(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire("comment", 1, {"title": "Ticket", "text": "first"}))
    upd = {"title": "Ticket", "text": "second"}
    archive.ingest(wire("message-edit", 2, {"message": 1, "updated_content": upd}))
    archive.flush()
    assert archive.tail(KEY)[0].text == "Ticket\nsecond"


def test_tag_changes_update_the_tag_index(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1, content="x", tags=["bug", ":user:1"]))
    archive.ingest(wire("tag-change", 2, {"message": 1, "add": ["Urgent"], "remove": ["bug"]}))
    archive.flush()
    (msg,) = archive.tail(KEY)
    assert msg.tags == "urgent"
    assert sorted(msg.event().tags) == [":user:1", "Urgent"]
    assert _fts_hits(archive, "urgent") == [1]
    assert _fts_hits(archive, "bug") == []


def test_reactions_are_applied(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire(id=1))
    react = {"message": 1, "emoji": "heart", "type": "add"}
    archive.ingest(wire("emoji-reaction", 2, react, user="u2"))
    archive.ingest(wire("emoji-reaction", 3, react, user="u3"))
    archive.ingest(wire("emoji-reaction", 4, {**react, "type": "remove"}, user="u2"))
    archive.flush()
    assert archive.tail(KEY)[0].raw["emojiReactions"] == {"heart": ["u3"]}


def test_changes_to_unknown_messages_are_skipped(archive: Archive, wire: Wire) -> None:
    archive.ingest(wire("message-edit", 2, {"message": 99, "updated_content": "x"}))
    archive.flush()
    assert archive.count() == 0


def test_users_and_flows_from_events_and_rest(archive: Archive, wire: Wire) -> None:
    from flowview.protocol.rest import Flow, User

    archive.set_users([User(id="u1", nick="robin", name="Robin R")])
    archive.ingest(wire("user-edit", None, {"user": {"id": "u2", "nick": "sam", "name": "Sam"}}))
    archive.ingest(wire("backend.user.join", None, {"user": {"id": "u3", "nick": "kim"}}))
    archive.set_flows([Flow(id=FLOW, name="Main", parameterized_name="main", organization="acme")])
    flow = {"id": OTHER_FLOW, "name": "Ops", "parameterized_name": "ops", "organization": "acme"}
    archive.ingest(wire("flow-add", None, flow))
    archive.flush()
    assert archive.users() == {"u1": ("robin", "Robin R"), "u2": ("sam", "Sam"), "u3": ("kim", "")}
    assert {f.slug for f in archive.flows().values()} == {"acme/main", "acme/ops"}
    assert archive.conversation_label(("flow", FLOW)) == "acme/main"
    assert archive.conversation_label(("private", "u1:u2"), me="u2") == "@robin"


# --------------------------------------------------------------------------- reads


def test_tail_before_after_around(archive: Archive, wire: Wire) -> None:
    archive.ingest_many(wire(id=i, content=f"m{i}") for i in range(1, 51))
    archive.ingest(wire(id=7, flow=OTHER_FLOW, content="elsewhere"))
    archive.flush()
    assert [m.id for m in archive.tail(KEY, 3)] == [48, 49, 50]
    assert [m.id for m in archive.before(KEY, 10, 3)] == [7, 8, 9]
    assert [m.id for m in archive.after(KEY, 10, 2)] == [11, 12]
    assert [m.id for m in archive.around(KEY, 25, 2, 2)] == [23, 24, 25, 26, 27]
    assert archive.newest_id(KEY) == 50
    assert archive.newest_id(("flow", "none")) is None
    assert [m.id for m in archive.iter_conversation(KEY, chunk=7)] == list(range(1, 51))


def test_read_positions_move_forward_only(archive: Archive, wire: Wire) -> None:
    archive.ingest_many(wire(id=i, user="u2" if i == 5 else "u1") for i in range(1, 6))
    archive.set_read_position(KEY, 3)
    archive.set_read_position(KEY, 2)
    archive.flush()
    assert archive.read_positions() == {KEY: 3}
    assert archive.unread_count(KEY) == 2
    assert archive.unread_count(KEY, own_user="u2") == 1


def test_read_positions_survive_reopen(data_dir: Path) -> None:
    path = data_dir / "a.sqlite3"
    with Archive.open(path) as arc:
        arc.set_read_position(KEY, 10)
    with Archive.open(path, writable=False) as arc:
        assert arc.read_position(KEY) == 10


# --------------------------------------------------------------------------- bounds


def test_size_cap_prunes_oldest_first_never_read_positions(data_dir: Path, wire: Wire) -> None:
    arc = Archive.open(data_dir / "a.sqlite3", max_bytes=None)
    try:
        arc.ingest_many(wire(id=i, content=f"word{i} " + "x" * 400) for i in range(1, 3001))
        arc.set_read_position(KEY, 1)
        arc.flush()
        assert arc.writer is not None
        arc.writer.max_bytes = 600_000
        removed = arc.prune()
        assert 0 < removed < 3000
        ids = [m.id for m in arc.iter_conversation(KEY)]
        assert ids == list(range(removed + 1, 3001))  # the oldest went, the newest stayed
        assert arc.read_positions() == {KEY: 1}
        assert arc.prune() == 0 or arc.count() > 0
    finally:
        arc.close()


def test_age_cap_prunes_by_sent_time(data_dir: Path, wire: Wire) -> None:
    arc = Archive.open(data_dir / "a.sqlite3", max_bytes=None, max_age_ms=10_000)
    try:
        assert arc.writer is not None
        newest = 1_000_000
        arc.writer._now_ms = lambda: newest
        arc.ingest_many(wire(id=i, sent=newest - (20 - i) * 1000) for i in range(1, 21))
        arc.flush()
        assert arc.prune() == 9
        assert arc.tail(KEY)[0].id == 10
    finally:
        arc.close()


# --------------------------------------------------------------------------- writer


def test_full_queue_blocks_instead_of_dropping(
    writer_archive: Callable[..., Archive], wire: Wire
) -> None:
    arc = writer_archive(queue_max=10, batch_max=3)
    assert arc.writer is not None
    try:
        arc.ingest_many(wire(id=i) for i in range(1, 2001))
        arc.flush()
        assert arc.count() == 2000
        assert arc.writer.stats.batches >= 2000 // 3
    finally:
        arc.close()


def test_one_bad_operation_does_not_lose_its_batch(archive: Archive, wire: Wire) -> None:
    assert archive.writer is not None

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    archive.ingest(wire(id=1))
    failed = archive.writer.call(bad)
    archive.ingest(wire(id=2))
    archive.flush()
    assert [m.id for m in archive.tail(KEY)] == [1, 2]
    assert isinstance(failed.exception(), sqlite3.Error)
    assert archive.writer.stats.failed == 1


def test_closed_archive_refuses_writes(data_dir: Path, wire: Wire) -> None:
    arc = Archive.open(data_dir / "a.sqlite3")
    arc.ingest(wire(id=1))
    assert arc.close()
    with pytest.raises(ArchiveClosed):
        arc.ingest(wire(id=2))
    with Archive.open(data_dir / "a.sqlite3", writable=False) as again:
        assert again.count() == 1  # close() wrote what was queued


async def test_aflush_does_not_block_the_loop(archive: Archive, wire: Wire) -> None:
    archive.ingest_many(wire(id=i) for i in range(1, 1001))
    await archive.aflush()
    assert archive.count() == 1000


def test_second_copy_refreshes_text_and_index(archive: Archive, wire: Wire) -> None:
    # Same batch: the first copy is not yet indexed when the second arrives.
    archive.ingest_many([wire(id=1, content="draft words"), wire(id=1, content="final words")])
    archive.flush()
    # Later batch: the indexed row is re-indexed.
    archive.ingest(wire(id=2, content="alpha"))
    archive.flush()
    archive.ingest(wire(id=2, content="omega"))
    archive.flush()
    assert [m.text for m in archive.tail(KEY)] == ["final words", "omega"]
    assert _fts_hits(archive, "draft") == []
    assert _fts_hits(archive, "final") == [1]
    assert _fts_hits(archive, "alpha") == []
    assert _fts_hits(archive, "omega") == [2]
    assert (
        archive.query("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
        == []
    )
    assert archive.writer is not None and archive.writer.stats.retried == 0


def test_writer_lifecycle_follows_its_transition_table(data_dir: Path, wire: Wire) -> None:
    from flowview.archive import WriterState
    from flowview.archive.writer import ArchiveWriter

    def state(writer: ArchiveWriter) -> WriterState:
        # Read afresh: mypy would keep `arc.writer.state` narrowed to RUNNING across close().
        return writer.state

    path = data_dir / "a.sqlite3"
    Archive.open(path).close()
    never_started = ArchiveWriter(lambda: sqlite3.connect(path))
    assert never_started.close() and never_started.state is WriterState.CLOSED
    with pytest.raises(ArchiveClosed):
        never_started.start()
    arc = Archive.open(path)
    assert arc.writer is not None and arc.writer.state is WriterState.RUNNING
    with pytest.raises(ArchiveClosed):
        arc.writer.start()
    assert arc.close() and state(arc.writer) is WriterState.CLOSED
    assert arc.close()  # closing twice is harmless


def test_unopenable_database_fails_the_writer_cleanly(tmp_path: Path) -> None:
    from flowview.archive import WriterState
    from flowview.archive.writer import ArchiveWriter

    def broken() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    writer = ArchiveWriter(broken)
    writer.start()
    assert not writer.close(timeout=10)
    assert writer.state is WriterState.CLOSED
    with pytest.raises(ArchiveClosed):
        writer.submit(Flows(()))
