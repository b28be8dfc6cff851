"""The event-stream hot path of the stream client: the common events' data reach the JSON
parser as the bytes received (`SSEDecoder.feed_data`), screened for long digit runs once per
chunk. Values and kept texts must be what parsing each event's decoded text gives.

The body is served by an `httpx.MockTransport` so that the chunk boundaries are exactly the
ones written here (over a socket they depend on timing): the first chunk settles the BOM and
goes through the general path, the next one holds whole blocks for the bytes path.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from flowview.protocol.client import StreamClient
from flowview.protocol.items import RawEvent
from tests.protocol.harness import chunked_sse_client

BIG = 123456789012345678901234  # past 64 bits: orjson would turn it into a float


def _client(chunks: list[bytes]) -> tuple[StreamClient, httpx.AsyncClient]:
    return chunked_sse_client(chunks, raw_events=True, token="sse-hot-path-token")


async def _events(chunks: list[bytes], count: int) -> list[RawEvent]:
    client, http = _client(chunks)
    got: list[RawEvent] = []
    try:
        async with client:
            async for batch in client.batches():
                got.extend(item for item in batch if isinstance(item, RawEvent))
                if len(got) >= count:
                    break
    finally:
        await http.aclose()
    return got


def _block(ident: int, record: dict[str, Any] | bytes) -> bytes:
    data = record if isinstance(record, bytes) else json.dumps(record, ensure_ascii=False).encode()
    return b"id: %d\ndata: %b\n\n" % (ident, data)


@pytest.mark.timeout(30)
async def test_bytes_path_values_and_texts_equal_the_decoded_texts() -> None:
    records: list[dict[str, Any] | bytes] = [
        {"event": "message", "flow": "f", "id": 2, "content": "café ☕ 😀"},
        {"event": "message", "flow": "f", "id": 3, "content": "n", "big": BIG},
        b'{"event": "message", "flow": "f", "id": 4, "content": "\xff\xfe bad"}',
        {"event": "message", "flow": "f", "id": 5, "content": "plain"},
    ]
    first = _block(1, {"event": "message", "flow": "f", "id": 1, "content": "start"})
    body = b"".join(_block(i + 2, r) for i, r in enumerate(records))
    got = await _events([first, body], 5)
    assert [e.id for e in got] == [1, 2, 3, 4, 5]
    raw_texts = [first, *(_block(i + 2, r) for i, r in enumerate(records))]
    for event, block in zip(got, raw_texts, strict=True):
        data = block.split(b"\ndata: ", 1)[1][:-2]
        # The value of the decoded text, exactly (an int stays an int past 64 bits) ...
        expected = json.loads(data.decode("utf-8", "replace"))
        assert repr(event.raw) == repr(expected)
        # ... and the text is the data as received.
        assert event.text == data
    assert type(got[2].raw["big"]) is int and got[2].raw["big"] == BIG
    assert got[3].raw["content"] == "\ufffd\ufffd bad"
