"""kill -9 keeps typed messages: a killed process's outbox is sent by the next one, exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from flowview.protocol.rest import RestClient
from flowview.protocol.sender import Sender
from tests.protocol.sender_testkit import Fault, ScriptedApi

pytestmark = pytest.mark.timeout(120)

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from flowview.protocol.auth import Token
    from flowview.protocol.outbox_store import OutboxStore
    from flowview.protocol.rest import RestClient
    from flowview.protocol.sender import Destination, Sender

    async def main() -> None:
        sender = Sender(RestClient(sys.argv[1], Token("t")), OutboxStore())
        sender.start()
        for text in ("one", "two"):
            item = sender.submit(Destination.flow("acme/main"), text)
            print(item.uuid, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_messages_of_a_killed_process_are_sent_once_by_the_next(
    api: ScriptedApi, rest: RestClient, make_sender: Callable[..., Sender], data_dir: Path
) -> None:
    api.write_faults.append(Fault(hang=True))  # stores "one", then never answers
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        api.base_url,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "FLOWVIEW_DATA_DIR": str(data_dir)},
    )
    assert child.stdout is not None
    uuids = [(await child.stdout.readline()).decode().strip() for _ in range(2)]
    for _ in range(3000):
        if api.posts():
            break
        await asyncio.sleep(0.01)
    assert [m["content"] for m in api.all_messages()] == ["one"]
    child.send_signal(signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL

    sender = make_sender(rest)
    loaded = sender.start()  # the lock died with the process
    assert [i.uuid for i in loaded] == uuids
    await asyncio.wait_for(sender.wait_idle(), 30)
    assert [(m["content"], m["uuid"]) for m in api.all_messages()] == list(
        zip(["one", "two"], uuids, strict=True)
    )
    assert len(api.posts()) == 2  # "one" was found in history, not posted again
    await sender.aclose()
