"""The outbox sender against the project's own server over real HTTP, on virtual time.

Write faults come from the server's ``POST /_faults`` (scope "write"); what the server really
stored is read back through its REST history, so "exactly once" is the server's own count.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from flowview.protocol.events import Event
from flowview.protocol.outbox_store import OUTBOX_FILE, OutboxStore
from flowview.protocol.rest import RestClient
from flowview.protocol.sender import (
    Destination,
    ItemState,
    OutboxItem,
    Sender,
    StateChanged,
    drain,
    new_uuid,
)
from flowview.server.runner import RunningServer

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]

MAIN = Destination.flow("acme/main")
AddFault = Callable[..., Awaitable[None]]


async def history(rest: RestClient, dest: Destination = MAIN) -> list[Event]:
    if dest.kind == "flow":
        return await rest.messages(dest.id, limit=100, sort="desc")
    return await rest.private_messages(dest.id, limit=100, sort="desc")


async def copies(rest: RestClient, uid: str, dest: Destination = MAIN) -> list[Event]:
    return [ev for ev in await history(rest, dest) if ev.uuid == uid]


class Journal:
    """Every state change with the loop time it happened at."""

    def __init__(self, sender: Sender) -> None:
        self.changes: list[tuple[float, StateChanged]] = []
        sender.add_listener(self._on)

    def _on(self, change: StateChanged) -> None:
        self.changes.append((asyncio.get_running_loop().time(), change))

    def states(self, uid: str) -> list[str]:
        return [c.item.state.value for _, c in self.changes if c.item.uuid == uid]

    def times(self, uid: str, state: ItemState) -> list[float]:
        return [t for t, c in self.changes if c.item.uuid == uid and c.item.state is state]


async def test_messages_arrive_once_in_order_and_leave_the_outbox(
    server_rest: RestClient, make_sender: Callable[..., Sender], data_dir: Path
) -> None:
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    items = [sender.submit(MAIN, f"hello {i}") for i in range(3)]
    items.append(sender.submit(MAIN, "waves", event="line"))
    items.append(sender.submit(MAIN, "busy", event="status"))
    await sender.wait_idle()

    got = {ev.uuid: ev for ev in await history(server_rest)}
    mine = [got[i.uuid] for i in items]
    assert [ev.raw["content"] for ev in mine] == ["hello 0", "hello 1", "hello 2", "waves", "busy"]
    assert [ev.event for ev in mine] == ["message"] * 3 + ["line", "status"]
    ids = [ev.id or 0 for ev in mine]
    assert ids == sorted(ids)  # sent one at a time, in the order typed
    for item in items:
        assert journal.states(item.uuid) == ["queued", "sending", "sent"]
    sent = [c.item for _, c in journal.changes if c.item.state is ItemState.SENT]
    assert [i.result_id for i in sent] == ids
    assert sender.pending == 0
    assert json.loads((data_dir / OUTBOX_FILE).read_text())["items"] == []
    await sender.aclose()


async def test_stored_durably_with_private_modes_before_the_first_attempt(
    server_rest: RestClient, make_sender: Callable[..., Sender], data_dir: Path
) -> None:
    sender = make_sender(server_rest)
    seen_on_disk: list[dict[str, object]] = []

    def on_change(change: StateChanged) -> None:
        if change.item.state is ItemState.SENDING:
            doc = json.loads((data_dir / OUTBOX_FILE).read_text())
            seen_on_disk.extend(r for r in doc["items"] if r["uuid"] == change.item.uuid)

    sender.add_listener(on_change)
    sender.start()
    item = sender.submit(MAIN, "durable")
    await sender.wait_idle()
    assert [(r["content"], r["state"], r["attempts"]) for r in seen_on_disk] == [
        ("durable", "sending", 1)
    ]
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data_dir / OUTBOX_FILE).st_mode) == 0o600
    assert len(await copies(server_rest, item.uuid)) == 1
    await sender.aclose()


async def test_private_message_thread_reply_and_comment(
    server_rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    me = await server_rest.user()
    other = next(u for u in await server_rest.users() if u.id != me.id)
    parent = await server_rest.post_message(MAIN.id, "parent", uuid=new_uuid())
    sender = make_sender(server_rest)
    sender.start()
    dm = Destination.private(other.id)
    pm = sender.submit(dm, "psst")
    reply = sender.submit(MAIN, "in thread", thread_id=parent["thread_id"])
    comment = sender.submit_comment(MAIN, parent["id"], "a comment")
    await sender.wait_idle()
    assert [ev.raw["content"] for ev in await copies(server_rest, pm.uuid, dm)] == ["psst"]
    (ev,) = await copies(server_rest, reply.uuid)
    assert ev.thread_id == parent["thread_id"]
    (ev,) = await copies(server_rest, comment.uuid)
    assert ev.event == "comment"
    assert f"influx:{parent['id']}" in ev.tags
    await sender.aclose()


async def test_edit_and_delete_of_own_message(
    server_rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    sender = make_sender(server_rest)
    sender.start()
    original = sender.submit(MAIN, "tyop")
    await sender.wait_idle()
    (ev,) = await copies(server_rest, original.uuid)
    assert ev.id is not None
    sender.submit_edit(MAIN, ev.id, "typo")
    await sender.wait_idle()
    assert (await server_rest.message(MAIN.id, ev.id)).raw["content"] == "typo"
    sender.submit_delete(MAIN, ev.id)
    await sender.wait_idle()
    assert (await server_rest.message(MAIN.id, ev.id)).raw["content"] == ""
    await sender.aclose()


async def test_stored_but_response_dropped_is_not_posted_twice(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="drop_response")
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    item = sender.submit(MAIN, "exactly once")
    after = sender.submit(MAIN, "next")
    await sender.wait_idle()
    assert len(await copies(server_rest, item.uuid)) == 1
    assert journal.states(item.uuid) == ["queued", "sending", "unknown", "checking", "sent"]
    (ev,) = await copies(server_rest, item.uuid)
    sent = [c.item for _, c in journal.changes if c.item.state is ItemState.SENT]
    assert sent[0].result_id == ev.id
    assert [e.raw["content"] for e in await copies(server_rest, after.uuid)] == ["next"]
    await sender.aclose()


async def test_5xx_with_retry_after_waits_then_checks_then_resends_once(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=503, retry_after=7, count=2)
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    item = sender.submit(MAIN, "after the outage")
    await sender.wait_idle()
    sends = journal.times(item.uuid, ItemState.SENDING)
    assert len(sends) == 3
    # Virtual clock readings are floats: allow for rounding, not for a shorter wait.
    assert sends[1] - sends[0] >= 7 - 1e-6 and sends[2] - sends[1] >= 7 - 1e-6
    assert journal.states(item.uuid).count("checking") == 2  # a 5xx may have stored it
    assert len(await copies(server_rest, item.uuid)) == 1
    await sender.aclose()


async def test_429_honours_retry_after_and_needs_no_check(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=429, retry_after=30)
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    item = sender.submit(MAIN, "rate limited")
    await sender.wait_idle()
    first, second = journal.times(item.uuid, ItemState.SENDING)
    assert 30 <= second - first < 31
    assert journal.states(item.uuid) == ["queued", "sending", "waiting", "sending", "sent"]
    assert len(await copies(server_rest, item.uuid)) == 1
    await sender.aclose()


async def test_500_without_retry_after_backs_off_exponentially(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=500, count=4)
    sender = make_sender(server_rest)  # rng 0: the lower edge of equal jitter
    journal = Journal(sender)
    sender.start()
    item = sender.submit(MAIN, "persistent")
    await sender.wait_idle()
    sends = journal.times(item.uuid, ItemState.SENDING)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(sends)]
    assert gaps == [0.5, 1, 2, 4]  # half of 1, 2, 4, 8 s: equal jitter at its lower edge
    assert len(await copies(server_rest, item.uuid)) == 1
    await sender.aclose()


async def test_other_4xx_is_final_with_the_servers_message_and_can_be_retried_edited(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=422, message="too long")
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    bad = sender.submit(MAIN, "x" * 10)
    good = sender.submit(MAIN, "behind it")
    await sender.wait_idle()
    failed = sender.get(bad.uuid)
    assert failed is not None and failed.state is ItemState.FAILED
    assert failed.error == "HTTP 422: too long"
    assert await copies(server_rest, bad.uuid) == []
    assert len(await copies(server_rest, good.uuid)) == 1  # a refusal does not block the flow
    sender.retry(bad.uuid, "x" * 5)
    await sender.wait_idle()
    assert [ev.raw["content"] for ev in await copies(server_rest, bad.uuid)] == ["xxxxx"]
    assert journal.states(bad.uuid)[-3:] == ["queued", "sending", "sent"]
    await sender.aclose()


async def test_discard_a_failed_message_removes_it_from_the_outbox(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=400)
    sender = make_sender(server_rest)
    sender.start()
    bad = sender.submit(MAIN, "nope")
    await sender.wait_idle()
    sender.discard(bad.uuid)
    assert sender.pending == 0
    await sender.aclose()
    with OutboxStore(sender._store.directory) as store:
        assert store.records() == []


async def test_offline_holds_sending_and_online_sends_at_once(
    server_rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    sender.set_online(False)
    item = sender.submit(MAIN, "typed on the train")
    await asyncio.sleep(300)
    assert journal.states(item.uuid) == ["queued"]
    assert await copies(server_rest, item.uuid) == []
    t = asyncio.get_running_loop().time()
    sender.set_online(True)
    await sender.wait_idle()
    assert journal.times(item.uuid, ItemState.SENT)[0] - t < 1
    assert len(await copies(server_rest, item.uuid)) == 1
    await sender.aclose()


async def test_reconnect_cuts_our_backoff_short(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=500, count=6)
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    item = sender.submit(MAIN, "soon")
    await asyncio.sleep(20)  # six failures by then: the next wait would be 16 s
    sender.set_online(False)
    sender.set_online(True)
    t = asyncio.get_running_loop().time()
    await sender.wait_idle()
    assert journal.times(item.uuid, ItemState.SENT)[0] - t < 1
    assert len(await copies(server_rest, item.uuid)) == 1
    await sender.aclose()


async def test_a_stuck_conversation_does_not_hold_up_another(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=503, retry_after=100)
    me = await server_rest.user()
    other = next(u for u in await server_rest.users() if u.id != me.id)
    dm = Destination.private(other.id)
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    first = sender.submit(MAIN, "first")
    second = sender.submit(MAIN, "second")
    elsewhere = sender.submit(dm, "elsewhere")
    await asyncio.sleep(50)
    assert journal.states(elsewhere.uuid)[-1] == "sent"
    assert journal.states(second.uuid) == ["queued"]  # waits its turn behind "first"
    await sender.wait_idle()
    a, b = (await copies(server_rest, first.uuid))[0], (await copies(server_rest, second.uuid))[0]
    assert a.id is not None and b.id is not None and a.id < b.id
    await sender.aclose()


async def test_next_start_sends_what_a_closed_sender_left(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=503, retry_after=3600)
    first = make_sender(server_rest)
    first.start()
    item = first.submit(MAIN, "survives a quit")
    queued = first.submit(MAIN, "never tried")
    await asyncio.sleep(10)
    await first.aclose()
    assert await copies(server_rest, item.uuid) == []

    second = make_sender(server_rest)
    journal = Journal(second)
    loaded = second.start()
    assert [(i.uuid, i.state) for i in loaded] == [
        (item.uuid, ItemState.UNKNOWN),
        (queued.uuid, ItemState.QUEUED),
    ]
    await second.wait_idle()
    assert journal.states(item.uuid) == ["unknown", "checking", "queued", "sending", "sent"]
    assert len(await copies(server_rest, item.uuid)) == 1
    assert len(await copies(server_rest, queued.uuid)) == 1
    await second.aclose()


async def test_a_record_left_sending_is_found_by_uuid_not_reposted(
    project_server: RunningServer,
    server_rest: RestClient,
    make_sender: Callable[..., Sender],
    data_dir: Path,
) -> None:
    # What a crash right after the server stored the message leaves behind.
    uid = new_uuid()
    stored = await server_rest.post_message(MAIN.id, "made it", uuid=uid)
    with OutboxStore(data_dir) as store:
        item = OutboxItem(uuid=uid, dest=MAIN, op="post", seq=1, content="made it")
        item.state, item.attempts, item.created_ms = ItemState.SENDING, 1, stored["sent"]
        store.put(item.to_record())
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    await sender.wait_idle()
    assert journal.states(uid) == ["unknown", "checking", "sent"]
    assert len(await copies(server_rest, uid)) == 1
    await sender.aclose()


async def test_tags_are_set_through_the_message(
    server_rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    sender = make_sender(server_rest)
    sender.start()
    item = sender.submit(MAIN, "tag me", tags=["first"])
    await sender.wait_idle()
    (ev,) = await copies(server_rest, item.uuid)
    assert ev.id is not None and "first" in ev.tags
    sender.submit_tags(MAIN, ev.id, ["first", "bug"])
    await sender.wait_idle()
    tags = (await server_rest.message(MAIN.id, ev.id)).tags
    assert {"first", "bug"} <= set(tags)
    await sender.aclose()


async def test_reactions_are_added_and_removed_on_the_server(
    server_rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    sender = make_sender(server_rest)
    sender.start()
    item = sender.submit(MAIN, "react to me")
    await sender.wait_idle()
    (ev,) = await copies(server_rest, item.uuid)
    assert ev.id is not None
    sender.submit_reaction(MAIN, ev.id, "tada")
    await sender.wait_idle()
    stored = (await server_rest.message(MAIN.id, ev.id)).raw
    assert list(stored["emojiReactions"]) == ["tada"]
    sender.submit_reaction(MAIN, ev.id, "tada", add=False)
    await sender.wait_idle()
    assert (await server_rest.message(MAIN.id, ev.id)).raw["emojiReactions"] == {}
    await sender.aclose()


async def test_changes_can_be_followed_as_an_async_iterator(
    server_rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    sender = make_sender(server_rest)
    sender.start()
    seen: list[tuple[str, str | None, str]] = []

    async def follow() -> None:
        async for change in sender.changes():
            prev = change.previous.value if change.previous else None
            seen.append((change.item.content, prev, change.item.state.value))

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0)
    sender.submit(MAIN, "watched")
    await sender.wait_idle()
    await sender.aclose()
    await asyncio.wait_for(follower, 1)  # ends when the sender closes
    assert seen == [
        ("watched", None, "queued"),
        ("watched", "queued", "sending"),
        ("watched", "sending", "sent"),
    ]


async def test_drain_says_whether_the_outbox_emptied_in_time(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    await add_fault(scope="write", kind="status", status=503, retry_after=60)
    sender = make_sender(server_rest)
    sender.start()
    sender.submit(MAIN, "slow")
    assert await drain(sender, 10) is False  # what a quit asks the user about
    assert sender.pending == 1
    assert await drain(sender, 120) is True
    assert sender.pending == 0
    await sender.aclose()


async def test_a_timeout_waits_for_a_slow_server_before_checking(
    server_rest: RestClient, make_sender: Callable[..., Sender], add_fault: AddFault
) -> None:
    # The server stores the message 15 s after it arrives; RestClient gives up after 10 s.
    await add_fault(scope="write", kind="delay", delay=15)
    sender = make_sender(server_rest)
    journal = Journal(sender)
    sender.start()
    item = sender.submit(MAIN, "slow server")
    await sender.wait_idle()
    assert journal.states(item.uuid) == ["queued", "sending", "unknown", "checking", "sent"]
    (checked,) = journal.times(item.uuid, ItemState.CHECKING)
    (sending,) = journal.times(item.uuid, ItemState.SENDING)
    assert checked - sending >= 10 + sender.policy.timeout_grace
    assert len(await copies(server_rest, item.uuid)) == 1
    await sender.aclose()
