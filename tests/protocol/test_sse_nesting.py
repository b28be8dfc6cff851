"""The stream client on the event-stream: an event nested deeper than the stdlib parses, in a
chunk of common events, is skipped as the stdlib would have it (orjson alone would take it),
while its neighbours arrive; the chunk-wide nesting screen only decides when to count.
"""

from __future__ import annotations

import json

import httpx
import pytest

from flowview.protocol.client import StreamClient
from flowview.protocol.items import RawEvent, Skipped
from tests.protocol.harness import chunked_sse_client


def _block(ident: int, content: bytes) -> bytes:
    data = b'{"event": "message", "flow": "f", "id": %d, "content": %b}' % (ident, content)
    return b"id: %d\ndata: %b\n\n" % (ident, data)


async def _items(chunks: list[bytes], events: int) -> tuple[list[RawEvent], list[Skipped]]:
    client: StreamClient
    http: httpx.AsyncClient
    client, http = chunked_sse_client(chunks, raw_events=True, token="sse-nesting-token")
    got: list[RawEvent] = []
    skipped: list[Skipped] = []
    try:
        async with client:
            async for batch in client.batches():
                got.extend(item for item in batch if isinstance(item, RawEvent))
                skipped.extend(item for item in batch if isinstance(item, Skipped))
                if len(got) >= events:
                    break
    finally:
        await http.aclose()
    return got, skipped


@pytest.mark.timeout(30)
async def test_a_deep_event_in_a_chunk_gets_the_stdlib_verdict() -> None:
    depth = 1000
    deep = b"[" * depth + b"]" * depth
    try:
        json.loads(deep)
        rejected = False
    except RecursionError:
        rejected = True
    first = _block(1, b'"start"')
    body = b"".join(_block(i, deep if i == 5 else b'"x"') for i in range(2, 10))
    got, skipped = await _items([first, body], 8 if rejected else 9)
    ids = [e.id for e in got]
    if rejected:
        assert ids == [1, 2, 3, 4, 6, 7, 8, 9]
        assert len(skipped) == 1 and "malformed" in skipped[0].reason
    else:
        assert ids == list(range(1, 10))
