"""JsonStreamDecoder: Flowdock's CR-delimited JSON stream framing."""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any

import pytest

from flowview.protocol.jsonstream import JsonStreamDecoder, loads

pytestmark = pytest.mark.timeout(60)


def feed_all(chunks: list[bytes], **kwargs: Any) -> tuple[list[Any], JsonStreamDecoder]:
    dec = JsonStreamDecoder(**kwargs)
    out: list[Any] = []
    for chunk in chunks:
        out.extend(dec.feed(chunk))
    return out, dec


# node-flowdock test/json_stream.test.coffee (reliability doc §1.5)


def test_node_keepalive_only_yields_nothing() -> None:
    dec = JsonStreamDecoder()
    assert dec.feed(b"\n") == []
    assert dec.buffered == 0


def test_node_partial_record_yields_nothing() -> None:
    dec = JsonStreamDecoder()
    assert dec.feed(b"{") == []
    assert dec.buffered == 1


def test_node_single_record() -> None:
    assert JsonStreamDecoder().feed(b"{}\r\n") == [{}]


def test_node_two_records() -> None:
    assert JsonStreamDecoder().feed(b"{}\r\n{}\r\n") == [{}, {}]


def test_node_leading_keepalive_joined_across_chunks() -> None:
    out, _ = feed_all([b"\n{", b"}\r\n"])
    assert out == [{}]


def test_node_multibyte_split_inside_character() -> None:
    out, _ = feed_all([bytes.fromhex("5b22c3"), bytes.fromhex("a4225d0d0a")])
    assert out == [["ä"]]


# Mixed stream exercised at every chunk boundary

MIXED = (
    b"\n\n"  # keep-alives before anything
    + b'{"event":"message","content":"hi \xe2\x82\xac \xf0\x9f\x98\x80"}\r\n'
    + b"\n"  # keep-alive between records
    + b'{\n  "event": "comment",\n  "content": {"text": "pretty"}\n}\r\n'  # pretty-printed
    + b'{"content":"sep\xe2\x80\xa8para\xe2\x80\xa9nel\xc2\x85end"}\r'  # CR only, U+2028/9/85
    + b"\n\n"
    + b"[1, 2, 3]\r\n"
    + b'"just a string"\r'
    + b"\r\r\n"  # empty records
    + b'{"id": 7}\r\n'
)
MIXED_EXPECTED: list[Any] = [
    {"event": "message", "content": "hi € 😀"},
    {"event": "comment", "content": {"text": "pretty"}},
    {"content": "sep\u2028para\u2029nel\u0085end"},
    [1, 2, 3],
    "just a string",
    {"id": 7},
]


def test_mixed_stream_whole() -> None:
    out, dec = feed_all([MIXED])
    assert out == MIXED_EXPECTED
    assert (dec.skipped, dec.oversized, dec.buffered) == (0, 0, 0)


@pytest.mark.parametrize("size", range(1, 40))
def test_mixed_stream_fixed_chunk_sizes(size: int) -> None:
    chunks = [MIXED[i : i + size] for i in range(0, len(MIXED), size)]
    out, dec = feed_all(chunks)
    assert out == MIXED_EXPECTED
    assert (dec.skipped, dec.oversized) == (0, 0)


def test_mixed_stream_every_two_way_split() -> None:
    for cut in range(len(MIXED) + 1):
        out, dec = feed_all([MIXED[:cut], MIXED[cut:]])
        assert out == MIXED_EXPECTED, cut
        assert dec.skipped == 0


def test_mixed_stream_every_three_way_split_sample() -> None:
    # All (i, j) pairs on a stride keep this fast while covering boundaries inside every record.
    n = len(MIXED)
    for i in range(0, n + 1, 3):
        for j in range(i, n + 1, 7):
            out, _ = feed_all([MIXED[:i], MIXED[i:j], MIXED[j:]])
            assert out == MIXED_EXPECTED, (i, j)


def test_unicode_line_separators_never_split_a_record() -> None:
    payload = {"content": "a\u2028b\u2029c\u0085d\x0be\x0cf"}
    raw = json.dumps(payload, ensure_ascii=False).encode() + b"\r\n"
    assert JsonStreamDecoder().feed(raw) == [payload]


def test_pretty_printed_record_with_blank_lines_inside() -> None:
    raw = b'{\n\n  "a": [\n    1,\n\n    2\n  ]\n}\n\r\n'
    assert JsonStreamDecoder().feed(raw) == [{"a": [1, 2]}]


def test_cr_only_terminators() -> None:
    assert JsonStreamDecoder().feed(b'{"a":1}\r{"b":2}\r') == [{"a": 1}, {"b": 2}]


