"""The JSON-stream decoder parses a chunk's records in one call (`loads_all`) when they are
all plain, and record by record otherwise: values, kept records and skips are the same
either way, however the bytes are cut."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.protocol import jsonstream
from flowview.protocol.jsonstream import JsonStreamDecoder

pytestmark = pytest.mark.timeout(120)

records = st.one_of(
    st.dictionaries(
        st.sampled_from(["event", "id", "content"]),
        st.one_of(st.integers(-5, 10**6), st.text(max_size=5), st.none()),
        max_size=3,
    ).map(lambda d: json.dumps(d).encode()),
    st.sampled_from(
        [b"{bad", b"", b"  ", b"[" * 300 + b"]" * 300, b'{"n": 12345678901234567890123}', b"x" * 90]
    ),
)


def decode(chunks: list[bytes], keep: bool) -> tuple[list[str], list[Any] | None, list[str]]:
    skips: list[str] = []
    decoder = JsonStreamDecoder(64, skips.append, keep_records=keep)
    values: list[str] = []
    kept: list[Any] | None = [] if keep else None
    for chunk in chunks:
        values += [repr(v) for v in decoder.feed(chunk)]
        if keep:
            taken = decoder.take_records()
            if kept is not None:
                kept = None if taken is None else kept + taken
    return values, kept, skips


@settings(max_examples=200, deadline=None)
@given(
    st.lists(records, max_size=12),
    st.lists(st.integers(1, 80), min_size=1, max_size=6),
    st.booleans(),
)
def test_one_call_per_chunk_decodes_as_record_by_record(
    recs: list[bytes], cuts: list[int], keep: bool
) -> None:
    body = b"".join(r + b"\r\n" for r in recs)
    chunks, at = [], 0
    for size in cuts * (len(body) // sum(cuts) + 1):
        if at >= len(body):
            break
        chunks.append(body[at : at + size])
        at += size
    fast = decode(chunks, keep)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonstream, "loads_all", lambda datas, digits=True, deep=True: None)
        slow = decode(chunks, keep)
    assert fast == slow


def test_a_chunk_of_plain_records_is_parsed_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    one_by_one: list[bytes] = []
    real = jsonstream.loads_utf8

    def spy(data: bytes, digits_possible: bool = True) -> Any:
        one_by_one.append(bytes(data))
        return real(data, digits_possible)

    monkeypatch.setattr(jsonstream, "loads_utf8", spy)
    decoder = JsonStreamDecoder(keep_records=True)
    body = b"".join(b'{"id": %d}\r\n' % i for i in range(6))
    # a record cut in two: the second chunk starts with its rest (the buffered path)
    assert decoder.feed(body[:20]) == [{"id": 0}]
    assert decoder.feed(body[20:]) == [{"id": i} for i in range(1, 6)]
    assert one_by_one == []
    assert decoder.take_records() == [b'{"id": %d}' % i for i in range(6)]
    decoder.feed(b'{"id": 7}\r{bad\r')  # a malformed one: record by record
    assert one_by_one == [b'{"id": 7}', b"{bad"]
