"""SSEDecoder behaviour beyond the shared conformance vectors (see test_sse_vectors.py)."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from flowview.protocol.sse import MAX_RETRY_MS, SSEDecoder, SSEEvent

pytestmark = pytest.mark.timeout(60)


def feed_all(dec: SSEDecoder, chunks: list[bytes]) -> list[SSEEvent]:
    out: list[SSEEvent] = []
    for chunk in chunks:
        out.extend(dec.feed(chunk))
    return out


def test_event_is_frozen_and_slotted() -> None:
    ev = SSEEvent("message", "x", "", None)
    assert not hasattr(ev, "__dict__")
    with pytest.raises(AttributeError):
        ev.data = "y"  # type: ignore[misc]


# Line endings and dispatch timing


def test_blank_line_ending_in_cr_dispatches_immediately() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r\r") == [SSEEvent("message", "a", "", None)]
    assert dec.feed(b"\n") == []  # the LF completing the CRLF is not another blank line
    assert dec.feed(b"data: b\n\n") == [SSEEvent("message", "b", "", None)]


def test_crlf_blank_line_split_after_cr_dispatches_on_cr() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r\n\r") == [SSEEvent("message", "a", "", None)]
    assert dec.feed(b"\ndata: b\r\n\r\n") == [SSEEvent("message", "b", "", None)]


def test_pending_cr_survives_empty_and_incomplete_chunks() -> None:
    dec = SSEDecoder()
    # CR ends "data: a"; an empty read and then the LF of the CRLF must not form a blank line.
    assert feed_all(dec, [b"data: a\r", b"", b"\n", b"data: b\n\n"]) == [
        SSEEvent("message", "a\nb", "", None)
    ]
    # The same with an incomplete multibyte char decoding to "" between CR and the next text.
    dec = SSEDecoder()
    assert feed_all(dec, [b"data: a\r", b"\xc3", b"\xa4\n\n"]) == [
        SSEEvent("message", "a", "", None)
    ]


def test_cr_then_cr_is_a_blank_line_even_across_chunks() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\r") == [SSEEvent("message", "a", "", None)]


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1e"])
def test_only_cr_and_lf_break_lines(sep: str) -> None:
    dec = SSEDecoder()
    raw = f"data: a{sep}b\n\n".encode()
    assert dec.feed(raw) == [SSEEvent("message", f"a{sep}b", "", None)]


def test_many_events_in_one_chunk_and_in_every_split() -> None:
    stream = b"id: 1\ndata: one\n\n:ka\r\nevent: x\r\ndata: t\xc3\xa4o\r\n\r\nid: 3\rdata: 3\r\r"
    expected = [
        SSEEvent("message", "one", "1", None),
        SSEEvent("x", "täo", "1", None),
        SSEEvent("message", "3", "3", None),
    ]
    assert SSEDecoder().feed(stream) == expected
    for cut in range(len(stream) + 1):
        for cut2 in range(cut, len(stream) + 1, 5):
            dec = SSEDecoder()
            got = feed_all(dec, [stream[:cut], stream[cut:cut2], stream[cut2:]])
            assert got == expected, (cut, cut2)
            assert dec.last_event_id == "3"


# BOM


def test_bom_split_across_single_byte_chunks_is_stripped_once() -> None:
    dec = SSEDecoder()
    raw = b"\xef\xbb\xbf\xef\xbb\xbfdata: 1\n\ndata: 2\n\n"
    # The second BOM is content, so the first field name is "\ufeffdata" (unknown).
    assert feed_all(dec, [raw[i : i + 1] for i in range(len(raw))]) == [
        SSEEvent("message", "2", "", None)
    ]


def test_end_resets_per_connection_decoding() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"\xef\xbb\xbfdata: 1\n\n") == [SSEEvent("message", "1", "", None)]
    dec.end()
    # A new connection may start with its own BOM, and a CR left pending is forgotten.
    assert dec.feed(b"\xef\xbb\xbfdata: 2\r") == []
    dec.end()
    assert dec.feed(b"\ndata: 3\n\n") == [SSEEvent("message", "3", "", None)]


# Last event ID


def test_seeded_last_event_id_is_used_until_replaced() -> None:
    dec = SSEDecoder(last_event_id="42")
    assert dec.last_event_id == "42"
    assert dec.feed(b"data: a\n\n") == [SSEEvent("message", "a", "42", None)]
    assert dec.feed(b"id: 43\ndata: b\n\ndata: c\n\n") == [
        SSEEvent("message", "b", "43", None),
        SSEEvent("message", "c", "43", None),
    ]
    assert dec.last_event_id == "43"


def test_id_applies_only_when_its_block_ends() -> None:
    dec = SSEDecoder(last_event_id="1")
    assert dec.feed(b"id: 2\ndata: partial\n") == []
    assert dec.last_event_id == "1"
    dec.end()  # connection dropped mid-event: the partial event and its id are discarded
    assert dec.last_event_id == "1"
    assert dec.feed(b"data: replay\n\n") == [SSEEvent("message", "replay", "1", None)]


def test_id_only_block_updates_last_event_id_without_dispatch() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"id: 9\n\n") == []
    assert dec.last_event_id == "9"
    assert dec.feed(b"id\n\n") == []
    assert dec.last_event_id == ""


def test_id_containing_nul_is_ignored() -> None:
    dec = SSEDecoder(last_event_id="keep")
    assert dec.feed(b"id: a\x00b\ndata: x\n\n") == [SSEEvent("message", "x", "keep", None)]


def test_data_less_block_resets_event_type() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"event: ping\n\ndata: x\n\n") == [SSEEvent("message", "x", "", None)]


# retry


@pytest.mark.parametrize(
    "value",
    ["+5", "-1", " 5", "1_000", "５", "²", "1e3", "0x10", "5 ", "1.5", "", "5\x00", "٣"],
)
def test_retry_abuse_values_are_ignored(value: str) -> None:
    dec = SSEDecoder()
    raw = f"retry: 700\n\nretry: {value}\ndata: x\n\n".encode()  # one space is stripped
    assert dec.feed(raw) == [SSEEvent("message", "x", "", None)]
    assert dec.reconnection_time_ms == 700


def test_retry_leading_zeros_and_zero() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"retry: 0003000\ndata: a\n\n") == [SSEEvent("message", "a", "", 3000)]
    assert dec.feed(b"retry: 0\ndata: b\n\n") == [SSEEvent("message", "b", "", 0)]
    assert dec.reconnection_time_ms == 0


def test_retry_with_thousands_of_digits_is_clamped_not_crashing() -> None:
    dec = SSEDecoder()
    raw = b"retry: " + b"9" * 10_000 + b"\ndata: a\n\n"
    assert dec.feed(raw) == [SSEEvent("message", "a", "", MAX_RETRY_MS)]
    assert dec.reconnection_time_ms == MAX_RETRY_MS


def test_retry_applies_immediately_even_without_dispatch() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"retry: 1234\n") == []
    assert dec.reconnection_time_ms == 1234
    dec.end()
    assert dec.reconnection_time_ms == 1234


# Comments


def test_comments_only_kept_on_request() -> None:
    dec = SSEDecoder()
    assert dec.feed(b": hi\ndata: a\n\n") == [SSEEvent("message", "a", "", None)]
    assert dec.comments == []
    dec = SSEDecoder(keep_comments=True)
    dec.feed(b": hi\n:\n:x:y\n")
    assert dec.comments == [" hi", "", "x:y"]


def test_kept_comments_are_bounded() -> None:
    dec = SSEDecoder(keep_comments=True)
    dec.feed(b"".join(b":c%d\n" % i for i in range(5000)))
    assert 0 < len(dec.comments) <= 1024
    assert dec.comments[-1] == "c4999"


# Oversize handling


def test_oversized_data_line_discards_event_and_resyncs() -> None:
    skips: list[str] = []
    dec = SSEDecoder(max_event_bytes=100, on_skip=skips.append)
    raw = b"data: ok\n\nid: 5\ndata: " + b"x" * 500 + b"\ndata: tail\n\ndata: next\n\n"
    chunks = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    assert feed_all(dec, chunks) == [
        SSEEvent("message", "ok", "", None),
        SSEEvent("message", "next", "5", None),  # the dropped block's id still counts
    ]
    assert dec.oversized == 1
    assert len(skips) == 1 and "exceeds 100" in skips[0]


def test_many_small_data_lines_over_cap_discard_event() -> None:
    dec = SSEDecoder(max_event_bytes=50)
    raw = b"data: 123456789\n" * 20 + b"\ndata: fine\n\n"
    assert dec.feed(raw) == [SSEEvent("message", "fine", "", None)]
    assert dec.oversized == 1


def test_event_data_exactly_at_cap_is_kept() -> None:
    dec = SSEDecoder(max_event_bytes=14)
    assert dec.feed(b"data: 1234\ndata: 5678\ndata: 9abc\n\n") == [
        SSEEvent("message", "1234\n5678\n9abc", "", None)
    ]
    assert dec.feed(b"data: 1234\ndata: 5678\ndata: 9abcd\n\n") == []
    assert dec.oversized == 1


def test_oversized_comment_line_is_dropped_but_event_survives() -> None:
    skips: list[str] = []
    dec = SSEDecoder(max_event_bytes=64, on_skip=skips.append)
    raw = b"data: a\n:" + b"\x1b" * 1000 + b"\ndata: b\n\n"
    assert feed_all(dec, [raw[i : i + 10] for i in range(0, len(raw), 10)]) == [
        SSEEvent("message", "a\nb", "", None)
    ]
    assert dec.oversized == 1
    assert "\x1b" not in skips[0] and len(skips[0]) < 120


def test_oversized_line_without_line_end_keeps_memory_bounded() -> None:
    cap = 1 << 20
    dec = SSEDecoder(max_event_bytes=cap)
    assert dec.feed(b"id: 7\ndata: ") == []
    chunk = b"y" * (64 * 1024)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(160):  # 10 MiB on one line
            assert dec.feed(chunk) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The line is held as str pieces (~1 byte/char here) up to the cap, then dropped.
    assert peak < 2 * cap + 256 * 1024, peak
    assert dec.oversized == 1
    assert dec.feed(b"\ndata: more\n\ndata: after\n\n") == [SSEEvent("message", "after", "7", None)]


def test_large_event_in_small_chunks_is_linear() -> None:
    dec = SSEDecoder(max_event_bytes=8 << 20)
    raw = b"data: " + b"q" * (4 << 20) + b"\ndata: end\n\n"
    start = time.perf_counter()
    out = feed_all(dec, [raw[i : i + 1024] for i in range(0, len(raw), 1024)])
    assert time.perf_counter() - start < 5.0
    assert len(out) == 1 and len(out[0].data) == (4 << 20) + 4


def test_invalid_cap_rejected() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(max_event_bytes=0)
