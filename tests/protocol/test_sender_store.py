"""The outbox file: private, atomic, locked, and never silently emptied."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest

from flowview.protocol.auth import Token
from flowview.protocol.outbox_store import (
    OUTBOX_FILE,
    OutboxLockedError,
    OutboxStore,
    OutboxStoreError,
)
from flowview.protocol.rest import ApiError, RestClient
from flowview.protocol.sender import (
    TRANSITIONS,
    Destination,
    InvalidTransition,
    ItemState,
    OutboxItem,
    classify,
)


def record(uid: str, text: str = "hi") -> dict[str, object]:
    return OutboxItem(
        uuid=uid, dest=Destination.flow("a/b"), op="post", seq=1, content=text
    ).to_record()


def test_created_private_and_records_survive_reopen(data_dir: Path) -> None:
    with OutboxStore() as store:
        store.put(record("u1"))
        store.put(record("u2"))
        store.put(record("u1", "edited"))
        store.remove("u2")
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data_dir / OUTBOX_FILE).st_mode) == 0o600
    assert sorted(os.listdir(data_dir)) == [OUTBOX_FILE, OUTBOX_FILE + ".lock"]  # no temp left
    with OutboxStore() as store:
        (rec,) = store.records()
    item = OutboxItem.from_record(rec)
    assert (item.uuid, item.content, item.dest) == ("u1", "edited", Destination.flow("a/b"))


def test_a_second_process_cannot_open_the_same_outbox(data_dir: Path) -> None:
    with OutboxStore(), pytest.raises(OutboxLockedError):
        OutboxStore().open()
    with OutboxStore():  # released on close
        pass


def test_refuses_a_directory_others_can_write(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    data_dir.chmod(0o777)
    with pytest.raises(OutboxStoreError, match="other users"):
        OutboxStore().open()


def test_tightens_a_readable_directory_of_ours(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    data_dir.chmod(0o755)
    with OutboxStore():
        pass
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700


def test_a_corrupt_file_is_moved_aside_not_deleted(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, mode=0o700)
    (data_dir / OUTBOX_FILE).write_text('{"items": [{"uuid": "half')
    with OutboxStore() as store:
        assert store.records() == []
    (aside,) = [p for p in data_dir.iterdir() if ".corrupt-" in p.name]
    assert aside.read_text().endswith('"half')


def test_a_failed_write_leaves_memory_and_disk_as_they_were(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OutboxStore() as store:
        store.put(record("u1"))

        def no_space(fd: int, data: object) -> int:
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as m:
            m.setattr(os, "write", no_space)
            with pytest.raises(OSError):
                store.put(record("u2"))
        assert [r["uuid"] for r in store.records()] == ["u1"]
    with OutboxStore() as store:
        assert [r["uuid"] for r in store.records()] == ["u1"]


def test_transition_table_is_enforced() -> None:
    from flowview.protocol.sender import Sender

    for old in ItemState:
        for new in ItemState:
            item = OutboxItem(uuid="u", dest=Destination.flow("a/b"), op="post", seq=1)
            item.state = old
            sender = Sender.__new__(Sender)
            if new in TRANSITIONS[old]:
                continue
            with pytest.raises(InvalidTransition):
                sender._move(item, new)


async def test_connection_refused_is_safe_to_resend_but_a_timeout_is_not() -> None:
    # A port nobody listens on: the request never left.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with RestClient(f"http://127.0.0.1:{port}", Token("t")) as rest:
        with pytest.raises(ApiError) as refused:
            await rest.post_message("a/b", "x")
    assert classify(refused.value) == "retry"
    timed_out = ApiError(0, "timeout")
    timed_out.__cause__ = httpx.ReadTimeout("read")
    assert classify(timed_out) == "unknown"
    assert [classify(ApiError(s, "")) for s in (408, 429, 500, 503, 400, 404, 413, 422)] == [
        "unknown",
        "retry",
        "unknown",
        "unknown",
        "final",
        "final",
        "final",
        "final",
    ]