def test_newline_only_separators_do_not_split_records() -> None:
    # Documented behaviour: only \r ends a record. A \n-separated stream is one record that
    # never completes until a \r arrives, and then it is not valid JSON.
    skips: list[str] = []
    dec = JsonStreamDecoder(on_skip=skips.append)
    assert dec.feed(b'{"a":1}\n{"b":2}\n') == []
    assert dec.buffered > 0
    assert dec.feed(b"\r\n") == []
    assert dec.skipped == 1
    assert "extra data" in skips[0]
    assert dec.feed(b'{"c":3}\r\n') == [{"c": 3}]


def test_keepalives_between_chunks_are_not_buffered() -> None:
    dec = JsonStreamDecoder()
    for _ in range(1000):
        assert dec.feed(b"\n") == []
        assert dec.feed(b" \t\n") == []
    assert dec.buffered == 0
    assert dec.feed(b"{}\r\n") == [{}]


def test_malformed_record_skipped_counted_and_stream_continues() -> None:
    skips: list[str] = []
    out, dec = feed_all(
        [b'{"ok":1}\r\n{"broken": \r\n', b'nope\r\n{"ok":2}\r\n{"a":1} trailing\r\n{"ok":3}\r\n'],
        on_skip=skips.append,
    )
    assert out == [{"ok": 1}, {"ok": 2}, {"ok": 3}]
    assert dec.skipped == 3
    assert dec.oversized == 0
    assert len(skips) == 3
    assert all(s.startswith("malformed JSON record") for s in skips)


def test_skip_reason_is_short_and_sanitised() -> None:
    skips: list[str] = []
    hostile = b'{"x": "\x1b]0;pwned\x07\xe2\x80\xae' + b"A" * 5000 + b"\r\n"
    dec = JsonStreamDecoder(on_skip=skips.append)
    assert dec.feed(hostile) == []
    assert dec.skipped == 1
    (reason,) = skips
    assert len(reason) < 160
    assert "A" * 100 not in reason
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in reason)
    assert "\u202e" not in reason  # bidi override escaped by repr()


def test_deeply_nested_record_is_skipped_not_crashing() -> None:
    dec = JsonStreamDecoder()
    assert dec.feed(b"[" * 200_000 + b"\r\n" + b"{}\r\n") == [{}]
    assert dec.skipped == 1


def test_integer_beyond_str_digit_limit_is_skipped() -> None:
    dec = JsonStreamDecoder()
    assert dec.feed(b"1" * 10_000 + b"\r\n" + b"2\r\n") == [2]
    assert dec.skipped == 1


def test_invalid_utf8_becomes_replacement_character() -> None:
    out, dec = feed_all([b'{"t":"a\xffb\xc3', b'"}\r\n'])
    assert out == [{"t": "a\ufffdb\ufffd"}]
    assert dec.skipped == 0


def test_accepts_bytearray_and_memoryview() -> None:
    dec = JsonStreamDecoder()
    assert dec.feed(bytearray(b'{"a":')) == []
    assert dec.feed(memoryview(b"1}\r\n")) == [{"a": 1}]


def test_reset_drops_partial_record() -> None:
    dec = JsonStreamDecoder()
    assert dec.feed(b'{"partial": ') == []
    dec.reset()
    assert dec.buffered == 0
    assert dec.feed(b"{}\r\n") == [{}]
    assert dec.skipped == 0


# Oversized records


def test_oversized_record_spanning_chunks_is_discarded_and_resyncs() -> None:
    skips: list[str] = []
    cap = 1000
    big = b'{"x":"' + b"y" * 3000 + b'"}'
    stream = b'{"a":1}\r\n' + big + b'\r\n{"b":2}\r\n'
    chunks = [stream[i : i + 100] for i in range(0, len(stream), 100)]
    out, dec = feed_all(chunks, max_record_bytes=cap, on_skip=skips.append)
    assert out == [{"a": 1}, {"b": 2}]
    assert dec.oversized == 1
    assert dec.skipped == 0
    assert len(skips) == 1 and "exceeds 1000 bytes" in skips[0]


def test_oversized_record_inside_one_chunk_is_discarded() -> None:
    cap = 100
    dec = JsonStreamDecoder(max_record_bytes=cap)
    big = json.dumps({"x": "y" * 500}).encode()
    assert dec.feed(b"{}\r\n" + big + b"\r\n[1]\r\n") == [{}, [1]]
    assert dec.oversized == 1


def test_record_exactly_at_cap_is_accepted() -> None:
    rec = json.dumps({"x": "y" * 90}).encode()
    dec = JsonStreamDecoder(max_record_bytes=len(rec))
    for b in rec:
        dec.feed(bytes([b]))
    assert dec.feed(b"\r\n") == [{"x": "y" * 90}]
    assert dec.oversized == 0


def test_oversized_without_cr_keeps_memory_bounded() -> None:
    cap = 1 << 20
    dec = JsonStreamDecoder(max_record_bytes=cap)
    chunk = b"x" * (64 * 1024)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(160):  # 10 MiB, no \r anywhere
            assert dec.feed(chunk) == []
            assert dec.buffered <= cap
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * cap, peak
    assert dec.oversized == 1
    # The stream resynchronises at the next \r.
    assert dec.feed(b'xxx\r\n{"after": true}\r\n') == [{"after": True}]
    assert dec.oversized == 1


