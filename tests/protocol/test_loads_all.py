"""`jsonstream.loads_all`: a chunk's event data parsed in one call, exactly as `loads_utf8`
parses each, or None (the caller then goes item by item); and the stream client's use of it
(`Connection._from_sse`): values, kept texts and skips as item by item."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.protocol import connection, jsonstream
from flowview.protocol.items import RawEvent, Skipped
from flowview.protocol.jsonstream import loads_all, loads_utf8, may_hold_big_int
from tests.protocol.harness import chunked_sse_client

pytestmark = pytest.mark.timeout(120)

# Items a chunk can hold: events, and what is not one on its own (fragments that would make
# a valid array if joined, empties, deep nesting, big integers, invalid UTF-8, NaN).
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
items = st.one_of(
    values.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.sampled_from(
        [
            b"",
            b"1, 2",
            b"[1",
            b"2]",
            b'{"a":"}',
            b'{","b":1}',
            b"NaN",
            b'"\xff"',
            b'{"n": 12345678901234567890123}',
            b"[" * 300 + b"]" * 300,
            b" {} ",
        ]
    ),
)


@settings(deadline=None)
@given(st.lists(items, max_size=8))
def test_loads_all_is_each_item_parsed_alone_or_none(datas: list[bytes]) -> None:
    screened = may_hold_big_int(b"".join(datas))
    got = loads_all(datas, screened)
    if got is None:
        return
    expected = [loads_utf8(d, screened) for d in datas]  # raises if one is not valid alone
    assert repr(got) == repr(expected)


finite = st.recursive(
    st.one_of(st.none(), st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(st.lists(finite.map(lambda v: json.dumps({"event": "message", "v": v}).encode())))
def test_loads_all_takes_the_fast_path_for_plain_events(datas: list[bytes]) -> None:
    joined = b"".join(datas)
    if may_hold_big_int(joined):
        assert loads_all(datas, True) is None
        return
    got = loads_all(datas, False)
    assert got is not None and repr(got) == repr([json.loads(d) for d in datas])


def test_loads_all_leaves_str_items_and_deep_ones_to_the_caller() -> None:
    assert loads_all([b"{}", "{}"], False) is None
    assert loads_all([b"[" * 257 + b"]" * 257], False) is None
    assert loads_all([b"[" * 256 + b"]" * 256], False) == [json.loads("[" * 256 + "]" * 256)]
    assert loads_all([b"1", b"2"], True) is None  # the chunk may hold a big integer


def _block(ident: int, data: bytes) -> bytes:
    return b"id: %d\ndata: %b\n\n" % (ident, data)


async def _items(chunks: list[bytes], raw: bool) -> list[Any]:
    client, http = chunked_sse_client(chunks, raw_events=raw, token="loads-all-token")
    got: list[Any] = []
    try:
        async with client:
            async for batch in client.batches():
                got.extend(i for i in batch if hasattr(i, "id") or isinstance(i, Skipped))
                if sum(1 for i in got if hasattr(i, "id")) >= 4:
                    break
    finally:
        await http.aclose()
    return got


def _event(mid: int) -> bytes:
    return json.dumps({"event": "message", "flow": "f", "id": mid, "content": f"m{mid}"}).encode()


@pytest.mark.parametrize("raw", [True, False])
async def test_a_chunk_of_common_events_is_parsed_in_one_call(
    raw: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_by_one: list[bytes] = []

    def spy(data: bytes, digits_possible: bool = True) -> Any:
        one_by_one.append(data)
        return loads_utf8(data, digits_possible)

    monkeypatch.setattr(connection, "loads_utf8", spy)
    # The first chunk settles the BOM (general path, str items); the second is all bytes.
    first = _block(1, _event(1))
    second = b"".join(_block(i, _event(i)) for i in (2, 3, 4))
    got = await _items([first, second], raw)
    assert [i.id for i in got] == [1, 2, 3, 4]
    # only what the line loop decoded went alone: the first chunk, and the head of the second
    # (the block it finishes; here a whole one)
    assert one_by_one == [_event(1), _event(2)]
    if raw:
        assert [i.text for i in got] == [_event(i) for i in (1, 2, 3, 4)]


@pytest.mark.parametrize("raw", [True, False])
async def test_a_chunk_with_a_bad_event_goes_item_by_item_and_stays_aligned(
    raw: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = jsonstream.loads_all

    def spy(
        datas: Any, digits_possible: bool = True, deep_possible: bool = True
    ) -> list[Any] | None:
        result = real(datas, digits_possible, deep_possible)
        calls.append(-1 if result is None else len(result))
        return result

    monkeypatch.setattr(connection, "loads_all", spy)
    first = _block(1, _event(1))
    second = _block(2, _event(2)) + _block(3, b"{not json") + _block(4, _event(4))
    second += _block(5, _event(5))
    got = await _items([first, second], raw)
    assert calls == [-1]  # the bad event sent the chunk item by item
    # (a chunk's skips come before its events)
    assert [i.id if hasattr(i, "id") else "skip" for i in got] == [1, "skip", 2, 4, 5]
    if raw:
        texts = [i.text for i in got if isinstance(i, RawEvent)]
        assert texts == [_event(i) for i in (1, 2, 4, 5)]
