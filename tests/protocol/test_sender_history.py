"""The uuid search after an unknown outcome, on a scripted loopback API: paging and its bounds."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from flowview.protocol.outbox_store import OutboxStore, OutboxStoreError
from flowview.protocol.rest import RestClient
from flowview.protocol.sender import Destination, ItemState, Sender, StateChanged
from tests.protocol.sender_testkit import Fault, ScriptedApi

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]

MAIN = Destination.flow("acme/main")
CONV = "flows/acme/main"


async def test_found_three_pages_back_when_busy_traffic_followed(
    api: ScriptedApi, rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    api.write_faults.append(Fault(drop=True))
    sender = make_sender(rest)

    def busy(change: StateChanged) -> None:
        if change.item.state is ItemState.UNKNOWN:
            api.add_history(CONV, 250)  # others talk before we get to check

    sender.add_listener(busy)
    sender.start()
    item = sender.submit(MAIN, "buried")
    await sender.wait_idle()
    assert [m["uuid"] for m in api.all_messages()].count(item.uuid) == 1
    assert len(api.reads()) == 3  # 100 + 100 + the page holding it
    assert len(api.posts()) == 1
    await sender.aclose()


async def test_search_stops_at_messages_older_than_the_item(
    api: ScriptedApi, rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    api.add_history(CONV, 300, sent=1_700_000_000_000)  # from 2023
    api.write_faults.append(Fault(status=500))  # refused before storing
    sender = make_sender(rest)
    sender.start()
    item = sender.submit(MAIN, "not there")
    await sender.wait_idle()
    assert len(api.reads()) == 1  # one page reached back past the item's creation
    assert [m["uuid"] for m in api.all_messages()].count(item.uuid) == 1
    await sender.aclose()


async def test_search_stops_at_the_newest_message_the_ui_had_seen(
    api: ScriptedApi, rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    sender = make_sender(rest)
    api.add_history(CONV, 150)
    seen = api.next_id - 1
    api.add_history(CONV, 150)  # arrived after the user started typing
    api.write_faults.append(Fault(status=502))
    sender.start()
    sender.submit(MAIN, "bounded", after_id=seen)
    await sender.wait_idle()
    assert len(api.reads()) == 2  # ids 301..202, then 201..102: reached `seen`
    await sender.aclose()


async def test_a_failing_check_is_retried_and_never_resends_blind(
    api: ScriptedApi, rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    api.write_faults.append(Fault(drop=True))
    api.read_faults.extend([Fault(status=503), Fault(status=500)])
    sender = make_sender(rest)
    sender.start()
    item = sender.submit(MAIN, "patience")
    await sender.wait_idle()
    assert len(api.posts()) == 1
    assert len(api.reads()) == 3
    assert [m["uuid"] for m in api.all_messages()] == [item.uuid]
    await sender.aclose()


async def test_a_timeout_after_the_request_left_is_resolved_by_the_check(
    api: ScriptedApi, rest: RestClient, make_sender: Callable[..., Sender]
) -> None:
    api.write_faults.append(Fault(hang=True))  # stored, never answered: RestClient times out
    sender = make_sender(rest)
    sender.start()
    item = sender.submit(MAIN, "timed out")
    await sender.wait_idle()
    assert [m["uuid"] for m in api.all_messages()] == [item.uuid]
    assert len(api.posts()) == 1
    await sender.aclose()


def test_refuses_a_directory_owned_by_someone_else(data_dir: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a directory away")
    data_dir.mkdir(parents=True, mode=0o700)
    os.chown(data_dir, 65534, 65534)
    with pytest.raises(OutboxStoreError, match="another user"):
        OutboxStore().open()