def test_large_record_in_small_chunks_is_linear() -> None:
    # 4 MiB record in 1 KiB chunks: quadratic buffering would take minutes, linear is instant.
    body = b'{"x":"' + b"z" * (4 << 20) + b'"}\r\n'
    dec = JsonStreamDecoder(max_record_bytes=8 << 20)
    start = time.perf_counter()
    out: list[Any] = []
    for i in range(0, len(body), 1024):
        out.extend(dec.feed(body[i : i + 1024]))
    assert time.perf_counter() - start < 5.0
    assert len(out) == 1 and len(out[0]["x"]) == 4 << 20


def test_many_records_across_realistic_chunks() -> None:
    records = [{"event": "message", "id": i, "content": f"m{i} ü"} for i in range(5000)]
    stream = b"".join(
        json.dumps(r, ensure_ascii=False).encode() + (b"\r\n\n" if i % 7 == 0 else b"\r\n")
        for i, r in enumerate(records)
    )
    chunks = [stream[i : i + 16384] for i in range(0, len(stream), 16384)]
    out, dec = feed_all(chunks)
    assert out == records
    assert dec.buffered == 0


def test_invalid_cap_rejected() -> None:
    with pytest.raises(ValueError):
        JsonStreamDecoder(max_record_bytes=0)


# loads(): orjson fast path, stdlib acceptance rules and values


@pytest.mark.parametrize(
    "doc",
    [
        '{"a": [1, 2.5, true, null, "x"]}',
        "12345678901234567890123",  # past 64 bits: orjson would give a float
        "-9223372036854775809",
        "18446744073709551616",
        '{"id": 99999999999999999999}',
        "NaN",
        "[Infinity, -Infinity]",
        "1e400",
        '"\\ud800 lone surrogate"',
        '"\\udc00"',
        " \t\n\r[1]\r\n ",
        '{"a": 1, "a": 2}',
        "-0",
        "0.1e-400",
        '"\\u0000"',
    ],
)
def test_loads_matches_stdlib(doc: str) -> None:
    expected = json.loads(doc)
    for data in (doc, doc.encode()):
        got = loads(data)
        assert repr(got) == repr(expected)  # repr: nan != nan, and int vs float matters
        assert type(got) is type(expected)


def test_loads_invalid_utf8_is_replaced() -> None:
    assert loads(b'["a\xff\xfeb"]') == ["a\ufffd\ufffdb"]
    assert loads(bytearray(b'"\xed\xa0\x80"')) == "\ufffd\ufffd\ufffd"
    assert loads(memoryview(b"[1]")) == [1]


def test_loads_lone_surrogate_in_str_input() -> None:
    assert loads('"\ud800"') == "\ud800"


@pytest.mark.parametrize(
    "doc",
    ["", " ", "[1,]", "01", "{'a': 1}", '"a\x01"', "\ufeff1", "1 2", "\x0c1", "[" * 100_000],
)
def test_loads_rejects_what_stdlib_rejects(doc: str) -> None:
    with pytest.raises(ValueError):
        loads(doc)
    with pytest.raises(ValueError):
        loads(doc.encode())


# keep_records: the bytes behind each value


def test_keep_records_aligned_with_values_across_feeds() -> None:
    dec = JsonStreamDecoder(keep_records=True)
    assert dec.feed(b'\n{"a": 1}\r\n [2] \r\n{"b"') == [{"a": 1}, [2]]
    assert dec.feed(b": 3}\r\n") == [{"b": 3}]
    assert dec.take_records() == [b'{"a": 1}', b"[2]", b'{"b": 3}']
    assert dec.take_records() == []
    assert dec.feed(b"7\r\n") == [7]
    assert dec.take_records() == [b"7"]


def test_keep_records_lost_alignment_is_none_until_taken() -> None:
    skips: list[str] = []
    dec = JsonStreamDecoder(keep_records=True, on_skip=skips.append)
    assert dec.feed(b"1\r\n{bad}\r\n2\r\n") == [1, 2]
    assert dec.feed(b"3\r\n") == [3]
    assert dec.take_records() is None
    assert dec.feed(b"4\r\n") == [4]
    assert dec.take_records() == [b"4"]
    assert len(skips) == 1


def test_keep_records_oversized_loses_alignment() -> None:
    dec = JsonStreamDecoder(max_record_bytes=8, keep_records=True)
    assert dec.feed(b"1\r\n[1111111111]\r\n2\r\n") == [1, 2]
    assert dec.take_records() is None
    assert dec.feed(b"[11111") == []
    assert dec.feed(b"11111]\r\n3\r\n") == [3]
    assert dec.take_records() is None
    assert dec.oversized == 2


def test_take_records_needs_keep_records() -> None:
    with pytest.raises(RuntimeError):
        JsonStreamDecoder().take_records()
