"""The nesting screen for a whole chunk (`jsonstream.may_nest_deeply`), which lets the
one-call parse (`loads_all`) skip counting each record's brackets: the screen against its
definition, and the decoders' verdict on a deeply nested record inside a chunk of plain ones
(what the stdlib says about it, as before, never orjson's deeper limit).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.protocol.jsonstream import (
    JsonStreamDecoder,
    loads_all,
    loads_utf8,
    may_hold_big_int,
    may_nest_deeply,
)
from flowview.protocol.sse import SSEDecoder

DEEP = 256  # jsonstream._DEEP

_PIECES = st.sampled_from([b"[", b"{", b"]", b"}", b"\n", b"\r", b"x", b"[" * 100, b"{" * 60])


def _reference(data: bytes, line_end: bytes) -> bool:
    return any(line.count(b"[") + line.count(b"{") > DEEP for line in data.split(line_end))


@settings(max_examples=300, deadline=None)
@given(data=st.lists(_PIECES, max_size=40).map(b"".join), line_end=st.sampled_from([b"\n", b"\r"]))
def test_the_screen_is_a_count_per_line(data: bytes, line_end: bytes) -> None:
    assert may_nest_deeply(data, line_end) == _reference(data, line_end)


def test_the_screen_at_its_edges() -> None:
    assert not may_nest_deeply(b"[" * 256)
    assert may_nest_deeply(b"[" * 128 + b"x" + b"{" * 129)
    assert not may_nest_deeply(b"[" * 200 + b"\n" + b"[" * 200)
    assert may_nest_deeply(b"[" * 200 + b"\n" + b"[" * 200, b"\r")
    assert not may_nest_deeply(b"[" * 200 + b"\r" + b"{" * 200, b"\r")


def _deep_record(ident: int, depth: int) -> bytes:
    return b'{"event": "message", "flow": "f", "id": %d, "content": %b}' % (
        ident,
        b"[" * depth + b"]" * depth,
    )


def _plain(ident: int) -> bytes:
    return b'{"event": "message", "flow": "f", "id": %d, "content": "x"}' % ident


def _stdlib(record: bytes) -> Any:
    try:
        return json.loads(record)
    except RecursionError:
        return ValueError


def test_the_json_decoder_leaves_a_deep_record_in_a_chunk_to_the_stdlib() -> None:
    for depth in (300, 1000):
        records = [_plain(i) for i in range(20)] + [_deep_record(20, depth)]
        records += [_plain(i) for i in range(21, 40)]
        dec = JsonStreamDecoder(keep_records=True)
        got = dec.feed(b"".join(r + b"\r\n" for r in records))
        want = [v for v in map(_stdlib, records) if v is not ValueError]
        assert got == want
        assert dec.skipped == len(records) - len(want)
    # A chunk of plain records takes the one-call path with the screen.
    dec = JsonStreamDecoder()
    assert dec.feed(b"".join(_plain(i) + b"\r\n" for i in range(30))) == [
        json.loads(_plain(i)) for i in range(30)
    ]
    assert not dec._deep_possible


def test_the_sse_decoder_reports_a_chunk_with_a_deep_line() -> None:
    def sse(records: list[bytes]) -> bytes:
        return b"".join(b"id: %d\ndata: %b\n\n" % (i, r) for i, r in enumerate(records))

    def decoded(records: list[bytes]) -> tuple[SSEDecoder, list[bytes], bytes]:
        dec = SSEDecoder()
        assert dec.feed_data(b": settles the BOM\n") == []
        chunk = sse(records)
        datas = dec.feed_data(chunk)
        # The first block is finished by the line loop (str); the others are cut as bytes.
        assert isinstance(datas[0], str)
        rest = [d for d in datas[1:] if isinstance(d, bytes)]
        assert len(rest) == len(records) - 1
        return dec, rest, chunk

    plain = [_plain(i) for i in range(30)]
    dec, rest, chunk = decoded(plain)
    assert not dec.deep_possible
    got = loads_all(rest, may_hold_big_int(chunk), dec.deep_possible)
    assert got == [json.loads(r) for r in plain[1:]]
    deep = [*plain[:10], _deep_record(10, 1000), *plain[11:]]
    dec, rest, chunk = decoded(deep)
    assert dec.deep_possible
    # The one-call path refuses the chunk; item by item the stdlib has the last word.
    assert loads_all(rest, may_hold_big_int(chunk), dec.deep_possible) is None
    for item, record in zip(rest, deep[1:], strict=True):
        want = _stdlib(record)
        if want is ValueError:
            try:
                loads_utf8(item)
            except ValueError:
                continue
            raise AssertionError("a record the stdlib rejects was accepted")
        assert loads_utf8(item) == want
